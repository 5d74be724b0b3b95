// The pure parts of events and webhooks (issue 16): which event a card step's result makes (the
// decider's own events, named), the delivery's retry bound, endpoint URLs, sealed secrets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cardChangeAfterStep, cardChangeKey, cardEventType } from '../../src/domain/events.js';
import { evolveAll, initialCardState, type CardCommand, type CardMessage, type CardState } from '../../src/domain/card-lifecycle.js';
import { decide } from '../../src/domain/card-decide.js';
import { DEFAULT_WEBHOOK_DELIVERY_OPTIONS, WEBHOOK_DAY_MS, deliveryAttemptsMax, webhookOptionsProblem } from '../../src/domain/webhooks.js';
import { parseWebhookUrl } from '../../src/events/endpoint-url.js';
import { openSecret, sealSecret } from '../../src/events/secret-box.js';
import { eventId } from '../../src/events/store.js';
import { generateKeyEntry, parseKeyRing } from '../../src/codec/keys.js';

const NOW = 1_700_000_000_000;
const card = { company_id: 'co-1', account_id: '00000000-0000-4000-8000-000000000001' };
const fresh = () => initialCardState('5411', { decision_margin_ms: 50, hold_expiry_ms: 60_000 });

/** The state after `message` was asked about: the command it wants and the state it runs in. */
function ask(state: CardState, message: CardMessage): { state: CardState; command: CardCommand } {
  const step = decide(state, { message }, NOW);
  assert.ok(step.command, `${message.kind} asks for a step`);
  return { state: evolveAll(state, step.events), command: step.command };
}

const authorization: CardMessage = { kind: 'authorization', amount_minor: 1_000, deadline_at_ms: NOW + 10_000, stand_in: 'decline' };
const hold = { key: 'authorization', amount_minor: 1_000, overlimit: false };

function authorized(): CardState {
  const asked = ask(fresh(), authorization);
  const change = cardChangeAfterStep(
    { ...asked, message: authorization },
    asked.command,
    { kind: 'decide_hold', approved: true, hold, card, decided_at_ms: NOW },
    NOW,
  );
  assert.ok(change);
  return change.state;
}

describe('card changes', () => {
  test('approved in time: payment.authorized, AUTHORIZED, holding the amount', () => {
    const asked = ask(fresh(), authorization);
    const change = cardChangeAfterStep(
      { ...asked, message: authorization },
      asked.command,
      { kind: 'decide_hold', approved: true, hold, card, decided_at_ms: NOW },
      NOW,
    );
    assert.equal(change?.type, 'payment.authorized');
    assert.equal(change?.state.status, 'AUTHORIZED');
    assert.equal(change?.change_key, 'decide_hold:authorization');
  });

  test('declined by a rule: payment.declined', () => {
    const asked = ask(fresh(), authorization);
    const change = cardChangeAfterStep(
      { ...asked, message: authorization },
      asked.command,
      { kind: 'decide_hold', approved: false, reason: 'card_frozen', card, decided_at_ms: NOW },
      NOW,
    );
    assert.equal(change?.type, 'payment.declined');
    assert.equal(change?.state.status, 'DECLINED');
  });

  test('approved after the deadline: no event for the hold (the void that follows declines)', () => {
    const asked = ask(fresh(), authorization);
    const late = cardChangeAfterStep(
      { ...asked, message: authorization },
      asked.command,
      { kind: 'decide_hold', approved: true, hold, card, decided_at_ms: NOW + 20_000 },
      NOW,
    );
    assert.equal(late, null);
  });

  test('a failed step is no change', () => {
    const asked = ask(fresh(), authorization);
    assert.equal(cardChangeAfterStep({ ...asked, message: authorization }, asked.command, { kind: 'failed', error: 'x' }, NOW), null);
  });

  for (const [name, message, result, type] of [
    [
      'full reversal',
      { kind: 'reversal', event_id: 'r1' },
      { kind: 'release_hold', hold: null, found: true, released_minor: 1_000 },
      'payment.reversed',
    ],
    ['expiry', { kind: 'expiry' }, { kind: 'release_hold', hold: null, found: true, released_minor: 1_000 }, 'payment.expired'],
    [
      'final clearing',
      { kind: 'clearing', event_id: 'c1', amount_minor: 1_000, final: true },
      { kind: 'clear', hold: null, from_hold_minor: 1_000, overlimit_minor: 0 },
      'payment.settled',
    ],
    [
      'partial clearing',
      { kind: 'clearing', event_id: 'c1', amount_minor: 400, final: false },
      { kind: 'clear', hold: { key: 'c1:kept', amount_minor: 600, overlimit: false }, from_hold_minor: 400, overlimit_minor: 0 },
      'payment.posted',
    ],
  ] as const) {
    test(`${name}: ${type}`, () => {
      const asked = ask(authorized(), message as CardMessage);
      const change = cardChangeAfterStep({ ...asked, message: message as CardMessage }, asked.command, result as never, NOW);
      assert.equal(change?.type, type);
    });
  }

  test('a step that changes nothing for the company names no event', () => {
    assert.equal(cardEventType([{ type: 'noted', event: 'x' }], fresh()), null);
    assert.equal(cardEventType([{ type: 'hold_released', hold: null, released_minor: 0, cause: 'reversal' }], authorized()), null);
  });

  test('change keys differ per step and per network event, and event ids follow them', () => {
    const keys = new Set([
      cardChangeKey({ kind: 'clear', event_id: 'c1', hold: null, amount_minor: 1, final: true }),
      cardChangeKey({ kind: 'clear', event_id: 'c2', hold: null, amount_minor: 1, final: true }),
      cardChangeKey({ kind: 'refund', event_id: 'c1', amount_minor: 1 }),
    ]);
    assert.equal(keys.size, 3);
    assert.equal(eventId('payment', 'p1', 'refund:c1'), eventId('payment', 'p1', 'refund:c1'));
    assert.notEqual(eventId('payment', 'p1', 'refund:c1'), eventId('payment', 'p2', 'refund:c1'));
    assert.match(eventId('payment', 'p1', 'refund:c1'), /^evt_[0-9a-f]{32}$/);
  });
});

