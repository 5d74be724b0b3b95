// Card purchases: decision retries are bounded by the deadline (issue 11, point 12). The workflow
// runs the authorization decision as a local activity whose schedule-to-close is the time left
// before the authorization's deadline (src/workflows/card-payment.ts, decide_hold). This file
// proves, on a real Temporal server and a real Postgres, that a decision whose activity keeps
// failing with a retryable error stops being retried at the deadline, and that the payment then
// ends with the stand-in outcome: declined (late_decision), nothing held on the credit line, and
// the ledger verifier passing. The second test covers an attempt that did place a hold before its
// answer was lost: the hold is found and released, not left behind.
//
// The first test failed when written: schedule-to-close cut an attempt still running at the
// deadline, but a fast-failing local activity went on being retried past it, about once a second,
// for as long as the workflow ran. The decision's attempts are now bounded by what fits in the
// budget as well (decisionAttemptsMax). The second test fails without the budget (declined only
// after start-to-close).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { authorizeCardPayment } from '../../src/api/card-payments.js';
import { getPayment } from '../../src/api/payments.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment, type CardWorkflowOptions } from '../../src/domain/card.js';
import { TransferCode } from '../../src/domain/ledger.js';
import type { PaymentState } from '../../src/domain/payment.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import type { TransferBatcher } from '../../src/ledger/batcher.js';
import { checkPaymentAgainstLedger } from '../../src/ledger/payment-check.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

let h: PaymentsHarness;
const touched: string[] = [];

/** How each faulted payment's hold writes (the decision activity's ledger write) fail. */
type Fault = { kind: 'throw' } | { kind: 'write_then_hang'; hang_ms: number };
const faults = new Map<string, Fault>();
/** Every decision attempt that reached its ledger write, per faulted payment (wall clock). */
const attempts = new Map<string, number[]>();
/** Attempts still hanging (the worker is closed once they have returned). */
const hanging: Promise<unknown>[] = [];

