// Malformed requests for every method of the API (fast-check): each starts from a request that
// would succeed (and write), then breaks one or more fields: wrong JSON types, missing fields,
// zero, negative, huge and fractional amounts, unknown enum values, oversized strings, SQL and
// control characters in every string, unknown fields. Sent as Connect JSON over fetch (so wrong
// types reach the server) and, where the proto types allow, as binary gRPC through @grpc/grpc-js.
// Every answer must be a clear refusal (INVALID_ARGUMENT naming a field it broke; never INTERNAL),
// nothing may be written, no payment workflow started, and the ledger verifier passes afterwards.
// fast-check prints the seed and the shrunk counterexample of a failing property.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { WorkflowNotFoundError } from '@temporalio/client';
import fc from 'fast-check';
import { paymentIdSchema } from '../../src/domain/payment.js';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { REQUEST_BYTES_MAX } from '../../src/api/rpc/server.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startApiHarness, type ApiHarness, type RpcClient } from '../support/api.js';

const RUNS = 100;
const uid = () => randomUUID().slice(0, 8);
const company = `co-fz-${uid()}`;
let api: ApiHarness & { key: string };
let accountId = '';
const cardId = `card-fz-${uid()}`;
/** An authorized payment the fuzzed increments, reversals, clearings and refunds aim at. */
const existingTx = { payment_id: `txn-fz-${uid()}`, card_id: cardId, currency: 'USD', merchant: { mcc: '5411', name: 'Fuzz Shop' } };
/** Ids that valid versions of the fuzzed requests would create: none may exist afterwards. */
const newPaymentIds = { authorize: `txn-fz-new-${uid()}`, payout: `po-fz-new-${uid()}` };
const newCardId = `card-fz-new-${uid()}`;

// ---------------------------------------------------------------------------------------------
// Bad values, by the kind of field they break.

const SQL = [
  "' OR '1'='1",
  "'; DROP TABLE ledger.transfers; --",
  '"; DELETE FROM cards.cards WHERE ""="',
  '1; UPDATE ledger.accounts SET credits_posted = 0',
  "%' AND 1=1 --",
  "x' UNION SELECT secret_hash FROM api.keys --",
  "CompanyId = 'x' OR CompanyId != ''",
  '$1',
  '\\',
];
const CONTROL = ['\u0000', '\n', '\r\n', '\t', '\u0007', '\u001b[31m', '\u007f', '\u202e', '\ufeff', '\u2028', '\ud800'];
const word = fc.stringMatching(/^[a-z0-9]{0,8}$/);
/** SQL or control characters inside otherwise harmless text. */
const hostile = fc.tuple(word, fc.constantFrom(...SQL, ...CONTROL), word).map(([a, b, c]) => a + b + c);
const oversized = (limit: number) => fc.integer({ min: limit + 1, max: limit + 2_000 }).map((n) => 'a'.repeat(n));
/** Not strings: a JSON-only mistake (the gRPC client would refuse to encode them). */
const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant({}), fc.constant([]), fc.constant(['a']), fc.double({ noNaN: true }));

/** A value and whether it can be sent through a typed (protobuf) client at all. */
interface Bad {
  value: unknown;
  typed: boolean;
}
const typed = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<Bad> => arb.map((value) => ({ value, typed: true }));
const untyped = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<Bad> => arb.map((value) => ({ value, typed: false }));
const MISSING = Symbol('missing');

