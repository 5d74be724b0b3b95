// `npm run bench:saga -- --out FILE`: card payments per second through the whole platform
// (Temporal server, worker, ledger), against the engine's own ceiling measured in the same run on
// the same Temporal server: the same workflow code, driven the same way, on a worker whose
// activities do nothing. Then the authorization latency of the real saga under a steady, open-loop
// offered load of half the ceiling, timed from each arrival's due time, errors counted as the
// deadline or more. Both workers are the production worker as `npm start` builds it
// (./saga-worker.ts: interceptors, metrics, tracing, payload codec); only the engine-ceiling
// one's activities differ.
//
// A payment is a card purchase: authorize (update-with-start, src/api/card-payments.ts), one final
// clearing (update-with-start, joining the running workflow), linger_ms 0 so the workflow closes.
// It counts when its workflow has completed (the client waits for the result), in both closed-loop
// measurements alike. The two closed-loop measurements alternate in rounds (ceiling, saga, ceiling,
// saga...), so load from anything else on a shared machine falls on both alike; the CPU each
// component (and everything else) used is recorded per round.
import { randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { integerIn } from '../cli/args.js';
import { Command } from 'commander';
import pg from 'pg';
import { authorizeCardPayment, clearCardPayment } from '../api/card-payments.js';
import { createCardStore } from '../cards/cards.js';
import { loadDataConverter } from '../codec/data-converter.js';
import { generateKeyEntry } from '../codec/keys.js';
import { REPO_ROOT, loadConfig } from '../config.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment, type CardWorkflowOptions } from '../domain/card.js';
import { paymentWorkflowId } from '../domain/payment.js';
import { openCreditLine } from '../ledger/accounts.js';
import { createPool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { migrate } from '../ledger/migrate.js';
import { verifyLedger } from '../ledger/verify.js';
import { freePort } from '../stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../stack/postgres.js';
import { spawnManaged, tail, type ManagedProcess } from '../stack/processes.js';
import { waitForWorker } from '../stack/search-attributes.js';
import { TEMPORAL_CLI_VERSION, resolveTemporalCli } from '../stack/temporal-cli.js';
import { startTemporalDevServer, type RunningDevServer } from '../stack/temporal-server.js';
import { WORKFLOWS_PATH, bundleWorkflows } from '../workers/worker.js';
import { cpuMeter, describeMachine, percentile, round, type CpuReport } from './measure.js';

const program = new Command('bench:saga')
  .description(
    'Card payments per second (authorize + clear) vs the engine ceiling (same workflow, activities that do nothing), ' +
      'then authorization latency at half the ceiling, on one Temporal dev server and one Postgres.',
  )
  .requiredOption('--out <file>', 'write the JSON result here (also printed as the last line)')
  .option('--rounds <n>', 'closed loop: rounds of (engine ceiling, saga), alternating', integerIn(1, 100), 3)
  .option('--seconds <s>', 'closed loop: measured length of each round', integerIn(2, 3600), 10)
  .option('--warmup-seconds <s>', 'closed loop: warm-up of each round, not counted', integerIn(0, 600), 3)
  .option('--latency-seconds <s>', 'length of the open-loop latency measurement', integerIn(5, 3600), 20)
  .option('--concurrency <n>', 'closed loop: payments in flight at once (both measurements)', integerIn(1, 2000), 32)
  .option('--cards <n>', 'cards (one company credit line each)', integerIn(1, 100_000), 1000)
  .option('--offered-per-s <n>', 'open-loop arrival rate (default: half the measured ceiling)', integerIn(1, 100_000))
  .option('--worker-options <json>', 'extra Temporal Worker options for both workers (experiments)', '{}')
  .addHelpText('after', '\nStarts its own embedded Postgres and Temporal dev server (headless, in memory).');

interface Options {
  out: string;
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  latencySeconds: number;
  concurrency: number;
  cards: number;
  offeredPerS?: number;
  workerOptions: string;
}

const progress = (msg: string) => process.stderr.write(`[bench:saga] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WORKER_SCRIPT = fileURLToPath(new URL('./saga-worker.ts', import.meta.url));
const SHAPE_WORKFLOWS = fileURLToPath(new URL('./saga-shape-workflow.ts', import.meta.url));

/** Every payment closes as soon as its final clearing is posted. */
const WORKFLOW_OPTIONS: CardWorkflowOptions = { ...DEFAULT_CARD_OPTIONS, linger_ms: 0 };
/** The network's deadline: generous, so a slow decision shows as latency, not as a stand-in. */
const DEADLINE_MS = 10_000;

interface BenchContext {
  client: Client;
  cardIds: string[];
}

function newPurchase(ctx: BenchContext): { payment: CardPayment; amount_minor: number } {
  return {
    payment: {
      payment_id: `bench-${randomUUID()}`,
      card_id: ctx.cardIds[randomInt(ctx.cardIds.length)]!,
      currency: 'USD',
      merchant: { mcc: '5411', name: 'Bench Grocery' },
    },
    amount_minor: 100 + randomInt(10_000),
  };
}

/** Authorizes a purchase; returns the client-observed authorization time, or throws on anything
 * but an in-time approval. */
async function authorize(ctx: BenchContext, task_queue: string, payment: CardPayment, amount_minor: number): Promise<number> {
  const t0 = performance.now();
  const decision = await authorizeCardPayment(
    ctx.client,
    payment,
    { amount_minor, deadline_at_ms: Date.now() + DEADLINE_MS, stand_in: 'decline' },
    { task_queue, workflow: WORKFLOW_OPTIONS },
  );
  const ms = performance.now() - t0;
  if (!decision.approved || decision.stand_in) throw new Error(`authorization not approved in time: ${JSON.stringify(decision)}`);
  return ms;
}

async function clear(ctx: BenchContext, task_queue: string, payment: CardPayment, amount_minor: number): Promise<void> {
  const state = await clearCardPayment(
    ctx.client,
    payment,
    { event_id: 'clearing-1', amount_minor, final: true },
    { task_queue, workflow: WORKFLOW_OPTIONS },
  );
  if (state.status !== 'SETTLED') throw new Error(`clearing left the payment ${state.status}`);
}

interface Round {
  payments: number;
  errors: number;
  first_error: string | null;
  auth: number[];
  whole: number[];
  cpu: CpuReport;
}

/** One round: `concurrency` loops, each one payment at a time (authorize, clear, wait for the
 * workflow to complete); counts the payments completed inside the measurement window, after a
 * warm-up. */
async function closedLoopRound(
  ctx: BenchContext,
  label: string,
  task_queue: string,
  options: Options,
  roots: () => Record<string, number>,
): Promise<Round> {
  const t0 = performance.now();
  const windowStart = t0 + options.warmupSeconds * 1000;
  const windowEnd = windowStart + options.seconds * 1000;
  let stop = false;
  const round: Omit<Round, 'cpu'> = { payments: 0, errors: 0, first_error: null, auth: [], whole: [] };
  const loop = async () => {
    while (!stop) {
      const { payment, amount_minor } = newPurchase(ctx);
      const start = performance.now();
      try {
        const auth_ms = await authorize(ctx, task_queue, payment, amount_minor);
        await clear(ctx, task_queue, payment, amount_minor);
        await ctx.client.workflow.getHandle(paymentWorkflowId(payment.payment_id)).result();
        const end = performance.now();
        if (end >= windowStart && end < windowEnd) {
          round.payments += 1;
          round.auth.push(auth_ms);
          round.whole.push(end - start);
        }
      } catch (err) {
        round.errors += 1;
        round.first_error ??= (err as Error).message;
        await sleep(100);
      }
    }
  };
  const loops = Array.from({ length: options.concurrency }, loop);
  await sleep(windowStart - performance.now());
  const meter = cpuMeter(roots);
  await sleep(windowEnd - performance.now());
  const cpu = meter();
  stop = true;
  await Promise.all(loops);
  progress(
    `${label}: ${round.payments} payments in ${options.seconds} s = ${(round.payments / options.seconds).toFixed(1)}/s, ${round.errors} errors, cores ${JSON.stringify(cpu.cores_used)}`,
  );
  return { ...round, cpu };
}

function summarize(rounds: Round[], seconds: number) {
  const payments = rounds.reduce((a, r) => a + r.payments, 0);
  const auth = rounds.flatMap((r) => r.auth).sort((a, b) => a - b);
  const whole = rounds.flatMap((r) => r.whole).sort((a, b) => a - b);
  const keys = Object.keys(rounds[0]!.cpu.cores_used);
  const mean = (f: (r: Round) => number) => round(rounds.reduce((a, r) => a + f(r), 0) / rounds.length, 2);
  return {
    per_s: round(payments / (seconds * rounds.length)),
    per_s_by_round: rounds.map((r) => round(r.payments / seconds)),
    payments,
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    first_error: rounds.find((r) => r.first_error)?.first_error ?? null,
    auth_latency_ms_p50: round(percentile(auth, 50), 2),
    auth_latency_ms_p99: round(percentile(auth, 99), 2),
    payment_ms_p50: round(percentile(whole, 50), 2),
    cores_used: Object.fromEntries(keys.map((k) => [k, mean((r) => r.cpu.cores_used[k]!)])),
    machine_busy_share: mean((r) => r.cpu.machine_busy_share),
  };
}

/** Open loop: payments arrive at `rate` per second whatever the answers' speed; each is
 * authorized (timed) then cleared. The first `warmup_s` of arrivals are not counted. */
async function openLoop(
  ctx: BenchContext,
  task_queue: string,
  rate: number,
  seconds: number,
  warmup_s: number,
  roots: () => Record<string, number>,
) {
  const interval = 1000 / rate;
  const t0 = performance.now() + 50;
  const countFrom = t0 + warmup_s * 1000;
  const end = countFrom + seconds * 1000;
  const auth: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let sent = 0;
  let lagMax = 0;
  const inflight = new Set<Promise<void>>();
  let meter: ReturnType<typeof cpuMeter> | null = null;
  progress(`open loop: ${rate} payments/s offered, ${warmup_s} s warm-up + ${seconds} s`);
  const ticker = setInterval(() => {
    const a = [...auth].sort((x, y) => x - y);
    progress(
      `open loop: ${sent} sent, ${inflight.size} in flight, auth p50 ${percentile(a, 50).toFixed(1)} ms, p99 ${percentile(a, 99).toFixed(1)} ms, ${errors} errors`,
    );
  }, 5_000);
  for (let i = 0; ; i++) {
    const due = t0 + i * interval;
    if (due >= end) break;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const now = performance.now();
    if (due >= countFrom) {
      meter ??= cpuMeter(roots);
      lagMax = Math.max(lagMax, now - due);
    }
    const counted = due >= countFrom;
    const { payment, amount_minor } = newPurchase(ctx);
    sent += 1;
    const p = (async () => {
      // Timed from the due time, as the network times it: a dispatch that lags counts; a failed
      // authorization counts as at least the deadline.
      try {
        await authorize(ctx, task_queue, payment, amount_minor);
        if (counted) auth.push(performance.now() - due);
      } catch (err) {
        if (counted) auth.push(Math.max(performance.now() - due, DEADLINE_MS));
        errors += 1;
        firstError ??= (err as Error).message;
        return;
      }
      try {
        await clear(ctx, task_queue, payment, amount_minor);
      } catch (err) {
        errors += 1;
        firstError ??= (err as Error).message;
      }
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  const cpu = meter!();
  await Promise.all(inflight);
  clearInterval(ticker);
  auth.sort((a, b) => a - b);
  return {
    offered_per_s: rate,
    achieved_per_s: auth.length / seconds,
    n: auth.length,
    authorizations: auth.length,
    errors,
    first_error: firstError,
    auth_latency_ms_p50: percentile(auth, 50),
    auth_latency_ms_p90: percentile(auth, 90),
    auth_latency_ms_p99: percentile(auth, 99),
    auth_latency_ms_max: auth.at(-1) ?? Number.NaN,
    dispatch_lag_ms_max: lagMax,
    cpu,
  };
}

interface BenchWorker {
  proc: ManagedProcess;
  task_queue: string;
  /** Stops it (drain) and returns its last line: the batcher's figures. */
  stop(): Promise<unknown>;
}

async function startWorker(
  mode: 'saga' | 'shape',
  scratch: string,
  bundle: string,
  temporal: string,
  connection: Connection,
  databaseUrl: string,
  workerOptions: string,
): Promise<BenchWorker> {
  const task_queue = `bench-${mode}-${randomUUID().slice(0, 8)}`;
  const logFile = path.join(scratch, `worker-${mode}.log`);
  const proc = spawnManaged({
    name: `worker-${mode}`,
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      WORKER_SCRIPT,
      '--mode',
      mode,
      '--temporal',
      temporal,
      '--task-queue',
      task_queue,
      '--bundle',
      bundle,
      '--worker-options',
      workerOptions,
      '--database',
      databaseUrl,
      '--metrics-port',
      String(await freePort()),
    ],
    logFile,
    cwd: REPO_ROOT,
  });
  try {
    await waitForWorker(connection, 'default', task_queue, 60_000, () => proc.child.exitCode !== null);
  } catch (err) {
    await proc.stop('SIGTERM', 5_000);
    throw new Error(`${(err as Error).message}; ${logFile} ends with:\n${tail(logFile)}`);
  }
  progress(`worker (${mode}) polling ${task_queue}, pid ${proc.child.pid}`);
  return {
    proc,
    task_queue,
    async stop() {
      await proc.stop('SIGTERM', 20_000);
      try {
        return JSON.parse(tail(logFile, 1));
      } catch {
        return null;
      }
    },
  };
}

async function readSettings(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const settings: Record<string, string> = {};
    for (const name of ['server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers']) {
      settings[name] = (await client.query(`SHOW ${name}`)).rows[0][name];
    }
    return settings;
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  program.parse();
  const options = program.opts<Options>();
  JSON.parse(options.workerOptions);
  mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
  const scratch = mkdtempSync(path.join(REPO_ROOT, '.tmp', 'bench-saga-'));
  let postgres: RunningPostgres | null = null;
  let temporal: RunningDevServer | null = null;
  const workers: { shape: BenchWorker | null; saga: BenchWorker | null } = { shape: null, saga: null };
  let connection: Connection | null = null;
  let succeeded = false;
  try {
    progress(`starting an embedded Postgres (durable defaults) and a Temporal dev server (headless, in memory) in ${scratch}`);
    const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: true });
    [postgres, temporal] = await Promise.all([
      freePort().then((port) => startEmbeddedPostgres({ dir: path.join(scratch, 'postgres'), port, log: progress })),
      freePort().then((port) =>
        startTemporalDevServer({ executable, port, ui_port: null, db_file: null, namespace: 'default', dir: scratch, log: progress }),
      ),
    ]);
    const databaseUrl = postgres.url;
    const settings = await readSettings(databaseUrl);
    await migrate(databaseUrl);

    progress(`opening ${options.cards} company credit lines and issuing a card on each`);
    const pool = createPool(databaseUrl, { connections_max: 8, application_name: 'bench-saga' });
    const ledger = createLedger(pool);
    const cards = createCardStore(pool);
    const cardIds: string[] = [];
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < options.cards; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, options.cards - i) }, async (_, j) => {
          const company_id = `bench-co-${run}-${i + j}`;
          const account_id = await openCreditLine(ledger, {
            company_id,
            currency: 'USD',
            limit_minor: 1_000_000_000_000,
            grant_key: 'bench',
          });
          const card = await cards.issue({ card_id: `bench-card-${run}-${i + j}`, company_id, currency: 'USD', account_id });
          cardIds.push(card.card_id);
        }),
      );
    }

    progress('bundling the payments workflows and the engine-ceiling workflow module');
    const sagaBundle = path.join(scratch, 'workflows-saga.js');
    const shapeBundle = path.join(scratch, 'workflows-shape.js');
    // The production bundle's parts (failure converter, tracing interceptors, preloaded modules).
    writeFileSync(sagaBundle, await bundleWorkflows(WORKFLOWS_PATH));
    writeFileSync(shapeBundle, await bundleWorkflows(SHAPE_WORKFLOWS));

    connection = await Connection.connect({ address: temporal.address });
    // The workers log warnings only, as a production deployment would at this rate.
    process.env.LOG_LEVEL ??= 'warn';
    // Payloads encrypted as in production; the workers (child processes) inherit the key.
    if (!process.env.PAYLOAD_CODEC_KEYS && !process.env.PAYLOAD_CODEC_KEYS_FILE) process.env.PAYLOAD_CODEC_KEYS = generateKeyEntry('bench');
    const dataConverter = loadDataConverter(loadConfig());
    const ctx: BenchContext = { client: new Client({ connection, namespace: 'default', dataConverter }), cardIds };
    const roots = () => ({
      temporal_server: temporal!.process!.child.pid!,
      postgres: postgres!.process.child.pid!,
      worker_shape: workers.shape?.proc.child.pid ?? -1,
      worker_saga: workers.saga?.proc.child.pid ?? -1,
      bench_client: process.pid,
    });

    // Both workers poll their own task queue from here on; only one is given work at a time.
    workers.shape = await startWorker('shape', scratch, shapeBundle, temporal.address, connection, databaseUrl, options.workerOptions);
    workers.saga = await startWorker('saga', scratch, sagaBundle, temporal.address, connection, databaseUrl, options.workerOptions);

    // 1 and 2. The engine's ceiling (the same workflow, activities that do nothing) and the real
    // saga, same concurrency, in alternating rounds: the machine is shared, and alternating
    // spreads whatever else runs on it over both measurements alike.
    progress(
      `closed loop: ${options.concurrency} payments in flight, ${options.rounds} rounds of (engine ceiling, saga), ` +
        `each ${options.warmupSeconds} s warm-up + ${options.seconds} s`,
    );
    const ceilingRounds: Round[] = [];
    const sagaRounds: Round[] = [];
    for (let r = 1; r <= options.rounds; r++) {
      ceilingRounds.push(await closedLoopRound(ctx, `round ${r} engine ceiling`, workers.shape.task_queue, options, roots));
      sagaRounds.push(await closedLoopRound(ctx, `round ${r} saga`, workers.saga.task_queue, options, roots));
    }
    const ceiling = summarize(ceilingRounds, options.seconds);
    const saga = summarize(sagaRounds, options.seconds);
    progress(`engine ceiling ${ceiling.per_s}/s, saga ${saga.per_s}/s, ratio ${(saga.per_s / ceiling.per_s).toFixed(2)}`);

    // 3. The saga's authorization latency under a steady offered load of half the ceiling.
    const offered = options.offeredPerS ?? Math.max(1, Math.round(ceiling.per_s / 2));
    const latency = await openLoop(ctx, workers.saga.task_queue, offered, options.latencySeconds, 2, roots);
    progress(
      `open loop: n ${latency.n}, auth p50 ${latency.auth_latency_ms_p50.toFixed(1)} ms, p99 ${latency.auth_latency_ms_p99.toFixed(1)} ms, ` +
        `max ${latency.auth_latency_ms_max.toFixed(1)} ms, ${latency.errors} errors`,
    );
    await workers.shape.stop();
    workers.shape = null;
    const workerReport = await workers.saga.stop();
    workers.saga = null;

    progress('verifying the ledger invariants');
    const report = await verifyLedger(pool);
    await pool.end();

    const result = {
      payments_per_s: round(saga.per_s),
      engine_ceiling_per_s: round(ceiling.per_s),
      ratio: round(saga.per_s / ceiling.per_s, 2),
      auth_latency_ms_p50: round(latency.auth_latency_ms_p50, 2),
      auth_latency_ms_p99: round(latency.auth_latency_ms_p99, 2),
      auth_latency_ms_max: round(latency.auth_latency_ms_max, 2),
      auth_n: latency.n,
      auth_latency_from: 'due time (open loop); errors count as the deadline or more',
      worker: 'createPaymentsWorker as npm start builds it (interceptors, metrics, tracing, codec), AUTHORIZATION_WORKER_TUNING',
      offered_per_s: offered,
      counted_when: 'workflow completed',
      concurrency: options.concurrency,
      seconds_per_round: options.seconds,
      warmup_seconds: options.warmupSeconds,
      latency_seconds: options.latencySeconds,
      cards: options.cards,
      rounds: options.rounds,
      engine_ceiling: ceiling,
      saga,
      open_loop: latency,
      worker_options: JSON.parse(options.workerOptions) as unknown,
      saga_worker: workerReport,
      invariants_ok: report.ok,
      settings,
      temporal_cli: TEMPORAL_CLI_VERSION,
      machine: describeMachine(),
    };
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
    if (!report.ok || ceiling.errors + saga.errors + latency.errors > 0) process.exitCode = 1;
    succeeded = true;
  } finally {
    await workers.shape?.stop();
    await workers.saga?.stop();
    await connection?.close();
    await temporal?.stop();
    await postgres?.stop();
    if (succeeded) rmSync(scratch, { recursive: true, force: true });
    else progress(`logs kept in ${scratch}`);
  }
}

main().catch((err: unknown) => {
  console.error(`bench:saga: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
