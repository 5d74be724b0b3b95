// Card purchases: the messages a card network sends about one transaction, and the rules that
// depend only on the message (hold expiry and clearing tolerance by merchant category). Imported by
// workflow code, so no I/O here.
import { z } from 'zod';
import { amountMinorSchema, currencySchema } from './money.js';
import { paymentIdSchema } from './payment.js';

export const cardIdSchema = paymentIdSchema;
/** Network message ids name one lifecycle event of a payment (an increment, a clearing...): a
 * repeated message with the same id has the effect of the first one only. */
export const eventIdSchema = paymentIdSchema;

/** ISO 18245 merchant category code: four digits. */
export const mccSchema = z.string({ error: 'must be a string' }).regex(/^[0-9]{4}$/, { error: 'must be four digits (ISO 18245)' });

export const MERCHANT_NAME_LENGTH_MAX = 140;
export const merchantSchema = z.strictObject({
  mcc: mccSchema,
  name: z.string({ error: 'must be a string' }).trim().min(1, { error: 'must not be empty' }).max(MERCHANT_NAME_LENGTH_MAX),
});

/** What identifies a card payment: the workflow's start input. The first event (an authorization,
 * or a clearing or refund with no authorization) arrives as an update on it. */
export const cardPaymentSchema = z.strictObject({
  /** The network's transaction id. */
  payment_id: paymentIdSchema,
  card_id: cardIdSchema,
  currency: currencySchema,
  merchant: merchantSchema,
});
export type CardPayment = z.infer<typeof cardPaymentSchema>;

export const STAND_IN_ANSWERS = ['decline', 'approve'] as const;
export type StandInAnswer = (typeof STAND_IN_ANSWERS)[number];

/** Decision deadlines are bounded: a network never waits longer than a few seconds. */
export const AUTHORIZATION_DEADLINE_MS_MAX = 60_000;

export const authorizationSchema = z.strictObject({
  amount_minor: amountMinorSchema,
  /** When the network stops waiting (epoch ms). A decision made later is replaced by the stand-in. */
  deadline_at_ms: z.number({ error: 'must be epoch milliseconds' }).int({ error: 'must be epoch milliseconds' }).positive(),
  /** What the network answers on the issuer's behalf when the decision is late. */
  stand_in: z.enum(STAND_IN_ANSWERS, { error: `must be one of ${STAND_IN_ANSWERS.join(', ')}` }).default('decline'),
});
export type Authorization = z.input<typeof authorizationSchema>;

export const incrementSchema = z.strictObject({
  event_id: eventIdSchema,
  amount_minor: amountMinorSchema,
  /** When the network stops waiting for the answer (epoch ms); omitted by callers that have no
   * deadline (then a decision is never late). */
  deadline_at_ms: z.number({ error: 'must be epoch milliseconds' }).int({ error: 'must be epoch milliseconds' }).positive().optional(),
  /** What the network answers for the issuer when the decision is late. */
  stand_in: z.enum(STAND_IN_ANSWERS, { error: `must be one of ${STAND_IN_ANSWERS.join(', ')}` }).default('decline'),
});
export type Increment = z.input<typeof incrementSchema>;

export const reversalSchema = z.strictObject({
  event_id: eventIdSchema,
  /** Omitted: the whole remaining hold. More than is held releases what is held (as networks do). */
  amount_minor: amountMinorSchema.optional(),
});
export type Reversal = z.infer<typeof reversalSchema>;

export const clearingSchema = z.strictObject({
  event_id: eventIdSchema,
  amount_minor: amountMinorSchema,
  /** false when the merchant will send further clearings (split shipments); the last one, or the
   * only one, releases what remains held. */
  final: z.boolean({ error: 'must be true or false' }).default(true),
});
export type Clearing = z.input<typeof clearingSchema>;

export const refundSchema = z.strictObject({ event_id: eventIdSchema, amount_minor: amountMinorSchema });
export type Refund = z.infer<typeof refundSchema>;

/** Reasons an authorization or increment is declined: the words the network and ops see. */
export const DECLINE_REASONS = [
  'card_not_found',
  'card_frozen',
  'currency_mismatch',
  'merchant_category_blocked',
  'over_transaction_limit',
  'insufficient_credit',
  'account_closed',
  /** The decision came after the deadline and the network's stand-in answer was decline. */
  'late_decision',
] as const;
/** Or the spend limit that declined it, e.g. `spend_limit:card:day:amount` (src/domain/spend-limits.ts). */
export type DeclineReason = (typeof DECLINE_REASONS)[number] | `spend_limit:${string}`;

