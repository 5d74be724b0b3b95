// A dispute's events (issue 16): what the company sees change, as a type and the dispute after
// the change. Pure: the dispute activities run it after their ledger step (src/activities/dispute.ts)
// with what the workflow passed them (the view and lifecycle the step runs in, and the lifecycle
// event its success records), so the event needs no Temporal action of its own and shows the
// dispute as the workflow's query (GetDispute) will once it records that event.
import type { DisputeView } from './dispute.js';
import { evolve, isFinalDispute, type DisputeEvent, type DisputeState } from './dispute-lifecycle.js';

export const DISPUTE_EVENT_TYPES = [
  'dispute.opened',
  'dispute.refused',
  'dispute.reduced',
  'dispute.won',
  'dispute.lost',
  'dispute.withdrawn',
] as const;
export type DisputeEventType = (typeof DISPUTE_EVENT_TYPES)[number];

/** Lifecycle events that are a change the company sees (each at most once per dispute, but for
 * `reduced`: once per amount a refund leaves open). */
const EMITTED: Partial<Record<DisputeEvent['type'], DisputeEventType>> = {
  opened: 'dispute.opened',
  refused: 'dispute.refused',
  reduced: 'dispute.reduced',
  won: 'dispute.won',
  lost: 'dispute.lost',
  withdrawn: 'dispute.withdrawn',
};

/** What a dispute step's event needs: the view (without its timeline: events do not carry it)
 * and the lifecycle the step runs in. */
export interface DisputeStepContext {
  view: DisputeView;
  state: DisputeState;
}

export interface DisputeChange {
  type: DisputeEventType;
  /** Names the change within the dispute: the event id is derived from it. */
  change_key: string;
  /** The dispute after the change. */
  view: DisputeView;
}

/** The view's fields the lifecycle owns, after `state` (the workflow's query answers the same). */
export function disputeViewOf(view: DisputeView, state: DisputeState): DisputeView {
  return {
    ...view,
    status: state.status,
    open_minor: state.open_minor,
    credited_minor: state.credited_minor,
    won_minor: state.won_minor,
    reversed_minor: state.reversed_minor,
    refusal: state.refusal,
    needs_attention: state.needs_attention,
  };
}

/** The change `events` make to the dispute of `context`, or null when the company sees none. */
export function disputeChange(context: DisputeStepContext, events: readonly DisputeEvent[]): DisputeChange | null {
  // The last: a refund that covers the rest reduces the dispute and withdraws it, one change.
  const emitted = events.findLast((e) => EMITTED[e.type] !== undefined);
  if (!emitted) return null;
  const state = events.reduce(evolve, context.state);
  const view = disputeViewOf({ ...context.view, timeline: [] }, state);
  return {
    type: EMITTED[emitted.type]!,
    // A reduction happens once per amount left open (each leaves less): that amount names it.
    change_key: emitted.type === 'reduced' ? `reduced:${state.open_minor}` : emitted.type,
    view: isFinalDispute(state.status) ? { ...view, deadline_at_ms: null } : view,
  };
}
