// `npm run bench:ledger -- --out FILE`: ledger throughput against a fair baseline measured in the
// same run on the same Postgres, as pgbench's documentation asks for TPC-B: scale at least the
// number of clients (else it mostly measures contention on branch rows), a sweep of client counts
// with the best tps as the baseline, and rounds alternated with the ledger's so that the shared
// machine's noise falls on both.
//
// The ledger side is what payments do: each client runs payments one after another, a hold
// (pending transfer) on a company credit line, then a full post, a partial post (the rest is
// released) or a void; a share of credit lines are nearly spent, so their holds are refused
// (limits that bind). Every submit goes through the batcher, as payment activities do in a worker.
// Reported with it: WAL flushes (pg_stat_wal deltas) and CPU per transfer, for Node and Postgres.
import { execFileSync, spawn } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeMachine } from './measure.js';
import { integerIn } from '../cli/args.js';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { REPO_ROOT, loadConfig } from '../config.js';
import { AccountCode, AccountFlags, TransferCode, TransferFlags } from '../domain/ledger.js';
import { createTransferBatcher, type BatcherOptions, type TransferBatcher } from '../ledger/batcher.js';
import { createPool, type Pool } from '../ledger/db.js';
import { createLedger, type TransferInput } from '../ledger/ledger.js';
import { migrate } from '../ledger/migrate.js';
import { verifyLedger } from '../ledger/verify.js';
import { freePort } from '../stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../stack/postgres.js';

function listOption(min: number, max: number) {
  return (value: string) => {
    const list = value.split(',').map((v) => integerIn(min, max)(v.trim()));
    if (list.length === 0 || list.length > 10) throw new InvalidArgumentError('1 to 10 comma-separated integers');
    return list;
  };
}

const program = new Command('bench:ledger')
  .description(
    'Ledger transfers per second (realistic two-phase workload) vs the best pgbench TPC-B of a client sweep, same Postgres, rounds alternated.',
  )
  .requiredOption('--out <file>', 'write the JSON result here (also printed as the last line)')
  .option('--seconds <s>', 'length of each measurement (one pgbench client count, or one ledger round)', integerIn(5, 3600), 15)
  .option('--rounds <n>', 'rounds; each runs the pgbench sweep and the ledger, in alternating order', integerIn(1, 10), 2)
  .option('--clients <n>', "ledger: concurrent payment clients (default: one worker's activity slots)", integerIn(1, 150), 100)
  .option('--pgbench-clients <list>', 'pgbench: client counts of the sweep', listOption(1, 150), [8, 16, 32, 64, 100])
  .option('--scale <n>', 'pgbench scale factor (raised to the largest client count if below it)', integerIn(1, 1000), 100)
  .option('--accounts <n>', 'customer credit-line accounts', integerIn(10, 1_000_000), 10_000)
  .option('--tight-share <pct>', 'percent of credit lines nearly spent (their holds are refused)', integerIn(0, 100), 5)
  .option('--batch-size-max <n>', 'ledger batcher: transfers per batch at most', integerIn(1, 1000), 500)
  .option('--batches-in-flight-max <n>', 'ledger batcher: batches written at once', integerIn(1, 16), 1)
  .addHelpText('after', '\nStarts its own embedded Postgres unless DATABASE_URL is set. Needs `pgbench` (Debian: postgresql-client).');

interface Options {
  out: string;
  seconds: number;
  rounds: number;
  clients: number;
  pgbenchClients: number[];
  scale: number;
  accounts: number;
  tightShare: number;
  batchSizeMax: number;
  batchesInFlightMax: number;
}

const progress = (msg: string) => process.stderr.write(`[bench:ledger] ${msg}\n`);

