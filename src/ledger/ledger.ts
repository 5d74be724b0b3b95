// The posting engine: double entry, two phase, idempotent by transfer id, one database
// transaction per batch. Semantics follow TigerBeetle's create_accounts / create_transfers.
//
// A batch runs in two round trips: (1) BEGIN, lock the limit accounts it touches (those its
// transfers name and those of the pending transfers they resolve) in ascending id order, so
// concurrent batches never deadlock, read the hot accounts without a lock, and read the transfers
// and refusals it depends on after the locks were granted; then decide every transfer in memory,
// in order; (2) write the new transfers, the refused ids, one counter UPDATE per limit account and
// one bucket delta per hot account, check, and COMMIT. Either all of it commits or none. Each
// round trip's statements run inside one database function (ledger.batch_read, ledger.batch_write:
// migration 1764000000012), planned once per session rather than for every batch.
import assert from 'node:assert/strict';
import { z } from 'zod';
import { AMOUNT_MINOR_MAX, ledgerCurrencySchema, type Currency, type LedgerCurrency } from '../domain/money.js';
import { paymentIdSchema } from '../domain/payment.js';
import { describeIssue } from '../domain/validation.js';
import {
  ACCOUNT_FLAGS_ALL,
  LIMIT_FLAGS,
  type CloseAccountResult,
  AccountFlags,
  RESULTS_RECORDED_AS_FAILED,
  TRANSFER_FLAGS_ALL,
  TransferFlags,
  isSuccess,
  type AccountResult,
  type TransferResult,
} from '../domain/ledger.js';
import type { QueryResult } from 'pg';
import { LedgerInputError } from './errors.js';
import { sqlArray, sqlColumn } from './sql-array.js';
import { RetryTransaction, inTransaction, isRetryableTransactionError, type Pool, type PoolClient } from './db.js';

/** Largest batch accepted in one call (TigerBeetle's is 8190; ours bounds one SQL statement). */
export const BATCH_SIZE_MAX = 1000;
/** How often a batch is re-run after a deadlock, serialization failure or id race. */
export const TRANSACTION_ATTEMPTS_MAX = 5;
/** Postgres bigint ceiling: a counter above it is refused as `overflows`. */
const COUNTER_MAX = 9_223_372_036_854_775_807n;

export { LedgerInputError };

/** UUIDs are canonical (lowercase) from the boundary in: Postgres prints them lowercase, and the
 * engine matches ids as strings (an uppercase retry would miss its `exists`). */
const uuid = z.uuid({ error: 'must be a UUID' }).transform((id) => id.toLowerCase());
/** Ids passed to a read: lowercased; a malformed one simply matches nothing. */
const canonicalIds = (ids: readonly string[]) => ids.map((id) => id.toLowerCase());
const code = z.number().int().min(1).max(65535);

export const accountInputSchema = z.strictObject({
  id: uuid,
  currency: ledgerCurrencySchema,
  code,
  flags: z.number().int().min(0).max(ACCOUNT_FLAGS_ALL).default(0),
});
export type AccountInput = z.input<typeof accountInputSchema>;

const RESOLUTION_FLAGS = TransferFlags.post_pending | TransferFlags.void_pending;
const KIND_FLAGS = TransferFlags.pending | RESOLUTION_FLAGS;

export const transferInputSchema = z
  .strictObject({
    id: uuid,
    debit_account_id: uuid.optional(),
    credit_account_id: uuid.optional(),
    /** Minor units. Zero or negative is answered `amount_must_be_positive`, not thrown. For a post
     * it defaults to the whole pending amount; for a void it is omitted, 0, or exactly the pending
     * amount (anything else: `pending_transfer_has_different_amount`). */
    amount_minor: z
      .number({ error: 'must be a number of minor units' })
      .int({ error: 'must be an integer number of minor units' })
      .min(-AMOUNT_MINOR_MAX)
      .max(AMOUNT_MINOR_MAX, { error: `must be at most ${AMOUNT_MINOR_MAX}` })
      .optional(),
    currency: ledgerCurrencySchema.optional(),
    code,
    flags: z.number().int().min(0).max(TRANSFER_FLAGS_ALL).default(0),
    pending_id: uuid.optional(),
    // No timeout_s: the engine does not expire pending transfers (card sagas expire their holds
    // with durable timers), so it does not accept a field it would not honour.
    payment_id: paymentIdSchema.optional(),
  })
  // The whole shape is checked here, by the schema the batcher also parses each caller with, so a
  // malformed request is refused alone before it joins a batch (not inside the batch's call).
  .superRefine((t, ctx) => {
    if ((t.flags & RESOLUTION_FLAGS) !== 0) return;
    for (const field of ['debit_account_id', 'credit_account_id', 'amount_minor', 'currency'] as const) {
      if (t[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: 'required for a transfer that is not a post or void' });
    }
  });
export type TransferInput = z.input<typeof transferInputSchema>;
/** A transfer that passed transferInputSchema (defaults filled in). */
export type TransferRequest = z.output<typeof transferInputSchema>;

export interface Account {
  id: string;
  currency: LedgerCurrency;
  code: number;
  flags: number;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  created_at: Date;
}

/** What a batch decides with: an account without its creation time (not needed, not parsed). */
type AccountState = Omit<Account, 'created_at'>;

