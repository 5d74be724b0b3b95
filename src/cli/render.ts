// Tables of the API's messages.
import type { Card, SpendLimitUsage } from '../gen/cardplatform/cards/v1/cards_pb.js';
import { CardStatus, SpendLimitMeasure } from '../gen/cardplatform/cards/v1/cards_pb.js';
import type { Account, Transfer } from '../gen/cardplatform/ledger/v1/ledger_pb.js';
import type { Decision, Payment, PaymentSummary } from '../gen/cardplatform/payments/v1/payments_pb.js';
import { record, table } from './output.js';

export function renderDecision(d: Decision | undefined): string {
  if (!d) return '(no decision)';
  return record({
    approved: d.approved ? 'yes' : 'no',
    decline_reason: d.declineReason,
    stand_in: d.standIn ? 'yes (the decision was late)' : 'no',
    held_minor: d.heldMinor,
  });
}

export function renderPayment(p: Payment | undefined): string {
  if (!p) return '(no payment)';
  const head = record({
    payment_id: p.paymentId,
    kind: p.kind,
    status: p.status,
    company_id: p.companyId,
    card_id: p.cardId,
    currency: p.currency,
    amount_minor: p.amountMinor,
    authorized_minor: p.authorizedMinor,
    held_minor: p.heldMinor,
    posted_minor: p.postedMinor,
    reversed_minor: p.reversedMinor,
    refunded_minor: p.refundedMinor,
    settled_minor: p.settledMinor,
    decline_reason: p.declineReason,
    needs_attention: p.needsAttention ? 'yes' : 'no',
  });
  return withTimeline(head, p.timeline);
}

/** A record followed by its timeline (payments, disputes). */
export function withTimeline(head: string, timeline: ReadonlyArray<{ at: string; event: string; detail: string }>): string {
  if (timeline.length === 0) return head;
  return `${head}\n\ntimeline\n${table(
    timeline.map((e) => ({ at: e.at, event: e.event, detail: e.detail })),
    ['at', 'event', 'detail'],
  )}`;
}

export function renderPaymentList(payments: PaymentSummary[], next: string): string {
  const rows = payments.map((p) => ({
    payment_id: p.paymentId,
    kind: p.kind,
    status: p.status,
    company_id: p.companyId,
    card_id: p.cardId,
    amount_minor: p.amountMinor,
    currency: p.currency,
    attention: p.needsAttention ? 'yes' : '',
    started_at: p.startedAt,
  }));
  const body = table(rows, [
    'payment_id',
    'kind',
    'status',
    'company_id',
    'card_id',
    'amount_minor',
    'currency',
    'attention',
    'started_at',
  ]);
  return next ? `${body}\n\nmore: --page-token ${next}` : body;
}

export function renderAccount(a: Account | undefined): string {
  if (!a) return '(no account)';
  return record({
    account_id: a.accountId,
    company_id: a.companyId,
    currency: a.currency,
    available_minor: a.availableMinor,
    credits_posted: a.creditsPosted,
    credits_pending: a.creditsPending,
    debits_posted: a.debitsPosted,
    debits_pending: a.debitsPending,
  });
}

export function renderTransfers(transfers: Transfer[], next: string): string {
  const flags = (t: Transfer) =>
    [t.pending && 'pending', t.postPending && 'post_pending', t.voidPending && 'void_pending'].filter(Boolean).join(',');
  const rows = transfers.map((t) => ({
    transfer_id: t.transferId,
    code: t.code,
    amount_minor: t.amountMinor,
    currency: t.currency,
    flags: flags(t),
    debit_account_id: t.debitAccountId,
    credit_account_id: t.creditAccountId,
    payment_id: t.paymentId,
    created_at: t.createdAt,
  }));
  const body = table(rows, [
    'transfer_id',
    'code',
    'amount_minor',
    'currency',
    'flags',
    'debit_account_id',
    'credit_account_id',
    'payment_id',
    'created_at',
  ]);
  return next ? `${body}\n\nmore: --page-token ${next}` : body;
}

export function renderCard(c: Card | undefined): string {
  if (!c) return '(no card)';
  const head = record({
    card_id: c.cardId,
    company_id: c.companyId,
    currency: c.currency,
    status: c.status === CardStatus.ACTIVE ? 'active' : c.status === CardStatus.FROZEN ? 'frozen' : 'unspecified',
    transaction_limit_minor: c.transactionLimitMinor ?? 'none',
    blocked_mccs: c.blockedMccs.join(', ') || 'none',
    account_id: c.accountId,
  });
  const limits = [...c.spendLimits, ...c.companySpendLimits];
  return limits.length === 0 ? head : `${head}\n\nspend limits\n${renderLimitUsage(limits)}`;
}

/** Spend limits with what their current windows used. */
export function renderLimitUsage(limits: SpendLimitUsage[]): string {
  return table(
    limits.map((u) => ({
      limit: u.name,
      window: u.window,
      max: u.limit?.limit ?? 0n,
      used: u.used,
      remaining: u.remaining,
      unit: u.limit?.measure === SpendLimitMeasure.COUNT ? 'authorizations' : 'minor units',
    })),
    ['limit', 'window', 'max', 'used', 'remaining', 'unit'],
  );
}
