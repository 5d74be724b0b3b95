// Network settlement cycles: opening a cycle (its window and its net, computed from the ledger's
// transfers), keeping the network's report, and recording the reconciliation. Every step is
// idempotent on (cycle_id, currency): running a cycle again returns what was stored first.
import { AMOUNT_MINOR_MAX, CURRENCIES, type Currency } from '../domain/money.js';
import { AccountCode, TransferCode } from '../domain/ledger.js';
import type { CycleKey, NetworkCycle, NetworkCycleStatus } from '../domain/network-settlement.js';
import { platformAccount } from './accounts.js';
import { commitCutoff } from './cutoff.js';
import { inTransaction, type Pool, type PoolClient } from './db.js';

/** Transfer codes that put money on network payable (what the network cleared to us). */
const CHARGE_CODES = [TransferCode.card_clearing, TransferCode.card_force_post, TransferCode.card_over_clearing];
/** Transfer codes that take money off it (refunds the network passed back). Holds and their
 * releases touch only pending counters and settle nothing, so they are not netted. */
const REFUND_CODES = [TransferCode.card_refund];
/** Won disputes: the network owes us what they put on the chargeback receivable, and pays it in
 * the cycle whose window holds the win (issue 16). */
const CHARGEBACK_WON_CODES = [TransferCode.dispute_won];

/** The cycle cannot be netted yet: its cutoff has not passed. Retry later. */
export class NetworkCycleNotDueError extends Error {
  override name = 'NetworkCycleNotDueError';
}
/** The cycle contradicts the stored ones (same id with another end, or an end not after the
 * latest cycle of its currency). No retry can fix it. */
export class NetworkCycleConflictError extends Error {
  override name = 'NetworkCycleConflictError';
}

export interface OpenCycleRequest extends CycleKey {
  /** ISO time; the window is [the previous cycle's end, window_end). */
  window_end: string;
  /** The cutoff lag: the cycle is netted only once the database clock is past window_end + lag. */
  lag_ms: number;
}

export interface NetworkCycleStore {
  /** Opens the cycle, or returns it when it was opened before. */
  open(request: OpenCycleRequest): Promise<NetworkCycle>;
  /** Keeps the network's reported net; a cycle keeps its first report. */
  recordReport(key: CycleKey, reported_minor: number): Promise<NetworkCycle>;
  /** Records the wire and whether the report matched; a reconciled cycle keeps its first record. */
  reconcile(key: CycleKey, wire: { wired_minor: number; wire_transfer_id: string | null }): Promise<NetworkCycle>;
  get(key: CycleKey): Promise<NetworkCycle | null>;
  /** Currencies whose network payable account exists (those a scheduled run settles). */
  currencies(): Promise<Currency[]>;
}

interface CycleRow {
  cycle_id: string;
  currency: string;
  window_start: Date;
  window_end: Date;
  cleared_minor: string;
  refunded_minor: string;
  chargebacks_minor: string;
  net_minor: string;
  transfers: number;
  reported_minor: string | null;
  difference_minor: string | null;
  wired_minor: string | null;
  wire_transfer_id: string | null;
  status: NetworkCycleStatus;
}

/** Sums can outgrow a single amount: refuse what a JS number would not hold exactly. */
function toMinor(value: string, what: string): number {
  const n = BigInt(value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`${what} ${value} is beyond what this platform represents exactly`);
  }
  return Number(n);
}

function toCycle(row: CycleRow): NetworkCycle {
  const optional = (v: string | null, what: string) => (v === null ? null : toMinor(v, what));
  return {
    cycle_id: row.cycle_id,
    currency: row.currency as Currency,
    window_start: row.window_start.toISOString(),
    window_end: row.window_end.toISOString(),
    cleared_minor: toMinor(row.cleared_minor, 'cleared_minor'),
    refunded_minor: toMinor(row.refunded_minor, 'refunded_minor'),
    chargebacks_minor: toMinor(row.chargebacks_minor, 'chargebacks_minor'),
    net_minor: toMinor(row.net_minor, 'net_minor'),
    transfers: row.transfers,
    reported_minor: optional(row.reported_minor, 'reported_minor'),
    difference_minor: optional(row.difference_minor, 'difference_minor'),
    wired_minor: optional(row.wired_minor, 'wired_minor'),
    wire_transfer_id: row.wire_transfer_id,
    status: row.status,
  };
}