const badId = fc.oneof(
  typed(fc.constant('')),
  typed(fc.constant(MISSING)),
  typed(hostile),
  typed(oversized(64)),
  typed(fc.constantFrom('-abc', '.x', '_x', ':x', 'a b', 'zürich', 'a/b', 'a\\b', ' a', 'a ')),
  typed(fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }).filter((s) => !paymentIdSchema.safeParse(s).success)),
  untyped(notAString),
);
const INT64_MAX = 2n ** 63n - 1n;
const badAmount = fc.oneof(
  typed(fc.constantFrom('0', '-0')),
  typed(fc.bigInt({ min: -(2n ** 63n), max: -1n }).map(String)),
  typed(fc.bigInt({ min: 10n ** 15n + 1n, max: INT64_MAX }).map(String)),
  typed(fc.constantFrom(String(INT64_MAX), String(2n ** 53n), String(2n ** 53n + 1n))),
  untyped(fc.bigInt({ min: INT64_MAX + 1n, max: 2n ** 90n }).map(String)),
  untyped(fc.constantFrom('1.5', '0.01', '-1.5', '1e400', 'abc', 'NaN', 'Infinity', '--1', '1_000')),
  untyped(fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true })),
  untyped(fc.integer({ max: 0 })),
  untyped(fc.oneof(fc.boolean(), fc.constant({}), fc.constant([]))),
);
/** A required amount: absent is zero, also refused. */
const badRequiredAmount = fc.oneof(badAmount, typed(fc.constant(MISSING)));
const badCurrency = fc.oneof(
  typed(fc.constantFrom('', 'usd', 'XXX', 'US', 'USDD', 'U$D', 'BTC', ' USD', 'USD\n')),
  typed(fc.constant(MISSING)),
  typed(hostile),
  typed(oversized(3)),
  untyped(notAString),
);
const badMcc = fc.oneof(
  typed(fc.constantFrom('', '541', '54111', 'abcd', '5411\n', ' 5411', '٥٤١١', '54.1', '-541')),
  typed(fc.constant(MISSING)),
  typed(hostile),
  typed(oversized(4)),
  untyped(notAString),
);
/** Free text (merchant and payee names): only empty, blank and oversized are wrong. */
const badName = fc.oneof(typed(fc.constantFrom('', ' ', '\t \n')), typed(fc.constant(MISSING)), typed(oversized(140)), untyped(notAString));
/** Valid free text full of SQL and control characters: sent along with a broken field. */
const hostileName = fc.tuple(fc.stringMatching(/^[A-Za-z]{1,5}$/), hostile).map(([a, b]) => `${a}${b}`);
const badBankAccount = fc.oneof(
  typed(fc.constantFrom('', 'de89370400440532013000', 'ABC', 'DE89 3704 0044', 'DE89-3704-0044')),
  typed(fc.constant(MISSING)),
  typed(hostile),
  typed(oversized(34)),
  untyped(notAString),
);
const badStandIn = fc.oneof(
  typed(fc.integer({ min: 3, max: 2 ** 31 - 1 })),
  typed(fc.integer({ min: -(2 ** 31), max: -1 })),
  untyped(fc.constantFrom('STAND_IN_BOGUS', 'approve', 'APPROVE', '', 'STAND_IN_APPROVE\u0000')),
  untyped(fc.constantFrom(2.5, true, {}, [])),
);
const badBool = untyped(fc.constantFrom('yes', 2, {}, [], 'maybe'));
const badPageSize = (max: number) =>
  fc.oneof(
    typed(fc.integer({ min: -(2 ** 31), max: -1 })),
    typed(fc.integer({ min: max + 1, max: 2 ** 31 - 1 })),
    untyped(fc.constantFrom(2 ** 31, 2 ** 40, 1.5, '1.5', 'ten', true)),
  );
