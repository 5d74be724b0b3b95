// The commit-order cut-off: when a window of the ledger ending at `cutoff` can be summed for good.
// Network settlement cycles (network-cycles.ts) and billing statements (statements.ts) both sum
// transfers by created_at, and both ask here whether the sum is final.
//
// A transfer's created_at is the start time of the transaction that wrote it, and that
// transaction may commit a little later (it waits for locks, decides, writes). So
// "created_at < cutoff" is only final once no transaction that started before the cutoff can
// still commit. Two rules, both on the database's own clock (the one that stamps created_at, so
// worker clocks do not matter):
//   1. the clock is past cutoff + lag (minutes by default): ordinary batches commit within
//      milliseconds;
//   2. and no transaction of this database that started before the cutoff is still open
//      (pg_stat_activity): this covers a batch stuck behind a lock for longer than the lag.
// Until both hold the window is not final, and the caller retries; once they hold, the sum is
// final, and the next window starts exactly at the cutoff, so a late commit lands in this window
// or the next, never between them.
import type { PoolClient } from './db.js';

export type CutoffVerdict =
  | { passed: true; db_now: Date }
  | { passed: false; db_now: Date; reason: 'clock_before_cutoff' | 'transactions_open'; open_before_cutoff: number };

/** Whether the window ending at `cutoff` may be summed now (see above). Call it inside the
 * transaction that sums the window. */
export async function commitCutoff(client: PoolClient, cutoff: Date, lag_ms: number): Promise<CutoffVerdict> {
  if (Number.isNaN(cutoff.getTime())) throw new Error('commitCutoff: cutoff is not a time');
  if (!(Number.isSafeInteger(lag_ms) && lag_ms >= 0)) throw new Error(`commitCutoff: lag_ms must be >= 0, got ${lag_ms}`);
  const { rows } = await client.query<{ due: boolean; open_before_end: number; now: Date }>(
    `SELECT now() >= $1::timestamptz + make_interval(secs => $2::double precision / 1000) AS due,
            (SELECT count(*)::int FROM pg_stat_activity
              WHERE datname = current_database() AND backend_type = 'client backend'
                AND pid <> pg_backend_pid() AND xact_start < $1::timestamptz) AS open_before_end,
            now() AS now`,
    [cutoff, lag_ms],
  );
  const row = rows[0]!;
  if (!row.due) return { passed: false, db_now: row.now, reason: 'clock_before_cutoff', open_before_cutoff: row.open_before_end };
  if (row.open_before_end > 0)
    return { passed: false, db_now: row.now, reason: 'transactions_open', open_before_cutoff: row.open_before_end };
  return { passed: true, db_now: row.now };
}
