// Events (issue 16 points 4 and 6): every payment transition writes one event, in order, with the
// payment as GetPayment returns it; a retried step writes no second event; bad events are refused.
// A real Temporal server runs the workflows, a real Postgres holds the ledger and the events.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../../src/codec/data-converter.js';
import { REPO_ROOT } from '../../src/config.js';
import { createCardActivities } from '../../src/activities/card.js';
import {
  authorizeCardPayment,
  clearCardPayment,
  incrementCardPayment,
  refundCardPayment,
  reverseCardPayment,
} from '../../src/api/card-payments.js';
import { getPayment, startPayout } from '../../src/api/payments.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment, type CardWorkflowOptions } from '../../src/domain/card.js';
import { initialCardState, type CardState } from '../../src/domain/card-lifecycle.js';
import { paymentWorkflowId, type PayoutRequest } from '../../src/domain/payment.js';
import { paymentObject } from '../../src/events/payment-event.js';
import { createEventStore, eventId, type EventStore, type StoredEvent } from '../../src/events/store.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher } from '../../src/ledger/batcher.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { REJECTED_ACCOUNT_PREFIX } from '../../src/settlement/simulator.js';
import { authorizeUpdate, clearUpdate, getPaymentQuery, refundUpdate } from '../../src/workflows/messages.js';
import { testDataConverter } from '../support/codec.js';
import { testEnv } from '../support/env.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

let h: PaymentsHarness;
let events: EventStore;

