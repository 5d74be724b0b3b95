// Billing statements, computed from the ledger alone, and their event record. A statement sums the
// company's transfers (on its credit line and its billing receivable) whose created_at lies in
// [window_start, window_end), once the commit-order cut-off has passed (src/ledger/cutoff.ts, the
// same rule as network settlement cycles). Every write is idempotent: closing a cycle again
// returns the statement stored first; recording an event again (same key) writes nothing.
import { AccountCode, AccountFlags, TransferCode, TransferFlags, isSuccess } from '../domain/ledger.js';
import type { Currency } from '../domain/money.js';
import {
  BILLING_EVENT_TYPES,
  minimumDueMinor,
  statementIdOf,
  type BillingEventType,
  type CloseStatementRequest,
  type Statement,
  type StatementEventRecord,
  type StatementKey,
  type StatementStatus,
  type StatementView,
} from '../domain/billing.js';
import { commitCutoff } from './cutoff.js';
import { inTransaction, type Pool, type PoolClient } from './db.js';
import { billingReceivableAccountId, creditLineAccountId } from './ids.js';
import { safeInteger, type Ledger } from './ledger.js';

/** The cycle cannot be closed yet: its cut-off has not passed. Retry later. */
export class StatementNotDueError extends Error {
  override name = 'StatementNotDueError';
}
/** The request contradicts the stored statements (another end for the same cycle, a gap). */
export class StatementConflictError extends Error {
  override name = 'StatementConflictError';
}

/** Statements listed per page, at most. */
export const STATEMENT_PAGE_SIZE_MAX = 100;
/** Events returned with a statement, at most (a statement has a dozen at most). */
const EVENTS_LISTED_MAX = 200;

const POSTED = `t.flags & ${TransferFlags.pending | TransferFlags.void_pending} = 0`;
const CARD_CHARGE_CODES = [TransferCode.card_clearing, TransferCode.card_force_post, TransferCode.card_over_clearing];
const REFUND_CODES = [TransferCode.card_refund, TransferCode.payout_reversal];

/**
 * The signed sums of a company's posted transfers in a time range: positive amounts are what it
 * owes (debits of its accounts), negative what it was given back. Credit-line grants are not
 * debt. The one definition of "owed", used to close statements and by the verifier.
 */
export const OWED_SQL = `
  SELECT coalesce(sum(CASE WHEN t.debit_account_id = ANY($1::uuid[]) THEN t.amount ELSE -t.amount END), 0)::text AS owed,
         coalesce(sum(t.amount) FILTER (WHERE t.debit_account_id = ANY($1::uuid[]) AND t.code = ANY($4::int[])), 0)::text AS card_charges,
         coalesce(sum(t.amount) FILTER (WHERE t.credit_account_id = ANY($1::uuid[]) AND t.code = ANY($5::int[])), 0)::text AS refunds,
         coalesce(sum(t.amount) FILTER (WHERE t.debit_account_id = ANY($1::uuid[]) AND t.code = ${TransferCode.payout_posting}), 0)::text AS payouts,
         coalesce(sum(t.amount) FILTER (WHERE t.debit_account_id = ANY($1::uuid[]) AND t.code = ${TransferCode.billing_late_fee}), 0)::text AS fees,
         coalesce(sum(t.amount) FILTER (WHERE t.credit_account_id = ANY($1::uuid[]) AND t.code = ${TransferCode.billing_repayment}), 0)::text AS repayments,
         coalesce(sum(t.amount) FILTER (WHERE t.debit_account_id = ANY($1::uuid[]) AND t.code = ${TransferCode.billing_repayment_return}), 0)::text AS returned,
         count(*)::int AS transfers
    FROM ledger.transfers t
   WHERE (t.debit_account_id = ANY($1::uuid[]) OR t.credit_account_id = ANY($1::uuid[]))
     AND NOT (t.debit_account_id = ANY($1::uuid[]) AND t.credit_account_id = ANY($1::uuid[]))
     AND ${POSTED} AND t.code <> ${TransferCode.credit_line_grant}
     AND t.created_at >= $2 AND t.created_at < $3`;
export const OWED_SQL_CODES = [CARD_CHARGE_CODES, REFUND_CODES];

interface OwedRow {
  owed: string;
  card_charges: string;
  refunds: string;
  payouts: string;
  fees: string;
  repayments: string;
  returned: string;
  transfers: number;
}

