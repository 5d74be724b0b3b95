// The posting engine: double entry, two phase, idempotent by transfer id, one database
// transaction per batch. Semantics follow TigerBeetle's create_accounts / create_transfers.
//
// A batch is one round trip: one call of ledger.create_transfers (migration 1764000000013), which
// locks the limit accounts the batch touches (those its transfers name and those of the pending
// transfers they resolve) in ascending id order, so concurrent batches never deadlock; reads the
// hot accounts without a lock and the transfers and refusals it depends on after the locks were
// granted; decides every transfer in order (linked chains all or nothing); writes the new
// transfers, the refused ids, one counter UPDATE per limit account and one bucket delta per hot
// account; checks; and answers each transfer's outcome. The call is its own transaction: either
// all of it commits or none. Node validates every request before (transferInputSchema) and checks
// the answer after (toOutcomes).
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
  TRANSFER_FLAGS_ALL,
  TRANSFER_RESULTS,
  TransferFlags,
  isSuccess,
  type AccountResult,
  type TransferResult,
} from '../domain/ledger.js';
import { LedgerInputError } from './errors.js';
import { inTransaction, isRetryableTransactionError, type Pool } from './db.js';

/** Largest batch accepted in one call (TigerBeetle's is 8190; ours bounds one SQL statement). */
export const BATCH_SIZE_MAX = 1000;
/** How often a batch is re-run after a deadlock, serialization failure or id race. */
export const TRANSACTION_ATTEMPTS_MAX = 5;

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

/** One row of ledger.create_transfers (migration 1764000000013): a request's outcome, and for
 * `created` and `exists` the transfer as stored (bigint as text, since it may exceed 2^53). */
interface OutcomeRow {
  o_id: string;
  o_result: string;
  o_first_result: string | null;
  o_debit_account_id: string | null;
  o_credit_account_id: string | null;
  o_amount: string | null;
  o_currency: string | null;
  o_code: number | null;
  o_flags: number | null;
  o_pending_id: string | null;
  o_payment_id: string | null;
  o_created_at: Date | null;
}

const TRANSFER_RESULT_SET: ReadonlySet<string> = new Set(TRANSFER_RESULTS);

/** A batch is one statement, and so one transaction: the function locks, reads, decides, writes
 * and answers, and the statement commits when it ends. Arrays are bind parameters (each element
 * quoted by the driver; no value is spliced into SQL text). */
const CREATE_TRANSFERS_SQL = `SELECT * FROM ledger.create_transfers($1::int, $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[],
  $6::text[], $7::int[], $8::int[], $9::uuid[], $10::text[])`;

function createTransfersParams(requests: TransferRequest[], bucket: number): unknown[] {
  const n = requests.length;
  const id = new Array<string>(n);
  const debit = new Array<string | null>(n);
  const credit = new Array<string | null>(n);
  const amount = new Array<number | null>(n);
  const currency = new Array<string | null>(n);
  const codes = new Array<number>(n);
  const flags = new Array<number>(n);
  const pending = new Array<string | null>(n);
  const payment = new Array<string | null>(n);
  for (let k = 0; k < n; k += 1) {
    const t = requests[k]!;
    id[k] = t.id;
    debit[k] = t.debit_account_id ?? null;
    credit[k] = t.credit_account_id ?? null;
    amount[k] = t.amount_minor ?? null;
    currency[k] = t.currency ?? null;
    codes[k] = t.code;
    flags[k] = t.flags;
    pending[k] = t.pending_id ?? null;
    payment[k] = t.payment_id ?? null;
  }
  return [bucket, id, debit, credit, amount, currency, codes, flags, pending, payment];
}

/** The function's answer as outcomes, checked: one per request, in order, each a known result,
 * a transfer with every `created` and `exists`, a first result with every `id_already_failed`. */
function toOutcomes(requests: TransferRequest[], rows: OutcomeRow[]): TransferOutcome[] {
  assert(rows.length === requests.length, `ledger.create_transfers answered ${rows.length} rows for ${requests.length} transfers`);
  return rows.map((row, k) => {
    assert(row.o_id === requests[k]!.id, `outcome ${k} is for ${row.o_id}, not ${requests[k]!.id}`);
    assert(TRANSFER_RESULT_SET.has(row.o_result), `outcome ${k}: unknown result ${row.o_result}`);
    const result = row.o_result as TransferResult;
    if (result === 'id_already_failed') {
      assert(row.o_first_result !== null, `outcome ${k}: id_already_failed without its first result`);
      return { id: row.o_id, result, first_result: row.o_first_result };
    }
    if (!isSuccess(result)) return { id: row.o_id, result };
    assert(
      row.o_debit_account_id !== null &&
        row.o_credit_account_id !== null &&
        row.o_amount !== null &&
        row.o_currency !== null &&
        row.o_code !== null &&
        row.o_flags !== null,
      `outcome ${k}: ${result} without its transfer`,
    );
    const transfer: Transfer = {
      id: row.o_id,
      debit_account_id: row.o_debit_account_id,
      credit_account_id: row.o_credit_account_id,
      amount_minor: safeInteger(row.o_amount, `transfer ${row.o_id} amount`),
      currency: row.o_currency as LedgerCurrency,
      code: row.o_code,
      flags: row.o_flags,
      pending_id: row.o_pending_id,
      payment_id: row.o_payment_id,
      created_at: row.o_created_at,
    };
    return { id: row.o_id, result, transfer };
  });
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
  /** Fault injection for tests: the batch's call runs inside BEGIN ... COMMIT and this is awaited
   * before the COMMIT, its locks held, as a process stalled there would be. Without it a batch is
   * a single statement and never idles holding a lock. */
  beforeCommit?: () => Promise<void>;
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

  /** One batch, one round trip: every check of DESIGN.md section 4 and the writes run inside
   * ledger.create_transfers (migration 1764000000013), in one transaction. */
  async function runBatch(requests: TransferRequest[]): Promise<TransferOutcome[]> {
    const params = createTransfersParams(requests, nextBucket());
    const stall = options.beforeCommit;
    if (stall) {
      // Test-only fault injection: the same call inside BEGIN ... COMMIT, stalled before the COMMIT
      // with its locks held, as a process that stopped there would be.
      return inTransaction(pool, async (client) => {
        const { rows } = await client.query<OutcomeRow>(CREATE_TRANSFERS_SQL, params);
        await stall();
        return toOutcomes(requests, rows);
      });
    }
    // The statement is the transaction. If the connection is lost after it was sent, the outcome is
    // unknown (committed or not): the caller's retry (createParsedTransfers) runs the batch again,
    // and since every transfer is idempotent by id it answers `exists` for what had committed, never
    // posts it twice (test: ledger-batcher.test.ts, lost after COMMIT).
    return inTransaction(
      pool,
      async (client) => toOutcomes(requests, (await client.query<OutcomeRow>(CREATE_TRANSFERS_SQL, params)).rows),
      { begin: 'in-first-statement', commit: 'in-last-statement' },
    );
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
        return await runBatch(requests);
      } catch (err) {
        // A deadlock, serialization failure, id race or lock timeout rolled everything back; a lost
        // connection may have committed (the statement sent, its answer lost). Either way running the batch
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
