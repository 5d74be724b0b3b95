// `npm run chaos -- --payments N --out FILE [--seed S]`: drives N mixed payments through the gRPC
// API at a steady rate while killing workers (kill -9), restarting the Temporal dev server (same
// SQLite file), the API and Postgres, dropping database connections, and letting the bank
// simulator time out, fail, repeat and delay its callbacks and reject payouts for good; fuzzes the
// API and the ledger with bad input meanwhile; then waits for every payment to finish and checks
// that nothing was lost or booked twice and every invariant holds. The seed (printed; --seed to
// reuse it) fixes the payment mix, the fault schedule, the bank's fault draws and the fuzz inputs.
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
import { FaultInjector } from './faults.js';
import { Fuzzer } from './fuzz.js';
import { SEED_MAX, createPrng, randomSeed } from './prng.js';
import { planChaos } from './schedule.js';
import { ChaosStack } from './stack.js';

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
  .option('--keep', 'keep the scratch folder (logs, databases) even after a clean run');

interface Options {
  payments: number;
  out?: string;
  seed?: number;
  rate: number;
  workers: number;
  fuzzPerS: number;
  finalTimeoutS: number;
  keep?: boolean;
}

const say = (msg: string) => process.stderr.write(`[chaos] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts<Options>();
  const seed = opts.seed ?? randomSeed();
  say(`seed ${seed} (reproduce with --seed ${seed})`);
  const plan = planChaos({ seed, payments: opts.payments, rate_per_s: opts.rate, workers: opts.workers });
  const scheduled = plan.faults.reduce<Record<string, number>>((a, f) => ({ ...a, [f.kind]: (a[f.kind] ?? 0) + 1 }), {});
  say(
    `plan: ${plan.payments} payments at ${plan.rate_per_s}/s over ${(plan.window_ms / 1000).toFixed(0)} s; faults ${JSON.stringify(scheduled)}; bank ${JSON.stringify(plan.gateway)}`,
  );

  mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
  const scratch = path.join(REPO_ROOT, '.tmp', `chaos-${seed}-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const root = createPrng(seed);
  const stack = new ChaosStack({ scratch, workers: opts.workers, gateway: plan.gateway, random: root.fork('bank').next, log: say });
  let clean = false;
  stopOnCrash = () => stack.stop();
  const started = performance.now();
  try {
    await stack.start();
    say(`stack up in ${((performance.now() - started) / 1000).toFixed(1)} s (${scratch})`);

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
      [fixtures.company, 1_000_000_000_000, fixtures.card],
      [fixtures.tiny_company, fixtures.tiny_limit_minor, fixtures.tiny_card],
    ] as const) {
      await withRetries(stats, setupDeadline, () =>
        clients.ledger.createCreditLine({ companyId: company, currency: CURRENCY, limitMinor: BigInt(limit), grantKey: 'chaos' }),
      );
      await withRetries(stats, setupDeadline, () => clients.cards.issueCard({ cardId: card, companyId: company, currency: CURRENCY }));
    }

    // Load, faults and fuzzing, all from t0.
    let giveUpAt = Number.POSITIVE_INFINITY;
    const t0 = performance.now();
    const driver = new Driver(clients, fixtures, seed, stats, () => giveUpAt, t0);
    const records: PaymentRecord[] = plan.kinds.map((kind, i) => driver.newRecord(i, kind));
    const injector = new FaultInjector(stack, say);
    const fuzzClients = createChaosClients(stack.apiUrl, () => key, 5_000);
    const fuzzer = new Fuzzer(fuzzClients, createLedger(stack.checkerPool), root.fork('fuzz').seed32(), fixtures.card, fixtures.company);
    const faultsDone = injector.run(plan.faults, t0);
    const fuzzDone = (opts.fuzzPerS > 0 ? fuzzer.run(opts.fuzzPerS) : Promise.resolve()).catch((err: unknown) => {
      fuzzer.report.violations.push(`the fuzzer itself failed: ${(err as Error).stack ?? String(err)}`);
    });
    let sent = 0;
    let pathsDone = 0;
    const gatewayFaults = () => {
      const sim = stack.simulator!;
      const rejected = records.filter((r) => r.kind === 'payout_reject' && r.acked.length > 0).length;
      const dup = sim.callbacks.filter((c) => c.kind === 'duplicate').length;
      const late = sim.callbacks.filter((c) => c.kind === 'late').length;
      return {
        total: sim.transient_failures + sim.replies_lost + sim.held + dup + late + rejected,
        transient_errors: sim.transient_failures,
        replies_lost: sim.replies_lost,
        timeouts: sim.held,
        duplicate_callbacks: dup,
        late_callbacks: late,
        permanent_rejections: rejected,
      };
    };
    const ticker = setInterval(() => {
      const c = injector.counts;
      say(
        `${((performance.now() - t0) / 1000).toFixed(0)} s: sent ${sent}/${plan.payments}, paths done ${pathsDone}, ` +
          `faults: worker kills ${c.worker_kills}, Temporal ${c.temporal_restarts}, API ${c.api_restarts}, Postgres ${c.database_restarts}, ` +
          `connection drops ${c.connection_drops}, gateway ${gatewayFaults().total}; retries ${stats.retries}; fuzz ${fuzzer.report.api_calls} API + ${fuzzer.report.ledger_calls} ledger`,
      );
    }, 5_000);
    const paths: Promise<void>[] = [];
    for (let i = 0; i < records.length; i++) {
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
    await faultsDone;
    say('every fault played; waiting for the payments to finish');
    giveUpAt = Date.now() + opts.finalTimeoutS * 1000;
    await Promise.all(paths);
    // Late callbacks come this long after their payout was accepted: let them arrive before checking.
    await sleep(plan.gateway.late_callback_delay_ms + 2_000);
    const finalDeadline = Date.now() + opts.finalTimeoutS * 1000;
    for (let i = 0; i < records.length; i += 32) {
      // A payment whose path broke off gets no further message: a short wait shows where it stands.
      await Promise.all(
        records.slice(i, i + 32).map((r) => driver.waitForFinal(r, r.error ? Math.min(finalDeadline, Date.now() + 10_000) : finalDeadline)),
      );
    }
    fuzzer.stop();
    await fuzzDone;
    clearInterval(ticker);
    const drive_s = (performance.now() - t0) / 1000;

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
    const g = gatewayFaults();
    const byStatus: Record<string, number> = {};
    for (const r of records) byStatus[r.state?.status ?? 'UNKNOWN'] = (byStatus[r.state?.status ?? 'UNKNOWN'] ?? 0) + 1;
    const output = {
      seed,
      payments: plan.payments,
      final: result.final,
      not_final: result.not_final,
      lost: result.lost,
      duplicated_transfers: result.duplicated_transfers,
      invariant_violations: result.invariant_violations,
      faults: {
        worker_kills: injector.counts.worker_kills,
        temporal_restarts: injector.counts.temporal_restarts,
        api_restarts: injector.counts.api_restarts,
        database_restarts: injector.counts.database_restarts,
        gateway_faults: g.total,
        connection_drops: injector.counts.connection_drops,
        connections_dropped: injector.counts.connections_dropped,
        gateway: g,
      },
      by_status: byStatus,
      stand_in_declines: records.filter((r) => r.stand_in).length,
      stand_in_unrecorded: result.stand_in_unrecorded,
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
      rate_per_s: plan.rate_per_s,
      workers: plan.workers,
      seconds: Math.round(drive_s),
      machine: { cpus: os.cpus().length, node: process.version },
      problems: result.problems.slice(0, 30),
      fault_log: injector.log.map((f) => `${(f.at_ms / 1000).toFixed(1)}s ${f.detail}${f.error ? ` FAILED: ${f.error}` : ''}`),
    };
    const line = JSON.stringify(output);
    if (opts.out) writeFileSync(opts.out, `${JSON.stringify(output, null, 2)}\n`);
    for (const p of result.problems.slice(0, 30)) say(`problem: ${p}`);
    for (const x of stack.unexpectedExits.slice(0, 10)) say(`unexpected exit: ${x}`);
    console.log(line);
    clean = result.lost === 0 && result.duplicated_transfers === 0 && result.invariant_violations === 0 && result.not_final === 0;
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
