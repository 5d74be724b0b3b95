// `keys ...`: API keys, an operator's command. It talks to the database directly (DATABASE_URL,
// --database-url, or the running stack's database), not to the API. A key's secret is printed
// once, at creation; only its hash is stored.
import { Command } from 'commander';
import type { ApiKeyStore } from '../api/keys.js';
import { list } from './args.js';
import { dataDir, outputOf, stackFile } from './context.js';
import { CliError, EXIT, usageError } from './errors.js';
import { record, table } from './output.js';
import { stackFilePath } from '../stack/stack-file.js';

function databaseUrl(cmd: Command): string {
  const flag = cmd.optsWithGlobals<{ databaseUrl?: string }>().databaseUrl;
  const url = flag ?? process.env.DATABASE_URL ?? stackFile()?.database;
  if (!url) {
    throw usageError(
      `no database: pass --database-url or set DATABASE_URL, or start the platform with \`npm start\` (it writes ${stackFilePath(dataDir())})`,
    );
  }
  return url;
}

async function withKeys<T>(cmd: Command, fn: (keys: ApiKeyStore) => Promise<T>): Promise<T> {
  // Loaded here: the API commands never need Postgres.
  const [{ ApiKeyInputError, createApiKeyStore }, { createPool }] = await Promise.all([
    import('../api/keys.js'),
    import('../ledger/db.js'),
  ]);
  const pool = createPool(databaseUrl(cmd), { connections_max: 1, application_name: 'cli-keys' });
  try {
    return await fn(createApiKeyStore(pool));
  } catch (err) {
    if (err instanceof ApiKeyInputError) throw usageError(err.message);
    throw err;
  } finally {
    await pool.end();
  }
}

/** `cpk_<key id>_<secret>` or the key id alone. */
function keyIdOf(value: string): string {
  const match = /^cpk_([a-z0-9]{12})_/.exec(value);
  if (match) return match[1]!;
  if (!/^[a-z0-9]{12}$/.test(value))
    throw usageError(`key: must be a key id (12 lower-case letters and digits) or a key cpk_..., got "${value}"`);
  return value;
}

export function keysCommand(): Command {
  const keys = new Command('keys')
    .description("API keys (operator's command: talks to the database, not to the API)")
    .option('--database-url <url>', "the platform's Postgres (default: DATABASE_URL, else the running stack's)");

  keys
    .command('create')
    .description('create a key scoped to one or more companies; the key is printed once and only its hash is kept')
    .requiredOption('--name <name>', 'what the key is for, e.g. "erp-sync"')
    .requiredOption('--company <company-id>', 'a company the key may act for (repeat, or comma-separate)', list)
    .action(async (o: { name: string; company: string[] }, cmd: Command) => {
      const out = outputOf(cmd);
      const created = await withKeys(cmd, (store) => store.create({ name: o.name, company_ids: o.company }));
      out.value({ key_id: created.key_id, api_key: created.api_key, name: o.name, company_ids: o.company }, () =>
        [
          record({ key_id: created.key_id, name: o.name, companies: o.company.join(', ') }),
          '',
          `api key (shown once, store it now):`,
          created.api_key,
        ].join('\n'),
      );
    });

  keys
    .command('revoke')
    .description('revoke a key (by key id or the key itself), or every key of a name')
    .argument('[key]', 'the key id, or the whole key cpk_...')
    .option('--name <name>', 'revoke every unrevoked key of this name instead')
    .action(async (key: string | undefined, o: { name?: string }, cmd: Command) => {
      if ((key === undefined) === (o.name === undefined)) throw usageError('keys revoke: give a key id or --name, not both');
      const out = outputOf(cmd);
      if (key !== undefined) {
        const key_id = keyIdOf(key);
        const revoked = await withKeys(cmd, (store) => store.revoke(key_id));
        if (!revoked) throw new CliError(`no unrevoked key ${key_id}`, EXIT.refused);
        out.value({ key_id, revoked: 1 }, () => `revoked key ${key_id}`);
      } else {
        const count = await withKeys(cmd, (store) => store.revokeNamed(o.name!));
        out.value({ name: o.name, revoked: count }, () => `revoked ${count} key(s) named ${o.name}`);
      }
    });

  keys
    .command('list')
    .description('every key: id, name, companies, created, revoked (never the secret)')
    .action(async (_o: object, cmd: Command) => {
      const out = outputOf(cmd);
      const rows = await withKeys(cmd, (store) => store.list());
      const plain = rows.map((r) => ({
        key_id: r.key_id,
        name: r.name,
        company_ids: r.company_ids,
        created_at: r.created_at.toISOString(),
        revoked_at: r.revoked_at?.toISOString() ?? null,
      }));
      out.value({ keys: plain }, () =>
        table(
          plain.map((r) => ({ ...r, company_ids: r.company_ids.join(',') })),
          ['key_id', 'name', 'company_ids', 'created_at', 'revoked_at'],
        ),
      );
    });

  return keys;
}
