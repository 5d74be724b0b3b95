// Bad input under load: property-based (fast-check, seeded) malformed requests to the gRPC API and
// malformed batches to the ledger module, sent at a low rate while the payments and faults run.
// Every input is broken on purpose (one field made invalid, or the whole message garbled), so:
//   - an answer of OK (or a ledger write) is a violation: bad input was accepted;
//   - INTERNAL or UNKNOWN from the API, or any exception but LedgerInputError from the ledger, is a
//     violation: bad input must be refused as such, naming the field;
//   - UNAVAILABLE / DEADLINE_EXCEEDED (a fault is on) and a database that is down are not.
// Valid-looking ids the fuzzers use start with `fuzz`, so the checker can prove nothing was written.
import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import fc from 'fast-check';
import { LedgerInputError, type Ledger } from '../ledger/ledger.js';
import type { ChaosClients } from './client.js';
import { codeName } from './client.js';

const BAD_ID = fc.oneof(
  fc.constant(''),
  fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(s)),
  fc.constant('x'.repeat(500)),
  fc.constant('fuzz\u0000id'),
  fc.constant('-leading-dash'),
  fc.constant('fuzz id with spaces'),
);
const GOOD_ID = fc.stringMatching(/^[a-z0-9]{4,12}$/).map((s) => `fuzz-${s}`);
const BAD_AMOUNT = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: -(2n ** 63n), max: -1n }),
  fc.bigInt({ min: 10n ** 15n + 1n, max: 2n ** 63n - 1n }),
);
const BAD_CURRENCY = fc.oneof(
  fc.constant(''),
  fc.constant('usd'),
  fc.constant('XXX'),
  fc.string({ maxLength: 8 }).filter((s) => !/^[A-Z]{3}$/.test(s)),
);
const BAD_MCC = fc.oneof(
  fc.constant(''),
  fc.constant('54111'),
  fc.string({ maxLength: 6 }).filter((s) => !/^[0-9]{4}$/.test(s)),
);

type ApiCase = { name: string; send: (c: ChaosClients) => Promise<unknown> };

function tx(over: Partial<{ paymentId: string; cardId: string; currency: string; mcc: string; name: string }>) {
  return {
    paymentId: over.paymentId ?? 'fuzz-p',
    cardId: over.cardId ?? 'fuzz-card',
    currency: over.currency ?? 'USD',
    merchant: { mcc: over.mcc ?? '5411', name: over.name ?? 'Fuzz' },
  };
}