function findPgbench(): string {
  const candidates = [
    ...(process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'pgbench')),
    ...(existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .sort()
          .reverse()
          .map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`)
      : []),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('pgbench not found: install it (Debian: apt-get install postgresql-client) or put it on PATH');
  return found;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function readSettings(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const names = [
      'server_version',
      'fsync',
      'synchronous_commit',
      'full_page_writes',
      'wal_sync_method',
      'shared_buffers',
      'max_connections',
      'random_page_cost',
    ];
    const settings: Record<string, string> = {};
    for (const name of names) settings[name] = (await client.query(`SHOW ${name}`)).rows[0][name];
    return settings;
  } finally {
    await client.end();
  }
}

/** What the server did during a measurement: WAL (pg_stat_wal, cluster-wide: nothing else runs
 * on the bench's own server) and the CPU of the server's processes (from /proc, when the server
 * is the embedded one this command started; null otherwise). */
interface ServerCounters {
  wal_records: number;
  wal_bytes: number;
  wal_syncs: number;
  postgres_cpu_s: number | null;
}

/** CPU seconds (user + system) of a process and its children, live and exited, from /proc. */
function processTreeCpuSeconds(rootPid: number): number | null {
  if (!existsSync(`/proc/${rootPid}/stat`)) return null;
  const ticks_per_s = 100; // USER_HZ on Linux
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    if (Number(entry) !== rootPid && ppid !== rootPid) continue;
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    // The postmaster's reaped children (backends that exited, e.g. pgbench's at its end).
    if (Number(entry) === rootPid) ticks += Number(fields[13]) + Number(fields[14]); // cutime, cstime
  }
  return ticks / ticks_per_s;
}

async function serverCounters(adminUrl: string, postgresPid: number | null): Promise<ServerCounters> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ wal_records: string; wal_bytes: string; wal_sync: string }>(
      'SELECT wal_records, wal_bytes, wal_sync FROM pg_stat_wal',
    );
    const wal = rows[0]!;
    return {
      wal_records: Number(wal.wal_records),
      wal_bytes: Number(wal.wal_bytes),
      wal_syncs: Number(wal.wal_sync),
      postgres_cpu_s: postgresPid === null ? null : processTreeCpuSeconds(postgresPid),
    };
  } finally {
    await client.end();
  }
}

interface Measured {
  elapsed_s: number;
  wal_syncs: number;
  wal_bytes: number;
  postgres_cpu_s: number | null;
}

/** Runs fn and returns what the server did meanwhile. */
async function measured<T>(adminUrl: string, postgresPid: number | null, fn: () => Promise<T>): Promise<{ value: T } & Measured> {
  const before = await serverCounters(adminUrl, postgresPid);
  const started = performance.now();
  const value = await fn();
  const elapsed_s = (performance.now() - started) / 1000;
  const after = await serverCounters(adminUrl, postgresPid);
  return {
    value,
    elapsed_s,
    wal_syncs: after.wal_syncs - before.wal_syncs,
    wal_bytes: after.wal_bytes - before.wal_bytes,
    postgres_cpu_s: before.postgres_cpu_s === null || after.postgres_cpu_s === null ? null : after.postgres_cpu_s - before.postgres_cpu_s,
  };
}

function pgbenchConnection(url: string) {
  const u = new URL(url);
  return {
    env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) },
    args: ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username), u.pathname.slice(1)],
  };
}

async function runPgbench(pgbench: string, url: string, clients: number, seconds: number): Promise<number> {
  const conn = pgbenchConnection(url);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(pgbench, ['-c', String(clients), '-j', '2', '-T', String(seconds), ...conn.args], { env: conn.env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', () => undefined);
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}: ${out.slice(-500)}`))));
  });
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
  if (!match) throw new Error(`could not read tps from pgbench output:\n${output}`);
  return Number(match[1]);
}

/** The realistic workload's accounts: credit lines (a share nearly spent) and the hot network
 * payable account every hold credits. */