export interface CardDecision {
  approved: boolean;
  reason?: DeclineReason;
  /** The network answered for the issuer (the decision was late). */
  stand_in: boolean;
  /** What is held for this payment after the decision. */
  held_minor: number;
}

/** What the authorize update answers: the decision, and the card of the payment that made it (a
 * caller reusing another card's transaction id must not learn that payment's decision). */
export type AuthorizationReply = CardDecision & { card_id: string };

/** Hold expiry by merchant category: lodging, car rental and cruise lines clear weeks later. */
const LONG_HOLD_MCC_RANGES: ReadonlyArray<readonly [number, number]> = [
  [3351, 3441], // car rental agencies
  [3501, 3790], // hotels and resorts
  [4411, 4411], // cruise lines
  [7011, 7011], // lodging
  [7512, 7512], // car rental
];
export const HOLD_EXPIRY_DAYS_DEFAULT = 7;
export const HOLD_EXPIRY_DAYS_LONG = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

function inRanges(mcc: string, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  const code = Number(mcc);
  return ranges.some(([lo, hi]) => code >= lo && code <= hi);
}

export function holdExpiryMs(mcc: string): number {
  return (inRanges(mcc, LONG_HOLD_MCC_RANGES) ? HOLD_EXPIRY_DAYS_LONG : HOLD_EXPIRY_DAYS_DEFAULT) * DAY_MS;
}

/** How far a clearing may exceed what was authorized, in percent, by merchant category:
 * restaurants add tips, hotels and car rentals add incidentals. Elsewhere none. */
const CLEARING_TOLERANCE: ReadonlyArray<{ ranges: ReadonlyArray<readonly [number, number]>; percent: number }> = [
  { ranges: [[5812, 5814]], percent: 20 }, // restaurants, bars, fast food
  { ranges: LONG_HOLD_MCC_RANGES, percent: 15 },
];

export function clearingTolerancePercent(mcc: string): number {
  return CLEARING_TOLERANCE.find((t) => inRanges(mcc, t.ranges))?.percent ?? 0;
}

/** The most a payment's clearings may total before the excess is flagged for review. */
export function clearingCeilingMinor(authorized_minor: number, mcc: string): number {
  return authorized_minor + Math.floor((authorized_minor * clearingTolerancePercent(mcc)) / 100);
}

/** Operational settings of a card payment, fixed when it starts (they are part of its history).
 * Tests shorten them; production uses the defaults. */
export interface CardWorkflowOptions {
  /** Replaces the merchant category's hold expiry (tests). */
  hold_expiry_ms?: number;
  /** How long a payment stays open after its hold is gone (0: it closes at its final state; a late
   * clearing, refund or advice starts a new run of the same id from where it ended). A payment
   * that needs attention stays open until people resolve it. */
  linger_ms: number;
  /** A payment whose first event never arrives (a rejected start) closes after this long. */
  first_event_wait_ms: number;
  /** A decision made less than this before the deadline counts as late: the answer still has to
   * travel back to the network, and an approval it never sees must not leave a hold behind. */
  decision_margin_ms: number;
  /** Continue as new once the history has this many events (or the server suggests it). */
  continue_as_new_after_events?: number;
  /** The workflow code a run was started for (CARD_WORKFLOW_VERSION; the card client sets it on
   * every start). Absent: a run started before versions, which decides by patched('card-decider')
   * and upserts every status change; kept in its history, so both replay. */
  version?: number;
}

/** The card workflow's version new runs are started with: 1 writes no patch marker (the version is
 * in the start arguments), gets its fixed search attributes at start, and writes PaymentStatus only
 * when it is not the one its execution status implies (src/domain/search-attributes.ts
 * IMPLIED_CARD_STATUS): an authorize + clear costs no upsert. */
export const CARD_WORKFLOW_VERSION = 1;

export const DEFAULT_CARD_OPTIONS: CardWorkflowOptions = {
  linger_ms: 0,
  first_event_wait_ms: 10 * 60 * 1000,
  decision_margin_ms: 50,
};

/** Events one payment accepts in its lifetime in the workflow that ran before the decider
 * (src/workflows/card-payment-legacy.ts); newer payments continue as new instead. */
export const CARD_EVENTS_PER_PAYMENT_MAX = 200;
/** History events after which a card payment continues as new (carrying its state and the
 * messages it handled), when the server has not suggested it earlier. */
export const CARD_HISTORY_EVENTS_CONTINUE_AT = 2_000;