/** One malformed API call: a valid base with one field broken (or an unknown card/payment with a bad field). */
export function apiCaseArbitrary(knownCard: string, knownCompany: string): fc.Arbitrary<ApiCase> {
  return fc.oneof(
    fc.record({ id: BAD_ID, amount: fc.bigInt({ min: 1n, max: 10_000n }) }).map(({ id, amount }) => ({
      name: 'authorize bad payment_id',
      send: (c: ChaosClients) => c.payments.authorize({ transaction: tx({ paymentId: id, cardId: knownCard }), amountMinor: amount }),
    })),
    fc.record({ id: GOOD_ID, amount: BAD_AMOUNT }).map(({ id, amount }) => ({
      name: 'authorize bad amount',
      send: (c: ChaosClients) => c.payments.authorize({ transaction: tx({ paymentId: id, cardId: knownCard }), amountMinor: amount }),
    })),
    fc.record({ id: GOOD_ID, currency: BAD_CURRENCY }).map(({ id, currency }) => ({
      name: 'authorize bad currency',
      send: (c: ChaosClients) =>
        c.payments.authorize({ transaction: tx({ paymentId: id, cardId: knownCard, currency }), amountMinor: 100n }),
    })),
    fc.record({ id: GOOD_ID, mcc: BAD_MCC }).map(({ id, mcc }) => ({
      name: 'authorize bad mcc',
      send: (c: ChaosClients) => c.payments.authorize({ transaction: tx({ paymentId: id, cardId: knownCard, mcc }), amountMinor: 100n }),
    })),
    fc.record({ id: GOOD_ID, standIn: fc.integer({ min: 3, max: 1_000_000 }) }).map(({ id, standIn }) => ({
      name: 'authorize unknown stand_in',
      send: (c: ChaosClients) =>
        c.payments.authorize({ transaction: tx({ paymentId: id, cardId: knownCard }), amountMinor: 100n, standIn }),
    })),
    fc.record({ id: GOOD_ID, name: fc.string({ minLength: 141, maxLength: 400 }) }).map(({ id, name }) => ({
      name: 'authorize merchant name too long',
      send: (c: ChaosClients) => c.payments.authorize({ transaction: tx({ paymentId: id, cardId: knownCard, name }), amountMinor: 100n }),
    })),
    GOOD_ID.map((id) => ({
      name: 'authorize without transaction',
      send: (c: ChaosClients) => c.payments.authorize({ amountMinor: 100n, transaction: undefined }).then(() => id),
    })),
    fc.record({ id: GOOD_ID, event: BAD_ID, amount: fc.bigInt({ min: 1n, max: 10_000n }) }).map(({ id, event, amount }) => ({
      name: 'clear bad event_id',
      send: (c: ChaosClients) =>
        c.payments.clear({ transaction: tx({ paymentId: id, cardId: knownCard }), eventId: event, amountMinor: amount }),
    })),
    fc.record({ id: GOOD_ID, amount: BAD_AMOUNT }).map(({ id, amount }) => ({
      name: 'clear bad amount',
      send: (c: ChaosClients) =>
        c.payments.clear({ transaction: tx({ paymentId: id, cardId: knownCard }), eventId: 'c1', amountMinor: amount }),
    })),
    fc.record({ id: GOOD_ID, amount: BAD_AMOUNT }).map(({ id, amount }) => ({
      name: 'refund bad amount',
      send: (c: ChaosClients) =>
        c.payments.refund({ transaction: tx({ paymentId: id, cardId: knownCard }), eventId: 'f1', amountMinor: amount }),
    })),
    fc.record({ id: BAD_ID, amount: fc.bigInt({ min: 1n, max: 10_000n }) }).map(({ id, amount }) => ({
      name: 'increment bad payment_id',
      send: (c: ChaosClients) => c.payments.increment({ paymentId: id, eventId: 'i1', amountMinor: amount }),
    })),
    fc.record({ id: GOOD_ID, amount: BAD_AMOUNT }).map(({ id, amount }) => ({
      name: 'reverse bad amount',
      send: (c: ChaosClients) => c.payments.reverse({ paymentId: id, eventId: 'r1', amountMinor: amount }),
    })),
    fc
      .record({
        id: GOOD_ID,
        field: fc.constantFrom('payment_id', 'company_id', 'amount', 'currency', 'payee_name', 'bank_account'),
        bad: BAD_ID,
        amount: BAD_AMOUNT,
        currency: BAD_CURRENCY,
      })
      .map(({ id, field, bad, amount, currency }) => ({
        name: `payout bad ${field}`,
        send: (c: ChaosClients) =>
          c.payments.payout({
            paymentId: field === 'payment_id' ? bad : id,
            companyId: field === 'company_id' ? bad : knownCompany,
            amountMinor: field === 'amount' ? amount : 100n,
            currency: field === 'currency' ? currency : 'USD',
            payee: {
              name: field === 'payee_name' ? '' : 'Fuzz Supplier',
              bankAccount: field === 'bank_account' ? (bad.length > 0 ? 'x'.repeat(300) : '') : 'US000000001',
            },
          }),
      })),
    BAD_ID.map((id) => ({ name: 'getPayment bad id', send: (c: ChaosClients) => c.payments.getPayment({ paymentId: id }) })),
    fc
      .record({
        status: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/^[A-Z]+$/.test(s)),
        size: fc.integer({ min: 501, max: 1_000_000 }),
      })
      .chain(({ status, size }) =>
        fc.constantFrom(
          { name: 'listPayments bad status', send: (c: ChaosClients) => c.payments.listPayments({ status }) },
          { name: 'listPayments page too large', send: (c: ChaosClients) => c.payments.listPayments({ pageSize: size }) },
          { name: 'listPayments bad time', send: (c: ChaosClients) => c.payments.listPayments({ startedAfter: status }) },
          { name: 'listPayments bad token', send: (c: ChaosClients) => c.payments.listPayments({ pageToken: '@@' + status }) },
        ),
      ),
    fc
      .record({ field: fc.constantFrom('company', 'currency', 'limit', 'grant'), bad: BAD_ID, amount: BAD_AMOUNT, currency: BAD_CURRENCY })
      .map(({ field, bad, amount, currency }) => ({
        name: `createCreditLine bad ${field}`,
        send: (c: ChaosClients) =>
          c.ledger.createCreditLine({
            companyId: field === 'company' ? bad : knownCompany,
            currency: field === 'currency' ? currency : 'USD',
            limitMinor: field === 'limit' ? amount : 1_000n,
            grantKey: field === 'grant' ? bad : `fuzz-${randomUUID().slice(0, 8)}`,
          }),
      })),
    BAD_ID.map((id) => ({ name: 'getAccount bad id', send: (c: ChaosClients) => c.ledger.getAccount({ accountId: id }) })),
    fc.record({ id: BAD_ID, size: fc.integer({ min: -5, max: 1_000_000 }) }).map(({ id, size }) => ({
      name: 'listTransfers bad',
      send: (c: ChaosClients) => c.ledger.listTransfers({ of: { case: 'paymentId', value: id }, pageSize: size, pageToken: id }),
    })),
    fc.record({ id: BAD_ID, currency: BAD_CURRENCY }).map(({ id, currency }) => ({
      name: 'issueCard bad',
      send: (c: ChaosClients) => c.cards.issueCard({ cardId: id, companyId: knownCompany, currency }),
    })),
    BAD_ID.map((id) => ({ name: 'getCard bad id', send: (c: ChaosClients) => c.cards.getCard({ cardId: id }) })),
  );
}

