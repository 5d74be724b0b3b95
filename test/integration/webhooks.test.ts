// Webhooks (issue 16 points 5 and 6) through the public API: endpoints created, listed and deleted
// with tenancy and bad input refused; events delivered signed (Standard Webhooks, verified here by
// the receiver), in order per payment, from the endpoint's creation on; an endpoint that fails and then recovers gets everything; one
// that keeps failing is disabled and flagged. A real Temporal server runs the delivery workflows.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { NeedsAttentionKey } from '../../src/domain/search-attributes.js';
import { webhookDeliveryWorkflowId, type WebhookDeliveryOptions } from '../../src/domain/webhooks.js';
import { startWebhookReceiver, type ReceivedEvent, type WebhookReceiver } from '../../src/events/receiver.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { startApiHarness, type ApiHarness } from '../support/api.js';

const CO = `co-wh-${randomUUID().slice(0, 6)}`;
const OTHER = `co-wh-other-${randomUUID().slice(0, 6)}`;
/** Fast retries so a test sees them; the give-up bound is what the disable test waits out. */
const FAST_DELIVERY: WebhookDeliveryOptions = {
  batch_size: 10,
  wait_for_events_ms: 1_000,
  retry_initial_ms: 100,
  retry_max_ms: 400,
  give_up_after_ms: 4_000,
  events_per_run_max: 500,
};

let api: ApiHarness & { key: string };
let otherKey: string;
let card_id: string;
const receivers: WebhookReceiver[] = [];
/** Endpoints deleted after each test, so their delivery workflows end. */
const created: string[] = [];

