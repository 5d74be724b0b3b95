// The SDK's workflow stack traces follow TEMPORAL_WORKFLOW_STACK_TRACES
// (scripts/patch-temporal-worker.mjs, applied by `npm ci`). Off, the default: the `__stack_trace`
// query (the Web UI's "Stack Trace" tab) fails. The setting on is
// workflow-stack-traces-on.test.ts, a process of its own: a workflow thread copies the process's
// environment when it starts, so two workers started at once in one process with different
// settings could each get the other's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getPayment } from '../../src/api/payments.js';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { authorizedPayment } from '../support/stack-traces.js';
import { cardTestHarness } from '../support/card-harness.js';

const off = cardTestHarness('stack-traces-off');

test('off, the default: the stack trace query fails, and only it', async () => {
  const payment_id = await authorizedPayment(off);
  const handle = off.harness().client.workflow.getHandle(paymentWorkflowId(payment_id));
  // The worker's failure converter moves every failure's message into its encrypted attributes,
  // and the client does not decode a query's failure: "Workflow stack traces are not enabled on
  // this worker" arrives as "Encoded failure". What shows the cause is that this query fails and
  // no other: the payment answers its own query, and the same query on a worker with the setting
  // on answers (workflow-stack-traces-on.test.ts).
  await assert.rejects(
    handle.query('__stack_trace'),
    (err: Error) => err.name === 'QueryNotRegisteredError' && /Encoded failure/.test(err.message),
  );
  assert.equal((await getPayment(off.harness().client, payment_id)).status, 'AUTHORIZED');
});
