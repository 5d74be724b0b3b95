// The settlement gateway: how a payout reaches the payee's bank. Activities depend on this
// interface; `createHttpSettlementGateway` talks to a bank (or the simulator) over HTTP.
import { z } from 'zod';
import { amountMinorSchema, currencySchema } from '../domain/money.js';
import { payeeSchema } from '../domain/payment.js';

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
]);
export type PayoutResult = z.infer<typeof payoutResultSchema>;

export interface SettlementGateway {
  /** Resolves with the bank's final answer; throws on anything transient (retry with the same key). */
  sendPayout(instruction: PayoutInstruction): Promise<PayoutResult>;
}

export class SettlementUnavailableError extends Error {
  override name = 'SettlementUnavailableError';
}

/** Per-request ceiling: a bank that does not answer in time is retried with the same key. */
const REQUEST_TIMEOUT_MS_MAX = 10_000;

export function createHttpSettlementGateway(baseUrl: string): SettlementGateway {
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
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS_MAX),
        });
      } catch (err) {
        throw new SettlementUnavailableError(`settlement gateway unreachable at ${url}: ${(err as Error).message}`);
      }
      const text = await response.text();
      if (response.status >= 500 || response.status === 429) {
        throw new SettlementUnavailableError(`settlement gateway answered ${response.status}: ${text.slice(0, 200)}`);
      }
      if (response.status === 200 || response.status === 422) {
        return payoutResultSchema.parse(JSON.parse(text));
      }
      // Any other 4xx means the bank will never accept this instruction as sent.
      return { status: 'rejected', reason: `bank refused the request (${response.status}): ${text.slice(0, 200)}` };
    },
  };
}
