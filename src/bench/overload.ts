// `npm run bench:overload -- --out FILE`: does the platform answer every authorization inside the
// network's deadline at three times what it can sustain, and come back by itself (issue 14 point
// 5)? One stack: embedded Postgres, Temporal (the dev server, or with `--temporal server` the real
// Temporal server on that Postgres, as `npm start -- --temporal server` runs it), and the
// production worker and API processes exactly as `npm start` runs them (src/workers/main.ts,
// src/api/main.ts: two task queues, admission control, interceptors, metrics, tracing, payload
// codec). Everything goes
// through the public API (Connect over HTTP/2), as the card network would send it.
//
// 1. Capacity: closed loop (CAPACITY_CONCURRENCY purchases at a time: authorize, then clear) for
//    CAPACITY_SECONDS: completed purchases per second.
// 2. Open loop, each arrival at its due time whatever the answers' speed: 0.5x capacity for 30 s,
//    3x for 60 s, 0.5x for 60 s. Each authorization carries a 2 s deadline; its latency is timed
//    from its due time, and errors and timeouts count as the deadline or more. An approved
//    authorization is cleared (final), retried on RESOURCE_EXHAUSTED/UNAVAILABLE after the hint.
// 3. Afterwards: every accepted purchase cleared exactly once (the ledger's postings per payment),
//    the ledger verified, the engine's own rejections counted from the processes' logs, and the
//    engine work per purchase counted from sampled histories.
import { randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Code, ConnectError } from '@connectrpc/connect';
import { Client, Connection } from '@temporalio/client';
import { integerIn } from '../cli/args.js';
import { Command, InvalidArgumentError } from 'commander';
import { createApiKeyStore } from '../api/keys.js';
import { createCardStore } from '../cards/cards.js';
import { createApiClients, type ApiClients } from '../cli/client.js';
import { generateKeyEntry } from '../codec/keys.js';
import { REPO_ROOT, loadConfig } from '../config.js';
import { paymentWorkflowId } from '../domain/payment.js';
import { ENGINE_REJECTION_PATTERN } from '../engine-limits.js';
import { StandIn } from '../gen/cardplatform/payments/v1/payments_pb.js';
import { openCreditLine } from '../ledger/accounts.js';
import { createPool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { migrate } from '../ledger/migrate.js';
import { verifyLedger } from '../ledger/verify.js';
import { startSettlementSimulator } from '../settlement/simulator.js';
import { generateWebhookSecret, parseWebhookSecret } from '../settlement/webhook-signature.js';
import { freePort } from '../stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../stack/postgres.js';
import { spawnManaged, tail, type ManagedProcess } from '../stack/processes.js';
import { waitForWorker } from '../stack/search-attributes.js';
import { TEMPORAL_CLI_VERSION, resolveTemporalCli } from '../stack/temporal-cli.js';
import { startHeadlessTemporalServer, type TemporalMode } from '../stack/temporal-mode.js';
import { TEMPORAL_SERVER_VERSION, resolveTemporalServerBinaries } from '../stack/temporal-server-binaries.js';
import { HISTORY_SHARDS_DEFAULT } from '../stack/temporal-server-config.js';
import { startTemporalDevServer } from '../stack/temporal-server.js';
import { engineWorkOf, firstTaskTimings } from './engine-work.js';
import { cpuMeter, describeMachine, percentile, round, type CpuReport } from './measure.js';

/** The network's deadline of an authorization. */
const DEADLINE_MS = 2_000;
/** Capacity is measured with this many purchases in flight: enough to keep every component busy
 * on two cores, few enough that latency stays well inside the deadline. */
const CAPACITY_CONCURRENCY = 8;
const CAPACITY_WARMUP_SECONDS = 10;
/** Capacity is throughput, not deadline compliance: its authorizations get a generous deadline
 * (a cold worker's first workflow tasks take seconds while it loads the bundle). */
const CAPACITY_DEADLINE_MS = 10_000;
const CAPACITY_SECONDS = 20;
/** A clearing is retried (after the API's hint) until this long after the last phase. */
const CLEARING_DRAIN_MS_MAX = 120_000;
const CLEARING_TIMEOUT_MS = 10_000;
/** recovery_s: the window, and how far from the first phase's p99 it may be. */
const RECOVERY_WINDOW_MS = 5_000;
const RECOVERY_P99_FACTOR = 2;
/** Histories sampled for the engine work per purchase. */
const HISTORY_SAMPLES = 20;
/** The half-load's slowest authorizations, traced hop by hop (the p99 is about the third-slowest). */
const SLOWEST_SAMPLES = 5;

const PHASES = [
  { name: 'half_load', factor: 0.5, seconds: 30 },
  { name: 'overload', factor: 3, seconds: 60 },
  { name: 'after', factor: 0.5, seconds: 60 },
] as const;

const program = new Command('bench:overload')
  .description(
    'Authorizations + clearings through the public API at 0.5x, 3x, 0.5x the measured sustainable rate: ' +
      'answered inside the 2 s deadline? back to normal after?',
  )
  .requiredOption('--out <file>', 'write the JSON result here (also printed as the last line)')
  .option('--cards <n>', 'cards (one company credit line each; one API key sees them all, at most 100)', integerIn(1, 100), 100)
  .option(
    '--temporal <mode>',
    'the engine: `dev` (the dev server, in memory) or `server` (the real Temporal server on the Postgres)',
    temporalOption,
    'dev',
  )
  .option('--time-scale <f>', 'multiply every phase length (a quick trial: 0.2); the result records it', floatOption(0.05, 10), 1)
  .option(
    '--worker-cpu-prof <dir>',
    'write V8 CPU profiles of the worker process (its main and workflow threads) to this folder when it stops',
  )
  .option('--api-cpu-prof <dir>', 'write a V8 CPU profile of the API process to this folder when it stops')
  .addHelpText('after', '\nStarts its own embedded Postgres, Temporal, worker and API; the machine should be otherwise idle.');

function temporalOption(value: string): 'dev' | 'server' {
  if (value !== 'dev' && value !== 'server') throw new InvalidArgumentError('must be `dev` or `server`');
  return value;
}

/** The engine under test: its address, its processes' pids (for the CPU meter), and how to stop it. */
interface BenchTemporal {
  mode: Extract<TemporalMode, 'dev' | 'server'>;
  address: string;
  pid(): number;
  stop(): Promise<void>;
}

/** The dev server (in memory), or the real server in one process with the platform's history
 * shards, on the bench's Postgres in databases of its own, headless. */
async function startBenchTemporal(mode: 'dev' | 'server', scratch: string, postgres: RunningPostgres): Promise<BenchTemporal> {
  if (mode === 'dev') {
    const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: true });
    const dev = await startTemporalDevServer({
      executable,
      port: await freePort(),
      ui_port: null,
      db_file: null,
      namespace: 'default',
      dir: scratch,
      log: progress,
    });
    return { mode, address: dev.address, pid: () => dev.process!.child.pid!, stop: () => dev.stop() };
  }
  const binaries = await resolveTemporalServerBinaries(true, { log: progress });
  const cluster = await startHeadlessTemporalServer({
    binaries,
    database_url: postgres.url,
    scratch,
    log: progress,
    // A restart budget spent mid-run: the run goes on, but its figures are of a broken engine.
    on_fatal: (message) => {
      progress(`Temporal server: ${message}; the run will exit 1`);
      process.exitCode = 1;
    },
  });
  return { mode, address: cluster.address, pid: () => cluster.processes()[0]!.pid, stop: () => cluster.stop() };
}

