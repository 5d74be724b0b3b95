// The card purchase lifecycle as a pure state machine: its state, messages, ledger steps and events,
// and `evolve(state, event)`, which applies one event; `decide(state, input, now_ms)`
// (src/domain/card-decide.ts) says what a message (or the result of the ledger step it asked for)
// does — the events that happened and the next ledger step to run. No I/O: the
// workflow (src/workflows/card-payment.ts) interprets the commands, and the unit tests run the same
// functions against a model ledger (test/unit/card-lifecycle.test.ts).
//
// It reads like the README's lifecycle table: an authorization is decided (a hold) or declined;
// late decisions follow the network's stand-in; increments resize the hold; reversals and expiry
// release it; clearings post against it (or force post); refunds credit back. Money the network
// already moved (clearings, refunds) is never refused for good: a failed step flags the payment and
// the next delivery of the same message runs it again.
import type { DeclineReason, StandInAnswer } from './card.js';
import { isTerminal, type PaymentStatus } from './payment.js';

/** One open hold of a card payment: a pending transfer, named by the event that placed it. */
export interface HoldRef {
  key: string;
  amount_minor: number;
  /** Booked on the over-limit receivable instead of the company (a stand-in approval past it). */
  overlimit: boolean;
}

export interface CardAccount {
  company_id: string;
  account_id: string;
}

/** Messages one payment handles in its lifetime (carried across continue-as-new): bounds the
 * handled-message set a run carries. */
export const CARD_MESSAGES_PER_PAYMENT_MAX = 1_000;
/** A hold whose expiry could not be released is tried again this much later. */
export const EXPIRY_RETRY_MS = 60 * 60 * 1000;
/** Ledger steps one message may ask for, at most (the longest path: decide, void late hold). */
export const STEPS_PER_MESSAGE_MAX = 4;

export type DecisionAnswer = { approved: boolean; reason?: DeclineReason; stand_in: boolean };

export interface CardState {
  status: PaymentStatus;
  mcc: string;
  /** The first authorization's amount (0 when the payment started with a clearing or refund). */
  amount_minor: number;
  authorized_minor: number;
  posted_minor: number;
  refunded_minor: number;
  hold: HoldRef | null;
  /** When the hold expires (epoch ms, workflow clock): set when the first hold is placed. */
  expires_at_ms: number | null;
  /** 'unknown': not looked up yet; null: the issuer does not know the card. */
  card: CardAccount | null | 'unknown';
  authorization: { amount_minor: number; deadline_at_ms: number; stand_in: StandInAnswer } | null;
  decision: DecisionAnswer | null;
  advice: StandInAnswer | null;
  /** Messages already handled, by key, with the answer a repeat gets (increments). */
  handled: Record<string, DecisionAnswer | true>;
  /** Clearings and refunds whose ledger step failed, with the step: the next delivery runs the
   * same step again (same transfer ids), whatever happened meanwhile, so nothing posts twice. */
  failing: Record<string, CardCommand>;
  needs_attention: boolean;
  /** Settings fixed at the start (part of the history). */
  decision_margin_ms: number;
  hold_expiry_ms: number;
}

export type CardMessage =
  | { kind: 'authorization'; amount_minor: number; deadline_at_ms: number; stand_in: StandInAnswer }
  | { kind: 'increment'; event_id: string; amount_minor: number; deadline_at_ms?: number | undefined; stand_in: StandInAnswer }
  | { kind: 'reversal'; event_id: string; amount_minor?: number | undefined }
  | { kind: 'clearing'; event_id: string; amount_minor: number; final: boolean }
  | { kind: 'refund'; event_id: string; amount_minor: number }
  | { kind: 'advice'; stand_in: StandInAnswer }
  | { kind: 'expiry' }
  | { kind: 'void_hold' };

/** The ledger steps the decider asks for (activities). */
export type CardCommand =
  | {
      kind: 'decide_hold';
      event_id: string;
      hold_minor: number;
      replaces: HoldRef | null;
      stand_in_approved: boolean;
      /** The decision is useless after this (epoch ms): bounds its retries. null: no deadline. */
      deadline_at_ms: number | null;
    }
  /** Release `hold`, keeping `keep_minor` of it held. `probe`: the hold may never have been placed
   * (a decision attempt whose answer was lost): release it only if it exists. */
  | { kind: 'release_hold'; event_id: string; hold: HoldRef; keep_minor: number; probe: boolean }
  | { kind: 'resolve_card' }
  | { kind: 'clear'; event_id: string; hold: HoldRef | null; amount_minor: number; final: boolean }
  | { kind: 'refund'; event_id: string; amount_minor: number };

