// Saga discipline under faults: a compensation that fails in a way the activity will not retry
// does not make the saga give up. The payment is marked as needing attention (state and search
// attribute) and the compensation is tried again until it succeeds; the books end balanced.
import { createCardStore } from '../../src/cards/cards.js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities/index.js';
import { startPayout } from '../../src/api/payments.js';
import { NeedsAttentionKey } from '../../src/domain/search-attributes.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { DEFAULT_BATCHER_OPTIONS, createTransferBatcher } from '../../src/ledger/batcher.js';
import type { Pool } from '../../src/ledger/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { createNetworkCycleStore } from '../../src/ledger/network-cycles.js';
import { createStatementStore } from '../../src/ledger/statements.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { createHttpSettlementGateway } from '../../src/settlement/gateway.js';
import { createHttpCardNetwork } from '../../src/settlement/network-client.js';
import { REJECTED_ACCOUNT_PREFIX, startSettlementSimulator, type SettlementSimulator } from '../../src/settlement/simulator.js';
import { testDataConverter } from '../support/codec.js';
import { freshDatabase, testEnv } from '../support/env.js';

let pool: Pool;
let simulator: SettlementSimulator;
let nativeConnection: NativeConnection;
let connection: Connection;

before(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  ({ pool } = await freshDatabase('payout_attention'));
  simulator = await startSettlementSimulator({ host: '127.0.0.1', port: 0, transient_failure_rate: 0, reply_lost_rate: 0, latency_ms: 0 });
  nativeConnection = await NativeConnection.connect({ address: testEnv.temporalAddress });
  connection = await Connection.connect({ address: testEnv.temporalAddress });
});
after(async () => {
  await connection.close();
  await nativeConnection.close();
  await simulator.close();
  await pool.end();
});

test('a compensation failing twice, non-retryably: needs attention, retried, compensated, balanced', async () => {
  const ledger = createLedger(pool);
  const postings = createTransferBatcher(ledger, DEFAULT_BATCHER_OPTIONS);
  const activities = createActivities({
    ledger,
    postings,
    cards: createCardStore(pool),
    gateway: createHttpSettlementGateway(simulator.url),
    networkCycles: createNetworkCycleStore(pool),
    statements: createStatementStore(pool),
    network: createHttpCardNetwork(simulator.url),
  });
  let failuresLeft = 2;
  const task_queue = `attention-${randomUUID()}`;
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: task_queue,
    workflowBundle: { codePath: testEnv.workflowBundlePath },
    dataConverter: testDataConverter(),
    activities: {
      ...activities,
      // The injected fault: the reversal fails twice with an error the activity does not retry.
      reversePosting: async (input: Parameters<typeof activities.reversePosting>[0]) => {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw ApplicationFailure.nonRetryable('injected: ledger answered something unexpected', 'InjectedFault');
        }
        return activities.reversePosting(input);
      },
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
  await postings.close();
});
