// The payments worker process (two Workers: card payments on TEMPORAL_AUTHORIZATION_TASK_QUEUE,
// the rest on TEMPORAL_TASK_QUEUE): `npm run worker` (started by `npm start`, or on its own against
// TEMPORAL_ADDRESS and DATABASE_URL). SIGINT/SIGTERM drain it: no new tasks, in-flight activities
// get WORKER_SHUTDOWN_GRACE_MS to finish, then connections close. It also serves the settlement
// callback receiver on SETTLEMENT_CALLBACK_HOST:SETTLEMENT_CALLBACK_PORT (banks' confirmations,
// turned into signals to the payout workflows).
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { createPool } from '../ledger/db.js';
import { createTransferBatcher } from '../ledger/batcher.js';
import { createCardStore } from '../cards/cards.js';
import { createLedger } from '../ledger/ledger.js';
import { createNetworkCycleStore } from '../ledger/network-cycles.js';
import { createStatementStore } from '../ledger/statements.js';
import { createHttpCardNetwork } from '../settlement/network-client.js';
import { createHttpSettlementGateway } from '../settlement/gateway.js';
import { startSettlementCallbackReceiver } from '../settlement/callback-receiver.js';
import { loadCallbackSecrets } from '../settlement/callback-secret.js';
import { registerSearchAttributes } from '../stack/search-attributes.js';
import { readStackFile } from '../stack/stack-file.js';
import { createDataConverter } from '../codec/data-converter.js';
import { loadKeyRing } from '../codec/keys.js';
import { eventActivityDeps } from '../events/deps.js';
import { ensureNetworkSettlementSchedule } from './network-settlement-schedule.js';
import { AUTHORIZATION_WORKER_TUNING, CARD_WORKFLOWS_PATH, PAYMENTS_WORKER_TUNING, createPaymentsWorker } from './worker.js';
import { installTracing } from '../telemetry/tracing.js';
import { WORKER_HISTOGRAM_BUCKETS, createWorkerMetrics } from './metrics.js';
import { createSdkLogger } from './sdk-logger.js';

const log = createLogger('worker');
const config = loadConfig();
const stack = readStackFile(config.DATA_DIR);
const temporalAddress = config.TEMPORAL_ADDRESS ?? stack?.temporal;
const databaseUrl = config.DATABASE_URL ?? stack?.database;
const gatewayUrl = config.SETTLEMENT_GATEWAY_URL ?? stack?.settlement_gateway;
if (!temporalAddress || !databaseUrl || !gatewayUrl) {
  log.fatal('worker needs TEMPORAL_ADDRESS, DATABASE_URL and SETTLEMENT_GATEWAY_URL (or a running `npm start`)');
  process.exit(2);
}

Runtime.install({
  logger: createSdkLogger(log),
  telemetryOptions: {
    logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
    // The SDK's metrics and the platform's own (src/workers/metrics.ts) on one Prometheus endpoint.
    metrics: {
      prometheus: {
        bindAddress: `${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}`,
        histogramBucketOverrides: WORKER_HISTOGRAM_BUCKETS,
      },
    },
  },
});
const metrics = createWorkerMetrics(Runtime.instance().metricMeter);
// Spans of activities, workflows and ledger batches; exported to OTEL_EXPORTER_OTLP_ENDPOINT when set.
const tracing = installTracing('card-payments-worker');

// Workflows upsert these on every state change: make sure the server knows them (idempotent).
// Payloads and failures are encrypted (src/codec/); no key configured or found stops the worker.
const keyRing = loadKeyRing(config);
const dataConverter = createDataConverter(keyRing);
const clientConnection = await Connection.connect({ address: temporalAddress });
try {
  await registerSearchAttributes(clientConnection, config.TEMPORAL_NAMESPACE);
  // The daily net settlement with the card network runs on a schedule; the first worker creates it.
  const schedule = await ensureNetworkSettlementSchedule(clientConnection, config.TEMPORAL_NAMESPACE, {
    task_queue: config.TEMPORAL_TASK_QUEUE,
    interval_ms: config.NETWORK_SETTLEMENT_INTERVAL_MS,
    lag_ms: config.NETWORK_SETTLEMENT_LAG_MS,
    attention_after_ms: config.NETWORK_SETTLEMENT_ATTENTION_AFTER_MS,
    data_converter: dataConverter,
  });
  log.info({ schedule }, 'network settlement schedule ready');
} finally {
  await clientConnection.close();
}