/** A malformed ledger batch: one transfer (or account) with one field broken, or a broken batch. */
export function ledgerCaseArbitrary(): fc.Arbitrary<{ name: string; ids: string[]; run: (l: Ledger) => Promise<unknown> }> {
  const base = () => ({
    id: randomUUID(),
    debit_account_id: randomUUID(),
    credit_account_id: randomUUID(),
    amount_minor: 100,
    currency: 'USD',
    code: 1,
    payment_id: 'fuzz-ledger',
  });
  const badValue = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.double(),
    fc.string({ maxLength: 20 }),
    fc.constant(Number.NaN),
    fc.constant(Infinity),
    fc.constant(2 ** 64),
    fc.constant(-1),
    fc.constant(1.5),
    fc.object({ maxDepth: 1 }),
  );
  const transferField = fc.constantFrom(
    'id',
    'amount_minor',
    'currency',
    'code',
    'flags',
    'pending_id',
    'timeout_s',
    'payment_id',
    'extra',
  );
  return fc.oneof(
    fc.record({ field: transferField, value: badValue, position: fc.integer({ min: 0, max: 3 }) }).map(({ field, value, position }) => {
      const batch: Record<string, unknown>[] = Array.from({ length: 4 }, base);
      const t = batch[position]!;
      // Values that happen to be valid for the field are made invalid another way.
      if (field === 'extra') t.unexpected_field = value ?? 1;
      else if (field === 'id') t.id = typeof value === 'string' && /^[0-9a-f-]{36}$/.test(value) ? 'not-a-uuid' : value;
      else if (field === 'amount_minor') t.amount_minor = Number.isSafeInteger(value) ? 1.5 : value === undefined ? 'x' : value;
      else if (field === 'currency')
        // Not 'XXX': the ledger takes ISO 4217's "no currency" (its spend-limit windows are in it).
        t.currency = value === undefined ? 'usd' : typeof value === 'string' && /^[A-Z]{3}$/.test(value) ? 'ZZZ' : value;
      else if (field === 'code')
        t.code = Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535 ? 0 : value === undefined ? -1 : value;
      else if (field === 'flags')
        t.flags = Number.isInteger(value) && (value as number) >= 0 && (value as number) < 16 ? -1 : value === undefined ? 1.5 : value;
      else if (field === 'pending_id') t.pending_id = value === undefined ? 'nope' : typeof value === 'string' ? `${value}!` : value;
      else if (field === 'timeout_s')
        t.timeout_s = Number.isInteger(value) && (value as number) >= 0 ? -1 : value === undefined ? 'x' : value;
      else if (field === 'payment_id') t.payment_id = typeof value === 'string' ? ` ${value}` : value === undefined ? '' : value;
      return {
        name: `createTransfers bad ${field}`,
        ids: batch.flatMap((b) => (typeof b.id === 'string' ? [b.id] : [])),
        run: (l: Ledger) => l.createTransfers(batch as never),
      };
    }),
    fc.constantFrom('empty', 'oversized', 'not-array').map((shape) => {
      const batch = shape === 'empty' ? [] : shape === 'oversized' ? Array.from({ length: 1_001 }, base) : ({ 0: base() } as unknown);
      return {
        name: `createTransfers ${shape} batch`,
        ids: Array.isArray(batch) ? batch.map((b: { id: string }) => b.id) : [],
        run: (l: Ledger) => l.createTransfers(batch as never),
      };
    }),
    fc.record({ field: fc.constantFrom('id', 'currency', 'code', 'flags'), value: badValue }).map(({ field, value }) => {
      const account: Record<string, unknown> = { id: randomUUID(), currency: 'USD', code: 10, flags: 0 };
      if (field === 'id') account.id = typeof value === 'string' ? `${value}-x` : value;
      else if (field === 'currency') account.currency = value === undefined ? 'usd' : typeof value === 'string' ? `${value}1` : value;
      else if (field === 'code')
        account.code = value === undefined ? 0 : Number.isInteger(value) && (value as number) >= 1 ? 70_000 : value;
      else account.flags = Number.isInteger(value) && (value as number) >= 0 ? 1.5 : value === undefined ? -1 : value;
      return {
        name: `createAccounts bad ${field}`,
        ids: typeof account.id === 'string' ? [account.id] : [],
        run: (l: Ledger) => l.createAccounts([account as never]),
      };
    }),
  );
}

