// Spend limits enforced by the ledger, in the same transaction as the credit-line hold.
//
// Each limit's window is an account (code spend_limit_amount / spend_limit_count, unit NO_CURRENCY,
// flag debits_must_not_exceed_credits) whose identity holds the scope, the limit and the window's
// start, so a new window is a new account: rollover needs no job and no write. The account is
// granted a fixed headroom H once (the largest limit of its measure), from a per-scope source.
// An authorization's hold chain then carries, per limit that applies:
//
//   use    window -> source, pending, the hold's amount (or 1 for a count limit)
//   probe  window -> source, pending, H - limit      (only when limit < H)
//   void   of the probe
//
// so the chain fails, `exceeds_credits` on the use or the probe, exactly when used + this > limit
// (TigerBeetle's balance-conditional transfer). The probe is voided in the same chain, so it
// leaves nothing held; the limit itself lives only in the card's configuration and a change takes
// effect at the next authorization, with no ledger write. The window account is locked by the
// batch like the credit line, so two concurrent authorizations can never both pass a limit that
// only one fits. A use is resolved with its hold: voided when the hold is released (reversal,
// expiry, late decision), posted when it is cleared.
import { AccountCode, AccountFlags, TransferCode, TransferFlags } from '../domain/ledger.js';
import { NO_CURRENCY, type Currency } from '../domain/money.js';
import {
  spendLimitApplies,
  spendLimitHeadroom,
  spendLimitKey,
  spendLimitName,
  windowLabel,
  type SpendLimit,
  type SpendLimitDeclineReason,
  type SpendLimitScope,
} from '../domain/spend-limits.js';
import { spendLimitAccountId, spendLimitSourceId, transferId } from './ids.js';
import type { AccountInput, Ledger, Transfer, TransferInput } from './ledger.js';

/** One limit as it applies to one authorization: its window's account and the source. */
export interface AppliedLimit {
  name: SpendLimitDeclineReason;
  limit: SpendLimit;
  account_id: string;
  source_id: string;
  window_label: string;
}

export interface LimitHolder {
  card_id: string;
  company_id: string;
  currency: Currency;
  spend_limits: SpendLimit[];
  company_spend_limits: SpendLimit[];
}

function applied(scope: SpendLimitScope, scope_id: string, currency: Currency, limit: SpendLimit, at_ms: number): AppliedLimit {
  const window_label = windowLabel(limit.window, at_ms);
  return {
    name: spendLimitName(scope, limit),
    limit,
    account_id: spendLimitAccountId(scope, scope_id, currency, spendLimitKey(limit), window_label),
    source_id: spendLimitSourceId(scope, scope_id, currency, limit.measure),
    window_label,
  };
}

/** The limits an authorization at `mcc` at `at_ms` counts towards: the card's, then its company's. */
export function applicableLimits(card: LimitHolder, mcc: string, at_ms: number): AppliedLimit[] {
  return [
    ...card.spend_limits.filter((l) => spendLimitApplies(l, mcc)).map((l) => applied('card', card.card_id, card.currency, l, at_ms)),
    ...card.company_spend_limits
      .filter((l) => spendLimitApplies(l, mcc))
      .map((l) => applied('company', card.company_id, card.currency, l, at_ms)),
  ];
}

/** Every limit of a scope in the window holding `at_ms` (GetCard's usage), whatever the category. */
export function scopeLimits(scope: SpendLimitScope, scope_id: string, currency: Currency, limits: SpendLimit[], at_ms: number) {
  return limits.map((l) => applied(scope, scope_id, currency, l, at_ms));
}

const windowCode = (l: SpendLimit) => (l.measure === 'amount' ? AccountCode.spend_limit_amount : AccountCode.spend_limit_count);