/** The company's two billed accounts in a currency. */
export function billedAccounts(company_id: string, currency: Currency): { credit_line: string; receivable: string } {
  return { credit_line: creditLineAccountId(company_id, currency), receivable: billingReceivableAccountId(company_id, currency) };
}

/** Creates the company's billing receivable if missing (no limit flags: dunning can always charge it). */
export async function ensureBillingReceivable(ledger: Ledger, company_id: string, currency: Currency): Promise<string> {
  const id = billingReceivableAccountId(company_id, currency);
  const [result] = await ledger.createAccounts([{ id, currency, code: AccountCode.company_billing_receivable, flags: AccountFlags.none }]);
  if (!result || !isSuccess(result.result)) throw new Error(`billing receivable ${id}: ${result?.result}`);
  return id;
}

interface StatementRow {
  company_id: string;
  currency: string;
  cycle_number: number;
  credit_line_account_id: string;
  receivable_account_id: string;
  window_start: Date;
  window_end: Date;
  opening_balance_minor: string;
  card_charges_minor: string;
  refunds_minor: string;
  payouts_minor: string;
  fees_minor: string;
  repayments_minor: string;
  returned_repayments_minor: string;
  other_minor: string;
  closing_balance_minor: string;
  minimum_due_minor: string;
  due_at: Date;
  transfers: number;
  created_at: Date;
}

const STATEMENT_COLUMNS = `company_id, currency, cycle_number, credit_line_account_id, receivable_account_id, window_start, window_end,
  opening_balance_minor, card_charges_minor, refunds_minor, payouts_minor, fees_minor, repayments_minor,
  returned_repayments_minor, other_minor, closing_balance_minor, minimum_due_minor, due_at, transfers, created_at`;

function toStatement(row: StatementRow): Statement {
  const m = (v: string, what: string) => safeInteger(v, what);
  const currency = row.currency as Currency;
  return {
    statement_id: statementIdOf(row.company_id, currency, row.cycle_number),
    company_id: row.company_id,
    currency,
    cycle_number: row.cycle_number,
    credit_line_account_id: row.credit_line_account_id,
    receivable_account_id: row.receivable_account_id,
    window_start: row.window_start.toISOString(),
    window_end: row.window_end.toISOString(),
    opening_balance_minor: m(row.opening_balance_minor, 'opening_balance_minor'),
    card_charges_minor: m(row.card_charges_minor, 'card_charges_minor'),
    refunds_minor: m(row.refunds_minor, 'refunds_minor'),
    payouts_minor: m(row.payouts_minor, 'payouts_minor'),
    fees_minor: m(row.fees_minor, 'fees_minor'),
    repayments_minor: m(row.repayments_minor, 'repayments_minor'),
    returned_repayments_minor: m(row.returned_repayments_minor, 'returned_repayments_minor'),
    other_minor: m(row.other_minor, 'other_minor'),
    closing_balance_minor: m(row.closing_balance_minor, 'closing_balance_minor'),
    minimum_due_minor: m(row.minimum_due_minor, 'minimum_due_minor'),
    due_at: row.due_at.toISOString(),
    transfers: row.transfers,
    created_at: row.created_at.toISOString(),
  };
}

export interface StatementEventInput extends StatementKey {
  event_key: string;
  type: BillingEventType;
  status: StatementStatus;
  paid_minor: number;
  detail: string;
}

export interface StatementStore {
  /** Closes the cycle into its statement, or returns the one closed before. */
  close(request: CloseStatementRequest): Promise<Statement>;
  get(key: StatementKey): Promise<StatementView | null>;
  /** A company's statements, newest first; `before_cycle` pages. */
  list(
    filter: { company_id: string; currency?: Currency | undefined },
    page: { limit: number; before_cycle?: number | undefined },
  ): Promise<StatementView[]>;
  /** Appends an event (once per event_key; a repeat returns false). */
  recordEvent(event: StatementEventInput): Promise<boolean>;
  /** Repaid on the company's accounts at or after `since` (repayments less returned ones). */
  repaidSince(company_id: string, currency: Currency, since: string): Promise<number>;
}

