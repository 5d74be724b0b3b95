// Spend limits (issue 15 point 4): checked by the ledger in the hold's own transaction, on a real
// Postgres. The decision steps run as the worker runs them (the card activities over a real
// batcher) with an injected clock, to cross windows; one scenario goes through the workflow and
// the API's path. The verifier runs after every test.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { createCardActivities, type AuthorizeCardResult } from '../../src/activities/card.js';
import { authorizeCardPayment, reverseCardPayment } from '../../src/api/card-payments.js';
import { getPayment } from '../../src/api/payments.js';
import { CardInputError } from '../../src/cards/cards.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment } from '../../src/domain/card.js';
import type { SpendLimitInput } from '../../src/domain/spend-limits.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher, type TransferBatcher } from '../../src/ledger/batcher.js';
import { checkPaymentAgainstLedger } from '../../src/ledger/payment-check.js';
import { cardLimitUsage } from '../../src/ledger/spend-limits.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

let h: PaymentsHarness;
let postings: TransferBatcher;
/** A second batcher: a second worker process, so that racing authorizations also meet in
 * different transactions, not only inside one batch. */
let otherPostings: TransferBatcher;
/** The authorization time the activities see (epoch ms). */
let now_ms = Date.UTC(2026, 11, 2, 12, 0, 0);

