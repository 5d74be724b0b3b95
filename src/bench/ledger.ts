// `npm run bench:ledger -- --out FILE`: ledger throughput against a baseline measured in the same
// run on the same Postgres: pgbench's built-in TPC-B script (a balance UPDATE plus a history
// INSERT per transaction, the shape of a naive posting) at the same client concurrency.
//
// The ledger side: `clients` concurrent callers, each submitting one transfer at a time through the
// batcher (as payment activities do in a worker); every transfer debits one of many customer
// credit-line accounts (exact limit check) and credits one shared hot platform account.
import { execFileSync, spawn } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { REPO_ROOT, loadConfig } from '../config.js';
import { AccountCode, AccountFlags } from '../domain/ledger.js';
import { createTransferBatcher, type BatcherOptions } from '../ledger/batcher.js';
import { createPool } from '../ledger/db.js';
import { createLedger, type TransferInput } from '../ledger/ledger.js';
import { migrate } from '../ledger/migrate.js';
import { verifyLedger } from '../ledger/verify.js';
import { freePort } from '../stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../stack/postgres.js';

function intOption(min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

const program = new Command('bench:ledger')
  .description('Ledger transfers per second vs pgbench TPC-B on the same Postgres, same client concurrency.')
  .requiredOption('--out <file>', 'write the JSON result here (also printed as the last line)')
  .option('--seconds <s>', 'length of each measurement', intOption(5, 3600), 20)
  .option(
    '--clients <n>',
    "concurrent clients, for pgbench and for the ledger (default: one worker's activity slots)",
    intOption(1, 150),
    100,
  )
  .option('--accounts <n>', 'customer credit-line accounts', intOption(10, 1_000_000), 10_000)
  .option('--scale <n>', 'pgbench scale factor', intOption(1, 1000), 10)
  .option('--batch-size-max <n>', 'ledger batcher: transfers per batch at most', intOption(1, 1000), 500)
  .option('--batches-in-flight-max <n>', 'ledger batcher: batches written at once', intOption(1, 16), 1)
  .addHelpText('after', '\nStarts its own embedded Postgres unless DATABASE_URL is set. Needs `pgbench` (Debian: postgresql-client).');

interface Options {
  out: string;
  seconds: number;
  clients: number;
  accounts: number;
  scale: number;
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

async function runPgbench(pgbench: string, url: string, options: Options): Promise<number> {
  const u = new URL(url);
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(u.password) };
  const conn = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username), u.pathname.slice(1)];
  progress(`pgbench: initialising at scale ${options.scale}`);
  execFileSync(pgbench, ['-i', '-q', '-s', String(options.scale), ...conn], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  progress(`pgbench: TPC-B (built-in tpcb-like), ${options.clients} clients, ${options.seconds} s`);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(pgbench, ['-c', String(options.clients), '-j', '2', '-T', String(options.seconds), '-P', '5', ...conn], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.startsWith('progress:')) progress(`pgbench ${line}`);
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}: ${out.slice(-500)}`))));
  });
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
  if (!match) throw new Error(`could not read tps from pgbench output:\n${output}`);
  return Number(match[1]);
}

async function runLedger(url: string, options: Options) {
  await migrate(url);
  const pool = createPool(url, { connections_max: Math.max(4, options.batchesInFlightMax + 2), application_name: 'bench-ledger' });
  const ledger = createLedger(pool);
  try {
    progress(`ledger: creating ${options.accounts} customer credit lines and the hot settlement account`);
    const issuer = randomUUID();
    const hot = randomUUID();
    await ledger.createAccounts([
      { id: issuer, currency: 'USD', code: AccountCode.credit_line_issuance },
      { id: hot, currency: 'USD', code: AccountCode.settlement_bank },
    ]);
    const customers = Array.from({ length: options.accounts }, () => randomUUID());
    const CHUNK = 1000;
    for (let i = 0; i < customers.length; i += CHUNK) {
      const chunk = customers.slice(i, i + CHUNK);
      await ledger.createAccounts(
        chunk.map((id) => ({
          id,
          currency: 'USD' as const,
          code: AccountCode.company_credit_line,
          flags: AccountFlags.debits_must_not_exceed_credits,
        })),
      );
      await ledger.createTransfers(
        chunk.map((id) => ({
          id: randomUUID(),
          debit_account_id: issuer,
          credit_account_id: id,
          amount_minor: 1_000_000_000_000,
          currency: 'USD' as const,
          code: 1,
        })),
      );
    }

    const batcherOptions: BatcherOptions = {
      batch_size_max: options.batchSizeMax,
      batch_wait_ms_max: 0,
      queue_length_max: Math.max(options.batchSizeMax, options.clients * 2),
      batches_in_flight_max: options.batchesInFlightMax,
    };
    const batcher = createTransferBatcher(ledger, batcherOptions);
    const latencies: number[] = [];
    const results = new Map<string, number>();
    let stop = false;
    const started = performance.now();
    const ticker = setInterval(() => {
      const s = (performance.now() - started) / 1000;
      progress(
        `ledger: ${s.toFixed(0)} s, ${latencies.length} transfers, ${(latencies.length / s).toFixed(0)}/s, ${batcher.stats().batches} batches`,
      );
    }, 5_000);
    const client = async () => {
      while (!stop) {
        const transfer: TransferInput = {
          id: randomUUID(),
          debit_account_id: customers[randomInt(customers.length)]!,
          credit_account_id: hot,
          amount_minor: 1 + randomInt(10_000),
          currency: 'USD',
          code: 2,
        };
        const t0 = performance.now();
        const [outcome] = await batcher.submit([transfer]);
        latencies.push(performance.now() - t0);
        results.set(outcome!.result, (results.get(outcome!.result) ?? 0) + 1);
      }
    };
    progress(`ledger: ${options.clients} clients, ${options.seconds} s, batches of at most ${options.batchSizeMax}`);
    const clients = Array.from({ length: options.clients }, client);
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    stop = true;
    await Promise.all(clients);
    const elapsed_s = (performance.now() - started) / 1000;
    clearInterval(ticker);
    await batcher.close();
    const stats = batcher.stats();

    progress('ledger: verifying invariants');
    const report = await verifyLedger(pool);
    latencies.sort((a, b) => a - b);
    return {
      transfers_per_s: latencies.length / elapsed_s,
      latency_ms_p50: percentile(latencies, 50),
      latency_ms_p99: percentile(latencies, 99),
      latency_ms_max: latencies.at(-1) ?? Number.NaN,
      batch_size_mean: stats.transfers / stats.batches,
      batches: stats.batches,
      transfers: latencies.length,
      results: Object.fromEntries(results),
      invariants_ok: report.ok,
    };
  } finally {
    await pool.end();
  }
}

async function main(): Promise<void> {
  program.parse();
  const options = program.opts<Options>();
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
    const settings = await readSettings(adminUrl);
    progress(
      `Postgres ${settings.server_version}: fsync=${settings.fsync} synchronous_commit=${settings.synchronous_commit} full_page_writes=${settings.full_page_writes}`,
    );
    const pgbench_tps = await runPgbench(pgbench, await createDatabase(adminUrl, 'bench_pgbench'), options);
    progress(`pgbench: ${pgbench_tps.toFixed(0)} tps`);
    const ledger = await runLedger(await createDatabase(adminUrl, 'bench_ledger'), options);
    const result = {
      transfers_per_s: Math.round(ledger.transfers_per_s),
      pgbench_tps: Math.round(pgbench_tps),
      ratio: Number((ledger.transfers_per_s / pgbench_tps).toFixed(2)),
      latency_ms_p50: Number(ledger.latency_ms_p50.toFixed(2)),
      latency_ms_p99: Number(ledger.latency_ms_p99.toFixed(2)),
      latency_ms_max: Number(ledger.latency_ms_max.toFixed(2)),
      clients: options.clients,
      batch_size_mean: Number(ledger.batch_size_mean.toFixed(1)),
      batch_size_max: options.batchSizeMax,
      batches_in_flight_max: options.batchesInFlightMax,
      seconds: options.seconds,
      accounts: options.accounts,
      pgbench_scale: options.scale,
      transfers: ledger.transfers,
      results: ledger.results,
      invariants_ok: ledger.invariants_ok,
      settings,
      machine: {
        cpus: os.cpus().length,
        cpu_model: os.cpus()[0]?.model ?? 'unknown',
        memory_gib: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
      },
    };
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
    if (!ledger.invariants_ok) process.exitCode = 1;
  } finally {
    await postgres?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:ledger: ${(err as Error).message}`);
  process.exit(1);
});
