// Payouts against a flaky bank: the simulator answers 503 to some requests and, worse, makes some
// payouts and then drops the connection before answering (the reply is lost). Every payout must
// still settle exactly once: the bank moves money once per payment, the ledger books one
// settlement, and the retries are visible in the bank's request counts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startPayout } from '../../src/api/payments.js';
import { TransferCode } from '../../src/domain/ledger.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

/** A seeded generator (mulberry32), so that a failing run can be replayed with the same faults. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261125;
const PAYOUTS = 12;
let h: PaymentsHarness;

before(async () => {
  h = await startPaymentsHarness('bank-faults', { simulator: { transient_failure_rate: 0.3, reply_lost_rate: 0.4, random: seeded(SEED) } });
});
after(async () => {
  await h.close();
});

test(`${PAYOUTS} payouts through a bank that fails 30% and loses 40% of replies settle exactly once (seed ${SEED})`, async () => {
  const account_id = await openCreditLine(h.ledger, { company_id: 'flaky-co', currency: 'GBP', limit_minor: 1_000_000, grant_key: 'test' });
  const requests = Array.from({ length: PAYOUTS }, (_, i) => ({
    payment_id: `flaky-${randomUUID()}`,
    company_id: 'flaky-co',
    account_id,
    amount_minor: 1_000 + i,
    currency: 'GBP' as const,
    payee: { name: `Supplier ${i}`, bank_account: `GB29NWBK6016133192681${i}` },
  }));
  const states = await Promise.all(requests.map(async (r) => (await startPayout(h.client, r, h.task_queue)).handle.result()));
  assert.deepEqual(
    states.map((s) => s.status),
    requests.map(() => 'SETTLED'),
  );

  const retried = requests.filter((r) => (h.simulator.requests.get(`payout:${r.payment_id}`) ?? 0) > 1).length;
  assert.ok(retried > 0, 'the faults forced retries (else this test proves nothing)');
  for (const r of requests) {
    const key = `payout:${r.payment_id}`;
    assert.equal(h.simulator.settled.get(key)?.amount_minor, r.amount_minor, `${r.payment_id} paid once, in full`);
    const settlements = (await h.ledger.getPaymentTransfers(r.payment_id)).filter((t) => t.code === TransferCode.payout_settlement);
    assert.equal(settlements.length, 1, `${r.payment_id} booked one settlement`);
  }
  assert.equal(h.simulator.settled.size, PAYOUTS, 'the bank moved money once per payout');
  const total = requests.reduce((s, r) => s + r.amount_minor, 0);
  assert.equal((await h.ledger.getBalance(account_id))!.debits_posted, BigInt(total));
  assert.deepEqual((await verifyLedger(h.pool)).violations, []);
});