describe('delivery retries', () => {
  test('the default policy retries for about three days, backing off to an hour', () => {
    const attempts = deliveryAttemptsMax(DEFAULT_WEBHOOK_DELIVERY_OPTIONS);
    // 5 s doubling: 10 waits (85 min), then 70 waits of an hour fit before 72 h: 81 attempts.
    assert.equal(attempts, 81);
    assert.equal(webhookOptionsProblem(DEFAULT_WEBHOOK_DELIVERY_OPTIONS), null);
    assert.ok(DEFAULT_WEBHOOK_DELIVERY_OPTIONS.give_up_after_ms === 3 * WEBHOOK_DAY_MS);
  });
  test('bad options are named', () => {
    assert.match(webhookOptionsProblem({ ...DEFAULT_WEBHOOK_DELIVERY_OPTIONS, batch_size: 0 }) ?? '', /batch_size/);
    assert.match(webhookOptionsProblem({ ...DEFAULT_WEBHOOK_DELIVERY_OPTIONS, batch_size: 501 }) ?? '', /batch_size/);
    assert.match(webhookOptionsProblem({ ...DEFAULT_WEBHOOK_DELIVERY_OPTIONS, wait_for_events_ms: 60_000 }) ?? '', /wait_for_events_ms/);
    assert.match(webhookOptionsProblem({ ...DEFAULT_WEBHOOK_DELIVERY_OPTIONS, retry_initial_ms: 7_200_000 }) ?? '', /retry_initial_ms/);
  });
});

describe('endpoint URLs', () => {
  test('http and https pass, normalized', () => {
    assert.equal(parseWebhookUrl('https://Example.com/hooks'), 'https://example.com/hooks');
    assert.equal(parseWebhookUrl('http://127.0.0.1:8080/x'), 'http://127.0.0.1:8080/x');
  });
  for (const [url, error] of [
    ['', /required/],
    ['ftp://example.com/', /http or https/],
    ['file:///etc/passwd', /http or https/],
    ['javascript:alert(1)', /http or https/],
    ['https://u:p@example.com/', /user or password/],
    ['https://example.com/#x', /fragment/],
    ['example.com/hook', /not a URL/],
    [`https://example.com/${'a'.repeat(2048)}`, /at most 2048/],
  ] as const) {
    test(`refused: ${url.slice(0, 40) || '(empty)'}`, () => assert.throws(() => parseWebhookUrl(url), error));
  }
});

describe('sealed secrets', () => {
  const ring = parseKeyRing(generateKeyEntry('k1'), 'test');
  test('open what was sealed, for its endpoint only', () => {
    const sealed = sealSecret(ring, 'we_1', 'whsec_abc');
    assert.ok(!sealed.includes('whsec_abc'));
    assert.match(sealed, /^k1:/);
    assert.equal(openSecret(ring, 'we_1', sealed), 'whsec_abc');
    assert.throws(() => openSecret(ring, 'we_2', sealed), /does not open/);
  });
  test('tampered, truncated or sealed with an unknown key: refused without key material', () => {
    const sealed = sealSecret(ring, 'we_1', 'whsec_abc');
    const bytes = Buffer.from(sealed.slice(3), 'base64');
    bytes[bytes.length - 1]! ^= 1;
    assert.throws(() => openSecret(ring, 'we_1', `k1:${bytes.toString('base64')}`), /does not open/);
    assert.throws(() => openSecret(ring, 'we_1', 'k1:AAAA'), /truncated/);
    assert.throws(() => openSecret(ring, 'we_1', `k9:${sealed.slice(3)}`), /"k9", which is not in the key ring/);
    const other = parseKeyRing(generateKeyEntry('k1'), 'other');
    assert.throws(() => openSecret(other, 'we_1', sealed), /does not open/);
  });
});