export interface Transfer {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount_minor: number;
  currency: LedgerCurrency;
  code: number;
  flags: number;
  pending_id: string | null;
  payment_id: string | null;
  created_at: Date | null;
}

export interface TransferOutcome {
  id: string;
  result: TransferResult;
  /** For `id_already_failed`: the result of the first, refused attempt. */
  first_result?: string;
  /** The transfer as stored, for `created` and `exists`. */
  transfer?: Transfer;
}

export interface Balance {
  account_id: string;
  currency: LedgerCurrency;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  /** credits posted - debits posted. */
  posted: bigint;
  /** credits pending - debits pending (negative while the account has holds on it). */
  pending: bigint;
  /** For a credit line: credits posted - debits posted - debits pending (what may still be spent). */
  available: bigint;
  /** The account was closed (closeAccount). */
  closed: boolean;
}

function parseBatch<S extends z.ZodType>(schema: S, items: unknown[], what: string): z.output<S>[] {
  if (!Array.isArray(items)) throw new LedgerInputError(`${what}: expected an array`);
  if (items.length === 0) throw new LedgerInputError(`${what}: batch is empty`);
  if (items.length > BATCH_SIZE_MAX) {
    throw new LedgerInputError(`${what}: batch of ${items.length} is over the limit of ${BATCH_SIZE_MAX}`);
  }
  return items.map((item, index) => {
    const parsed = schema.safeParse(item);
    if (!parsed.success) {
      throw new LedgerInputError(describeIssue(parsed.error, `${what}[${index}].`));
    }
    return parsed.data;
  });
}

interface AccountRow {
  id: string;
  currency: string;
  code: number;
  flags: number;
  debits_pending: string;
  debits_posted: string;
  credits_pending: string;
  credits_posted: string;
  created_at: Date;
}

interface TransferRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  currency: string;
  code: number;
  flags: number;
  pending_id: string | null;
  timeout_s: number;
  payment_id: string | null;
  created_at: Date;
}

/** What ledger.batch_read returns (one JSON value; counters as text, since they may exceed 2^53). */
interface BatchReads {
  locked: AccountStateRow[];
  hot: AccountStateRow[];
  known: TransferJson[];
  resolutions: TransferJson[];
  failures: Array<{ id: string; result: string }>;
}

/** A transfer row as json_agg renders it: numbers for integers, ISO strings for times. */
type TransferJson = Omit<TransferRow, 'amount' | 'created_at'> & { amount: number; created_at: string };

function fromJson(row: TransferJson): Transfer {
  return toTransfer({ ...row, amount: String(row.amount), created_at: new Date(row.created_at) });
}

type AccountStateRow = Omit<AccountRow, 'created_at'>;

function toAccountState(row: AccountStateRow): AccountState {
  return {
    id: row.id,
    currency: row.currency as LedgerCurrency,
    code: row.code,
    flags: row.flags,
    debits_pending: BigInt(row.debits_pending),
    debits_posted: BigInt(row.debits_posted),
    credits_pending: BigInt(row.credits_pending),
    credits_posted: BigInt(row.credits_posted),
  };
}

function toAccount(row: AccountRow): Account {
  return { ...toAccountState(row), created_at: row.created_at };
}

/** A bigint column as a JS number, refused if it does not fit exactly. */
export function safeInteger(value: string | number | bigint, what: string): number {
  const n = Number(value);
  assert(Number.isSafeInteger(n) && BigInt(value) === BigInt(n), `${what}: ${String(value)} is not a safe integer`);
  return n;
}

function toTransfer(row: TransferRow): Transfer {
  return {
    id: row.id,
    debit_account_id: row.debit_account_id,
    credit_account_id: row.credit_account_id,
    amount_minor: safeInteger(row.amount, `transfer ${row.id} amount`),
    currency: row.currency as LedgerCurrency,
    code: row.code,
    flags: row.flags,
    pending_id: row.pending_id,
    payment_id: row.payment_id,
    created_at: row.created_at,
  };
}

/** The in-memory state one batch decides against; everything it changes is written at the end. */
class BatchState {
  readonly created: Transfer[] = [];
  readonly failed = new Map<string, TransferResult>();
  private readonly undo: Array<() => void> = [];

  constructor(
    readonly accounts: Map<string, AccountState>,
    readonly transfers: Map<string, Transfer>,
    /** pending id -> the transfer that resolved it */
    readonly resolutions: Map<string, Transfer>,
    readonly failedBefore: Map<string, string>,
  ) {}

  mark(): number {
    return this.undo.length;
  }

  rollbackTo(mark: number): void {
    while (this.undo.length > mark) this.undo.pop()!();
  }

  adjust(account: AccountState, field: 'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted', delta: bigint): void {
    account[field] += delta;
    this.undo.push(() => {
      account[field] -= delta;
    });
  }

  add(transfer: Transfer): void {
    this.transfers.set(transfer.id, transfer);
    this.created.push(transfer);
    if (transfer.pending_id !== null) this.resolutions.set(transfer.pending_id, transfer);
    this.undo.push(() => {
      this.transfers.delete(transfer.id);
      this.created.pop();
      if (transfer.pending_id !== null) this.resolutions.delete(transfer.pending_id);
    });
  }
}

