// Card purchases: the money-safety defects of issue 11 (points 5-12), one scenario each, on a real
// Temporal server and a real Postgres. Each failed on the workflow before the lifecycle decider
// (src/domain/card-lifecycle.ts); each asserts the ledger after it (verifier, and the payment
// against its transfers).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { createCardActivities } from '../../src/activities/card.js';
import {
  authorizeCardPayment,
  clearCardPayment,
  incrementCardPayment,
  refundCardPayment,
  reverseCardPayment,
} from '../../src/api/card-payments.js';
import type { CardPayment, CardWorkflowOptions } from '../../src/domain/card.js';
import { TransferCode, TransferFlags } from '../../src/domain/ledger.js';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher } from '../../src/ledger/batcher.js';
import { transferId } from '../../src/ledger/ids.js';
import { standInAdviceSignal } from '../../src/workflows/messages.js';
import { FAST, cardTestHarness } from '../support/card-harness.js';
import type { PaymentsHarness } from '../support/payments.js';

const card = cardTestHarness('card-money-safety');
const { touched, cardholder, purchase, inTime, opts, eventually } = card;
let h: PaymentsHarness;
before(async () => {
  h = await card.started();
});

async function pending(account_id: string): Promise<number> {
  return Number((await h.ledger.getBalance(account_id))!.debits_pending);
}

/** The network's stand-in advice, as src/api/card-payments.ts sends it. */
function advise(p: CardPayment, stand_in: 'decline' | 'approve', workflow: CardWorkflowOptions = FAST) {
  return h.client.workflow.signalWithStart('cardPaymentWorkflow', {
    workflowId: paymentWorkflowId(p.payment_id),
    taskQueue: h.task_queue,
    args: [p, workflow],
    signal: standInAdviceSignal,
    signalArgs: [{ stand_in }],
  });
}

/** Releases a payment's hold behind its back (as a bug, or ops on the ledger, would). */
async function voidInLedger(payment_id: string, hold_key: string) {
  const [outcome] = await h.ledger.createTransfers([
    {
      id: randomUUID(),
      pending_id: transferId(payment_id, 'card_hold', hold_key),
      code: TransferCode.card_hold_release,
      flags: TransferFlags.void_pending,
      payment_id,
    },
  ]);
  assert.equal(outcome?.result, 'created');
}

/** A call that must answer within `ms` (a workflow stuck on a failed task never does). */
function within<T>(ms: number, call: Promise<T>): Promise<T> {
  return Promise.race([call, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);
}

describe('holds always expire (point 6)', () => {
  test('a hold placed after the payment first went idle (advice first, then the authorization) expires', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    const expiring = { ...FAST, hold_expiry_ms: 1_500 };
    await advise(p, 'approve', expiring);
    // Let the payment handle the advice and go idle before the authorization comes.
    await new Promise((r) => setTimeout(r, 1_000));
    const d = await authorizeCardPayment(h.client, p, inTime(2_000), opts(expiring));
    assert.equal(d.approved, true);
    assert.equal(await pending(c.account_id), 2_000);
    const s = await eventually(p.payment_id, (x) => x.status === 'EXPIRED');
    assert.equal(s.held_minor, 0);
    assert.equal(await pending(c.account_id), 0);
  });
});