export type CardStepResult =
  | {
      kind: 'decide_hold';
      approved: boolean;
      reason?: DeclineReason | undefined;
      hold?: HoldRef | undefined;
      card?: CardAccount | undefined;
      decided_at_ms: number;
    }
  /** `found: false`: a probe found nothing placed. */
  | { kind: 'release_hold'; hold: HoldRef | null; found: boolean; released_minor: number }
  | { kind: 'resolve_card'; card: CardAccount | null }
  | { kind: 'clear'; hold: HoldRef | null; from_hold_minor: number; overlimit_minor: number }
  | { kind: 'refund' }
  | { kind: 'failed'; error: string };

export type CardInput = { message: CardMessage; step?: { command: CardCommand; result: CardStepResult } };

export type ReleaseCause = 'reversal' | 'expiry' | 'ops' | 'late' | 'advice';

export type CardEvent =
  | { type: 'authorization_requested'; amount_minor: number; deadline_at_ms: number; stand_in: StandInAnswer }
  | { type: 'card_resolved'; card: CardAccount | null }
  | { type: 'hold_placed'; hold: HoldRef; at_ms: number; detail: string }
  | { type: 'authorized'; stand_in: boolean; authorized_minor: number; detail?: string }
  | { type: 'increment_approved'; hold: HoldRef; amount_minor: number; stand_in: boolean }
  /** `stand_in`: the decision was late, so the answer is the stand-in's (what the caller is told).
   * `network_stood_in`: the network itself answered for us (its advice said so); otherwise a late
   * decline is our own, made because our decision came too late to be the answer. */
  | { type: 'declined'; reason: DeclineReason; stand_in: boolean; network_stood_in: boolean; detail: string; final: boolean }
  | { type: 'hold_released'; hold: HoldRef | null; released_minor: number; cause: ReleaseCause }
  | { type: 'posted'; amount_minor: number; from_hold_minor: number; hold: HoldRef | null; at_ms: number }
  | { type: 'refunded'; amount_minor: number }
  | { type: 'attention'; reason: string; detail: string }
  | { type: 'noted'; event: string; detail?: string }
  | { type: 'advice_received'; stand_in: StandInAnswer }
  | { type: 'handled'; key: string; answer?: DecisionAnswer }
  | { type: 'step_failed'; key: string; step: CardCommand['kind']; error: string; at_ms: number; retry?: CardCommand };

export type RefusalType = 'AuthorizationConflict' | 'InvalidCardEvent' | 'OpsRefused';

export interface CardStep {
  events: CardEvent[];
  command: CardCommand | null;
  refused?: { type: RefusalType; message: string };
  /** The message's ledger step failed: the caller is told to deliver it again. */
  failed?: string;
}

export function initialCardState(mcc: string, settings: { decision_margin_ms: number; hold_expiry_ms: number }): CardState {
  return {
    status: 'RECEIVED',
    mcc,
    amount_minor: 0,
    authorized_minor: 0,
    posted_minor: 0,
    refunded_minor: 0,
    hold: null,
    expires_at_ms: null,
    card: 'unknown',
    authorization: null,
    decision: null,
    advice: null,
    handled: {},
    failing: {},
    needs_attention: false,
    decision_margin_ms: settings.decision_margin_ms,
    hold_expiry_ms: settings.hold_expiry_ms,
  };
}

/** The key that makes a message idempotent (null: not keyed; it acts on the state as it is). */
export function messageKey(m: CardMessage): string | null {
  switch (m.kind) {
    case 'authorization':
      return 'authorization';
    case 'advice':
      return 'stand_in_advice';
    case 'increment':
    case 'reversal':
    case 'clearing':
    case 'refund':
      return `${m.kind}:${m.event_id}`;
    case 'expiry':
    case 'void_hold':
      return null;
  }
}

export const heldMinor = (s: CardState): number => s.hold?.amount_minor ?? 0;