function compareExisting(t: TransferRequest, stored: Transfer): TransferResult {
  if (t.flags !== stored.flags) return 'exists_with_different_flags';
  if ((t.pending_id ?? null) !== stored.pending_id) return 'exists_with_different_pending_id';
  if (t.debit_account_id !== undefined && t.debit_account_id !== stored.debit_account_id) {
    return 'exists_with_different_debit_account_id';
  }
  if (t.credit_account_id !== undefined && t.credit_account_id !== stored.credit_account_id) {
    return 'exists_with_different_credit_account_id';
  }
  // A void stores the pending amount it released; its request may say 0 for the same thing.
  const voidOfWhole = (t.flags & TransferFlags.void_pending) !== 0 && t.amount_minor === 0;
  if (t.amount_minor !== undefined && !voidOfWhole && t.amount_minor !== stored.amount_minor) return 'exists_with_different_amount';
  if (t.currency !== undefined && t.currency !== stored.currency) return 'exists_with_different_currency';
  if (t.code !== stored.code) return 'exists_with_different_code';
  if (t.payment_id !== undefined && t.payment_id !== stored.payment_id) return 'exists_with_different_payment_id';
  return 'exists';
}

function exceedsLimits(account: AccountState): 'exceeds_credits' | 'exceeds_debits' | null {
  if (
    account.flags & AccountFlags.debits_must_not_exceed_credits &&
    account.debits_pending + account.debits_posted > account.credits_posted
  ) {
    return 'exceeds_credits';
  }
  if (
    account.flags & AccountFlags.credits_must_not_exceed_debits &&
    account.credits_pending + account.credits_posted > account.debits_posted
  ) {
    return 'exceeds_debits';
  }
  return null;
}

function overflows(...accounts: AccountState[]): boolean {
  return accounts.some(
    (a) =>
      a.debits_pending > COUNTER_MAX ||
      a.debits_posted > COUNTER_MAX ||
      a.credits_pending > COUNTER_MAX ||
      a.credits_posted > COUNTER_MAX ||
      a.debits_pending + a.debits_posted > COUNTER_MAX ||
      a.credits_pending + a.credits_posted > COUNTER_MAX,
  );
}

/** Decides one transfer against the batch state; mutates the state only when it succeeds. */
function decide(t: TransferRequest, state: BatchState): Omit<TransferOutcome, 'id'> {
  const stored = state.transfers.get(t.id);
  if (stored) {
    const result = compareExisting(t, stored);
    return result === 'exists' ? { result, transfer: stored } : { result };
  }
  const firstResult = state.failed.get(t.id) ?? state.failedBefore.get(t.id);
  if (firstResult !== undefined) return { result: 'id_already_failed', first_result: firstResult };

  const kind = t.flags & KIND_FLAGS;
  if (kind !== 0 && kind !== TransferFlags.pending && kind !== TransferFlags.post_pending && kind !== TransferFlags.void_pending) {
    return { result: 'flags_are_mutually_exclusive' };
  }
  return kind & RESOLUTION_FLAGS ? decideResolution(t, kind, state) : decideNew(t, kind, state);
}

/** A post or void of a pending transfer. */
function decideResolution(t: TransferRequest, kind: number, state: BatchState): Omit<TransferOutcome, 'id'> {
  const mark = state.mark();
  if (t.pending_id === undefined) return { result: 'pending_id_required' };
  if (t.pending_id === t.id) return { result: 'pending_id_must_be_different' };
  const pending = state.transfers.get(t.pending_id);
  if (!pending) return { result: 'pending_transfer_not_found' };
  if (!(pending.flags & TransferFlags.pending)) return { result: 'pending_transfer_not_pending' };
  if (t.debit_account_id !== undefined && t.debit_account_id !== pending.debit_account_id) {
    return { result: 'pending_transfer_has_different_debit_account_id' };
  }
  if (t.credit_account_id !== undefined && t.credit_account_id !== pending.credit_account_id) {
    return { result: 'pending_transfer_has_different_credit_account_id' };
  }
  if (t.currency !== undefined && t.currency !== pending.currency) return { result: 'currency_mismatch' };
  const resolvedBy = state.resolutions.get(pending.id);
  if (resolvedBy) {
    return {
      result: resolvedBy.flags & TransferFlags.post_pending ? 'pending_transfer_already_posted' : 'pending_transfer_already_voided',
    };
  }
  const isPost = kind === TransferFlags.post_pending;
  const amount = isPost ? (t.amount_minor ?? pending.amount_minor) : pending.amount_minor;
  if (isPost) {
    if (t.amount_minor !== undefined && t.amount_minor <= 0) return { result: 'amount_must_be_positive' };
    if (t.amount_minor !== undefined && t.amount_minor > pending.amount_minor) return { result: 'exceeds_pending_transfer_amount' };
  } else if (t.amount_minor !== undefined && t.amount_minor !== 0 && t.amount_minor !== pending.amount_minor) {
    // TigerBeetle: a void names no amount (0) or exactly the amount it releases.
    return { result: 'pending_transfer_has_different_amount' };
  }
  const debit = state.accounts.get(pending.debit_account_id)!;
  const credit = state.accounts.get(pending.credit_account_id)!;
  // A void is always allowed, so that a closed account's holds can still be released.
  if (isPost && (debit.flags & AccountFlags.closed || credit.flags & AccountFlags.closed)) {
    return { result: 'account_closed' };
  }
  const held = BigInt(pending.amount_minor);
  state.adjust(debit, 'debits_pending', -held);
  state.adjust(credit, 'credits_pending', -held);
  if (isPost) {
    state.adjust(debit, 'debits_posted', BigInt(amount));
    state.adjust(credit, 'credits_posted', BigInt(amount));
    if (overflows(debit, credit)) {
      state.rollbackTo(mark);
      return { result: 'overflows' };
    }
  }
  const transfer: Transfer = {
    id: t.id,
    debit_account_id: pending.debit_account_id,
    credit_account_id: pending.credit_account_id,
    amount_minor: amount,
    currency: pending.currency,
    code: t.code,
    flags: t.flags,
    pending_id: pending.id,
    payment_id: t.payment_id ?? pending.payment_id,
    created_at: null,
  };
  state.add(transfer);
  return { result: 'created', transfer };
}

