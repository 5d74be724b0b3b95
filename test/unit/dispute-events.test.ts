// Which event a dispute step makes (issue 16): the pure part, without Temporal. The integration
// tests (test/integration/disputes.test.ts) check that each step writes it once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { disputeChange, disputeViewOf } from '../../src/domain/dispute-events.js';
import { decide, evolve, initialDisputeState, type DisputeEvent, type DisputeState } from '../../src/domain/dispute-lifecycle.js';
import type { DisputeView } from '../../src/domain/dispute.js';
import { disputeEvent } from '../../src/events/dispute-event.js';
import { EVENT_OBJECT_ID_LENGTH_MAX, newEventSchema } from '../../src/events/store.js';

const PAYMENT = 'p'.repeat(64);
const DISPUTE_ID = `${PAYMENT}:dispute:${'k'.repeat(64)}`;

function viewOf(state: DisputeState): DisputeView {
  return disputeViewOf(
    {
      dispute_id: DISPUTE_ID,
      payment_id: PAYMENT,
      company_id: 'co-1',
      currency: 'USD',
      reason: 'fraudulent',
      evidence: 'not me',
      status: state.status,
      amount_minor: state.amount_minor,
      open_minor: 0,
      credited_minor: 0,
      won_minor: 0,
      reversed_minor: 0,
      case_id: 'case-1',
      refusal: null,
      needs_attention: false,
      deadline_at_ms: 1_700_000_000_000,
      timeline: [{ at_ms: 1, event: 'opened' }],
    },
    state,
  );
}

const events = (state: DisputeState, command: Parameters<typeof decide>[1]): DisputeEvent[] => {
  const decision = decide(state, command);
  assert.ok('events' in decision, JSON.stringify(decision));
  return decision.events;
};

describe('dispute events', () => {
  const opening = initialDisputeState('fraudulent', 500);
  const opened = events(opening, { kind: 'credit_booked' }).reduce(evolve, opening);
  const filed = events(opened, { kind: 'chargeback_filed', case_id: 'case-1' }).reduce(evolve, opened);

  test('each outcome is one event of its type, the dispute after it, keyed by the change', () => {
    const cases: Array<[DisputeState, Parameters<typeof decide>[1], string, string]> = [
      [opening, { kind: 'credit_booked' }, 'dispute.opened', 'OPENING'],
      [opening, { kind: 'credit_refused', reason: 'over' }, 'dispute.refused', 'REFUSED'],
      [filed, { kind: 'network_response', response: 'merchant_accepted', detail: '' }, 'dispute.won', 'WON'],
      [filed, { kind: 'withdraw', reason: 'arrived' }, 'dispute.withdrawn', 'WITHDRAWN'],
      [filed, { kind: 'refund_overlap', covered_minor: 500 }, 'dispute.withdrawn', 'WITHDRAWN'],
    ];
    for (const [state, command, type, status] of cases) {
      const change = disputeChange({ view: viewOf(state), state }, events(state, command));
      assert.ok(change, type);
      assert.deepEqual([change.type, change.view.status, change.view.timeline], [type, status, []]);
      assert.equal(change.change_key, type.split('.')[1]);
      if (status !== 'OPENING') assert.equal(change.view.deadline_at_ms, null, 'a final dispute has no deadline');
    }
    const pre = events(filed, { kind: 'network_response', response: 'merchant_represented', detail: '' }).reduce(evolve, filed);
    const lost = disputeChange(
      { view: viewOf(pre), state: pre },
      events(pre, { kind: 'network_response', response: 'arbitration_lost', detail: '' }),
    );
    assert.deepEqual([lost?.type, lost?.view.reversed_minor, lost?.view.credited_minor], ['dispute.lost', 500, 0]);
  });

  test('a refund that leaves part of the dispute open is dispute.reduced, keyed by the amount left', () => {
    const change = disputeChange({ view: viewOf(filed), state: filed }, events(filed, { kind: 'refund_overlap', covered_minor: 100 }));
    assert.deepEqual(
      [change?.type, change?.change_key, change?.view.status, change?.view.open_minor, change?.view.reversed_minor],
      ['dispute.reduced', 'reduced:400', 'FILED', 400, 100],
    );
    const after = events(filed, { kind: 'refund_overlap', covered_minor: 100 }).reduce(evolve, filed);
    const again = disputeChange({ view: viewOf(after), state: after }, events(after, { kind: 'refund_overlap', covered_minor: 150 }));
    assert.equal(again?.change_key, 'reduced:250', 'a second reduction is a change of its own');
  });

  test('a change the company does not see is no event', () => {
    assert.equal(disputeChange({ view: viewOf(opened), state: opened }, events(opened, { kind: 'chargeback_filed', case_id: 'c' })), null);

    assert.equal(disputeChange({ view: viewOf(filed), state: filed }, []), null);
  });

  test('the event: same change, same id; the longest dispute id fits the store', () => {
    const change = disputeChange({ view: viewOf(opening), state: opening }, events(opening, { kind: 'credit_booked' }))!;
    const a = disputeEvent(change);
    const b = disputeEvent({ ...change, view: { ...change.view, evidence: 'other' } });
    assert.equal(a.event_id, b.event_id);
    assert.ok(DISPUTE_ID.length > 128 && DISPUTE_ID.length <= EVENT_OBJECT_ID_LENGTH_MAX);
    assert.equal(newEventSchema.safeParse(a).success, true);
    assert.deepEqual([a.object.disputeId, a.object.creditedMinor, a.object.timeline], [DISPUTE_ID, '500', undefined]);
    const won = disputeChange({ view: viewOf(filed), state: filed }, events(filed, { kind: 'withdraw', reason: 'x' }))!;
    assert.notEqual(disputeEvent(won).event_id, a.event_id);
    assert.equal(newEventSchema.safeParse({ ...a, object_id: 'x'.repeat(EVENT_OBJECT_ID_LENGTH_MAX + 1) }).success, false);
  });
});
