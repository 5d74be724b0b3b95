// Payouts through a bank that confirms by callback: the simulator accepts each payout (202) and
// later POSTs its confirmation to the callback receiver, which signals the payout workflow. Real
// Temporal, Postgres, HTTP simulator and receiver; every scenario asserts the final state, each
// account it touched, what the bank paid, and the ledger invariants.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { getPayment, startPayout } from '../../src/api/payments.js';
import { TransferCode } from '../../src/domain/ledger.js';
import type { PaymentState, PayoutRequest } from '../../src/domain/payment.js';
import { openCreditLine, platformAccount } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { CALLBACK_BYTES_MAX } from '../../src/settlement/callback-receiver.js';
import { REJECTED_ACCOUNT_PREFIX } from '../../src/settlement/simulator.js';
import { webhookHeaders } from '../../src/settlement/webhook-signature.js';
import { postCallback, startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

const CURRENCY = 'EUR';

async function company(h: PaymentsHarness, limit_minor: number) {
  const company_id = `co-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency: CURRENCY, limit_minor, grant_key: 'initial' });
  return { company_id, account_id };
}

function payout(
  co: { company_id: string; account_id: string },
  amount_minor: number,
  bank_account = 'DE89370400440532013000',
): PayoutRequest {
  return {
    payment_id: `cb-${randomUUID()}`,
    company_id: co.company_id,
    account_id: co.account_id,
    amount_minor,
    currency: CURRENCY,
    payee: { name: 'Supplier GmbH', bank_account },
  };
}

async function run(h: PaymentsHarness, request: PayoutRequest): Promise<PaymentState> {
  const { handle } = await startPayout(h.client, request, h.task_queue);
  return handle.result();
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

/** Balances of the platform accounts a payout touches, to compare before and after. */
async function platformBalances(h: PaymentsHarness) {
  return {
    payable: await balance(h, platformAccount('payouts_payable', CURRENCY)),
    bank: await balance(h, platformAccount('settlement_bank', CURRENCY)),
  };
}

function delta(before: Awaited<ReturnType<typeof balance>>, after: Awaited<ReturnType<typeof balance>>) {
  return {
    debits_pending: after.debits_pending - before.debits_pending,
    debits_posted: after.debits_posted - before.debits_posted,
    credits_pending: after.credits_pending - before.credits_pending,
    credits_posted: after.credits_posted - before.credits_posted,
  };
}

const zero = { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 0 };

async function assertInvariants(h: PaymentsHarness) {
  assert.deepEqual((await verifyLedger(h.pool)).violations, []);
}

async function waitFor(what: string, ok: () => boolean, timeout_ms = 15_000) {
  const deadline = Date.now() + timeout_ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A settled payout's ledger effect on its company (credit line of `limit`) and the platform. */
async function assertSettled(
  h: PaymentsHarness,
  request: PayoutRequest,
  limit: number,
  platformBefore: Awaited<ReturnType<typeof platformBalances>>,
) {
  const amount = request.amount_minor;
  assert.deepEqual(await balance(h, request.account_id), {
    debits_pending: 0,
    debits_posted: amount,
    credits_pending: 0,
    credits_posted: limit,
  });
  const platform = await platformBalances(h);
  assert.deepEqual(delta(platformBefore.payable, platform.payable), { ...zero, credits_posted: amount, debits_posted: amount });
  assert.deepEqual(delta(platformBefore.bank, platform.bank), { ...zero, credits_posted: amount });
  const transfers = await h.ledger.getPaymentTransfers(request.payment_id);
  assert.deepEqual(
    transfers.map((t) => t.code).sort(),
    [TransferCode.payout_hold, TransferCode.payout_posting, TransferCode.payout_settlement].sort(),
  );
  assert.equal(h.simulator.settled.get(`payout:${request.payment_id}`)?.amount_minor, amount, 'the bank paid once, in full');
}

describe('payouts confirmed by callback', () => {
  let h: PaymentsHarness;
  before(async () => {
    h = await startPaymentsHarness('payout-callbacks', { callbacks: true, simulator: { callback_delay_ms: 100 } });
  });
  after(async () => {
    await h.close();
  });

  test('the bank accepts, then confirms by callback: SETTLED with its reference', async () => {
    const co = await company(h, 100_000);
    const platformBefore = await platformBalances(h);
    const request = payout(co, 12_345);
    const state = await run(h, request);
    assert.equal(state.status, 'SETTLED');
    assert.equal(state.settled_minor, 12_345);
    assert.equal(state.bank_reference, h.simulator.settled.get(`payout:${request.payment_id}`)?.bank_reference);
    assert.match(state.bank_reference ?? '', /^BANK-/);
    assert.deepEqual(
      state.timeline.map((e) => e.event),
      ['payout_requested', 'hold_placed', 'hold_posted', 'payout_sent', 'payout_accepted', 'payout_settled'],
    );
    assert.deepEqual(
      h.simulator.callbacks.filter((c) => c.idempotency_key === `payout:${request.payment_id}`).map((c) => [c.kind, c.http_status]),
      [['first', 200]],
    );
    await assertSettled(h, request, 100_000, platformBefore);
    await assertInvariants(h);
  });

  test('a rejection by callback compensates: posting reversed, hold released, nothing paid', async () => {
    const co = await company(h, 50_000);
    const platformBefore = await platformBalances(h);
    const request = payout(co, 20_000, `${REJECTED_ACCOUNT_PREFIX}0000000042`);
    const state = await run(h, request);
    assert.equal(state.status, 'COMPENSATED');
    assert.equal(state.compensation_reason, 'payee_account_closed');
    assert.equal(state.reversed_minor, 20_000);
    assert.equal(state.settled_minor, 0);
    assert.deepEqual(
      state.timeline.map((e) => e.event),
      [
        'payout_requested',
        'hold_placed',
        'hold_posted',
        'payout_sent',
        'payout_accepted',
        'settlement_rejected',
        'compensated_posting',
        'compensated_hold',
        'compensation_finished',
      ],
    );
    // Charged 20 000 by the posting, given back by the reversal: nets to zero.
    assert.deepEqual(await balance(h, co.account_id), {
      debits_pending: 0,
      debits_posted: 20_000,
      credits_pending: 0,
      credits_posted: 70_000,
    });
    const platform = await platformBalances(h);
    assert.deepEqual(delta(platformBefore.payable, platform.payable), { ...zero, credits_posted: 20_000, debits_posted: 20_000 });
    assert.deepEqual(delta(platformBefore.bank, platform.bank), zero, 'no money left the settlement bank');
    const codes = (await h.ledger.getPaymentTransfers(request.payment_id)).map((t) => t.code).sort();
    assert.deepEqual(codes, [TransferCode.payout_hold, TransferCode.payout_posting, TransferCode.payout_reversal].sort());
    assert.equal(h.simulator.settled.has(`payout:${request.payment_id}`), false);
    await assertInvariants(h);
  });

  test('malformed callbacks get 400 (413 when too large) with the reason, and write nothing', async () => {
    const co = await company(h, 10_000);
    const request = payout(co, 1_000);
    const state = await run(h, request);
    assert.equal(state.status, 'SETTLED');
    const before = await verifyLedger(h.pool);
    const key = `payout:${request.payment_id}`;
    const cases: Array<[unknown, RegExp, string?]> = [
      [null, /callback body is not JSON/, '{"status":'],
      [{ idempotency_key: key, status: 'settled' }, /callback bank_reference/],
      [{ idempotency_key: key, status: 'paid', bank_reference: 'X' }, /callback status/],
      [
        { idempotency_key: request.payment_id, status: 'settled', bank_reference: 'X' },
        /callback idempotency_key: must be payout:<payment id>/,
      ],
      [{ idempotency_key: 'payout:bad id!', status: 'rejected', reason: 'x' }, /callback idempotency_key/],
      [{ idempotency_key: key, status: 'rejected', reason: '' }, /callback reason: must not be empty/],
      [{ idempotency_key: key, status: 'settled', bank_reference: 'X', amount_minor: 1 }, /callback/],
    ];
    for (const [body, message, raw] of cases) {
      const answer = await postCallback(h, body, raw === undefined ? {} : { raw });
      assert.equal(answer.status, 400, JSON.stringify(body ?? raw));
      assert.match(String(answer.body.error), message);
    }
    const huge = await postCallback(h, { idempotency_key: key, status: 'rejected', reason: 'x'.repeat(CALLBACK_BYTES_MAX) });
    assert.equal(huge.status, 413);
    assert.match(String(huge.body.error), /over 8192 bytes/);
    const wrongMethod = await fetch(h.receiver!.url);
    assert.equal(wrongMethod.status, 405);

    const afterReport = await verifyLedger(h.pool);
    assert.equal(afterReport.transfers, before.transfers, 'no transfer written');
    assert.deepEqual(afterReport.violations, []);
    const handle = h.client.workflow.getHandle(`payment-${request.payment_id}`);
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
  });

  test('a callback for a finished payment is acknowledged (200 ignored) and changes nothing; an unknown payment gets 404', async () => {
    const co = await company(h, 10_000);
    const platformBefore = await platformBalances(h);
    const request = payout(co, 2_500);
    const state = await run(h, request);
    assert.equal(state.status, 'SETTLED');
    const transfersBefore = (await verifyLedger(h.pool)).transfers;
    // A late and contradicting confirmation: the payment already settled.
    const late = await postCallback(h, { idempotency_key: `payout:${request.payment_id}`, status: 'rejected', reason: 'late_return' });
    assert.deepEqual(late, { status: 200, body: { result: 'ignored', reason: 'payment_closed', payment_id: request.payment_id } });
    const unknown = await postCallback(h, { idempotency_key: 'payout:never-sent', status: 'settled', bank_reference: 'BANK-x' });
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.error), /unknown payment never-sent/);
    assert.equal((await verifyLedger(h.pool)).transfers, transfersBefore);
    await assertSettled(h, request, 10_000, platformBefore);
    await assertInvariants(h);
  });
});

describe('a bank that repeats its callbacks, at once and much later', () => {
  const LATE_MS = 2_500;
  let h: PaymentsHarness;
  before(async () => {
    // random() = 0: every payout gets a duplicate and a late callback (and no other fault).
    h = await startPaymentsHarness('payout-callbacks-dup', {
      callbacks: true,
      simulator: {
        callback_delay_ms: 50,
        duplicate_callback_rate: 0.5,
        late_callback_rate: 0.5,
        late_callback_delay_ms: LATE_MS,
        random: () => 0,
      },
    });
  });
  after(async () => {
    await h.close();
  });

  test('duplicate callbacks settle once; the late one, after the payment finished, changes nothing', async () => {
    const co = await company(h, 100_000);
    const platformBefore = await platformBalances(h);
    const requests = [payout(co, 1_100), payout(co, 2_200), payout(co, 3_300)];
    const states = await Promise.all(requests.map((r) => run(h, r)));
    assert.deepEqual(
      states.map((s) => s.status),
      ['SETTLED', 'SETTLED', 'SETTLED'],
    );
    for (const [i, r] of requests.entries()) {
      const key = `payout:${r.payment_id}`;
      assert.equal(states[i]!.bank_reference, h.simulator.settled.get(key)?.bank_reference);
      const kinds = h.simulator.callbacks.filter((c) => c.idempotency_key === key && c.http_status === 200).map((c) => c.kind);
      assert.deepEqual(kinds.sort(), ['duplicate', 'first'], `${r.payment_id}: both early callbacks delivered`);
      const settlements = (await h.ledger.getPaymentTransfers(r.payment_id)).filter((t) => t.code === TransferCode.payout_settlement);
      assert.equal(settlements.length, 1, `${r.payment_id} booked one settlement`);
    }
    const total = 6_600;
    const snapshot = async () => ({
      company: await balance(h, co.account_id),
      platform: await platformBalances(h),
      transfers: (await verifyLedger(h.pool)).transfers,
      states: await Promise.all(requests.map((r) => h.client.workflow.getHandle(`payment-${r.payment_id}`).query('getPayment'))),
    });
    const settledSnapshot = await snapshot();
    assert.deepEqual(settledSnapshot.company, { debits_pending: 0, debits_posted: total, credits_pending: 0, credits_posted: 100_000 });

    // The late callbacks arrive after every payment finished: acknowledged, ignored.
    await waitFor(
      'the late callbacks',
      () => h.simulator.callbacks.filter((c) => c.kind === 'late').length === requests.length,
      LATE_MS + 10_000,
    );
    assert.deepEqual(
      h.simulator.callbacks.filter((c) => c.kind === 'late').map((c) => c.http_status),
      [200, 200, 200],
    );
    assert.deepEqual(await snapshot(), settledSnapshot, 'nothing moved');
    assert.deepEqual(delta(platformBefore.payable, settledSnapshot.platform.payable), {
      ...zero,
      credits_posted: total,
      debits_posted: total,
    });
    assert.deepEqual(delta(platformBefore.bank, settledSnapshot.platform.bank), { ...zero, credits_posted: total });
    assert.equal(h.simulator.settled.size, requests.length, 'the bank paid each payout once');
    await assertInvariants(h);
  });
});

describe('a bank slower than the gateway timeout', () => {
  let h: PaymentsHarness;
  before(async () => {
    // Every new payout is held 1.5 s; the gateway gives up after 0.5 s and retries with the same key.
    h = await startPaymentsHarness('payout-callbacks-timeout', {
      callbacks: true,
      gateway_timeout_ms: 500,
      simulator: { callback_delay_ms: 50, request_timeout_rate: 0.5, request_hold_ms: 1_500, random: () => 0 },
    });
  });
  after(async () => {
    await h.close();
  });

  test('timed-out requests are retried with the same key; the bank pays once and the payout settles once', async () => {
    const co = await company(h, 50_000);
    const platformBefore = await platformBalances(h);
    const request = payout(co, 4_321);
    const state = await run(h, request);
    assert.equal(state.status, 'SETTLED');
    const key = `payout:${request.payment_id}`;
    assert.ok(
      (h.simulator.requests.get(key) ?? 0) >= 2,
      `the gateway retried after its timeout (${h.simulator.requests.get(key)} requests)`,
    );
    assert.equal(h.simulator.held, 1, 'one new payout, held once');
    assert.equal(h.simulator.settled.size, 1);
    assert.equal(
      h.simulator.callbacks.filter((c) => c.idempotency_key === key).length,
      1,
      'one confirmation for the payout, however often it was sent',
    );
    await assertSettled(h, request, 50_000, platformBefore);
    await assertInvariants(h);
  });
});

describe('a bank slow to confirm', () => {
  let h: PaymentsHarness;
  before(async () => {
    h = await startPaymentsHarness('payout-callbacks-slow', { callbacks: true, simulator: { callback_delay_ms: 1_200 } });
  });
  after(async () => {
    await h.close();
  });

  test('an accepted payout whose confirmation is later than settlement_attention_after_ms is flagged, then settles', async () => {
    const co = await company(h, 10_000);
    const platformBefore = await platformBalances(h);
    const request = payout(co, 700);
    const { handle } = await startPayout(h.client, request, h.task_queue, { settlement_attention_after_ms: 300 });
    const state = await handle.result();
    assert.equal(state.status, 'SETTLED');
    assert.equal(state.needs_attention, true);
    const events = state.timeline.map((e) => e.event);
    assert.deepEqual(events, [
      'payout_requested',
      'hold_placed',
      'hold_posted',
      'payout_sent',
      'payout_accepted',
      'settlement_waiting',
      'payout_settled',
    ]);
    await assertSettled(h, request, 10_000, platformBefore);
    await assertInvariants(h);
  });
});

describe('a confirmation that arrives while the send is still being retried', () => {
  let h: PaymentsHarness;
  before(async () => {
    h = await startPaymentsHarness('payout-callbacks-during-send', { callbacks: true, simulator: { callback_delay_ms: 50 } });
  });
  after(async () => {
    await h.close();
  });

  test('settles the payout with the confirmed reference, and the send stops', async () => {
    const co = await company(h, 10_000);
    const platformBefore = await platformBalances(h);
    const request = payout(co, 900);
    const key = `payout:${request.payment_id}`;
    // The bank's API keeps failing (its payments went through another channel), yet it confirms.
    h.simulator.script(
      key,
      Array.from({ length: 60 }, () => ({ status: 503 })),
    );
    const { handle } = await startPayout(h.client, request, h.task_queue);
    await waitFor('the send retried', () => (h.simulator.requests.get(key) ?? 0) >= 2);
    const confirmed = await postCallback(h, { idempotency_key: key, status: 'settled', bank_reference: 'BANK-during-retries' });
    assert.equal(confirmed.status, 200);
    const state = await Promise.race([
      handle.result(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still waiting for the send after the confirmation')), 20_000)),
    ]);
    assert.equal(state.status, 'SETTLED');
    assert.equal(state.bank_reference, 'BANK-during-retries');
    const codes = (await h.ledger.getPaymentTransfers(request.payment_id)).map((t) => t.code).sort();
    assert.deepEqual(codes, [TransferCode.payout_hold, TransferCode.payout_posting, TransferCode.payout_settlement].sort());
    const platform = await platformBalances(h);
    assert.deepEqual(delta(platformBefore.bank, platform.bank), { ...zero, credits_posted: 900 });
    // The send was cancelled: the bank hears no more of it.
    const sent = h.simulator.requests.get(key);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(h.simulator.requests.get(key), sent, 'no send after the payout settled');
    await assertInvariants(h);
  });
});

describe('callbacks must be signed by the bank', () => {
  let h: PaymentsHarness;
  before(async () => {
    // The bank accepts and stays silent (its own confirmation would come in ten minutes).
    h = await startPaymentsHarness('payout-callbacks-signed', { callbacks: true, simulator: { callback_delay_ms: 600_000 } });
  });
  after(async () => {
    await h.close();
  });

  test('unsigned, badly signed, wrongly keyed or stale callbacks get 401 and signal nothing; a signed one settles', async () => {
    const co = await company(h, 10_000);
    const request = payout(co, 1_500);
    const key = `payout:${request.payment_id}`;
    const { handle } = await startPayout(h.client, request, h.task_queue);
    await waitFor('the payout accepted', () => h.simulator.settled.has(key));
    const body = { idempotency_key: key, status: 'rejected', reason: 'forged_rejection' };
    const text = JSON.stringify(body);
    const now_s = Math.floor(Date.now() / 1000);
    const sign = (secret: Buffer, id: string, timestamp_s: number, signed = text) =>
      webhookHeaders(secret, { id, timestamp_s, body: signed });
    const forged: Array<[string, Parameters<typeof postCallback>[2], RegExp]> = [
      ['unsigned', { signed: false }, /missing webhook-id, webhook-timestamp or webhook-signature/],
      ['signed with another secret', { signed: false, headers: sign(randomBytes(32), 'msg_1', now_s) }, /no valid signature/],
      ['signature of another body', { signed: false, headers: sign(h.callback_secret, 'msg_2', now_s, '{}') }, /no valid signature/],
      ['stale (replayed 6 minutes later)', { signed: false, headers: sign(h.callback_secret, 'msg_3', now_s - 360) }, /from now/],
      ['from the future', { signed: false, headers: sign(h.callback_secret, 'msg_4', now_s + 360) }, /from now/],
      ['a signature header without v1', { headers: { 'webhook-signature': 'v0,abc' } }, /no valid signature/],
    ];
    for (const [name, options, message] of forged) {
      const answer = await postCallback(h, body, options);
      assert.equal(answer.status, 401, name);
      assert.match(String(answer.body.error), message, name);
    }
    const signals = async () =>
      ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    assert.equal(await signals(), 0, 'no forged callback reached the workflow');
    assert.equal((await getPayment(h.client, request.payment_id)).status, 'SETTLING');

    const reference = h.simulator.settled.get(key)!.bank_reference;
    const genuine = await postCallback(h, { idempotency_key: key, status: 'settled', bank_reference: reference });
    assert.equal(genuine.status, 200);
    const state = await handle.result();
    assert.equal(state.status, 'SETTLED');
    assert.equal(state.bank_reference, reference);
    assert.equal(await signals(), 1);
    await assertInvariants(h);
  });
});
