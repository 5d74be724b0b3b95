// Between protobuf messages and the domain: amounts are int64 on the wire (bigint here) and safe
// integers in the domain; strings are validated by the domain's own zod schemas after this.
import { CURRENCIES } from '../../domain/money.js';
import type { CardDecision } from '../../domain/card.js';
import type { PaymentState } from '../../domain/payment.js';
import type { Transfer } from '../../ledger/ledger.js';
import { TransferCode, TransferFlags } from '../../domain/ledger.js';
import type { Balance } from '../../ledger/ledger.js';
import type { Card } from '../../cards/cards.js';

/** int64 -> number for the domain schemas. Values beyond the safe range become NaN, which every
 * amount schema refuses ("must be a number of minor units"), so nothing is silently rounded. */
export function minor(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(value);
}

/** An optional int64: absent stays absent. */
export function optionalMinor(value: bigint | undefined): number | undefined {
  return value === undefined ? undefined : minor(value);
}

/** An empty proto3 string is "not given": let the schema say the field is required. */
export function given(value: string): string | undefined {
  return value === '' ? undefined : value;
}

/** A card decision (authorization, increment) as the API answers it. */
export function decisionToProto(decision: CardDecision) {
  return {
    approved: decision.approved,
    declineReason: decision.reason ?? '',
    standIn: decision.stand_in,
    heldMinor: BigInt(decision.held_minor),
  };
}

export function paymentToProto(state: PaymentState) {
  return {
    paymentId: state.payment_id,
    kind: state.kind,
    status: state.status,
    currency: state.currency,
    amountMinor: BigInt(state.amount_minor),
    authorizedMinor: BigInt(state.authorized_minor),
    heldMinor: BigInt(state.held_minor),
    postedMinor: BigInt(state.posted_minor),
    reversedMinor: BigInt(state.reversed_minor),
    refundedMinor: BigInt(state.refunded_minor),
    settledMinor: BigInt(state.settled_minor),
    companyId: state.company_id ?? '',
    cardId: state.card_id ?? '',
    declineReason: state.decline_reason ?? '',
    needsAttention: state.needs_attention,
    timeline: state.timeline.map((e) => ({ at: e.at, event: e.event, detail: e.detail ?? '' })),
  };
}

const TRANSFER_CODE_NAMES = new Map<number, string>(Object.entries(TransferCode).map(([name, code]) => [code, name]));

export function transferToProto(t: Transfer) {
  return {
    transferId: t.id,
    debitAccountId: t.debit_account_id,
    creditAccountId: t.credit_account_id,
    amountMinor: BigInt(t.amount_minor),
    currency: t.currency,
    code: TRANSFER_CODE_NAMES.get(t.code) ?? String(t.code),
    pending: (t.flags & TransferFlags.pending) !== 0,
    postPending: (t.flags & TransferFlags.post_pending) !== 0,
    voidPending: (t.flags & TransferFlags.void_pending) !== 0,
    pendingId: t.pending_id ?? '',
    paymentId: t.payment_id ?? '',
    createdAt: t.created_at?.toISOString() ?? '',
  };
}

export function accountToProto(balance: Balance, company_id: string) {
  return {
    accountId: balance.account_id,
    companyId: company_id,
    currency: balance.currency,
    debitsPending: balance.debits_pending,
    debitsPosted: balance.debits_posted,
    creditsPending: balance.credits_pending,
    creditsPosted: balance.credits_posted,
    availableMinor: balance.available,
  };
}

export function cardToProto(card: Card) {
  return {
    cardId: card.card_id,
    companyId: card.company_id,
    currency: card.currency,
    status: card.status === 'active' ? 1 : 2,
    ...(card.transaction_limit_minor !== null ? { transactionLimitMinor: BigInt(card.transaction_limit_minor) } : {}),
    blockedMccs: card.blocked_mccs,
    accountId: card.account_id,
  };
}

export const KNOWN_CURRENCIES: ReadonlySet<string> = new Set(CURRENCIES);
