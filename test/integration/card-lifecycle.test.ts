// Card purchases end to end, one scenario per row of DESIGN.md section 5's table: a real Temporal
// server runs the workflow, a real Postgres holds cards and the ledger. Each scenario asserts the
// final state, the company's balances, the payment's transfers (invariant 5) and the verifier.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  AuthorizationConflictError,
  CardEventRefusedError,
  authorizeCardPayment,
  clearCardPayment,
  incrementCardPayment,
  refundCardPayment,
  reverseCardPayment,
} from '../../src/api/card-payments.js';
import { readPayment } from '../../src/api/ops.js';
import { InvalidPaymentError, getPayment } from '../../src/api/payments.js';
import type { CardPayment, CardWorkflowOptions } from '../../src/domain/card.js';
import { paymentWorkflowId, type PaymentState } from '../../src/domain/payment.js';
import { platformAccount } from '../../src/ledger/accounts.js';
import { standInAdviceSignal } from '../../src/workflows/messages.js';
import { FAST, cardTestHarness } from '../support/card-harness.js';
import type { PaymentsHarness } from '../support/payments.js';

const card = cardTestHarness('card-lifecycle');
const { touched, cardholder, purchase, inTime, opts, eventually } = card;
let h: PaymentsHarness;
before(async () => {
  h = await card.started();
});

async function balance(account_id: string) {
  const b = await h.ledger.getBalance(account_id);
  assert.ok(b, `account ${account_id} exists`);
  return { debits_pending: Number(b.debits_pending), debits_posted: Number(b.debits_posted), credits_posted: Number(b.credits_posted) };
}

async function state(payment_id: string): Promise<PaymentState> {
  return getPayment(h.client, payment_id);
}

describe('authorization', () => {
  test('approved: holds the amount; one clearing posts it and the payment is SETTLED', async () => {
    const c = await cardholder(100_000);
    const p = purchase(c.card_id);
    const decision = await authorizeCardPayment(h.client, p, inTime(2_500), opts());
    assert.deepEqual(decision, { approved: true, stand_in: false, held_minor: 2_500 });
    assert.deepEqual(await balance(c.account_id), { debits_pending: 2_500, debits_posted: 0, credits_posted: 100_000 });

    const cleared = await clearCardPayment(h.client, p, { event_id: 'clr-1', amount_minor: 2_500 }, opts());
    assert.equal(cleared.status, 'SETTLED');
    assert.equal(cleared.posted_minor, 2_500);
    assert.equal(cleared.held_minor, 0);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 2_500, credits_posted: 100_000 });
    const payable = await h.ledger.getBalance(platformAccount('network_payable', 'USD'));
    assert.ok(payable && payable.credits_posted >= 2_500n);
  });

  test('declined for each card rule and for the credit line, with the reason; nothing held', async () => {
    const c = await cardholder(10_000, { transaction_limit_minor: 5_000, blocked_mccs: ['7995'] });
    const cases: Array<[string, CardPayment, number]> = [
      ['over_transaction_limit', purchase(c.card_id), 6_000],
      ['merchant_category_blocked', purchase(c.card_id, '7995'), 100],
      ['card_not_found', purchase('card-nobody-has'), 100],
    ];
    for (const [reason, p, amount] of cases) {
      const d = await authorizeCardPayment(h.client, p, inTime(amount), opts());
      assert.deepEqual(d, { approved: false, reason, stand_in: false, held_minor: 0 }, reason);
      assert.equal((await state(p.payment_id)).status, 'DECLINED');
    }
    // Spend most of the line, then ask for more than is left.
    assert.equal((await authorizeCardPayment(h.client, purchase(c.card_id), inTime(4_000), opts())).approved, true);
    assert.equal((await authorizeCardPayment(h.client, purchase(c.card_id), inTime(4_000), opts())).approved, true);
    const short = await authorizeCardPayment(h.client, purchase(c.card_id), inTime(4_000), opts());
    assert.deepEqual(short, { approved: false, reason: 'insufficient_credit', stand_in: false, held_minor: 0 });

    await h.cards.setStatus(c.card_id, 'frozen');
    const frozen = await authorizeCardPayment(h.client, purchase(c.card_id), inTime(10), opts());
    assert.equal(frozen.reason, 'card_frozen');
    assert.deepEqual(await balance(c.account_id), { debits_pending: 8_000, debits_posted: 0, credits_posted: 10_000 });
  });

  test('a repeated authorization returns the first decision and holds once', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    const first = await authorizeCardPayment(h.client, p, inTime(3_000), opts());
    const again = await authorizeCardPayment(h.client, p, inTime(3_000), opts());
    assert.deepEqual(again, first);
    // Another amount under the same transaction id is not a repeat: refused, never answered with
    // the first decision as if it covered 9,000 (it did before: issue 11 point 11).
    await assert.rejects(authorizeCardPayment(h.client, p, inTime(9_000), opts()), (err: Error) => {
      assert.ok(err instanceof AuthorizationConflictError, String(err));
      assert.match(err.message, /authorized for 3000 minor units; a repeat for 9000 needs a new transaction id/);
      return true;
    });
    await assert.rejects(
      authorizeCardPayment(h.client, { ...p, card_id: 'card-other' }, inTime(3_000), opts()),
      AuthorizationConflictError,
    );
    assert.equal((await balance(c.account_id)).debits_pending, 3_000);
    const transfers = await h.ledger.getPaymentTransfers(p.payment_id);
    assert.equal(transfers.length, 1);
  });

  test('bad input is refused before anything starts or is written', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    touched.pop(); // never started
    const bad: Array<[string, Parameters<typeof authorizeCardPayment>[1], Parameters<typeof authorizeCardPayment>[2]]> = [
      ['authorization.amount_minor', p, { ...inTime(1), amount_minor: -5 }],
      ['authorization.amount_minor', p, { ...inTime(1), amount_minor: 10.5 }],
      ['authorization.stand_in', p, { ...inTime(1), stand_in: 'maybe' as 'approve' }],
      ['payment.merchant.mcc', { ...p, merchant: { mcc: '12', name: 'x' } }, inTime(1)],
      ['payment.currency', { ...p, currency: 'XXX' as 'USD' }, inTime(1)],
      ['payment.payment_id', { ...p, payment_id: "'; DROP TABLE ledger.transfers; --" }, inTime(1)],
    ];
    for (const [field, payment, auth] of bad) {
      await assert.rejects(authorizeCardPayment(h.client, payment, auth, opts()), (err: Error) => {
        assert.ok(err instanceof InvalidPaymentError, String(err));
        assert.match(err.message, new RegExp(`^${field.replaceAll('.', '\\.')}:`));
        return true;
      });
    }
    await assert.rejects(h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).describe(), /not found/i);
    assert.equal((await h.ledger.getPaymentTransfers(p.payment_id)).length, 0);
  });
});