export interface FuzzReport {
  api_calls: number;
  api_by_code: Record<string, number>;
  ledger_calls: number;
  ledger_by_outcome: Record<string, number>;
  /** Bad input answered INTERNAL/UNKNOWN, accepted, or thrown as something else than an input error. */
  violations: string[];
  /** Ids the ledger fuzzer sent, for the checker's "nothing was written". */
  ledger_ids: string[];
}

/** Codes that mean "a fault is on right now", not a verdict on the input. */
const TRANSIENT: ReadonlySet<Code> = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Canceled, Code.Aborted]);

const isDatabaseDown = (err: unknown) =>
  /ECONNREFUSED|ECONNRESET|terminat|Connection terminated|timeout|57P0|the database system is|shutting down|connect/i.test(
    `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`,
  );

/** Cases of one fuzz stream drawn in chunks as they are sent: the same seed gives the same
 * sequence, and at most one chunk is held at a time. */
export const FUZZ_CHUNK_CASES = 100;

export function fuzzStream<T>(arbitrary: fc.Arbitrary<T>, seed: number): (index: number) => T {
  let chunk: T[] = [];
  let chunk_index = -1;
  return (index) => {
    if (!(Number.isSafeInteger(index) && index >= 0)) throw new Error(`fuzz case index: must be a non-negative integer, got ${index}`);
    const wanted = Math.floor(index / FUZZ_CHUNK_CASES);
    if (wanted !== chunk_index) {
      chunk = fc.sample(arbitrary, { seed: (Math.imul(seed | 0, 0x9e3779b1) ^ wanted) | 0, numRuns: FUZZ_CHUNK_CASES });
      chunk_index = wanted;
    }
    const value = chunk[index % FUZZ_CHUNK_CASES];
    if (value === undefined) throw new Error(`fuzz case ${index}: the chunk drew ${chunk.length} cases`);
    return value;
  };
}

