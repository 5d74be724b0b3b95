// `npm run bench:capacity -- --out FILE`: what one payment costs and how many per second the whole
// platform sustains, on the real Temporal server (server mode, 16 history shards) and on the dev
// server, with 1 and then 2 worker processes, in one run. Each engine runs the real platform
// (`npm start` in its own data folder: Postgres, Temporal, worker, API, simulator, codec server);
// the load goes through the API as the card network and an ERP would send it: card purchases
// (authorize, then one final clearing) and payouts (settled by the bank's callback), 3 to 1, in a
// closed loop of `--concurrency` payments in flight. A payment counts when it reached SETTLED.
//
// Per payment it records the CPU seconds of each component (each Temporal process, the workers,
// the API, Postgres, the supervisor with the simulator and codec server, the load generator),
// Postgres transactions and WAL bytes, history events and Temporal Cloud billable actions (from a
// sample of histories). The machine may be shared: CPU used by anything else is recorded too.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { integerIn } from '../cli/args.js';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { createApiClients, type ApiClients } from '../cli/client.js';
import { generateKeyEntry } from '../codec/keys.js';
import { loadDataConverter } from '../codec/data-converter.js';
import { REPO_ROOT, loadConfig } from '../config.js';
import { paymentWorkflowId } from '../domain/payment.js';
import { distinctFreePorts, freePortRange, stackPortsEnv } from '../stack/ports.js';
import { spawnManaged, type ManagedProcess } from '../stack/processes.js';
import { waitForWorker } from '../stack/search-attributes.js';
import { readStackFile, type StackFile } from '../stack/stack-file.js';
import { TEMPORAL_CLI_VERSION } from '../stack/temporal-cli.js';
import { TEMPORAL_SERVER_VERSION } from '../stack/temporal-server-binaries.js';
import { HISTORY_SHARDS_DEFAULT, SERVER_PORTS_PER_BASE, SERVER_PORT_MAX } from '../stack/temporal-server-config.js';
import { engineWorkOf } from './engine-work.js';
import { CLK_TCK, cpuTicksByRoot, describeMachine, machineBusyTicks } from './measure.js';

const program = new Command('bench:capacity')
  .description('Payments per second and cost per payment on the real Temporal server and the dev server, with 1 and 2 workers.')
  .requiredOption('--out <file>', 'write the JSON result here (also printed as the last line)')
  .option('--seconds <s>', 'measured length of each phase', integerIn(5, 3600), 30)
  .option('--warmup-seconds <s>', 'warm-up before each phase, not counted', integerIn(0, 600), 5)
  .option('--concurrency <n>', 'payments in flight at once (halved after a phase with errors)', integerIn(1, 1000), 16)
  .option('--companies <n>', 'companies, one credit line and one card each', integerIn(1, 500), 48)
  .option('--sample <n>', 'histories read per payment kind and phase', integerIn(1, 200), 10)
  .option('--modes <list>', 'engines, in order', 'server,dev')
  .option('--note <text>', 'a note recorded in the result (e.g. what else ran on the machine)', '');

interface Options {
  out: string;
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  companies: number;
  sample: number;
  modes: string;
  note: string;
}

