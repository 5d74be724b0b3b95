// Every kind of answer a payee bank can give to a payout, against the real workflow, Temporal,
// Postgres and the HTTP simulator (its answers scripted per idempotency key):
//   - only a final rejection (422 whose body says `rejected`) compensates;
//   - 408, 409, 425, 429 and 5xx are retried with the same key, unflagged, and settle;
//   - 401 and 403 (a credential problem, not the payee's) are retried with a pause and flag the
//     payout NeedsAttention; it settles once the bank takes the key;
//   - any other answer (400, 404, a 422 that is not a rejection, a 200 no bank should send) is
//     retried and flagged, never compensated;
//   - once the bank has paid, a failing booking of the settlement is retried and flagged, never
//     compensated: the posting stays.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { payoutTransferIds } from '../../src/activities/payout.js';
import { resolveAttention, retrySettlement } from '../../src/api/ops.js';
import { getPayment, startPayout } from '../../src/api/payments.js';
import { TransferCode } from '../../src/domain/ledger.js';
import type { PaymentState, PayoutRequest } from '../../src/domain/payment.js';
import { NeedsAttentionKey } from '../../src/domain/search-attributes.js';
import type { TransferBatcher } from '../../src/ledger/batcher.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { payoutIdempotencyKey } from '../../src/settlement/gateway.js';
import type { ScriptedAnswer } from '../../src/settlement/simulator.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

const CURRENCY = 'EUR';
const by = { operator: 'jane.ops', reason: 'ledger fixed, book it now' };

