// The chart of accounts: platform accounts (one per kind and currency) and company credit lines.
import { AccountCode, AccountFlags, TransferCode, isSuccess } from '../domain/ledger.js';
import type { Currency } from '../domain/money.js';
import { creditLineAccountId, platformAccountId, transferId } from './ids.js';
import type { Ledger } from './ledger.js';

export type PlatformAccountKind =
  | 'credit_line_issuance'
  | 'payouts_payable'
  | 'settlement_bank'
  | 'network_payable'
  | 'card_overlimit_receivable'
  | 'billing_fee_income'
  | 'dispute_receivable'
  | 'chargeback_receivable'
  | 'dispute_allowance';
export const PLATFORM_ACCOUNT_KINDS: readonly PlatformAccountKind[] = [
  'credit_line_issuance',
  'payouts_payable',
  'settlement_bank',
  'network_payable',
  'card_overlimit_receivable',
  'billing_fee_income',
  'dispute_receivable',
  'chargeback_receivable',
  'dispute_allowance',
];

export function platformAccount(kind: PlatformAccountKind, currency: Currency): string {
  return platformAccountId(kind, currency);
}

/** Creates the platform accounts of a currency if missing. Platform accounts carry no limit
 * flags: they may go either way, and that is what lets their updates be summed per batch. */
export async function ensurePlatformAccounts(ledger: Ledger, currency: Currency): Promise<void> {
  const results = await ledger.createAccounts(
    PLATFORM_ACCOUNT_KINDS.map((kind) => ({
      id: platformAccountId(kind, currency),
      currency,
      code: AccountCode[kind],
      flags: AccountFlags.none,
    })),
  );
  const bad = results.filter((r) => !isSuccess(r.result));
  if (bad.length > 0) throw new Error(`platform accounts for ${currency}: ${bad.map((b) => `${b.id} ${b.result}`).join(', ')}`);
}

export interface CreditLineRequest {
  company_id: string;
  currency: Currency;
  limit_minor: number;
  /** Idempotency key of the grant: the same key grants once. */
  grant_key: string;
}

/** Opens a company's credit-line account (debits may never exceed the credit granted) and grants
 * it limit_minor from the issuer. Idempotent: repeating it with the same grant_key changes nothing. */
export async function openCreditLine(ledger: Ledger, request: CreditLineRequest): Promise<string> {
  await ensurePlatformAccounts(ledger, request.currency);
  const account_id = creditLineAccountId(request.company_id, request.currency);
  const [account] = await ledger.createAccounts([
    {
      id: account_id,
      currency: request.currency,
      code: AccountCode.company_credit_line,
      flags: AccountFlags.debits_must_not_exceed_credits,
    },
  ]);
  if (!account || !isSuccess(account.result)) throw new Error(`credit line ${account_id}: ${account?.result}`);
  await ledger.recordCreditLineOwner(account_id, request.company_id, request.currency);
  const [grant] = await ledger.createTransfers([
    {
      id: transferId(`credit-line:${account_id}`, 'grant', request.grant_key),
      debit_account_id: platformAccountId('credit_line_issuance', request.currency),
      credit_account_id: account_id,
      amount_minor: request.limit_minor,
      currency: request.currency,
      code: TransferCode.credit_line_grant,
    },
  ]);
  if (!grant || !isSuccess(grant.result)) throw new Error(`credit line grant for ${account_id}: ${grant?.result}`);
  return account_id;
}
