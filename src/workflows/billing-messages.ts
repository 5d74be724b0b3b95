// Queries, signals and updates of the billing workflow: one definition for the workflow and its
// clients (API, callback receiver, tests).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DirectDebitAnswer, RecordRepayment, RepaymentReceipt, StatementState } from '../domain/billing.js';
import type { Currency } from '../domain/money.js';
import type { TimelineEntry } from '../domain/payment.js';

export interface BillingView {
  company_id: string;
  currency: Currency;
  cycle_number: number;
  /** When the current cycle closes (its statement's cut-off). */
  closes_at: string;
  statement_id: string | null;
  lifecycle: StatementState;
  timeline: TimelineEntry[];
}

export const getBillingQuery = defineQuery<BillingView>('getBilling');
/** The company's bank answered a direct debit (collected, failed), or returned one collected
 * earlier: sent by the settlement callback receiver. Repeats change nothing. */
export const directDebitAnsweredSignal = defineSignal<[{ cycle_number: number; answer: DirectDebitAnswer }]>('directDebitAnswered');
/** A repayment by bank transfer: posted once per idempotency key (the ledger transfer id is
 * derived from it), then applied to the current statement. */
export const recordRepaymentUpdate = defineUpdate<RepaymentReceipt, [RecordRepayment]>('recordRepayment');
