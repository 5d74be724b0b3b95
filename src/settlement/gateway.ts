// The settlement gateway: how a payout reaches the payee's bank. Activities depend on this
// interface; `createHttpSettlementGateway` talks to a bank (or the simulator) over HTTP.
// A bank answers a payout either at once (200 settled / 422 rejected) or by accepting it (202) and
// confirming later with a callback (`settlementCallbackSchema`, received by callback-receiver.ts).
// Only a 422 whose body says `rejected` is a rejection (the saga compensates on nothing else):
// 408, 409, 425, 429, 5xx, timeouts and lost replies are transient; 401/403 are a credential
// problem; anything else is an unexpected answer (classifyPayoutAnswer).
import { z } from 'zod';
import { amountMinorSchema, currencySchema } from '../domain/money.js';
import { paymentIdSchema, payeeSchema, settlementConfirmationSchema } from '../domain/payment.js';

export const payoutInstructionSchema = z.strictObject({
  /** The bank deduplicates on this key: the same key is the same payout, however often sent. */
  idempotency_key: z.string().min(1).max(128),
  amount_minor: amountMinorSchema,
  currency: currencySchema,
  payee: payeeSchema,
});
export type PayoutInstruction = z.infer<typeof payoutInstructionSchema>;

export const payoutResultSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('settled'), bank_reference: z.string().min(1) }),
  z.object({ status: z.literal('rejected'), reason: z.string().min(1) }),
  /** The bank took the payout; its final answer comes later, by callback. */
  z.object({ status: z.literal('accepted') }),
]);
export type PayoutResult = z.infer<typeof payoutResultSchema>;

/** Payout idempotency keys are `payout:<payment id>`: a callback names its payment by the key. */
export const PAYOUT_KEY_PREFIX = 'payout:';
export const payoutIdempotencyKey = (payment_id: string) => `${PAYOUT_KEY_PREFIX}${payment_id}`;

/** The payment a payout idempotency key names: `payout:<payment id>`. */
const payoutKeySchema = z
  .string({ error: 'must be a string' })
  .startsWith(PAYOUT_KEY_PREFIX, { error: `must be ${PAYOUT_KEY_PREFIX}<payment id>` })
  .transform((key) => key.slice(PAYOUT_KEY_PREFIX.length))
  .pipe(paymentIdSchema);

/** What the bank POSTs to the callback URL once it has settled or rejected an accepted payout.
 * Parsed, `idempotency_key` becomes the payment id it names. */
export const settlementCallbackSchema = z.discriminatedUnion('status', [
  settlementConfirmationSchema.options[0].extend({ idempotency_key: payoutKeySchema }),
  settlementConfirmationSchema.options[1].extend({ idempotency_key: payoutKeySchema }),
]);
export type SettlementCallback = z.input<typeof settlementCallbackSchema>;

/** A direct debit (billing's repayment collection): pull `amount_minor` from the company's bank
 * account under its mandate. The bank answers in the payouts' vocabulary: 200 settled (collected),
 * 422 rejected (failed: insufficient funds, no mandate), 202 accepted (answer by callback,
 * `directDebitCallbackSchema` in src/domain/billing.ts, which may later say `returned`). */
export const directDebitInstructionSchema = z.strictObject({
  idempotency_key: z.string().min(1).max(128),
  amount_minor: amountMinorSchema,
  currency: currencySchema,
  debtor: z.strictObject({ name: z.string().min(1).max(140), bank_account: z.string().min(1).max(64) }),
});
export type DirectDebitInstruction = z.infer<typeof directDebitInstructionSchema>;

export interface SettlementGateway {
  /** Resolves with the bank's answer, final or `accepted` (final answer by callback). Throws
   * SettlementUnavailableError on anything transient (retry with the same key),
   * SettlementCredentialsError on 401/403 and SettlementUnexpectedAnswerError on anything else
   * it cannot read as settled, accepted or rejected: none of these is a rejection. */
  sendPayout(instruction: PayoutInstruction): Promise<PayoutResult>;
  /** The same for a direct debit (`settled` = collected, `rejected` = failed), with the same errors. */
  sendDirectDebit(instruction: DirectDebitInstruction): Promise<PayoutResult>;
}

