// The settlement gateway: how a payout reaches the payee's bank. Activities depend on this
// interface; `createHttpSettlementGateway` talks to a bank (or the simulator) over HTTP.
// A bank answers a payout either at once (200 settled / 422 rejected) or by accepting it (202) and
// confirming later with a callback (`settlementCallbackSchema`, received by callback-receiver.ts).
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

export interface SettlementGateway {
  /** Resolves with the bank's answer, final or `accepted` (final answer by callback); throws on
   * anything transient (retry with the same key). */
  sendPayout(instruction: PayoutInstruction): Promise<PayoutResult>;
}

export class SettlementUnavailableError extends Error {
  override name = 'SettlementUnavailableError';
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
  const url = new URL('/v1/payouts', baseUrl).toString();
  return {
    async sendPayout(instruction) {
      const body = JSON.stringify(payoutInstructionSchema.parse(instruction));
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': instruction.idempotency_key },
          body,
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
      if (response.status >= 500 || response.status === 429) {
        throw new SettlementUnavailableError(`settlement gateway answered ${response.status}: ${text.slice(0, 200)}`);
      }
      if (response.status === 200 || response.status === 422) {
        return payoutResultSchema.parse(JSON.parse(text));
      }
      if (response.status === 202) return { status: 'accepted' };
      // Any other 4xx means the bank will never accept this instruction as sent.
      return { status: 'rejected', reason: `bank refused the request (${response.status}): ${text.slice(0, 200)}` };
    },
  };
}
