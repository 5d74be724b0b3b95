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