before(async () => {
  h = await startPaymentsHarness('spend-limits');
  postings = createTransferBatcher(h.ledger, DEFAULT_BATCHER_OPTIONS);
  otherPostings = createTransferBatcher(h.ledger, DEFAULT_BATCHER_OPTIONS);
});
after(async () => {
  await postings.close();
  await otherPostings.close();
  await h.close();
});
afterEach(async () => {
  const report = await verifyLedger(h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
});

const activities = (batcher: TransferBatcher = postings) =>
  createCardActivities({ postings: batcher, ledger: h.ledger, cards: h.cards, clock: () => now_ms });

async function cardholder(card_limits: SpendLimitInput[], company_limits: SpendLimitInput[] = []) {
  const company_id = `co-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency: 'USD', limit_minor: 1_000_000, grant_key: 'initial' });
  const card = await h.cards.issue({ card_id: `card-${randomUUID().slice(0, 8)}`, company_id, currency: 'USD', account_id });
  await h.cards.setSpendLimits(card.card_id, card_limits);
  if (company_limits.length > 0) await h.cards.setCompanySpendLimits(company_id, 'USD', company_limits);
  return { company_id, account_id, card_id: card.card_id };
}

async function secondCard(c: { company_id: string; account_id: string }) {
  const card = await h.cards.issue({
    card_id: `card-${randomUUID().slice(0, 8)}`,
    company_id: c.company_id,
    currency: 'USD',
    account_id: c.account_id,
  });
  return card.card_id;
}

const purchase = (card_id: string, mcc = '5411'): CardPayment => ({
  payment_id: `txn-${randomUUID()}`,
  card_id,
  currency: 'USD',
  merchant: { mcc, name: 'Corner Shop' },
});

const authorize = (p: CardPayment, hold_minor: number, batcher?: TransferBatcher) =>
  activities(batcher).authorizeCard({ payment: p, event_id: 'authorization', hold_minor, stand_in_approved: false });

async function used(card_id: string): Promise<Record<string, number>> {
  const card = (await h.cards.get(card_id))!;
  const usage = await cardLimitUsage(h.ledger, card, now_ms);
  return Object.fromEntries([...usage.card_limits, ...usage.company_limits].map((u) => [u.name, u.used]));
}

const reasons = (results: AuthorizeCardResult[]) => results.filter((r) => !r.approved).map((r) => r.reason);

describe('limits hold under concurrent authorizations', () => {
  test('ten authorizations of 300 at once under a 1000 day limit: exactly three pass', async () => {
    const c = await cardholder([{ window: 'day', measure: 'amount', limit: 1_000 }]);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, k) => authorize(purchase(c.card_id), 300, k % 2 === 0 ? postings : otherPostings)),
    );
    assert.equal(results.filter((r) => r.approved).length, 3, JSON.stringify(results));
    assert.deepEqual(reasons(results), Array(7).fill('spend_limit:card:day:amount'));
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 900 });
    assert.equal((await h.ledger.getBalance(c.account_id))!.debits_pending, 900n, 'only the approved ones hold the credit line');
  });

  test('a company count limit of 4 per week over two cards: 12 at once, exactly four pass', async () => {
    const c = await cardholder([], [{ window: 'week', measure: 'count', limit: 4 }]);
    const other = await secondCard(c);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, k) =>
        authorize(purchase(k % 2 === 0 ? c.card_id : other), 10, k % 3 === 0 ? otherPostings : postings),
      ),
    );
    assert.equal(results.filter((r) => r.approved).length, 4);
    assert.deepEqual(reasons(results), Array(8).fill('spend_limit:company:week:count'));
    assert.deepEqual(await used(other), { 'spend_limit:company:week:count': 4 });
  });
});

describe('windows roll over by UTC time', () => {
  test('a day limit spent at 23:59:59.999 has its room again at midnight UTC; the month limit does not', async () => {
    now_ms = Date.UTC(2026, 11, 2, 23, 59, 59, 999);
    const c = await cardholder([
      { window: 'day', measure: 'amount', limit: 1_000 },
      { window: 'month', measure: 'amount', limit: 1_500 },
    ]);
    assert.equal((await authorize(purchase(c.card_id), 800)).approved, true);
    assert.equal((await authorize(purchase(c.card_id), 300)).reason, 'spend_limit:card:day:amount');
    now_ms += 1; // 2026-12-03T00:00:00.000Z
    assert.equal((await authorize(purchase(c.card_id), 300)).approved, true, 'a new day, a new window');
    assert.equal((await authorize(purchase(c.card_id), 500)).reason, 'spend_limit:card:month:amount', '800 + 300 + 500 > 1500');
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 300, 'spend_limit:card:month:amount': 1_100 });
    now_ms = Date.UTC(2027, 0, 1);
    assert.equal((await authorize(purchase(c.card_id), 1_000)).approved, true, 'a new month, a new window');
  });
});

describe('room comes back as the network would', () => {
  test('a reversal (or an expiry: the same release) gives the room back; a partial one keeps what stays held', async () => {
    const c = await cardholder([
      { window: 'day', measure: 'amount', limit: 1_000 },
      { window: 'day', measure: 'count', limit: 1 },
    ]);
    const a = activities();
    const p = purchase(c.card_id);
    const first = await authorize(p, 800);
    assert.equal(first.approved, true);
    assert.equal((await authorize(purchase(c.card_id), 100)).reason, 'spend_limit:card:day:count');
    const card = await a.resolveCard(p);
    const partial = await a.releaseCardHold({ payment: p, event_id: 'reversal:r1', card, hold: first.hold!, keep_minor: 300 });
    assert.equal(partial.released_minor, 500);
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 300, 'spend_limit:card:day:count': 1 });
    await a.releaseCardHold({ payment: p, event_id: 'expiry', card, hold: partial.hold!, keep_minor: 0 });
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 0, 'spend_limit:card:day:count': 0 });
    assert.equal((await authorize(purchase(c.card_id), 1_000)).approved, true);
  });

  test('a clearing keeps what it posted from the hold; a partial one keeps the rest held; a refund gives nothing back', async () => {
    const c = await cardholder([{ window: 'day', measure: 'amount', limit: 1_000 }]);
    const a = activities();
    const p = purchase(c.card_id);
    const card = await a.resolveCard(p);
    const first = await authorize(p, 800);
    const partial = await a.clearCard({ payment: p, event_id: 'clearing:c1', card, hold: first.hold!, amount_minor: 300, final: false });
    assert.equal(partial.hold?.amount_minor, 500);
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 800 });
    await a.clearCard({ payment: p, event_id: 'clearing:c2', card, hold: partial.hold, amount_minor: 400, final: true });
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 700 }, '300 + 400 posted, 100 released');
    await a.refundCard({ payment: p, event_id: 'refund:f1', card, amount_minor: 700 });
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 700 }, 'a refund is not an unauthorized purchase');
    assert.equal((await authorize(purchase(c.card_id), 301)).reason, 'spend_limit:card:day:amount');
  });

  test('an increment is checked for the whole new hold and is not another transaction', async () => {
    const c = await cardholder([
      { window: 'day', measure: 'amount', limit: 1_000 },
      { window: 'day', measure: 'count', limit: 1 },
    ]);
    const a = activities();
    const p = purchase(c.card_id);
    const first = await authorize(p, 600);
    const increment = (event_id: string, hold_minor: number, replaces = first.hold!) =>
      a.authorizeCard({ payment: p, event_id, hold_minor, replaces, stand_in_approved: false });
    const refused = await increment('increment:i1', 1_100);
    assert.equal(refused.reason, 'spend_limit:card:day:amount');
    const grown = await increment('increment:i2', 900);
    assert.equal(grown.approved, true, JSON.stringify(grown));
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 900, 'spend_limit:card:day:count': 1 });
    await a.releaseCardHold({ payment: p, event_id: 'reversal', card: await a.resolveCard(p), hold: grown.hold!, keep_minor: 0 });
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 0, 'spend_limit:card:day:count': 0 });
  });
});

describe('scopes', () => {
  test('a limit scoped to merchant categories counts and checks only those', async () => {
    const c = await cardholder([{ window: 'day', measure: 'amount', limit: 500, mccs: ['5813', '5812'] }]);
    assert.equal((await authorize(purchase(c.card_id, '5812'), 400)).approved, true);
    assert.equal((await authorize(purchase(c.card_id, '5813'), 200)).reason, 'spend_limit:card:day:amount:mcc=5812+5813');
    assert.equal((await authorize(purchase(c.card_id, '5411'), 2_000)).approved, true, 'groceries are not limited');
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount:mcc=5812+5813': 400 });
  });

  test("a company's limit counts every card of the company; a card's limit only its own", async () => {
    const c = await cardholder(
      [{ window: 'all_time', measure: 'amount', limit: 700 }],
      [{ window: 'month', measure: 'amount', limit: 1_000 }],
    );
    const other = await secondCard(c);
    assert.equal((await authorize(purchase(c.card_id), 600)).approved, true);
    assert.equal((await authorize(purchase(c.card_id), 200)).reason, 'spend_limit:card:all_time:amount');
    assert.equal((await authorize(purchase(other), 500)).reason, 'spend_limit:company:month:amount');
    assert.equal((await authorize(purchase(other), 400)).approved, true);
    assert.deepEqual(await used(other), { 'spend_limit:company:month:amount': 1_000 });
  });

  test('a changed limit applies to the next authorization, below what is used too', async () => {
    const c = await cardholder([{ window: 'day', measure: 'amount', limit: 1_000 }]);
    assert.equal((await authorize(purchase(c.card_id), 600)).approved, true);
    await h.cards.setSpendLimits(c.card_id, [{ window: 'day', measure: 'amount', limit: 500 }]);
    assert.equal((await authorize(purchase(c.card_id), 1)).reason, 'spend_limit:card:day:amount');
    await h.cards.setSpendLimits(c.card_id, [{ window: 'day', measure: 'amount', limit: 2_000 }]);
    assert.equal((await authorize(purchase(c.card_id), 1_400)).approved, true);
    await h.cards.setSpendLimits(c.card_id, []);
    assert.equal((await authorize(purchase(c.card_id), 50_000)).approved, true, 'no limits: only the credit line');
  });

  test("a stand-in approval is the network's decision: it passes and uses no limit", async () => {
    const c = await cardholder([{ window: 'day', measure: 'amount', limit: 100 }]);
    const r = await activities().authorizeCard({
      payment: purchase(c.card_id),
      event_id: 'authorization',
      hold_minor: 500,
      stand_in_approved: true,
    });
    assert.equal(r.approved, true);
    assert.deepEqual(await used(c.card_id), { 'spend_limit:card:day:amount': 0 });
  });
});

describe('through the workflow', () => {
  test('a decline names the limit on the payment; a reversal gives the room back', async () => {
    now_ms = Date.now();
    const c = await cardholder([{ window: 'day', measure: 'amount', limit: 1_000 }]);
    const opts = { task_queue: h.task_queue, workflow: { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 } };
    const auth = (amount_minor: number) => ({ amount_minor, deadline_at_ms: Date.now() + 10_000, stand_in: 'decline' as const });
    const p1 = purchase(c.card_id);
    assert.equal((await authorizeCardPayment(h.client, p1, auth(900), opts)).approved, true);
    const p2 = purchase(c.card_id);
    const declined = await authorizeCardPayment(h.client, p2, auth(200), opts);
    assert.equal(declined.approved, false);
    assert.equal(declined.reason, 'spend_limit:card:day:amount');
    assert.equal((await getPayment(h.client, p2.payment_id)).decline_reason, 'spend_limit:card:day:amount');
    await reverseCardPayment(h.client, p1.payment_id, { event_id: 'reversal:r1' });
    assert.deepEqual(await usedNow(c.card_id), { 'spend_limit:card:day:amount': 0 });
    assert.equal((await authorizeCardPayment(h.client, purchase(c.card_id), auth(1_000), opts)).approved, true);
    for (const p of [p1, p2]) assert.equal(await checkPaymentAgainstLedger(h.ledger, await getPayment(h.client, p.payment_id)), null);
  });
});

describe('bad limits are refused with the field named, and nothing is written', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    [
      'an unknown window',
      [{ window: 'year', measure: 'amount', limit: 1 }],
      /spend_limits\.0\.window: must be one of day, week, month, all_time/,
    ],
    ['a zero limit', [{ window: 'day', measure: 'amount', limit: 0 }], /spend_limits\.0\.limit: must be greater than zero/],
    ['a fraction', [{ window: 'day', measure: 'amount', limit: 1.5 }], /spend_limits\.0\.limit: must be an integer/],
    [
      'a count over the ceiling',
      [{ window: 'day', measure: 'count', limit: 1_000_001 }],
      /spend_limits\.0\.limit: must be at most 1000000/,
    ],
    ['an amount over the ceiling', [{ window: 'day', measure: 'amount', limit: 10_000_000_000_001 }], /must be at most 10000000000000/],
    [
      'a bad merchant category',
      [{ window: 'day', measure: 'amount', limit: 1, mccs: ['58x2'] }],
      /spend_limits\.0\.mccs\.0: must be four digits/,
    ],
    [
      'a duplicate',
      [
        { window: 'day', measure: 'count', limit: 1 },
        { window: 'day', measure: 'count', limit: 2 },
      ],
      /spend_limits\.1: a second day:count limit/,
    ],
    ['an unknown field', [{ window: 'day', measure: 'count', limit: 1, per: 'card' }], /spend_limits\.0/],
    [
      'seventeen limits',
      Array.from({ length: 17 }, (_, k) => ({ window: 'day', measure: 'amount', limit: 1, mccs: [String(1000 + k)] })),
      /at most 16 limits/,
    ],
  ];
  for (const [what, limits, message] of bad) {
    test(what, async () => {
      const c = await cardholder([{ window: 'day', measure: 'amount', limit: 5 }]);
      await assert.rejects(
        h.cards.setSpendLimits(c.card_id, limits as SpendLimitInput[]),
        (err: unknown) => err instanceof CardInputError && message.test(err.message),
      );
      await assert.rejects(h.cards.setCompanySpendLimits(c.company_id, 'USD', limits as SpendLimitInput[]), CardInputError);
      assert.deepEqual((await h.cards.get(c.card_id))!.spend_limits, [{ window: 'day', measure: 'amount', limit: 5, mccs: [] }]);
      assert.deepEqual(await h.cards.getCompanySpendLimits(c.company_id, 'USD'), []);
    });
  }
});

async function usedNow(card_id: string) {
  now_ms = Date.now();
  return used(card_id);
}