const badStatus = fc.oneof(
  typed(fc.constantFrom('settled', 'BOGUS', 'SETTLED ', "SETTLED' OR '1'='1", 'SETTLED\u0000', 'card')),
  typed(hostile),
  typed(oversized(64)),
  untyped(notAString),
);
const badTime = fc.oneof(
  typed(fc.constantFrom('yesterday', '2026-13-01T00:00:00Z', '2026-11-25', '2026-11-25T00:00:00', '2026-11-25 00:00:00Z', '1732492800')),
  typed(fc.constantFrom("2026-11-25T00:00:00Z' OR '1'='1", '2026-11-25T00:00:00Z\n')),
  typed(hostile),
  typed(oversized(64)),
  untyped(notAString),
);
const badUuid = fc.oneof(
  typed(fc.constantFrom('', 'not-a-uuid', '00000000-0000-0000-0000-00000000000', 'g0000000-0000-4000-8000-000000000000')),
  typed(fc.uuid().map((u) => `${u}\n`)),
  typed(fc.uuid().map((u) => `${u}' OR '1'='1`)),
  typed(hostile),
  typed(oversized(36)),
  untyped(notAString),
);
const badMccList = fc.oneof(
  typed(
    fc.array(
      badMcc.filter((b) => b.typed && b.value !== MISSING).map((b) => b.value),
      { minLength: 1, maxLength: 3 },
    ),
  ),
  typed(fc.integer({ min: 101, max: 300 }).map((n) => Array.from({ length: n }, () => '5411'))),
  untyped(fc.constantFrom('5411', 5411, [5411], {}, [null])),
);
const aLimit = { window: 'SPEND_LIMIT_WINDOW_DAY', measure: 'SPEND_LIMIT_MEASURE_AMOUNT', limit: '1000', mccs: ['5812'] };
/** Spend limits broken in one place each (the whole list is the field: paths do not go into lists). */
const badLimits = fc.oneof(
  typed(
    fc.constantFrom(
      [{ ...aLimit, window: 'SPEND_LIMIT_WINDOW_UNSPECIFIED' }],
      [{ ...aLimit, measure: 'SPEND_LIMIT_MEASURE_UNSPECIFIED' }],
      [{ ...aLimit, measure: 'SPEND_LIMIT_MEASURE_COUNT', limit: '1000001' }],
      [{ ...aLimit, limit: '10000000000001' }],
      [aLimit, { ...aLimit, limit: '5' }],
      Array.from({ length: 17 }, (_, k) => ({ ...aLimit, mccs: [String(1000 + k)] })),
      [{ ...aLimit, mccs: Array.from({ length: 51 }, (_, k) => String(2000 + k)) }],
    ),
  ),
  badAmount.map((b): Bad => ({ ...b, value: [{ ...aLimit, limit: b.value }] })),
  badMcc.filter((b) => b.value !== MISSING).map((b): Bad => ({ ...b, value: [{ ...aLimit, mccs: [b.value] }] })),
  untyped(fc.constantFrom('x', 1, {}, [1], [{ ...aLimit, window: 5 }], [{ ...aLimit, limit: 'abc' }], [{ ...aLimit, per: 'x' }])),
);
const badLedgerToken = fc.oneof(
  typed(fc.constantFrom('abc', 'W10', Buffer.from('["x","y"]').toString('base64url'))),
  typed(hostile),
  typed(oversized(512)),
  untyped(notAString),
);
const badPaymentsToken = fc.oneof(
  typed(oversized(4_096)),
  typed(fc.constantFrom('abc', 'AAAA', 'not a token', Buffer.from('{"x":1}').toString('base64url'))),
  typed(hostile),
  untyped(notAString),
);

// ---------------------------------------------------------------------------------------------
// The methods: a request that would succeed, and what may break in it.

type Service = 'payments' | 'ledger' | 'cards';
interface Field {
  path: string[];
  bad: fc.Arbitrary<Bad>;
  /** Only wrong JSON can break it (a protobuf client cannot even encode the mistake). */
  jsonOnly?: boolean;
}
interface MethodSpec {
  service: Service;
  method: string;
  base: () => Record<string, unknown>;
  fields: Field[];
  /** Free-text fields that may carry hostile (valid) text alongside the broken ones. */
  noise?: string[][];
}

const SERVICE_PATH: Record<Service, string> = {
  payments: 'cardplatform.payments.v1.PaymentService',
  ledger: 'cardplatform.ledger.v1.LedgerService',
  cards: 'cardplatform.cards.v1.CardService',
};
const f = (path: string, bad: fc.Arbitrary<Bad>): Field => ({ path: path.split('.'), bad });
const transactionFields = (prefix = 'transaction'): Field[] => [
  f(prefix, fc.oneof(typed(fc.constant(MISSING)), untyped(fc.constantFrom('x', 1, [], true)))),
  f(`${prefix}.payment_id`, badId),
  f(`${prefix}.card_id`, badId),
  f(`${prefix}.currency`, badCurrency),
  f(`${prefix}.merchant`, fc.oneof(typed(fc.constant(MISSING)), untyped(fc.constantFrom('x', 1, [])))),
  f(`${prefix}.merchant.mcc`, badMcc),
  f(`${prefix}.merchant.name`, badName),
];
/** Unknown JSON fields, with hostile names and values: refused too (this API does not ignore them,
 * unlike Connect's default), so they may be what the refusal names. */
