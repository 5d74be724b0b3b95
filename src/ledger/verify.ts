// The ledger verifier: checks every invariant of DESIGN.md section 4 against the database, and
// says how much it checked for each. `npm run ledger:verify` prints its report; tests call
// verifyLedger and assert it is clean.
import { AccountCode, AccountFlags, LIMIT_FLAGS, TransferCode, TransferFlags } from '../domain/ledger.js';
import { SPEND_LIMIT_AMOUNT_MAX, SPEND_LIMIT_COUNT_MAX } from '../domain/spend-limits.js';
import { isTerminal, type PaymentState } from '../domain/payment.js';
import { inTransaction, type Pool, type PoolClient } from './db.js';
import { createLedger, safeInteger } from './ledger.js';
import { comparePaymentWithTransfers } from './payment-check.js';
import { OWED_SQL, OWED_SQL_CODES } from './statements.js';

/** The checks, in the order they are reported. 1-5 are DESIGN.md's invariants; the others hold
 * what the engine's design relies on. */
export const CHECKS = {
  balanced: { invariant: 1, what: 'debits equal credits per currency (posted and pending)', unit: 'currencies' },
  counters: { invariant: 2, what: "every account's counters equal the sums over its transfers", unit: 'accounts' },
  references: { invariant: 2, what: "every transfer's accounts exist and share its currency", unit: 'transfers' },
  flags: { invariant: 3, what: 'no account violates its flags', unit: 'accounts' },
  resolutions: { invariant: 4, what: 'every pending transfer resolved at most once, for at most its amount', unit: 'resolutions' },
  payments: { invariant: 5, what: "every finished payment's transfers agree with its final state", unit: 'payments' },
  ids: { invariant: 6, what: 'an id is a transfer or a refused id, never both', unit: 'ids' },
  buckets: { invariant: 7, what: 'accounts with limit flags have no bucket rows', unit: 'limit accounts' },
  timeouts: { invariant: 8, what: 'no transfer carries a timeout (the engine expires none)', unit: 'transfers' },
  spend_limits: {
    invariant: 9,
    what: 'spend-limit windows: limit-flagged, granted their headroom once, no probe left pending, uses held only beside a hold',
    unit: 'limit windows',
  },
  statements: {
    invariant: 10,
    what: "every statement's closing balance equals what the ledger says the company owed at its cut-off",
    unit: 'statements',
  },
} as const;
export type CheckName = keyof typeof CHECKS;

export interface Violation {
  invariant: number;
  check: CheckName;
  detail: string;
}

export interface CheckReport {
  check: CheckName;
  invariant: number;
  what: string;
  /** How many items were checked (in `unit`); null when the check could not run. */
  checked: number | null;
  unit: string;
  violations: number;
  /** Why a check did not run, or what it left out. */
  note?: string;
}

export interface VerifyReport {
  ok: boolean;
  accounts: number;
  transfers: number;
  currencies: Array<{ currency: string; debits_posted: string; credits_posted: string; debits_pending: string; credits_pending: string }>;
  checks: CheckReport[];
  violations: Violation[];
}

export interface VerifyOptions {
  /** A payment's state (the workflow's query), or null when there is no such payment. Without it,
   * invariant 5 is reported as not checked. */
  paymentState?: (payment_id: string) => Promise<PaymentState | null>;
  /** Payments checked for invariant 5, at most (each costs a query to Temporal). */
  payments_checked_max?: number;
}

/** How many violations of each kind are listed before the report says "and more". */
const VIOLATIONS_LISTED_MAX = 50;
const PAYMENTS_CHECKED_MAX_DEFAULT = 10_000;
/** Statements re-summed by invariant 10, at most (two indexed sums each). */
const STATEMENTS_CHECKED_MAX = 100_000;