/** The accounts and one-time headroom grants a set of limits needs before a chain may use them. */
export function limitSetup(limits: AppliedLimit[]): { accounts: AccountInput[]; grants: TransferInput[] } {
  const accounts = new Map<string, AccountInput>();
  const grants: TransferInput[] = [];
  for (const a of limits) {
    accounts.set(a.source_id, { id: a.source_id, currency: NO_CURRENCY, code: AccountCode.spend_limit_source, flags: AccountFlags.none });
    accounts.set(a.account_id, {
      id: a.account_id,
      currency: NO_CURRENCY,
      code: windowCode(a.limit),
      flags: AccountFlags.debits_must_not_exceed_credits,
    });
    grants.push({
      id: transferId(`spend-limit:${a.account_id}`, 'grant', 'headroom'),
      debit_account_id: a.source_id,
      credit_account_id: a.account_id,
      amount_minor: spendLimitHeadroom(a.limit.measure),
      currency: NO_CURRENCY,
      code: TransferCode.spend_limit_headroom,
    });
  }
  return { accounts: [...accounts.values()], grants };
}

/** Window accounts remembered as set up, at most this many per process (then forgotten at once:
 * setting up again is idempotent, only slower). */
export const LIMIT_ACCOUNTS_REMEMBERED_MAX = 100_000;

/** Sets up limit accounts and their headroom once per process (idempotent: `exists` is fine). */
export function createLimitAccounts(deps: {
  ledger: Pick<Ledger, 'createAccounts'>;
  submit: (transfers: TransferInput[]) => Promise<Array<{ id: string; result: string }>>;
}) {
  const ready = new Set<string>();
  return async function ensure(limits: AppliedLimit[]): Promise<void> {
    const missing = limits.filter((a) => !ready.has(a.account_id));
    if (missing.length === 0) return;
    const { accounts, grants } = limitSetup(missing);
    const created = await deps.ledger.createAccounts(accounts);
    const badAccount = created.find((r) => r.result !== 'created' && r.result !== 'exists');
    if (badAccount) throw new Error(`spend-limit account ${badAccount.id}: ${badAccount.result}`);
    const granted = await deps.submit(grants);
    const badGrant = granted.find((r) => r.result !== 'created' && r.result !== 'exists');
    if (badGrant) throw new Error(`spend-limit headroom ${badGrant.id}: ${badGrant.result}`);
    if (ready.size + missing.length > LIMIT_ACCOUNTS_REMEMBERED_MAX) ready.clear();
    for (const a of missing) ready.add(a.account_id);
  };
}

/** The ids of one hold's use of one limit (and its probe). `hold_key` is the hold's key. */
export const limitTransferIds = (payment_id: string, hold_key: string, account_id: string) => ({
  use: transferId(payment_id, 'spend_limit_use', `${hold_key}|${account_id}`),
  probe: transferId(payment_id, 'spend_limit_probe', `${hold_key}|${account_id}`),
  probeVoid: transferId(payment_id, 'spend_limit_probe_void', `${hold_key}|${account_id}`),
});

/** What one hold uses of each limit, checked against the limits (probes), as chain links (every
 * transfer flagged linked: the hold that ends the chain comes after them). `checked`: false for a
 * use that only moves room an earlier use of the same payment held (never refused). `refusals`
 * maps a use's or probe's id to the limit it names. */
export function limitUses(
  payment_id: string,
  hold_key: string,
  limits: AppliedLimit[],
  amount_minor: number,
  checked: boolean,
): { chain: TransferInput[]; refusals: Map<string, SpendLimitDeclineReason> } {
  const chain: TransferInput[] = [];
  const refusals = new Map<string, SpendLimitDeclineReason>();
  for (const a of limits) {
    const ids = limitTransferIds(payment_id, hold_key, a.account_id);
    const count = a.limit.measure === 'count';
    chain.push({
      id: ids.use,
      debit_account_id: a.account_id,
      credit_account_id: a.source_id,
      amount_minor: count ? 1 : amount_minor,
      currency: NO_CURRENCY,
      code: count ? TransferCode.spend_limit_count_use : TransferCode.spend_limit_use,
      flags: TransferFlags.pending | TransferFlags.linked,
      payment_id,
    });
    refusals.set(ids.use, a.name);
    const headroom = spendLimitHeadroom(a.limit.measure);
    if (checked && a.limit.limit < headroom) {
      chain.push(
        {
          id: ids.probe,
          debit_account_id: a.account_id,
          credit_account_id: a.source_id,
          amount_minor: headroom - a.limit.limit,
          currency: NO_CURRENCY,
          code: TransferCode.spend_limit_probe,
          flags: TransferFlags.pending | TransferFlags.linked,
          payment_id,
        },
        {
          id: ids.probeVoid,
          pending_id: ids.probe,
          code: TransferCode.spend_limit_probe_void,
          flags: TransferFlags.void_pending | TransferFlags.linked,
          payment_id,
        },
      );
      refusals.set(ids.probe, a.name);
    }
  }
  return { chain, refusals };
}