export class Fuzzer {
  report: FuzzReport = { api_calls: 0, api_by_code: {}, ledger_calls: 0, ledger_by_outcome: {}, violations: [], ledger_ids: [] };
  private stopped = false;

  constructor(
    private readonly clients: ChaosClients,
    private readonly ledger: Ledger,
    private readonly seed: number,
    private readonly knownCard: string,
    private readonly knownCompany: string,
  ) {}

  stop(): void {
    this.stopped = true;
  }

  private violation(msg: string): void {
    if (this.report.violations.length < 200) this.report.violations.push(msg);
    else this.report.violations.push('...');
  }

  /** Sends `per_s` API cases and `per_s` ledger cases a second until stopped. Cases are drawn as
   * they are sent (fuzzStream): drawing 5,000 of each up front held about 880 MB (oversized
   * batches of 1,001 transfers among them) for the whole run, and took the chaos process over its
   * memory limit in a 20,000-payment run. */
  async run(per_s: number): Promise<void> {
    const api = fuzzStream(apiCaseArbitrary(this.knownCard, this.knownCompany), this.seed);
    const ledger = fuzzStream(ledgerCaseArbitrary(), this.seed ^ 0x5bd1e995);
    for (let i = 0; !this.stopped; i++) {
      await Promise.all([this.sendApi(api(i)), this.sendLedger(ledger(i))]);
      await new Promise((r) => setTimeout(r, 1_000 / per_s));
    }
  }

  private async sendApi(c: ApiCase): Promise<void> {
    this.report.api_calls += 1;
    let code: Code | null = null;
    try {
      await c.send(this.clients);
    } catch (err) {
      code = ConnectError.from(err).code;
    }
    const name = code === null ? 'OK' : codeName(code);
    this.report.api_by_code[name] = (this.report.api_by_code[name] ?? 0) + 1;
    if (code === null) this.violation(`api: ${c.name}: bad input accepted`);
    else if (code === Code.Internal || code === Code.Unknown) this.violation(`api: ${c.name}: answered ${name}`);
    else if (TRANSIENT.has(code)) return;
  }

  private async sendLedger(c: { name: string; ids: string[]; run: (l: Ledger) => Promise<unknown> }): Promise<void> {
    this.report.ledger_calls += 1;
    if (c.ids.length <= 8) this.report.ledger_ids.push(...c.ids.filter((id) => /^[0-9a-f-]{36}$/.test(id)));
    let outcome: string;
    try {
      await c.run(this.ledger);
      outcome = 'accepted';
      this.violation(`ledger: ${c.name}: bad input accepted`);
    } catch (err) {
      if (err instanceof LedgerInputError) outcome = 'LedgerInputError';
      else if (isDatabaseDown(err)) outcome = 'database unavailable';
      else {
        outcome = (err as Error).name || 'Error';
        this.violation(`ledger: ${c.name}: threw ${outcome}: ${(err as Error).message}`);
      }
    }
    this.report.ledger_by_outcome[outcome] = (this.report.ledger_by_outcome[outcome] ?? 0) + 1;
  }
}