/** A new transfer: single-phase, or pending (a hold). */
function decideNew(t: TransferRequest, kind: number, state: BatchState): Omit<TransferOutcome, 'id'> {
  const mark = state.mark();
  if (t.pending_id !== undefined) return { result: 'pending_id_must_be_empty' };
  if (t.debit_account_id === undefined || t.credit_account_id === undefined || t.amount_minor === undefined || t.currency === undefined) {
    // Caught by validation before any transaction starts; kept so the types need no assertions.
    throw new LedgerInputError(`transfer ${t.id}: debit_account_id, credit_account_id, amount_minor and currency are required`);
  }
  if (t.amount_minor <= 0) return { result: 'amount_must_be_positive' };
  if (t.debit_account_id === t.credit_account_id) return { result: 'accounts_must_be_different' };
  const debit = state.accounts.get(t.debit_account_id);
  if (!debit) return { result: 'debit_account_not_found' };
  const credit = state.accounts.get(t.credit_account_id);
  if (!credit) return { result: 'credit_account_not_found' };
  if (debit.currency !== t.currency || credit.currency !== t.currency) return { result: 'currency_mismatch' };
  if (debit.flags & AccountFlags.closed || credit.flags & AccountFlags.closed) return { result: 'account_closed' };

  const amount = BigInt(t.amount_minor);
  const isPending = kind === TransferFlags.pending;
  state.adjust(debit, isPending ? 'debits_pending' : 'debits_posted', amount);
  state.adjust(credit, isPending ? 'credits_pending' : 'credits_posted', amount);
  const refusal = overflows(debit, credit) ? 'overflows' : (exceedsLimits(debit) ?? exceedsLimits(credit));
  if (refusal) {
    state.rollbackTo(mark);
    return { result: refusal };
  }
  const transfer: Transfer = {
    id: t.id,
    debit_account_id: t.debit_account_id,
    credit_account_id: t.credit_account_id,
    amount_minor: t.amount_minor,
    currency: t.currency,
    code: t.code,
    flags: t.flags,
    pending_id: null,
    payment_id: t.payment_id ?? null,
    created_at: null,
  };
  state.add(transfer);
  return { result: 'created', transfer };
}

/** Hot accounts' changes as deltas, sorted by account id so that two batches sharing a bucket
 * lock its rows in the same order. */
function hotDeltas(changed: AccountState[], hot: Set<string>, before: Map<string, AccountState>) {
  return changed
    .filter((a) => hot.has(a.id))
    .sort((x, y) => (x.id < y.id ? -1 : 1))
    .map((a) => {
      const b = before.get(a.id)!;
      return {
        id: a.id,
        debits_pending: a.debits_pending - b.debits_pending,
        debits_posted: a.debits_posted - b.debits_posted,
        credits_pending: a.credits_pending - b.credits_pending,
        credits_posted: a.credits_posted - b.credits_posted,
      };
    });
}

/** The batch's write round trip as SQL text: new transfers, refused ids, exact counters of
 * the limit accounts, summed deltas of the hot accounts into one bucket row, the check, COMMIT. */
function batchWriteSql(
  state: BatchState,
  hot: Set<string>,
  before: Map<string, AccountState>,
  changed: AccountState[],
  bucket: number,
): string {
  const c = state.created;
  const exact = changed.filter((a) => !hot.has(a.id));
  const deltas = hotDeltas(changed, hot, before);
  const counters = (rows: Array<Pick<AccountState, 'id' | 'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted'>>) =>
    [
      sqlColumn('uuid', rows, (a) => a.id),
      sqlColumn('bigint', rows, (a) => a.debits_pending),
      sqlColumn('bigint', rows, (a) => a.debits_posted),
      sqlColumn('bigint', rows, (a) => a.credits_pending),
      sqlColumn('bigint', rows, (a) => a.credits_posted),
    ].join(', ');
  const newTransfers = [
    sqlColumn('uuid', c, (t) => t.id),
    sqlColumn('uuid', c, (t) => t.debit_account_id),
    sqlColumn('uuid', c, (t) => t.credit_account_id),
    sqlColumn('bigint', c, (t) => t.amount_minor),
    sqlColumn('char(3)', c, (t) => t.currency),
    sqlColumn('int', c, (t) => t.code),
    sqlColumn('int', c, (t) => t.flags),
    sqlColumn('uuid', c, (t) => t.pending_id),
    sqlColumn('text', c, (t) => t.payment_id),
  ].join(', ');
  const refusals = `${sqlArray('uuid', [...state.failed.keys()])}, ${sqlArray('result', [...state.failed.values()])}`;
  // Every write of the batch and the COMMIT in one round trip, in one call of ledger.batch_write
  // (migration 1764000000012): new transfers, refused ids, exact account counters (absolute
  // values, rows locked by the read), hot-account deltas (added to one bucket row), and the check
  // that every decided transfer was inserted. If the check fails the call errs, the COMMIT after
  // it is never run, and the transaction rolls back. A multi-statement query takes no parameters,
  // so values are inlined; each is checked against a strict pattern first (UUIDs, integers,
  // currency codes, payment ids of their restricted alphabet, result codes), so nothing
  // free-form is ever spliced into SQL. Every row of the batch got now(), the transaction's start
  // time: the call returns it.
  return `SELECT ledger.batch_write(${bucket}, ${newTransfers}, ${refusals}, ${counters(exact)}, ${counters(deltas)}) AS created_at;
       COMMIT`;
}