before(async () => {
  h = await startPaymentsHarness('events');
  events = createEventStore(h.pool);
});
after(async () => {
  await h.close();
});
afterEach(async () => {
  const report = await verifyLedger(h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
});

const FAST: CardWorkflowOptions = { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 };
const opts = (workflow: CardWorkflowOptions = FAST) => ({ task_queue: h.task_queue, workflow });
const inTime = (amount_minor: number) => ({ amount_minor, deadline_at_ms: Date.now() + 10_000, stand_in: 'decline' as const });

async function cardholder(limit_minor: number, rules: { blocked_mccs?: string[] } = {}, harness: PaymentsHarness = h) {
  const company_id = `co-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(harness.ledger, { company_id, currency: 'USD', limit_minor, grant_key: 'initial' });
  const card = await harness.cards.issue({
    card_id: `card-${randomUUID().slice(0, 8)}`,
    company_id,
    currency: 'USD',
    account_id,
    transaction_limit_minor: null,
    blocked_mccs: rules.blocked_mccs ?? [],
  });
  return { company_id, account_id, card_id: card.card_id };
}

function purchase(card_id: string, mcc = '5411'): CardPayment {
  return { payment_id: `txn-${randomUUID()}`, card_id, currency: 'USD', merchant: { mcc, name: 'Corner Grocery' } };
}

async function eventsOf(company_id: string, payment_id: string): Promise<StoredEvent[]> {
  const page = await events.listEvents({ company_ids: [company_id], object_id: payment_id }, { limit: 100 });
  return page.events;
}

/** The payment's events, once there are `count` of them (the last step's event is written by its
 * activity before the workflow answers, so they are there when the call returns). */
async function typesOf(company_id: string, payment_id: string): Promise<string[]> {
  return (await eventsOf(company_id, payment_id)).map((e) => e.type);
}

/** The last event's object is the payment as GetPayment returns it (without the timeline). */
async function lastObjectMatches(company_id: string, payment_id: string): Promise<void> {
  const all = await eventsOf(company_id, payment_id);
  const last = all.at(-1);
  assert.ok(last, 'at least one event');
  const state = await getPayment(h.client, payment_id);
  assert.deepEqual(last.object, paymentObject(state));
  assert.equal(last.company_id, company_id);
  assert.equal(last.object_type, 'payment');
}

describe('card payments: one event per transition, in order', () => {
  test('authorized, then settled by its clearing', async () => {
    const c = await cardholder(100_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(2_500), opts());
    assert.deepEqual(await typesOf(c.company_id, p.payment_id), ['payment.authorized']);
    await lastObjectMatches(c.company_id, p.payment_id);
    await clearCardPayment(h.client, p, { event_id: 'clr-1', amount_minor: 2_500 }, opts());
    assert.deepEqual(await typesOf(c.company_id, p.payment_id), ['payment.authorized', 'payment.settled']);
    await lastObjectMatches(c.company_id, p.payment_id);
    const settled = (await eventsOf(c.company_id, p.payment_id))[1]!;
    assert.equal(settled.object.status, 'SETTLED');
    assert.equal(settled.object.postedMinor, '2500');
  });

  test('declined by a card rule (no ledger write) and by the credit line, with the reason', async () => {
    const c = await cardholder(1_000, { blocked_mccs: ['7995'] });
    const blocked = purchase(c.card_id, '7995');
    assert.equal((await authorizeCardPayment(h.client, blocked, inTime(100), opts())).approved, false);
    const short = purchase(c.card_id);
    assert.equal((await authorizeCardPayment(h.client, short, inTime(5_000), opts())).approved, false);
    for (const [p, reason] of [
      [blocked, 'merchant_category_blocked'],
      [short, 'insufficient_credit'],
    ] as const) {
      const all = await eventsOf(c.company_id, p.payment_id);
      assert.deepEqual(
        all.map((e) => e.type),
        ['payment.declined'],
      );
      assert.equal(all[0]!.object.declineReason, reason);
      assert.equal(all[0]!.object.status, 'DECLINED');
      await lastObjectMatches(c.company_id, p.payment_id);
    }
  });

  test('incremented, partly reversed, then reversed', async () => {
    const c = await cardholder(100_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(1_000), opts());
    await incrementCardPayment(h.client, p.payment_id, { event_id: 'inc-1', amount_minor: 500, stand_in: 'decline' });
    await reverseCardPayment(h.client, p.payment_id, { event_id: 'rev-1', amount_minor: 300 });
    await reverseCardPayment(h.client, p.payment_id, { event_id: 'rev-2' });
    assert.deepEqual(await typesOf(c.company_id, p.payment_id), [
      'payment.authorized',
      'payment.updated',
      'payment.updated',
      'payment.reversed',
    ]);
    const heldAfter = (await eventsOf(c.company_id, p.payment_id)).map((e) => e.object.heldMinor);
    assert.deepEqual(heldAfter, ['1000', '1500', '1200', '0']);
    await lastObjectMatches(c.company_id, p.payment_id);
  });

  test('expired when its hold times out', async () => {
    const c = await cardholder(100_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(700), opts({ ...FAST, hold_expiry_ms: 1_000 }));
    const until = Date.now() + 30_000;
    while ((await typesOf(c.company_id, p.payment_id)).length < 2) {
      assert.ok(Date.now() < until, 'expiry event within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await typesOf(c.company_id, p.payment_id), ['payment.authorized', 'payment.expired']);
    await lastObjectMatches(c.company_id, p.payment_id);
  });

  test('posted in part, settled by the final clearing, refunded', async () => {
    const c = await cardholder(100_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(1_000), opts());
    await clearCardPayment(h.client, p, { event_id: 'clr-1', amount_minor: 400, final: false }, opts());
    await clearCardPayment(h.client, p, { event_id: 'clr-2', amount_minor: 600, final: true }, opts());
    await refundCardPayment(h.client, p, { event_id: 'ref-1', amount_minor: 1_000 }, opts());
    assert.deepEqual(await typesOf(c.company_id, p.payment_id), [
      'payment.authorized',
      'payment.posted',
      'payment.settled',
      'payment.refunded',
    ]);
    await lastObjectMatches(c.company_id, p.payment_id);
  });

  test('a decision past the deadline: the stand-in decline is the only event', async () => {
    const c = await cardholder(100_000);
    const p = purchase(c.card_id);
    // A decision margin longer than any deadline makes the decision late: the hold it placed is
    // voided, the network having declined in the issuer's stead.
    const decision = await authorizeCardPayment(h.client, p, inTime(900), opts({ ...FAST, decision_margin_ms: 60_000 }));
    assert.equal(decision.approved, false);
    const until = Date.now() + 20_000;
    while ((await getPayment(h.client, p.payment_id)).status !== 'DECLINED') {
      assert.ok(Date.now() < until, 'declined within 20 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await typesOf(c.company_id, p.payment_id), ['payment.declined']);
    await lastObjectMatches(c.company_id, p.payment_id);
  });

  test('a retried step writes its event once', async () => {
    const c = await cardholder(100_000);
    const p = purchase(c.card_id);
    const postings = createTransferBatcher(h.ledger, DEFAULT_BATCHER_OPTIONS);
    after(() => postings.close());
    const activities = createCardActivities({ postings, ledger: h.ledger, cards: h.cards, events });
    const state: CardState = initialCardState(p.merchant.mcc, { decision_margin_ms: 0, hold_expiry_ms: 60_000 });
    const message = { kind: 'refund' as const, event_id: 'ref-x', amount_minor: 250 };
    const command = { kind: 'refund' as const, event_id: 'ref-x', amount_minor: 250 };
    const card = { company_id: c.company_id, account_id: c.account_id };
    const input = { payment: p, event_id: 'ref-x', card, amount_minor: 250, event_context: { state, message, command } };
    await activities.refundCard(input);
    await activities.refundCard(input); // the retry after a lost reply: ledger `exists`, same event id
    const all = await eventsOf(c.company_id, p.payment_id);
    assert.deepEqual(
      all.map((e) => e.type),
      ['payment.refunded'],
    );
    assert.equal(all[0]!.event_id, eventId('payment', p.payment_id, 'refund:ref-x'));
  });
});

describe('payouts', () => {
  async function company(limit_minor: number) {
    const company_id = `co-${randomUUID().slice(0, 8)}`;
    const account_id = await openCreditLine(h.ledger, { company_id, currency: 'EUR', limit_minor, grant_key: 'initial' });
    return { company_id, account_id };
  }
  const payout = (
    co: { company_id: string; account_id: string },
    amount_minor: number,
    bank_account = 'DE89370400440532013000',
  ): PayoutRequest => ({
    payment_id: `pay-${randomUUID()}`,
    company_id: co.company_id,
    account_id: co.account_id,
    amount_minor,
    currency: 'EUR',
    payee: { name: 'Supplier GmbH', bank_account },
  });
  const run = async (request: PayoutRequest) => (await startPayout(h.client, request, h.task_queue)).handle.result();

  test('settled, declined and compensated payouts', async () => {
    const co = await company(10_000);
    const settled = payout(co, 1_000);
    const declined = payout(co, 50_000);
    const compensated = payout(co, 2_000, `${REJECTED_ACCOUNT_PREFIX}0532013000`);
    assert.equal((await run(settled)).status, 'SETTLED');
    assert.equal((await run(declined)).status, 'DECLINED');
    assert.equal((await run(compensated)).status, 'COMPENSATED');
    assert.deepEqual(await typesOf(co.company_id, settled.payment_id), ['payment.authorized', 'payment.posted', 'payment.settled']);
    assert.deepEqual(await typesOf(co.company_id, declined.payment_id), ['payment.declined']);
    assert.deepEqual(await typesOf(co.company_id, compensated.payment_id), ['payment.authorized', 'payment.posted', 'payment.compensated']);
    const last = (await eventsOf(co.company_id, compensated.payment_id)).at(-1)!;
    assert.equal(last.object.reversedMinor, '2000');
    assert.equal(last.object.status, 'COMPENSATED');
  });
});

describe('the event store refuses bad events and writes nothing', () => {
  const good = () => ({
    event_id: eventId('payment', `txn-${randomUUID()}`, 'x'),
    type: 'payment.settled',
    company_id: 'co-bad-input',
    object_type: 'payment' as const,
    object_id: 'txn-1',
    object: { paymentId: 'txn-1' },
  });
  for (const [name, change, error] of [
    ['an id not derived by eventId', { event_id: 'evt_1' }, /event_id/],
    ['a type without a family', { type: 'settled' }, /type/],
    ['a company id with spaces', { company_id: 'a b' }, /company_id/],
    ['an unknown object type', { object_type: 'invoice' }, /object_type/],
  ] as const) {
    test(name, async () => {
      await assert.rejects(events.appendEvents([{ ...good(), ...change } as never]), error);
      const page = await events.listEvents({ company_ids: ['co-bad-input'] }, { limit: 10 });
      assert.equal(page.events.length, 0);
    });
  }
  test('a page token this server did not hand out', async () => {
    await assert.rejects(events.listEvents({ company_ids: ['co-bad-input'] }, { after: 'nope', limit: 10 }), /page_token/);
  });
});

describe('payments no company sees, and payments on the legacy workflow', () => {
  test('a card the issuer does not know belongs to no company: its payment writes no event', async () => {
    // Declined (card_not_found), then force-posted by the network anyway (booked on the over-limit
    // receivable): real changes, but no company's customer made them, so no company is told.
    const p = purchase(`card-unknown-${randomUUID().slice(0, 8)}`);
    assert.equal((await authorizeCardPayment(h.client, p, inTime(700), opts())).approved, false);
    await clearCardPayment(h.client, p, { event_id: 'clr-1', amount_minor: 700 }, opts());
    const state = await getPayment(h.client, p.payment_id);
    assert.deepEqual([state.status, state.posted_minor, state.company_id], ['SETTLED', 700, undefined]);
    const { rows } = await h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM events.events WHERE object_id = $1', [p.payment_id]);
    assert.equal(rows[0]!.n, 0);
  });

  test('a payment still running the legacy workflow writes an event for each change it makes now', async () => {
    // Payments started before patched('card-decider') run src/workflows/card-payment-legacy.ts for
    // up to 150 days; a worker of today runs their new messages. Here one starts on that code.
    const bundlePath = path.join(testEnv.scratchDir, `legacy-workflows-${randomUUID().slice(0, 8)}.js`);
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(REPO_ROOT, 'test', 'support', 'legacy-workflows.ts'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: undefined,
    });
    writeFileSync(bundlePath, code);
    const legacy = await startPaymentsHarness('events-legacy', {
      endpoints: { databaseUrl: testEnv.databaseUrl, temporalAddress: testEnv.temporalAddress, workflowBundlePath: bundlePath },
    });
    try {
      const { company_id, card_id } = await cardholder(100_000, {}, legacy);
      const p = purchase(card_id);
      const handle = await legacy.client.workflow.start('legacyCardPaymentWorkflow', {
        workflowId: paymentWorkflowId(p.payment_id),
        taskQueue: legacy.task_queue,
        args: [p, FAST],
      });
      const decision = await handle.executeUpdate(authorizeUpdate, { args: [inTime(2_500)] });
      assert.equal(decision.approved, true);
      await handle.executeUpdate(clearUpdate, { args: [{ event_id: 'clr-1', amount_minor: 2_500 }] });
      await handle.executeUpdate(refundUpdate, { args: [{ event_id: 'rfd-1', amount_minor: 1_000 }] });
      const store = createEventStore(legacy.pool);
      const written = (await store.listEvents({ company_ids: [company_id], object_id: p.payment_id }, { limit: 100 })).events;
      assert.deepEqual(
        written.map((e) => [e.type, e.event_id, e.object.status]),
        [
          ['payment.authorized', eventId('payment', p.payment_id, 'legacy:authorization'), 'AUTHORIZED'],
          ['payment.settled', eventId('payment', p.payment_id, 'legacy:clearing:clr-1'), 'SETTLED'],
          ['payment.refunded', eventId('payment', p.payment_id, 'legacy:refund:rfd-1'), 'SETTLED'],
        ],
      );
      // Each the payment as GetPayment returns it after that change.
      assert.deepEqual(written.at(-1)!.object, paymentObject(await handle.query(getPaymentQuery)));
      assert.equal(written[1]!.object.postedMinor, '2500');
      assert.equal(written[2]!.object.refundedMinor, '1000');
      // The same messages again write nothing (a repeated message runs nothing).
      await handle.executeUpdate(refundUpdate, { args: [{ event_id: 'rfd-1', amount_minor: 1_000 }] });
      assert.equal((await store.listEvents({ company_ids: [company_id], object_id: p.payment_id }, { limit: 100 })).events.length, 3);
      await handle.terminate('test over');
      // Its history, patch markers and event steps included, replays on the same code.
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: bundlePath }, dataConverter: testDataConverter() },
        await handle.fetchHistory(),
        handle.workflowId,
      );
    } finally {
      await legacy.close();
    }
  });
});
