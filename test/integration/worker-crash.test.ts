// A worker process killed with SIGKILL in the middle of payments: a payout whose bank call is in
// flight (the bank pays, the worker never hears it) and a card payment whose expiry timer fires
// while no worker runs. A new worker finishes both, exactly once: the bank pays once, the ledger
// books each step once, and every invariant holds.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { authorizeCardPayment, clearCardPayment, incrementCardPayment } from '../../src/api/card-payments.js';
import { getPayment, startPayout } from '../../src/api/payments.js';
import { createCardStore } from '../../src/cards/cards.js';
import { DEFAULT_CARD_OPTIONS } from '../../src/domain/card.js';
import { TransferCode } from '../../src/domain/ledger.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import type { Pool } from '../../src/ledger/db.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { checkPaymentAgainstLedger } from '../../src/ledger/payment-check.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { distinctFreePorts } from '../../src/stack/ports.js';
import { startSettlementSimulator, type SettlementSimulator } from '../../src/settlement/simulator.js';
import { testDataConverter } from '../support/codec.js';
import { freshDatabase, testEnv } from '../support/env.js';
import { startWorkerProcess } from '../support/worker-process.js';

/** The bank takes this long to answer: long enough to kill the worker while it waits. */
const BANK_LATENCY_MS = 2_000;

let pool: Pool;
let databaseUrl: string;
let ledger: Ledger;
let simulator: SettlementSimulator;
let connection: Connection;
let client: Client;
const task_queue = `worker-crash-${randomUUID()}`;
/** The card payments' queue of the worker processes (src/workers/main.ts). */
const authorization_task_queue = `${task_queue}-authorizations`;
const workers: ChildProcess[] = [];

before(async () => {
  ({ pool, url: databaseUrl } = await freshDatabase('worker-crash'));
  ledger = createLedger(pool);
  simulator = await startSettlementSimulator({
    host: '127.0.0.1',
    port: 0,
    latency_ms: BANK_LATENCY_MS,
    transient_failure_rate: 0,
    reply_lost_rate: 0,
  });
  connection = await Connection.connect({ address: testEnv.temporalAddress });
  // The worker processes encrypt with the run's keys (PAYLOAD_CODEC_KEYS, inherited).
  client = new Client({ connection, namespace: 'default', dataConverter: testDataConverter() });
});
after(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) process.kill(-w.pid!, 'SIGKILL');
  await connection.close();
  await simulator.close();
  await pool.end();
});

/** The real worker program (`npm run worker`), in its own process group. */
async function startWorker(name: string): Promise<ChildProcess> {
  const child = startWorkerProcess({
    ports: await distinctFreePorts(2).then(([metrics, settlement_callback]) => ({
      metrics: metrics!,
      settlement_callback: settlement_callback!,
    })),
    data_dir_name: `worker-crash-${name}`,
    database_url: databaseUrl,
    task_queue,
    authorization_task_queue,
    settlement_gateway_url: simulator.url,
  });
  workers.push(child);
  return child;
}

