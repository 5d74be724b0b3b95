// A payout whose bank is slow to answer is flagged for ops once it has waited longer than the
// configured time, and still settles when the answer comes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startPayout } from '../../src/api/payments.js';
import { NeedsAttentionKey } from '../../src/domain/search-attributes.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

const BANK_LATENCY_MS = 1_500;
let h: PaymentsHarness;

before(async () => {
  h = await startPaymentsHarness('settlement-attention', { simulator: { latency_ms: BANK_LATENCY_MS } });
});
after(async () => {
  await h.close();
});

test('a bank slower than settlement_attention_after_ms flags the payout, which then settles', async () => {
  const account_id = await openCreditLine(h.ledger, {
    company_id: 'slow-bank-co',
    currency: 'CHF',
    limit_minor: 100_000,
    grant_key: 'test',
  });
  const request = (id: string) => ({
    payment_id: id,
    company_id: 'slow-bank-co',
    account_id,
    amount_minor: 2_500,
    currency: 'CHF' as const,
    payee: { name: 'Supplier AG', bank_account: 'CH9300762011623852957' },
  });

  const slow = await startPayout(h.client, request(`slow-${randomUUID()}`), h.task_queue, { settlement_attention_after_ms: 300 });
  const slowState = await slow.handle.result();
  assert.equal(slowState.status, 'SETTLED');
  assert.equal(slowState.needs_attention, true);
  const waiting = slowState.timeline.find((e) => e.event === 'settlement_waiting');
  assert.ok(waiting, slowState.timeline.map((e) => e.event).join(', '));
  assert.match(waiting.detail ?? '', /no answer from the bank after 300 ms/);
  assert.equal((await slow.handle.describe()).typedSearchAttributes.get(NeedsAttentionKey), true);

  // The same bank within the allowance: no flag.
  const patient = await startPayout(h.client, request(`patient-${randomUUID()}`), h.task_queue, { settlement_attention_after_ms: 60_000 });
  const patientState = await patient.handle.result();
  assert.equal(patientState.status, 'SETTLED');
  assert.equal(patientState.needs_attention, false);
  assert.equal((await patient.handle.describe()).typedSearchAttributes.get(NeedsAttentionKey), false);
  assert.deepEqual((await verifyLedger(h.pool)).violations, []);
});
