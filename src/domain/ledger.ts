// Ledger vocabulary shared by the posting engine, activities and workflows (no I/O here).
// Semantics follow TigerBeetle: accounts with four counters, immutable two-phase transfers,
// idempotency by transfer id.

/** Account flags (bit set). */
export const AccountFlags = {
  none: 0,
  /** A company's credit line: debits (pending + posted) may never exceed credits posted. */
  debits_must_not_exceed_credits: 1 << 0,
  credits_must_not_exceed_debits: 1 << 1,
  closed: 1 << 2,
} as const;
export const ACCOUNT_FLAGS_ALL = 0b111;
/** The flags that make an account checked per transfer (and locked by the engine). */
export const LIMIT_FLAGS = AccountFlags.debits_must_not_exceed_credits | AccountFlags.credits_must_not_exceed_debits;

/** What closing an account answers. */
export const CLOSE_ACCOUNT_RESULTS = ['closed', 'already_closed', 'account_not_found', 'account_not_closable'] as const;
export type CloseAccountResult = (typeof CLOSE_ACCOUNT_RESULTS)[number];

/** Transfer flags (bit set). */
export const TransferFlags = {
  none: 0,
  /** This transfer and the next one succeed or fail together (chains end on an unlinked one). */
  linked: 1 << 0,
  /** A hold: moves amounts into the pending counters only. */
  pending: 1 << 1,
  /** Resolves a pending transfer by posting (up to) its amount; the rest is released. */
  post_pending: 1 << 2,
  /** Resolves a pending transfer by releasing all of it. */
  void_pending: 1 << 3,
} as const;
export const TRANSFER_FLAGS_ALL = 0b1111;

/** Account codes: what an account is for. */
export const AccountCode = {
  company_credit_line: 1,
  /** What a company owes beyond its credit line (a late fee or a returned repayment the line
   * could not take): no limit flags, so billing can always charge it. One per company and currency. */
  company_billing_receivable: 2,
  credit_line_issuance: 10,
  payouts_payable: 20,
  settlement_bank: 30,
  /** What the issuer owes the card network for cleared purchases, until the daily net wire. */
  network_payable: 40,
  /** Card spend the network settled beyond a company's credit line (stand-in approvals, over-
   * clearings, force posts): owed by the company, collected by people, never refused. */
  card_overlimit_receivable: 50,
  /** One window of an amount spend limit (debits_must_not_exceed_credits; unit: minor units). */
  spend_limit_amount: 60,
  /** One window of a count spend limit (debits_must_not_exceed_credits; unit: authorizations). */
  spend_limit_count: 61,
  /** Grants a scope's spend-limit windows their headroom (no flags). */
  spend_limit_source: 62,
  /** Late fees charged by billing's dunning. */
  billing_fee_income: 70,
  /** Provisional credit given to companies for open disputes: owed back by the company (lost) or
   * by the network (won). */
  dispute_receivable: 80,
  /** Won disputes: the network owes them, paid in its settlement. */
  chargeback_receivable: 81,
  /** The other side of every payment's disputable allowance (a counterweight, never limited). */
  dispute_allowance: 82,
  /** Per card payment: credited what was posted, debited by refunds and disputes; it may never
   * go below zero, so a dispute cannot exceed what is posted and not yet refunded or disputed. */
  payment_disputable: 83,
  /** Per card payment: one unit, held by its open dispute, so it has at most one at a time. */
  payment_dispute_slot: 84,
} as const;
export type AccountCodeName = keyof typeof AccountCode;