const USE_CODES: ReadonlySet<number> = new Set([TransferCode.spend_limit_use, TransferCode.spend_limit_count_use]);

/** A payment's uses of limits that are still pending (neither released nor posted). */
export function openUses(transfers: readonly Transfer[]): Transfer[] {
  const resolved = new Set(transfers.flatMap((t) => (t.pending_id === null ? [] : [t.pending_id])));
  return transfers.filter((t) => USE_CODES.has(t.code) && (t.flags & TransferFlags.pending) !== 0 && !resolved.has(t.id));
}

export const isAmountUse = (t: Transfer) => t.code === TransferCode.spend_limit_use;

/** Gives uses back (linked: they travel in the chain of the hold's release). */
export function releaseUses(payment_id: string, uses: readonly Transfer[]): TransferInput[] {
  return uses.map((u) => ({
    id: transferId(payment_id, 'spend_limit_release', u.id),
    pending_id: u.id,
    code: TransferCode.spend_limit_release,
    flags: TransferFlags.void_pending | TransferFlags.linked,
    payment_id,
  }));
}

/** Keeps uses for good as the hold is cleared: an amount use for what was posted from the hold
 * (the rest returns), a count use whole. Linked, like releaseUses. */
export function postUses(payment_id: string, uses: readonly Transfer[], from_hold_minor: number): TransferInput[] {
  return uses.map((u) => {
    const amount = isAmountUse(u) ? Math.min(from_hold_minor, u.amount_minor) : u.amount_minor;
    if (amount <= 0) return releaseUses(payment_id, [u])[0]!;
    return {
      id: transferId(payment_id, 'spend_limit_post', u.id),
      pending_id: u.id,
      amount_minor: amount,
      code: TransferCode.spend_limit_post,
      flags: TransferFlags.post_pending | TransferFlags.linked,
      payment_id,
    };
  });
}

/** New amount uses, on the same window accounts as `uses`, for a hold that replaces part of
 * another (a partial reversal, or what a partial clearing keeps held). Never refused: the room
 * they take was held by the uses they replace, released in the same chain. */
export function carryAmountUses(payment_id: string, hold_key: string, uses: readonly Transfer[], amount_minor: number): TransferInput[] {
  return uses.filter(isAmountUse).map((u) => ({
    id: limitTransferIds(payment_id, hold_key, u.debit_account_id).use,
    debit_account_id: u.debit_account_id,
    credit_account_id: u.credit_account_id,
    amount_minor,
    currency: NO_CURRENCY,
    code: TransferCode.spend_limit_use,
    flags: TransferFlags.pending | TransferFlags.linked,
    payment_id,
  }));
}

/** What a window has used: uses held and posted (probes never stay pending). */
export interface LimitUsage {
  name: SpendLimitDeclineReason;
  limit: SpendLimit;
  window_label: string;
  used: number;
}

export async function limitUsage(ledger: Pick<Ledger, 'getAccounts'>, limits: AppliedLimit[]): Promise<LimitUsage[]> {
  const accounts = new Map((await ledger.getAccounts(limits.map((a) => a.account_id))).map((a) => [a.id, a]));
  return limits.map((a) => {
    const account = accounts.get(a.account_id);
    const used = account ? Number(account.debits_pending + account.debits_posted) : 0;
    return { name: a.name, limit: a.limit, window_label: a.window_label, used };
  });
}

/** A card's limits and its company's (in its currency), each with what its current window used. */
export async function cardLimitUsage(ledger: Pick<Ledger, 'getAccounts'>, card: LimitHolder, at_ms: number) {
  const [card_limits, company_limits] = await Promise.all([
    limitUsage(ledger, scopeLimits('card', card.card_id, card.currency, card.spend_limits, at_ms)),
    limitUsage(ledger, scopeLimits('company', card.company_id, card.currency, card.company_spend_limits, at_ms)),
  ]);
  return { card_limits, company_limits };
}
