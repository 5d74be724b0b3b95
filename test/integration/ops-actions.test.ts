// Ops actions (retrySettlement, voidHold, resolveAttention) against real Temporal, Postgres and the
// bank simulator: each does its job, refuses bad input and actions that do not apply (writing
// nothing), is recorded in the timeline with who and why, shows in the current details and the
// search attributes, and leaves the ledger balanced.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { authorizeCardPayment } from '../../src/api/card-payments.js';
import { OpsActionRefusedError, listPayments, readPayment, resolveAttention, retrySettlement, voidHold } from '../../src/api/ops.js';
import { getPayment, startPayout } from '../../src/api/payments.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment, type CardWorkflowOptions } from '../../src/domain/card.js';
import { OPS_REASON_LENGTH_MAX } from '../../src/domain/ops.js';
import { paymentWorkflowId, type PaymentState, type PayoutRequest } from '../../src/domain/payment.js';
import { NeedsAttentionKey, PaymentStatusKey } from '../../src/domain/search-attributes.js';
import { openCreditLine, platformAccount } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { payoutIdempotencyKey } from '../../src/settlement/gateway.js';
import { retrySettlementUpdate } from '../../src/workflows/messages.js';
import { postCallback, startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

const by = { operator: 'jane.ops', reason: 'bank support confirmed the instruction was lost' };

/** A bank that accepts payouts and stays silent (its confirmation would come in ten minutes). */
let silent: PaymentsHarness;
/** A bank that answers at once, but slowly. */
let slow: PaymentsHarness;

before(async () => {
  silent = await startPaymentsHarness('ops-silent', { callbacks: true, simulator: { callback_delay_ms: 600_000 } });
  slow = await startPaymentsHarness('ops-slow', { simulator: { latency_ms: 2_000 } });
});
after(async () => {
  await silent?.close();
  await slow?.close();
});
afterEach(async () => {
  for (const h of [silent, slow]) assert.deepEqual((await verifyLedger(h.pool)).violations, []);
});

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeout_ms = 20_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function balance(h: PaymentsHarness, account_id: string) {
  const b = await h.ledger.getBalance(account_id);
  assert.ok(b, `account ${account_id} exists`);
  return {
    debits_pending: Number(b.debits_pending),
    debits_posted: Number(b.debits_posted),
    credits_pending: Number(b.credits_pending),
    credits_posted: Number(b.credits_posted),
  };
}

async function payoutCompany(h: PaymentsHarness, currency: 'EUR' | 'CHF', limit_minor: number) {
  const company_id = `ops-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency, limit_minor, grant_key: 'initial' });
  return { company_id, account_id };
}

function payout(co: { company_id: string; account_id: string }, currency: 'EUR' | 'CHF', amount_minor: number): PayoutRequest {
  return {
    payment_id: `ops-${randomUUID()}`,
    company_id: co.company_id,
    account_id: co.account_id,
    amount_minor,
    currency,
    payee: { name: 'Supplier GmbH', bank_account: 'DE89370400440532013000' },
  };
}

const opsEntries = (state: PaymentState, event: string) => state.timeline.filter((e) => e.event === event);

/** Every way the action's argument can be wrong is refused before anything is sent. */
async function assertBadInputRefused(call: (input: { operator: string; reason: string }) => Promise<unknown>) {
  const bad: Array<[{ operator: string; reason: string }, RegExp]> = [
    [{ operator: '', reason: 'x' }, /operator: must not be empty/],
    [{ operator: 'jane ops', reason: 'x' }, /operator: must start with a letter or digit/],
    [{ operator: 'x'.repeat(65), reason: 'x' }, /operator: must be at most 64/],
    [{ operator: 'jane', reason: '   ' }, /reason: must not be empty/],
    [{ operator: 'jane', reason: 'x'.repeat(OPS_REASON_LENGTH_MAX + 1) }, /reason: must be at most 500/],
    [{ operator: 'jane', reason: 'two\nlines' }, /reason: must not contain control characters/],
  ];
  for (const [input, message] of bad)
    await assert.rejects(call(input), (err: Error) => err instanceof OpsActionRefusedError && message.test(err.message));
}

describe('payout: retrySettlement and resolveAttention', () => {
  test('a payout whose bank went silent is listed, read, re-sent with the same key, resolved, then settles once', async () => {
    const h = silent;
    const co = await payoutCompany(h, 'EUR', 100_000);
    const request = payout(co, 'EUR', 2_500);
    const key = payoutIdempotencyKey(request.payment_id);
    const { handle } = await startPayout(h.client, request, h.task_queue, { settlement_attention_after_ms: 300 });

    // A payout not yet overdue cannot be retried: another one, waiting for its bank less long.
    const patient = payout(co, 'EUR', 1_000);
    const patientStart = await startPayout(h.client, patient, h.task_queue, { settlement_attention_after_ms: 600_000 });
    await eventually('the patient payout accepted', async () =>
      (await getPayment(h.client, patient.payment_id)).timeline.some((e) => e.event === 'payout_accepted'),
    );
    await assert.rejects(retrySettlement(h.client, patient.payment_id, by), /needs a payout flagged settlement_waiting/);
    await assert.rejects(resolveAttention(h.client, patient.payment_id, by), /does not need attention/);

    const flagged = await eventually('the settlement_waiting flag', async () => {
      const s = await getPayment(h.client, request.payment_id);
      return s.needs_attention && s.timeline.some((e) => e.event === 'payout_accepted') ? s : undefined;
    });
    assert.equal(flagged.status, 'SETTLING');
    assert.ok(opsEntries(flagged, 'settlement_waiting').length === 1);

    // The Web UI's query lists it (visibility is eventually consistent).
    const query = `NeedsAttention = true AND PaymentKind = 'payout' AND PaymentStatus = 'SETTLING'`;
    const listed = await eventually('the payout in the attention list', async () =>
      (await listPayments(h.client, query)).find((p) => p.workflow_id === paymentWorkflowId(request.payment_id)),
    );
    assert.equal(listed.amount_minor, 2_500);
    assert.equal(listed.currency, 'EUR');
    assert.ok(!(await listPayments(h.client, query)).some((p) => p.workflow_id === paymentWorkflowId(patient.payment_id)));

    // Read it like the Web UI: summary and current details.
    const view = await readPayment(h.client, request.payment_id);
    assert.match(view.summary ?? '', /Payout 25\.00 EUR/);
    assert.match(view.current_details, /SETTLING/);
    assert.match(view.current_details, /25\.00 EUR/);
    assert.match(view.current_details, /Needs attention.*settlement_waiting/);
    assert.match(view.current_details, /Waiting for.*confirmation/);

    // Refused: bad input (client side, and by the workflow's validator), an action the payout
    // does not have. Nothing written: the timeline and the bank's request count stay as they were.
    const before = await getPayment(h.client, request.payment_id);
    const requestsBefore = h.simulator.requests.get(key);
    await assertBadInputRefused((input) => retrySettlement(h.client, request.payment_id, input));
    await assert.rejects(
      handle.executeUpdate(retrySettlementUpdate, { args: [{ operator: 'x y', reason: 'r' }] }),
      (err: Error) =>
        err instanceof WorkflowUpdateFailedError && /ops action operator: must start with a letter or digit/.test(err.cause?.message ?? ''),
    );
    await assert.rejects(voidHold(h.client, request.payment_id, by), OpsActionRefusedError);
    assert.deepEqual((await getPayment(h.client, request.payment_id)).timeline, before.timeline);
    assert.equal(h.simulator.requests.get(key), requestsBefore);

    // Retry: the same key again; the bank accepts again and pays once.
    const retried = await retrySettlement(h.client, request.payment_id, by);
    assert.equal(retried.status, 'SETTLING');
    const [entry] = opsEntries(retried, 'ops_retry_settlement');
    assert.ok(entry, retried.timeline.map((e) => e.event).join(', '));
    assert.equal(entry.operator, by.operator);
    assert.equal(entry.reason, by.reason);
    assert.match(opsEntries(retried, 'ops_retry_answered')[0]?.detail ?? '', /accepted/);
    assert.equal(h.simulator.requests.get(key), (requestsBefore ?? 0) + 1);
    assert.equal([...h.simulator.settled.keys()].filter((k) => k === key).length, 1);

    // Resolve: the flag goes, the reason it was raised stays.
    const resolved = await resolveAttention(h.client, request.payment_id, { operator: 'sam', reason: 'bank will confirm today' });
    assert.equal(resolved.needs_attention, false);
    const [resolution] = opsEntries(resolved, 'ops_resolve_attention');
    assert.equal(resolution?.operator, 'sam');
    assert.equal(resolution?.reason, 'bank will confirm today');
    assert.match(resolution?.detail ?? '', /settlement_waiting/);
    assert.equal(opsEntries(resolved, 'settlement_waiting').length, 1);
    assert.equal((await handle.describe()).typedSearchAttributes.get(NeedsAttentionKey), false);
    await eventually('the payout out of the attention list', async () =>
      (await listPayments(h.client, query)).every((p) => p.workflow_id !== paymentWorkflowId(request.payment_id)),
    );
    await assert.rejects(resolveAttention(h.client, request.payment_id, by), /does not need attention/);
    assert.doesNotMatch((await readPayment(h.client, request.payment_id)).current_details, /Needs attention/);

    // The bank's confirmation finally arrives: settled once.
    for (const p of [request, patient]) {
      const k = payoutIdempotencyKey(p.payment_id);
      const response = await postCallback(h, {
        idempotency_key: k,
        status: 'settled',
        bank_reference: h.simulator.settled.get(k)!.bank_reference,
      });
      assert.equal(response.status, 200);
    }
    const final = await handle.result();
    assert.equal(final.status, 'SETTLED');
    assert.equal(final.bank_reference, h.simulator.settled.get(key)!.bank_reference);
    assert.equal((await patientStart.handle.result()).status, 'SETTLED');
    assert.deepEqual(await balance(h, co.account_id), {
      debits_pending: 0,
      debits_posted: 3_500,
      credits_pending: 0,
      credits_posted: 100_000,
    });
  });

  test('a retry while the first send is still waiting on a slow bank joins it: settled once', async () => {
    const h = slow;
    const co = await payoutCompany(h, 'CHF', 100_000);
    const request = payout(co, 'CHF', 4_200);
    const key = payoutIdempotencyKey(request.payment_id);
    const payableBefore = await balance(h, platformAccount('payouts_payable', 'CHF'));
    const bankBefore = await balance(h, platformAccount('settlement_bank', 'CHF'));
    const { handle } = await startPayout(h.client, request, h.task_queue, { settlement_attention_after_ms: 300 });
    await eventually('the settlement_waiting flag', async () => (await getPayment(h.client, request.payment_id)).needs_attention);
    const retried = await retrySettlement(h.client, request.payment_id, by);
    assert.match(opsEntries(retried, 'ops_retry_answered')[0]?.detail ?? '', /settled: BANK-/);
    const final = await handle.result();
    assert.equal(final.status, 'SETTLED');
    assert.equal(final.bank_reference, h.simulator.settled.get(key)!.bank_reference);
    assert.equal(h.simulator.requests.get(key), 2);
    assert.equal(opsEntries(final, 'payout_settled').length, 1);
    assert.deepEqual(await balance(h, co.account_id), {
      debits_pending: 0,
      debits_posted: 4_200,
      credits_pending: 0,
      credits_posted: 100_000,
    });
    const payable = await balance(h, platformAccount('payouts_payable', 'CHF'));
    const bank = await balance(h, platformAccount('settlement_bank', 'CHF'));
    assert.equal(payable.credits_posted - payableBefore.credits_posted, 4_200);
    assert.equal(payable.debits_posted - payableBefore.debits_posted, 4_200);
    assert.equal(bank.credits_posted - bankBefore.credits_posted, 4_200);
    // Finished: nothing to retry.
    await assert.rejects(retrySettlement(h.client, request.payment_id, by));
  });
});

describe('card: voidHold and resolveAttention', () => {
  const FAST: CardWorkflowOptions = { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 };

  async function cardholder(h: PaymentsHarness, limit_minor: number) {
    const company_id = `ops-${randomUUID().slice(0, 8)}`;
    const account_id = await openCreditLine(h.ledger, { company_id, currency: 'USD', limit_minor, grant_key: 'initial' });
    const card = await h.cards.issue({ card_id: `card-${randomUUID().slice(0, 8)}`, company_id, currency: 'USD', account_id });
    return { account_id, card_id: card.card_id };
  }
  const purchase = (card_id: string): CardPayment => ({
    payment_id: `ops-${randomUUID()}`,
    card_id,
    currency: 'USD',
    merchant: { mcc: '5411', name: 'Corner Shop' },
  });
  const auth = (amount_minor: number, stand_in: 'decline' | 'approve' = 'decline') => ({
    amount_minor,
    deadline_at_ms: Date.now() + 5_000,
    stand_in,
  });

  test('voidHold releases a stuck hold now; refused when nothing is held or the input is bad', async () => {
    const h = silent;
    const holder = await cardholder(h, 10_000);
    const p = purchase(holder.card_id);
    const decision = await authorizeCardPayment(h.client, p, auth(3_000), { task_queue: h.task_queue, workflow: FAST });
    assert.equal(decision.approved, true);
    assert.deepEqual(await balance(h, holder.account_id), {
      debits_pending: 3_000,
      debits_posted: 0,
      credits_pending: 0,
      credits_posted: 10_000,
    });
    const view = await readPayment(h.client, p.payment_id);
    assert.match(view.current_details, /AUTHORIZED/);
    assert.match(view.current_details, /30\.00 USD/);
    assert.match(view.current_details, /Waiting for.*expiry/);

    const before = await getPayment(h.client, p.payment_id);
    await assertBadInputRefused((input) => voidHold(h.client, p.payment_id, input));
    await assert.rejects(retrySettlement(h.client, p.payment_id, by), OpsActionRefusedError);
    await assert.rejects(resolveAttention(h.client, p.payment_id, by), /does not need attention/);
    assert.deepEqual((await getPayment(h.client, p.payment_id)).timeline, before.timeline);
    assert.equal((await balance(h, holder.account_id)).debits_pending, 3_000);

    const voided = await voidHold(h.client, p.payment_id, { operator: 'jane.ops', reason: 'merchant confirmed the order was cancelled' });
    assert.equal(voided.status, 'EXPIRED');
    assert.equal(voided.held_minor, 0);
    const [entry] = opsEntries(voided, 'ops_void_hold');
    assert.equal(entry?.operator, 'jane.ops');
    assert.equal(entry?.reason, 'merchant confirmed the order was cancelled');
    assert.match(entry?.detail ?? '', /30\.00 USD released/);
    assert.deepEqual(await balance(h, holder.account_id), {
      debits_pending: 0,
      debits_posted: 0,
      credits_pending: 0,
      credits_posted: 10_000,
    });
    await eventually(
      'PaymentStatus EXPIRED',
      async () =>
        (await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).describe()).typedSearchAttributes.get(PaymentStatusKey) ===
        'EXPIRED',
    );
    assert.match((await readPayment(h.client, p.payment_id)).current_details, /EXPIRED/);

    await assert.rejects(voidHold(h.client, p.payment_id, by), /holds nothing/);
    assert.equal(opsEntries(await getPayment(h.client, p.payment_id), 'ops_void_hold').length, 1);
  });

  test('a stand-in approval is listed as needing attention, resolved, and its hold voided', async () => {
    const h = silent;
    const holder = await cardholder(h, 10_000);
    const p = purchase(holder.card_id);
    const late: CardWorkflowOptions = { ...FAST, decision_margin_ms: 60_000 };
    await authorizeCardPayment(h.client, p, auth(2_000, 'approve'), { task_queue: h.task_queue, workflow: late });
    const flagged = await eventually('the stand-in flag', async () => {
      const s = await getPayment(h.client, p.payment_id);
      return s.needs_attention ? s : undefined;
    });
    const raised = opsEntries(flagged, 'stand_in_approved').length;
    assert.ok(raised >= 1);
    const query = `NeedsAttention = true AND PaymentKind = 'card' AND CardId = '${holder.card_id}'`;
    await eventually('the card payment in the attention list', async () => (await listPayments(h.client, query)).length === 1);
    assert.match((await readPayment(h.client, p.payment_id)).current_details, /Needs attention.*stand_in_approved/);

    const resolved = await resolveAttention(h.client, p.payment_id, { operator: 'risk-team', reason: 'within policy for this merchant' });
    assert.equal(resolved.needs_attention, false);
    assert.equal(opsEntries(resolved, 'stand_in_approved').length, raised);
    assert.equal(opsEntries(resolved, 'ops_resolve_attention')[0]?.operator, 'risk-team');
    await eventually(
      'NeedsAttention false',
      async () =>
        (await listPayments(h.client, query)).length === 0 &&
        (await h.client.workflow.getHandle(paymentWorkflowId(p.payment_id)).describe()).typedSearchAttributes.get(NeedsAttentionKey) ===
          false,
    );

    const voided = await voidHold(h.client, p.payment_id, by);
    assert.equal(voided.held_minor, 0);
    assert.equal(voided.status, 'EXPIRED');
    assert.deepEqual(await balance(h, holder.account_id), {
      debits_pending: 0,
      debits_posted: 0,
      credits_pending: 0,
      credits_posted: 10_000,
    });
  });
});