/** What must hold after a batch was decided, before anything is written: one outcome per
 * request, in order; every counter non-negative and within bigint; a limit account within its
 * limit; every created transfer decided as `created`. A failure is a bug: the batch is refused. */
function assertDecided(requests: TransferRequest[], outcomes: TransferOutcome[], state: BatchState, hot: Set<string>): void {
  assert(outcomes.length === requests.length, `decided ${outcomes.length} outcomes for ${requests.length} transfers`);
  for (const [k, o] of outcomes.entries()) assert(o !== undefined && o.id === requests[k]!.id, `outcome ${k} is not for its transfer`);
  for (const a of state.accounts.values()) {
    for (const field of ['debits_pending', 'debits_posted', 'credits_pending', 'credits_posted'] as const) {
      assert(a[field] >= 0n && a[field] <= COUNTER_MAX, `account ${a.id}: ${field} ${a[field]} out of range after deciding`);
    }
    if (!hot.has(a.id)) assert(exceedsLimits(a) === null, `account ${a.id} over its limit after deciding`);
  }
  const created = outcomes.filter((o) => o.result === 'created').length;
  assert(created === state.created.length, `${created} outcomes created, ${state.created.length} transfers to write`);
}

/** Decides a whole batch in order, honouring linked chains. Pure: no I/O. */
function decideBatch(requests: TransferRequest[], state: BatchState): TransferOutcome[] {
  const outcomes: TransferOutcome[] = new Array(requests.length);
  let start = 0;
  while (start < requests.length) {
    let end = start;
    while (end < requests.length && requests[end]!.flags & TransferFlags.linked) end += 1;
    if (end === requests.length) {
      // The batch ended inside a chain: nothing of the chain may apply.
      for (let k = start; k < requests.length; k += 1) {
        outcomes[k] = { id: requests[k]!.id, result: 'linked_event_chain_open' };
      }
      break;
    }
    const mark = state.mark();
    let failedAt = -1;
    for (let k = start; k <= end; k += 1) {
      const decision = decide(requests[k]!, state);
      outcomes[k] = { id: requests[k]!.id, ...decision };
      if (!isSuccess(decision.result)) {
        failedAt = k;
        break;
      }
    }
    if (failedAt >= 0) {
      const failing = outcomes[failedAt]!;
      if (RESULTS_RECORDED_AS_FAILED.has(failing.result)) state.failed.set(failing.id, failing.result);
      if (end > start) {
        state.rollbackTo(mark);
        for (let k = start; k <= end; k += 1) {
          if (k !== failedAt) outcomes[k] = { id: requests[k]!.id, result: 'linked_event_failed' };
        }
      }
    }
    start = end + 1;
  }
  return outcomes;
}

export interface Ledger {
  createAccounts(accounts: AccountInput[]): Promise<Array<{ id: string; result: AccountResult }>>;
  createTransfers(transfers: TransferInput[]): Promise<TransferOutcome[]>;
  /** createTransfers for transfers the caller already parsed with transferInputSchema (the
   * batcher does, per caller, so that one malformed request fails alone). */
  createParsedTransfers(transfers: TransferRequest[]): Promise<TransferOutcome[]>;
  getAccounts(ids: string[]): Promise<Account[]>;
  getTransfers(ids: string[]): Promise<Transfer[]>;
  getPaymentTransfers(payment_id: string): Promise<Transfer[]>;
  getBalance(account_id: string): Promise<Balance | null>;
  /** Sets an account's `closed` flag (a company's credit line): it then refuses every transfer
   * except voids, so its holds can still be released. Only accounts with a limit flag close. */
  closeAccount(account_id: string): Promise<CloseAccountResult>;
  /** One page of a payment's or an account's transfers, oldest first. `after` is the cursor a
   * previous page returned. */
  listTransfers(
    filter: { payment_id: string } | { account_id: string },
    page: { limit: number; after?: string | undefined },
  ): Promise<TransferPage>;
  /** Remembers which company a credit-line account belongs to (idempotent). */
  recordCreditLineOwner(account_id: string, company_id: string, currency: Currency): Promise<void>;
  /** The company owning a credit-line account, or null (not a credit line, or unknown). */
  getCreditLineOwner(account_id: string): Promise<string | null>;
}