const unknownFields = fc.dictionary(
  fc.oneof(fc.constantFrom('unknown_field', 'amountMinor2', '__proto__x'), hostile),
  fc.oneof(fc.integer(), hostile, fc.constant({ nested: "'; --" })),
  { maxKeys: 2 },
);

const METHODS: MethodSpec[] = [
  {
    service: 'payments',
    method: 'Authorize',
    base: () => ({
      transaction: { ...existingTx, payment_id: newPaymentIds.authorize, merchant: { ...existingTx.merchant } },
      amount_minor: '100',
      stand_in: 'STAND_IN_APPROVE',
    }),
    fields: [...transactionFields(), f('amount_minor', badRequiredAmount), f('stand_in', badStandIn)],
    noise: [['transaction', 'merchant', 'name']],
  },
  {
    service: 'payments',
    method: 'Increment',
    base: () => ({ payment_id: existingTx.payment_id, event_id: 'fz-inc', amount_minor: '100' }),
    fields: [f('payment_id', badId), f('event_id', badId), f('amount_minor', badRequiredAmount)],
  },
  {
    service: 'payments',
    method: 'Reverse',
    base: () => ({ payment_id: existingTx.payment_id, event_id: 'fz-rev', amount_minor: '100' }),
    fields: [f('payment_id', badId), f('event_id', badId), f('amount_minor', badAmount)],
  },
  {
    service: 'payments',
    method: 'Clear',
    base: () => ({
      transaction: { ...existingTx, merchant: { ...existingTx.merchant } },
      event_id: 'fz-clr',
      amount_minor: '100',
      more_to_come: true,
    }),
    fields: [
      ...transactionFields(),
      f('event_id', badId),
      f('amount_minor', badRequiredAmount),
      { ...f('more_to_come', badBool), jsonOnly: true },
    ],
    noise: [['transaction', 'merchant', 'name']],
  },
  {
    service: 'payments',
    method: 'Refund',
    base: () => ({ transaction: { ...existingTx, merchant: { ...existingTx.merchant } }, event_id: 'fz-ref', amount_minor: '100' }),
    fields: [...transactionFields(), f('event_id', badId), f('amount_minor', badRequiredAmount)],
    noise: [['transaction', 'merchant', 'name']],
  },
  {
    service: 'payments',
    method: 'Payout',
    base: () => ({
      payment_id: newPaymentIds.payout,
      company_id: company,
      amount_minor: '100',
      currency: 'USD',
      payee: { name: 'Acme', bank_account: 'DE89370400440532013000' },
    }),
    fields: [
      f('payment_id', badId),
      f('company_id', badId),
      f('amount_minor', badRequiredAmount),
      f('currency', badCurrency),
      f('payee', fc.oneof(typed(fc.constant(MISSING)), untyped(fc.constantFrom('x', 1, [])))),
      f('payee.name', badName),
      f('payee.bank_account', badBankAccount),
    ],
    noise: [['payee', 'name']],
  },
  {
    service: 'payments',
    method: 'GetPayment',
    base: () => ({ payment_id: existingTx.payment_id }),
    fields: [f('payment_id', badId)],
  },
  {
    service: 'payments',
    method: 'ListPayments',
    base: () => ({
      status: 'AUTHORIZED',
      card_id: cardId,
      company_id: company,
      started_after: '2020-01-01T00:00:00Z',
      started_before: '2100-01-01T00:00:00Z',
      page_size: 10,
    }),
    fields: [
      f('status', badStatus),
      f(
        'card_id',
        badId.filter((b) => b.value !== '' && b.value !== MISSING),
      ),
      f(
        'company_id',
        badId.filter((b) => b.value !== '' && b.value !== MISSING),
      ),
      f('started_after', badTime),
      f('started_before', badTime),
      f('page_size', badPageSize(500)),
      f('page_token', badPaymentsToken),
    ],
  },
  {
    service: 'ledger',
    method: 'CreateCreditLine',
    base: () => ({ company_id: company, currency: 'USD', limit_minor: '100', grant_key: 'fz-grant' }),
    fields: [f('company_id', badId), f('currency', badCurrency), f('limit_minor', badRequiredAmount), f('grant_key', badId)],
  },
  {
    service: 'ledger',
    method: 'GetAccount',
    base: () => ({ account_id: accountId }),
    fields: [f('account_id', fc.oneof(badUuid, typed(fc.constant(MISSING))))],
  },
  {
    service: 'ledger',
    method: 'ListTransfers',
    base: () => ({ payment_id: existingTx.payment_id, page_size: 10 }),
    fields: [f('payment_id', badId), f('account_id', badUuid), f('page_size', badPageSize(500)), f('page_token', badLedgerToken)],
  },
  {
    service: 'ledger',
    method: 'ListTransfers',
    base: () => ({ account_id: accountId, page_size: 10 }),
    fields: [
      f('account_id', fc.oneof(badUuid, typed(fc.constant(MISSING)))),
      f('page_size', badPageSize(500)),
      f('page_token', badLedgerToken),
    ],
  },
  {
    service: 'cards',
    method: 'IssueCard',
    base: () => ({ card_id: newCardId, company_id: company, currency: 'USD', transaction_limit_minor: '100', blocked_mccs: ['7995'] }),
    fields: [
      f('card_id', badId),
      f('company_id', badId),
      f('currency', badCurrency),
      f('transaction_limit_minor', badAmount),
      f('blocked_mccs', badMccList),
    ],
  },
  ...(['GetCard', 'FreezeCard', 'UnfreezeCard'] as const).map((method): MethodSpec => ({
    service: 'cards',
    method,
    base: () => ({ card_id: cardId }),
    fields: [f('card_id', badId)],
  })),
  {
    service: 'cards',
    method: 'SetCardRules',
    base: () => ({ card_id: cardId, transaction_limit_minor: '1', blocked_mccs: ['5411'] }),
    fields: [f('card_id', badId), f('transaction_limit_minor', badAmount), f('blocked_mccs', badMccList)],
  },
  {
    service: 'cards',
    method: 'SetSpendLimits',
    base: () => ({ card_id: cardId, limits: [aLimit] }),
    fields: [f('card_id', badId), f('limits', badLimits)],
  },
  {
    service: 'cards',
    method: 'SetCompanySpendLimits',
    base: () => ({ company_id: company, currency: 'USD', limits: [aLimit] }),
    fields: [f('company_id', badId), f('currency', badCurrency), f('limits', badLimits)],
  },
];

