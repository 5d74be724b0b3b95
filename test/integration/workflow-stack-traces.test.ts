// The SDK's workflow stack traces follow TEMPORAL_WORKFLOW_STACK_TRACES
// (scripts/patch-temporal-worker.mjs, applied by `npm ci`): off by default, where the `__stack_trace`
// query (the Web UI's "Stack Trace" tab) fails; on, where it answers with where the payment waits.
// Two workers in this process, each created with its own setting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorizeCardPayment } from '../../src/api/card-payments.js';
import { getPayment } from '../../src/api/payments.js';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { cardTestHarness, type CardTestHarness } from '../support/card-harness.js';

const off = cardTestHarness('stack-traces-off');
const on = cardTestHarness('stack-traces-on', { workflow_stack_traces: 'on' });

/** An approved card payment on `t`'s worker, open and waiting for its clearing. */
async function authorizedPayment(t: CardTestHarness): Promise<string> {
  const h = await t.started();
  const { card_id } = await t.cardholder(100_00);
  const payment = t.purchase(card_id);
  const decision = await authorizeCardPayment(h.client, payment, t.inTime(25_00), t.opts());
  assert.equal(decision.approved, true);
  return payment.payment_id;
}

test('off, the default: the stack trace query fails, and only it', async () => {
  const payment_id = await authorizedPayment(off);
  const handle = off.harness().client.workflow.getHandle(paymentWorkflowId(payment_id));
  // The worker's failure converter moves every failure's message into its encrypted attributes,
  // and the client does not decode a query's failure: "Workflow stack traces are not enabled on
  // this worker" arrives as "Encoded failure". What shows the cause is that this query fails and
  // no other: the payment answers its own query, and the same query on the other worker answers.
  await assert.rejects(
    handle.query('__stack_trace'),
    (err: Error) => err.name === 'QueryNotRegisteredError' && /Encoded failure/.test(err.message),
  );
  assert.equal((await getPayment(off.harness().client, payment_id)).status, 'AUTHORIZED');
});

test('on: the stack trace query answers with where the payment waits', async () => {
  const payment_id = await authorizedPayment(on);
  const trace = await on.harness().client.workflow.getHandle(paymentWorkflowId(payment_id)).query<string>('__stack_trace');
  assert.match(trace, /src\/workflows\/card-payment\.ts/);
});