function assertKey(key: CycleKey): void {
  if (!(typeof key.cycle_id === 'string' && key.cycle_id.length > 0 && key.cycle_id.length <= 64)) {
    throw new Error(`cycle_id must be 1 to 64 characters, got ${JSON.stringify(key.cycle_id)}`);
  }
  if (!(CURRENCIES as readonly string[]).includes(key.currency)) throw new Error(`unknown currency ${JSON.stringify(key.currency)}`);
}

function assertAmount(what: string, amount_minor: number): void {
  if (!(Number.isSafeInteger(amount_minor) && Math.abs(amount_minor) <= AMOUNT_MINOR_MAX)) {
    throw new Error(`${what} must be an integer of at most ${AMOUNT_MINOR_MAX} minor units either way, got ${amount_minor}`);
  }
}

const SELECT_CYCLE = `SELECT cycle_id, currency, window_start, window_end, cleared_minor, refunded_minor, chargebacks_minor, net_minor, transfers,
       reported_minor, difference_minor, wired_minor, wire_transfer_id, status
  FROM settlement.network_cycles WHERE cycle_id = $1 AND currency = $2`;

/** Netting is cheap (two index range scans), but a window of a few days is a lot of rows: give
 * it more time than an interactive statement, not forever. */
const NET_STATEMENT_TIMEOUT_MS = 120_000;