describe('failed steps are recorded, never fatal (points 7 and 8)', () => {
  test('advice whose void finds the hold already released: no-op, DECLINED; a later clearing is still booked', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    assert.equal((await authorizeCardPayment(h.client, p, inTime(1_000), opts())).approved, true);
    await voidInLedger(p.payment_id, 'authorization');
    await advise(p, 'decline');
    const declined = await eventually(p.payment_id, (s) => s.status === 'DECLINED');
    assert.equal(declined.held_minor, 0);
    const cleared = await within(15_000, clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_000 }, opts()));
    assert.equal(cleared.status, 'SETTLED');
    assert.equal(cleared.posted_minor, 1_000);
  });

  test('a clearing against a hold released behind its back is force posted, and its repeat posts nothing more', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(1_000), opts());
    await voidInLedger(p.payment_id, 'authorization');
    const cleared = await within(15_000, clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_000 }, opts()));
    assert.equal(cleared.status, 'SETTLED');
    const again = await within(15_000, clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_000 }, opts()));
    assert.equal(again.posted_minor, 1_000);
    const b = (await h.ledger.getBalance(c.account_id))!;
    assert.deepEqual([Number(b.debits_pending), Number(b.debits_posted)], [0, 1_000]);
  });

  test("a clearing's ledger writes are one linked chain (post against the hold, excess on the receivable)", async () => {
    const c = await cardholder(1_000);
    const p = purchase(c.card_id, '5812');
    await authorizeCardPayment(h.client, p, inTime(1_000), opts());
    const s = await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_150 }, opts());
    assert.equal(s.status, 'SETTLED');
    const transfers = (await h.ledger.getPaymentTransfers(p.payment_id)).filter((t) => t.code !== TransferCode.card_hold);
    assert.equal(transfers.length, 2, JSON.stringify(transfers));
    const [post, excess] = [...transfers].sort(
      (a, b) => (a.flags & TransferFlags.post_pending ? -1 : 1) - (b.flags & TransferFlags.post_pending ? -1 : 1),
    );
    assert.ok(post!.flags & TransferFlags.linked, 'the post is linked to the excess charge');
    assert.equal(excess!.flags & TransferFlags.linked, 0, 'the chain ends with the excess charge');
    assert.equal(excess!.amount_minor, 150);
  });
});

describe('the decision step is idempotent (point 10)', () => {
  test('a retried decision answers from the hold its first attempt placed, though the card froze in between', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    touched.pop(); // no workflow: the activity alone
    const postings = createTransferBatcher(h.ledger, DEFAULT_BATCHER_OPTIONS);
    try {
      const activities = createCardActivities({ postings, ledger: h.ledger, cards: h.cards });
      const input = { payment: p, event_id: 'authorization', hold_minor: 700, stand_in_approved: false };
      const first = await activities.authorizeCard(input);
      assert.equal(first.approved, true);
      await h.cards.setStatus(c.card_id, 'frozen');
      const retried = await activities.authorizeCard(input);
      assert.equal(retried.approved, true, `a frozen card must not decline a payment that holds: ${JSON.stringify(retried)}`);
      assert.deepEqual(retried.hold, first.hold);
      assert.equal(await pending(c.account_id), 700);
      await activities.releaseCardHold({ payment: p, event_id: 'test', card: null, hold: first.hold!, keep_minor: 0 });
    } finally {
      await postings.close();
    }
  });
});

describe('a clearing is posted once, whatever the payment remembers (point 8)', () => {
  test('a clearing repeated with no hold in the payment (its history gone) answers from the ledger and posts nothing more', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    touched.pop(); // no workflow: the activities alone
    const postings = createTransferBatcher(h.ledger, DEFAULT_BATCHER_OPTIONS);
    try {
      const activities = createCardActivities({ postings, ledger: h.ledger, cards: h.cards });
      const card = await activities.resolveCard(p);
      const decided = await activities.authorizeCard({
        payment: p,
        event_id: 'authorization',
        hold_minor: 1_000,
        stand_in_approved: false,
      });
      const clearing = { payment: p, event_id: 'clearing:c1', card, amount_minor: 600, final: false };
      const first = await activities.clearCard({ ...clearing, hold: decided.hold! });
      assert.equal(first.hold?.amount_minor, 400);
      const again = await activities.clearCard({ ...clearing, hold: null });
      assert.deepEqual(again.hold, first.hold, 'the kept remainder is found again');
      const b = (await h.ledger.getBalance(c.account_id))!;
      assert.deepEqual([Number(b.debits_posted), Number(b.debits_pending)], [600, 400], 'posted once');
      await activities.releaseCardHold({ payment: p, event_id: 'test', card, hold: first.hold!, keep_minor: 0 });
    } finally {
      await postings.close();
    }
  });
});

