// Reading a payment: a completed payment is read from its close event, by the server alone. Its
// state must be the one its query answered, and reading it must not need a worker (a query of a
// closed workflow makes a worker replay the whole history: the chaos run's final read spent
// minutes on it). A running payment still answers its query; an unknown one is not found.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { getPayment, startPayout } from '../../src/api/payments.js';
import { paymentWorkflowId } from '../../src/domain/payment.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { getPaymentQuery } from '../../src/workflows/messages.js';
import { testDataConverter } from '../support/codec.js';
import { startInProcessPlatform, type InProcessPlatform } from '../support/in-process.js';

let platform: InProcessPlatform;

before(async () => {
  platform = await startInProcessPlatform('payment_read');
});
after(async () => {
  await platform.close();
});

test('a completed payment is read with no worker running; a running one answers its query', async () => {
  const { ledger, pool, connection } = platform;
  const task_queue = `payment-read-${randomUUID()}`;
  const worker = await platform.worker(task_queue);
  const client = new Client({ connection, dataConverter: testDataConverter() });
  const account_id = await openCreditLine(ledger, { company_id: 'read-co', currency: 'EUR', limit_minor: 50_000, grant_key: 'test' });
  const payout = (payment_id: string) => ({
    payment_id,
    company_id: 'read-co',
    account_id,
    amount_minor: 2_500,
    currency: 'EUR' as const,
    payee: { name: 'Supplier', bank_account: 'DE89370400440532013000' },
  });

  const done_id = `read-done-${randomUUID()}`;
  const queried = await worker.runUntil(async () => {
    const { handle } = await startPayout(client, payout(done_id), task_queue);
    const result = await handle.result();
    assert.equal(result.status, 'SETTLED');
    // What a worker answers by replaying the closed payment: the state getPayment must return.
    return client.workflow.getHandle(handle.workflowId).query(getPaymentQuery);
  });
  assert.equal(worker.getState(), 'STOPPED');

  // No worker polls the queue now: a query would wait for one until the deadline.
  const read = await connection.withDeadline(Date.now() + 5_000, () => getPayment(client, done_id));
  assert.deepEqual(read, queried);
  assert.equal(read.status, 'SETTLED');
  assert.equal(read.amount_minor, 2_500);

  // A payment still running is answered by its query (it has no close event to read), and so
  // needs a worker: without one, the caller's deadline ends the read.
  const running_id = `read-running-${randomUUID()}`;
  await startPayout(client, payout(running_id), task_queue);
  await assert.rejects(connection.withDeadline(Date.now() + 2_000, () => getPayment(client, running_id)));
  const running = await platform.worker(task_queue);
  await running.runUntil(async () => {
    const state = await getPayment(client, running_id);
    assert.equal(state.payment_id, running_id);
    assert.equal((await client.workflow.getHandle(paymentWorkflowId(running_id)).result()).status, 'SETTLED');
  });

  await assert.rejects(getPayment(client, `read-unknown-${randomUUID()}`), WorkflowNotFoundError);
  assert.deepEqual((await verifyLedger(pool)).violations, []);
});
