// `npm run chaos -- --payments N --out FILE [--seed S]`: drives N mixed payments through the gRPC
// API at a steady rate while crashing workers, the API and the Temporal dev server (SIGKILL, then
// started again on the same SQLite file) and Postgres (SIGKILL of its process group or immediate
// shutdown), dropping database connections, and letting the bank simulator time out, fail, repeat
// and delay its callbacks; fuzzes the API and the ledger with bad input meanwhile; then waits for
// every payment to finish and checks that nothing was lost or booked twice, every invariant holds,
// the whole ledger reconciles with the acknowledged outcomes, every planned fault was played, every
// path reached its final state often enough and no process grew without bound. The seed (printed;
// --seed to reuse it) fixes the plan: payment mix, fault schedule, the bank's fault rates, the fuzz
// inputs. The run writes its fault log (faults as struck, bank draws); `--replay LOG` plays those.
// Prints progress on stderr; the last line on stdout is the JSON result (also written to --out).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { REPO_ROOT } from '../config.js';
import { createLedger } from '../ledger/ledger.js';
import { RetryStats, createChaosClients, withRetries } from './client.js';
import { checkRun } from './check.js';
import { CURRENCY, Driver, type Fixtures, type PaymentRecord } from './driver.js';
import { pathCoverage } from './coverage.js';
import { FaultInjector, unplayedFaults } from './faults.js';
import { Fuzzer } from './fuzz.js';
import { MemorySampler } from './memory.js';
import { SEED_MAX, createPrng, randomSeed } from './prng.js';
import { reconcileLedger } from './reconcile.js';
import { BankDraws, faultLog, readFaultLog, writeFaultLog } from './replay.js';
import { FAULT_KINDS, countByKind, planChaos } from './schedule.js';
import {
  OVERLOAD_AUTHORIZATION_TIMEOUT_MS,
  OVERLOAD_FACTOR,
  OVERLOAD_ON_FROM_PAYMENTS,
  OVERLOAD_SECONDS_DEFAULT,
  OVERLOAD_START_SHARE,
  PROBE_SECONDS_DEFAULT,
  overloadEnabled,
  overloadRatePerS,
  lastPaymentChangeAtMs,
  OVERLOAD_DRAIN_S_MAX,
  OVERLOAD_FINISH_FACTOR_MAX,
  parseQuietBaseline,
  overloadReport,
  probeCapacity,
  runOverload,
  type ProbeResult,
} from './overload.js';
import { ENGINE_REJECTION_PATTERN } from '../engine-limits.js';
import { ChaosStack } from './stack.js';

/** The main company's credit line: large enough that no path but the declines runs out. */
const COMPANY_LIMIT_MINOR = 1_000_000_000_000;
/** How often every long-running process's resident memory is sampled. */
const RSS_SAMPLE_INTERVAL_MS = 2_000;

