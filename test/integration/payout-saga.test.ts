// The payout saga end to end: a real Temporal server runs the workflow, a real Postgres holds the
// ledger, a real HTTP bank simulator answers the payout. Each scenario asserts the final state,
// every account it touched, and the ledger invariants.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { PaymentState, PayoutRequest } from '../../src/domain/payment.js';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { openCreditLine, platformAccount } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { REJECTED_ACCOUNT_PREFIX } from '../../src/settlement/simulator.js';
import { InvalidPaymentError, getPayment, startPayout } from '../../src/api/payments.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

let h: PaymentsHarness;

before(async () => {
  h = await startPaymentsHarness('payout-saga');
});
after(async () => {
  await h.close();
});

async function company(limit_minor: number) {
  const company_id = `co-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency: 'EUR', limit_minor, grant_key: 'initial' });
  return { company_id, account_id };
}

function payout(
  co: { company_id: string; account_id: string },
  amount_minor: number,
  bank_account = 'DE89370400440532013000',
): PayoutRequest {
  return {
    payment_id: `pay-${randomUUID()}`,
    company_id: co.company_id,
    account_id: co.account_id,
    amount_minor,
    currency: 'EUR',
    payee: { name: 'Supplier GmbH', bank_account },
  };
}

async function run(request: PayoutRequest): Promise<PaymentState> {
  const { handle } = await startPayout(h.client, request, h.task_queue);
  return handle.result();
}

async function balance(account_id: string) {
  const b = await h.ledger.getBalance(account_id);
  assert.ok(b, `account ${account_id} exists`);
  return {
    debits_pending: Number(b.debits_pending),
    debits_posted: Number(b.debits_posted),
    credits_posted: Number(b.credits_posted),
    available: Number(b.available),
  };
}

async function assertInvariants() {
  const report = await verifyLedger(h.pool);
  assert.deepEqual(report.violations, []);
}

describe('payout saga', () => {
  test('happy path: hold, post, settle; the company is charged once and the bank paid once', async () => {
    const co = await company(100_000);
    const payableBefore = await balance(platformAccount('payouts_payable', 'EUR'));
    const bankBefore = await balance(platformAccount('settlement_bank', 'EUR'));
    const request = payout(co, 12_345);
    const state = await run(request);

    assert.equal(state.status, 'SETTLED');
    assert.equal(state.posted_minor, 12_345);
    assert.equal(state.settled_minor, 12_345);
    assert.equal(state.held_minor, 0);
    assert.match(state.bank_reference ?? '', /^BANK-/);
    assert.deepEqual(
      state.timeline.map((e) => e.event),
      ['payout_requested', 'hold_placed', 'hold_posted', 'payout_sent', 'payout_settled'],
    );

    assert.deepEqual(await balance(co.account_id), {
      debits_pending: 0,
      debits_posted: 12_345,
      credits_posted: 100_000,
      available: 87_655,
    });
    const payable = await balance(platformAccount('payouts_payable', 'EUR'));
    assert.equal(payable.credits_posted - payableBefore.credits_posted, 12_345, 'payable credited by the posting');
    assert.equal(payable.debits_posted - payableBefore.debits_posted, 12_345, 'payable debited by the settlement');
    const bank = await balance(platformAccount('settlement_bank', 'EUR'));
    assert.equal(bank.credits_posted - bankBefore.credits_posted, 12_345, 'money left the settlement bank once');
    assert.equal(h.simulator.settled.get(`payout:${request.payment_id}`)?.amount_minor, 12_345);

    const transfers = await h.ledger.getPaymentTransfers(request.payment_id);
    assert.equal(transfers.length, 3, 'hold, posting, settlement');
    await assertInvariants();
  });

  test('decline: over the credit line, nothing is held or charged', async () => {
    const co = await company(5_000);
    const request = payout(co, 5_001);
    const state = await run(request);
    assert.equal(state.status, 'DECLINED');
    assert.equal(state.decline_reason, 'insufficient_credit');
    assert.deepEqual(await balance(co.account_id), { debits_pending: 0, debits_posted: 0, credits_posted: 5_000, available: 5_000 });
    assert.equal((await h.ledger.getPaymentTransfers(request.payment_id)).length, 0);
    assert.equal(h.simulator.settled.has(`payout:${request.payment_id}`), false);
    await assertInvariants();
  });

  test('compensation: the bank rejects for good, the posting is reversed and the company nets to zero', async () => {
    const co = await company(50_000);
    const request = payout(co, 20_000, `${REJECTED_ACCOUNT_PREFIX}0000000042`);
    const state = await run(request);
    assert.equal(state.status, 'COMPENSATED');
    assert.equal(state.compensation_reason, 'payee_account_closed');
    assert.equal(state.reversed_minor, 20_000);
    assert.deepEqual(
      state.timeline.map((e) => e.event),
      [
        'payout_requested',
        'hold_placed',
        'hold_posted',
        'payout_sent',
        'settlement_rejected',
        'compensated_posting',
        'compensated_hold',
        'compensation_finished',
      ],
    );
    const b = await balance(co.account_id);
    assert.equal(b.available, 50_000, 'the company is not charged for money that did not leave');
    assert.equal(b.debits_pending, 0);
    const transfers = await h.ledger.getPaymentTransfers(request.payment_id);
    const debited = transfers.filter((t) => t.debit_account_id === co.account_id && t.pending_id === null && t.flags === 0);
    const credited = transfers.filter((t) => t.credit_account_id === co.account_id);
    assert.equal(
      credited.reduce((s, t) => s + t.amount_minor, 0),
      20_000,
      'one reversal of the posting',
    );
    assert.equal(debited.length, 0);
    assert.equal(h.simulator.settled.has(`payout:${request.payment_id}`), false, 'the bank paid nothing');
    await assertInvariants();
  });

  test('starting the same payment twice runs it once', async () => {
    const co = await company(10_000);
    const request = payout(co, 1_000);
    const [a, b] = await Promise.all([startPayout(h.client, request, h.task_queue), startPayout(h.client, request, h.task_queue)]);
    assert.equal(a.handle.workflowId, b.handle.workflowId);
    const first = await a.handle.result();
    assert.equal(first.status, 'SETTLED');
    const again = await startPayout(h.client, request, h.task_queue);
    assert.equal(again.started, false, 'a finished payment is not started again');
    assert.equal((await again.handle.result()).status, 'SETTLED');
    const { executions } = await h.client.workflow
      .count(`WorkflowId = '${paymentWorkflowId(request.payment_id)}'`)
      .then((c) => ({ executions: c.count }));
    assert.equal(executions, 1, 'one workflow run for the payment id');
    assert.equal((await getPayment(h.client, request.payment_id)).status, 'SETTLED');
    assert.equal((await balance(co.account_id)).debits_posted, 1_000);
    await assertInvariants();
  });

  test('a malformed request is refused before it reaches Temporal', async () => {
    const co = await company(10_000);
    await assert.rejects(startPayout(h.client, { ...payout(co, 1_000), amount_minor: -3 }, h.task_queue), InvalidPaymentError);
    await assert.rejects(startPayout(h.client, { ...payout(co, 1_000), currency: 'XYZ' as never }, h.task_queue), /currency/);
  });

  test('a malformed request that bypasses the client fails the workflow before any step, writing nothing', async () => {
    const co = await company(10_000);
    const request = { ...payout(co, 1_000), amount_minor: 10.5 };
    const before = await verifyLedger(h.pool);
    const raw = h.client.workflow.execute('payoutWorkflow', {
      workflowId: paymentWorkflowId(request.payment_id),
      taskQueue: h.task_queue,
      args: [request],
    });
    await assert.rejects(raw, (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), /payout request amount_minor: must be an integer/);
      return true;
    });
    const afterReport = await verifyLedger(h.pool);
    assert.equal(afterReport.transfers, before.transfers);
  });
});
