// How the card workflow words its decider's events in the timeline (the API's, the CLI's and the
// Web UI's current details show it as recorded): "stand-in" only when the network answered for us.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { initialCardState, type CardEvent } from '../../src/domain/card-lifecycle.js';
import type { PaymentState } from '../../src/domain/payment.js';
import { recordCardEvents } from '../../src/workflows/card-recording.js';
import type { DetailedRecorder } from '../../src/workflows/details.js';

/** A recorder that keeps the timeline only (unit test: no workflow around it). */
function timelineRecorder(view: PaymentState): DetailedRecorder {
  const note = (event: string, detail?: string) => void view.timeline.push({ at: '', event, ...(detail ? { detail } : {}) });
  return {
    transition: (status, event, detail) => ((view.status = status), note(event, detail)),
    note,
    markNeedsAttention: (event, detail) => note(event, detail),
    setAttribute: () => undefined,
    flush: () => undefined,
    waitFor: () => undefined,
    ops: () => undefined,
    resolveAttention: () => undefined,
  };
}

function recorded(events: CardEvent[]): Array<[string, string | undefined]> {
  const view: PaymentState = {
    payment_id: 'p',
    kind: 'card',
    status: 'AUTHORIZING',
    currency: 'USD',
    amount_minor: 0,
    authorized_minor: 0,
    held_minor: 0,
    posted_minor: 0,
    reversed_minor: 0,
    refunded_minor: 0,
    settled_minor: 0,
    needs_attention: false,
    timeline: [],
  };
  const lifecycle = { ...initialCardState('5411', { decision_margin_ms: 50, hold_expiry_ms: 1_000 }), status: 'DECLINED' as const };
  recordCardEvents(timelineRecorder(view), view, events, lifecycle);
  return view.timeline.map((e) => [e.event, e.detail]);
}

const declined = (stand_in: boolean, network_stood_in: boolean, detail: string): CardEvent => ({
  type: 'declined',
  reason: stand_in ? 'late_decision' : 'insufficient_credit',
  stand_in,
  network_stood_in,
  detail,
  final: true,
});

describe('card timeline wording', () => {
  test('our own late decline is declined_late, never stand_in_declined', () => {
    assert.deepEqual(recorded([declined(true, false, 'decided 30 ms after the deadline')]), [
      ['declined_late', 'decided 30 ms after the deadline'],
    ]);
  });

  test("the network's stand-in decline is stand_in_declined; its advice says the network answered for us", () => {
    assert.deepEqual(recorded([{ type: 'advice_received', stand_in: 'decline' }, declined(true, true, 'advice: too late')]), [
      ['stand_in_advice_decline', 'the network answered the stand-in (decline) for us'],
      ['stand_in_declined', 'advice: too late'],
    ]);
  });

  test('an ordinary decline is authorization_declined', () => {
    assert.deepEqual(recorded([declined(false, false, 'insufficient_credit')]), [['authorization_declined', 'insufficient_credit']]);
  });
});
