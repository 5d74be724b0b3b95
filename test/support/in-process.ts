// The platform's pieces for a test file that runs its workers in-process (Worker.runUntil): a
// fresh database, the bank simulator, connections to the run's Temporal server, and the real
// activities over them (a test overrides the ones it injects faults into).
import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities/index.js';
import { createCardStore } from '../../src/cards/cards.js';
import { eventActivityDeps } from '../../src/events/deps.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher, type TransferBatcher } from '../../src/ledger/batcher.js';
import type { Pool } from '../../src/ledger/db.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { createNetworkCycleStore } from '../../src/ledger/network-cycles.js';
import { createStatementStore } from '../../src/ledger/statements.js';
import { createHttpSettlementGateway } from '../../src/settlement/gateway.js';
import { createHttpCardNetwork } from '../../src/settlement/network-client.js';
import { startSettlementSimulator, type SettlementSimulator } from '../../src/settlement/simulator.js';
import { testDataConverter, testKeyRing } from './codec.js';
import { freshDatabase, testEnv } from './env.js';

export interface InProcessPlatform {
  pool: Pool;
  simulator: SettlementSimulator;
  nativeConnection: NativeConnection;
  connection: Connection;
  ledger: Ledger;
  postings: TransferBatcher;
  activities: ReturnType<typeof createActivities>;
  /** A worker of the run's workflow bundle on `task_queue`, with these activities (or `activities`). */
  worker(task_queue: string, activities?: ReturnType<typeof createActivities>): Promise<Worker>;
  close(): Promise<void>;
}

export async function startInProcessPlatform(database_name: string): Promise<InProcessPlatform> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const { pool } = await freshDatabase(database_name);
  const simulator = await startSettlementSimulator({
    host: '127.0.0.1',
    port: 0,
    transient_failure_rate: 0,
    reply_lost_rate: 0,
    latency_ms: 0,
  });
  const nativeConnection = await NativeConnection.connect({ address: testEnv.temporalAddress });
  const connection = await Connection.connect({ address: testEnv.temporalAddress });
  const ledger = createLedger(pool);
  const postings = createTransferBatcher(ledger, DEFAULT_BATCHER_OPTIONS);
  const activities = createActivities({
    ledger,
    postings,
    cards: createCardStore(pool),
    gateway: createHttpSettlementGateway(simulator.url),
    networkCycles: createNetworkCycleStore(pool),
    statements: createStatementStore(pool),
    network: createHttpCardNetwork(simulator.url),
    ...eventActivityDeps(pool, testKeyRing(), 5_000),
  });
  return {
    pool,
    simulator,
    nativeConnection,
    connection,
    ledger,
    postings,
    activities,
    worker: (task_queue, override = activities) =>
      Worker.create({
        connection: nativeConnection,
        taskQueue: task_queue,
        workflowBundle: { codePath: testEnv.workflowBundlePath },
        dataConverter: testDataConverter(),
        activities: override,
      }),
    async close() {
      await postings.close();
      await connection.close();
      await nativeConnection.close();
      await simulator.close();
      await pool.end();
    },
  };
}