async function company(h: PaymentsHarness, limit_minor: number) {
  const company_id = `co-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency: CURRENCY, limit_minor, grant_key: 'initial' });
  return { company_id, account_id };
}

function payout(co: { company_id: string; account_id: string }, amount_minor: number, label: string): PayoutRequest {
  return {
    payment_id: `ans-${label}-${randomUUID().slice(0, 8)}`,
    company_id: co.company_id,
    account_id: co.account_id,
    amount_minor,
    currency: CURRENCY,
    payee: { name: 'Supplier GmbH', bank_account: 'DE89370400440532013000' },
  };
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeout_ms = 30_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const events = (s: PaymentState) => s.timeline.map((e) => e.event);

/** A payout that went through: charged once, paid once, booked once, nothing reversed. */
async function assertSettledOnce(h: PaymentsHarness, request: PayoutRequest, state: PaymentState) {
  assert.equal(state.status, 'SETTLED', events(state).join(', '));
  assert.equal(state.settled_minor, request.amount_minor);
  assert.equal(state.reversed_minor, 0);
  const codes = (await h.ledger.getPaymentTransfers(request.payment_id)).map((t) => t.code).sort();
  assert.deepEqual(codes, [TransferCode.payout_hold, TransferCode.payout_posting, TransferCode.payout_settlement].sort());
  assert.equal(h.simulator.settled.get(payoutIdempotencyKey(request.payment_id))?.amount_minor, request.amount_minor, 'paid once');
  assert.deepEqual((await verifyLedger(h.pool)).violations, []);
}

describe('a bank answering the send with every HTTP class', () => {
  let h: PaymentsHarness;
  before(async () => {
    h = await startPaymentsHarness('payout-answers');
  });
  after(async () => {
    await h.close();
  });

  test('408, 409, 425, 429 and 5xx are retried with the same key: settled once, not flagged', async () => {
    const co = await company(h, 1_000_000);
    const statuses = [408, 409, 425, 429, 500, 502, 503, 504];
    const runs = statuses.map((status, i) => {
      const request = payout(co, 1_000 + i, String(status));
      h.simulator.script(payoutIdempotencyKey(request.payment_id), [{ status }, { status }]);
      return { status, request };
    });
    const states = await Promise.all(runs.map(async (r) => (await startPayout(h.client, r.request, h.task_queue)).handle.result()));
    for (const [i, { status, request }] of runs.entries()) {
      const state = states[i]!;
      await assertSettledOnce(h, request, state);
      assert.equal(state.needs_attention, false, `${status}: a transient answer needs nobody`);
      const key = payoutIdempotencyKey(request.payment_id);
      assert.equal(h.simulator.scripted.get(key), 2, `${status}: both scripted answers given`);
      assert.equal(h.simulator.requests.get(key), 3, `${status}: sent three times with the same key`);
    }
  });

  for (const status of [401, 403]) {
    test(`${status} is a credential problem: retried with a pause, flagged, then settled once`, async () => {
      const co = await company(h, 100_000);
      const request = payout(co, 4_100, String(status));
      const key = payoutIdempotencyKey(request.payment_id);
      h.simulator.script(key, [
        { status, body: { error: 'invalid api key' } },
        { status, body: { error: 'invalid api key' } },
      ]);
      const { handle } = await startPayout(h.client, request, h.task_queue);
      const state = await handle.result();
      await assertSettledOnce(h, request, state);
      assert.equal(state.needs_attention, true);
      const flagged = state.timeline.filter((e) => e.event === 'settlement_credentials_refused');
      assert.ok(flagged.length >= 1, events(state).join(', '));
      assert.match(flagged[0]!.detail ?? '', new RegExp(`${status}`));
      assert.equal((await handle.describe()).typedSearchAttributes.get(NeedsAttentionKey), true);
      assert.equal(h.simulator.requests.get(key), 3);
      assert.ok(!events(state).includes('settlement_rejected'));
    });
  }

  test('an ops re-send that fails inside the handler is recorded and flagged; the payout goes on, takes later messages, settles', async () => {
    const co = await company(h, 100_000);
    const request = payout(co, 5_100, 'ops-401');
    const key = payoutIdempotencyKey(request.payment_id);
    h.simulator.script(
      key,
      Array.from({ length: 4 }, () => ({ status: 401, body: { error: 'invalid api key' } })),
    );
    const { handle } = await startPayout(h.client, request, h.task_queue);
    await eventually('the credential problem flagged', async () =>
      (await getPayment(h.client, request.payment_id)).timeline.some((e) => e.event === 'settlement_credentials_refused'),
    );
    const retried = await retrySettlement(h.client, request.payment_id, { operator: 'jane.ops', reason: 'rotated the api key' });
    assert.equal(retried.status, 'SETTLING');
    const failed = retried.timeline.find((e) => e.event === 'ops_retry_failed');
    assert.ok(failed, events(retried).join(', '));
    assert.match(failed.detail ?? '', /401/);
    assert.equal(retried.needs_attention, true);
    // Later messages are still accepted.
    const resolved = await resolveAttention(h.client, request.payment_id, { operator: 'sam', reason: 'key rotated, bank will take it' });
    assert.equal(resolved.needs_attention, false);
    const state = await handle.result();
    await assertSettledOnce(h, request, state);
    assert.equal(h.simulator.scripted.get(key), 4);
  });

  const unexpected: Array<[string, ScriptedAnswer]> = [
    ['400', { status: 400, body: { error: 'bad request' } }],
    ['404', { status: 404, body: { error: 'no such endpoint' } }],
    ['410', { status: 410, body: { error: 'gone' } }],
    ['422 without a rejection', { status: 422, body: { error: 'unprocessable' } }],
    ['200 with a body that is not an answer', { status: 200, body: '<html>maintenance</html>' }],
    ['200 saying rejected', { status: 200, body: { status: 'rejected', reason: 'odd' } }],
  ];
  for (const [name, answer] of unexpected) {
    test(`an unexpected answer (${name}) is retried and flagged, never compensated`, async () => {
      const co = await company(h, 100_000);
      const request = payout(co, 3_300, name.split(' ')[0]!);
      const key = payoutIdempotencyKey(request.payment_id);
      h.simulator.script(key, [answer]);
      const state = await (await startPayout(h.client, request, h.task_queue)).handle.result();
      await assertSettledOnce(h, request, state);
      assert.equal(state.needs_attention, true);
      assert.ok(events(state).includes('settlement_unexpected_answer'), events(state).join(', '));
      assert.ok(!events(state).includes('settlement_rejected'));
      assert.equal(h.simulator.requests.get(key), 2);
    });
  }

  test('only a 422 whose body says rejected compensates', async () => {
    const co = await company(h, 100_000);
    const request = payout(co, 2_000, '422');
    h.simulator.script(payoutIdempotencyKey(request.payment_id), [{ status: 422, body: { status: 'rejected', reason: 'payee_unknown' } }]);
    const state = await (await startPayout(h.client, request, h.task_queue)).handle.result();
    assert.equal(state.status, 'COMPENSATED');
    assert.equal(state.compensation_reason, 'payee_unknown');
    assert.equal(state.reversed_minor, 2_000);
    assert.equal((await h.ledger.getBalance(co.account_id))!.available, 100_000n, 'the company nets to zero');
    assert.deepEqual((await verifyLedger(h.pool)).violations, []);
  });
});

describe('a booking that fails after the bank paid', () => {
  let h: PaymentsHarness;
  /** Payment ids whose settlement booking the ledger answers unexpectedly, and how often still. */
  const failing = new Map<string, number>();
  before(async () => {
    h = await startPaymentsHarness('payout-booking', {
      postings: (inner): TransferBatcher => ({
        ...inner,
        submit: async (transfers) => {
          const [t] = transfers;
          const left = t ? failing.get(t.payment_id ?? '') : undefined;
          if (t && left && t.id === payoutTransferIds(t.payment_id!).settlement) {
            failing.set(t.payment_id!, left - 1);
            return [{ id: t.id, result: 'exists_with_different_amount' }];
          }
          return inner.submit(transfers);
        },
      }),
    });
  });
  after(async () => {
    await h.close();
  });

  test('the booking is retried and flagged; nothing is compensated; it settles once the ledger takes it', async () => {
    const co = await company(h, 100_000);
    const request = payout(co, 7_700, 'booking');
    failing.set(request.payment_id, 2);
    const { handle } = await startPayout(h.client, request, h.task_queue);
    const state = await handle.result();
    assert.equal(failing.get(request.payment_id), 0, 'both injected failures happened');
    await assertSettledOnce(h, request, state);
    assert.equal(state.needs_attention, true);
    assert.ok(events(state).includes('settlement_booking_failed'), events(state).join(', '));
    assert.ok(!events(state).some((e) => e.startsWith('compensat')), events(state).join(', '));
    assert.equal((await handle.describe()).typedSearchAttributes.get(NeedsAttentionKey), true);
    assert.equal((await h.ledger.getBalance(co.account_id))!.debits_posted, 7_700n, 'the posting stays');
  });

  test('retrySettlement after the bank paid books the settlement at once', async () => {
    const co = await company(h, 100_000);
    const request = payout(co, 8_800, 'booking-ops');
    failing.set(request.payment_id, 4); // backoff 1 s, 2 s, 4 s...: ops step in before it ends
    const { handle } = await startPayout(h.client, request, h.task_queue);
    await eventually('the booking flagged', async () => (await getPayment(h.client, request.payment_id)).needs_attention);
    await eventually('a second failure', async () => (failing.get(request.payment_id) ?? 0) <= 2);
    failing.set(request.payment_id, 0); // the ledger is fixed
    const retried = await retrySettlement(h.client, request.payment_id, by);
    assert.ok(
      retried.timeline.some((e) => e.event === 'ops_retry_settlement'),
      events(retried).join(', '),
    );
    const state = await handle.result();
    await assertSettledOnce(h, request, state);
    assert.equal(h.simulator.requests.get(payoutIdempotencyKey(request.payment_id)), 1, 'the bank was not asked again');
  });
});
