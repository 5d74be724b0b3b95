// The workflow stack traces tests' payment (test/integration/workflow-stack-traces*.test.ts).
import assert from 'node:assert/strict';
import { authorizeCardPayment } from '../../src/api/card-payments.js';
import type { CardTestHarness } from './card-harness.js';

/** An approved card payment on `t`'s worker, open and waiting for its clearing. */
export async function authorizedPayment(t: CardTestHarness): Promise<string> {
  const h = await t.started();
  const { card_id } = await t.cardholder(100_00);
  const payment = t.purchase(card_id);
  const decision = await authorizeCardPayment(h.client, payment, t.inTime(25_00), t.opts());
  assert.equal(decision.approved, true);
  return payment.payment_id;
}
