// Disputes (chargebacks): what a company sends to dispute a cleared card payment, what the card
// network answers, and the deadlines that bound each stage. Imported by workflow code: no I/O.
import { z } from 'zod';
import { amountMinorSchema, currencySchema } from './money.js';
import { PAYMENT_ID_LENGTH_MAX, paymentIdSchema } from './payment.js';

/** The reasons a network accepts for a chargeback (the codes map onto Visa and Mastercard's). */
export const DISPUTE_REASONS = ['fraudulent', 'not_received', 'duplicate', 'canceled', 'other'] as const;
export type DisputeReason = (typeof DISPUTE_REASONS)[number];

/** Evidence is the company's own words and document references, not files. */
export const DISPUTE_EVIDENCE_LENGTH_MAX = 2_000;
/** An idempotency key: the same key for the same payment is the same dispute. */
export const DISPUTE_KEY_LENGTH_MAX = 64;

const keySchema = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'must start with a letter or digit and contain only letters, digits, _ . -' })
  .max(DISPUTE_KEY_LENGTH_MAX, { error: `must be at most ${DISPUTE_KEY_LENGTH_MAX} characters` });

export const openDisputeSchema = z.strictObject({
  payment_id: paymentIdSchema,
  idempotency_key: keySchema,
  reason: z.enum(DISPUTE_REASONS, { error: `must be one of ${DISPUTE_REASONS.join(', ')}` }),
  amount_minor: amountMinorSchema,
  evidence: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, { error: 'must not be empty: say why the payment is disputed' })
    .max(DISPUTE_EVIDENCE_LENGTH_MAX, { error: `must be at most ${DISPUTE_EVIDENCE_LENGTH_MAX} characters` }),
});
export type OpenDispute = z.infer<typeof openDisputeSchema>;

/** What the dispute workflow starts with: the request, and what the API looked up about the
 * payment (its company, currency and credit line; the ledger checks the amount). */
export const disputeStartSchema = openDisputeSchema.extend({
  dispute_id: z
    .string()
    .min(1)
    .max(PAYMENT_ID_LENGTH_MAX + DISPUTE_KEY_LENGTH_MAX + 10),
  company_id: paymentIdSchema,
  account_id: z.uuid({ error: 'must be a UUID' }),
  currency: currencySchema,
});
export type DisputeStart = z.infer<typeof disputeStartSchema>;

/** The network's (the merchant's) answers, delivered to the dispute by the network's messages. */
export const NETWORK_RESPONSES = ['merchant_accepted', 'merchant_represented', 'arbitration_won', 'arbitration_lost'] as const;
export type NetworkResponse = (typeof NETWORK_RESPONSES)[number];
export const networkResponseSchema = z.strictObject({
  response: z.enum(NETWORK_RESPONSES, { error: `must be one of ${NETWORK_RESPONSES.join(', ')}` }),
  /** The merchant's or network's words (representment evidence, the ruling). */
  detail: z.string({ error: 'must be a string' }).max(DISPUTE_EVIDENCE_LENGTH_MAX).default(''),
});
export type NetworkResponseMessage = z.input<typeof networkResponseSchema>;

export const withdrawDisputeSchema = z.strictObject({
  reason: z.string({ error: 'must be a string' }).trim().min(1, { error: 'must not be empty' }).max(200),
});

/** The network's deadlines (days in production; milliseconds in demos and tests). */
export interface DisputeWorkflowOptions {
  /** The merchant has this long to accept or represent; silence loses the merchant the case. */
  representment_window_ms: number;
  /** The network rules on a pre-arbitration within this; past it the dispute needs a person. */
  arbitration_window_ms: number;
}

export const DAY_MS = 24 * 60 * 60 * 1000;
/** Visa: 30 days to represent; pre-arbitration is answered within 30 days. */
export const DEFAULT_DISPUTE_OPTIONS: DisputeWorkflowOptions = {
  representment_window_ms: 30 * DAY_MS,
  arbitration_window_ms: 30 * DAY_MS,
};
/** The longest window accepted (a year: networks allow months, never more). */
export const DISPUTE_WINDOW_MS_MAX = 365 * DAY_MS;

export function assertDisputeOptions(options: DisputeWorkflowOptions): void {
  for (const [name, value] of Object.entries(options)) {
    if (!(Number.isSafeInteger(value) && value >= 1 && value <= DISPUTE_WINDOW_MS_MAX)) {
      throw new Error(`${name} must be an integer of 1..${DISPUTE_WINDOW_MS_MAX} ms, got ${value}`);
    }
  }
}

/** A dispute's id: the payment and the company's idempotency key. Its workflow is `dispute-<id>`. */
export function disputeId(payment_id: string, idempotency_key: string): string {
  return `${payment_id}:dispute:${idempotency_key}`;
}
export function disputeWorkflowId(dispute_id: string): string {
  return `dispute-${dispute_id}`;
}

/** Failure types the dispute workflow tells apart. */
export const DISPUTE_FAILURE_TYPES = {
  /** The network will not take the filing: retrying cannot help. */
  chargebackRefused: 'ChargebackRefused',
} as const;

/** Disputes a payment may have in its lifetime (one open at a time): bounds GetPayment's join. */
export const DISPUTES_PER_PAYMENT_MAX = 20;

/** What GetDispute answers (the dispute workflow's query). */
export interface DisputeView {
  dispute_id: string;
  payment_id: string;
  company_id: string;
  currency: string;
  reason: DisputeReason;
  evidence: string;
  status: import('./dispute-lifecycle.js').DisputeStatus;
  amount_minor: number;
  open_minor: number;
  credited_minor: number;
  won_minor: number;
  reversed_minor: number;
  case_id: string | null;
  refusal: string | null;
  needs_attention: boolean;
  /** When the current stage's deadline passes (epoch ms, workflow clock); null when none runs. */
  deadline_at_ms: number | null;
  timeline: Array<{ at_ms: number; event: string; detail?: string }>;
}