/** Nothing happened that the caller can rely on: retry with the same key. */
export class SettlementUnavailableError extends Error {
  override name = 'SettlementUnavailableError';
}

/** The bank refused our credentials (401, 403): the platform's problem, not the payee's. */
export class SettlementCredentialsError extends Error {
  override name = 'SettlementCredentialsError';
}

/** An answer the gateway cannot read as settled, accepted or rejected: the bank may have paid. */
export class SettlementUnexpectedAnswerError extends Error {
  override name = 'SettlementUnexpectedAnswerError';
}

/** Statuses that say "not now, nothing decided": 408 timeout, 409 a request with this key is in
 * progress, 425 too early, 429 too many requests; and every 5xx. */
const TRANSIENT_STATUSES = new Set([408, 409, 425, 429]);
const CREDENTIAL_STATUSES = new Set([401, 403]);
/** How much of a body an error message quotes. */
const QUOTED_BODY_CHARS_MAX = 200;

/** Reads the bank's answer to a payout. Only a 422 whose body says `rejected` is a rejection. */
export function classifyPayoutAnswer(status: number, text: string): PayoutResult {
  const quoted = text.slice(0, QUOTED_BODY_CHARS_MAX);
  if (status >= 500 || TRANSIENT_STATUSES.has(status)) {
    throw new SettlementUnavailableError(`settlement gateway answered ${status}: ${quoted}`);
  }
  if (CREDENTIAL_STATUSES.has(status)) {
    throw new SettlementCredentialsError(`settlement gateway refused our credentials (${status}): ${quoted}`);
  }
  if (status === 202) return { status: 'accepted' };
  if (status === 200 || status === 422) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = payoutResultSchema.safeParse(json);
    const expected = status === 200 ? 'settled' : 'rejected';
    if (parsed.success && parsed.data.status === expected) return parsed.data;
  }
  throw new SettlementUnexpectedAnswerError(`settlement gateway answered ${status} with a body it cannot read as an answer: ${quoted}`);
}

export interface HttpSettlementGatewayOptions {
  /** Per-request ceiling: a bank that does not answer in time is retried with the same key. */
  request_timeout_ms: number;
}

export const DEFAULT_GATEWAY_OPTIONS: HttpSettlementGatewayOptions = { request_timeout_ms: 10_000 };

export function createHttpSettlementGateway(
  baseUrl: string,
  options: HttpSettlementGatewayOptions = DEFAULT_GATEWAY_OPTIONS,
): SettlementGateway {
  // One request path for both: the same idempotency, timeouts and reading of the answer.
  async function send(path: string, idempotency_key: string, body: string): Promise<PayoutResult> {
    const url = new URL(path, baseUrl).toString();
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotency_key },
        body,
        // A redirect is an answer we do not expect from a bank's payout endpoint: never follow it.
        redirect: 'manual',
        signal: AbortSignal.timeout(options.request_timeout_ms),
      });
    } catch (err) {
      throw new SettlementUnavailableError(`settlement gateway unreachable at ${url}: ${(err as Error).message}`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw new SettlementUnavailableError(`settlement gateway reply lost at ${url}: ${(err as Error).message}`);
    }
    return classifyPayoutAnswer(response.status, text);
  }
  return {
    sendPayout: (instruction) =>
      send('/v1/payouts', instruction.idempotency_key, JSON.stringify(payoutInstructionSchema.parse(instruction))),
    sendDirectDebit: (instruction) =>
      send('/v1/direct-debits', instruction.idempotency_key, JSON.stringify(directDebitInstructionSchema.parse(instruction))),
  };
}
