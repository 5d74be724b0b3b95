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
import { refundAllowanceUse } from './dispute.js';
import { chainFailure, linkedChain, refusalOf, unexpected } from './ledger-outcomes.js';
import type { CardAccount, HoldRef } from '../domain/card-lifecycle.js';
import type { Ledger } from '../ledger/ledger.js';
import type { WorkerMetrics } from '../workers/metrics.js';
import {
  PAYMENT_EVENT_TYPES,
  cardChangeAfterStep,
  cardPaymentAfter,
  type CardStepContext,
  type PaymentEventType,
} from '../domain/events.js';
import type { PaymentState } from '../domain/payment.js';
import type { CardCommand, CardStepResult } from '../domain/card-lifecycle.js';
import type { EventStore } from '../events/store.js';
import { paymentEvent } from '../events/payment-event.js';
import {
  applicableLimits,
  carryAmountUses,
  createLimitAccounts,
  isAmountUse,
  limitUses,
  openUses,
  postUses,
  releaseUses,
} from '../ledger/spend-limits.js';

export interface CardActivityDeps {
  postings: TransferBatcher;
  /** Reads: a retried step looks for what a previous attempt wrote; a release or clearing finds
   * the payment's uses of spend limits. Writes: spend-limit window accounts, once per window. */
  ledger: Pick<Ledger, 'getTransfers' | 'getPaymentTransfers' | 'createAccounts'>;
  cards: CardStore;
  /** Where each step writes the payment's event (issue 16). */
  events: Pick<EventStore, 'appendEvents'>;
  /** Decision latency and outcomes (the worker's metrics); absent in tests that do not look. */
  metrics?: Pick<WorkerMetrics, 'cardDecision'> | undefined;
  /** The authorization's time (epoch ms): which UTC window of each spend limit it counts in.
   * Tests inject it to cross a window's end; default Date.now. */
  clock?: () => number;
}

export type { CardAccount, HoldRef };

/** What a step's event needs (the workflow passes it; absent: no event, as for payments running
 * the legacy workflow): the state the step ran in, its message, and the step itself. */