async function setUpLedger(pool: Pool, options: Options) {
  const ledger = createLedger(pool);
  progress(`ledger: creating ${options.accounts} credit lines (${options.tightShare}% nearly spent) and the hot network payable`);
  const issuer = randomUUID();
  const payable = randomUUID();
  await ledger.createAccounts([
    { id: issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
    { id: payable, currency: 'USD', code: AccountCode.network_payable },
  ]);
  const lines = Array.from({ length: options.accounts }, () => randomUUID());
  const tight = Math.floor((options.accounts * options.tightShare) / 100);
  const CHUNK = 1000;
  for (let i = 0; i < lines.length; i += CHUNK) {
    const chunk = lines.slice(i, i + CHUNK);
    await ledger.createAccounts(
      chunk.map((id) => ({
        id,
        currency: 'USD' as const,
        code: AccountCode.company_credit_line,
        flags: AccountFlags.debits_must_not_exceed_credits,
      })),
    );
    await ledger.createTransfers(
      chunk.map((id, k) => ({
        id: randomUUID(),
        debit_account_id: issuer,
        credit_account_id: id,
        // A nearly spent line grants less than the smallest hold: every hold on it is refused.
        amount_minor: i + k < tight ? 50 : 1_000_000_000_000,
        currency: 'USD' as const,
        code: TransferCode.credit_line_grant,
      })),
    );
  }
  return { ledger, lines, payable };
}

interface LedgerRound {
  payments: number;
  transfers: number;
  latencies: number[];
  results: Map<string, number>;
  node_cpu_s: number;
  batches: number;
  batch_transfers: number;
}

/** One ledger round: `clients` callers each running payments (hold, then post, partial post or
 * void) for `seconds`. */
async function runLedgerRound(batcher: TransferBatcher, lines: string[], payable: string, options: Options): Promise<LedgerRound> {
  const latencies: number[] = [];
  const results = new Map<string, number>();
  const statsBefore = batcher.stats();
  const cpuBefore = process.cpuUsage();
  let payments = 0;
  let stop = false;
  const submit = async (transfer: TransferInput) => {
    const t0 = performance.now();
    const [outcome] = await batcher.submit([transfer]);
    latencies.push(performance.now() - t0);
    results.set(outcome!.result, (results.get(outcome!.result) ?? 0) + 1);
    return outcome!.result;
  };
  const payment = async () => {
    const amount = 100 + randomInt(50_000);
    const hold = randomUUID();
    const held = await submit({
      id: hold,
      debit_account_id: lines[randomInt(lines.length)]!,
      credit_account_id: payable,
      amount_minor: amount,
      currency: 'USD',
      code: TransferCode.card_hold,
      flags: TransferFlags.pending,
    });
    payments += 1;
    if (held !== 'created') return;
    const roll = randomInt(100);
    if (roll < 20) {
      await submit({ id: randomUUID(), pending_id: hold, code: TransferCode.card_hold_release, flags: TransferFlags.void_pending });
    } else {
      // 30% of clearings post less than was held (tips, partial shipments): the rest is released.
      const posted = roll < 44 ? Math.max(1, Math.floor(amount * 0.8)) : amount;
      await submit({
        id: randomUUID(),
        pending_id: hold,
        amount_minor: posted,
        code: TransferCode.card_clearing,
        flags: TransferFlags.post_pending,
      });
    }
  };
  const client = async () => {
    while (!stop) await payment();
  };
  const clients = Array.from({ length: options.clients }, client);
  await new Promise((r) => setTimeout(r, options.seconds * 1000));
  stop = true;
  await Promise.all(clients);
  const cpu = process.cpuUsage(cpuBefore);
  const statsAfter = batcher.stats();
  return {
    payments,
    transfers: latencies.length,
    latencies,
    results,
    node_cpu_s: (cpu.user + cpu.system) / 1e6,
    batches: statsAfter.batches - statsBefore.batches,
    batch_transfers: statsAfter.transfers - statsBefore.transfers,
  };
}

interface PgbenchPoint {
  round: number;
  clients: number;
  tps: number;
  wal_flushes_per_s: number;
  transactions_per_flush: number;
  postgres_cpu_ms_per_tx: number | null;
}

async function main(): Promise<void> {
  program.parse();
  const options = program.opts<Options>();
  const scale = Math.max(options.scale, ...options.pgbenchClients);
  const config = loadConfig();
  const pgbench = findPgbench();
  let postgres: RunningPostgres | null = null;
  let scratch: string | null = null;
  try {
    let adminUrl = config.DATABASE_URL;
    if (!adminUrl) {
      mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
      scratch = mkdtempSync(path.join(REPO_ROOT, '.tmp', 'bench-'));
      progress(`starting an embedded Postgres with its durable defaults in ${scratch}`);
      postgres = await startEmbeddedPostgres({ dir: scratch, port: await freePort(), log: progress });
      adminUrl = postgres.url;
    }
    const postgresPid = postgres?.process.child.pid ?? null;
    const settings = await readSettings(adminUrl);
    progress(
      `Postgres ${settings.server_version}: fsync=${settings.fsync} synchronous_commit=${settings.synchronous_commit} full_page_writes=${settings.full_page_writes}`,
    );

    const pgbenchUrl = await createDatabase(adminUrl, 'bench_pgbench');
    progress(`pgbench: initialising at scale ${scale} (at least the largest client count, as pgbench's documentation asks)`);
    const conn = pgbenchConnection(pgbenchUrl);
    execFileSync(pgbench, ['-i', '-q', '-s', String(scale), ...conn.args], { env: conn.env, stdio: ['ignore', 'ignore', 'pipe'] });

    const ledgerUrl = await createDatabase(adminUrl, 'bench_ledger');
    await migrate(ledgerUrl);
    const pool = createPool(ledgerUrl, {
      connections_max: Math.max(4, options.batchesInFlightMax + 2),
      application_name: 'bench-ledger',
      // The verifier reads every transfer at the end: give its statements room.
      timeouts: { lock_timeout_ms: 2_000, statement_timeout_ms: 600_000, idle_in_transaction_session_timeout_ms: 60_000 },
    });
    const pgbenchPoints: PgbenchPoint[] = [];
    const ledgerRounds: Array<LedgerRound & Measured> = [];
    try {
      const { lines, payable, ledger } = await setUpLedger(pool, options);
      const batcherOptions: BatcherOptions = {
        batch_size_max: options.batchSizeMax,
        batch_wait_ms_max: 0,
        queue_length_max: Math.max(options.batchSizeMax, options.clients * 2),
        batches_in_flight_max: options.batchesInFlightMax,
      };
      const batcher = createTransferBatcher(ledger, batcherOptions);
      const sweep = async (round: number) => {
        for (const clients of options.pgbenchClients) {
          const m = await measured(adminUrl, postgresPid, () => runPgbench(pgbench, pgbenchUrl, clients, options.seconds));
          const point: PgbenchPoint = {
            round,
            clients,
            tps: Math.round(m.value),
            wal_flushes_per_s: Math.round(m.wal_syncs / m.elapsed_s),
            transactions_per_flush: Number(((m.value * m.elapsed_s) / Math.max(1, m.wal_syncs)).toFixed(2)),
            postgres_cpu_ms_per_tx:
              m.postgres_cpu_s === null ? null : Number(((m.postgres_cpu_s * 1000) / (m.value * m.elapsed_s)).toFixed(3)),
          };
          pgbenchPoints.push(point);
          progress(`round ${round} pgbench ${clients} clients: ${point.tps} tps, ${point.wal_flushes_per_s} WAL flushes/s`);
        }
      };
      const ledgerRound = async (round: number) => {
        const m = await measured(adminUrl, postgresPid, () => runLedgerRound(batcher, lines, payable, options));
        ledgerRounds.push({
          ...m.value,
          elapsed_s: m.elapsed_s,
          wal_syncs: m.wal_syncs,
          wal_bytes: m.wal_bytes,
          postgres_cpu_s: m.postgres_cpu_s,
        });
        progress(
          `round ${round} ledger: ${Math.round(m.value.transfers / m.elapsed_s)} transfers/s, ${Math.round(m.wal_syncs / m.elapsed_s)} WAL flushes/s`,
        );
      };
      for (let round = 1; round <= options.rounds; round += 1) {
        // Alternate which side goes first, so a slow spell of the shared machine hits both.
        if (round % 2 === 1) {
          await sweep(round);
          await ledgerRound(round);
        } else {
          await ledgerRound(round);
          await sweep(round);
        }
      }
      await batcher.close();
      progress('ledger: verifying invariants');
      const report = await verifyLedger(pool);

      const best = pgbenchPoints.reduce((a, b) => (b.tps > a.tps ? b : a));
      const transfers = ledgerRounds.reduce((s, r) => s + r.transfers, 0);
      const elapsed_s = ledgerRounds.reduce((s, r) => s + r.elapsed_s, 0);
      const wal_syncs = ledgerRounds.reduce((s, r) => s + r.wal_syncs, 0);
      const node_cpu_s = ledgerRounds.reduce((s, r) => s + r.node_cpu_s, 0);
      const pg_cpu = ledgerRounds.every((r) => r.postgres_cpu_s !== null) ? ledgerRounds.reduce((s, r) => s + r.postgres_cpu_s!, 0) : null;
      const latencies = ledgerRounds.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const results: Record<string, number> = {};
      for (const r of ledgerRounds) for (const [k, v] of r.results) results[k] = (results[k] ?? 0) + v;
      const batches = ledgerRounds.reduce((s, r) => s + r.batches, 0);
      const transfers_per_s = transfers / elapsed_s;
      const result = {
        transfers_per_s: Math.round(transfers_per_s),
        pgbench_tps: best.tps,
        ratio: Number((transfers_per_s / best.tps).toFixed(2)),
        latency_ms_p50: Number(percentile(latencies, 50).toFixed(2)),
        latency_ms_p99: Number(percentile(latencies, 99).toFixed(2)),
        latency_ms_max: Number((latencies.at(-1) ?? Number.NaN).toFixed(2)),
        clients: options.clients,
        batch_size_mean: Number((transfers / Math.max(1, batches)).toFixed(1)),
        batch_size_max: options.batchSizeMax,
        batches_in_flight_max: options.batchesInFlightMax,
        seconds: options.seconds,
        rounds: options.rounds,
        accounts: options.accounts,
        pgbench_scale: scale,
        pgbench_best_clients: best.clients,
        pgbench_sweep: pgbenchPoints,
        workload: {
          kind: 'payments: a hold (pending) on a credit line crediting the hot network payable, then a post (24% of holds partial, the rest released), a full post, or a void (20%)',
          tight_lines_pct: options.tightShare,
          payments: ledgerRounds.reduce((s, r) => s + r.payments, 0),
        },
        ledger_rounds: ledgerRounds.map((r) => ({
          transfers_per_s: Math.round(r.transfers / r.elapsed_s),
          wal_flushes_per_s: Math.round(r.wal_syncs / r.elapsed_s),
        })),
        wal_flushes_per_s: Math.round(wal_syncs / elapsed_s),
        transfers_per_flush: Number((transfers / Math.max(1, wal_syncs)).toFixed(1)),
        wal_bytes_per_transfer: Math.round(ledgerRounds.reduce((s, r) => s + r.wal_bytes, 0) / transfers),
        node_cpu_us_per_transfer: Number(((node_cpu_s * 1e6) / transfers).toFixed(1)),
        postgres_cpu_us_per_transfer: pg_cpu === null ? null : Number(((pg_cpu * 1e6) / transfers).toFixed(1)),
        transfers,
        results,
        invariants_ok: report.ok,
        settings,
        machine: {
          ...describeMachine(),
          loadavg_1m_at_end: Number(os.loadavg()[0]!.toFixed(2)),
        },
      };
      writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
      console.log(JSON.stringify(result));
      if (!report.ok) {
        progress(`invariants violated: ${JSON.stringify(report.violations.slice(0, 5))}`);
        process.exitCode = 1;
      }
    } finally {
      await pool.end();
    }
  } finally {
    await postgres?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:ledger: ${(err as Error).message}`);
  process.exit(1);
});
