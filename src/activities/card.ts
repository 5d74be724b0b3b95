// Card activities: the ledger side of a card payment's lifecycle (holds, their resizing and
// release, clearings, force posts, refunds). Thin and idempotent: every transfer id is derived
// from the payment id and the network's event id, so a retried activity submits the same ids and
// the ledger answers `exists`.
import { ApplicationFailure } from '@temporalio/common';
import { cardPaymentSchema, type CardPayment, type DeclineReason } from '../domain/card.js';
import { TransferCode, TransferFlags, isSuccess, type TransferResult } from '../domain/ledger.js';
import type { Currency } from '../domain/money.js';
import { parseOrFail } from '../domain/validation.js';
import { platformAccount } from '../ledger/accounts.js';
import type { TransferBatcher } from '../ledger/batcher.js';
import { holdKey, transferId } from '../ledger/ids.js';
import type { TransferInput, TransferOutcome } from '../ledger/ledger.js';
import type { CardStore } from '../cards/cards.js';
import type { WorkerMetrics } from '../workers/metrics.js';

export interface CardActivityDeps {
  postings: TransferBatcher;
  cards: CardStore;
  /** Decision latency and outcomes (the worker's metrics); absent in tests that do not look. */
  metrics?: Pick<WorkerMetrics, 'cardDecision'> | undefined;
}

/** One open hold of a card payment: a pending transfer, named by the event that placed it. */
export interface HoldRef {
  key: string;
  amount_minor: number;
  /** Booked on the over-limit receivable instead of the company (a stand-in approval past it). */
  overlimit: boolean;
}

export interface CardAccount {
  company_id: string;
  account_id: string;
}

export interface AuthorizeCardInput {
  payment: CardPayment;
  /** 'authorization' for the first one, the network's message id for an increment. */
  event_id: string;
  /** What the payment holds once approved (the increment included). */
  hold_minor: number;
  /** The hold this one replaces (an increment), released in the same database transaction. */
  replaces?: HoldRef | undefined;
  /** The network approved on the issuer's behalf: hold whatever the rules say, past the limit if
   * need be (then on the over-limit receivable). */
  stand_in_approved: boolean;
}

export interface AuthorizeCardResult {
  approved: boolean;
  reason?: DeclineReason;
  hold?: HoldRef;
  card?: CardAccount;
  /** The activity's clock when the decision was made (epoch ms): compared with the deadline. */
  decided_at_ms: number;
}

/** Ledger refusals of a hold, and the reason the network is told. */
const HOLD_REFUSALS: Partial<Record<TransferResult | string, DeclineReason>> = {
  exceeds_credits: 'insufficient_credit',
  account_closed: 'account_closed',
  debit_account_not_found: 'card_not_found',
  currency_mismatch: 'currency_mismatch',
};

export const cardTransferIds = (payment_id: string) => ({
  hold: (key: string) => transferId(payment_id, 'card_hold', key),
  holdRelease: (key: string) => transferId(payment_id, 'card_hold_release', key),
  clearing: (event_id: string) => transferId(payment_id, 'card_clearing', event_id),
  clearingExcess: (event_id: string) => transferId(payment_id, 'card_clearing_excess', event_id),
  clearingOverlimit: (event_id: string) => transferId(payment_id, 'card_clearing_overlimit', event_id),
  refund: (event_id: string) => transferId(payment_id, 'card_refund', event_id),
});

function refusalOf(outcome: TransferOutcome): string {
  return outcome.result === 'id_already_failed' ? (outcome.first_result ?? outcome.result) : outcome.result;
}

/** A ledger answer the saga never expects: a bug or a tampered ledger. Retrying cannot help. */
function unexpected(step: string, outcomes: TransferOutcome[]): ApplicationFailure {
  const detail = outcomes.map((o) => `${o.id} ${o.result}${o.first_result ? ` (${o.first_result})` : ''}`).join(', ');
  return ApplicationFailure.nonRetryable(`${step}: ledger answered ${detail}`, 'LedgerUnexpectedResult');
}

