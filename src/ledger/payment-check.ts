// Invariant 5 of DESIGN.md: every payment's transfers agree with its state. What the company was
// charged, net of reversals and refunds, and what is still held, recomputed from the ledger.
import { CHARGE_CODES, CREDIT_BACK_CODES, HOLD_CODES, TransferFlags } from '../domain/ledger.js';
import type { PaymentState } from '../domain/payment.js';
import type { Ledger, Transfer } from './ledger.js';

export interface PaymentLedgerTotals {
  /** Charged minus given back. */
  net_charged_minor: number;
  /** Pending transfers not yet posted or released. */
  held_minor: number;
}

export function paymentLedgerTotals(transfers: readonly Transfer[]): PaymentLedgerTotals {
  const resolved = new Set(transfers.filter((t) => t.pending_id !== null).map((t) => t.pending_id));
  let net_charged_minor = 0;
  let held_minor = 0;
  for (const t of transfers) {
    if (CHARGE_CODES.has(t.code)) net_charged_minor += t.amount_minor;
    if (CREDIT_BACK_CODES.has(t.code)) net_charged_minor -= t.amount_minor;
    if (HOLD_CODES.has(t.code) && (t.flags & TransferFlags.pending) !== 0 && !resolved.has(t.id)) held_minor += t.amount_minor;
  }
  return { net_charged_minor, held_minor };
}

/** null when the payment's transfers agree with its state, else what disagrees. */
export function comparePaymentWithTransfers(state: PaymentState, transfers: readonly Transfer[]): string | null {
  const totals = paymentLedgerTotals(transfers);
  const expected_charged = state.posted_minor - state.reversed_minor - state.refunded_minor;
  const problems: string[] = [];
  if (totals.net_charged_minor !== expected_charged) {
    problems.push(`charged ${totals.net_charged_minor} in the ledger, ${expected_charged} by its state`);
  }
  if (totals.held_minor !== state.held_minor) problems.push(`holds ${totals.held_minor} in the ledger, ${state.held_minor} by its state`);
  return problems.length === 0 ? null : `${state.payment_id} (${state.status}): ${problems.join('; ')}`;
}

/** null when the payment's transfers agree with its state, else what disagrees. */
export async function checkPaymentAgainstLedger(ledger: Ledger, state: PaymentState): Promise<string | null> {
  return comparePaymentWithTransfers(state, await ledger.getPaymentTransfers(state.payment_id));
}