function intOption(min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

const program = new Command('chaos')
  .description('Mixed payments through the gRPC API under injected faults and bad input, then every invariant checked.')
  .option('--payments <n>', 'how many payments to drive', intOption(1, 100_000), 100)
  .option('--out <file>', 'also write the JSON result here')
  .option('--seed <n>', `the seed (0..${SEED_MAX}); default: a random one, printed`, intOption(0, SEED_MAX))
  .option('--rate <n>', 'payments started per second', intOption(1, 1_000), 5)
  .option('--workers <n>', 'worker processes', intOption(1, 8), 2)
  .option('--fuzz-per-s <n>', 'bad API calls and bad ledger batches per second (each); 0: no fuzzing', intOption(0, 100), 2)
  .option('--final-timeout-s <n>', 'how long to wait for every payment to finish after the last fault', intOption(10, 7_200), 600)
  .option('--keep', 'keep the scratch folder (logs, databases) even after a clean run')
  .option('--fault-log <file>', 'where to write the fault log (default: beside --out, else under .tmp/)')
  .option('--replay <log>', 'play the faults and bank draws of a fault log (its seed, payments, rate and workers too)')
  .option(
    '--overload',
    `add the overload phase: card purchases (2 s deadline) at ${OVERLOAD_FACTOR}x the sustainable rate on top of the mix, from ${OVERLOAD_START_SHARE * 100} % of the sending window (default: on from ${OVERLOAD_ON_FROM_PAYMENTS} payments)`,
  )
  .option('--no-overload', 'no overload phase, whatever the run length')
  .option(
    '--baseline <file>',
    `a quiet run's result (same seed, payments and rate, --no-overload): the overload run must finish its work within ${OVERLOAD_FINISH_FACTOR_MAX}x its time, instead of within ${OVERLOAD_DRAIN_S_MAX} s of the last send`,
  )
  .option('--overload-seconds <n>', 'how long the overload phase lasts', intOption(1, 3_600), OVERLOAD_SECONDS_DEFAULT)
  .option(
    '--overload-rate <n>',
    `overload purchases per second (default: ${OVERLOAD_FACTOR}x the capacity a probe measures first)`,
    intOption(1, 1_000),
  )
  .option('--overload-probe-s <n>', 'how long the capacity probe runs before the load', intOption(1, 600), PROBE_SECONDS_DEFAULT);

interface Options {
  payments: number;
  out?: string;
  seed?: number;
  rate: number;
  workers: number;
  fuzzPerS: number;
  finalTimeoutS: number;
  keep?: boolean;
  faultLog?: string;
  replay?: string;
  overload?: boolean;
  overloadSeconds: number;
  overloadRate?: number;
  overloadProbeS: number;
  baseline?: string;
}

const say = (msg: string) => process.stderr.write(`[chaos] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts<Options>();
  const replay = opts.replay ? readFaultLog(opts.replay) : null;
  if (replay) {
    Object.assign(opts, { seed: replay.seed, payments: replay.payments, rate: replay.rate_per_s, workers: replay.workers });
    say(`replaying ${opts.replay}: ${replay.faults.length} faults at their logged offsets, ${replay.bank_draws.length} bank draws`);
  }
  const seed = opts.seed ?? randomSeed();
  say(`seed ${seed} (reproduce the plan with --seed ${seed}, the faults as struck with --replay on the fault log)`);
  const plan = planChaos({ seed, payments: opts.payments, rate_per_s: opts.rate, workers: opts.workers });
  if (replay) plan.faults = [...replay.faults].sort((a, b) => a.at_ms - b.at_ms);
  // Read before anything starts: a baseline of another plan is refused at once.
  const baseline = opts.baseline
    ? parseQuietBaseline(opts.baseline, JSON.parse(readFileSync(opts.baseline, 'utf8')) as unknown, {
        seed,
        payments: plan.payments,
        rate_per_s: plan.rate_per_s,
      })
    : null;
  const faults_planned = countByKind(plan.faults);
  say(
    `plan: ${plan.payments} payments at ${plan.rate_per_s}/s over ${(plan.window_ms / 1000).toFixed(0)} s; faults ${JSON.stringify(faults_planned)}; bank ${JSON.stringify(plan.gateway)}`,
  );
  mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
  const faultLogFile =
    opts.faultLog ??
    (opts.out
      ? `${opts.out.replace(/\.json$/, '')}.faults.json`
      : path.join(REPO_ROOT, '.tmp', `chaos-${seed}-${process.pid}.faults.json`));

  const scratch = path.join(REPO_ROOT, '.tmp', `chaos-${seed}-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const root = createPrng(seed);
  const bank = new BankDraws(root.fork('bank').next, replay?.bank_draws ?? []);
  const stack = new ChaosStack({ scratch, workers: opts.workers, gateway: plan.gateway, random: bank.next, log: say });
  const memory = new MemorySampler(() => stack.processes(), RSS_SAMPLE_INTERVAL_MS);
  let injector: FaultInjector | null = null;
  let clean = false;
  stopOnCrash = () => stack.stop();
  const started = performance.now();
  try {
    await stack.start();
    say(`stack up in ${((performance.now() - started) / 1000).toFixed(1)} s (${scratch})`);
    memory.start();

    const fixtures: Fixtures = {
      company: `chaos-${seed}-co`,
      tiny_company: `chaos-${seed}-tiny`,
      card: `chaos-${seed}-card`,
      tiny_card: `chaos-${seed}-tiny-card`,
      tiny_limit_minor: 1_000,
    };
    const key = await stack.createApiKey([fixtures.company, fixtures.tiny_company]);
    const clients = createChaosClients(stack.apiUrl, () => key);
    const stats = new RetryStats();
    const setupDeadline = Date.now() + 120_000;
    for (const [company, limit, card] of [
      [fixtures.company, COMPANY_LIMIT_MINOR, fixtures.card],
      [fixtures.tiny_company, fixtures.tiny_limit_minor, fixtures.tiny_card],
    ] as const) {
      await withRetries(stats, setupDeadline, () =>
        clients.ledger.createCreditLine({ companyId: company, currency: CURRENCY, limitMinor: BigInt(limit), grantKey: 'chaos' }),
      );
      await withRetries(stats, setupDeadline, () => clients.cards.issueCard({ cardId: card, companyId: company, currency: CURRENCY }));
    }

    // Load, faults and fuzzing, all from t0 (after the overload phase's capacity probe, if any).
    let giveUpAt = Number.POSITIVE_INFINITY;
    const overloadOn = overloadEnabled(opts.overload, plan.payments);
    const driverFrom = (started_ms: number) => new Driver(clients, fixtures, seed, stats, () => giveUpAt, started_ms);
    const records: PaymentRecord[] = plan.kinds.map((kind, i) => driverFrom(0).newRecord(i, kind));
    // Overload and probe purchases: card purchases after the plan's payments, with their own ids.
    const extraRecord = (phase: 'probe' | 'overload') => () => {
      const record: PaymentRecord = { ...driverFrom(0).newRecord(records.length, 'card_clear'), phase };
      if (phase === 'overload') record.authorization_timeout_ms = OVERLOAD_AUTHORIZATION_TIMEOUT_MS;
      records.push(record);
      return record;
    };
    let probe: ProbeResult | null = null;
    let overloadRate = 0;
    if (overloadOn) {
      if (opts.overloadRate !== undefined) overloadRate = opts.overloadRate;
      else {
        probe = await probeCapacity(driverFrom(performance.now()), extraRecord('probe'), opts.overloadProbeS);
        overloadRate = overloadRatePerS(probe.capacity_per_s);
        say(`capacity probe: ${probe.purchases} purchases in ${probe.seconds} s, ${probe.capacity_per_s}/s`);
      }
      say(
        `overload phase: ${overloadRate} purchases/s for ${opts.overloadSeconds} s from ${((OVERLOAD_START_SHARE * plan.window_ms) / 1000).toFixed(0)} s`,
      );
    }
    const t0 = performance.now();
    const driver = driverFrom(t0);
    injector = new FaultInjector(stack, say);
    const fuzzClients = createChaosClients(stack.apiUrl, () => key, 5_000);
    const fuzzer = new Fuzzer(fuzzClients, createLedger(stack.checkerPool), root.fork('fuzz').seed32(), fixtures.card, fixtures.company);
    const faultsDone = injector.run(plan.faults, t0);
    const fuzzDone = (opts.fuzzPerS > 0 ? fuzzer.run(opts.fuzzPerS) : Promise.resolve()).catch((err: unknown) => {
      fuzzer.report.violations.push(`the fuzzer itself failed: ${(err as Error).stack ?? String(err)}`);
    });
    let sent = 0;
    let pathsDone = 0;
    // The bank's faults, from the simulator's own counters. A payout to a REJECT... payee is a path
    // (payout_reject), not a fault: the bank does what it must.
    const gatewayFaults = () => {
      const sim = stack.simulator!;
      const dup = sim.callbacks.filter((c) => c.kind === 'duplicate').length;
      const late = sim.callbacks.filter((c) => c.kind === 'late').length;
      return {
        total: sim.transient_failures + sim.replies_lost + sim.held + dup + late,
        transient_errors: sim.transient_failures,
        replies_lost: sim.replies_lost,
        timeouts: sim.held,
        duplicate_callbacks: dup,
        late_callbacks: late,
      };
    };
    const ticker = setInterval(() => {
      const played = injector!.played;
      say(
        `${((performance.now() - t0) / 1000).toFixed(0)} s: sent ${sent}/${plan.payments}, paths done ${pathsDone}, ` +
          `faults played ${FAULT_KINDS.map((k) => `${k} ${played[k]}/${faults_planned[k]}`).join(', ')}, ` +
          `gateway ${gatewayFaults().total}; retries ${stats.retries}; fuzz ${fuzzer.report.api_calls} API + ${fuzzer.report.ledger_calls} ledger`,
      );
    }, 5_000);
    const paths: Promise<void>[] = [];
    const overloadDone = overloadOn
      ? sleep(OVERLOAD_START_SHARE * plan.window_ms).then(() =>
          runOverload(driver, extraRecord('overload'), overloadRate, opts.overloadSeconds, paths),
        )
      : Promise.resolve();
    for (let i = 0; i < plan.payments; i++) {
      const due = t0 + (i * 1000) / plan.rate_per_s;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      sent += 1;
      const record = records[i]!;
      paths.push(
        driver.run(record).finally(() => {
          pathsDone += 1;
          if (record.error) say(`${record.payment_id} (${record.kind}): ${record.error}`);
        }),
      );
    }
    await overloadDone;
    // Wall-clock time: the payments' timelines, which the drain is read from, carry it.
    const lastSent_at_ms = Date.now();
    const lastSent_s = (performance.now() - t0) / 1000;
    await faultsDone;
    say('every fault played; waiting for the payments to finish');
    giveUpAt = Date.now() + opts.finalTimeoutS * 1000;
    // The overload phase adds to `paths` while it runs: it has ended here.
    await Promise.all(paths);
    // Late callbacks come this long after their payout was accepted: let them arrive before checking.
    await sleep(plan.gateway.late_callback_delay_ms + 2_000);
    const finalDeadline = Date.now() + opts.finalTimeoutS * 1000;
    const finalRead_started_ms = performance.now();
    say(`reading ${records.length} payments until each is final`);
    for (let i = 0; i < records.length; i += 32) {
      // A payment whose path broke off gets no further message: a short wait shows where it stands.
      await Promise.all(
        records.slice(i, i + 32).map((r) => driver.waitForFinal(r, r.error ? Math.min(finalDeadline, Date.now() + 10_000) : finalDeadline)),
      );
    }
    const finalRead_s = (performance.now() - finalRead_started_ms) / 1000;
    // Every run reports its drain: a run without the overload phase is the baseline the overload's is judged against.
    const drain_s = Math.max(0, ((lastPaymentChangeAtMs(records) ?? lastSent_at_ms) - lastSent_at_ms) / 1000);
    say(
      `read ${records.length} payments in ${finalRead_s.toFixed(0)} s; the last change to a payment came ${drain_s.toFixed(0)} s after the last send`,
    );
    fuzzer.stop();
    await fuzzDone;
    clearInterval(ticker);
    const drive_s = (performance.now() - t0) / 1000;
    let engineRejections = 0;
    for (const file of stack.platformLogFiles()) {
      try {
        engineRejections += readFileSync(file, 'utf8').match(ENGINE_REJECTION_PATTERN)?.length ?? 0;
      } catch {
        // no log
      }
    }
    const overload = overloadOn
      ? overloadReport(records, {
          rate_per_s: overloadRate,
          seconds: opts.overloadSeconds,
          engine_rejections: engineRejections,
          drain_s,
          final_read_s: finalRead_s,
          finish_s: lastSent_s + drain_s,
          baseline,
        })
      : null;

    say('checking: final states, acknowledged effects, duplicates, ledger verifier, bad input');
    let apiInternalErrors = 0;
    try {
      apiInternalErrors = readFileSync(stack.apiLogFile(), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"msg":"internal error"')).length;
    } catch {
      // no log
    }
    const result = await checkRun(records, {
      pool: stack.checkerPool,
      ledger: createLedger(stack.checkerPool),
      simulator: stack.simulator!,
      fuzz: opts.fuzzPerS > 0 ? fuzzer.report : null,
      api_internal_errors: apiInternalErrors,
    });
    const reconciliation = await reconcileLedger(records, {
      pool: stack.checkerPool,
      ledger: createLedger(stack.checkerPool),
      fixtures,
      grants_minor: { company: COMPANY_LIMIT_MINOR, tiny_company: fixtures.tiny_limit_minor },
      bank_paid_minor: [...stack.simulator!.settled.values()].reduce((a, p) => a + p.amount_minor, 0),
    });
    const coverage = pathCoverage(records);
    const rss = memory.stop();
    const faults_played = injector.played;
    const faultProblems = unplayedFaults(faults_planned, injector.log);
    writeFaultLog(
      faultLogFile,
      faultLog({ seed, payments: plan.payments, rate_per_s: plan.rate_per_s, workers: plan.workers }, injector.log, bank),
    );
    const g = gatewayFaults();
    const byStatus: Record<string, number> = {};
    for (const r of records) byStatus[r.state?.status ?? 'UNKNOWN'] = (byStatus[r.state?.status ?? 'UNKNOWN'] ?? 0) + 1;
    const problems = [
      ...faultProblems,
      ...reconciliation.problems,
      ...coverage.problems,
      ...rss.problems,
      ...(overload?.problems ?? []),
      ...result.problems,
    ];
    const output = {
      seed,
      payments: plan.payments,
      /** Every payment the run sent: the plan's, the capacity probe's and the overload phase's. */
      payments_sent: records.length,
      final: result.final,
      not_final: result.not_final,
      lost: result.lost,
      duplicated_transfers: result.duplicated_transfers,
      invariant_violations: result.invariant_violations,
      reconciled: reconciliation.reconciled,
      faults: {
        worker_kills: faults_played.worker_kill,
        temporal_restarts: faults_played.temporal_kill,
        api_restarts: faults_played.api_kill,
        database_restarts: faults_played.database_crash,
        gateway_faults: g.total,
        connection_drops: faults_played.connection_drop,
        connections_dropped: injector.connections_dropped,
        gateway: g,
      },
      faults_planned,
      faults_played,
      coverage: coverage.paths,
      authorizations: { acknowledged: coverage.authorizations, stand_in: coverage.stand_ins },
      rss_mb_max: rss.rss_mb_max,
      engine_rejections: engineRejections,
      capacity_probe: probe,
      overload: overload?.report ?? null,
      by_status: byStatus,
      stand_in_declines: records.filter((r) => r.stand_in).length,
      stand_in_unrecorded: result.stand_in_unrecorded,
      payouts_rejected_by_bank: records.filter((r) => r.kind === 'payout_reject' && r.state?.status === 'COMPENSATED').length,
      client: { calls: stats.calls, retries: stats.retries, answers_retried_by_code: stats.byCode },
      fuzz: {
        api_calls: fuzzer.report.api_calls,
        api_by_code: fuzzer.report.api_by_code,
        ledger_calls: fuzzer.report.ledger_calls,
        ledger_by_outcome: fuzzer.report.ledger_by_outcome,
        violations: fuzzer.report.violations.length,
      },
      api_internal_errors: apiInternalErrors,
      unexpected_exits: stack.unexpectedExits.length,
      verifier: result.verifier,
      ledger_accounts: reconciliation.accounts,
      rate_per_s: plan.rate_per_s,
      workers: plan.workers,
      seconds: Math.round(drive_s),
      drain_s: Math.round(drain_s),
      finish_s: Math.round(lastSent_s + drain_s),
      final_read_s: Math.round(finalRead_s),
      machine: { cpus: os.cpus().length, node: process.version },
      replay_of: opts.replay ?? null,
      bank_draws: { drawn: bank.drawn.length, replayed: bank.replayed },
      fault_log_file: faultLogFile,
      problems: problems.slice(0, 30),
      fault_log: injector.log.map(
        (f) => `${(f.at_ms / 1000).toFixed(1)}s ${f.detail}${f.played ? '' : ' NOT PLAYED'}${f.error ? ` FAILED: ${f.error}` : ''}`,
      ),
    };
    const line = JSON.stringify(output);
    if (opts.out) writeFileSync(opts.out, `${JSON.stringify(output, null, 2)}\n`);
    for (const p of problems.slice(0, 30)) say(`problem: ${p}`);
    for (const x of stack.unexpectedExits.slice(0, 10)) say(`unexpected exit: ${x}`);
    say(`fault log: ${faultLogFile} (replay with --replay ${faultLogFile})`);
    console.log(line);
    clean =
      result.lost === 0 &&
      result.duplicated_transfers === 0 &&
      result.invariant_violations === 0 &&
      result.not_final === 0 &&
      reconciliation.reconciled &&
      faultProblems.length === 0 &&
      coverage.ok &&
      rss.ok &&
      (overload?.problems.length ?? 0) === 0;
    return clean ? 0 : 1;
  } finally {
    await stack.stop().catch((err: unknown) => say(`stopping: ${(err as Error).message}`));
    if (clean && !opts.keep) rmSync(scratch, { recursive: true, force: true });
    else say(`logs and data kept in ${scratch}`);
  }
}

// Whatever happens, the children (own process groups) are stopped before this process exits.
let stopOnCrash: (() => Promise<void>) | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping the stack`);
    void (stopOnCrash?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}
process.on('uncaughtException', (err) => {
  say(`uncaught: ${err.stack ?? String(err)}`);
  void (stopOnCrash?.() ?? Promise.resolve()).finally(() => process.exit(2));
});

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`error: ${(err as Error).stack ?? String(err)}`);
    process.exit(2);
  },
);