describe('late decisions', () => {
  // A decision margin longer than any deadline makes every decision late, deterministically.
  const LATE: CardWorkflowOptions = { ...FAST, decision_margin_ms: 60_000 };

  test('our own late decline (stand-in decline): the caller is declined, the hold placed late is voided, the timeline says whose decline it was', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    const d = await authorizeCardPayment(h.client, p, inTime(1_000, 'decline'), opts(LATE));
    assert.equal(d.approved, false);
    assert.equal(d.stand_in, true);
    const s = await eventually(p.payment_id, (x) => x.status === 'DECLINED');
    assert.equal(s.decline_reason, 'late_decision');
    assert.ok(s.timeline.some((e) => e.event === 'hold_placed_late'));
    // Our answer reached the network in time: the decline is ours, not the network's stand-in
    // (the API, the CLI and the Web UI's details all show this timeline).
    const late = s.timeline.find((e) => e.event === 'declined_late');
    assert.equal(late?.detail, 'our approval came too late: its hold is voided', JSON.stringify(s.timeline));
    assert.ok(!s.timeline.some((e) => e.event.startsWith('stand_in_')), JSON.stringify(s.timeline));
    const details = (await readPayment(h.client, p.payment_id)).current_details;
    assert.match(details, /`declined_late`: our approval came too late/);
    assert.doesNotMatch(details, /stand_in/);
    assert.equal(s.held_minor, 0);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 0, credits_posted: 10_000 });
    assert.equal((await h.ledger.getPaymentTransfers(p.payment_id)).length, 2, 'hold and its release');
  });

  test("the network's stand-in decline (its advice came before our decision): the timeline says the network declined", async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    await h.client.workflow.signalWithStart('cardPaymentWorkflow', {
      workflowId: paymentWorkflowId(p.payment_id),
      taskQueue: h.task_queue,
      args: [p, FAST],
      signal: standInAdviceSignal,
      signalArgs: [{ stand_in: 'decline' }],
    });
    const s = await eventually(p.payment_id, (x) => x.status === 'DECLINED');
    assert.equal(s.decline_reason, 'late_decision');
    assert.deepEqual(
      s.timeline.filter((e) => e.event.startsWith('stand_in_') || e.event.startsWith('declined')).map((e) => [e.event, e.detail]),
      [
        ['stand_in_advice_decline', 'the network answered the stand-in (decline) for us'],
        ['stand_in_declined', 'advice: the authorization did not reach the payment in time'],
      ],
    );
    assert.match((await readPayment(h.client, p.payment_id)).current_details, /`stand_in_declined`: advice/);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 0, credits_posted: 10_000 });
  });

  test('stand-in approve: the late approval stands and the payment needs attention', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    const d = await authorizeCardPayment(h.client, p, inTime(1_000, 'approve'), opts(LATE));
    assert.equal(d.approved, true);
    const s = await eventually(p.payment_id, (x) => x.status === 'AUTHORIZED');
    assert.equal(s.needs_attention, true);
    assert.equal(s.held_minor, 1_000);
    assert.equal((await balance(c.account_id)).debits_pending, 1_000);
  });

  test('stand-in approve past the credit line: held on the over-limit receivable', async () => {
    const c = await cardholder(500);
    const p = purchase(c.card_id);
    const receivable = platformAccount('card_overlimit_receivable', 'USD');
    const before = Number((await h.ledger.getBalance(receivable))!.debits_pending);
    const d = await authorizeCardPayment(h.client, p, inTime(2_000, 'approve'), opts(LATE));
    assert.equal(d.approved, true);
    const s = await eventually(p.payment_id, (x) => x.status === 'AUTHORIZED');
    assert.equal(s.needs_attention, true);
    assert.equal(s.held_minor, 2_000);
    assert.equal((await balance(c.account_id)).debits_pending, 0);
    assert.equal(Number((await h.ledger.getBalance(receivable))!.debits_pending) - before, 2_000);
    // The network clears it: posted from the receivable, the payment settles.
    const cleared = await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 2_000 }, opts(LATE));
    assert.equal(cleared.status, 'SETTLED');
  });
});

