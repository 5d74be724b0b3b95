// Between protobuf messages and the domain: amounts are int64 on the wire (bigint here) and safe
// integers in the domain; strings are validated by the domain's own zod schemas after this.
import { CURRENCIES } from '../../domain/money.js';
import type { CardDecision } from '../../domain/card.js';
import type { PaymentState } from '../../domain/payment.js';
import type { DisputeView } from '../../domain/dispute.js';
import type { Transfer } from '../../ledger/ledger.js';
import { TransferCode, TransferFlags } from '../../domain/ledger.js';
import type { Balance } from '../../ledger/ledger.js';
import type { Card } from '../../cards/cards.js';
import { SpendLimitMeasure, SpendLimitWindow, type SpendLimit as SpendLimitProto } from '../../gen/cardplatform/cards/v1/cards_pb.js';
import type { SpendLimit, SpendLimitMeasure as Measure, SpendLimitWindow as Window } from '../../domain/spend-limits.js';
import type { LimitUsage } from '../../ledger/spend-limits.js';

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

/** A payment as the API answers it; a card payment's disputes when the caller looked them up. */
export function paymentToProto(state: PaymentState, disputes: readonly DisputeView[] = []) {
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
    disputes: disputes.map((d) => ({
      disputeId: d.dispute_id,
      status: d.status,
      amountMinor: BigInt(d.amount_minor),
      openMinor: BigInt(d.open_minor),
      creditedMinor: BigInt(d.credited_minor),
      wonMinor: BigInt(d.won_minor),
      reversedMinor: BigInt(d.reversed_minor),
    })),
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

const WINDOWS: Record<Window, SpendLimitWindow> = {
  day: SpendLimitWindow.DAY,
  week: SpendLimitWindow.WEEK,
  month: SpendLimitWindow.MONTH,
  all_time: SpendLimitWindow.ALL_TIME,
};
const MEASURES: Record<Measure, SpendLimitMeasure> = { amount: SpendLimitMeasure.AMOUNT, count: SpendLimitMeasure.COUNT };
const byValue = <K extends string>(map: Record<K, number>, value: number): K | undefined =>
  (Object.keys(map) as K[]).find((k) => map[k] === value);

/** Wire limits -> the domain's input (validated by spendLimitsSchema after this): an unspecified or
 * unknown enum becomes absent, which the schema refuses naming the field. */
export function spendLimitsFromProto(limits: SpendLimitProto[]): unknown[] {
  return limits.map((l) => ({
    window: byValue(WINDOWS, l.window),
    measure: byValue(MEASURES, l.measure),
    limit: minor(l.limit),
    mccs: l.mccs,
  }));
}

export function spendLimitToProto(l: SpendLimit) {
  return { window: WINDOWS[l.window], measure: MEASURES[l.measure], limit: BigInt(l.limit), mccs: l.mccs };
}

export function limitUsageToProto(u: LimitUsage) {
  return {
    limit: spendLimitToProto(u.limit),
    name: u.name,
    window: u.window_label,
    used: BigInt(u.used),
    remaining: BigInt(Math.max(0, u.limit.limit - u.used)),
  };
}

export function cardToProto(card: Card, usage: { card_limits: LimitUsage[]; company_limits: LimitUsage[] }) {
  return {
    spendLimits: usage.card_limits.map(limitUsageToProto),
    companySpendLimits: usage.company_limits.map(limitUsageToProto),
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
