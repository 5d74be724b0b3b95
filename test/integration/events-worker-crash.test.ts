// Events across a worker kill (issue 16 point 6): a real worker process (`npm run worker`) is killed
// with SIGKILL while card purchases are being decided and cleared and while their events are
// being delivered; a new worker finishes them. Every change has exactly one event (none lost, no id
// twice), and the endpoint receives every event, signed, in order per payment.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { authorizeCardPayment, clearCardPayment } from '../../src/api/card-payments.js';
import { startWebhookDelivery } from '../../src/api/webhooks.js';
import { createCardStore } from '../../src/cards/cards.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment } from '../../src/domain/card.js';
import { createEndpointStore } from '../../src/events/endpoints.js';
import { startWebhookReceiver, type ReceivedEvent, type WebhookReceiver } from '../../src/events/receiver.js';
import { createEventStore } from '../../src/events/store.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import type { Pool } from '../../src/ledger/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startSettlementSimulator, type SettlementSimulator } from '../../src/settlement/simulator.js';
import { testDataConverter, testKeyRing } from '../support/codec.js';
import { freshDatabase, testEnv } from '../support/env.js';
import { startWorkerProcess } from '../support/worker-process.js';

let pool: Pool;
let databaseUrl: string;
let simulator: SettlementSimulator;
let connection: Connection;
let client: Client;
let receiver: WebhookReceiver;
const task_queue = `events-crash-${randomUUID()}`;
const workers: ChildProcess[] = [];

before(async () => {
  ({ pool, url: databaseUrl } = await freshDatabase('events-crash'));
  simulator = await startSettlementSimulator({ host: '127.0.0.1', port: 0, latency_ms: 0, transient_failure_rate: 0, reply_lost_rate: 0 });
  connection = await Connection.connect({ address: testEnv.temporalAddress });
  // The worker processes seal and open secrets, and encrypt payloads, with the run's keys
  // (PAYLOAD_CODEC_KEYS, inherited).
  client = new Client({ connection, namespace: 'default', dataConverter: testDataConverter() });
});
after(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) process.kill(-w.pid!, 'SIGKILL');
  await receiver?.close();
  await connection.close();
  await simulator.close();
  await pool.end();
});

/** The real worker program, in its own process group. */
function startWorker(name: string): ChildProcess {
  const child = startWorkerProcess({
    data_dir_name: `events-crash-${name}`,
    database_url: databaseUrl,
    task_queue,
    settlement_gateway_url: simulator.url,
  });
  workers.push(child);
  return child;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeout_ms = 120_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('kill -9 of the worker mid-payments and mid-delivery: every event once, every event delivered, in order', async () => {
  const company_id = `evcrash-${randomUUID().slice(0, 6)}`;
  const account_id = await openCreditLine(createLedger(pool), { company_id, currency: 'USD', limit_minor: 1_000_000, grant_key: 'test' });
  const card = await createCardStore(pool).issue({
    card_id: `evcrash-card-${randomUUID().slice(0, 8)}`,
    company_id,
    currency: 'USD',
    account_id,
  });
  const received: ReceivedEvent[] = [];
  receiver = await startWebhookReceiver({ host: '127.0.0.1', port: 0, on_event: (e) => void received.push(e) });
  const { endpoint, secret } = await createEndpointStore(pool, testKeyRing()).create({ company_id, url: receiver.url, event_types: ['*'] });
  receiver.setSecret(secret);

  const first = startWorker('first');
  await startWebhookDelivery(client, endpoint, task_queue, {
    batch_size: 5,
    wait_for_events_ms: 1_000,
    retry_initial_ms: 200,
    retry_max_ms: 1_000,
    give_up_after_ms: 120_000,
    events_per_run_max: 500,
  });
  const options = { task_queue, workflow: { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 } };
  const purchase = (): CardPayment => ({
    payment_id: `evcrash-${randomUUID()}`,
    card_id: card.card_id,
    currency: 'USD',
    merchant: { mcc: '5411', name: 'Shop' },
  });
  const buy = async (p: CardPayment, amount_minor: number) => {
    const decision = await authorizeCardPayment(client, p, { amount_minor, deadline_at_ms: Date.now() + 120_000 }, options);
    assert.equal(decision.approved, true);
    await clearCardPayment(client, p, { event_id: 'c1', amount_minor }, options);
  };
  // Some purchases done and (being) delivered by the first worker...
  const early = [purchase(), purchase(), purchase()];
  for (const [i, p] of early.entries()) await buy(p, 100 + i);
  await until('a first delivery', () => received.length > 0);
  // ...more in flight when it dies, finished by the second.
  const late = [purchase(), purchase(), purchase(), purchase()];
  const inFlight = late.map((p, i) => buy(p, 200 + i));
  await new Promise((r) => setTimeout(r, 300));
  process.kill(-first.pid!, 'SIGKILL');
  await new Promise<void>((resolve) => first.once('exit', () => resolve()));
  const second = startWorker('second');
  await Promise.all(inFlight);

  const all = [...early, ...late];
  const stored = await createEventStore(pool).listEvents({ company_ids: [company_id] }, { limit: 100 });
  // Exactly one event per change: two per purchase, ids unique.
  assert.equal(stored.events.length, 2 * all.length);
  assert.equal(new Set(stored.events.map((e) => e.event_id)).size, stored.events.length);
  for (const p of all) {
    assert.deepEqual(
      stored.events.filter((e) => e.object_id === p.payment_id).map((e) => e.type),
      ['payment.authorized', 'payment.settled'],
      `events of ${p.payment_id}`,
    );
  }
  // Every one delivered (signed: the receiver verified each), in order per payment.
  await until('every event delivered', () => received.length >= stored.events.length);
  assert.deepEqual(new Set(received.map((e) => e.webhook_id)), new Set(stored.events.map((e) => e.event_id)));
  for (const p of all) {
    assert.deepEqual(
      received.filter((e) => e.body.data.object.paymentId === p.payment_id).map((e) => e.body.type),
      ['payment.authorized', 'payment.settled'],
    );
  }
  const report = await verifyLedger(pool);
  assert.ok(report.ok, JSON.stringify(report.violations));

  process.kill(-second.pid!, 'SIGTERM');
  await new Promise<void>((resolve) => second.once('exit', () => resolve()));
});
