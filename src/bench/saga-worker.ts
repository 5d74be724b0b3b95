// The worker process of `npm run bench:saga`, started by it as a child (so the load generator and
// the worker do not share an event loop): `--mode saga` runs the card activities against the
// ledger (with the deps src/workers/main.ts gives them), `--mode shape` runs the same workflow
// code with activities that do nothing (./saga-shape-activities.ts). Both modes get exactly the
// same worker options. On SIGTERM it drains, then prints one JSON line of its batcher's figures.
import { Command } from 'commander';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createCardActivities } from '../activities/card.js';
import { createCardStore } from '../cards/cards.js';
import { loadDataConverter } from '../codec/data-converter.js';
import { loadConfig } from '../config.js';
import { createTransferBatcher, type TransferBatcher } from '../ledger/batcher.js';
import { createPool, type Pool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { PAYMENTS_WORKER_TUNING } from '../workers/worker.js';
import { createSagaShapeActivities } from './saga-shape-activities.js';

const program = new Command('bench:saga worker')
  .requiredOption('--mode <mode>', 'saga | shape')
  .requiredOption('--temporal <address>', 'Temporal frontend host:port')
  .requiredOption('--task-queue <name>', 'task queue to poll')
  .requiredOption('--bundle <file>', 'prebuilt workflow bundle')
  .option('--database <url>', 'Postgres of the ledger and cards (mode saga)')
  .option('--worker-options <json>', 'extra Worker options over PAYMENTS_WORKER_TUNING (experiments)', '{}');
program.parse();
const opts = program.opts<{
  mode: string;
  temporal: string;
  taskQueue: string;
  bundle: string;
  database?: string;
  workerOptions: string;
}>();
if (opts.mode !== 'saga' && opts.mode !== 'shape') throw new Error(`--mode must be saga or shape, got ${opts.mode}`);

Runtime.install({ logger: new DefaultLogger('WARN') });
const config = loadConfig();
let pool: Pool | null = null;
let postings: TransferBatcher | null = null;
let activities: WorkerOptions['activities'];
if (opts.mode === 'saga') {
  if (!opts.database) throw new Error('--mode saga needs --database');
  // As src/workers/main.ts builds them.
  pool = createPool(opts.database, { connections_max: 10, application_name: 'bench-saga-worker' });
  const ledger = createLedger(pool);
  postings = createTransferBatcher(ledger, {
    batch_size_max: config.LEDGER_BATCH_SIZE_MAX,
    batch_wait_ms_max: config.LEDGER_BATCH_WAIT_MS_MAX,
    queue_length_max: config.LEDGER_QUEUE_LENGTH_MAX,
    batches_in_flight_max: 1,
  });
  // The card activities, as the payments worker builds them (the only ones a card payment calls).
  activities = createCardActivities({ postings, ledger, cards: createCardStore(pool) });
} else {
  activities = createSagaShapeActivities();
}

const connection = await NativeConnection.connect({ address: opts.temporal });
try {
  // The options of src/workers/worker.ts createPaymentsWorker, for both modes.
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: opts.taskQueue,
    workflowBundle: { codePath: opts.bundle },
    dataConverter: loadDataConverter(config),
    activities,
    shutdownGraceTime: 2_000,
    ...PAYMENTS_WORKER_TUNING,
    ...(JSON.parse(opts.workerOptions) as Partial<WorkerOptions>),
  });
  await worker.run();
} finally {
  await postings?.close();
  await connection.close();
  await pool?.end();
}
console.log(JSON.stringify({ mode: opts.mode, batcher: postings?.stats() ?? null }));
