import pg from 'pg';
import { databaseTimeouts, type DatabaseTimeouts } from '../config.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  connections_max: number;
  application_name: string;
  /** Callers waiting for a connection at once; one more is refused at once with DatabaseBusyError
   * (the API answers RESOURCE_EXHAUSTED) instead of queueing behind them for up to the 5 s connect
   * timeout. Default WAITING_MAX_DEFAULT. */
  waiting_max?: number;
  /** Server-side bounds on every wait; by default the configured ones (databaseTimeouts()). */
  timeouts?: DatabaseTimeouts;
}

/** The waiting bound of a pool that names none: loose enough never to bind a worker's steady
 * work, and still a bound (pg.Pool's own queue has none). */
export const WAITING_MAX_DEFAULT = 1_000;

/** No connection was free and `waiting_max` callers were already waiting: nothing was sent to the
 * database. Shedding here keeps an overloaded process from queueing work past its callers'
 * deadlines (a 20,000-payment chaos run's API logged thousands of connect timeouts a minute, each a call
 * that had waited 5 s in pg.Pool's unbounded queue, then was retried by its client). */
export class DatabaseBusyError extends Error {
  override name = 'DatabaseBusyError';
}

/** pg.Pool whose queue of callers waiting for a connection is bounded. pg.Pool's query() checks
 * out through connect(), so the bound holds for both. */
class BoundedPool extends pg.Pool {
  readonly #waiting_max: number;

  constructor(config: pg.PoolConfig, waiting_max: number) {
    super(config);
    this.#waiting_max = waiting_max;
  }

  // The overloads of pg.Pool.connect (promise, or node callback) are kept: both funnel here.
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | void {
    const full = this.totalCount >= (this.options.max ?? 10) && this.idleCount === 0;
    if (full && this.waitingCount >= this.#waiting_max) {
      const err = new DatabaseBusyError(`every database connection is busy and ${this.waitingCount} callers are waiting (waiting_max)`);
      if (callback) {
        process.nextTick(() => callback(err, undefined, () => undefined));
        return;
      }
      return Promise.reject(err);
    }
    return callback ? super.connect(callback) : super.connect();
  }
}

export function createPool(databaseUrl: string, options: PoolOptions): pg.Pool {
  if (!(options.connections_max >= 1 && options.connections_max <= 100)) {
    throw new Error(`connections_max must be 1..100, got ${options.connections_max}`);
  }
  const waiting_max = options.waiting_max ?? WAITING_MAX_DEFAULT;
  if (!(Number.isSafeInteger(waiting_max) && waiting_max >= 0 && waiting_max <= 100_000)) {
    throw new Error(`waiting_max must be 0..100000, got ${waiting_max}`);
  }
  const timeouts = options.timeouts ?? databaseTimeouts();
  for (const [name, ms] of Object.entries(timeouts)) {
    if (!(Number.isSafeInteger(ms) && ms >= 1 && ms <= 3_600_000)) throw new Error(`${name} must be 1..3600000 ms, got ${ms}`);
  }
  const pool = new BoundedPool(
    {
      connectionString: databaseUrl,
      max: options.connections_max,
      application_name: options.application_name,
      // Session settings, sent in the startup packet so that no connection ever runs without them:
      // - every wait is bounded: a statement waiting for a row lock gives up after lock_timeout, any
      //   statement after statement_timeout, and a session idle inside an open transaction (its
      //   process stalled between two round trips while holding locks) is ended by the server after
      //   idle_in_transaction_session_timeout, releasing its locks so other workers go on. The
      //   ledger retries such a batch (ledger.ts, isRetryableTransactionError).
      // - sql-array.ts writes literals whose backslashes must be plain characters (the server
      //   default, pinned here so a cluster setting cannot change it).
      options: [
        `-c lock_timeout=${timeouts.lock_timeout_ms}`,
        `-c statement_timeout=${timeouts.statement_timeout_ms}`,
        `-c idle_in_transaction_session_timeout=${timeouts.idle_in_transaction_session_timeout_ms}`,
        '-c standard_conforming_strings=on',
      ].join(' '),
      // Fail fast on an unreachable database rather than hanging an activity until its timeout.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    },
    waiting_max,
  );
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
    if (broken) throw new ConnectionLostError('the database connection was lost inside a transaction', { cause: err });
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

/** The connection died while a transaction was open (the server ended an idle-in-transaction
 * session, restarted, or the network failed). If the COMMIT had been sent, the transaction may or
 * may not have committed: only a caller whose work is idempotent may run it again. */
export class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
}

/** Postgres error codes after which the whole transaction can simply run again: serialization
 * failure, deadlock, unique violation (an id race), lock_timeout, the server ending an idle
 * transaction or the session (admin shutdown, crash), and connection failures (class 08). */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '23505', '55P03', '25P03', '57P01', '57P02', '57P03']);

export function isRetryableTransactionError(err: unknown): boolean {
  if (err instanceof RetryTransaction || err instanceof ConnectionLostError) return true;
  const code = typeof err === 'object' && err !== null ? ((err as { code?: unknown }).code ?? '') : '';
  return typeof code === 'string' && (RETRYABLE_SQLSTATES.has(code) || code.startsWith('08'));
}
