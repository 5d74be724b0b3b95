import path from 'node:path';
import { runner } from 'node-pg-migrate';
import { REPO_ROOT } from '../config.js';

export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'src', 'ledger', 'migrations');

/** Applies every pending migration; safe to run from several processes at once (advisory lock). */
export async function migrate(databaseUrl: string, log: (msg: string) => void = () => undefined): Promise<string[]> {
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