/** Where a payment stands once nothing is held, by what was posted and refunded. */
function settledStatus(s: CardState): PaymentStatus | null {
  if (s.posted_minor > 0 && s.refunded_minor >= s.posted_minor) return 'REFUNDED';
  if (s.posted_minor === 0 && s.refunded_minor > 0) return 'REFUNDED';
  return s.posted_minor > 0 ? 'SETTLED' : null;
}

const RELEASED_STATUS: Record<ReleaseCause, PaymentStatus | null> = {
  reversal: 'REVERSED',
  expiry: 'EXPIRED',
  ops: 'EXPIRED',
  late: null,
  advice: null,
};

export function evolve(s: CardState, e: CardEvent): CardState {
  const next = apply(s, e);
  // A payment that holds something is not final: a retried step may find a hold its first
  // attempt placed after the payment had moved on.
  if (next.hold && isTerminal(next.status)) return { ...next, status: next.posted_minor > 0 ? 'POSTED' : 'AUTHORIZED' };
  return next;
}

function apply(s: CardState, e: CardEvent): CardState {
  switch (e.type) {
    case 'authorization_requested':
      return {
        ...s,
        status: 'AUTHORIZING',
        amount_minor: e.amount_minor,
        authorization: { amount_minor: e.amount_minor, deadline_at_ms: e.deadline_at_ms, stand_in: e.stand_in },
      };
    case 'card_resolved':
      return { ...s, card: e.card };
    case 'hold_placed':
      return { ...s, hold: e.hold, expires_at_ms: s.expires_at_ms ?? e.at_ms + s.hold_expiry_ms };
    case 'authorized':
      return {
        ...s,
        status: 'AUTHORIZED',
        authorized_minor: s.authorized_minor + e.authorized_minor,
        decision: { approved: true, stand_in: e.stand_in },
      };
    case 'increment_approved':
      return { ...s, hold: e.hold, authorized_minor: s.authorized_minor + e.amount_minor };
    case 'declined': {
      const decision = { approved: false, reason: e.reason, stand_in: e.stand_in };
      // A decline that leaves a hold (its void failed) keeps the payment open until expiry.
      return e.final && s.hold === null ? { ...s, status: 'DECLINED', decision } : { ...s, decision };
    }
    case 'hold_released': {
      const next = { ...s, hold: e.hold };
      if (e.hold) return next;
      // An approved payment left holding nothing by a release that meant to keep some (a late
      // increment's resize back found the hold gone: an expiry had voided it, its answer lost)
      // has lapsed: EXPIRED, or it would stay AUTHORIZED with no hold and no timer, for ever.
      const lapsed = next.status === 'AUTHORIZED' ? 'EXPIRED' : null;
      const status = settledStatus(next) ?? RELEASED_STATUS[e.cause] ?? lapsed;
      return status ? { ...next, status } : next;
    }
    case 'posted': {
      const next = {
        ...s,
        hold: e.hold,
        posted_minor: s.posted_minor + e.amount_minor,
        expires_at_ms: e.hold ? (s.expires_at_ms ?? e.at_ms + s.hold_expiry_ms) : s.expires_at_ms,
      };
      return { ...next, status: e.hold ? 'POSTED' : (settledStatus(next) ?? 'SETTLED') };
    }
    case 'refunded': {
      const next = { ...s, refunded_minor: s.refunded_minor + e.amount_minor };
      return next.hold ? next : { ...next, status: settledStatus(next) ?? next.status };
    }
    case 'attention':
      return { ...s, needs_attention: true };
    case 'advice_received':
      return { ...s, advice: e.stand_in };
    case 'handled': {
      const { [e.key]: _done, ...failing } = s.failing;
      return { ...s, handled: { ...s.handled, [e.key]: e.answer ?? true }, failing };
    }
    case 'step_failed':
      // A failed expiry is tried again later; any failure is for people to look at.
      return {
        ...s,
        needs_attention: true,
        expires_at_ms: e.key === 'expiry' ? e.at_ms + EXPIRY_RETRY_MS : s.expires_at_ms,
        failing: e.retry ? { ...s.failing, [e.key]: e.retry } : s.failing,
      };
    case 'noted':
      return s;
  }
}

export function evolveAll(s: CardState, events: readonly CardEvent[]): CardState {
  return events.reduce(evolve, s);
}

/** A payment with nothing in progress and nothing held is at a final state. */
export function isFinal(s: CardState): boolean {
  return s.hold === null && isTerminal(s.status);
}
