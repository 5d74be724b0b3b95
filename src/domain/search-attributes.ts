// Custom search attributes: what ops filter payments by in the Temporal Web UI. Registered at start
// (dev server flags, or the operator API on a real server). Never put secrets here: search
// attributes are stored and indexed in clear.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const PaymentStatusKey = defineSearchAttributeKey('PaymentStatus', SearchAttributeType.KEYWORD);
export const PaymentKindKey = defineSearchAttributeKey('PaymentKind', SearchAttributeType.KEYWORD);
export const CompanyIdKey = defineSearchAttributeKey('CompanyId', SearchAttributeType.KEYWORD);
export const AmountMinorKey = defineSearchAttributeKey('AmountMinor', SearchAttributeType.INT);
export const CurrencyKey = defineSearchAttributeKey('Currency', SearchAttributeType.KEYWORD);
export const NeedsAttentionKey = defineSearchAttributeKey('NeedsAttention', SearchAttributeType.BOOL);
/** Card payments: the card and the merchant's category (ISO 18245). A card id is not a card
 * number: it names the card without revealing it. */
export const CardIdKey = defineSearchAttributeKey('CardId', SearchAttributeType.KEYWORD);
export const MerchantCategoryKey = defineSearchAttributeKey('MerchantCategory', SearchAttributeType.KEYWORD);
/** Billing workflows (billing-<company>-<currency>): the current statement's status
 * (src/domain/billing.ts STATEMENT_STATUSES), e.g. `StatementStatus = "PAST_DUE"`. */
export const StatementStatusKey = defineSearchAttributeKey('StatementStatus', SearchAttributeType.KEYWORD);

/** Disputes: their stage, and the card payment they dispute (the Web UI's link between them). */
export const DisputeStatusKey = defineSearchAttributeKey('DisputeStatus', SearchAttributeType.KEYWORD);
export const DisputedPaymentIdKey = defineSearchAttributeKey('DisputedPaymentId', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [
  PaymentStatusKey,
  PaymentKindKey,
  CompanyIdKey,
  AmountMinorKey,
  CurrencyKey,
  NeedsAttentionKey,
  CardIdKey,
  MerchantCategoryKey,
  StatementStatusKey,
  DisputeStatusKey,
  DisputedPaymentIdKey,
];

/** The dev server's `--search-attribute Name=Type` spelling of each key. */
export function devServerSearchAttributeArgs(): string[] {
  const cliType: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', BOOL: 'Bool' };
  return SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${cliType[key.type]}`]);
}

/** A card payment started with CARD_WORKFLOW_VERSION 1 or later (src/domain/card.ts) leaves
 * PaymentStatus unset while its status is the one its execution status implies: open, it is
 * AUTHORIZED (a hold waiting for its clearing, or a decision being made); closed (Completed), it
 * SETTLED. Any other status is written, so a purchase that authorizes and clears costs no upsert
 * (docs/performance.md, engine work per purchase) and every other outcome is still searchable.
 * Payouts, and card payments started before, always carry PaymentStatus. */
export const IMPLIED_CARD_STATUS = { Running: 'AUTHORIZED', Completed: 'SETTLED' } as const;

/** The payment's status from its visibility record: PaymentStatus, else the one its execution
 * status implies for a card payment; null when neither tells. `execution_status` as the client
 * has it: the SDK's name ('RUNNING', 'COMPLETED') or the API's enum number (1, 2). */
export function visibleStatus(
  attribute: string | undefined,
  kind: string | undefined,
  execution_status: string | number | null | undefined,
): string | null {
  if (attribute !== undefined) return attribute;
  if (kind !== 'card') return null;
  if (execution_status === 'RUNNING' || execution_status === 1) return IMPLIED_CARD_STATUS.Running;
  if (execution_status === 'COMPLETED' || execution_status === 2) return IMPLIED_CARD_STATUS.Completed;
  return null;
}

/** The visibility query clause of payments in `status` (a PAYMENT_STATUSES value, checked by the
 * caller: it goes into the query as is), the implied card status included. */
export function paymentStatusClause(status: string): string {
  const implied = Object.entries(IMPLIED_CARD_STATUS).find(([, s]) => s === status)?.[0];
  const written = `${PaymentStatusKey.name} = '${status}'`;
  if (!implied) return written;
  return `(${written} OR (${PaymentKindKey.name} = 'card' AND ${PaymentStatusKey.name} IS NULL AND ExecutionStatus = '${implied}'))`;
}