export function createStatementStore(pool: Pool): StatementStore {
  async function read(client: Pool | PoolClient, key: StatementKey): Promise<Statement | null> {
    const { rows } = await client.query<StatementRow>(
      `SELECT ${STATEMENT_COLUMNS} FROM billing.statements WHERE company_id = $1 AND currency = $2 AND cycle_number = $3`,
      [key.company_id, key.currency, key.cycle_number],
    );
    return rows[0] ? toStatement(rows[0]) : null;
  }

  async function withEvents(statements: Statement[]): Promise<StatementView[]> {
    if (statements.length === 0) return [];
    const { rows } = await pool.query<{
      company_id: string;
      currency: string;
      cycle_number: number;
      seq: number;
      type: BillingEventType;
      status: StatementStatus;
      paid_minor: string;
      detail: string;
      at: Date;
    }>(
      `SELECT e.company_id, e.currency, e.cycle_number, e.seq, e.type, e.status, e.paid_minor::text, e.detail, e.at
         FROM billing.statement_events e
         JOIN unnest($1::text[], $2::text[], $3::int[]) AS k(company_id, currency, cycle_number)
           ON k.company_id = e.company_id AND k.currency = e.currency AND k.cycle_number = e.cycle_number
        ORDER BY e.cycle_number, e.seq
        LIMIT $4`,
      [
        statements.map((s) => s.company_id),
        statements.map((s) => s.currency),
        statements.map((s) => s.cycle_number),
        EVENTS_LISTED_MAX * statements.length,
      ],
    );
    return statements.map((s) => {
      const events: StatementEventRecord[] = rows
        .filter((r) => r.company_id === s.company_id && r.currency === s.currency && r.cycle_number === s.cycle_number)
        .map((r) => ({
          seq: r.seq,
          type: r.type,
          status: r.status,
          paid_minor: safeInteger(r.paid_minor, 'paid_minor'),
          detail: r.detail,
          at: r.at.toISOString(),
        }));
      const last = events.at(-1);
      return { ...s, status: last?.status ?? 'OPEN', paid_minor: last?.paid_minor ?? 0, events };
    });
  }

  async function close(request: CloseStatementRequest): Promise<Statement> {
    const window_end = new Date(request.window_end);
    const due_at = new Date(request.due_at);
    if (!(due_at >= window_end)) throw new StatementConflictError(`due_at ${request.due_at} is before the close ${request.window_end}`);
    const accounts = billedAccounts(request.company_id, request.currency);
    return inTransaction(pool, async (client) => {
      // One closer per company and currency at a time: the chain is read and extended under it.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`billing.statements:${request.company_id}:${request.currency}`]);
      const existing = await read(client, request);
      if (existing) {
        if (existing.window_end !== window_end.toISOString()) {
          throw new StatementConflictError(
            `statement ${existing.statement_id} closed at ${existing.window_end}, not ${window_end.toISOString()}`,
          );
        }
        return existing;
      }
      let window_start = new Date(request.billing_start);
      let previous_window_end: Date | null = null;
      let previous_closing: string | null = null;
      if (request.cycle_number > 1) {
        const previous = await read(client, { ...request, cycle_number: request.cycle_number - 1 });
        if (!previous) {
          throw new StatementConflictError(
            `statement ${statementIdOf(request.company_id, request.currency, request.cycle_number)} needs cycle ${request.cycle_number - 1} closed first`,
          );
        }
        window_start = new Date(previous.window_end);
        previous_window_end = window_start;
        previous_closing = String(previous.closing_balance_minor);
      }
      if (!(window_end > window_start)) {
        throw new StatementConflictError(`statement window ${window_start.toISOString()} .. ${window_end.toISOString()} is empty`);
      }
      const cutoff = await commitCutoff(client, window_end, request.lag_ms);
      if (!cutoff.passed) {
        throw new StatementNotDueError(
          cutoff.reason === 'clock_before_cutoff'
            ? `statement closes at ${window_end.toISOString()} + ${request.lag_ms} ms; the database clock says ${cutoff.db_now.toISOString()}`
            : `${cutoff.open_before_cutoff} transaction(s) started before the statement's cut-off are still open`,
        );
      }
      const ids = [accounts.credit_line, accounts.receivable];
      const sum = async (from: Date, to: Date) => (await client.query<OwedRow>(OWED_SQL, [ids, from, to, ...OWED_SQL_CODES])).rows[0]!;
      // The opening balance is what the ledger says was owed at the window's start; for a later
      // cycle it must equal the previous closing balance (the verifier checks the chain too).
      const opening = (await sum(new Date(0), window_start)).owed;
      if (previous_closing !== null && opening !== previous_closing) {
        throw new StatementConflictError(`opening balance ${opening} differs from the previous closing balance ${previous_closing}`);
      }
      const w = await sum(window_start, window_end);
      const categorised =
        BigInt(w.card_charges) + BigInt(w.payouts) + BigInt(w.fees) + BigInt(w.returned) - BigInt(w.refunds) - BigInt(w.repayments);
      const other = BigInt(w.owed) - categorised;
      const closing = BigInt(opening) + BigInt(w.owed);
      const closing_minor = safeInteger(closing.toString(), 'closing_balance_minor');
      const minimum = minimumDueMinor(closing_minor, request);
      await client.query(
        `INSERT INTO billing.statements (${STATEMENT_COLUMNS.replace(', created_at', '')}, previous_window_end)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint, $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14::bigint,
                 $15::bigint, $16::bigint, $17::bigint, $18, $19, $20)`,
        [
          request.company_id,
          request.currency,
          request.cycle_number,
          accounts.credit_line,
          accounts.receivable,
          window_start,
          window_end,
          opening,
          w.card_charges,
          w.refunds,
          w.payouts,
          w.fees,
          w.repayments,
          w.returned,
          other.toString(),
          closing.toString(),
          minimum,
          due_at,
          w.transfers,
          previous_window_end,
        ],
      );
      return (await read(client, request))!;
    });
  }

  async function get(key: StatementKey): Promise<StatementView | null> {
    const statement = await read(pool, key);
    return statement ? ((await withEvents([statement]))[0] ?? null) : null;
  }

  async function list(
    filter: { company_id: string; currency?: Currency | undefined },
    page: { limit: number; before_cycle?: number | undefined },
  ): Promise<StatementView[]> {
    if (!(Number.isSafeInteger(page.limit) && page.limit >= 1 && page.limit <= STATEMENT_PAGE_SIZE_MAX)) {
      throw new Error(`limit must be 1..${STATEMENT_PAGE_SIZE_MAX}, got ${page.limit}`);
    }
    const { rows } = await pool.query<StatementRow>(
      `SELECT ${STATEMENT_COLUMNS} FROM billing.statements
        WHERE company_id = $1 AND ($2::text IS NULL OR currency = $2) AND ($3::int IS NULL OR cycle_number < $3)
        ORDER BY cycle_number DESC, currency LIMIT $4`,
      [filter.company_id, filter.currency ?? null, page.before_cycle ?? null, page.limit],
    );
    return withEvents(rows.map(toStatement));
  }

  async function recordEvent(event: StatementEventInput): Promise<boolean> {
    if (!(BILLING_EVENT_TYPES as readonly string[]).includes(event.type)) throw new Error(`unknown billing event type ${event.type}`);
    // seq: the next number of this statement's events, taken under the statement's row lock.
    return inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `billing.events:${statementIdOf(event.company_id, event.currency, event.cycle_number)}`,
      ]);
      const { rowCount } = await client.query(
        `INSERT INTO billing.statement_events (company_id, currency, cycle_number, event_key, seq, type, status, paid_minor, detail)
         SELECT $1, $2, $3, $4, coalesce(max(seq), 0) + 1, $5, $6, $7, $8
           FROM billing.statement_events WHERE company_id = $1 AND currency = $2 AND cycle_number = $3
         ON CONFLICT (company_id, currency, cycle_number, event_key) DO NOTHING`,
        [
          event.company_id,
          event.currency,
          event.cycle_number,
          event.event_key,
          event.type,
          event.status,
          event.paid_minor,
          event.detail.slice(0, 500),
        ],
      );
      return rowCount === 1;
    });
  }

  async function repaidSince(company_id: string, currency: Currency, since: string): Promise<number> {
    const accounts = billedAccounts(company_id, currency);
    const { rows } = await pool.query<OwedRow>(OWED_SQL, [
      [accounts.credit_line, accounts.receivable],
      new Date(since),
      new Date('9999-12-31T00:00:00Z'),
      ...OWED_SQL_CODES,
    ]);
    const r = rows[0]!;
    return safeInteger((BigInt(r.repayments) - BigInt(r.returned)).toString(), 'repaid_minor');
  }

  return { close, get, list, recordEvent, repaidSince };
}