function floatOption(min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`must be a number from ${min} to ${max}`);
    return n;
  };
}

const progress = (msg: string) => process.stderr.write(`[bench:overload] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Purchase {
  payment_id: string;
  card_id: string;
  amount_minor: number;
}

/** One authorization of the open loop, as the network saw it. */
interface Arrival {
  phase: number;
  due_ms: number;
  /** From the due time to the answer; an error or a timeout counts as at least the deadline. */
  latency_ms: number;
  /** From the due time to the call leaving this process's code: the client's own lateness. */
  dispatch_lag_ms: number;
  outcome: 'approved' | 'declined' | 'stand_in' | 'error';
  error_code?: string;
  cleared?: boolean;
  purchase: Purchase;
}

function transaction(p: Purchase) {
  return { paymentId: p.payment_id, cardId: p.card_id, currency: 'USD', merchant: { mcc: '5411', name: 'Bench Grocery' } };
}

function codeOf(err: unknown): string {
  return err instanceof ConnectError ? Code[err.code] : 'Unknown';
}

/** Authorizes with what is left of the deadline from the due time; never throws. */
async function authorize(
  api: ApiClients,
  p: Purchase,
  due_ms: number,
  deadline_ms = DEADLINE_MS,
): Promise<Omit<Arrival, 'phase' | 'purchase'>> {
  const sent_ms = performance.now();
  const dispatch_lag_ms = sent_ms - due_ms;
  const left_ms = due_ms + deadline_ms - sent_ms;
  if (left_ms <= 1) return { due_ms, latency_ms: dispatch_lag_ms, dispatch_lag_ms, outcome: 'error', error_code: 'DispatchedLate' };
  try {
    const { decision } = await api.payments.authorize(
      { transaction: transaction(p), amountMinor: BigInt(p.amount_minor), standIn: StandIn.DECLINE },
      { timeoutMs: Math.floor(left_ms) },
    );
    const latency_ms = performance.now() - due_ms;
    if (!decision) return { due_ms, latency_ms, dispatch_lag_ms, outcome: 'error', error_code: 'NoDecision' };
    return { due_ms, latency_ms, dispatch_lag_ms, outcome: decision.standIn ? 'stand_in' : decision.approved ? 'approved' : 'declined' };
  } catch (err) {
    return {
      due_ms,
      latency_ms: Math.max(performance.now() - due_ms, deadline_ms),
      dispatch_lag_ms,
      outcome: 'error',
      error_code: codeOf(err),
    };
  }
}

/** Clears an approved purchase (final), retrying refusals after the API's hint, until `until_ms`. */
async function clear(api: ApiClients, p: Purchase, until_ms: number): Promise<boolean> {
  for (let attempt = 0; performance.now() < until_ms && attempt < 1_000; attempt += 1) {
    try {
      const { payment } = await api.payments.clear(
        { transaction: transaction(p), eventId: 'clearing-1', amountMinor: BigInt(p.amount_minor), moreToCome: false },
        { timeoutMs: CLEARING_TIMEOUT_MS },
      );
      return payment?.postedMinor === BigInt(p.amount_minor);
    } catch (err) {
      const code = err instanceof ConnectError ? err.code : Code.Unknown;
      if (![Code.ResourceExhausted, Code.Unavailable, Code.DeadlineExceeded].includes(code)) return false;
      const hint = err instanceof ConnectError ? Number(err.metadata.get('grpc-retry-pushback-ms') ?? '') : Number.NaN;
      await sleep(Number.isFinite(hint) && hint > 0 ? hint : 200 + randomInt(200));
    }
  }
  return false;
}

const LATE_ANSWERS_LISTED = 20;

function summarizePhase(arrivals: Arrival[], offered_per_s: number, engine_rejections: number, cpu: CpuReport) {
  const latencies = arrivals.map((a) => a.latency_ms).sort((a, b) => a - b);
  const n = arrivals.length;
  const late = arrivals.filter((a) => a.outcome === 'error' || a.latency_ms > DEADLINE_MS);
  const answered_in_time = n - late.length;
  const first_due_ms = Math.min(...arrivals.map((a) => a.due_ms));
  const accepted = arrivals.filter((a) => a.outcome === 'approved');
  const errors: Record<string, number> = {};
  for (const a of arrivals) if (a.error_code) errors[a.error_code] = (errors[a.error_code] ?? 0) + 1;
  return {
    offered_per_s: round(offered_per_s, 2),
    n,
    answered_in_deadline_ratio: round(n === 0 ? 1 : answered_in_time / n, 4),
    stand_in_ratio: round(n === 0 ? 0 : arrivals.filter((a) => a.outcome === 'stand_in').length / n, 4),
    declined: arrivals.filter((a) => a.outcome === 'declined').length,
    accepted: accepted.length,
    errors,
    auth_ms_p50: round(percentile(latencies, 50), 1),
    auth_ms_p99: round(percentile(latencies, 99), 1),
    auth_ms_max: round(latencies.at(-1) ?? Number.NaN, 1),
    engine_rejections,
    completed_ratio: round(accepted.length === 0 ? 1 : accepted.filter((a) => a.cleared).length / accepted.length, 4),
    // How late this process sent its calls: lateness that is the caller's, not the platform's.
    dispatch_lag_ms_p99: round(
      percentile(
        arrivals.map((a) => a.dispatch_lag_ms).sort((a, b) => a - b),
        99,
      ),
      1,
    ),
    dispatch_lag_ms_max: round(Math.max(...arrivals.map((a) => a.dispatch_lag_ms)), 1),
    // The answers not in time, each with how late it was sent (at most LATE_ANSWERS_LISTED).
    late_answers: late.slice(0, LATE_ANSWERS_LISTED).map((a) => ({
      at_s: round((a.due_ms - first_due_ms) / 1000, 1),
      latency_ms: round(a.latency_ms, 1),
      dispatch_lag_ms: round(a.dispatch_lag_ms, 1),
      outcome: a.error_code ?? a.outcome,
    })),
    cpu,
  };
}

/** Seconds from the end of the overload until a window's p99 is back within the factor of the
 * first phase's; null if it never is within the last phase. */
function recoverySeconds(after: Arrival[], from_ms: number, to_ms: number, baseline_p99_ms: number): number | null {
  for (let start = from_ms; start + RECOVERY_WINDOW_MS <= to_ms; start += 1_000) {
    const window = after
      .filter((a) => a.due_ms >= start && a.due_ms < start + RECOVERY_WINDOW_MS)
      .map((a) => a.latency_ms)
      .sort((a, b) => a - b);
    if (window.length > 0 && percentile(window, 99) <= RECOVERY_P99_FACTOR * baseline_p99_ms) return round((start - from_ms) / 1000, 0);
  }
  return null;
}

/** Engine work of a purchase, from its history (src/bench/engine-work.ts: workflow tasks, events,
 * Temporal actions as Temporal Cloud bills them), and where its authorization's time went: from its
 * due time to the run's start (the client, the API: parsing, the card read, admission, the
 * update-with-start), the first workflow task waiting for a poll and running (the decision's local
 * activity and ledger write inside it), and from the task's completion to the answer at the client
 * (the update's outcome back through the frontend and the API). One clock: every process runs on
 * this machine. */
async function engineWork(
  connection: Connection,
  samples: Array<{ payment_id: string; due_ms: number; answered_ms: number }>,
  slowest: Array<{ payment_id: string; due_ms: number; answered_ms: number; phase_from_ms: number }>,
) {
  const client = new Client({ connection, namespace: 'default' });
  const rows: Array<{ workflow_tasks: number; events: number; actions: number }> = [];
  const hops: Record<HopName, number[]> = { to_engine_ms: [], to_task_ms: [], task_queued_ms: [], task_run_ms: [], answer_back_ms: [] };
  let unreadable = 0;
  // An overloaded dev server may still refuse a read: null, and the others are counted.
  const historyOf = (payment_id: string) =>
    client.workflow
      .getHandle(paymentWorkflowId(payment_id))
      .fetchHistory()
      .then(
        (h) => h.events ?? [],
        () => null,
      );
  for (const sample of samples) {
    const events = await historyOf(sample.payment_id);
    if (!events) {
      unreadable += 1;
      continue;
    }
    const w = engineWorkOf(events);
    rows.push({ workflow_tasks: w.workflow_tasks, events: w.history_events, actions: w.temporal_actions });
    const h = hopsOf(events, sample);
    if (h) for (const k of HOP_NAMES) hops[k].push(h[k]);
  }
  // The half-load's slowest answers, each hop by hop: where the p99's time went.
  const slowestHops = [];
  for (const sample of slowest) {
    const events = await historyOf(sample.payment_id);
    const h = events ? hopsOf(events, sample) : null;
    slowestHops.push({
      at_s: round((sample.due_ms - sample.phase_from_ms) / 1000, 1),
      latency_ms: round(sample.answered_ms - sample.due_ms, 1),
      ...(h ? Object.fromEntries(HOP_NAMES.map((k) => [k, round(h[k], 1)])) : {}),
    });
  }
  const mean = (f: (r: { workflow_tasks: number; events: number; actions: number }) => number) =>
    round(rows.reduce((a, r) => a + f(r), 0) / Math.max(1, rows.length), 2);
  const spread = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { p50: round(percentile(sorted, 50), 1), p99: round(percentile(sorted, 99), 1), max: round(sorted.at(-1) ?? Number.NaN, 1) };
  };
  return {
    workflow_tasks_per_payment: mean((r) => r.workflow_tasks),
    history_events_per_payment: mean((r) => r.events),
    temporal_actions_per_payment: mean((r) => r.actions),
    histories_sampled: rows.length,
    histories_unreadable: unreadable,
    /** Half-load authorizations, hop by hop (ms; see engineWork). */
    authorization_hops_half_load: Object.fromEntries(Object.entries(hops).map(([k, xs]) => [k, spread(xs)])),
    /** The half-load's slowest authorizations: seconds into the phase, latency, and each hop (ms). */
    authorization_slowest_half_load: slowestHops,
  };
}

const HOP_NAMES = ['to_engine_ms', 'to_task_ms', 'task_queued_ms', 'task_run_ms', 'answer_back_ms'] as const;
type HopName = (typeof HOP_NAMES)[number];

/** One authorization's hops (see engineWork), or null when its history lacks the first task. */
function hopsOf(
  events: Parameters<typeof firstTaskTimings>[0],
  sample: { due_ms: number; answered_ms: number },
): Record<HopName, number> | null {
  const t = firstTaskTimings(events);
  if (!t) return null;
  const wall = (perf_ms: number) => performance.timeOrigin + perf_ms;
  return {
    to_engine_ms: t.started_ms - wall(sample.due_ms),
    to_task_ms: t.scheduled_after_start_ms,
    task_queued_ms: t.queued_ms,
    task_run_ms: t.run_ms,
    answer_back_ms: wall(sample.answered_ms) - t.completed_ms,
  };
}

/** One scrape of the API's metrics (src/api/rpc/metrics.ts) at a phase boundary. Its counters
 * (stand-ins at the door by reason, answers by outcome, other calls refused) are totals: a phase's
 * figures are differences. Its event-loop delay (prom-client's default metrics, from perf_hooks)
 * is reset by every scrape, so the scrape at a phase's end covers that phase alone. */
interface ApiScrape {
  counters: Record<string, number>;
  event_loop_delay_ms_p99: number;
  event_loop_delay_ms_max: number;
}
async function scrapeApi(metrics_url: string): Promise<ApiScrape> {
  const text = await fetch(metrics_url).then(
    (r) => r.text(),
    () => '',
  );
  const scrape: ApiScrape = { counters: {}, event_loop_delay_ms_p99: Number.NaN, event_loop_delay_ms_max: Number.NaN };
  for (const line of text.split('\n')) {
    const m = /^(api_admission_refusals_total|card_authorization_answers_total)\{([^}]*)\} (\d+(?:\.\d+)?)$/.exec(line);
    if (m) scrape.counters[`${m[1]}{${m[2]}}`] = Number(m[3]);
    const lag = /^api_process_nodejs_eventloop_lag_(p99|max)_seconds (\S+)$/.exec(line);
    if (lag) scrape[lag[1] === 'p99' ? 'event_loop_delay_ms_p99' : 'event_loop_delay_ms_max'] = round(Number(lag[2]) * 1000, 1);
  }
  return scrape;
}
/** The bench client's own event-loop delay over one phase: an answer the API sent in time still
 * counts late if this process reads it late, so its share of any lateness is shown beside the API's. */
function clientEventLoopDelay(): () => { p99_ms: number; max_ms: number } {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  return () => {
    h.disable();
    return { p99_ms: round(h.percentile(99) / 1e6, 1), max_ms: round(h.max / 1e6, 1) };
  };
}
/** The worker's histograms behind a workflow task's time (sum and count, read at each phase
 * boundary; a phase's mean is the difference): the SDK's workflow task execution (the workflow
 * code of one activation), its local activities (the decision and the clearing, end to end), and
 * the platform's own decision time (src/workers/metrics.ts, the authorizeCard activity alone). */
const WORKER_HISTOGRAMS = [
  'temporal_workflow_task_execution_latency',
  'temporal_workflow_task_schedule_to_start_latency',
  'temporal_local_activity_execution_latency',
  'temporal_workflow_activation_execution_latency',
  'card_authorization_decision_ms',
] as const;
async function workerHistograms(metrics_url: string): Promise<Record<string, { sum: number; count: number }>> {
  const text = await fetch(metrics_url).then(
    (r) => r.text(),
    () => '',
  );
  const totals: Record<string, { sum: number; count: number }> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)_(sum|count)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || !(WORKER_HISTOGRAMS as readonly string[]).includes(m[1]!)) continue;
    const t = (totals[m[1]!] ??= { sum: 0, count: 0 });
    t[m[2] as 'sum' | 'count'] += Number(m[3]);
  }
  return totals;
}
/** Mean per histogram between two readings, in the histogram's unit (ms). */
function histogramMeans(to: Record<string, { sum: number; count: number }>, from: Record<string, { sum: number; count: number }>) {
  const means: Record<string, { mean: number; n: number }> = {};
  for (const [name, t] of Object.entries(to)) {
    const n = t.count - (from[name]?.count ?? 0);
    if (n > 0) means[name] = { mean: round((t.sum - (from[name]?.sum ?? 0)) / n, 1), n };
  }
  return means;
}
function counterDelta(to: Record<string, number>, from: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(to)
      .map(([k, v]) => [k, v - (from[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  );
}

function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
/** The engine's own refusals logged between two sets of offsets of the same files. */
function engineRejectionsBetween(files: string[], from: number[], to: number[]): number {
  let n = 0;
  files.forEach((file, i) => {
    const text = readFileSync(file).subarray(from[i]!, to[i]!).toString('utf8');
    n += text.match(ENGINE_REJECTION_PATTERN)?.length ?? 0;
  });
  return n;
}

interface Options {
  out: string;
  cards: number;
  timeScale: number;
  temporal: 'dev' | 'server';
  workerCpuProf?: string;
  apiCpuProf?: string;
}

async function main(): Promise<void> {
  program.parse();
  const options = program.opts<Options>();
  mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
  const scratch = mkdtempSync(path.join(REPO_ROOT, '.tmp', 'bench-overload-'));
  let postgres: RunningPostgres | null = null;
  let temporal: BenchTemporal | null = null;
  const procs: ManagedProcess[] = [];
  let simulator: Awaited<ReturnType<typeof startSettlementSimulator>> | null = null;
  let connection: Connection | null = null;
  let succeeded = false;
  try {
    const engine = options.temporal === 'server' ? 'the real Temporal server' : 'a Temporal dev server';
    progress(`starting Postgres, ${engine}, the settlement simulator, the worker and the API in ${scratch}`);
    postgres = await startEmbeddedPostgres({ dir: path.join(scratch, 'postgres'), port: await freePort(), log: progress });
    temporal = await startBenchTemporal(options.temporal, scratch, postgres);
    await migrate(postgres.url);
    // The bank signs its callbacks; the worker verifies them with the same secret (`env` below).
    const callbackSecret = generateWebhookSecret();
    simulator = await startSettlementSimulator({
      host: '127.0.0.1',
      port: 0,
      callback_secret: parseWebhookSecret(callbackSecret, 'bench callback secret'),
      transient_failure_rate: 0,
      reply_lost_rate: 0,
      latency_ms: 0,
    });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATA_DIR: scratch,
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: postgres.url,
      SETTLEMENT_GATEWAY_URL: simulator.url,
      PAYLOAD_CODEC_KEYS: process.env.PAYLOAD_CODEC_KEYS ?? generateKeyEntry('bench-overload'),
      PAYLOAD_CODEC_KEYS_FILE: '',
      SETTLEMENT_CALLBACK_SECRET: callbackSecret,
      SETTLEMENT_CALLBACK_SECRET_FILE: '',
      LOG_LEVEL: 'warn',
      SETTLEMENT_CALLBACK_PORT: String(await freePort()),
      WORKER_METRICS_PORT: String(await freePort()),
      API_PORT: String(await freePort()),
      API_METRICS_PORT: String(await freePort()),
    };
    const config = loadConfig(env);
    const spawn = (name: 'worker' | 'api', script: string) => {
      const profileDir = name === 'worker' ? options.workerCpuProf : options.apiCpuProf;
      const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [];
      const proc = spawnManaged({
        name,
        command: process.execPath,
        args: [...profile, '--import', 'tsx', path.join(REPO_ROOT, 'src', ...script.split('/'))],
        logFile: path.join(scratch, `${name}.log`),
        cwd: REPO_ROOT,
        env,
      });
      procs.push(proc);
      return proc;
    };
    const worker = spawn('worker', 'workers/main.ts');
    connection = await Connection.connect({ address: temporal.address });
    // A profiled worker starts slower (and a niced one on a busy machine slower still).
    const workerStartMs = options.workerCpuProf ? 600_000 : 120_000;
    await waitForWorker(
      connection,
      'default',
      config.TEMPORAL_AUTHORIZATION_TASK_QUEUE,
      workerStartMs,
      () => worker.child.exitCode !== null,
    );
    const api = spawn('api', 'api/main.ts');
    const apiUrl = `http://127.0.0.1:${config.API_PORT}`;
    const apiMetricsUrl = `http://127.0.0.1:${config.API_METRICS_PORT}/metrics`;
    const workerMetricsUrl = `http://127.0.0.1:${config.WORKER_METRICS_PORT}/metrics`;
    for (let attempt = 0; ; attempt += 1) {
      if (api.child.exitCode !== null || attempt > 600) throw new Error(`the API did not start; ${api.logFile}:\n${tail(api.logFile)}`);
      if (
        await fetch(`${apiUrl}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await sleep(100);
    }

    progress(`opening ${options.cards} company credit lines, a card on each, and one API key for them all`);
    const pool = createPool(postgres.url, { connections_max: 8, application_name: 'bench-overload' });
    const ledger = createLedger(pool);
    const cards = createCardStore(pool);
    const run = randomUUID().slice(0, 8);
    const companies = Array.from({ length: options.cards }, (_, i) => `bench-co-${run}-${i}`);
    const cardIds: string[] = [];
    for (let i = 0; i < companies.length; i += 8) {
      await Promise.all(
        companies.slice(i, i + 8).map(async (company_id, j) => {
          const account_id = await openCreditLine(ledger, {
            company_id,
            currency: 'USD',
            limit_minor: 1_000_000_000_000,
            grant_key: 'bench',
          });
          cardIds.push((await cards.issue({ card_id: `bench-card-${run}-${i + j}`, company_id, currency: 'USD', account_id })).card_id);
        }),
      );
    }
    const { api_key } = await createApiKeyStore(pool).create({ name: `bench-overload-${run}`, company_ids: companies });
    const client = createApiClients({ url: apiUrl, key: api_key, timeout_ms: CLEARING_TIMEOUT_MS, http_version: '2' });
    const newPurchase = (): Purchase => ({
      payment_id: `bench-${randomUUID()}`,
      card_id: cardIds[randomInt(cardIds.length)]!,
      amount_minor: 100 + randomInt(10_000),
    });
    const roots = () => ({
      temporal_server: temporal!.pid(),
      postgres: postgres!.process.child.pid!,
      worker: worker.child.pid!,
      api: api.child.pid!,
      bench_client: process.pid,
    });

    // 1. Capacity: closed loop through the API.
    const capacityStart = performance.now();
    const countFrom = capacityStart + CAPACITY_WARMUP_SECONDS * 1000;
    const countTo = countFrom + CAPACITY_SECONDS * 1000;
    let completed = 0;
    let capacityErrors = 0;
    progress(`capacity: ${CAPACITY_CONCURRENCY} purchases in flight, ${CAPACITY_WARMUP_SECONDS} s warm-up + ${CAPACITY_SECONDS} s`);
    const loops = Array.from({ length: CAPACITY_CONCURRENCY }, async () => {
      while (performance.now() < countTo) {
        const p = newPurchase();
        const answer = await authorize(client, p, performance.now(), CAPACITY_DEADLINE_MS);
        const ok = answer.outcome === 'approved' && (await clear(client, p, performance.now() + CLEARING_TIMEOUT_MS));
        const now = performance.now();
        if (!ok) capacityErrors += 1;
        else if (now >= countFrom && now < countTo) completed += 1;
      }
    });
    await sleep(countFrom - performance.now());
    const capacityCpu = cpuMeter(roots);
    await Promise.all(loops);
    const capacity_cpu = capacityCpu();
    const capacity_per_s = completed / CAPACITY_SECONDS;
    progress(
      `capacity: ${capacity_per_s.toFixed(1)} purchases/s (${capacityErrors} not completed), cores ${JSON.stringify(capacity_cpu.cores_used)}`,
    );
    if (capacity_per_s < 0.5) throw new Error(`capacity ${capacity_per_s}/s: too low to run the phases`);
    await sleep(3_000);

    // 2. The phases, open loop.
    const arrivals: Arrival[] = [];
    const clearings: Array<Promise<void>> = [];
    const logs = [api.logFile, worker.logFile];
    const phaseReports = [];
    /** Each phase's event-loop delay in this process, from its start to the next phase's. */
    const clientDelays: Array<{ p99_ms: number; max_ms: number }> = [];
    let stopClientDelay: (() => { p99_ms: number; max_ms: number }) | null = null;
    const phaseBounds: Array<{ from_ms: number; to_ms: number }> = [];
    const t0 = performance.now() + 100;
    let due = t0;
    const lastEnd = t0 + PHASES.reduce((a, ph) => a + ph.seconds * options.timeScale * 1000, 0);
    const pending = new Set<Promise<void>>();
    for (const [index, phase] of PHASES.entries()) {
      const rate = capacity_per_s * phase.factor;
      const from_ms = due;
      const to_ms = from_ms + phase.seconds * options.timeScale * 1000;
      phaseBounds.push({ from_ms, to_ms });
      const logFrom = logs.map(logSize);
      const apiFrom = await scrapeApi(apiMetricsUrl);
      if (stopClientDelay) clientDelays.push(stopClientDelay());
      stopClientDelay = clientEventLoopDelay();
      const histogramsFrom = await workerHistograms(workerMetricsUrl);
      progress(`phase ${phase.name}: ${rate.toFixed(1)} authorizations/s for ${((to_ms - from_ms) / 1000).toFixed(0)} s`);
      const meter = cpuMeter(roots);
      const mine: Arrival[] = [];
      for (; due < to_ms; due += 1000 / rate) {
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const purchase = newPurchase();
        const due_ms = due;
        const task = (async () => {
          const answer = await authorize(client, purchase, due_ms);
          const arrival: Arrival = { ...answer, phase: index, purchase };
          arrivals.push(arrival);
          mine.push(arrival);
          if (arrival.outcome === 'approved') {
            clearings.push(
              clear(client, purchase, lastEnd + CLEARING_DRAIN_MS_MAX).then((ok) => {
                arrival.cleared = ok;
              }),
            );
          }
        })();
        pending.add(task);
        void task.finally(() => pending.delete(task));
      }
      const cpu = meter();
      phaseReports.push({ phase, rate, cpu, logFrom, apiFrom, histogramsFrom, mine });
    }
    await Promise.all(pending);
    const apiTo = await scrapeApi(apiMetricsUrl);
    if (stopClientDelay) clientDelays.push(stopClientDelay());
    const histogramsTo = await workerHistograms(workerMetricsUrl);
    progress(`phases done; waiting for ${clearings.length} clearings`);
    await Promise.all(clearings);
    const logTo = logs.map(logSize);
    const phases: Record<
      string,
      ReturnType<typeof summarizePhase> & {
        api_counters: Record<string, number>;
        event_loop_delay_ms: { api_p99: number; api_max: number; client_p99: number; client_max: number };
        worker_means_ms: ReturnType<typeof histogramMeans>;
      }
    > = {};
    for (const [i, r] of phaseReports.entries()) {
      const rejections = engineRejectionsBetween(logs, r.logFrom, phaseReports[i + 1]?.logFrom ?? logTo);
      const apiEnd = phaseReports[i + 1]?.apiFrom ?? apiTo;
      phases[r.phase.name] = {
        ...summarizePhase(r.mine, r.rate, rejections, r.cpu),
        api_counters: counterDelta(apiEnd.counters, r.apiFrom.counters),
        // Lateness from starved event loops: the API's (its default metrics) and this process's.
        event_loop_delay_ms: {
          api_p99: apiEnd.event_loop_delay_ms_p99,
          api_max: apiEnd.event_loop_delay_ms_max,
          client_p99: clientDelays[i]?.p99_ms ?? Number.NaN,
          client_max: clientDelays[i]?.max_ms ?? Number.NaN,
        },
        // Authorizations and the clearings running beside them (the clearings finish after it).
        worker_means_ms: histogramMeans(phaseReports[i + 1]?.histogramsFrom ?? histogramsTo, r.histogramsFrom),
      };
      progress(`${r.phase.name}: ${JSON.stringify({ ...phases[r.phase.name], cpu: undefined })}`);
    }

    // 3. Exactly once, and the ledger.
    const accepted = arrivals.filter((a) => a.outcome === 'approved');
    const { rows } = await pool.query<{ payment_id: string; posted: string; postings: number }>(
      `SELECT payment_id, sum(amount)::text AS posted, count(*)::int AS postings
         FROM ledger.transfers WHERE payment_id = ANY($1) AND code IN (202, 203, 204) GROUP BY payment_id`,
      [accepted.map((a) => a.purchase.payment_id)],
    );
    const postedBy = new Map(rows.map((r) => [r.payment_id, r]));
    const clearedOnce = accepted.filter((a) => Number(postedBy.get(a.purchase.payment_id)?.posted ?? 0) === a.purchase.amount_minor).length;
    const clearedTwice = accepted.filter((a) => Number(postedBy.get(a.purchase.payment_id)?.posted ?? 0) > a.purchase.amount_minor).length;
    const report = await verifyLedger(pool);
    const samples = accepted.filter((a) => a.cleared && a.phase === 0).slice(0, HISTORY_SAMPLES);
    const slowest = accepted
      .filter((a) => a.phase === 0)
      .sort((x, y) => y.latency_ms - x.latency_ms)
      .slice(0, SLOWEST_SAMPLES);
    const work = await engineWork(
      connection,
      samples.map((a) => ({ payment_id: a.purchase.payment_id, due_ms: a.due_ms, answered_ms: a.due_ms + a.latency_ms })),
      slowest.map((a) => ({
        payment_id: a.purchase.payment_id,
        due_ms: a.due_ms,
        answered_ms: a.due_ms + a.latency_ms,
        phase_from_ms: phaseBounds[0]!.from_ms,
      })),
    );
    await pool.end();

    const half = phases.half_load!;
    const recovery_s = recoverySeconds(
      arrivals.filter((a) => a.phase === 2),
      phaseBounds[2]!.from_ms,
      phaseBounds[2]!.to_ms,
      half.auth_ms_p99,
    );
    const result = {
      capacity_per_s: round(capacity_per_s, 2),
      phases,
      recovery_s,
      answered_in_deadline_ratio: Math.min(...Object.values(phases).map((p) => p.answered_in_deadline_ratio)),
      auth_latency_ms_p99_half_load: half.auth_ms_p99,
      ...work,
      accepted: accepted.length,
      cleared_exactly_once: clearedOnce,
      cleared_more_than_once: clearedTwice,
      invariants_ok: report.ok,
      deadline_ms: DEADLINE_MS,
      time_scale: options.timeScale,
      phase_seconds: PHASES.map((p) => p.seconds * options.timeScale),
      capacity: {
        concurrency: CAPACITY_CONCURRENCY,
        seconds: CAPACITY_SECONDS,
        deadline_ms: CAPACITY_DEADLINE_MS,
        not_completed: capacityErrors,
        cpu: capacity_cpu,
      },
      admission: {
        in_flight_max: config.API_TEMPORAL_IN_FLIGHT_MAX,
        in_flight_min: config.API_TEMPORAL_IN_FLIGHT_MIN,
        in_flight_initial: config.API_TEMPORAL_IN_FLIGHT_INITIAL,
        authorization_latency_target_ms: config.API_AUTHORIZATION_LATENCY_TARGET_MS,
        slow_answers_percent_max: config.API_ADMISSION_SLOW_ANSWERS_PERCENT_MAX,
        authorization_reserve_percent: config.API_AUTHORIZATION_RESERVE_PERCENT,
        authorization_waiting_max: config.API_AUTHORIZATION_WAITING_MAX,
        authorization_engine_ms: config.API_AUTHORIZATION_ENGINE_MS,
      },
      cards: options.cards,
      temporal_mode: options.temporal,
      ...(options.temporal === 'server'
        ? { temporal_server: TEMPORAL_SERVER_VERSION, history_shards: HISTORY_SHARDS_DEFAULT }
        : { temporal_cli: TEMPORAL_CLI_VERSION }),
      machine: {
        ...describeMachine(),
        load_average_1m_at_end: round(os.loadavg()[0]!, 2),
      },
    };
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
    if (!report.ok || clearedTwice > 0) process.exitCode = 1;
    succeeded = true;
  } finally {
    for (const proc of procs.reverse()) await proc.stop('SIGTERM', 20_000);
    await simulator?.close();
    await connection?.close();
    await temporal?.stop();
    await postgres?.stop();
    if (succeeded) rmSync(scratch, { recursive: true, force: true });
    else progress(`logs kept in ${scratch}`);
  }
}

main().catch((err: unknown) => {
  console.error(`bench:overload: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
