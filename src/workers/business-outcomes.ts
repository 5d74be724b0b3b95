// Which activity failures are business outcomes (a hold declined, a payout the bank rejected, a
// payment refused as invalid): the answer the payment gets, not a fault to retry or page about.
import { BUSINESS_FAILURE_TYPES } from '../domain/payment.js';

const TYPES: ReadonlySet<string> = new Set(Object.values(BUSINESS_FAILURE_TYPES));

/** True for an error (or its logged form) whose `type` is one of BUSINESS_FAILURE_TYPES. */
export function isBusinessOutcome(err: unknown): boolean {
  const type = (err as { type?: unknown } | null | undefined)?.type;
  return typeof type === 'string' && TYPES.has(type);
}