function assertAmount(what: string, amount_minor: number): void {
  if (!(Number.isSafeInteger(amount_minor) && amount_minor > 0)) {
    throw ApplicationFailure.nonRetryable(`${what} must be a positive integer of minor units, got ${amount_minor}`, 'InvalidPayment');
  }
}

export function createCardActivities(deps: CardActivityDeps) {
  const activities = createUnmeteredCardActivities(deps);
  const { metrics } = deps;
  if (!metrics) return activities;
  return {
    ...activities,
    async authorizeCard(input: AuthorizeCardInput): Promise<AuthorizeCardResult> {
      const started_ms = performance.now();
      const result = await activities.authorizeCard(input);
      metrics.cardDecision({
        kind: input.replaces ? 'increment' : 'authorization',
        approved: result.approved,
        reason: result.reason ?? 'none',
        latency_ms: performance.now() - started_ms,
      });
      return result;
    },
  };
}

function createUnmeteredCardActivities({ postings, cards }: CardActivityDeps) {
  /** The account a card payment charges: the company's credit line, or the over-limit
   * receivable for money the network settled past it (or on a card the issuer does not know). */
  const chargedAccount = (card: CardAccount | null, overlimit: boolean, currency: Currency) =>
    overlimit || !card ? platformAccount('card_overlimit_receivable', currency) : card.account_id;

  /** A new pending transfer for `amount_minor`, preceded (same transaction) by the release of
   * `replaces`: resizing a hold is release-and-replace, since a pending transfer never changes. */
  const holdChain = (
    payment: CardPayment,
    key: string,
    debit_account_id: string,
    amount_minor: number,
    replaces: HoldRef | undefined,
  ): TransferInput[] => {
    const ids = cardTransferIds(payment.payment_id);
    const chain: TransferInput[] = [];
    if (replaces) {
      chain.push({
        id: ids.holdRelease(replaces.key),
        pending_id: ids.hold(replaces.key),
        code: TransferCode.card_hold_release,
        flags: TransferFlags.void_pending | TransferFlags.linked,
        payment_id: payment.payment_id,
      });
    }
    chain.push({
      id: ids.hold(key),
      debit_account_id,
      credit_account_id: platformAccount('network_payable', payment.currency),
      amount_minor,
      currency: payment.currency,
      code: TransferCode.card_hold,
      flags: TransferFlags.pending,
      payment_id: payment.payment_id,
    });
    return chain;
  };

  /** A direct charge of the company, or of the over-limit receivable when the company's line
   * cannot take it: the network has settled the money already, so it is never refused. */
  const chargeOrOverlimit = async (
    payment: CardPayment,
    card: CardAccount | null,
    ids: { direct: string; overlimit: string },
    amount_minor: number,
    code: number,
  ): Promise<{ overlimit_minor: number }> => {
    const charge = (id: string, debit_account_id: string): TransferInput => ({
      id,
      debit_account_id,
      credit_account_id: platformAccount('network_payable', payment.currency),
      amount_minor,
      currency: payment.currency,
      code,
      payment_id: payment.payment_id,
    });
    if (card) {
      const [direct] = await postings.submit([charge(ids.direct, card.account_id)]);
      if (direct && isSuccess(direct.result)) return { overlimit_minor: 0 };
      if (!direct || refusalOf(direct) !== 'exceeds_credits') throw unexpected('charge', direct ? [direct] : []);
    }
    const [overlimit] = await postings.submit([charge(ids.overlimit, platformAccount('card_overlimit_receivable', payment.currency))]);
    if (overlimit && isSuccess(overlimit.result)) return { overlimit_minor: amount_minor };
    throw unexpected('charge over limit', overlimit ? [overlimit] : []);
  };

  return {
    /** Looks the card up: which company and credit line it spends from. */
    async resolveCard(input: CardPayment): Promise<CardAccount | null> {
      const payment = parseOrFail(cardPaymentSchema, input, 'card payment');
      const card = await cards.get(payment.card_id);
      return card ? { company_id: card.company_id, account_id: card.account_id } : null;
    },

    /** Decides an authorization or increment and places its hold in one step (the network waits
     * for the answer): the card's rules first, then the credit line, checked by the ledger in
     * the same transaction that writes the hold. */
    async authorizeCard(input: AuthorizeCardInput): Promise<AuthorizeCardResult> {
      const payment = parseOrFail(cardPaymentSchema, input.payment, 'card payment');
      assertAmount('hold_minor', input.hold_minor);
      const decline = (reason: DeclineReason, card?: CardAccount): AuthorizeCardResult => ({
        approved: false,
        reason,
        ...(card ? { card } : {}),
        decided_at_ms: Date.now(),
      });
      const card = await cards.get(payment.card_id);
      const account: CardAccount | undefined = card ? { company_id: card.company_id, account_id: card.account_id } : undefined;
      if (!input.stand_in_approved) {
        if (!card) return decline('card_not_found');
        if (card.currency !== payment.currency) return decline('currency_mismatch', account);
        if (card.status !== 'active') return decline('card_frozen', account);
        if (card.blocked_mccs.includes(payment.merchant.mcc)) return decline('merchant_category_blocked', account);
        if (card.transaction_limit_minor !== null && input.hold_minor > card.transaction_limit_minor) {
          return decline('over_transaction_limit', account);
        }
      }
      const tryHold = async (debit_account_id: string, overlimit: boolean) => {
        const key = holdKey(input.event_id, overlimit ? 'overlimit' : undefined);
        const outcomes = await postings.submit(holdChain(payment, key, debit_account_id, input.hold_minor, input.replaces));
        const hold: HoldRef = { key, amount_minor: input.hold_minor, overlimit };
        return { outcomes, hold, failed: outcomes.find((o) => !isSuccess(o.result) && o.result !== 'linked_event_failed') };
      };
      if (account && card?.currency === payment.currency) {
        const first = await tryHold(account.account_id, false);
        if (!first.failed) return { approved: true, hold: first.hold, card: account, decided_at_ms: Date.now() };
        const reason = HOLD_REFUSALS[refusalOf(first.failed)];
        if (!reason) throw unexpected('authorizeCard', first.outcomes);
        if (!input.stand_in_approved) return decline(reason, account);
      }
      // The network approved for us: the money will be cleared whatever our rules say.
      const forced = await tryHold(platformAccount('card_overlimit_receivable', payment.currency), true);
      if (forced.failed) throw unexpected('authorizeCard (stand-in)', forced.outcomes);
      return { approved: true, hold: forced.hold, ...(account ? { card: account } : {}), decided_at_ms: Date.now() };
    },

    /** Releases a hold, or shrinks it to `keep_minor` (a partial reversal): release and replace
     * in one transaction. */
    async releaseCardHold(input: {
      payment: CardPayment;
      event_id: string;
      card: CardAccount | null;
      hold: HoldRef;
      keep_minor: number;
    }): Promise<{ hold: HoldRef | null }> {
      const payment = parseOrFail(cardPaymentSchema, input.payment, 'card payment');
      const ids = cardTransferIds(payment.payment_id);
      if (input.keep_minor === 0) {
        const [outcome] = await postings.submit([
          {
            id: ids.holdRelease(input.hold.key),
            pending_id: ids.hold(input.hold.key),
            code: TransferCode.card_hold_release,
            flags: TransferFlags.void_pending,
            payment_id: payment.payment_id,
          },
        ]);
        if (outcome && isSuccess(outcome.result)) return { hold: null };
        throw unexpected('releaseCardHold', outcome ? [outcome] : []);
      }
      assertAmount('keep_minor', input.keep_minor);
      const key = holdKey(input.event_id, input.hold.overlimit ? 'overlimit' : 'kept');
      const outcomes = await postings.submit(
        holdChain(payment, key, chargedAccount(input.card, input.hold.overlimit, payment.currency), input.keep_minor, input.hold),
      );
      if (outcomes.every((o) => isSuccess(o.result)))
        return { hold: { key, amount_minor: input.keep_minor, overlimit: input.hold.overlimit } };
      throw unexpected('releaseCardHold (partial)', outcomes);
    },

    /** Posts a clearing: against the hold as far as it goes (keeping the rest held when more
     * clearings will follow), and any excess, or the whole amount when nothing is held (a force
     * post), as a direct charge. */
    async clearCard(input: {
      payment: CardPayment;
      event_id: string;
      card: CardAccount | null;
      hold: HoldRef | null;
      amount_minor: number;
      final: boolean;
    }): Promise<{ hold: HoldRef | null; posted_minor: number; overlimit_minor: number }> {
      const payment = parseOrFail(cardPaymentSchema, input.payment, 'card payment');
      assertAmount('clearing amount_minor', input.amount_minor);
      const ids = cardTransferIds(payment.payment_id);
      let hold: HoldRef | null = input.hold;
      let fromHold = 0;
      if (input.hold) {
        fromHold = Math.min(input.amount_minor, input.hold.amount_minor);
        const rest = input.hold.amount_minor - fromHold;
        const keep = !input.final && rest > 0;
        const chain: TransferInput[] = [
          {
            id: ids.clearing(input.event_id),
            pending_id: ids.hold(input.hold.key),
            amount_minor: fromHold,
            code: TransferCode.card_clearing,
            flags: TransferFlags.post_pending | (keep ? TransferFlags.linked : 0),
            payment_id: payment.payment_id,
          },
        ];
        hold = null;
        if (keep) {
          const key = holdKey(input.event_id, input.hold.overlimit ? 'overlimit' : 'kept');
          chain.push(...holdChain(payment, key, chargedAccount(input.card, input.hold.overlimit, payment.currency), rest, undefined));
          hold = { key, amount_minor: rest, overlimit: input.hold.overlimit };
        }
        const outcomes = await postings.submit(chain);
        if (!outcomes.every((o) => isSuccess(o.result))) throw unexpected('clearCard', outcomes);
      }
      const excess = input.amount_minor - fromHold;
      let overlimit_minor = 0;
      if (excess > 0) {
        const charged = await chargeOrOverlimit(
          payment,
          input.card,
          { direct: ids.clearingExcess(input.event_id), overlimit: ids.clearingOverlimit(input.event_id) },
          excess,
          input.hold ? TransferCode.card_over_clearing : TransferCode.card_force_post,
        );
        overlimit_minor = charged.overlimit_minor;
      }
      return { hold, posted_minor: input.amount_minor, overlimit_minor };
    },

    /** Credits a refund or return back to the company's credit line. */
    async refundCard(input: {
      payment: CardPayment;
      event_id: string;
      card: CardAccount | null;
      amount_minor: number;
    }): Promise<{ refunded_minor: number }> {
      const payment = parseOrFail(cardPaymentSchema, input.payment, 'card payment');
      assertAmount('refund amount_minor', input.amount_minor);
      const [outcome] = await postings.submit([
        {
          id: cardTransferIds(payment.payment_id).refund(input.event_id),
          debit_account_id: platformAccount('network_payable', payment.currency),
          credit_account_id: chargedAccount(input.card, false, payment.currency),
          amount_minor: input.amount_minor,
          currency: payment.currency,
          code: TransferCode.card_refund,
          payment_id: payment.payment_id,
        },
      ]);
      if (outcome && isSuccess(outcome.result)) return { refunded_minor: input.amount_minor };
      throw unexpected('refundCard', outcome ? [outcome] : []);
    },
  };
}

export type CardActivities = ReturnType<typeof createCardActivities>;