export async function verifyLedger(pool: Pool, options: VerifyOptions = {}): Promise<VerifyReport> {
  const violations: Violation[] = [];
  const checked = new Map<CheckName, number | null>();
  const notes = new Map<CheckName, string>();
  const violate = (check: CheckName, detail: string) => violations.push({ invariant: CHECKS[check].invariant, check, detail });
  // One snapshot for every check of the database: a verifier racing live traffic must not see
  // half a batch. Invariant 5 asks Temporal, so it runs after the snapshot (see checkPayments).
  const snapshot = await inTransaction(
    pool,
    async (client) => {
      const counts = await client.query<{
        accounts: string;
        transfers: string;
        limit_accounts: string;
        resolutions: string;
        failures: string;
      }>(
        `SELECT (SELECT count(*) FROM ledger.accounts) AS accounts, (SELECT count(*) FROM ledger.transfers) AS transfers,
                (SELECT count(*) FROM ledger.accounts WHERE flags & ${LIMIT_FLAGS} <> 0) AS limit_accounts,
                (SELECT count(*) FROM ledger.transfers WHERE pending_id IS NOT NULL) AS resolutions,
                (SELECT count(*) FROM ledger.transfer_failures) AS failures`,
      );
      const count = counts.rows[0]!;
      const accounts = safeInteger(count.accounts, 'accounts');
      const transfers = safeInteger(count.transfers, 'transfers');
      const currencies = await checkBalanced(client, violate);
      checked.set('balanced', currencies.length);
      await checkCounters(client, violate);
      checked.set('counters', accounts);
      await checkReferences(client, violate);
      checked.set('references', transfers);
      await checkFlags(client, violate);
      checked.set('flags', accounts);
      await checkResolutions(client, violate);
      checked.set('resolutions', safeInteger(count.resolutions, 'resolutions'));
      await checkDisjointIds(client, violate);
      checked.set('ids', transfers + safeInteger(count.failures, 'failures'));
      await checkNoBuckets(client, violate);
      checked.set('buckets', safeInteger(count.limit_accounts, 'limit_accounts'));
      await checkNoTimeouts(client, violate);
      checked.set('timeouts', transfers);
      checked.set('spend_limits', await checkSpendLimits(client, violate));
      checked.set('statements', await checkStatements(client, violate));
      return { accounts, transfers, currencies };
    },
    { begin: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', commit: 'COMMIT' },
  );

  if (options.paymentState) {
    const result = await checkPayments(pool, options.paymentState, options.payments_checked_max ?? PAYMENTS_CHECKED_MAX_DEFAULT, violate);
    checked.set('payments', result.checked);
    if (result.note) notes.set('payments', result.note);
  } else {
    checked.set('payments', null);
    notes.set('payments', 'not checked: no Temporal connection to read payment states from');
  }

  const checks: CheckReport[] = (Object.keys(CHECKS) as CheckName[]).map((check) => ({
    check,
    invariant: CHECKS[check].invariant,
    what: CHECKS[check].what,
    checked: checked.get(check) ?? null,
    unit: CHECKS[check].unit,
    violations: violations.filter((v) => v.check === check).length,
    ...(notes.has(check) ? { note: notes.get(check)! } : {}),
  }));
  return { ok: violations.length === 0, ...snapshot, checks, violations };
}

type Violate = (check: CheckName, detail: string) => void;

async function checkBalanced(client: PoolClient, violate: Violate): Promise<VerifyReport['currencies']> {
  const currencies = await client.query<VerifyReport['currencies'][number]>(
    `SELECT currency,
            sum(debits_posted)::text AS debits_posted, sum(credits_posted)::text AS credits_posted,
            sum(debits_pending)::text AS debits_pending, sum(credits_pending)::text AS credits_pending
       FROM ledger.account_balances GROUP BY currency ORDER BY currency`,
  );
  for (const c of currencies.rows) {
    if (c.debits_posted !== c.credits_posted)
      violate('balanced', `${c.currency}: debits_posted ${c.debits_posted} != credits_posted ${c.credits_posted}`);
    if (c.debits_pending !== c.credits_pending) {
      violate('balanced', `${c.currency}: debits_pending ${c.debits_pending} != credits_pending ${c.credits_pending}`);
    }
  }
  return currencies.rows;
}

async function checkCounters(client: PoolClient, violate: Violate): Promise<void> {
  // A pending transfer counts as pending until a post or void resolves it; a post counts as
  // posted; a void counts nothing.
  const pending = TransferFlags.pending;
  const voided = TransferFlags.void_pending;
  const counters = await client.query<{ id: string; field: string; stored: string; derived: string }>(
    `WITH resolved AS (
       SELECT pending_id FROM ledger.transfers WHERE pending_id IS NOT NULL
     ), effects AS (
       SELECT t.debit_account_id AS account_id,
              CASE WHEN t.flags & ${pending} <> 0 AND r.pending_id IS NULL THEN t.amount ELSE 0 END AS debits_pending,
              CASE WHEN t.flags & ${pending} = 0 AND t.flags & ${voided} = 0 THEN t.amount ELSE 0 END AS debits_posted,
              0::bigint AS credits_pending, 0::bigint AS credits_posted
         FROM ledger.transfers t LEFT JOIN resolved r ON r.pending_id = t.id
       UNION ALL
       SELECT t.credit_account_id,
              0, 0,
              CASE WHEN t.flags & ${pending} <> 0 AND r.pending_id IS NULL THEN t.amount ELSE 0 END,
              CASE WHEN t.flags & ${pending} = 0 AND t.flags & ${voided} = 0 THEN t.amount ELSE 0 END
         FROM ledger.transfers t LEFT JOIN resolved r ON r.pending_id = t.id
     ), sums AS (
       SELECT account_id, sum(debits_pending) AS dp, sum(debits_posted) AS dpo,
              sum(credits_pending) AS cp, sum(credits_posted) AS cpo
         FROM effects GROUP BY account_id
     )
     SELECT a.id, f.field, f.stored::text, f.derived::text
       FROM ledger.account_balances a
       LEFT JOIN sums s ON s.account_id = a.id
       CROSS JOIN LATERAL (VALUES
         ('debits_pending', a.debits_pending, coalesce(s.dp, 0)),
         ('debits_posted', a.debits_posted, coalesce(s.dpo, 0)),
         ('credits_pending', a.credits_pending, coalesce(s.cp, 0)),
         ('credits_posted', a.credits_posted, coalesce(s.cpo, 0))
       ) AS f(field, stored, derived)
      WHERE f.stored <> f.derived
      LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of counters.rows) violate('counters', `account ${r.id}: ${r.field} is ${r.stored}, its transfers sum to ${r.derived}`);
}

async function checkReferences(client: PoolClient, violate: Violate): Promise<void> {
  // The engine guarantees it under its locks, with no foreign key to re-check it on every insert.
  const orphans = await client.query<{ id: string; problem: string }>(
    `SELECT t.id,
            CASE WHEN d.id IS NULL OR c.id IS NULL THEN 'references a missing account'
                 ELSE 'has a currency other than its accounts' END AS problem
       FROM ledger.transfers t
       LEFT JOIN ledger.accounts d ON d.id = t.debit_account_id
       LEFT JOIN ledger.accounts c ON c.id = t.credit_account_id
      WHERE d.id IS NULL OR c.id IS NULL OR d.currency <> t.currency OR c.currency <> t.currency
      LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of orphans.rows) violate('references', `transfer ${r.id} ${r.problem}`);
}

async function checkFlags(client: PoolClient, violate: Violate): Promise<void> {
  const d = AccountFlags.debits_must_not_exceed_credits;
  const c = AccountFlags.credits_must_not_exceed_debits;
  const flags = await client.query<{ id: string; rule: string }>(
    `SELECT id, CASE WHEN flags & ${d} <> 0 AND debits_pending + debits_posted > credits_posted
                     THEN 'debits_must_not_exceed_credits' ELSE 'credits_must_not_exceed_debits' END AS rule
       FROM ledger.account_balances
      WHERE (flags & ${d} <> 0 AND debits_pending + debits_posted > credits_posted)
         OR (flags & ${c} <> 0 AND credits_pending + credits_posted > debits_posted)
      LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of flags.rows) violate('flags', `account ${r.id} breaks ${r.rule}`);
}

async function checkResolutions(client: PoolClient, violate: Violate): Promise<void> {
  // Resolved at most once, for at most its amount, by a transfer on the same accounts; only
  // pending transfers are resolved.
  const pending = TransferFlags.pending;
  const resolutions = await client.query<{ pending_id: string; problem: string }>(
    `SELECT r.pending_id,
            CASE WHEN p.id IS NULL THEN 'resolves a transfer that does not exist'
                 WHEN p.flags & ${pending} = 0 THEN 'resolves a transfer that is not pending'
                 WHEN count(*) OVER (PARTITION BY r.pending_id) > 1 THEN 'resolved more than once'
                 WHEN r.amount > p.amount THEN 'resolved for more than its amount'
                 ELSE 'resolved on other accounts' END AS problem
       FROM ledger.transfers r LEFT JOIN ledger.transfers p ON p.id = r.pending_id
      WHERE r.pending_id IS NOT NULL
        AND (p.id IS NULL OR p.flags & ${pending} = 0 OR r.amount > p.amount
             OR r.debit_account_id <> p.debit_account_id OR r.credit_account_id <> p.credit_account_id
             OR (SELECT count(*) FROM ledger.transfers x WHERE x.pending_id = r.pending_id) > 1)
      LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of resolutions.rows) violate('resolutions', `pending ${r.pending_id}: ${r.problem}`);
}

async function checkDisjointIds(client: PoolClient, violate: Violate): Promise<void> {
  const both = await client.query<{ id: string; result: string }>(
    `SELECT f.id, f.result FROM ledger.transfer_failures f JOIN ledger.transfers t ON t.id = f.id LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of both.rows) violate('ids', `id ${r.id} is a transfer and also refused (${r.result})`);
}

async function checkNoBuckets(client: PoolClient, violate: Violate): Promise<void> {
  // Buckets skip the per-transfer limit check: an account with a limit must keep all in its row.
  const bucketed = await client.query<{ id: string; buckets: number }>(
    `SELECT a.id, count(*)::int AS buckets FROM ledger.accounts a JOIN ledger.account_buckets b ON b.account_id = a.id
      WHERE a.flags & ${LIMIT_FLAGS} <> 0 GROUP BY a.id LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of bucketed.rows) violate('buckets', `account ${r.id} has limit flags and ${r.buckets} bucket rows`);
}

async function checkNoTimeouts(client: PoolClient, violate: Violate): Promise<void> {
  const timed = await client.query<{ id: string; timeout_s: number }>(
    'SELECT id, timeout_s FROM ledger.transfers WHERE timeout_s <> 0 LIMIT $1',
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of timed.rows) violate('timeouts', `transfer ${r.id} has timeout_s ${r.timeout_s}`);
}

/** Spend limits (src/ledger/spend-limits.ts): a window account is checked per transfer (its flag;
 * `flags` then proves it never went past its headroom), was granted exactly its headroom, and holds
 * only what live holds use: a probe is voided in its own chain, and a use outlives its payment's
 * last open hold only by a bug (room a limit would never get back). */
async function checkSpendLimits(client: PoolClient, violate: Violate): Promise<number> {
  const C = TransferCode;
  const pending = TransferFlags.pending;
  const windows = await client.query<{ id: string; problem: string }>(
    `SELECT id, CASE WHEN flags & ${AccountFlags.debits_must_not_exceed_credits} = 0 THEN 'has no debits_must_not_exceed_credits flag'
                     ELSE 'was granted ' || credits_posted || ', not its headroom' END AS problem
       FROM ledger.accounts
      WHERE code IN (${AccountCode.spend_limit_amount}, ${AccountCode.spend_limit_count})
        AND (flags & ${AccountFlags.debits_must_not_exceed_credits} = 0
             OR credits_posted <> CASE code WHEN ${AccountCode.spend_limit_amount} THEN ${SPEND_LIMIT_AMOUNT_MAX} ELSE ${SPEND_LIMIT_COUNT_MAX} END)
      LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of windows.rows) violate('spend_limits', `limit window ${r.id} ${r.problem}`);
  const open = `t.flags & ${pending} <> 0 AND NOT EXISTS (SELECT 1 FROM ledger.transfers r WHERE r.pending_id = t.id)`;
  const stray = await client.query<{ id: string; problem: string }>(
    `SELECT t.id, 'probe left pending' AS problem FROM ledger.transfers t WHERE t.code = ${C.spend_limit_probe} AND ${open}
     UNION ALL
     SELECT t.id, 'use of payment ' || t.payment_id || ' held with no open hold' FROM ledger.transfers t
      WHERE t.code IN (${C.spend_limit_use}, ${C.spend_limit_count_use}) AND ${open}
        AND NOT EXISTS (SELECT 1 FROM ledger.transfers t2 WHERE t2.payment_id = t.payment_id
                         AND t2.code = ${C.card_hold} AND t2.flags & ${pending} <> 0
                         AND NOT EXISTS (SELECT 1 FROM ledger.transfers r WHERE r.pending_id = t2.id))
     LIMIT $1`,
    [VIOLATIONS_LISTED_MAX],
  );
  for (const r of stray.rows) violate('spend_limits', `transfer ${r.id}: ${r.problem}`);
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ledger.accounts WHERE code IN (${AccountCode.spend_limit_amount}, ${AccountCode.spend_limit_count})`,
  );
  return safeInteger(rows[0]!.n, 'limit windows');
}

/** Invariant 10: each statement's closing balance is the company's debt by the ledger at its
 * cut-off (the same sum the statement was closed with, OWED_SQL, over everything before its end),
 * and its opening balance the debt at its start. Returns how many statements it checked. */
async function checkStatements(client: PoolClient, violate: Violate): Promise<number> {
  const { rows } = await client.query<{
    company_id: string;
    currency: string;
    cycle_number: number;
    accounts: string[];
    window_start: Date;
    window_end: Date;
    opening: string;
    closing: string;
  }>(
    `SELECT company_id, currency, cycle_number, ARRAY[credit_line_account_id, receivable_account_id]::text[] AS accounts,
            window_start, window_end, opening_balance_minor::text AS opening, closing_balance_minor::text AS closing
       FROM billing.statements ORDER BY company_id, currency, cycle_number LIMIT $1`,
    [STATEMENTS_CHECKED_MAX],
  );
  for (const r of rows) {
    const owedAt = async (at: Date) =>
      (await client.query<{ owed: string }>(OWED_SQL, [r.accounts, new Date(0), at, ...OWED_SQL_CODES])).rows[0]!.owed;
    const name = `statement ${r.company_id}/${r.currency}/${r.cycle_number}`;
    const closing = await owedAt(r.window_end);
    if (closing !== r.closing)
      violate('statements', `${name}: closing balance ${r.closing}, the ledger says ${closing} at ${r.window_end.toISOString()}`);
    const opening = await owedAt(r.window_start);
    if (opening !== r.opening)
      violate('statements', `${name}: opening balance ${r.opening}, the ledger says ${opening} at ${r.window_start.toISOString()}`);
  }
  return rows.length;
}

/** Invariant 5. The state is read first, the transfers after: a finished payment's transfers were
 * all committed before its workflow recorded the outcome. A mismatch is re-read once, in case an
 * event (a late refund) arrived between the two reads. */
async function checkPayments(
  pool: Pool,
  paymentState: (payment_id: string) => Promise<PaymentState | null>,
  payments_checked_max: number,
  violate: Violate,
): Promise<{ checked: number; note?: string }> {
  const ledger = createLedger(pool);
  const { rows } = await pool.query<{ payment_id: string }>(
    'SELECT DISTINCT payment_id FROM ledger.transfers WHERE payment_id IS NOT NULL ORDER BY payment_id LIMIT $1',
    [payments_checked_max + 1],
  );
  const ids = rows.slice(0, payments_checked_max).map((r) => r.payment_id);
  let checked = 0;
  let running = 0;
  let unknown = 0;
  for (const payment_id of ids) {
    let problem: string | null = null;
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const state = await paymentState(payment_id);
      if (!state) {
        unknown += 1;
        break;
      }
      if (!isTerminal(state.status)) {
        running += 1;
        break;
      }
      problem = comparePaymentWithTransfers(state, await ledger.getPaymentTransfers(payment_id));
      if (problem === null) break;
    }
    if (problem !== null) violate('payments', problem);
    checked += 1;
  }
  const left = [
    running > 0 ? `${running} still running` : '',
    unknown > 0 ? `${unknown} not payments (no workflow: credit lines, settlement)` : '',
    rows.length > payments_checked_max ? `stopped at ${payments_checked_max}` : '',
  ].filter(Boolean);
  return { checked: checked - running - unknown, ...(left.length > 0 ? { note: `not compared: ${left.join(', ')}` } : {}) };
}

export function formatVerifyReport(report: VerifyReport): string {
  const lines = [`ledger: ${report.accounts} accounts, ${report.transfers} transfers`];
  for (const c of report.currencies) {
    lines.push(
      `  ${c.currency}: posted debits ${c.debits_posted} / credits ${c.credits_posted}; pending debits ${c.debits_pending} / credits ${c.credits_pending}`,
    );
  }
  for (const c of report.checks) {
    const status = c.checked === null ? 'NOT CHECKED' : c.violations === 0 ? 'OK' : `${c.violations} VIOLATED`;
    const count = c.checked === null ? '' : ` (${c.checked} ${c.unit})`;
    lines.push(`[${c.invariant}] ${c.what}: ${status}${count}${c.note ? `; ${c.note}` : ''}`);
  }
  if (report.ok) {
    lines.push('invariants: OK');
  } else {
    lines.push(`invariants violated: ${report.violations.length}${report.violations.length >= VIOLATIONS_LISTED_MAX ? '+' : ''}`);
    for (const v of report.violations) lines.push(`  [${v.invariant}] ${v.detail}`);
  }
  return lines.join('\n');
}
