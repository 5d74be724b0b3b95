// TEMPORAL_WORKFLOW_STACK_TRACES=on: the `__stack_trace` query answers with where the payment
// waits (the default, off, is workflow-stack-traces.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { authorizedPayment } from '../support/stack-traces.js';
import { cardTestHarness } from '../support/card-harness.js';

const on = cardTestHarness('stack-traces-on', { workflow_stack_traces: 'on' });

test('on: the stack trace query answers with where the payment waits', async () => {
  const payment_id = await authorizedPayment(on);
  const trace = await on.harness().client.workflow.getHandle(paymentWorkflowId(payment_id)).query<string>('__stack_trace');
  assert.match(trace, /src\/workflows\/card-payment\.ts/);
});