export interface StepEventContext extends CardStepContext {
  command: CardCommand;
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
  event_context?: StepEventContext | undefined;
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

/** Ledger answers that mean a pending transfer was resolved already (posted or voided): a
 * release of it is a no-op, and a clearing against it is a force post. */
const ALREADY_RESOLVED = new Set(['pending_transfer_already_posted', 'pending_transfer_already_voided', 'pending_transfer_not_found']);

function createUnmeteredCardActivities({ postings, cards, ledger, events, clock = Date.now }: CardActivityDeps) {
  /** Writes the event of the change a step made, if it made one the payment's company sees. A
   * retried step derives the same event id: written once. */
  const emit = async (
    payment: CardPayment,
    context: StepEventContext | undefined,
    company_id: string | undefined,
    result: CardStepResult,
  ): Promise<void> => {
    if (!context) return;
    const known = context.state.card === 'unknown' || context.state.card === null ? undefined : context.state.card.company_id;
    const company = company_id ?? known;
    if (!company) return; // a card the issuer does not know belongs to no company
    const change = cardChangeAfterStep(context, context.command, result, Date.now());
    if (!change) return;
    const state = cardPaymentAfter(
      { payment_id: payment.payment_id, currency: payment.currency, card_id: payment.card_id, merchant_mcc: payment.merchant.mcc },
      company,
      change.state,
    );
    await events.appendEvents([paymentEvent(change.type, change.change_key, { ...state, company_id: company })]);
  };
  const ensureLimitAccounts = createLimitAccounts({ ledger, submit: (transfers) => postings.submit(transfers) });
  /** The payment's uses of spend limits still pending (read only when it may have some). */
  const openUsesOf = async (payment_id: string) => openUses(await ledger.getPaymentTransfers(payment_id));

  /** The hold as the ledger has it: by its key, or its over-limit twin (a stand-in hold whose
   * placing attempt's answer was lost); null when neither was placed. */
  const findHold = async (payment_id: string, hold: HoldRef): Promise<{ hold: HoldRef; released: boolean } | null> => {
    const ids = cardTransferIds(payment_id);
    const candidates = [
      [hold.key, hold.overlimit],
      [holdKey(hold.key, 'overlimit'), true],
    ] as const;
    // One read for both (an authorization's first attempt finds neither, and waits on this read
    // while the network waits for its answer).
    const found = await ledger.getTransfers(candidates.flatMap(([key]) => [ids.hold(key), ids.holdRelease(key)]));
    for (const [key, overlimit] of candidates) {
      const placed = found.find((t) => t.id === ids.hold(key));
      if (placed)
        return { hold: { key, amount_minor: placed.amount_minor, overlimit }, released: found.some((t) => t.id === ids.holdRelease(key)) };
    }
    return null;
  };

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

  const steps = {
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
      // The card and any hold a previous attempt placed, read at once (two round trips in parallel).
      const [card, placed] = await Promise.all([
        cards.get(payment.card_id),
        findHold(payment.payment_id, { key: holdKey(input.event_id), amount_minor: input.hold_minor, overlimit: false }),
      ]);
      const account: CardAccount | undefined = card ? { company_id: card.company_id, account_id: card.account_id } : undefined;
      // A retried decision answers from the hold a previous attempt placed, whatever the card's
      // rules say now (a card frozen between two attempts must not decline a held payment).
      if (placed && !placed.released)
        return { approved: true, hold: placed.hold, ...(account ? { card: account } : {}), decided_at_ms: Date.now() };
      if (!input.stand_in_approved) {
        if (!card) return decline('card_not_found');
        if (card.currency !== payment.currency) return decline('currency_mismatch', account);
        if (card.status !== 'active') return decline('card_frozen', account);
        if (card.blocked_mccs.includes(payment.merchant.mcc)) return decline('merchant_category_blocked', account);
        if (card.transaction_limit_minor !== null && input.hold_minor > card.transaction_limit_minor) {
          return decline('over_transaction_limit', account);
        }
      }
      // Spend limits: the hold's chain carries its uses of every limit that applies, checked in the
      // same transaction (src/ledger/spend-limits.ts). An increment moves the payment's amount uses
      // to the whole new hold (checked again), and is not another transaction for count limits. A
      // stand-in approval is the network's decision: it uses no limit.
      const at_ms = clock();
      const limits =
        card && !input.stand_in_approved
          ? applicableLimits(card, payment.merchant.mcc, at_ms).filter((l) => !input.replaces || l.limit.measure === 'amount')
          : [];
      const replacedUses = input.replaces ? (await openUsesOf(payment.payment_id)).filter(isAmountUse) : [];
      if (limits.length > 0) await ensureLimitAccounts(limits);
      const tryHold = async (debit_account_id: string, overlimit: boolean) => {
        const key = holdKey(input.event_id, overlimit ? 'overlimit' : undefined);
        const uses = overlimit
          ? { chain: [], refusals: new Map<string, DeclineReason>() }
          : limitUses(payment.payment_id, key, limits, input.hold_minor, true);
        const hold_chain = holdChain(payment, key, debit_account_id, input.hold_minor, input.replaces);
        const chain = [...hold_chain.slice(0, -1), ...releaseUses(payment.payment_id, replacedUses), ...uses.chain, hold_chain.at(-1)!];
        const outcomes = await postings.submit(linkedChain(chain));
        const hold: HoldRef = { key, amount_minor: input.hold_minor, overlimit };
        const failed = outcomes.find((o) => !isSuccess(o.result) && o.result !== 'linked_event_failed');
        return { outcomes, hold, failed, limit: failed ? uses.refusals.get(failed.id) : undefined };
      };
      if (account && card?.currency === payment.currency) {
        const first = await tryHold(account.account_id, false);
        if (!first.failed) return { approved: true, hold: first.hold, card: account, decided_at_ms: Date.now() };
        const reason = first.limit && refusalOf(first.failed) === 'exceeds_credits' ? first.limit : HOLD_REFUSALS[refusalOf(first.failed)];
        if (!reason) throw unexpected('authorizeCard', first.outcomes);
        if (!input.stand_in_approved) return decline(reason, account);
      }
      // The network approved for us: the money will be cleared whatever our rules say.
      const forced = await tryHold(platformAccount('card_overlimit_receivable', payment.currency), true);
      if (forced.failed) throw unexpected('authorizeCard (stand-in)', forced.outcomes);
      return { approved: true, hold: forced.hold, ...(account ? { card: account } : {}), decided_at_ms: Date.now() };
    },

    /** Releases a hold, or shrinks it to `keep_minor` (a partial reversal): release and replace
     * in one transaction. A hold never placed (a probe after a lost decision) writes nothing
     * (`found: false`); a hold already posted or voided is a no-op. */
    async releaseCardHold(input: {
      payment: CardPayment;
      event_id: string;
      card: CardAccount | null;
      hold: HoldRef;
      keep_minor: number;
    }): Promise<{ hold: HoldRef | null; found: boolean; released_minor: number }> {
      const payment = parseOrFail(cardPaymentSchema, input.payment, 'card payment');
      const ids = cardTransferIds(payment.payment_id);
      const located = await findHold(payment.payment_id, input.hold);
      if (!located) return { hold: null, found: false, released_minor: 0 };
      const hold = located.hold;
      const resolved = (outcomes: TransferOutcome[]) => outcomes.some((o) => ALREADY_RESOLVED.has(refusalOf(o)));
      // The payment's uses of spend limits go with its hold, in the same chain: given back with a
      // release, moved to what a partial release keeps. If the hold was resolved already, whatever
      // resolved it resolved them too, and the chain fails as a whole.
      const uses = await openUsesOf(payment.payment_id);
      if (input.keep_minor === 0) {
        const outcomes = await postings.submit(
          linkedChain([
            ...releaseUses(payment.payment_id, uses),
            {
              id: ids.holdRelease(hold.key),
              pending_id: ids.hold(hold.key),
              code: TransferCode.card_hold_release,
              flags: TransferFlags.void_pending,
              payment_id: payment.payment_id,
            },
          ]),
        );
        if (outcomes.every((o) => isSuccess(o.result))) return { hold: null, found: true, released_minor: hold.amount_minor };
        if (resolved(outcomes)) return { hold: null, found: true, released_minor: 0 };
        throw unexpected('releaseCardHold', outcomes);
      }
      assertAmount('keep_minor', input.keep_minor);
      const key = holdKey(input.event_id, hold.overlimit ? 'overlimit' : 'kept');
      const amountUses = uses.filter(isAmountUse);
      const resized = holdChain(payment, key, chargedAccount(input.card, hold.overlimit, payment.currency), input.keep_minor, hold);
      const outcomes = await postings.submit(
        linkedChain([
          ...resized.slice(0, -1),
          ...releaseUses(payment.payment_id, amountUses),
          ...carryAmountUses(payment.payment_id, key, amountUses, input.keep_minor),
          resized.at(-1)!,
        ]),
      );
      if (outcomes.every((o) => isSuccess(o.result))) {
        return {
          hold: { key, amount_minor: input.keep_minor, overlimit: hold.overlimit },
          found: true,
          released_minor: hold.amount_minor - input.keep_minor,
        };
      }
      if (resolved(outcomes)) return { hold: null, found: true, released_minor: 0 };
      throw unexpected('releaseCardHold (partial)', outcomes);
    },

    /** Posts a clearing as one linked chain: against the hold as far as it goes (keeping the rest
     * held when more clearings will follow), and any excess, or the whole amount when nothing is
     * held (a force post), as a direct charge — of the company, or of the over-limit receivable
     * when its line cannot take it (the network has settled the money: never refused). A hold
     * that is no longer pending (voided, or posted by another clearing) is not posted against:
     * the clearing is force posted. */
    async clearCard(input: {
      payment: CardPayment;
      event_id: string;
      card: CardAccount | null;
      hold: HoldRef | null;
      amount_minor: number;
      final: boolean;
    }): Promise<{ hold: HoldRef | null; posted_minor: number; from_hold_minor: number; overlimit_minor: number }> {
      const payment = parseOrFail(cardPaymentSchema, input.payment, 'card payment');
      assertAmount('clearing amount_minor', input.amount_minor);
      const ids = cardTransferIds(payment.payment_id);
      // A clearing the ledger already has (a step retried after the payment moved on, or a repeat
      // that reached a new run after the payment's history was gone) is answered from it: the
      // network's clearing is posted once, whatever the payment's state says.
      const booked = await ledger.getTransfers([
        ids.clearing(input.event_id),
        ids.clearingExcess(input.event_id),
        ids.clearingOverlimit(input.event_id),
      ]);
      if (booked.length > 0) {
        let left: HoldRef | null = null;
        for (const suffix of ['kept', 'overlimit'] as const) {
          const kept = await findHold(payment.payment_id, {
            key: holdKey(input.event_id, suffix),
            amount_minor: 0,
            overlimit: suffix === 'overlimit',
          });
          if (kept && !kept.released) left = kept.hold;
        }
        return {
          hold: left,
          posted_minor: booked.reduce((sum, t) => sum + t.amount_minor, 0),
          from_hold_minor: booked.find((t) => t.id === ids.clearing(input.event_id))?.amount_minor ?? 0,
          overlimit_minor: booked.find((t) => t.id === ids.clearingOverlimit(input.event_id))?.amount_minor ?? 0,
        };
      }
      const located = input.hold ? await findHold(payment.payment_id, input.hold) : null;
      // A clearing against the hold keeps its uses of spend limits for good (an amount use for what
      // was posted from the hold; what stays held for later clearings keeps its share).
      const uses = located && !located.released ? await openUsesOf(payment.payment_id) : [];
      const attempt = async (held: HoldRef | null, overlimit: boolean) => {
        const chain: TransferInput[] = [];
        const from_hold_minor = held ? Math.min(input.amount_minor, held.amount_minor) : 0;
        let left: HoldRef | null = null;
        if (held) {
          chain.push({
            id: ids.clearing(input.event_id),
            pending_id: ids.hold(held.key),
            amount_minor: from_hold_minor,
            code: TransferCode.card_clearing,
            flags: TransferFlags.post_pending,
            payment_id: payment.payment_id,
          });
          chain.push(...postUses(payment.payment_id, uses, from_hold_minor));
          const rest = held.amount_minor - from_hold_minor;
          if (!input.final && rest > 0) {
            const key = holdKey(input.event_id, held.overlimit ? 'overlimit' : 'kept');
            chain.push(...carryAmountUses(payment.payment_id, key, uses, rest));
            chain.push(...holdChain(payment, key, chargedAccount(input.card, held.overlimit, payment.currency), rest, undefined));
            left = { key, amount_minor: rest, overlimit: held.overlimit };
          }
        }
        const excess = input.amount_minor - from_hold_minor;
        if (excess > 0) {
          chain.push({
            id: overlimit ? ids.clearingOverlimit(input.event_id) : ids.clearingExcess(input.event_id),
            debit_account_id: chargedAccount(input.card, overlimit, payment.currency),
            credit_account_id: platformAccount('network_payable', payment.currency),
            amount_minor: excess,
            currency: payment.currency,
            code: held ? TransferCode.card_over_clearing : TransferCode.card_force_post,
            payment_id: payment.payment_id,
          });
        }
        const outcomes = await postings.submit(linkedChain(chain));
        const failed = chainFailure(outcomes);
        return { outcomes, failed, from_hold_minor, left, overlimit_minor: overlimit && excess > 0 ? excess : 0 };
      };
      let held = located && !located.released ? located.hold : null;
      let overlimit = input.card === null;
      // At most three tries: the hold turns out resolved, then the line turns out short.
      for (let tries = 0; tries < 3; tries += 1) {
        const r = await attempt(held, overlimit);
        if (!r.failed)
          return { hold: r.left, posted_minor: input.amount_minor, from_hold_minor: r.from_hold_minor, overlimit_minor: r.overlimit_minor };
        const refusal = refusalOf(r.failed);
        if (held && r.failed.id === ids.clearing(input.event_id) && ALREADY_RESOLVED.has(refusal)) held = null;
        else if (!overlimit && refusal === 'exceeds_credits') overlimit = true;
        else throw unexpected('clearCard', r.outcomes);
      }
      throw ApplicationFailure.nonRetryable(
        `clearCard ${input.event_id}: no chain the ledger accepts after 3 tries`,
        'LedgerUnexpectedResult',
      );
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
      const refund: TransferInput = {
        id: cardTransferIds(payment.payment_id).refund(input.event_id),
        debit_account_id: platformAccount('network_payable', payment.currency),
        credit_account_id: chargedAccount(input.card, false, payment.currency),
        amount_minor: input.amount_minor,
        currency: payment.currency,
        code: TransferCode.card_refund,
        payment_id: payment.payment_id,
      };
      // In the same transaction, unlinked: the refund uses up the payment's disputable allowance,
      // so a dispute and a refund can never together exceed what was posted. Its refusal (no
      // dispute yet, or an open dispute holds the allowance) never refuses the refund: disputes
      // reconcile it (src/activities/dispute.ts).
      const [outcome] = await postings.submit([
        refund,
        refundAllowanceUse(payment.payment_id, { id: refund.id, amount_minor: input.amount_minor, currency: payment.currency }),
      ]);
      if (outcome && isSuccess(outcome.result)) return { refunded_minor: input.amount_minor };
      throw unexpected('refundCard', outcome ? [outcome] : []);
    },
  };

