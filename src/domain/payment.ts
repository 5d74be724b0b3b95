// Payment messages shared by clients, workflows and activities: one definition, validated with zod
// at every boundary. Imported by workflow code, so no I/O here.
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { amountMinorSchema, currencySchema } from './money.js';
import { describeIssue } from './validation.js';

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
  'AUTHORIZING',
  'AUTHORIZED',
  'POSTED',
  'SETTLING',
  'COMPENSATING',
  'DECLINED',
  'SETTLED',
  'COMPENSATED',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<PaymentStatus> = new Set(['DECLINED', 'SETTLED', 'COMPENSATED']);

export function isTerminal(status: PaymentStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export interface TimelineEntry {
  /** ISO time from the workflow's deterministic clock. */
  at: string;
  event: string;
  detail?: string;
}

export interface PaymentState {
  payment_id: string;
  status: PaymentStatus;
  currency: string;
  amount_minor: number;
  held_minor: number;
  posted_minor: number;
  reversed_minor: number;
  settled_minor: number;
  decline_reason?: string;
  compensation_reason?: string;
  bank_reference?: string;
  /** A compensation failed in a way the platform cannot retry away: people must look. */
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

/** patched() id of the settlement-attention timer (see src/workflows/payout.ts). */
export const PATCH_SETTLEMENT_ATTENTION = 'settlement-attention-timer';

/** Error types that are business outcomes, not faults: never retried, never paged about. */
export const BUSINESS_FAILURE_TYPES = {
  holdDeclined: 'HoldDeclined',
  settlementRejected: 'SettlementRejected',
  invalidPayment: 'InvalidPayment',
} as const;

/** Parses a payout request inside Temporal code (workflow or activity): a malformed one is a
 * non-retryable InvalidPayment failure, since no retry can make it valid. */
export function parsePayoutRequestOrFail(input: unknown): PayoutRequest {
  const parsed = payoutRequestSchema.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(describeIssue(parsed.error, 'payout request '), BUSINESS_FAILURE_TYPES.invalidPayment);
  }
  return parsed.data;
}