before(async () => {
  api = await startApiHarness('webhooks', { companies: [CO], webhook_options: FAST_DELIVERY });
  otherKey = (await api.keys.create({ name: `other-${randomUUID().slice(0, 6)}`, company_ids: [OTHER] })).api_key;
  const account_id = await openCreditLine(api.h.ledger, { company_id: CO, currency: 'USD', limit_minor: 1_000_000, grant_key: 'initial' });
  card_id = (
    await api.h.cards.issue({
      card_id: `card-${randomUUID().slice(0, 8)}`,
      company_id: CO,
      currency: 'USD',
      account_id,
      transaction_limit_minor: null,
      blocked_mccs: [],
    })
  ).card_id;
});
afterEach(async () => {
  for (const endpoint_id of created.splice(0)) await api.events.DeleteWebhookEndpoint({ endpoint_id }).catch(() => undefined);
});
after(async () => {
  for (const r of receivers) await r.close();
  const report = await verifyLedger(api.h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
  await api.close();
});

/** A receiver whose handler fails the first `failures` deliveries (answer 500). */
async function receiver(failures = 0) {
  const received: ReceivedEvent[] = [];
  const refused: Array<{ status: number; reason: string }> = [];
  let left = failures;
  const r = await startWebhookReceiver({
    host: '127.0.0.1',
    port: 0,
    on_event: (e) => {
      if (left > 0) {
        left -= 1;
        throw new Error('endpoint down');
      }
      received.push(e);
    },
    on_refused: (status, reason) => refused.push({ status, reason }),
  });
  receivers.push(r);
  return { r, received, refused };
}

async function createEndpoint(url: string, event_types: string[] = ['*']) {
  const { endpoint, secret } = await api.events.CreateWebhookEndpoint({ company_id: CO, url, event_types });
  created.push(endpoint.endpoint_id);
  return { endpoint, secret: secret as string };
}

async function purchase(amount_minor: number, clearing_event = 'clr-1') {
  const payment_id = `txn-${randomUUID()}`;
  const transaction = { payment_id, card_id, currency: 'USD', merchant: { mcc: '5411', name: 'Corner Grocery' } };
  await api.payments.Authorize({ transaction, amount_minor: String(amount_minor) });
  await api.payments.Clear({ transaction, event_id: clearing_event, amount_minor: String(amount_minor) });
  return payment_id;
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeout_ms = 30_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('endpoints', () => {
  test('created with a secret shown once, listed without it, deleted', async () => {
    const { r } = await receiver();
    const { endpoint, secret } = await createEndpoint(r.url, ['payment.settled']);
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.match(endpoint.endpoint_id, /^we_[0-9a-f]{32}$/);
    const listed = (await api.events.ListWebhookEndpoints({})).endpoints as Array<Record<string, unknown>>;
    const mine = listed.find((e) => e.endpoint_id === endpoint.endpoint_id);
    assert.ok(mine);
    assert.equal(mine.status, 'enabled');
    assert.deepEqual(mine.event_types, ['payment.settled']);
    assert.ok(!JSON.stringify(listed).includes(secret.slice(6)), 'no secret in the listing');
    // Stored sealed, not in clear.
    const { rows } = await api.h.pool.query('SELECT secret_sealed FROM events.webhook_endpoints WHERE endpoint_id = $1', [
      endpoint.endpoint_id,
    ]);
    assert.ok(!String(rows[0].secret_sealed).includes(secret.slice(6)));
    // Another company sees nothing and cannot delete it.
    assert.equal((await api.events.ListWebhookEndpoints({}, { key: otherKey })).endpoints.length, 0);
    await assert.rejects(api.events.DeleteWebhookEndpoint({ endpoint_id: endpoint.endpoint_id }, { key: otherKey }), /NOT_FOUND/);
    await api.events.DeleteWebhookEndpoint({ endpoint_id: endpoint.endpoint_id });
    assert.ok(
      !((await api.events.ListWebhookEndpoints({})).endpoints as Array<{ endpoint_id: string }>).some(
        (e) => e.endpoint_id === endpoint.endpoint_id,
      ),
    );
    // Its delivery workflow ends.
    const result = await api.h.client.workflow.getHandle(webhookDeliveryWorkflowId(endpoint.endpoint_id)).result();
    assert.equal(result.status, 'deleted');
  });

  test('bad input is refused, naming the field, and creates nothing', async () => {
    const before = (await api.events.ListWebhookEndpoints({})).endpoints.length;
    const bad: Array<[object, RegExp]> = [
      [{ company_id: CO, url: 'ftp://example.com/hook', event_types: ['*'] }, /INVALID_ARGUMENT.*url.*http or https/],
      [{ company_id: CO, url: 'not a url', event_types: ['*'] }, /INVALID_ARGUMENT.*url/],
      [{ company_id: CO, url: 'https://user:pw@example.com/', event_types: ['*'] }, /INVALID_ARGUMENT.*user or password/],
      [{ company_id: CO, url: 'https://example.com/', event_types: [] }, /INVALID_ARGUMENT.*event_types/],
      [{ company_id: CO, url: 'https://example.com/', event_types: ['settled'] }, /INVALID_ARGUMENT.*event_types/],
      [{ company_id: 'bad id!', url: 'https://example.com/', event_types: ['*'] }, /INVALID_ARGUMENT.*company_id/],
      [{ company_id: OTHER, url: 'https://example.com/', event_types: ['*'] }, /NOT_FOUND/],
    ];
    for (const [request, error] of bad) await assert.rejects(api.events.CreateWebhookEndpoint(request), error);
    assert.equal((await api.events.ListWebhookEndpoints({})).endpoints.length, before);
    await assert.rejects(api.events.DeleteWebhookEndpoint({ endpoint_id: 'we_nope' }), /INVALID_ARGUMENT.*endpoint_id/);
    await assert.rejects(api.events.DeleteWebhookEndpoint({ endpoint_id: `we_${'0'.repeat(32)}` }), /NOT_FOUND/);
    await assert.rejects(api.events.ListEvents({ types: ['nope'] }), /INVALID_ARGUMENT.*types/);
    await assert.rejects(api.events.ListEvents({ page_size: 501 }), /INVALID_ARGUMENT.*page_size/);
    await assert.rejects(api.events.ListEvents({ page_token: 'forged' }), /INVALID_ARGUMENT.*page_token/);
    await assert.rejects(api.events.ListEvents({}, { key: null }), /UNAUTHENTICATED/);
  });
});

describe('delivery', () => {
  test('signed events arrive in order per payment; ListEvents pages and filters them', async () => {
    const { r, received, refused } = await receiver();
    const { secret } = await createEndpoint(r.url);
    r.setSecret(secret);
    const payments = [await purchase(1_000), await purchase(2_000), await purchase(3_000)];
    await until('6 deliveries', () => received.length >= 6);
    assert.deepEqual(refused, [], 'every delivery verified');
    for (const payment_id of payments) {
      const mine = received.filter((e) => e.body.data.object.paymentId === payment_id);
      assert.deepEqual(
        mine.map((e) => e.body.type),
        ['payment.authorized', 'payment.settled'],
      );
    }
    for (const e of received) {
      assert.equal(e.webhook_id, e.body.id, 'webhook-id is the event id');
      assert.equal(e.body.company_id, CO);
    }
    // ListEvents: the same events, in the same order, paged two at a time.
    const listed: Array<{ event_id: string; type: string; object_json: string }> = [];
    let token = '';
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await api.events.ListEvents({ page_size: 2, page_token: token });
      listed.push(...page.events);
      token = page.next_page_token;
      if (!page.more) break;
    }
    const ids = new Set(received.map((e) => e.webhook_id));
    assert.deepEqual(
      listed.filter((e) => ids.has(e.event_id)).map((e) => e.event_id),
      received.map((e) => e.webhook_id),
    );
    const settledOnly = await api.events.ListEvents({ types: ['payment.settled'], object_id: payments[1] });
    assert.equal(settledOnly.events.length, 1);
    assert.equal(JSON.parse(settledOnly.events[0].object_json).postedMinor, '2000');
    // Another company reads none of them.
    assert.equal((await api.events.ListEvents({}, { key: otherKey })).events.length, 0);
  });

  test('a new endpoint gets only the events committed after its creation; ListEvents has the older ones', async () => {
    const earlier = await purchase(500);
    const { r, received, refused } = await receiver();
    const { secret } = await createEndpoint(r.url);
    r.setSecret(secret);
    const later = await purchase(600);
    const of = (payment_id: string) => received.filter((e) => e.body.data.object.paymentId === payment_id).map((e) => e.body.type);
    await until("the later payment's 2 deliveries", () => of(later).length >= 2);
    // Delivery is in commit order: an older event handed to this endpoint would have come first.
    assert.deepEqual(of(earlier), [], 'no event from before the endpoint existed');
    assert.deepEqual(of(later), ['payment.authorized', 'payment.settled']);
    assert.deepEqual(refused, []);
    // The documented backfill: the older events, with the ids a receiver deduplicates by.
    const backfill = await api.events.ListEvents({ object_id: earlier });
    assert.deepEqual(
      backfill.events.map((e: { type: string }) => e.type),
      ['payment.authorized', 'payment.settled'],
    );
  });

  test('an endpoint that fails, then recovers, gets every event, in order, after retries', async () => {
    const { r, received, refused } = await receiver(3);
    const { secret } = await createEndpoint(r.url, ['payment.authorized', 'payment.settled']);
    r.setSecret(secret);
    const payment_id = await purchase(4_000);
    await until('2 deliveries', () => received.length >= 2);
    assert.equal(refused.filter((x) => x.status === 500).length, 3, 'three failed attempts, answered 500');
    assert.deepEqual(
      received.map((e) => e.body.type),
      ['payment.authorized', 'payment.settled'],
    );
    assert.ok(received.every((e) => e.body.data.object.paymentId === payment_id));
    assert.equal(new Set(received.map((e) => e.webhook_id)).size, received.length, 'no event handed on twice');
  });

  test('an endpoint failing past the give-up bound is disabled, with the reason, and flagged', async () => {
    const { r } = await receiver(Number.MAX_SAFE_INTEGER);
    const { endpoint, secret } = await createEndpoint(r.url);
    r.setSecret(secret);
    await purchase(500);
    const handle = api.h.client.workflow.getHandle(webhookDeliveryWorkflowId(endpoint.endpoint_id));
    const result = await handle.result();
    assert.equal(result.status, 'disabled');
    const listed = ((await api.events.ListWebhookEndpoints({})).endpoints as Array<Record<string, string>>).find(
      (e) => e.endpoint_id === endpoint.endpoint_id,
    );
    assert.equal(listed?.status, 'disabled');
    assert.match(listed?.status_reason ?? '', /undelivered after 12 attempts over 4000 ms: .*answered 500/);
    const described = await handle.describe();
    assert.equal(described.typedSearchAttributes.get(NeedsAttentionKey), true);
  });
});