describe('increments carry a deadline and a stand-in (point 12)', () => {
  test('an increment answered past its deadline is the stand-in; the hold the workflow decided late is shrunk back', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(1_000), opts());
    const past = await incrementCardPayment(h.client, p.payment_id, {
      event_id: 'i-past',
      amount_minor: 500,
      deadline_at_ms: Date.now() - 1,
      stand_in: 'decline',
    });
    assert.deepEqual(past, { approved: false, reason: 'late_decision', stand_in: true, held_minor: 0 });
    // The workflow judges lateness by the same deadline: a margin longer than it makes it late.
    const late = await incrementCardPayment(h.client, p.payment_id, {
      event_id: 'i-late',
      amount_minor: 500,
      deadline_at_ms: Date.now() + 40,
      stand_in: 'decline',
    });
    assert.equal(late.approved, false);
    const s = await eventually(p.payment_id, (x) =>
      x.timeline.some((e) => e.event === 'increment_declined' && e.detail === 'late: resized back'),
    );
    assert.equal(s.held_minor, 1_000);
    assert.equal(s.authorized_minor, 1_000);
    assert.equal(await pending(c.account_id), 1_000);
  });
});

describe('long-lived and closed payments (point 9)', () => {
  test('continues as new carrying its state and handled messages; a repeat after it changes nothing', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    const short = { ...FAST, continue_as_new_after_events: 20 };
    await authorizeCardPayment(h.client, p, inTime(1_000), opts(short));
    for (const id of ['i1', 'i2', 'i3', 'i4']) {
      assert.equal((await incrementCardPayment(h.client, p.payment_id, { event_id: id, amount_minor: 100 })).approved, true);
    }
    const repeat = await incrementCardPayment(h.client, p.payment_id, { event_id: 'i1', amount_minor: 100 });
    assert.equal(repeat.held_minor, 1_400, 'a repeated increment is answered, not applied');
    const s = await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 1_400 }, opts(short));
    assert.equal(s.status, 'SETTLED');
    const described = await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).describe();
    assert.notEqual(described.raw.workflowExecutionInfo?.firstRunId, described.runId, 'the payment continued as new');
    assert.equal(await pending(c.account_id), 0);
  });

  test('a refund and a repeated clearing after the payment closed: a new run books the refund, the repeat posts nothing', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    const closing = { ...FAST, linger_ms: 300 };
    await authorizeCardPayment(h.client, p, inTime(2_000), opts(closing));
    await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 2_000 }, opts(closing));
    await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).result();
    const refunded = await refundCardPayment(h.client, p, { event_id: 'r1', amount_minor: 2_000 }, opts(closing));
    assert.equal(refunded.status, 'REFUNDED');
    await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).result();
    const repeated = await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 2_000 }, opts(closing));
    assert.equal(repeated.posted_minor, 2_000);
    await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).result();
    // Messages that need a hold, after the payment completed: answered from its state, never
    // INTERNAL (a reversal releases nothing; an increment is refused).
    assert.equal((await reverseCardPayment(h.client, p.payment_id, { event_id: 'rv-late' })).held_minor, 0);
    await assert.rejects(incrementCardPayment(h.client, p.payment_id, { event_id: 'i-late', amount_minor: 1 }), /nothing is held/);
    const force = purchase(c.card_id);
    await clearCardPayment(h.client, force, { event_id: 'c1', amount_minor: 100 }, opts(closing));
    await h.client.workflow.getHandle(paymentWorkflowId(force.payment_id)).result();
    await assert.rejects(authorizeCardPayment(h.client, force, inTime(100), opts(closing)), /an authorization must be its first message/);
    const b = (await h.ledger.getBalance(c.account_id))!;
    assert.deepEqual([Number(b.debits_posted), Number(b.credits_posted)], [2_100, 12_000]);
  });
});

describe('in time means in time at the network (point 5)', () => {
  test('a decision the network did not get in time: the stand-in answer goes once the advice is acknowledged; the payment records it and nothing stays held', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    const d = await authorizeCardPayment(h.client, p, { amount_minor: 900, deadline_at_ms: Date.now() + 30, stand_in: 'decline' }, opts());
    assert.deepEqual(d, { approved: false, reason: 'late_decision', stand_in: true, held_minor: 0 });
    // The server acknowledged the advice before the answer went (it may still be buffered behind
    // the running workflow task): the payment records it.
    const s = await eventually(
      p.payment_id,
      (x) => x.status === 'DECLINED' && x.held_minor === 0 && x.timeline.some((e) => e.event === 'stand_in_advice_decline'),
    );
    assert.equal(s.decline_reason, 'late_decision');
    assert.equal(await pending(c.account_id), 0);
  });
});
