// The worker process of `npm run bench:saga`, started by it as a child (so the load generator and
// the worker do not share an event loop). Both modes build the worker exactly as `npm start` does
// (src/workers/main.ts -> createPaymentsWorker: the activity log interceptor, the OpenTelemetry
// interceptors and sinks with tracing installed, the SDK and platform metrics on a Prometheus
// endpoint, the encrypting data converter, AUTHORIZATION_WORKER_TUNING): `--mode saga` with the
// real activities against the ledger, `--mode shape` with activities that do nothing
// (./saga-shape-activities.ts). On SIGTERM it drains, then prints one JSON line of its batcher's
// figures.
import { Command } from 'commander';
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { createCardStore } from '../cards/cards.js';
import { loadDataConverter } from '../codec/data-converter.js';
import { loadKeyRing } from '../codec/keys.js';
import { eventActivityDeps } from '../events/deps.js';
import { loadConfig } from '../config.js';
import { createTransferBatcher } from '../ledger/batcher.js';
import { createPool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { createNetworkCycleStore } from '../ledger/network-cycles.js';
import { createStatementStore } from '../ledger/statements.js';
import { createLogger } from '../logger.js';
import { createHttpCardNetwork } from '../settlement/network-client.js';
import { createHttpSettlementGateway } from '../settlement/gateway.js';
import { installTracing } from '../telemetry/tracing.js';
import { WORKER_HISTOGRAM_BUCKETS, createWorkerMetrics } from '../workers/metrics.js';
import { createSdkLogger } from '../workers/sdk-logger.js';
import { AUTHORIZATION_WORKER_TUNING, createPaymentsWorker, type WorkerTuning } from '../workers/worker.js';
import { createSagaShapeActivities } from './saga-shape-activities.js';

const program = new Command('bench:saga worker')
  .requiredOption('--mode <mode>', 'saga | shape')
  .requiredOption('--temporal <address>', 'Temporal frontend host:port')
  .requiredOption('--task-queue <name>', 'task queue to poll')
  .requiredOption('--bundle <file>', 'prebuilt workflow bundle (with the tracing interceptors, as bundleWorkflows builds it)')
  .requiredOption('--database <url>', 'Postgres of the ledger and cards')
  .requiredOption('--metrics-port <port>', 'Prometheus endpoint of this worker')
  .option('--worker-options <json>', 'slot and poller options over AUTHORIZATION_WORKER_TUNING (experiments)', '{}');
program.parse();
const opts = program.opts<{
  mode: string;
  temporal: string;
  taskQueue: string;
  bundle: string;
  database: string;
  metricsPort: string;
  workerOptions: string;
}>();
if (opts.mode !== 'saga' && opts.mode !== 'shape') throw new Error(`--mode must be saga or shape, got ${opts.mode}`);

const log = createLogger(`bench-worker-${opts.mode}`);
const config = loadConfig();
// As src/workers/main.ts: SDK logs through the platform's logger, metrics on Prometheus, tracing.
Runtime.install({
  logger: createSdkLogger(log),
  telemetryOptions: {
    logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
    metrics: { prometheus: { bindAddress: `127.0.0.1:${opts.metricsPort}`, histogramBucketOverrides: WORKER_HISTOGRAM_BUCKETS } },
  },
});
const metrics = createWorkerMetrics(Runtime.instance().metricMeter);
const tracing = installTracing(`bench-worker-${opts.mode}`);
const pool = createPool(opts.database, { connections_max: 10, application_name: `bench-saga-worker-${opts.mode}` });
const ledger = createLedger(pool);
const postings = createTransferBatcher(
  ledger,
  {
    batch_size_max: config.LEDGER_BATCH_SIZE_MAX,
    batch_wait_ms_max: config.LEDGER_BATCH_WAIT_MS_MAX,
    queue_length_max: config.LEDGER_QUEUE_LENGTH_MAX,
    batches_in_flight_max: 1,
  },
  metrics.ledgerBatch,
);
const connection = await NativeConnection.connect({ address: opts.temporal });
try {
  const worker = await createPaymentsWorker({
    tracing,
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    task_queue: opts.taskQueue,
    deps: {
      metrics,
      ledger,
      postings,
      cards: createCardStore(pool),
      // Not called by a card purchase; built as main.ts builds them.
      gateway: createHttpSettlementGateway('http://127.0.0.1:9/', { request_timeout_ms: config.SETTLEMENT_GATEWAY_TIMEOUT_MS }),
      networkCycles: createNetworkCycleStore(pool),
      statements: createStatementStore(pool),
      network: createHttpCardNetwork('http://127.0.0.1:9/'),
      ...eventActivityDeps(pool, loadKeyRing(config), config.WEBHOOK_TIMEOUT_MS),
    },
    workflow_bundle_path: opts.bundle,
    data_converter: loadDataConverter(config),
    shutdown_grace_ms: 2_000,
    workflow_stack_traces: config.TEMPORAL_WORKFLOW_STACK_TRACES,
    tuning: { ...AUTHORIZATION_WORKER_TUNING, ...(JSON.parse(opts.workerOptions) as WorkerTuning) },
    ...(opts.mode === 'shape' ? { activities_override: createSagaShapeActivities() } : {}),
  });
  await worker.run();
} finally {
  await postings.close();
  await connection.close();
  await pool.end();
  await tracing.shutdown();
}
console.log(JSON.stringify({ mode: opts.mode, batcher: postings.stats() }));
