import { readdirSync } from 'node:fs';
import path from 'node:path';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { REPO_ROOT } from '../config.js';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'src', 'ledger', 'migrations');

/** The migrations this code expects, by name (file name without .sql). */
function migrationNames(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.sql'))
    .map((f) => f.slice(0, -'.sql'.length))
    .sort();
}

/** True when every migration is already applied. Readable by the app role, which may not create
 * the migrations table (it owns nothing): a process connected as it can start on a database the
 * owner has migrated. */
async function upToDate(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>('SELECT name FROM public.schema_migrations');
    const applied = new Set(rows.map((r) => r.name));
    return migrationNames().every((name) => applied.has(name));
  } catch {
    return false;
  } finally {
    await client.end();
  }
}

/** Applies every pending migration; safe to run from several processes at once (advisory lock).
 * Run it as the owner role (README "Least privilege"). */
export async function migrate(databaseUrl: string, log: (msg: string) => void = () => undefined): Promise<string[]> {
  if (await upToDate(databaseUrl)) return [];
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'schema_migrations',
    migrationsSchema: 'public',
    count: Infinity,
    checkOrder: true,
    log,
  });
  return applied.map((m) => m.name);
}
