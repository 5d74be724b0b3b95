// A real payments worker, Temporal client, bank simulator and ledger for one test file.
import { tracingClientInterceptors, type Tracing } from '../../src/telemetry/tracing.js';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { createCardStore, type CardStore } from '../../src/cards/cards.js';
import type { Pool } from '../../src/ledger/db.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher, type TransferBatcher } from '../../src/ledger/batcher.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { createNetworkCycleStore } from '../../src/ledger/network-cycles.js';
import { createStatementStore } from '../../src/ledger/statements.js';
import { createHttpCardNetwork } from '../../src/settlement/network-client.js';
import { createHttpSettlementGateway } from '../../src/settlement/gateway.js';
import { startSettlementCallbackReceiver, type SettlementCallbackReceiver } from '../../src/settlement/callback-receiver.js';
import { createLogger } from '../../src/logger.js';
import { generateWebhookSecret, parseWebhookSecret, webhookHeaders } from '../../src/settlement/webhook-signature.js';
import { startSettlementSimulator, type SettlementSimulator, type SimulatorOptions } from '../../src/settlement/simulator.js';
import { AUTHORIZATION_WORKER_TUNING, createPaymentsWorker } from '../../src/workers/worker.js';
import { testDataConverter, testKeyRing } from './codec.js';
import { eventActivityDeps } from '../../src/events/deps.js';
import { freshDatabase, testEnv } from './env.js';

export interface PaymentsHarness {
  pool: Pool;
  /** The database's owner role (tests that prove what even the owner cannot change). */
  ownerUrl: string;
  ledger: Ledger;
  cards: CardStore;
  client: Client;
  simulator: SettlementSimulator;
  /** The settlement callback receiver, when the options asked for callbacks. */
  receiver: SettlementCallbackReceiver | null;
  /** The bank's callback-signing key (the simulator signs with it; postCallback too). */
  callback_secret: Buffer;
  task_queue: string;
  worker: Worker;
  /** What the client and worker encrypt with (null: payloads in clear). */
  data_converter: DataConverter | null;
  close(): Promise<void>;
}

let runtimeInstalled = false;

export interface HarnessEndpoints {
  databaseUrl: string;
  temporalAddress: string;
  workflowBundlePath?: string | undefined;
}

export interface HarnessOptions {
  /** Defaults to the servers the test harness started. */
  endpoints?: HarnessEndpoints;
  /** Faults the payee-bank simulator injects (none by default). */
  simulator?: Partial<Omit<SimulatorOptions, 'host' | 'port' | 'callback_url'>>;
  /** Start a settlement callback receiver and have the simulator confirm payouts to it. */
  callbacks?: boolean;
  /** The gateway client's request timeout (default 10 s). */
  gateway_timeout_ms?: number;
  /** Trace the worker and the client (src/telemetry/tracing.ts); default: no spans. */
  tracing?: Tracing;
  /** Default: the platform's encrypting converter with the test keys; null: payloads in clear
   * (the replay corpus is recorded so, to replay without keys). */
  data_converter?: DataConverter | null;
  /** Each webhook POST's timeout (default 5 s). */
  webhook_timeout_ms?: number;
  /** Wraps the worker's ledger writes, to inject a ledger fault (the real batcher underneath). */
  postings?: (inner: TransferBatcher) => TransferBatcher;
  /** The SDK's workflow stack traces (default `off`, as in production). */
  workflow_stack_traces?: 'on' | 'off';
}

export async function startPaymentsHarness(label: string, options: HarnessOptions = {}): Promise<PaymentsHarness> {
  const endpoints = options.endpoints ?? {
    databaseUrl: testEnv.databaseUrl,
    temporalAddress: testEnv.temporalAddress,
    workflowBundlePath: testEnv.workflowBundlePath,
  };
  if (!runtimeInstalled) {
    // Worker lifecycle chatter would bury the test report; warnings and errors still show.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const { pool, ownerUrl } = await freshDatabase(label, endpoints.databaseUrl);
  const ledger = createLedger(pool);
  const cards = createCardStore(pool);
  const connection = await Connection.connect({ address: endpoints.temporalAddress });
  const data_converter = options.data_converter === undefined ? testDataConverter() : options.data_converter;
  const client = new Client({
    connection,
    namespace: 'default',
    ...(data_converter ? { dataConverter: data_converter } : {}),
    ...(options.tracing ? { interceptors: tracingClientInterceptors() } : {}),
  });
  // The bank's callback secret for this harness: the simulator signs, the receiver verifies.
  const callback_secret = parseWebhookSecret(generateWebhookSecret(), 'test callback secret');
  const receiver = options.callbacks
    ? await startSettlementCallbackReceiver({
        host: '127.0.0.1',
        port: 0,
        client,
        log: createLogger(`${label}-callbacks`),
        secrets: [callback_secret],
      })
    : null;
  const simulator = await startSettlementSimulator({
    host: '127.0.0.1',
    port: 0,
    latency_ms: 0,
    transient_failure_rate: 0,
    reply_lost_rate: 0,
    ...options.simulator,
    callback_url: receiver?.url,
    callback_secret,
  });
  const task_queue = `${label}-${randomUUID()}`;
  const postings = createTransferBatcher(ledger, DEFAULT_BATCHER_OPTIONS);
  const workerPostings = options.postings ? options.postings(postings) : postings;
  const nativeConnection = await NativeConnection.connect({ address: endpoints.temporalAddress });
  const worker = await createPaymentsWorker({
    tracing: options.tracing,
    connection: nativeConnection,
    namespace: 'default',
    task_queue,
    deps: {
      ledger,
      postings: workerPostings,
      cards,
      gateway: createHttpSettlementGateway(simulator.url, { request_timeout_ms: options.gateway_timeout_ms ?? 10_000 }),
      // The simulator plays the card network too.
      networkCycles: createNetworkCycleStore(pool),
      statements: createStatementStore(pool),
      network: createHttpCardNetwork(simulator.url),
      ...eventActivityDeps(pool, testKeyRing(), options.webhook_timeout_ms ?? 5_000),
    },
    workflow_bundle_path: endpoints.workflowBundlePath,
    shutdown_grace_ms: 2_000,
    workflow_stack_traces: options.workflow_stack_traces ?? 'off',
    data_converter: data_converter ?? {},
    // One queue for every workflow in tests: the larger of the two tunings.
    tuning: AUTHORIZATION_WORKER_TUNING,
  });
  const running = worker.run();
  return {
    pool,
    ownerUrl,
    ledger,
    cards,
    client,
    simulator,
    receiver,
    callback_secret,
    task_queue,
    worker,
    data_converter,
    async close() {
      worker.shutdown();
      await running;
      await postings.close();
      await nativeConnection.close();
      await simulator.close();
      await receiver?.close();
      await connection.close();
      await pool.end();
    },
  };
}

/** POSTs a callback to the harness's receiver as the bank would: signed with its secret (or
 * `signed: false`, or with other headers), now. */
export async function postCallback(
  h: PaymentsHarness,
  body: unknown,
  options: { raw?: string; signed?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = options.raw ?? JSON.stringify(body);
  const signature =
    options.signed === false
      ? {}
      : webhookHeaders(h.callback_secret, { id: `msg_${randomUUID()}`, timestamp_s: Math.floor(Date.now() / 1000), body: text });
  const response = await fetch(h.receiver!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signature, ...options.headers },
    body: text,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