  // Each step writes the event of the change it made (src/domain/events.ts), after its ledger
  // write: a step retried after a crash finds its transfers (`exists`), reaches the same change
  // and writes the same event id, so every change has exactly one event.
  const payment = (input: { payment: CardPayment }) => parseOrFail(cardPaymentSchema, input.payment, 'card payment');
  type Input<K extends keyof typeof steps> = Parameters<(typeof steps)[K]>[0] & { event_context?: StepEventContext | undefined };
  return {
    ...steps,
    async authorizeCard(input: AuthorizeCardInput) {
      const r = await steps.authorizeCard(input);
      await emit(payment(input), input.event_context, r.card?.company_id, { kind: 'decide_hold', ...r });
      return r;
    },
    async releaseCardHold(input: Input<'releaseCardHold'>) {
      const r = await steps.releaseCardHold(input);
      await emit(payment(input), input.event_context, input.card?.company_id, { kind: 'release_hold', ...r });
      return r;
    },
    async clearCard(input: Input<'clearCard'>) {
      const r = await steps.clearCard(input);
      await emit(payment(input), input.event_context, input.card?.company_id, { kind: 'clear', ...r });
      return r;
    },
    async refundCard(input: Input<'refundCard'>) {
      const r = await steps.refundCard(input);
      await emit(payment(input), input.event_context, input.card?.company_id, { kind: 'refund' });
      return r;
    },
    /** The event of a change made by a payment still running the legacy workflow
     * (src/workflows/card-payment-legacy.ts, behind patched('legacy-card-events')): that workflow
     * has no decider to ask, so it names the change and sends the payment after it. The id comes
     * from the payment and the change: a retried call writes nothing twice. */
    async appendLegacyPaymentEvent(input: { type: PaymentEventType; change_key: string; payment: PaymentState }): Promise<void> {
      const { type, change_key, payment: state } = input;
      if (!(PAYMENT_EVENT_TYPES as readonly string[]).includes(type)) {
        throw ApplicationFailure.nonRetryable(`appendLegacyPaymentEvent: unknown type ${String(type)}`, 'InvalidPayment');
      }
      if (!(typeof change_key === 'string' && change_key.length > 0 && change_key.length <= LEGACY_CHANGE_KEY_LENGTH_MAX)) {
        throw ApplicationFailure.nonRetryable(
          `appendLegacyPaymentEvent: change_key must be 1..${LEGACY_CHANGE_KEY_LENGTH_MAX} characters`,
          'InvalidPayment',
        );
      }
      if (state.kind !== 'card' || !state.company_id) {
        throw ApplicationFailure.nonRetryable(
          `appendLegacyPaymentEvent: ${state.payment_id} is not a card payment of a company`,
          'InvalidPayment',
        );
      }
      await events.appendEvents([paymentEvent(type, `legacy:${change_key}`, { ...state, timeline: [], company_id: state.company_id })]);
    },
  };
}

/** A legacy change's name: the network event's key (its kind and the network's id, up to 64). */
const LEGACY_CHANGE_KEY_LENGTH_MAX = 200;

export type CardActivities = ReturnType<typeof createCardActivities>;
