import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  connections_max: number;
  application_name: string;
}

export function createPool(databaseUrl: string, options: PoolOptions): pg.Pool {
  if (!(options.connections_max >= 1 && options.connections_max <= 100)) {
    throw new Error(`connections_max must be 1..100, got ${options.connections_max}`);
  }
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.connections_max,
    application_name: options.application_name,
    // Session settings the engine relies on: sql-array.ts writes literals whose backslashes must be
    // plain characters (the server default, pinned here so a cluster setting cannot change it).
    options: '-c standard_conforming_strings=on',
    // Fail fast on an unreachable database rather than hanging an activity until its timeout.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (database restart) must not crash the process; the
  // next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** How a transaction starts and ends. A statement that carries BEGIN or COMMIT inside a
 * multi-statement query saves a round trip; fn then sends them itself. */
export interface TransactionOptions {
  begin: 'BEGIN' | 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' | 'in-first-statement';
  commit: 'COMMIT' | 'in-last-statement';
}

const PLAIN: TransactionOptions = { begin: 'BEGIN', commit: 'COMMIT' };

/** Runs fn inside one transaction on one connection; rolls back on any error. */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = PLAIN,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A connection that dies while checked out (server restart, pg_terminate_backend) emits
  // 'error' on the client besides failing the query; unheard, that event would crash the process.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    if (options.begin !== 'in-first-statement') await client.query(options.begin);
    const result = await fn(client);
    if (options.commit === 'COMMIT') await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.off('error', onError);
    // A connection whose ROLLBACK failed is in an unknown state: destroy it instead of reusing it.
    client.release(broken);
  }
}

/** Thrown inside a transaction to roll it back and run it again from the start. */
export class RetryTransaction extends Error {
  override name = 'RetryTransaction';
}

/** Postgres error codes after which the whole transaction can simply run again. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '23505']);

export function isRetryableTransactionError(err: unknown): boolean {
  if (err instanceof RetryTransaction) return true;
  return typeof err === 'object' && err !== null && RETRYABLE_SQLSTATES.has((err as { code?: string }).code ?? '');
}