/** Transfer codes: why money moved. */
export const TransferCode = {
  credit_line_grant: 1,
  payout_hold: 100,
  payout_posting: 101,
  payout_hold_release: 102,
  payout_reversal: 103,
  payout_settlement: 104,
  /** A card authorization or increment: pending, company -> network payable. */
  card_hold: 200,
  /** Releases a card hold in full (reversal, expiry, late decision, resize). */
  card_hold_release: 201,
  /** Posts (part of) a card hold: a clearing. */
  card_clearing: 202,
  /** A clearing with no open hold (after expiry, or no authorization at all). */
  card_force_post: 203,
  /** The part of a clearing above its hold (tips, fuel, hotels). */
  card_over_clearing: 204,
  /** A refund or return: network payable -> company. */
  card_refund: 205,
  /** The daily net wire to the card network: network payable -> settlement bank. */
  network_settlement: 300,
  /** A cycle's won chargebacks, settled by the network in the cycle's net: chargeback receivable
   * -> network payable (src/activities/network-settlement.ts). */
  network_chargeback_settlement: 301,
  /** A spend-limit window's one-time headroom: source -> window. */
  spend_limit_headroom: 400,
  /** What an authorization uses of an amount limit: pending, window -> source, beside its hold. */
  spend_limit_use: 401,
  /** What an authorization uses of a count limit (1): pending, window -> source. */
  spend_limit_count_use: 402,
  /** Gives a use back (the hold was reversed, expired, resized or voided). */
  spend_limit_release: 403,
  /** Keeps a use for good (the hold was cleared). */
  spend_limit_post: 404,
  /** Checks the room left under a limit below the headroom: pending, voided in the same chain. */
  spend_limit_probe: 405,
  spend_limit_probe_void: 406,
  /** A company's repayment of its statement (direct debit or bank transfer): settlement bank ->
   * company. Restores the credit line. */
  billing_repayment: 500,
  /** A repayment the company's bank returned (a direct debit reversed): company -> settlement bank. */
  billing_repayment_return: 501,
  /** A late fee (dunning): company -> billing fee income. */
  billing_late_fee: 502,
  /** A clearing of a card payment makes that much disputable (allowance account, per clearing). */
  dispute_allowance_grant: 600,
  /** A dispute or a refund uses up part of a payment's allowance. */
  dispute_allowance_use: 601,
  /** A dispute that ended without a win (lost, withdrawn, reduced by a refund) gives it back. */
  dispute_allowance_release: 602,
  /** Provisional credit: dispute receivable -> company. */
  dispute_provisional_credit: 603,
  /** Provisional credit taken back: company (or the over-limit receivable) -> dispute receivable. */
  dispute_credit_reversal: 604,
  /** A won dispute: the network owes it (chargeback receivable -> dispute receivable). */
  dispute_won: 605,
  /** The payment's single dispute slot: granted once, held (pending) by the open dispute. */
  dispute_slot_grant: 606,
  dispute_slot_hold: 607,
  dispute_slot_release: 608,
} as const;

/** Transfer codes that charge a company (their amounts add to its net charge). */
export const CHARGE_CODES: ReadonlySet<number> = new Set([
  TransferCode.payout_posting,
  TransferCode.card_clearing,
  TransferCode.card_force_post,
  TransferCode.card_over_clearing,
]);
/** Transfer codes that give a company money back. */
export const CREDIT_BACK_CODES: ReadonlySet<number> = new Set([TransferCode.payout_reversal, TransferCode.card_refund]);
/** Transfer codes of holds (pending transfers). */
export const HOLD_CODES: ReadonlySet<number> = new Set([TransferCode.payout_hold, TransferCode.card_hold]);

export const TRANSFER_RESULTS = [
  'created',
  'exists',
  'exists_with_different_flags',
  'exists_with_different_pending_id',
  'exists_with_different_debit_account_id',
  'exists_with_different_credit_account_id',
  'exists_with_different_amount',
  'exists_with_different_currency',
  'exists_with_different_code',
  'exists_with_different_payment_id',
  'id_already_failed',
  'linked_event_failed',
  'linked_event_chain_open',
  'flags_are_mutually_exclusive',
  'debit_account_not_found',
  'credit_account_not_found',
  'accounts_must_be_different',
  'currency_mismatch',
  'amount_must_be_positive',
  'pending_id_required',
  'pending_id_must_be_empty',
  'pending_id_must_be_different',
  'pending_transfer_not_found',
  'pending_transfer_not_pending',
  'pending_transfer_has_different_debit_account_id',
  'pending_transfer_has_different_credit_account_id',
  'pending_transfer_already_posted',
  'pending_transfer_already_voided',
  'exceeds_pending_transfer_amount',
  'pending_transfer_has_different_amount',
  'account_closed',
  'exceeds_credits',
  'exceeds_debits',
  'overflows',
] as const;
export type TransferResult = (typeof TRANSFER_RESULTS)[number];

export const ACCOUNT_RESULTS = [
  'created',
  'exists',
  'exists_with_different_currency',
  'exists_with_different_code',
  'exists_with_different_flags',
  'flags_are_mutually_exclusive',
] as const;
export type AccountResult = (typeof ACCOUNT_RESULTS)[number];

/** Results after which a retry of the same id can only ever give `id_already_failed`: outcomes
 * that depend on ledger state rather than on the request itself, so a retry must not flip them. */
export const RESULTS_RECORDED_AS_FAILED: ReadonlySet<TransferResult> = new Set<TransferResult>([
  'debit_account_not_found',
  'credit_account_not_found',
  'pending_transfer_not_found',
  'account_closed',
  'exceeds_credits',
  'exceeds_debits',
  'overflows',
]);

export function isSuccess(result: TransferResult | AccountResult): boolean {
  return result === 'created' || result === 'exists';
}