const progress = (msg: string) => process.stderr.write(`[bench:capacity] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 3) => Number(n.toFixed(digits));
const START_TIMEOUT_MS = 300_000;
const CALL_TIMEOUT_MS = 30_000;
/** Every 4th payment is a payout; the rest are card purchases. */
const PAYOUT_EVERY = 4;
const IDLE_SECONDS = 5;

type Kind = 'purchase' | 'payout';

interface Platform {
  mode: 'server' | 'dev';
  dataDir: string;
  supervisor: ManagedProcess;
  stack: StackFile;
  env: NodeJS.ProcessEnv;
  extraWorkers: ManagedProcess[];
}

async function startPlatform(mode: 'server' | 'dev', scratch: string): Promise<Platform> {
  const dataDir = path.join(scratch, mode);
  mkdirSync(dataDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    TEMPORAL_MODE: mode,
    TEMPORAL_HISTORY_SHARDS: String(HISTORY_SHARDS_DEFAULT),
    ...(await stackPortsEnv()),
    TEMPORAL_SERVER_PORT_BASE: String(await freePortRange(SERVER_PORTS_PER_BASE, 20_000, SERVER_PORT_MAX)),
    API_LOCAL_COMPANIES: companyIds(program.opts<Options>().companies).join(','),
    LOG_LEVEL: 'warn',
  };
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SETTLEMENT_GATEWAY_URL', 'TEMPORAL_SERVICES']) delete env[name];
  progress(`starting the platform with the ${mode === 'server' ? 'real Temporal server' : 'dev server'} in ${dataDir}`);
  const supervisor = spawnManaged({
    name: `platform-${mode}`,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'stack', 'start.ts')],
    logFile: path.join(scratch, `platform-${mode}.log`),
    cwd: REPO_ROOT,
    env,
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const stack = existsSync(path.join(dataDir, 'stack.json')) ? readStackFile(dataDir) : null;
    if (stack) return { mode, dataDir, supervisor, stack, env, extraWorkers: [] };
    if (supervisor.child.exitCode !== null) throw new Error(`npm start (${mode}) exited; see ${supervisor.logFile}`);
    if (Date.now() > deadline) throw new Error(`npm start (${mode}) not up within ${START_TIMEOUT_MS} ms; see ${supervisor.logFile}`);
    await sleep(500);
  }
}

/** A second worker's own listening ports. */
async function workerPortsEnv(): Promise<{ SETTLEMENT_CALLBACK_PORT: string; WORKER_METRICS_PORT: string }> {
  const [callback, metrics] = await distinctFreePorts(2);
  return { SETTLEMENT_CALLBACK_PORT: String(callback), WORKER_METRICS_PORT: String(metrics) };
}

async function addWorker(platform: Platform, connection: Connection, scratch: string): Promise<void> {
  const n = platform.extraWorkers.length + 2;
  const worker = spawnManaged({
    name: `worker-${n}`,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'workers', 'main.ts')],
    logFile: path.join(scratch, `worker-${platform.mode}-${n}.log`),
    cwd: REPO_ROOT,
    // Its addresses come from the stack's stack.json; its own ports are its own (two distinct ones).
    env: { ...platform.env, ...(await workerPortsEnv()) },
  });
  platform.extraWorkers.push(worker);
  // The second worker's first poll: the task queue then shows two pollers.
  const deadline = Date.now() + 120_000;
  await waitForWorker(connection, platform.stack.namespace, platform.stack.task_queue, 120_000, () => worker.child.exitCode !== null);
  for (;;) {
    const response = await connection.workflowService.describeTaskQueue({
      namespace: platform.stack.namespace,
      taskQueue: { name: platform.stack.task_queue },
      taskQueueType: 1,
    });
    if (new Set((response.pollers ?? []).map((p) => p.identity)).size >= n) return;
    if (worker.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`worker ${n} did not start polling; see ${worker.logFile}`);
    await sleep(500);
  }
}

/** Every process of the platform, by component, for the CPU meter. */
function components(platform: Platform): Record<string, number> {
  const pidIn = (file: string) => (existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : -1);
  const roots: Record<string, number> = {
    supervisor_simulator_codec: platform.supervisor.child.pid!,
    postgres: pidIn(path.join(platform.dataDir, 'postgres', 'postgres.pid')),
    worker_1: pidIn(path.join(platform.dataDir, 'worker.pid')),
    api: pidIn(path.join(platform.dataDir, 'api.pid')),
    load_generator: process.pid,
  };
  platform.extraWorkers.forEach((w, i) => (roots[`worker_${i + 2}`] = w.child.pid!));
  for (const p of platform.stack.temporal_processes ?? []) {
    roots[`temporal_${p.service.replace(/,/g, '_')}`] = p.pid;
  }
  return roots;
}

function companyIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `cap-co-${i}`);
}

async function setUpCompanies(api: ApiClients, n: number): Promise<string[]> {
  const cards: string[] = [];
  for (const company of companyIds(n)) {
    await api.ledger.createCreditLine({ companyId: company, currency: 'USD', limitMinor: 1_000_000_000_000n, grantKey: 'capacity' });
    const card = (await api.cards.issueCard({ cardId: `${company}-card`, companyId: company, currency: 'USD' })).card!;
    cards.push(card.cardId);
  }
  return cards;
}

interface PhaseContext {
  api: ApiClients;
  client: Client;
  cards: string[];
}

async function onePayment(ctx: PhaseContext, i: number, kind: Kind): Promise<string> {
  const payment_id = `cap-${randomUUID()}`;
  const amount = BigInt(1_000 + (i % 9_000));
  const company = i % ctx.cards.length;
  if (kind === 'payout') {
    await ctx.api.payments.payout({
      paymentId: payment_id,
      companyId: companyIds(ctx.cards.length)[company]!,
      amountMinor: amount,
      currency: 'USD',
      payee: { name: `Supplier ${i % 50}`, bankAccount: `US${100_000_000 + (i % 1000)}` },
    });
    // The bank confirms by callback; the workflow completes when it is booked.
    const state = (await ctx.client.workflow.getHandle(paymentWorkflowId(payment_id)).result()) as { status: string };
    if (state.status !== 'SETTLED') throw new Error(`payout ended ${state.status}`);
    return payment_id;
  }
  const transaction = { paymentId: payment_id, cardId: ctx.cards[company]!, currency: 'USD', merchant: { mcc: '5411', name: 'Grocer' } };
  const { decision } = await ctx.api.payments.authorize({ transaction, amountMinor: amount }, { timeoutMs: 2_000 });
  if (!decision?.approved || decision.standIn) {
    throw new Error(
      `authorization not approved in time (approved ${decision?.approved}, stand-in ${decision?.standIn}, reason ${decision?.declineReason})`,
    );
  }
  const { payment } = await ctx.api.payments.clear({ transaction, eventId: 'clearing-1', amountMinor: amount });
  if (payment?.status !== 'SETTLED') throw new Error(`clearing left the payment ${payment?.status}`);
  return payment_id;
}

async function pgCounters(databaseUrl: string): Promise<{ xacts: Record<string, number>; wal_lsn: string }> {
  const client = new pg.Client({ connectionString: databaseUrl.replace(/\/[^/]*$/, '/postgres'), statement_timeout: 10_000 });
  await client.connect();
  try {
    const rows = await client.query(
      `SELECT datname, (xact_commit + xact_rollback)::bigint::text AS x FROM pg_stat_database WHERE datname IS NOT NULL`,
    );
    const wal = await client.query('SELECT pg_current_wal_lsn()::text AS lsn');
    return { xacts: Object.fromEntries(rows.rows.map((r) => [r.datname as string, Number(r.x)])), wal_lsn: wal.rows[0].lsn as string };
  } finally {
    await client.end();
  }
}

async function walBytes(databaseUrl: string, from: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl.replace(/\/[^/]*$/, '/postgres') });
  await client.connect();
  try {
    return Number((await client.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint::text AS b', [from])).rows[0].b);
  } finally {
    await client.end();
  }
}

async function historyFigures(
  client: Client,
  ids: string[],
): Promise<{ events: number; actions: number; by_type: Record<string, number> }> {
  const names = proto.temporal.api.enums.v1.EventType;
  let events = 0;
  let actions = 0;
  const byType: Record<string, number> = {};
  for (const id of ids) {
    const history = await client.workflow.getHandle(paymentWorkflowId(id)).fetchHistory();
    for (const event of history.events ?? []) {
      const name = names[event.eventType ?? 0] ?? String(event.eventType);
      events += 1;
      byType[name] = (byType[name] ?? 0) + 1;
    }
    // Temporal Cloud's billable actions (src/bench/engine-work.ts).
    actions += engineWorkOf(history.events ?? []).temporal_actions;
  }
  const n = Math.max(1, ids.length);
  return {
    events: events / n,
    actions: actions / n,
    by_type: Object.fromEntries(Object.entries(byType).map(([k, v]) => [k, round(v / n, 2)])),
  };
}

/** What the platform does with no payments at all (Temporal's own timers, queues, membership and
 * shard leases; pollers): per second, so the per-payment figures can be given net of it. */
async function idleBaseline(platform: Platform, seconds: number) {
  const roots = components(platform);
  const pg0 = await pgCounters(platform.stack.database);
  const cpu0 = cpuTicksByRoot(roots);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const s = (performance.now() - t0) / 1000;
  const cpu1 = cpuTicksByRoot(roots);
  const pg1 = await pgCounters(platform.stack.database);
  const wal = await walBytes(platform.stack.database, pg0.wal_lsn);
  const xacts = Object.keys(pg1.xacts).reduce((a, db) => a + (pg1.xacts[db] ?? 0) - (pg0.xacts[db] ?? 0), 0);
  const cpu = Object.keys(roots).reduce((a, k) => a + (cpu1[k]! - cpu0[k]!) / CLK_TCK, 0);
  return { pg_transactions_per_s: xacts / s, wal_bytes_per_s: wal / s, cpu_s_per_s: cpu / s };
}

/** The highest closed-loop rate without an error: at `--concurrency`, halved after a phase with
 * errors (on a shared machine an authorization can miss its 2 s deadline), down to 1. */
async function sustainedPhase(platform: Platform, ctx: PhaseContext, options: Options, workers: number) {
  const idle = await idleBaseline(platform, IDLE_SECONDS);
  const attempts: Array<{ concurrency: number; payments_per_s: number; errors: number; first_error: string | null }> = [];
  for (let concurrency = options.concurrency; ; concurrency = Math.max(1, Math.floor(concurrency / 2))) {
    const result = await runPhase(platform, ctx, { ...options, concurrency }, workers, idle);
    attempts.push({ concurrency, payments_per_s: result.payments_per_s, errors: result.errors, first_error: result.first_error });
    if (result.sustained || concurrency === 1) return { ...result, idle, attempts };
  }
}

async function runPhase(
  platform: Platform,
  ctx: PhaseContext,
  options: Options,
  workers: number,
  idle: Awaited<ReturnType<typeof idleBaseline>>,
) {
  const label = `${platform.mode}, ${workers} worker${workers > 1 ? 's' : ''}`;
  const counted: Record<Kind, string[]> = { purchase: [], payout: [] };
  let errors = 0;
  let firstError: string | null = null;
  let stop = false;
  let windowOpen = false;
  let next = 0;
  const loop = async () => {
    while (!stop) {
      const i = next++;
      const kind: Kind = i % PAYOUT_EVERY === PAYOUT_EVERY - 1 ? 'payout' : 'purchase';
      const started_in_window = windowOpen;
      try {
        const id = await onePayment(ctx, i, kind);
        // Counted when it both started and finished inside the window: its work is in the meters.
        if (started_in_window && windowOpen) counted[kind].push(id);
      } catch (err) {
        if (windowOpen) {
          errors += 1;
          firstError ??= (err as Error).message;
        }
        await sleep(100);
      }
    }
  };
  progress(`${label}: ${options.concurrency} payments in flight, ${options.warmupSeconds} s warm-up + ${options.seconds} s`);
  const loops = Array.from({ length: options.concurrency }, loop);
  await sleep(options.warmupSeconds * 1000);
  const roots = components(platform);
  const pg0 = await pgCounters(platform.stack.database);
  const cpu0 = cpuTicksByRoot(roots);
  const machine0 = machineBusyTicks();
  const load0 = os.loadavg()[0]!;
  const t0 = performance.now();
  windowOpen = true;
  await sleep(options.seconds * 1000);
  windowOpen = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuTicksByRoot(roots);
  const machine1 = machineBusyTicks();
  const pg1 = await pgCounters(platform.stack.database);
  const wal = await walBytes(platform.stack.database, pg0.wal_lsn);
  stop = true;
  await Promise.all(loops);

  const payments = counted.purchase.length + counted.payout.length;
  const per = (x: number) => (payments > 0 ? x / payments : Number.NaN);
  const cpu_s: Record<string, number> = Object.fromEntries(Object.keys(roots).map((k) => [k, (cpu1[k]! - cpu0[k]!) / CLK_TCK]));
  const ours = Object.values(cpu_s).reduce((a, b) => a + b, 0);
  const busyShare = (machine1.busy - machine0.busy) / (machine1.total - machine0.total);
  const machine_cpu_s = busyShare * os.cpus().length * seconds;
  const xacts = Object.fromEntries(Object.keys(pg1.xacts).map((db) => [db, (pg1.xacts[db] ?? 0) - (pg0.xacts[db] ?? 0)]));
  const totalXacts = Object.values(xacts).reduce((a, b) => a + b, 0);

  const sample = (ids: string[]) => ids.slice(0, options.sample);
  const purchaseHistory = await historyFigures(ctx.client, sample(counted.purchase));
  const payoutHistory = await historyFigures(ctx.client, sample(counted.payout));
  const mix = (f: (h: typeof purchaseHistory) => number) =>
    payments > 0 ? (f(purchaseHistory) * counted.purchase.length + f(payoutHistory) * counted.payout.length) / payments : Number.NaN;

  const result = {
    temporal_mode: platform.mode,
    history_shards: platform.mode === 'server' ? HISTORY_SHARDS_DEFAULT : null,
    workers,
    payments_per_s: round(payments / seconds, 1),
    sustained: errors === 0 && payments > 0,
    payments,
    purchases: counted.purchase.length,
    payouts: counted.payout.length,
    errors,
    first_error: firstError,
    seconds: round(seconds, 1),
    concurrency: options.concurrency,
    cpu_s_per_payment: Object.fromEntries(Object.entries(cpu_s).map(([k, v]) => [k, round(per(v), 4)])),
    cpu_s_per_payment_total: round(per(ours), 4),
    pg_transactions_per_payment: round(per(totalXacts), 2),
    // Net of what the idle platform does meanwhile (idleBaseline).
    pg_transactions_per_payment_net_of_idle: round(per(totalXacts - idle.pg_transactions_per_s * seconds), 2),
    wal_bytes_per_payment_net_of_idle: Math.round(per(wal - idle.wal_bytes_per_s * seconds)),
    cpu_s_per_payment_net_of_idle: round(per(ours - idle.cpu_s_per_s * seconds), 4),
    pg_transactions_per_payment_by_database: Object.fromEntries(
      Object.entries(xacts)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => [k, round(per(v), 2)]),
    ),
    wal_bytes_per_payment: Math.round(per(wal)),
    history_events_per_payment: round(
      mix((h) => h.events),
      2,
    ),
    temporal_actions_per_payment: round(
      mix((h) => h.actions),
      2,
    ),
    per_kind: {
      purchase: {
        history_events: round(purchaseHistory.events, 2),
        actions: round(purchaseHistory.actions, 2),
        events_by_type: purchaseHistory.by_type,
      },
      payout: {
        history_events: round(payoutHistory.events, 2),
        actions: round(payoutHistory.actions, 2),
        events_by_type: payoutHistory.by_type,
      },
    },
    // The machine is shared: what it did besides this run, and how busy it was.
    machine_busy_share: round(busyShare, 2),
    other_cpu_s_per_s: round(Math.max(0, machine_cpu_s - ours) / seconds, 2),
    load_average_1m_at_start: round(load0, 2),
  };
  progress(
    `${label}: ${result.payments_per_s} payments/s (${payments} in ${result.seconds} s, ${errors} errors), ` +
      `${result.cpu_s_per_payment_total} CPU s/payment, ${result.pg_transactions_per_payment} pg xacts, ${result.wal_bytes_per_payment} WAL B, ` +
      `${result.history_events_per_payment} events, ${result.temporal_actions_per_payment} actions; machine ${Math.round(busyShare * 100)}% busy, others ${result.other_cpu_s_per_s} cores`,
  );
  return result;
}

async function main(): Promise<void> {
  program.parse();
  const options = program.opts<Options>();
  const modes = options.modes.split(',').map((m) => m.trim());
  if (modes.some((m) => m !== 'server' && m !== 'dev')) throw new InvalidArgumentError('--modes: a list of server and dev');
  mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
  const scratch = mkdtempSync(path.join(REPO_ROOT, '.tmp', 'bench-capacity-'));
  // One payload key for every process of the run (encrypted as in production).
  if (!process.env.PAYLOAD_CODEC_KEYS && !process.env.PAYLOAD_CODEC_KEYS_FILE)
    process.env.PAYLOAD_CODEC_KEYS = generateKeyEntry('capacity');
  const dataConverter = loadDataConverter(loadConfig());
  const runs: unknown[] = [];
  let ok = true;
  let platform: Platform | null = null;
  try {
    for (const mode of modes as Array<'server' | 'dev'>) {
      platform = await startPlatform(mode, scratch);
      const connection = await Connection.connect({ address: platform.stack.temporal });
      try {
        const api = createApiClients({
          url: platform.stack.api!,
          key: platform.stack.api_key!,
          timeout_ms: CALL_TIMEOUT_MS,
          http_version: '2',
        });
        const client = new Client({ connection, namespace: platform.stack.namespace, dataConverter });
        progress(`${mode}: ${options.companies} companies with a credit line and a card`);
        const ctx: PhaseContext = { api, client, cards: await setUpCompanies(api, options.companies) };
        for (const workers of [1, 2]) {
          if (workers === 2) await addWorker(platform, connection, scratch);
          const result = await sustainedPhase(platform, ctx, options, workers);
          ok &&= result.sustained;
          runs.push(result);
        }
      } finally {
        await connection.close();
      }
      for (const w of platform.extraWorkers) await w.stop('SIGTERM', 30_000);
      await platform.supervisor.stop('SIGINT', 120_000);
      platform = null;
    }
    const result = {
      command: `npm run bench:capacity -- ${process.argv.slice(2).join(' ')}`,
      counted_when: 'purchase: clearing answered SETTLED; payout: workflow completed SETTLED (bank callback booked)',
      mix: `card purchases (authorize + final clearing) and payouts, ${PAYOUT_EVERY - 1} to 1, through the API`,
      note: options.note,
      shared_machine:
        'The machine was shared with other engineers running test suites during the run: other_cpu_s_per_s and machine_busy_share show how much; rates are lower and noisier than on a quiet machine.',
      temporal_server: TEMPORAL_SERVER_VERSION,
      temporal_cli: TEMPORAL_CLI_VERSION,
      machine: describeMachine(),
      runs,
    };
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
    if (!ok) process.exitCode = 1;
  } finally {
    if (platform) {
      for (const w of platform.extraWorkers) await w.stop('SIGTERM', 30_000);
      await platform.supervisor.stop('SIGINT', 120_000);
    }
    if (process.exitCode) progress(`logs kept in ${scratch}`);
    else rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:capacity: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