export function createNetworkCycleStore(pool: Pool): NetworkCycleStore {
  async function read(client: Pool | PoolClient, key: CycleKey): Promise<NetworkCycle | null> {
    const { rows } = await client.query<CycleRow>(SELECT_CYCLE, [key.cycle_id, key.currency]);
    return rows[0] ? toCycle(rows[0]) : null;
  }

  async function open(request: OpenCycleRequest): Promise<NetworkCycle> {
    assertKey(request);
    const window_end = new Date(request.window_end);
    if (Number.isNaN(window_end.getTime())) throw new Error(`window_end must be an ISO time, got ${request.window_end}`);
    if (!(Number.isSafeInteger(request.lag_ms) && request.lag_ms >= 0)) throw new Error(`lag_ms must be >= 0, got ${request.lag_ms}`);
    return inTransaction(pool, async (client) => {
      // One opener per currency at a time: the window's start is the latest end, read and used
      // under this lock (the unique constraints would refuse a fork anyway).
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`settlement.network_cycles:${request.currency}`]);
      const existing = await read(client, request);
      if (existing) {
        if (existing.window_end !== window_end.toISOString()) {
          throw new NetworkCycleConflictError(
            `cycle ${request.cycle_id} ${request.currency} ends at ${existing.window_end}, not ${window_end.toISOString()}`,
          );
        }
        return existing;
      }
      const latest = await client.query<{ cycle_id: string; window_end: Date }>(
        `SELECT cycle_id, window_end FROM settlement.network_cycles WHERE currency = $1 ORDER BY window_end DESC LIMIT 1`,
        [request.currency],
      );
      const previous = latest.rows[0];
      if (previous && previous.window_end >= window_end) {
        throw new NetworkCycleConflictError(
          `cycle ${request.cycle_id} ${request.currency} would end at ${window_end.toISOString()}, ` +
            `not after the latest cycle ${previous.cycle_id} (ending ${previous.window_end.toISOString()})`,
        );
      }

      // The cutoff (src/ledger/cutoff.ts): the sum below is final only once the database clock is
      // past window_end + lag and no transaction that started before window_end is still open.
      const cutoff = await commitCutoff(client, window_end, request.lag_ms);
      if (!cutoff.passed && cutoff.reason === 'clock_before_cutoff') {
        throw new NetworkCycleNotDueError(
          `cycle ${request.cycle_id} ${request.currency} is due at ${window_end.toISOString()} + ${request.lag_ms} ms; ` +
            `the database clock says ${cutoff.db_now.toISOString()}`,
        );
      }
      if (!cutoff.passed) {
        throw new NetworkCycleNotDueError(
          `cycle ${request.cycle_id} ${request.currency}: ${cutoff.open_before_cutoff} transaction(s) started before its end are still open`,
        );
      }

      const window_start = previous?.window_end ?? new Date(0);
      const payable = platformAccount('network_payable', request.currency);
      await client.query(`SET LOCAL statement_timeout = ${NET_STATEMENT_TIMEOUT_MS}`);
      // Charges credit network payable, refunds debit it; the (account, created_at) indexes serve
      // both sides of the OR.
      const sums = await client.query<{ cleared: string; refunded: string; transfers: number }>(
        `SELECT coalesce(sum(amount) FILTER (WHERE credit_account_id = $1 AND code = ANY($2::int[])), 0)::text AS cleared,
                coalesce(sum(amount) FILTER (WHERE debit_account_id = $1 AND code = ANY($3::int[])), 0)::text AS refunded,
                count(*) FILTER (WHERE (credit_account_id = $1 AND code = ANY($2::int[]))
                                    OR (debit_account_id = $1 AND code = ANY($3::int[])))::int AS transfers
           FROM ledger.transfers
          WHERE (credit_account_id = $1 OR debit_account_id = $1)
            AND created_at >= $4 AND created_at < $5`,
        [payable, CHARGE_CODES, REFUND_CODES, window_start, window_end],
      );
      // Won chargebacks debit the chargeback receivable (its (account, created_at) index), in the
      // same window and under the same cut-off as the postings above.
      const won = await client.query<{ chargebacks: string; transfers: number }>(
        `SELECT coalesce(sum(amount), 0)::text AS chargebacks, count(*)::int AS transfers
           FROM ledger.transfers
          WHERE debit_account_id = $1 AND code = ANY($2::int[]) AND created_at >= $3 AND created_at < $4`,
        [platformAccount('chargeback_receivable', request.currency), CHARGEBACK_WON_CODES, window_start, window_end],
      );
      const { cleared, refunded } = sums.rows[0]!;
      const { chargebacks } = won.rows[0]!;
      const transfers = sums.rows[0]!.transfers + won.rows[0]!.transfers;
      await client.query(
        `INSERT INTO settlement.network_cycles
           (cycle_id, currency, window_start, window_end, previous_window_end, cleared_minor, refunded_minor, chargebacks_minor,
            net_minor, transfers)
         VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint, $8::bigint, $6::bigint - $7::bigint - $8::bigint, $9)`,
        [
          request.cycle_id,
          request.currency,
          window_start,
          window_end,
          previous?.window_end ?? null,
          cleared,
          refunded,
          chargebacks,
          transfers,
        ],
      );
      return (await read(client, request))!;
    });
  }

  async function recordReport(key: CycleKey, reported_minor: number): Promise<NetworkCycle> {
    assertKey(key);
    assertAmount('reported_minor', reported_minor);
    await pool.query(
      `UPDATE settlement.network_cycles SET reported_minor = $3, reported_at = now()
        WHERE cycle_id = $1 AND currency = $2 AND reported_minor IS NULL`,
      [key.cycle_id, key.currency, reported_minor],
    );
    const cycle = await read(pool, key);
    if (!cycle) throw new NetworkCycleConflictError(`cycle ${key.cycle_id} ${key.currency} was never opened`);
    return cycle;
  }

  async function reconcile(key: CycleKey, wire: { wired_minor: number; wire_transfer_id: string | null }): Promise<NetworkCycle> {
    assertKey(key);
    assertAmount('wired_minor', wire.wired_minor);
    await pool.query(
      `UPDATE settlement.network_cycles
          SET wired_minor = $3, wire_transfer_id = $4, reconciled_at = now(),
              status = CASE WHEN reported_minor = net_minor THEN 'matched' ELSE 'mismatched' END
        WHERE cycle_id = $1 AND currency = $2 AND status = 'open' AND reported_minor IS NOT NULL`,
      [key.cycle_id, key.currency, wire.wired_minor, wire.wire_transfer_id],
    );
    const cycle = await read(pool, key);
    if (!cycle || cycle.reported_minor === null) {
      throw new NetworkCycleConflictError(`cycle ${key.cycle_id} ${key.currency} has no report to reconcile against`);
    }
    if (cycle.wired_minor !== wire.wired_minor || cycle.wire_transfer_id !== wire.wire_transfer_id) {
      throw new NetworkCycleConflictError(
        `cycle ${key.cycle_id} ${key.currency} was reconciled with wire ${cycle.wire_transfer_id} of ${cycle.wired_minor}, ` +
          `not ${wire.wire_transfer_id} of ${wire.wired_minor}`,
      );
    }
    return cycle;
  }

  async function currencies(): Promise<Currency[]> {
    const { rows } = await pool.query<{ currency: string }>(
      `SELECT DISTINCT currency FROM ledger.accounts WHERE code = $1 AND currency = ANY($2::text[]) ORDER BY currency`,
      [AccountCode.network_payable, CURRENCIES],
    );
    return rows.map((r) => r.currency as Currency);
  }

  return { open, recordReport, reconcile, get: (key) => read(pool, key), currencies };
}