describe('lifecycle events', () => {
  test('incremental authorization raises the hold; one beyond the line is declined and changes nothing', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id, '7011');
    await authorizeCardPayment(h.client, p, inTime(4_000), opts());
    const up = await incrementCardPayment(h.client, p.payment_id, { event_id: 'inc-1', amount_minor: 3_000 });
    assert.deepEqual(up, { approved: true, stand_in: false, held_minor: 7_000 });
    const again = await incrementCardPayment(h.client, p.payment_id, { event_id: 'inc-1', amount_minor: 3_000 });
    assert.deepEqual(again, up, 'a repeated increment is answered, not applied');
    const tooMuch = await incrementCardPayment(h.client, p.payment_id, { event_id: 'inc-2', amount_minor: 5_000 });
    assert.deepEqual(tooMuch, { approved: false, reason: 'insufficient_credit', stand_in: false, held_minor: 7_000 });
    assert.deepEqual(await balance(c.account_id), { debits_pending: 7_000, debits_posted: 0, credits_posted: 10_000 });
    const s = await state(p.payment_id);
    assert.equal(s.authorized_minor, 7_000);
  });

  test('partial then full reversal: the hold shrinks, then the payment is REVERSED', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(5_000), opts());
    const partial = await reverseCardPayment(h.client, p.payment_id, { event_id: 'rev-1', amount_minor: 1_500 });
    assert.equal(partial.held_minor, 3_500);
    assert.equal(partial.status, 'AUTHORIZED');
    assert.equal((await balance(c.account_id)).debits_pending, 3_500);
    const full = await reverseCardPayment(h.client, p.payment_id, { event_id: 'rev-2' });
    assert.equal(full.status, 'REVERSED');
    assert.equal(full.held_minor, 0);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 0, credits_posted: 10_000 });
    await assert.rejects(
      incrementCardPayment(h.client, p.payment_id, { event_id: 'inc-late', amount_minor: 1 }),
      /increment needs an approved, uncleared authorization/,
    );
  });

  test('several clearings: partial ones keep the rest held, the final one releases what remains', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(6_000), opts());
    const first = await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 2_000, final: false }, opts());
    assert.equal(first.status, 'POSTED');
    assert.equal(first.held_minor, 4_000);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 4_000, debits_posted: 2_000, credits_posted: 10_000 });
    const last = await clearCardPayment(h.client, p, { event_id: 'c2', amount_minor: 1_000, final: true }, opts());
    assert.equal(last.status, 'SETTLED');
    assert.equal(last.held_minor, 0);
    assert.equal(last.posted_minor, 3_000);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 3_000, credits_posted: 10_000 });
  });

  test('over-clearing: within the category tolerance it posts quietly; beyond it, it posts and needs attention', async () => {
    const c = await cardholder(100_000);
    const tip = purchase(c.card_id, '5812'); // restaurant: 20%
    await authorizeCardPayment(h.client, tip, inTime(10_000), opts());
    const s1 = await clearCardPayment(h.client, tip, { event_id: 'c1', amount_minor: 11_800 }, opts());
    assert.equal(s1.status, 'SETTLED');
    assert.equal(s1.needs_attention, false);
    const grocery = purchase(c.card_id, '5411'); // no tolerance
    await authorizeCardPayment(h.client, grocery, inTime(10_000), opts());
    const s2 = await clearCardPayment(h.client, grocery, { event_id: 'c1', amount_minor: 10_500 }, opts());
    assert.equal(s2.status, 'SETTLED');
    assert.equal(s2.needs_attention, true);
    assert.ok(s2.timeline.some((e) => e.event === 'clearing_over_tolerance'));
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 22_300, credits_posted: 100_000 });
  });

  test('expiry releases the hold (EXPIRED); a clearing after it is force posted (SETTLED)', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(3_000), opts({ ...FAST, hold_expiry_ms: 1_000 }));
    const expired = await eventually(p.payment_id, (s) => s.status === 'EXPIRED');
    assert.equal(expired.held_minor, 0);
    assert.equal((await balance(c.account_id)).debits_pending, 0);
    const late = await clearCardPayment(h.client, p, { event_id: 'c-late', amount_minor: 3_000 }, opts());
    assert.equal(late.status, 'SETTLED');
    assert.ok(late.timeline.some((e) => e.event === 'force_posted'));
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 3_000, credits_posted: 10_000 });
  });

  test('a clearing with no authorization is force posted; past the line it lands on the receivable', async () => {
    const c = await cardholder(1_000);
    const p = purchase(c.card_id);
    const s = await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 800 }, opts());
    assert.equal(s.status, 'SETTLED');
    assert.equal(s.needs_attention, false);
    const over = purchase(c.card_id);
    const s2 = await clearCardPayment(h.client, over, { event_id: 'c1', amount_minor: 900 }, opts());
    assert.equal(s2.status, 'SETTLED');
    assert.equal(s2.needs_attention, true);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 800, credits_posted: 1_000 });
    await assert.rejects(
      authorizeCardPayment(h.client, over, inTime(10), opts()),
      (err: Error) => err instanceof CardEventRefusedError || /first message/.test(err.message),
    );
  });

  test('refunds: partial, then the rest (REFUNDED); more than was posted is refused and writes nothing', async () => {
    const c = await cardholder(10_000);
    const p = purchase(c.card_id);
    await authorizeCardPayment(h.client, p, inTime(4_000), opts());
    await clearCardPayment(h.client, p, { event_id: 'c1', amount_minor: 4_000 }, opts());
    const part = await refundCardPayment(h.client, p, { event_id: 'r1', amount_minor: 1_000 }, opts());
    assert.equal(part.status, 'SETTLED');
    await assert.rejects(refundCardPayment(h.client, p, { event_id: 'r2', amount_minor: 3_500 }, opts()), /exceeds what is left to refund/);
    const rest = await refundCardPayment(h.client, p, { event_id: 'r3', amount_minor: 3_000 }, opts());
    assert.equal(rest.status, 'REFUNDED');
    assert.equal(rest.refunded_minor, 4_000);
    assert.deepEqual(await balance(c.account_id), { debits_pending: 0, debits_posted: 4_000, credits_posted: 14_000 });
  });
});
