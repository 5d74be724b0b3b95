// Events (issue 16): what happened to a payment, as a type and the payment after the change. Pure:
// the card activities run it after their ledger step (src/activities/card.ts), and the unit tests
// run it over every transition (test/unit/payment-events.test.ts).
//
// A card payment's change is what the lifecycle decider makes of a ledger step's result: the
// activity that ran the step asks the decider (the same pure function the workflow asks next,
// with the same state, message and result) which events follow, and names the change by them.
// So the event needs no Temporal action of its own and agrees with the workflow's state.
import { z } from 'zod';
import { decide } from './card-decide.js';
import {
  evolveAll,
  heldMinor,
  type CardCommand,
  type CardEvent,
  type CardMessage,
  type CardState,
  type CardStepResult,
} from './card-lifecycle.js';
import type { PaymentState } from './payment.js';

export const PAYMENT_EVENT_TYPES = [
  'payment.authorized',
  'payment.declined',
  /** Amounts changed, status did not (an increment, a partial reversal, a remainder released). */
  'payment.updated',
  /** Posted with part of the hold kept for later clearings. */
  'payment.posted',
  'payment.settled',
  'payment.refunded',
  'payment.reversed',
  'payment.expired',
  'payment.compensated',
] as const;
export type PaymentEventType = (typeof PAYMENT_EVENT_TYPES)[number];

/** Event types other features emit through the same store (src/events/store.ts appendEvents):
 * disputes and statements name theirs `dispute.*`, `statement.*`. */
export const EVENT_TYPE_PATTERN = /^[a-z_]{1,32}\.[a-z_]{1,32}$/;
export const eventTypeSchema = z.string().regex(EVENT_TYPE_PATTERN, { error: 'must look like payment.settled' });
export const EVENT_OBJECT_TYPES = ['payment', 'dispute', 'statement'] as const;

/** What the card activities know when they ask for the change: the lifecycle state the step ran
 * in and the message it belongs to (the workflow passes both; local-activity inputs are not
 * recorded in history, so this costs the payment nothing in Temporal). */
export interface CardStepContext {
  state: CardState;
  message: CardMessage;
}

export interface CardChange {
  type: PaymentEventType;
  /** The lifecycle after the step's events. */
  state: CardState;
  /** Names the change within the payment: the event id is derived from it. */
  change_key: string;
}

/** The name of one change: the step and its network event (and the hold it acted on). */
export function cardChangeKey(command: CardCommand): string {
  switch (command.kind) {
    case 'decide_hold':
      return `decide_hold:${command.event_id}${command.stand_in_approved ? ':stand_in' : ''}`;
    case 'release_hold':
      return `release_hold:${command.event_id}:${command.hold.key}`;
    case 'clear':
      return `clear:${command.event_id}`;
    case 'refund':
      return `refund:${command.event_id}`;
    case 'resolve_card':
      return 'resolve_card';
  }
}

/** The event type a step's events amount to, or null when the payment did not change for its
 * owner (a probe that found nothing, a failed step, a bookkeeping note). */
export function cardEventType(events: readonly CardEvent[], after: CardState): PaymentEventType | null {
  const has = <T extends CardEvent['type']>(type: T) => events.find((e): e is Extract<CardEvent, { type: T }> => e.type === type);
  if (has('declined')) return 'payment.declined';
  if (has('authorized')) return 'payment.authorized';
  if (has('refunded')) return 'payment.refunded';
  if (has('posted')) return after.status === 'POSTED' ? 'payment.posted' : 'payment.settled';
  const released = has('hold_released');
  if (released) {
    if (released.hold === null && after.status === 'REVERSED') return 'payment.reversed';
    if (released.hold === null && after.status === 'EXPIRED') return 'payment.expired';
    return released.released_minor > 0 ? 'payment.updated' : null;
  }
  if (has('increment_approved')) return 'payment.updated';
  return null;
}

/** The change a step made, as the workflow will see it next: null when there is none. */
export function cardChangeAfterStep(
  context: CardStepContext,
  command: CardCommand,
  result: CardStepResult,
  now_ms: number,
): CardChange | null {
  if (result.kind === 'failed') return null;
  const next = decide(context.state, { message: context.message, step: { command, result } }, now_ms);
  const state = evolveAll(context.state, next.events);
  const type = cardEventType(next.events, state);
  return type ? { type, state, change_key: cardChangeKey(command) } : null;
}

/** The card payment as GetPayment shows it after `state` (without its timeline, which events
 * do not carry: the event is the timeline). */
export function cardPaymentAfter(
  payment: { payment_id: string; currency: string; card_id: string; merchant_mcc: string },
  company_id: string,
  state: CardState,
): PaymentState {
  return {
    payment_id: payment.payment_id,
    kind: 'card',
    status: state.status,
    currency: payment.currency,
    amount_minor: state.amount_minor,
    authorized_minor: state.authorized_minor,
    held_minor: heldMinor(state),
    posted_minor: state.posted_minor,
    reversed_minor: 0,
    refunded_minor: state.refunded_minor,
    settled_minor: 0,
    card_id: payment.card_id,
    company_id,
    merchant_mcc: payment.merchant_mcc,
    ...(state.decision && !state.decision.approved && state.decision.reason ? { decline_reason: state.decision.reason } : {}),
    needs_attention: state.needs_attention,
    timeline: [],
  };
}