interface Mutation {
  path: string[];
  bad: Bad;
}

function apply(
  base: Record<string, unknown>,
  mutations: Mutation[],
  noise: Array<{ path: string[]; text: string }>,
  extra: Record<string, unknown> = {},
) {
  const request = Object.assign(structuredClone(base), extra);
  const set = (path: string[], value: unknown) => {
    let o = request as Record<string, unknown>;
    for (const part of path.slice(0, -1)) {
      if (typeof o[part] !== 'object' || o[part] === null || Array.isArray(o[part])) return; // the parent was broken already
      o = o[part] as Record<string, unknown>;
    }
    const leaf = path.at(-1)!;
    if (value === MISSING) delete o[leaf];
    else o[leaf] = value;
  };
  for (const n of noise) set(n.path, n.text);
  for (const m of mutations) set(m.path, m.bad.value);
  // A oneof takes one member: breaking payment_id of ListTransfers by account keeps only it.
  return request;
}

const caseOf = (spec: MethodSpec, typedOnly: boolean) =>
  fc.record({
    mutations: fc.uniqueArray(
      fc
        .constantFrom(...spec.fields.filter((field) => !(typedOnly && field.jsonOnly)))
        .chain((field) => (typedOnly ? field.bad.filter((b) => b.typed) : field.bad).map((bad): Mutation => ({ path: field.path, bad }))),
      { minLength: 1, maxLength: 3, selector: (m) => m.path.join('.') },
    ),
    noise: spec.noise
      ? fc.array(fc.record({ path: fc.constantFrom(...spec.noise), text: hostileName }), { maxLength: 1 })
      : fc.constant<Array<{ path: string[]; text: string }>>([]),
    extra: typedOnly ? fc.constant({}) : unknownFields,
  });