export interface TransferPage {
  transfers: Transfer[];
  /** Cursor of the next page; absent on the last one. */
  next?: string;
}

/** Largest page listTransfers returns. */
export const TRANSFER_PAGE_SIZE_MAX = 500;

export class InvalidCursorError extends LedgerInputError {}

/** A page cursor: the (tx, id) of the last transfer served. */
function encodeCursor(tx: string, id: string): string {
  return Buffer.from(JSON.stringify([tx, id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      /^\d{1,20}$/.test(value[0]) &&
      typeof value[1] === 'string' &&
      uuid.safeParse(value[1]).success
    ) {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw new InvalidCursorError('page_token: not a token this server returned');
}

/** Bucket rows per hot account: concurrent batches spread their deltas over them. */
export const HOT_ACCOUNT_BUCKETS = 16;

export interface LedgerOptions {
  /** Fault injection for tests: awaited after a batch's first round trip (its locks held) and
   * before its write round trip, as a stalled process would be. */
  betweenRoundTrips?: () => Promise<void>;
}

export function createLedger(pool: Pool, options: LedgerOptions = {}): Ledger {
  // Round robin from a random start, so that several workers rarely pick the same bucket at once.
  let bucketCursor = Math.floor(Math.random() * HOT_ACCOUNT_BUCKETS);
  const nextBucket = () => (bucketCursor = (bucketCursor + 1) % HOT_ACCOUNT_BUCKETS);

  async function createAccounts(items: AccountInput[]): Promise<Array<{ id: string; result: AccountResult }>> {
    const accounts = parseBatch(accountInputSchema, items, 'accounts');
    return inTransaction(pool, async (client) => {
      const results: Array<{ id: string; result: AccountResult }> = [];
      for (const a of accounts) {
        if ((a.flags & LIMIT_FLAGS) === LIMIT_FLAGS) {
          results.push({ id: a.id, result: 'flags_are_mutually_exclusive' });
          continue;
        }
        const inserted = await client.query(
          `INSERT INTO ledger.accounts (id, currency, code, flags) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO NOTHING RETURNING id`,
          [a.id, a.currency, a.code, a.flags],
        );
        if (inserted.rowCount === 1) {
          results.push({ id: a.id, result: 'created' });
          continue;
        }
        const { rows } = await client.query<AccountRow>('SELECT * FROM ledger.accounts WHERE id = $1', [a.id]);
        const existing = rows[0]!;
        const result: AccountResult =
          existing.currency !== a.currency
            ? 'exists_with_different_currency'
            : existing.code !== a.code
              ? 'exists_with_different_code'
              : existing.flags !== a.flags
                ? 'exists_with_different_flags'
                : 'exists';
        results.push({ id: a.id, result });
      }
      return results;
    });
  }

  /** The first round trip: BEGIN, locks, and what the batch decides against. */
  async function readBatch(
    client: PoolClient,
    requests: TransferRequest[],
  ): Promise<{ state: BatchState; hot: Set<string>; before: Map<string, AccountState> }> {
    const ids = requests.map((t) => t.id);
    const pendingIds = [...new Set(requests.flatMap((t) => (t.pending_id ? [t.pending_id] : [])))];
    const named = new Set<string>();
    for (const t of requests) {
      if (t.debit_account_id) named.add(t.debit_account_id);
      if (t.credit_account_id) named.add(t.credit_account_id);
    }
    // One round trip starts the transaction, takes the locks and reads under them, in one call
    // of ledger.batch_read (migration 1764000000012, whose statements are planned once per
    // session):
    // - The accounts are those the transfers name plus those of the pending transfers they
    //   resolve, looked up in the same call (transfers never change once written).
    // - Accounts with limit flags (credit lines) are locked, in ascending id order: every batch
    //   takes its row locks in the same global order, so batches never deadlock.
    // - Accounts without flags (hot platform accounts) are read without a lock: nothing about them
    //   is checked but overflow, and their deltas go to a bucket row (see the write below).
    // - The reads of transfers, resolutions and refusals are statements of their own, so their
    //   snapshot is taken after the locks were granted and sees every batch that committed meanwhile.
    // Values are inlined (a multi-statement query takes no parameters), quoted and checked.
    const [, readResult] = (await client.query(
      `BEGIN;
       SELECT ledger.batch_read(${sqlArray('uuid', [...named])}, ${sqlArray('uuid', pendingIds)}, ${sqlArray('uuid', ids)}) AS batch`,
    )) as unknown as [unknown, QueryResult<{ batch: BatchReads }>];
    const read = readResult.rows[0]!.batch;
    const locked = { rows: read.locked };
    const unlocked = { rows: read.hot };
    const accountIds = new Set([...locked.rows, ...unlocked.rows].map((r) => r.id));
    const transfers = new Map(read.known.map((r) => [r.id, fromJson(r)]));
    const pendingSet = new Set(pendingIds);
    for (const p of transfers.values()) {
      // A pending transfer that committed after the lock statement's snapshot touches accounts we
      // may not hold: start again rather than lock out of order.
      if (pendingSet.has(p.id) && (!accountIds.has(p.debit_account_id) || !accountIds.has(p.credit_account_id))) {
        throw new RetryTransaction(`pending transfer ${p.id} appeared while the batch waited for its locks`);
      }
    }
    // Hot accounts start from their totals (row plus buckets, read without a lock): they have no
    // limits, but their counters are checked for overflow like any other's. Only their deltas are
    // written. A batch committing meanwhile in another bucket is not seen; the bucket columns and
    // the balance view's sums are bigint, so the database still refuses a real overflow.
    const hot = new Set(unlocked.rows.map((r) => r.id));
    const accounts = new Map([...locked.rows, ...unlocked.rows].map((r) => [r.id, toAccountState(r)] as const));
    const before = new Map([...accounts.values()].map((a) => [a.id, { ...a }]));
    const state = new BatchState(
      accounts,
      transfers,
      new Map(read.resolutions.map((r) => [r.pending_id!, fromJson(r)])),
      new Map(read.failures.map((r) => [r.id, r.result])),
    );
    return { state, hot, before };
  }

  /** The second round trip: every write of the batch, then COMMIT. */
  async function writeBatch(client: PoolClient, state: BatchState, hot: Set<string>, before: Map<string, AccountState>): Promise<void> {
    const c = state.created;
    const accounts = state.accounts;
    // One write per account per batch, however many transfers touched it.
    const changed = [...accounts.values()].filter((a) => {
      const b = before.get(a.id)!;
      return (
        a.debits_pending !== b.debits_pending ||
        a.debits_posted !== b.debits_posted ||
        a.credits_pending !== b.credits_pending ||
        a.credits_posted !== b.credits_posted
      );
    });
    if (c.length === 0 && state.failed.size === 0 && changed.length === 0) {
      await client.query('COMMIT');
      return;
    }
    const [written] = (await client.query(batchWriteSql(state, hot, before, changed, nextBucket()))) as unknown as [
      QueryResult<{ created_at: Date }>,
      unknown,
    ];
    // Past this point the COMMIT was sent. Had the connection been lost before its answer arrived,
    // the outcome would be unknown (committed or not): the caller's retry (createParsedTransfers)
    // runs the batch again, and since every transfer is idempotent by id it answers `exists` for
    // what had committed, never posts it twice (test: ledger-batcher.test.ts, lost after COMMIT).
    const { created_at } = written.rows[0]!;
    for (const t of c) t.created_at = created_at;
  }

  // Round trips per batch: BEGIN + lock + read, then write + COMMIT.
  async function runBatch(client: PoolClient, requests: TransferRequest[]): Promise<TransferOutcome[]> {
    const { state, hot, before } = await readBatch(client, requests);
    const outcomes = decideBatch(requests, state);
    assertDecided(requests, outcomes, state, hot);
    if (options.betweenRoundTrips) await options.betweenRoundTrips();
    await writeBatch(client, state, hot, before);
    return outcomes;
  }

  async function createTransfers(items: TransferInput[]): Promise<TransferOutcome[]> {
    return createParsedTransfers(parseBatch(transferInputSchema, items, 'transfers'));
  }

  async function createParsedTransfers(requests: TransferRequest[]): Promise<TransferOutcome[]> {
    if (requests.length === 0 || requests.length > BATCH_SIZE_MAX) {
      throw new LedgerInputError(`transfers: a batch holds 1 to ${BATCH_SIZE_MAX} transfers, got ${requests.length}`);
    }
    for (const [index, t] of requests.entries()) {
      // A TransferRequest comes out of transferInputSchema; re-check the one rule decide() relies on.
      const incomplete = [t.debit_account_id, t.credit_account_id, t.amount_minor, t.currency].some((v) => v === undefined);
      if ((t.flags & RESOLUTION_FLAGS) === 0 && incomplete) {
        throw new LedgerInputError(`transfers[${index}]: not parsed with transferInputSchema`);
      }
    }
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await inTransaction(pool, (client) => runBatch(client, requests), {
          begin: 'in-first-statement',
          commit: 'in-last-statement',
        });
      } catch (err) {
        // A deadlock, serialization failure, id race or lock timeout rolled everything back; a lost
        // connection may have committed (COMMIT sent, answer lost). Either way running the batch
        // again is safe: what committed answers `exists`.
        if (!isRetryableTransactionError(err) || attempt >= TRANSACTION_ATTEMPTS_MAX) throw err;
      }
    }
  }

  async function getAccounts(ids: string[]): Promise<Account[]> {
    const { rows } = await pool.query<AccountRow>('SELECT * FROM ledger.account_balances WHERE id = ANY($1::uuid[]) ORDER BY id', [
      canonicalIds(ids),
    ]);
    return rows.map(toAccount);
  }

  async function getTransfers(ids: string[]): Promise<Transfer[]> {
    const wanted = canonicalIds(ids);
    const { rows } = await pool.query<TransferRow>('SELECT * FROM ledger.transfers WHERE id = ANY($1::uuid[])', [wanted]);
    const byId = new Map(rows.map((r) => [r.id, toTransfer(r)]));
    return wanted.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
  }

  async function getPaymentTransfers(payment_id: string): Promise<Transfer[]> {
    const { rows } = await pool.query<TransferRow>('SELECT * FROM ledger.transfers WHERE payment_id = $1 ORDER BY created_at, id', [
      payment_id,
    ]);
    return rows.map(toTransfer);
  }

  async function listTransfers(
    filter: { payment_id: string } | { account_id: string },
    page: { limit: number; after?: string | undefined },
  ): Promise<TransferPage> {
    if (!(Number.isInteger(page.limit) && page.limit >= 1 && page.limit <= TRANSFER_PAGE_SIZE_MAX)) {
      throw new LedgerInputError(`page size must be an integer from 1 to ${TRANSFER_PAGE_SIZE_MAX}, got ${page.limit}`);
    }
    const params: unknown[] = [];
    let where: string;
    if ('payment_id' in filter) {
      params.push(filter.payment_id);
      where = 'payment_id = $1';
    } else {
      const account_id = uuid.safeParse(filter.account_id);
      if (!account_id.success) throw new LedgerInputError('account_id: must be a UUID');
      params.push(account_id.data);
      where = '(debit_account_id = $1 OR credit_account_id = $1)';
    }
    if (page.after !== undefined) {
      const [tx, id] = decodeCursor(page.after);
      params.push(tx, id);
      where += ' AND (tx, id) > ($2::xid8, $3::uuid)';
    }
    params.push(page.limit + 1);
    // Commit order: only rows below the oldest running transaction are served (see migration
    // 1764000000011); a row held back by that horizon is served by a later page.
    const horizon = 'pg_snapshot_xmin(pg_current_snapshot())';
    const { rows } = await pool.query<TransferRow & { tx_text: string; held: boolean }>(
      `SELECT *, tx::text AS tx_text, false AS held FROM (
         SELECT * FROM ledger.transfers WHERE ${where} AND tx < ${horizon} ORDER BY tx, id LIMIT $${params.length}
       ) page
       UNION ALL
       SELECT *, tx::text, true FROM (
         SELECT * FROM ledger.transfers WHERE ${where} AND tx >= ${horizon} LIMIT 1
       ) held
       ORDER BY held, tx, id`,
      params,
    );
    const served = rows.filter((r) => !r.held);
    const heldBack = served.length < rows.length;
    const more = served.length > page.limit || heldBack;
    const shown = served.slice(0, page.limit);
    const last = shown.at(-1);
    const next = last ? encodeCursor(last.tx_text, last.id) : (page.after ?? encodeCursor('0', '00000000-0000-0000-0000-000000000000'));
    return { transfers: shown.map(toTransfer), ...(more ? { next } : {}) };
  }

  async function recordCreditLineOwner(account_id: string, company_id: string, currency: Currency): Promise<void> {
    await pool.query(
      'INSERT INTO ledger.credit_lines (account_id, company_id, currency) VALUES ($1, $2, $3) ON CONFLICT (account_id) DO NOTHING',
      [account_id.toLowerCase(), company_id, currency],
    );
  }

  async function getCreditLineOwner(account_id: string): Promise<string | null> {
    const parsed = uuid.safeParse(account_id);
    if (!parsed.success) return null;
    const { rows } = await pool.query<{ company_id: string }>('SELECT company_id FROM ledger.credit_lines WHERE account_id = $1', [
      parsed.data,
    ]);
    return rows[0]?.company_id ?? null;
  }

  async function getBalance(account_id: string): Promise<Balance | null> {
    const [account] = await getAccounts([account_id]);
    if (!account) return null;
    return balanceOf(account);
  }

  async function closeAccount(account_id: string): Promise<CloseAccountResult> {
    const parsed = uuid.safeParse(account_id);
    if (!parsed.success) throw new LedgerInputError('account_id: must be a UUID');
    // The row lock of the UPDATE orders the close with batches: one that locked the account first
    // commits before it, any later one reads the flag.
    const closed = await pool.query(
      `UPDATE ledger.accounts SET flags = flags | ${AccountFlags.closed}
        WHERE id = $1 AND flags & ${LIMIT_FLAGS} <> 0 AND flags & ${AccountFlags.closed} = 0 RETURNING id`,
      [parsed.data],
    );
    if (closed.rowCount === 1) return 'closed';
    const { rows } = await pool.query<{ flags: number }>('SELECT flags FROM ledger.accounts WHERE id = $1', [parsed.data]);
    const flags = rows[0]?.flags;
    if (flags === undefined) return 'account_not_found';
    if ((flags & LIMIT_FLAGS) === 0) return 'account_not_closable';
    assert(flags & AccountFlags.closed, `account ${parsed.data}: neither closed nor closable`);
    return 'already_closed';
  }

  return {
    closeAccount,
    createAccounts,
    createTransfers,
    createParsedTransfers,
    getAccounts,
    getTransfers,
    getPaymentTransfers,
    getBalance,
    listTransfers,
    recordCreditLineOwner,
    getCreditLineOwner,
  };
}

export function balanceOf(account: Account): Balance {
  return {
    account_id: account.id,
    currency: account.currency,
    debits_pending: account.debits_pending,
    debits_posted: account.debits_posted,
    credits_pending: account.credits_pending,
    credits_posted: account.credits_posted,
    posted: account.credits_posted - account.debits_posted,
    pending: account.credits_pending - account.debits_pending,
    available: account.credits_posted - account.debits_posted - account.debits_pending,
    closed: (account.flags & AccountFlags.closed) !== 0,
  };
}
