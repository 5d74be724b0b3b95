// Payment messages shared by clients, workflows and activities: one definition, validated with zod
// at every boundary. Imported by workflow code, so no I/O here.
import { z } from 'zod';
import { amountMinorSchema, currencySchema } from './money.js';
import type { CardDecision } from './card.js';
import { parseOrFail } from './validation.js';

/** Payment ids come from the caller (idempotency key) or the network (transaction id); the
 * workflow id is derived from them, so they are restricted to a safe, bounded alphabet. */
export const PAYMENT_ID_LENGTH_MAX = 64;
export const paymentIdSchema = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, {
    error: 'must start with a letter or digit and contain only letters, digits, _ . : -',
  })
  .max(PAYMENT_ID_LENGTH_MAX, { error: `must be at most ${PAYMENT_ID_LENGTH_MAX} characters` });

export const uuidSchema = z.uuid({ error: 'must be a UUID' });

export const PAYEE_NAME_LENGTH_MAX = 140;
export const PAYEE_BANK_ACCOUNT_LENGTH_MAX = 34; // IBAN maximum length

export const payeeSchema = z.object({
  name: z.string().trim().min(1, { error: 'must not be empty' }).max(PAYEE_NAME_LENGTH_MAX),
  bank_account: z.string().regex(/^[A-Z0-9]{5,34}$/, { error: 'must be 5 to 34 upper-case letters and digits (IBAN-like)' }),
});

/** A payout: pay a supplier's bank account from a company's card credit line. */
export const payoutRequestSchema = z.strictObject({
  payment_id: paymentIdSchema,
  company_id: paymentIdSchema,
  /** The company's credit-line account in the ledger. */
  account_id: uuidSchema,
  amount_minor: amountMinorSchema,
  currency: currencySchema,
  payee: payeeSchema,
});
export type PayoutRequest = z.infer<typeof payoutRequestSchema>;

export const PAYMENT_STATUSES = [
  /** A card payment whose first network message is being handled. */
  'RECEIVED',
  'AUTHORIZING',
  'AUTHORIZED',
  'POSTED',
  'SETTLING',
  'COMPENSATING',
  'DECLINED',
  'SETTLED',
  'COMPENSATED',
  'EXPIRED',
  'REVERSED',
  'REFUNDED',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** Final states (DESIGN.md section 5). A card payment stays open for a while in one of them: a
 * late clearing or a refund can still move it (EXPIRED -> SETTLED -> REFUNDED). */
export const TERMINAL_STATUSES: ReadonlySet<PaymentStatus> = new Set([
  'DECLINED',
  'SETTLED',
  'COMPENSATED',
  'EXPIRED',
  'REVERSED',
  'REFUNDED',
]);

export function isTerminal(status: PaymentStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export interface TimelineEntry {
  /** ISO time from the workflow's deterministic clock. */
  at: string;
  event: string;
  detail?: string;
  /** Ops actions (`ops_<action>` events): who acted, and why. */
  operator?: string;
  reason?: string;
}

export type PaymentKind = 'payout' | 'card';

/** What a payment's query returns. Amounts in minor units of `currency`. */
export interface PaymentState {
  payment_id: string;
  kind: PaymentKind;
  status: PaymentStatus;
  currency: string;
  /** Requested amount: the payout, or the card authorization (0 for a clearing with none). */
  amount_minor: number;
  /** Approved so far: the authorization plus approved increments. */
  authorized_minor: number;
  /** Held right now (open pending transfers). */
  held_minor: number;
  /** Charged to the company so far (posted), before reversals and refunds. */
  posted_minor: number;
  /** Posted amounts given back by compensation (payout reversal). */
  reversed_minor: number;
  /** Refunds and returns credited back (card). */
  refunded_minor: number;
  settled_minor: number;
  decline_reason?: string;
  compensation_reason?: string;
  bank_reference?: string;
  /** Card payments: the card, its company, and the merchant's category. */
  card_id?: string;
  company_id?: string;
  merchant_mcc?: string;
  /** Card payments: the answer the network got to the authorization. */
  decision?: Omit<CardDecision, 'held_minor'>;
  /** Something the platform cannot settle on its own (a compensation that keeps failing, a bank
   * that does not answer, a stand-in approval past the limit): people must look. */
  needs_attention: boolean;
  timeline: TimelineEntry[];
}

export function paymentWorkflowId(payment_id: string): string {
  return `payment-${payment_id}`;
}

/** Operational settings of a payout, fixed when it starts (they are part of its history). */
export interface PayoutWorkflowOptions {
  /** A payout still waiting for its bank's answer after this long needs attention. */
  settlement_attention_after_ms: number;
}

export const DEFAULT_PAYOUT_OPTIONS: PayoutWorkflowOptions = { settlement_attention_after_ms: 60 * 60 * 1000 };

/** patched() id of one search-attribute upsert per card event (see src/workflows/card-payment.ts). */
export const PATCH_CARD_COALESCED_ATTRIBUTES = 'card-coalesced-search-attributes';

/** patched() id of the card lifecycle run by the pure decider (src/domain/card-lifecycle.ts,
 * src/workflows/card-payment.ts); payments started before it run src/workflows/card-payment-legacy.ts. */
export const PATCH_CARD_DECIDER = 'card-decider';

/** patched() id of events written by card payments still running the legacy workflow
 * (src/workflows/card-payment-legacy.ts): changes made after it write their event. */
export const PATCH_LEGACY_CARD_EVENTS = 'legacy-card-events';

/** patched() id of the settlement-attention timer (see src/workflows/payout.ts). */
export const PATCH_SETTLEMENT_ATTENTION = 'settlement-attention-timer';
/** patched() id of waiting for the bank's confirmation callback (see src/workflows/payout.ts). */
export const PATCH_SETTLEMENT_CALLBACK = 'settlement-callback';

export const BANK_REFERENCE_LENGTH_MAX = 64;
export const REJECTION_REASON_LENGTH_MAX = 200;

/** The payee bank's final word on a payout it accepted: what its confirmation callback carries
 * to the payout workflow (settlementConfirmedSignal). */
export const settlementConfirmationSchema = z.discriminatedUnion('status', [
  z.strictObject({
    status: z.literal('settled'),
    bank_reference: z.string().min(1, { error: 'must not be empty' }).max(BANK_REFERENCE_LENGTH_MAX),
  }),
  z.strictObject({
    status: z.literal('rejected'),
    reason: z.string().min(1, { error: 'must not be empty' }).max(REJECTION_REASON_LENGTH_MAX),
  }),
]);
export type SettlementConfirmation = z.infer<typeof settlementConfirmationSchema>;

/** Error types that are business outcomes, not faults: never retried, never paged about. */
export const BUSINESS_FAILURE_TYPES = {
  holdDeclined: 'HoldDeclined',
  settlementRejected: 'SettlementRejected',
  invalidPayment: 'InvalidPayment',
} as const;

/** Parses a payout request inside Temporal code (workflow or activity). */
export function parsePayoutRequestOrFail(input: unknown): PayoutRequest {
  return parseOrFail(payoutRequestSchema, input, 'payout request');
}