before(async () => {
  h = await startPaymentsHarness('card-decision-deadline', {
    // The decision activity (authorizeCard) places its hold through the worker's batcher: a hold
    // write of a faulted payment is counted, then fails as configured. Releases go through.
    postings: (inner): TransferBatcher => ({
      ...inner,
      submit: async (transfers) => {
        const hold = transfers.find((t) => t.code === TransferCode.card_hold && t.payment_id !== undefined);
        const fault = hold ? faults.get(hold.payment_id!) : undefined;
        if (!hold || !fault) return inner.submit(transfers);
        attempts.get(hold.payment_id!)!.push(Date.now());
        if (fault.kind === 'throw') throw new Error('injected: the ledger is unreachable');
        // The hold is written, then the attempt never answers in time (its answer is lost).
        await inner.submit(transfers);
        const hung = new Promise((r) => setTimeout(r, fault.hang_ms));
        hanging.push(hung);
        await hung;
        throw new Error('injected: the answer was lost');
      },
    }),
  });
});
after(async () => {
  await Promise.all(hanging);
  await h.close();
});
afterEach(async () => {
  // Lift the faults, so that a decision still being retried (a failed test) can end and the worker
  // can stop.
  faults.clear();
  const report = await verifyLedger(h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
  for (const payment_id of touched.splice(0)) {
    const state = await getPayment(h.client, payment_id);
    assert.equal(await checkPaymentAgainstLedger(h.ledger, state), null, payment_id);
  }
});

const FAST: CardWorkflowOptions = { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 };
const opts = () => ({ task_queue: h.task_queue, workflow: FAST });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The network's deadline for the authorization: short, so that the decision runs out of time. */
const DEADLINE_MS = 1_500;
/** How long after the deadline the last attempt may start (the activity's retry timer firing just
 * as the budget ends, a busy machine). */
const LAST_ATTEMPT_SLACK_MS = 1_000;
/** How long the test watches, after the deadline and the slack, for further attempts. */
const WATCH_MS = 4_000;

async function cardholder(limit_minor: number) {
  const company_id = `co-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency: 'USD', limit_minor, grant_key: 'initial' });
  const card = await h.cards.issue({ card_id: `card-${randomUUID().slice(0, 8)}`, company_id, currency: 'USD', account_id });
  return { account_id, card_id: card.card_id };
}

function faultedPurchase(card_id: string, fault: Fault): CardPayment {
  const payment: CardPayment = {
    payment_id: `txn-${randomUUID()}`,
    card_id,
    currency: 'USD',
    merchant: { mcc: '5411', name: 'Corner Grocery' },
  };
  touched.push(payment.payment_id);
  faults.set(payment.payment_id, fault);
  attempts.set(payment.payment_id, []);
  return payment;
}

async function balance(account_id: string) {
  const b = (await h.ledger.getBalance(account_id))!;
  return { pending: Number(b.debits_pending), posted: Number(b.debits_posted) };
}

async function eventually(payment_id: string, check: (s: PaymentState) => boolean, timeout_ms = 15_000): Promise<PaymentState> {
  const until = Date.now() + timeout_ms;
  for (;;) {
    const s = await getPayment(h.client, payment_id);
    if (check(s)) return s;
    if (Date.now() > until) assert.fail(`payment ${payment_id} never reached the expected state: ${JSON.stringify(s)}`);
    await sleep(100);
  }
}

describe('decision retries are bounded by the deadline (point 12)', () => {
  test('a decision that fails every attempt is retried until the deadline, then never again; the payment is the stand-in decline, nothing held', async () => {
    const c = await cardholder(10_000);
    const p = faultedPurchase(c.card_id, { kind: 'throw' });
    const deadline_at_ms = Date.now() + DEADLINE_MS;
    const d = await authorizeCardPayment(h.client, p, { amount_minor: 900, deadline_at_ms, stand_in: 'decline' }, opts());
    // The network is answered with its stand-in at the deadline, whatever the workflow is doing.
    assert.deepEqual(d, { approved: false, reason: 'late_decision', stand_in: true, held_minor: 0 });

    // (a) Attempts happened, and stopped at the deadline: none starts later than the slack, and
    // none comes while the test watches.
    await sleep(Math.max(0, deadline_at_ms + LAST_ATTEMPT_SLACK_MS - Date.now()));
    const seen = [...attempts.get(p.payment_id)!];
    assert.ok(seen.length >= 2, `the failing decision was retried (${seen.length} attempts)`);
    await sleep(WATCH_MS);
    const later = attempts.get(p.payment_id)!;
    assert.equal(
      later.length,
      seen.length,
      `decision attempts went on after the deadline: ${later.map((at) => `${at - deadline_at_ms} ms`).join(', ')} (relative to it)`,
    );
    // Backoff 50 ms doubling to 1 s: about 6 attempts fit in 1.5 s; unbounded retries would add one a second.
    assert.ok(seen.length <= 15, `${seen.length} attempts within ${DEADLINE_MS} ms`);
    const last_ms = seen.at(-1)! - deadline_at_ms;
    assert.ok(last_ms <= LAST_ATTEMPT_SLACK_MS, `the last attempt started ${last_ms} ms after the deadline`);

    // (b) The payment ends as the stand-in documents for a decision that failed (card-decide.ts:
    // decision_failed, probe release, stand-in decline): DECLINED, late_decision, not flagged.
    const s = await eventually(p.payment_id, (x) => x.status === 'DECLINED' && x.held_minor === 0);
    assert.equal(s.decline_reason, 'late_decision');
    assert.equal(s.needs_attention, false, JSON.stringify(s.timeline));
    const events = s.timeline.map((e) => e.event);
    assert.ok(events.includes('decision_failed'), events.join(', '));

    // (c) Nothing held or posted on the credit line (the ledger verifier runs after each test).
    assert.deepEqual(await balance(c.account_id), { pending: 0, posted: 0 });
  });

  test('an attempt that held but never answered: the attempt is cut at the deadline, its hold is found and released', async () => {
    const c = await cardholder(10_000);
    // The first attempt writes the hold, then hangs past its start-to-close (5 s).
    const p = faultedPurchase(c.card_id, { kind: 'write_then_hang', hang_ms: 6_000 });
    const deadline_at_ms = Date.now() + DEADLINE_MS;
    const d = await authorizeCardPayment(h.client, p, { amount_minor: 700, deadline_at_ms, stand_in: 'decline' }, opts());
    assert.deepEqual(d, { approved: false, reason: 'late_decision', stand_in: true, held_minor: 0 });

    // The hung attempt is given up at the deadline, not at its start-to-close (5 s after it
    // started): the payment declines and releases the hold well before that.
    const s = await eventually(p.payment_id, (x) => x.status === 'DECLINED' && x.held_minor === 0, 3_000);
    const declined_after_ms = Date.now() - deadline_at_ms;
    assert.ok(declined_after_ms < 3_000, `declined ${declined_after_ms} ms after the deadline`);
    assert.equal(s.decline_reason, 'late_decision');
    const events = s.timeline.map((e) => e.event);
    // Two orders end the same way. Usually the attempt is cut at the deadline (decision_failed),
    // then the hold is found and released. Twice in clean-clone CI (the full suite, a busy
    // machine; never when this file ran alone) the payment instead recorded a late decision with
    // the hold (hold_placed_late), released it, declined late, then took the network's stand-in
    // advice (stand_in_advice_decline). Why the late decision won is not yet understood (the
    // decision's budget has a 1 s floor, so a late first workflow task moves its end past the
    // deadline). Either order: declined within 3 s, not at the attempt's start-to-close, nothing
    // held, one attempt at the ledger.
    const cut = events.includes('decision_failed');
    const placedLate = events.indexOf('hold_placed_late');
    const lateThenReleased = placedLate >= 0 && events.indexOf('hold_released_late') > placedLate;
    assert.ok(cut || lateThenReleased, `cut at the deadline, or decided late and released: ${events.join(', ')}`);
    assert.deepEqual(attempts.get(p.payment_id)!.length, 1, 'one attempt reached the ledger (no retry after the deadline)');
    assert.deepEqual(await balance(c.account_id), { pending: 0, posted: 0 }, "the lost attempt's hold is released");
  });
});