// ---------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  /** Connect code (invalid_argument...) or ok. */
  code: string;
  message: string;
}

async function callJson(method: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${api.server.url}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.key}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: { code?: string; message?: string } = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { message: text };
  }
  return { status: res.status, code: res.status === 200 ? 'ok' : (json.code ?? `http_${res.status}`), message: json.message ?? '' };
}

const clientOf = (service: Service): RpcClient => api[service];
async function callGrpc(spec: MethodSpec, request: object, key?: string | null): Promise<Answer> {
  try {
    await clientOf(spec.service)[spec.method]!(request, { deadline_ms: 15_000, ...(key !== undefined ? { key } : {}) });
    return { status: 200, code: 'ok', message: '' };
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (typeof e.code !== 'number') throw err;
    return { status: 0, code: grpc.status[e.code]!.toLowerCase(), message: e.details };
  }
}

/** Where the zod messages and the JSON decoder name a field. */
const names = (path: string[]) => {
  const leaf = path.at(-1)!;
  const camel = leaf.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return [leaf, camel, `"${leaf}"`];
};

function assertClearRefusal(answer: Answer, spec: MethodSpec, mutations: Mutation[], request: unknown, extra: object = {}) {
  const context = `${spec.method} ${JSON.stringify(request, (_, v) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 20)}...(${v.length})` : v))} -> ${answer.code}: ${answer.message}`;
  assert.equal(answer.code, 'invalid_argument', context);
  // The JSON decoder names the field of a bad scalar, and the message or enum type otherwise; a
  // string that is not UTF-8 fails the whole binary message.
  const named =
    mutations.some((m) => names(m.path).some((n) => answer.message.includes(n))) ||
    Object.keys(extra).some((key) => answer.message.includes(`"${key}"`)) ||
    answer.message.startsWith('cannot decode ') ||
    answer.message.startsWith('the request is not a valid ');
  assert.ok(named, `the refusal names a broken field: ${context}`);
}

interface Snapshot {
  counts: Record<string, number>;
  existing: unknown;
  card: unknown;
  account: unknown;
}
async function snapshot(): Promise<Snapshot> {
  const counts: Record<string, number> = {};
  for (const table of [
    'ledger.transfers',
    'ledger.accounts',
    'ledger.credit_lines',
    'cards.cards',
    'cards.company_spend_limits',
    'api.keys',
  ]) {
    const { rows } = await api.h.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    counts[table] = Number(rows[0]!.n);
  }
  const { rows: cards } = await api.h.pool.query('SELECT * FROM cards.cards ORDER BY card_id');
  const existing = (await api.payments.GetPayment({ payment_id: existingTx.payment_id })).payment;
  return { counts, existing, card: cards, account: await api.h.ledger.getBalance(accountId) };
}

let before_: Snapshot;

before(async () => {
  api = await startApiHarness('api-fuzz', { companies: [company] });
  accountId = (await api.ledger.CreateCreditLine({ company_id: company, currency: 'USD', limit_minor: '1000000', grant_key: 'initial' }))
    .account.account_id;
  await api.cards.IssueCard({ card_id: cardId, company_id: company, currency: 'USD' });
  const { decision } = await api.payments.Authorize({ transaction: existingTx, amount_minor: '500' });
  assert.equal(decision.approved, true);
  // One payment workflow so far, as visibility will count it.
  const deadline = Date.now() + 15_000;
  while ((await api.h.client.workflow.count(`TaskQueue = '${api.h.task_queue}'`)).count !== 1) {
    assert.ok(Date.now() < deadline, 'visibility shows the one payment');
    await new Promise((r) => setTimeout(r, 200));
  }
  before_ = await snapshot();
});
after(async () => {
  await api?.close();
});

describe('malformed requests, Connect JSON (wrong types included)', () => {
  for (const spec of METHODS) {
    test(`${spec.method}${spec.method === 'ListTransfers' ? ` (${Object.keys(spec.base())[0]})` : ''}`, async () => {
      await fc.assert(
        fc.asyncProperty(caseOf(spec, false), async ({ mutations, noise, extra }) => {
          const request = apply(spec.base(), mutations, noise, extra);
          const answer = await callJson(`${SERVICE_PATH[spec.service]}/${spec.method}`, request);
          assertClearRefusal(answer, spec, mutations, request, extra);
        }),
        { numRuns: RUNS, includeErrorInReport: true },
      );
    });
  }
});

describe('malformed requests, binary gRPC (@grpc/grpc-js)', () => {
  test('every method', async () => {
    const arb = fc.nat({ max: METHODS.length - 1 }).chain((i) => caseOf(METHODS[i]!, true).map((c) => ({ method: i, ...c })));
    await fc.assert(
      fc.asyncProperty(arb, async ({ method, mutations, noise }) => {
        const spec = METHODS[method]!;
        const request = apply(spec.base(), mutations, noise);
        // proto-loader encodes a missing field as its default, like any protobuf client.
        const answer = await callGrpc(spec, request);
        assertClearRefusal(answer, spec, mutations, request);
      }),
      { numRuns: 4 * RUNS, includeErrorInReport: true },
    );
  });
});

describe('bad keys and bad bodies', () => {
  test('any malformed, unknown or altered key on an otherwise valid request is UNAUTHENTICATED', async () => {
    const keyish = fc.oneof(
      fc.constant(null),
      fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/= '), maxLength: 200 }),
      fc.constantFrom(...SQL).map((s) => s.replace(/[\r\n]/g, '')),
      // One character of the real key changed, or the key cut or extended.
      fc
        .tuple(fc.nat({ max: 59 }), fc.constantFrom(...'abcxyzABCXYZ0189-_'))
        .map(([i, c]) => api.key.slice(0, i) + (api.key[i] === c ? (c === 'a' ? 'b' : 'a') : c) + api.key.slice(i + 1)),
      fc.nat({ max: 59 }).map((n) => api.key.slice(0, n)),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/).map((s) => api.key + s),
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: METHODS.length - 1 }), keyish, fc.boolean(), async (method, key, overGrpc) => {
        const spec = METHODS[method]!;
        const request = spec.base();
        const answer = overGrpc
          ? await callGrpc(spec, request, key)
          : await callJson(
              `${SERVICE_PATH[spec.service]}/${spec.method}`,
              request,
              key === null ? { authorization: '' } : { authorization: `Bearer ${key}` },
            );
        assert.equal(answer.code, 'unauthenticated', `${spec.method} with ${JSON.stringify(key)}: ${answer.code} ${answer.message}`);
      }),
      { numRuns: 2 * RUNS, includeErrorInReport: true },
    );
  });

  test('bodies that are not a request: not JSON, wrong JSON shapes, over the size limit', async () => {
    const authorize = `${SERVICE_PATH.payments}/Authorize`;
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: METHODS.length - 1 }),
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 200 }).filter((s) => {
            try {
              const v = JSON.parse(s);
              return typeof v !== 'object' || v === null || Array.isArray(v);
            } catch {
              return true;
            }
          }),
          fc.constantFrom('[]', '"x"', '1', 'null', 'true', '{', '{"transaction":', '\u0000'),
        ),
        async (method, body) => {
          const spec = METHODS[method]!;
          const answer = await callJson(`${SERVICE_PATH[spec.service]}/${spec.method}`, body);
          assert.equal(answer.code, 'invalid_argument', `${spec.method} ${JSON.stringify(body)}: ${answer.code} ${answer.message}`);
        },
      ),
      { numRuns: RUNS, includeErrorInReport: true },
    );
    // Bytes that are not a request of the method (mostly not protobuf at all), in binary Connect and
    // in gRPC: Connect's own answer to them is INTERNAL; the server makes it INVALID_ARGUMENT.
    const raw = new grpc.Client(`127.0.0.1:${api.server.port}`, grpc.credentials.createInsecure());
    try {
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: METHODS.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 300 }), async (method, bytes) => {
          const spec = METHODS[method]!;
          const path = `/${SERVICE_PATH[spec.service]}/${spec.method}`;
          // Random bytes may still parse (unknown fields, a short valid id): then a lookup misses.
          const allowed = ['invalid_argument', 'not_found', ...(spec.method === 'ListPayments' ? ['ok'] : [])];
          const res = await fetch(`${api.server.url}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/proto', authorization: `Bearer ${api.key}` },
            body: bytes,
            signal: AbortSignal.timeout(15_000),
          });
          const connectCode = res.status === 200 ? 'ok' : ((await res.json()) as { code: string }).code;
          assert.ok(allowed.includes(connectCode), `${spec.method} (Connect) ${Buffer.from(bytes).toString('hex')}: ${connectCode}`);
          const metadata = new grpc.Metadata();
          metadata.set('authorization', `Bearer ${api.key}`);
          const grpcCode = await new Promise<string>((resolve) =>
            raw.makeUnaryRequest(
              path,
              (b: Buffer) => b,
              (b: Buffer) => b,
              Buffer.from(bytes),
              metadata,
              { deadline: Date.now() + 15_000 },
              (err) => resolve(err ? grpc.status[err.code]!.toLowerCase() : 'ok'),
            ),
          );
          assert.ok(allowed.includes(grpcCode), `${spec.method} (gRPC) ${Buffer.from(bytes).toString('hex')}: ${grpcCode}`);
        }),
        { numRuns: RUNS, includeErrorInReport: true },
      );
    } finally {
      raw.close();
    }

    // A request that would succeed, but for one unknown field or enum name: refused, naming it.
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: METHODS.length - 1 }),
        unknownFields.filter((d) => Object.keys(d).length > 0),
        async (method, extra) => {
          const spec = METHODS[method]!;
          const answer = await callJson(`${SERVICE_PATH[spec.service]}/${spec.method}`, { ...spec.base(), ...extra });
          assert.equal(answer.code, 'invalid_argument', `${spec.method} with ${JSON.stringify(extra)}: ${answer.message}`);
          assert.ok(
            Object.keys(extra).some((key) => answer.message.includes(`"${key}"`)),
            answer.message,
          );
        },
      ),
      { numRuns: RUNS, includeErrorInReport: true },
    );
    for (const stand_in of ['STAND_IN_BOGUS', 'approve', 'STAND_IN_APPROVE ']) {
      const answer = await callJson(`${SERVICE_PATH.payments}/Authorize`, { ...METHODS[0]!.base(), stand_in });
      assert.equal(answer.code, 'invalid_argument', `stand_in ${stand_in}: ${answer.message}`);
      assert.match(answer.message, /StandIn|stand_in/);
    }

    // Over the request limit: refused before it is read, in JSON and in binary gRPC.
    const huge = {
      ...METHODS[0]!.base(),
      transaction: { ...existingTx, merchant: { mcc: '5411', name: 'x'.repeat(REQUEST_BYTES_MAX + 10) } },
    };
    const overJson = await callJson(authorize, huge);
    assert.equal(overJson.code, 'resource_exhausted', overJson.message);
    const overGrpc = await callGrpc(METHODS[0]!, huge);
    assert.equal(overGrpc.code, 'resource_exhausted', overGrpc.message);
    // Just under the limit, the merchant name is still too long: refused for what it is.
    const near = { ...huge, transaction: { ...huge.transaction, merchant: { mcc: '5411', name: 'x'.repeat(REQUEST_BYTES_MAX - 500) } } };
    const nearJson = await callJson(authorize, near);
    assert.equal(nearJson.code, 'invalid_argument', nearJson.message);
    assert.match(nearJson.message, /merchant\.name/);
  });
});

describe('afterwards', () => {
  test('nothing was written, no payment started, and the ledger verifies', async () => {
    // Visibility is eventually consistent: give a stray start time to show.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(await snapshot(), before_);
    assert.equal((await api.h.client.workflow.count(`TaskQueue = '${api.h.task_queue}'`)).count, 1);
    for (const payment_id of Object.values(newPaymentIds)) {
      await assert.rejects(api.h.client.workflow.getHandle(paymentWorkflowId(payment_id)).describe(), WorkflowNotFoundError);
    }
    const report = await verifyLedger(api.h.pool);
    assert.ok(report.ok, JSON.stringify(report.violations));
  });
});