const pool = createPool(databaseUrl, { connections_max: 10, application_name: 'payments-worker' });
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
// Settlement cycles live in the ledger's database; the network's reports come from the network
// (by default the settlement simulator, which plays it too).
const networkDeps = { networkCycles: createNetworkCycleStore(pool), network: createHttpCardNetwork(config.CARD_NETWORK_URL ?? gatewayUrl) };
// The receiver only needs Temporal: a callback is kept as a signal even while no worker runs.
const receiverConnection = await Connection.connect({ address: temporalAddress });
const receiver = await startSettlementCallbackReceiver({
  host: config.SETTLEMENT_CALLBACK_HOST,
  port: config.SETTLEMENT_CALLBACK_PORT,
  client: new Client({ connection: receiverConnection, namespace: config.TEMPORAL_NAMESPACE, dataConverter }),
  log: log.child({ component: 'settlement-callbacks' }),
  // The bank's signing secret; none configured or found stops the worker (like the payload keys).
  secrets: loadCallbackSecrets(config),
});
log.info({ url: receiver.url }, 'settlement callback receiver listening');
const connection = await NativeConnection.connect({ address: temporalAddress });
try {
  const common = {
    tracing,
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    deps: {
      metrics,
      ledger,
      postings,
      cards: createCardStore(pool),
      statements: createStatementStore(pool),
      gateway: createHttpSettlementGateway(gatewayUrl, { request_timeout_ms: config.SETTLEMENT_GATEWAY_TIMEOUT_MS }),
      ...networkDeps,
      // Events and webhooks (issue 16): endpoint secrets are sealed with the payload keys.
      ...eventActivityDeps(pool, keyRing, config.WEBHOOK_TIMEOUT_MS),
    },
    data_converter: dataConverter,
    shutdown_grace_ms: config.WORKER_SHUTDOWN_GRACE_MS,
    workflow_stack_traces: config.TEMPORAL_WORKFLOW_STACK_TRACES,
  };
  // Two workers, one process: card payments on their own queue and slots (authorization
  // first, docs/performance.md), everything else on the payments queue.
  const workers = [
    // Only card payments start there: its bundle holds the card workflow alone (each new workflow
    // evaluates its bundle's modules again: worker.ts CARD_WORKFLOWS_PATH). Prebuilt bundles
    // (the chaos run's and the tests' launchers build them once) spare a restarted worker the
    // seconds of CPU of bundling from source.
    await createPaymentsWorker({
      ...common,
      task_queue: config.TEMPORAL_AUTHORIZATION_TASK_QUEUE,
      tuning: AUTHORIZATION_WORKER_TUNING,
      workflow_bundle_path: process.env.CARD_WORKFLOW_BUNDLE_PATH,
      workflows_path: CARD_WORKFLOWS_PATH,
    }),
    await createPaymentsWorker({
      ...common,
      task_queue: config.TEMPORAL_TASK_QUEUE,
      tuning: PAYMENTS_WORKER_TUNING,
      workflow_bundle_path: process.env.WORKFLOW_BUNDLE_PATH,
    }),
  ];
  log.info(
    { task_queues: [config.TEMPORAL_AUTHORIZATION_TASK_QUEUE, config.TEMPORAL_TASK_QUEUE], temporal: temporalAddress },
    'workers running',
  );
  // Worker.run() resolves after a shutdown signal (SIGINT, SIGTERM...) once in-flight work
  // drained; the signal reaches both. One failing stops the other, so the supervisor restarts both.
  const runs = workers.map((w) => w.run());
  try {
    await Promise.race(runs);
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(runs);
  }
  await Promise.all(runs);
  log.info('worker stopped');
} finally {
  await receiver.close();
  await receiverConnection.close();
  await postings.close();
  await connection.close();
  await pool.end();
}