/** A company's EUR credit line of 10,000.00 and a card on it. */
async function companyWithCard(company_id: string, card_prefix: string) {
  const account_id = await openCreditLine(ledger, { company_id, currency: 'EUR', limit_minor: 1_000_000, grant_key: 'test' });
  const card = await createCardStore(pool).issue({
    card_id: `${card_prefix}-${randomUUID().slice(0, 8)}`,
    company_id,
    currency: 'EUR',
    account_id,
  });
  return { account_id, card };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeout_ms = 30_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('kill -9 of the worker mid-payment: a new worker finishes every payment exactly once', async () => {
  const { account_id, card } = await companyWithCard('crash-co', 'crash-card');

  const first = await startWorker('first');
  // The card payment: authorized by the first worker (which proves it is polling), with an expiry
  // that will come due while no worker runs.
  const purchase = {
    payment_id: `crash-card-${randomUUID()}`,
    card_id: card.card_id,
    currency: 'EUR' as const,
    merchant: { mcc: '5411', name: 'Shop' },
  };
  const card_options = { task_queue, workflow: { ...DEFAULT_CARD_OPTIONS, hold_expiry_ms: 3_000, linger_ms: 60_000 } };
  const decision = await authorizeCardPayment(client, purchase, { amount_minor: 3_000, deadline_at_ms: Date.now() + 60_000 }, card_options);
  assert.equal(decision.approved, true);
  assert.equal((await getPayment(client, purchase.payment_id)).status, 'AUTHORIZED');

  // The payout: killed while its bank call is in flight; the bank completes it anyway.
  const payout = {
    payment_id: `crash-payout-${randomUUID()}`,
    company_id: 'crash-co',
    account_id,
    amount_minor: 12_000,
    currency: 'EUR' as const,
    payee: { name: 'Supplier', bank_account: 'DE89370400440532013000' },
  };
  const { handle } = await startPayout(client, payout, task_queue);
  const key = `payout:${payout.payment_id}`;
  await until('the bank call', () => simulator.requests.has(key));
  process.kill(-first.pid!, 'SIGKILL');
  await new Promise<void>((resolve) => first.once('exit', () => resolve()));
  await until('the bank to pay', () => simulator.settled.has(key));

  // While no worker runs, the network clears part of the purchase; its answer waits for a worker.
  const clearing = clearCardPayment(client, purchase, { event_id: 'c1', amount_minor: 1_000, final: false }, card_options);
  await new Promise((r) => setTimeout(r, 1_000));
  const second = await startWorker('second');

  const payoutState = await handle.result();
  assert.equal(payoutState.status, 'SETTLED');
  assert.equal((await clearing).posted_minor, 1_000);
  await until('the hold to expire', async () => (await getPayment(client, purchase.payment_id)).held_minor === 0);
  const cardState = await getPayment(client, purchase.payment_id);
  assert.equal(cardState.status, 'SETTLED');
  assert.equal(cardState.posted_minor, 1_000);

  // Exactly once: one bank payment, one transfer per step.
  assert.ok((simulator.requests.get(key) ?? 0) >= 2, 'the new worker retried the bank call');
  assert.equal(simulator.settled.size, 1);
  const payoutCodes = (await ledger.getPaymentTransfers(payout.payment_id)).map((t) => t.code).sort();
  assert.deepEqual(payoutCodes, [TransferCode.payout_hold, TransferCode.payout_posting, TransferCode.payout_settlement]);
  const cardCodes = (await ledger.getPaymentTransfers(purchase.payment_id)).map((t) => t.code).sort();
  assert.deepEqual(cardCodes, [TransferCode.card_hold, TransferCode.card_hold, TransferCode.card_hold_release, TransferCode.card_clearing]);
  assert.equal(await checkPaymentAgainstLedger(ledger, payoutState), null);
  assert.equal(await checkPaymentAgainstLedger(ledger, cardState), null);
  const report = await verifyLedger(pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
  const balance = await ledger.getBalance(account_id);
  assert.equal(balance?.debits_posted, 13_000n);
  assert.equal(balance?.debits_pending, 0n);

  process.kill(-second.pid!, 'SIGTERM');
  await new Promise<void>((resolve) => second.once('exit', () => resolve()));
});

/** Whether a worker process polls the authorizations queue (its identity is `<pid>@<host>`). */
async function pollsAuthorizations(child: ChildProcess): Promise<boolean> {
  const { pollers } = await client.workflowService.describeTaskQueue({
    namespace: 'default',
    taskQueue: { name: authorization_task_queue },
  });
  return pollers.some((p) => p.identity?.startsWith(`${child.pid}@`));
}

test('kill -9 of the worker that has a card payment cached: another worker answers its next authorization in time', async (t) => {
  // The payment's later workflow tasks go to the sticky queue of the worker that has it cached.
  // The SDK's default moves them to the shared queue only after 10 s; the network waits 2 s.
  const { card } = await companyWithCard('sticky-co', 'sticky-card');
  const first = await startWorker('sticky-first');
  const purchase = {
    payment_id: `sticky-${randomUUID()}`,
    card_id: card.card_id,
    currency: 'EUR' as const,
    merchant: { mcc: '5812', name: 'Hotel' },
  };
  const card_options = { task_queue: authorization_task_queue, workflow: DEFAULT_CARD_OPTIONS };
  const decision = await authorizeCardPayment(
    client,
    purchase,
    { amount_minor: 10_000, deadline_at_ms: Date.now() + 60_000 },
    card_options,
  );
  assert.equal(decision.approved, true, 'the first worker, the only one, authorized (and caches) the payment');
  const second = await startWorker('sticky-second');
  await until('the second worker to poll', () => pollsAuthorizations(second), 60_000);
  process.kill(-first.pid!, 'SIGKILL');
  await new Promise<void>((resolve) => first.once('exit', () => resolve()));
  // A surviving worker in production is a warm one: a new purchase, which only the second worker
  // can take, loads its workflow code, activities and database pool, so that what is measured
  // below is the handover of the cached payment, not the cold start of a process (CI's server
  // pass, two test files at a time on two cores, once took over 4 s for both).
  const warm = await authorizeCardPayment(
    client,
    { ...purchase, payment_id: `sticky-warm-${randomUUID()}` },
    { amount_minor: 100, deadline_at_ms: Date.now() + 30_000 },
    card_options,
  );
  assert.equal(warm.approved, true);

  // Two and a half times the network's deadline: room for a loaded machine, still well inside the
  // SDK's default of 10 s, which this test fails with.
  const sent_ms = performance.now();
  const increment = await incrementCardPayment(client, purchase.payment_id, {
    event_id: 'tip',
    amount_minor: 2_000,
    deadline_at_ms: Date.now() + 5_000,
    stand_in: 'decline',
  });
  t.diagnostic(`the increment was answered ${Math.round(performance.now() - sent_ms)} ms after it was sent`);
  assert.equal(increment.stand_in, false, `answered by a worker, not the stand-in: ${JSON.stringify(increment)}`);
  assert.equal(increment.approved, true);
  const state = await getPayment(client, purchase.payment_id);
  assert.equal(state.held_minor, 12_000);
  assert.equal(await checkPaymentAgainstLedger(ledger, state), null);

  process.kill(-second.pid!, 'SIGTERM');
  await new Promise<void>((resolve) => second.once('exit', () => resolve()));
});
