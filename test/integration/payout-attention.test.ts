// Saga discipline under faults: a compensation that fails in a way the activity will not retry
// does not make the saga give up. The payment is marked as needing attention (state and search
// attribute) and the compensation is tried again until it succeeds; the books end balanced.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { startPayout } from '../../src/api/payments.js';
import { NeedsAttentionKey } from '../../src/domain/search-attributes.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { REJECTED_ACCOUNT_PREFIX } from '../../src/settlement/simulator.js';
import { testDataConverter } from '../support/codec.js';
import { startInProcessPlatform, type InProcessPlatform } from '../support/in-process.js';

let platform: InProcessPlatform;

before(async () => {
  platform = await startInProcessPlatform('payout_attention');
});
after(async () => {
  await platform.close();
});

test('a compensation failing twice, non-retryably: needs attention, retried, compensated, balanced', async () => {
  const { activities, ledger, pool, connection } = platform;
  let failuresLeft = 2;
  const task_queue = `attention-${randomUUID()}`;
  const worker = await platform.worker(task_queue, {
    ...activities,
    // The injected fault: the reversal fails twice with an error the activity does not retry.
    reversePosting: async (input: Parameters<typeof activities.reversePosting>[0]) => {
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        throw ApplicationFailure.nonRetryable('injected: ledger answered something unexpected', 'InjectedFault');
      }
      return activities.reversePosting(input);
    },
  });
  const client = new Client({ connection, dataConverter: testDataConverter() });
  await worker.runUntil(async () => {
    const account_id = await openCreditLine(ledger, {
      company_id: 'attention-co',
      currency: 'USD',
      limit_minor: 10_000,
      grant_key: 'test',
    });
    const request = {
      payment_id: `attention-${randomUUID()}`,
      company_id: 'attention-co',
      account_id,
      amount_minor: 4_000,
      currency: 'USD' as const,
      payee: { name: 'Supplier', bank_account: `${REJECTED_ACCOUNT_PREFIX}00000007` },
    };
    const { handle } = await startPayout(client, request, task_queue);
    const state = await handle.result();
    assert.equal(state.status, 'COMPENSATED');
    assert.equal(state.needs_attention, true);
    assert.equal(failuresLeft, 0, 'both injected failures happened');
    const events = state.timeline.map((e) => e.event);
    assert.ok(events.includes('compensation_failed_posting'), events.join(', '));
    assert.ok(events.indexOf('compensation_failed_posting') < events.indexOf('compensated_posting'));
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(NeedsAttentionKey), true, 'ops can find it with NeedsAttention = true');
    const balance = await ledger.getBalance(account_id);
    assert.equal(balance!.available, 10_000n, 'the company nets to zero');
    assert.deepEqual((await verifyLedger(pool)).violations, []);
  });
});
