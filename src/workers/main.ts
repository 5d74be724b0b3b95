// The payments worker process: `npm run worker` (started by `npm start`, or on its own against
// TEMPORAL_ADDRESS and DATABASE_URL). SIGINT/SIGTERM drain it: no new tasks, in-flight activities
// get WORKER_SHUTDOWN_GRACE_MS to finish, then connections close.
import { Connection } from '@temporalio/client';
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { createPool } from '../ledger/db.js';
import { createTransferBatcher } from '../ledger/batcher.js';
import { createCardStore } from '../cards/cards.js';
import { createLedger } from '../ledger/ledger.js';
import { createHttpSettlementGateway } from '../settlement/gateway.js';
import { registerSearchAttributes } from '../stack/search-attributes.js';
import { readStackFile } from '../stack/stack-file.js';
import { createPaymentsWorker } from './worker.js';
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
  telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
});

// Workflows upsert these on every state change: make sure the server knows them (idempotent).
const clientConnection = await Connection.connect({ address: temporalAddress });
try {
  await registerSearchAttributes(clientConnection, config.TEMPORAL_NAMESPACE);
} finally {
  await clientConnection.close();
}

const pool = createPool(databaseUrl, { connections_max: 10, application_name: 'payments-worker' });
const ledger = createLedger(pool);
const postings = createTransferBatcher(ledger, {
  batch_size_max: config.LEDGER_BATCH_SIZE_MAX,
  batch_wait_ms_max: config.LEDGER_BATCH_WAIT_MS_MAX,
  queue_length_max: config.LEDGER_QUEUE_LENGTH_MAX,
  batches_in_flight_max: 1,
});
const connection = await NativeConnection.connect({ address: temporalAddress });
try {
  const worker = await createPaymentsWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    task_queue: config.TEMPORAL_TASK_QUEUE,
    deps: { ledger, postings, cards: createCardStore(pool), gateway: createHttpSettlementGateway(gatewayUrl) },
    workflow_bundle_path: process.env.WORKFLOW_BUNDLE_PATH,
    shutdown_grace_ms: config.WORKER_SHUTDOWN_GRACE_MS,
  });
  log.info({ task_queue: config.TEMPORAL_TASK_QUEUE, temporal: temporalAddress }, 'worker running');
  // Worker.run() resolves after a shutdown signal (SIGINT, SIGTERM...) once in-flight work drained.
  await worker.run();
  log.info('worker stopped');
} finally {
  await postings.close();
  await connection.close();
  await pool.end();
}
