// The real Temporal server's two databases on the platform's Postgres: created and brought to the
// schema version the server expects with its own tool (temporal-sql-tool), every step idempotent;
// and the history shard count the cluster was created with, which can never change.
import { execFile } from 'node:child_process';
import pg from 'pg';
import protobuf from 'protobufjs';
import { CLUSTER_NAME, type TemporalDatabase } from './temporal-server-config.js';

/** One schema tool step; the first setup of a database takes a few seconds. */
const SQL_TOOL_TIMEOUT_MS = 120_000;

export class HistoryShardsChangedError extends Error {
  override name = 'HistoryShardsChangedError';
}

function sqlTool(tool: string, db: TemporalDatabase, database: string, args: string[]): Promise<string> {
  // Connection settings through the environment: the password never shows in `ps`.
  const env = {
    ...process.env,
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: db.host,
    SQL_PORT: String(db.port),
    SQL_USER: db.user,
    SQL_PASSWORD: db.password,
    SQL_DATABASE: database,
  };
  return new Promise((resolve, reject) => {
    execFile(tool, args, { env, timeout: SQL_TOOL_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`temporal-sql-tool ${args.join(' ')} on ${database} failed: ${(stderr || stdout || err.message).trim()}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** Creates both databases if missing, sets up a new one, and applies any newer schema versions
 * (the versions compiled into the tool, so they always match the server of the same release). */
export async function ensureTemporalSchemas(tool: string, db: TemporalDatabase, log: (msg: string) => void): Promise<void> {
  for (const [database, schema] of [
    [db.database, 'postgresql/v12/temporal'],
    [db.visibility_database, 'postgresql/v12/visibility'],
  ] as const) {
    await sqlTool(tool, db, database, ['create-database']).catch((err: Error) => {
      // `create` refuses an existing database with Postgres's duplicate_database error.
      if (!/already exists|42P04/.test(err.message)) throw err;
    });
    // `setup-schema -v 0.0` (the version tables) only on a database the tool has not set up yet.
    const initialised = await schemaVersion(db, database);
    if (initialised === null) await sqlTool(tool, db, database, ['setup-schema', '-v', '0.0']);
    await sqlTool(tool, db, database, ['update-schema', '--schema-name', schema]);
    log(`Temporal database ${database}: schema ${await schemaVersion(db, database)}`);
  }
}

async function withClient<T>(db: TemporalDatabase, database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database,
    connectionTimeoutMillis: 5_000,
    statement_timeout: 10_000,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The schema version the tool recorded, or null for a database it has not set up. */
export async function schemaVersion(db: TemporalDatabase, database: string): Promise<string | null> {
  return withClient(db, database, async (client) => {
    const table = await client.query(`SELECT to_regclass('schema_version') IS NOT NULL AS present`);
    if (!table.rows[0].present) return null;
    const row = await client.query('SELECT curr_version FROM schema_version LIMIT 1');
    return (row.rows[0]?.curr_version as string | undefined) ?? null;
  });
}

/** The shard count the cluster was created with (persisted by its first start), or null before
 * the first start. Read from the cluster metadata row: a protobuf whose field 2 is the count. */
export async function persistedHistoryShards(db: TemporalDatabase): Promise<number | null> {
  return withClient(db, db.database, async (client) => {
    const rows = await client.query('SELECT data, data_encoding FROM cluster_metadata_info WHERE cluster_name = $1', [CLUSTER_NAME]);
    if (rows.rowCount === 0) return null;
    const { data, data_encoding } = rows.rows[0] as { data: Buffer; data_encoding: string };
    if (data_encoding.toLowerCase() !== 'proto3') throw new Error(`cluster metadata encoded as ${data_encoding}, expected Proto3`);
    const reader = protobuf.Reader.create(data);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 2 && (tag & 7) === 0) return reader.int32();
      reader.skipType(tag & 7);
    }
    throw new Error('cluster metadata has no history shard count');
  });
}

/** Refuses to start with a shard count other than the one the cluster was created with: the server
 * would quietly keep the old one, and the operator would believe the new one. */
export async function assertHistoryShards(db: TemporalDatabase, requested: number): Promise<void> {
  const persisted = await persistedHistoryShards(db);
  if (persisted !== null && persisted !== requested) {
    throw new HistoryShardsChangedError(
      `TEMPORAL_HISTORY_SHARDS=${requested}, but the Temporal cluster in database ${db.database} was created with ${persisted} ` +
        `history shards, and a cluster's shard count can never change. Set TEMPORAL_HISTORY_SHARDS=${persisted}, ` +
        `or start from new Temporal databases (the payments in the old ones are then gone).`,
    );
  }
}
