// How the card workflow records the decider's events (src/domain/card-lifecycle.ts): the query's
// view of the payment, its timeline, search attributes and NeedsAttention, through the shared
// recorder. One event, one timeline entry (or none, for bookkeeping events).
import type { CardEvent, CardState } from '../domain/card-lifecycle.js';
import { heldMinor } from '../domain/card-lifecycle.js';
import type { PaymentState } from '../domain/payment.js';
import { AmountMinorKey, CompanyIdKey } from '../domain/search-attributes.js';
import type { DetailedRecorder } from './details.js';

function timelineName(e: CardEvent): string | null {
  switch (e.type) {
    case 'authorization_requested':
      return 'authorization_requested';
    case 'hold_placed':
      return e.detail.startsWith('late') ? 'hold_placed_late' : null;
    case 'authorized':
      return e.stand_in ? 'stand_in_approved' : 'hold_placed';
    case 'increment_approved':
      return e.amount_minor > 0 ? 'increment_approved' : 'increment_held_late';
    case 'declined':
      // "Stand-in" only when the network answered for us; our own late decline says so.
      if (!e.stand_in) return 'authorization_declined';
      return e.network_stood_in ? 'stand_in_declined' : 'declined_late';
    case 'hold_released':
      return e.hold ? 'hold_partly_released' : `hold_released_${e.cause}`;
    case 'posted':
      return null; // the decider notes clearing_posted or force_posted with the detail
    case 'refunded':
      return 'refunded';
    case 'noted':
      return e.event;
    case 'advice_received':
      return `stand_in_advice_${e.stand_in}`;
    case 'card_resolved':
    case 'attention':
    case 'handled':
    case 'step_failed':
      return null;
  }
}

function detailOf(e: CardEvent): string | undefined {
  switch (e.type) {
    case 'authorization_requested':
      return `${e.amount_minor}, stand-in ${e.stand_in}`;
    case 'hold_placed':
      return e.detail;
    case 'authorized':
      return e.detail;
    case 'increment_approved':
      return `+${e.amount_minor}, ${e.hold.amount_minor} held`;
    case 'declined':
      return e.detail;
    case 'hold_released':
      return `-${e.released_minor}`;
    case 'refunded':
      return String(e.amount_minor);
    case 'noted':
      return e.detail;
    case 'advice_received':
      return `the network answered the stand-in (${e.stand_in}) for us`;
    default:
      return undefined;
  }
}

/** Records one batch of events, applied: `lifecycle` is the state after them. */
export function recordCardEvents(recorder: DetailedRecorder, view: PaymentState, events: readonly CardEvent[], lifecycle: CardState): void {
  for (const e of events) {
    if (e.type === 'card_resolved' && e.card) {
      view.company_id = e.card.company_id;
      recorder.setAttribute({ key: CompanyIdKey, value: e.card.company_id });
    }
    if (e.type === 'authorization_requested') recorder.setAttribute({ key: AmountMinorKey, value: e.amount_minor });
    if (e.type === 'attention') recorder.markNeedsAttention(e.reason, e.detail);
    if (e.type === 'step_failed') recorder.markNeedsAttention(`${e.step}_failed`, `${e.key}: ${e.error}`);
    const name = timelineName(e);
    if (name === null) continue;
    if (view.status !== lifecycle.status) recorder.transition(lifecycle.status, name, detailOf(e));
    else recorder.note(name, detailOf(e));
  }
  if (view.status !== lifecycle.status) recorder.transition(lifecycle.status, 'status', undefined);
  view.amount_minor = lifecycle.amount_minor;
  view.authorized_minor = lifecycle.authorized_minor;
  view.held_minor = heldMinor(lifecycle);
  view.posted_minor = lifecycle.posted_minor;
  view.refunded_minor = lifecycle.refunded_minor;
  if (lifecycle.decision) {
    view.decision = { ...lifecycle.decision };
    if (!lifecycle.decision.approved && lifecycle.decision.reason) view.decline_reason = lifecycle.decision.reason;
  }
}
