// Dispute activities: the ledger and network steps of a dispute (src/workflows/dispute.ts). Thin
// and idempotent: every transfer id is derived from the payment and the dispute (or the refund it
// reconciles), so a retried step submits the same ids and the ledger answers `exists`.
//
// The amount check is the ledger's, in the transaction that books the credit. Each card payment
// has a disputable-allowance account (flag debits_must_not_exceed_credits): credited what its
// clearings posted, debited by each refund (in the refund's own transaction, src/activities/card.ts)
// and by each dispute. A dispute whose debit does not fit is refused by the ledger, atomically with
// every concurrent refund and dispute. A second per-payment account holds one unit, held by the
// open dispute: a payment has at most one open dispute.
import { ApplicationFailure } from '@temporalio/common';
import { DISPUTE_FAILURE_TYPES, disputeStartSchema, type DisputeStart } from '../domain/dispute.js';
import { AccountCode, AccountFlags, TransferCode, TransferFlags, isSuccess } from '../domain/ledger.js';
import { parseOrFail } from '../domain/validation.js';
import { ensurePlatformAccounts, platformAccount } from '../ledger/accounts.js';
import type { TransferBatcher } from '../ledger/batcher.js';
import { paymentDisputableAccountId, paymentDisputeSlotAccountId, transferId } from '../ledger/ids.js';
import type { Ledger, Transfer, TransferInput } from '../ledger/ledger.js';
import { chainFailure, linkedChain, refusalOf, unexpected } from './ledger-outcomes.js';
import { decide, type DisputeEvent } from '../domain/dispute-lifecycle.js';
import { disputeChange, type DisputeStepContext } from '../domain/dispute-events.js';
import { disputeEvent } from '../events/dispute-event.js';
import type { EventStore } from '../events/store.js';
import { NetworkRequestRefusedError, type CardNetwork, type DisputeFiling } from '../settlement/network-client.js';

export interface DisputeActivityDeps {
  postings: TransferBatcher;
  ledger: Pick<Ledger, 'getTransfers' | 'getPaymentTransfers' | 'getBalance' | 'createAccounts'>;
  network: CardNetwork;
  /** Where each step writes the dispute's event (issue 16). */
  events: Pick<EventStore, 'appendEvents'>;
}

/** Clearings: what makes a payment disputable. */
const POSTED_CODES: ReadonlySet<number> = new Set([
  TransferCode.card_clearing,
  TransferCode.card_force_post,
  TransferCode.card_over_clearing,
]);

/** Transfer ids of one payment's disputes. Refund ids are keyed by the refund's transfer id. */
export const disputeTransferIds = (payment_id: string) => ({
  slotGrant: () => transferId(payment_id, 'dispute_slot_grant'),
  allowanceGrant: (clearing_transfer_id: string) => transferId(payment_id, 'dispute_allowance_grant', clearing_transfer_id),
  /** A refund's use of the allowance, written with the refund (src/activities/card.ts). */
  refundUse: (refund_transfer_id: string) => transferId(payment_id, 'dispute_refund_use', refund_transfer_id),
  /** The same, for a refund booked before the allowance existed (or before disputes). */
  refundUseLate: (refund_transfer_id: string) => transferId(payment_id, 'dispute_refund_use_late', refund_transfer_id),
  slotHold: (dispute_id: string) => transferId(payment_id, 'dispute_slot_hold', dispute_id),
  slotRelease: (dispute_id: string) => transferId(payment_id, 'dispute_slot_release', dispute_id),
  allowanceUse: (dispute_id: string) => transferId(payment_id, 'dispute_allowance_use', dispute_id),
  allowanceRelease: (dispute_id: string) => transferId(payment_id, 'dispute_allowance_release', dispute_id),
  credit: (dispute_id: string) => transferId(payment_id, 'dispute_provisional_credit', dispute_id),
  reversal: (dispute_id: string, overlimit: boolean) =>
    transferId(payment_id, overlimit ? 'dispute_credit_reversal_overlimit' : 'dispute_credit_reversal', dispute_id),
  won: (dispute_id: string) => transferId(payment_id, 'dispute_won', dispute_id),
  reduction: (refund_transfer_id: string, overlimit: boolean) =>
    transferId(payment_id, overlimit ? 'dispute_reduction_overlimit' : 'dispute_reduction', refund_transfer_id),
  reductionRelease: (refund_transfer_id: string) => transferId(payment_id, 'dispute_reduction_release', refund_transfer_id),
});

/** The allowance use a refund books with itself: unlinked, so that a refund is never refused (the
 * network moved the money); refused when no dispute was ever opened (no account yet: the first
 * dispute books it late) or when an open dispute holds the allowance (the dispute reconciles it). */
export function refundAllowanceUse(payment_id: string, refund: { id: string; amount_minor: number; currency: string }): TransferInput {
  return {
    id: disputeTransferIds(payment_id).refundUse(refund.id),
    debit_account_id: paymentDisputableAccountId(payment_id),
    credit_account_id: platformAccount('dispute_allowance', refund.currency as never),
    amount_minor: refund.amount_minor,
    currency: refund.currency as never,
    code: TransferCode.dispute_allowance_use,
    payment_id,
  };
}

export function createDisputeActivities({ postings, ledger, network, events }: DisputeActivityDeps) {
  const start = (input: unknown): DisputeStart => parseOrFail(disputeStartSchema, input, 'dispute');

  /** Writes the event of the change a step made (after its ledger write), if the workflow asked
   * for one and the company sees it. A retried step derives the same event id: written once. */
  const emit = async (context: DisputeStepContext | undefined, recorded: readonly DisputeEvent[]): Promise<void> => {
    if (!context) return;
    const change = disputeChange(context, recorded);
    if (change) await events.appendEvents([disputeEvent(change)]);
  };

  /** Takes credit back from the company; when its credit line cannot take the debit (the credit
   * was spent, or the line closed), from the over-limit receivable, collected by people. `chain`
   * goes in the same transaction. */
  async function takeBack(
    d: DisputeStart,
    amount_minor: number,
    ids: { company: string; overlimit: string },
    chain: TransferInput[],
    step: string,
  ): Promise<{ overlimit: boolean }> {
    for (const overlimit of [false, true]) {
      const reversal: TransferInput[] =
        amount_minor > 0
          ? [
              {
                id: overlimit ? ids.overlimit : ids.company,
                debit_account_id: overlimit ? platformAccount('card_overlimit_receivable', d.currency) : d.account_id,
                credit_account_id: platformAccount('dispute_receivable', d.currency),
                amount_minor,
                currency: d.currency,
                code: TransferCode.dispute_credit_reversal,
                payment_id: d.payment_id,
              },
            ]
          : [];
      const outcomes = await postings.submit(linkedChain([...reversal, ...chain]));
      const failed = chainFailure(outcomes);
      if (!failed) return { overlimit };
      const refusal = refusalOf(failed);
      if (overlimit || failed.id !== ids.company || (refusal !== 'exceeds_credits' && refusal !== 'account_closed')) {
        throw unexpected(step, outcomes);
      }
    }
    throw unexpected(step, []);
  }

  const balanceMinor = async (account_id: string): Promise<number> => {
    const b = await ledger.getBalance(account_id);
    return b ? Number(b.available) : 0;
  };

  /** Books the provisional credit, checked by the ledger in the same transaction: the payment's
   * allowance (what is posted and not yet refunded or disputed) and its single dispute slot.
   * First tops the allowance up with the payment's clearings and refunds booked before it. */
  async function bookOpening(d: DisputeStart): Promise<{ booked: true } | { booked: false; reason: string }> {
    const ids = disputeTransferIds(d.payment_id);
    const disputable = paymentDisputableAccountId(d.payment_id);
    const slot = paymentDisputeSlotAccountId(d.payment_id);
    await ensurePlatformAccounts(ledger as Ledger, d.currency);
    const created = await ledger.createAccounts([
      { id: disputable, currency: d.currency, code: AccountCode.payment_disputable, flags: AccountFlags.debits_must_not_exceed_credits },
      { id: slot, currency: d.currency, code: AccountCode.payment_dispute_slot, flags: AccountFlags.debits_must_not_exceed_credits },
    ]);
    if (created.some((r) => !isSuccess(r.result))) {
      throw ApplicationFailure.nonRetryable(
        `dispute accounts of ${d.payment_id}: ${created.map((r) => r.result).join(', ')}`,
        'LedgerUnexpectedResult',
      );
    }
    const transfers = await ledger.getPaymentTransfers(d.payment_id);
    if (transfers.some((t) => t.currency !== d.currency)) {
      return { booked: false, reason: `payment ${d.payment_id} is not in ${d.currency}` };
    }
    const booked = new Set(transfers.map((t) => t.id));
    const source = platformAccount('dispute_allowance', d.currency);
    const late = new Set<string>();
    const topUp: TransferInput[] = [
      {
        id: ids.slotGrant(),
        debit_account_id: source,
        credit_account_id: slot,
        amount_minor: 1,
        currency: d.currency,
        code: TransferCode.dispute_slot_grant,
        payment_id: d.payment_id,
      },
    ];
    for (const t of transfers) {
      if (POSTED_CODES.has(t.code)) {
        topUp.push({
          id: ids.allowanceGrant(t.id),
          debit_account_id: source,
          credit_account_id: disputable,
          amount_minor: t.amount_minor,
          currency: d.currency,
          code: TransferCode.dispute_allowance_grant,
          payment_id: d.payment_id,
        });
      }
      if (t.code === TransferCode.card_refund && !booked.has(ids.refundUse(t.id))) {
        topUp.push({ ...refundAllowanceUse(d.payment_id, t), id: ids.refundUseLate(t.id) });
        late.add(ids.refundUseLate(t.id));
      }
    }
    // Unlinked, one transaction: a late refund use that does not fit (refunds beyond what was
    // posted: unlinked refunds) is refused alone.
    for (const o of await postings.submit(topUp)) {
      if (!isSuccess(o.result) && !(late.has(o.id) && refusalOf(o) === 'exceeds_credits')) throw unexpected('openDispute (allowance)', [o]);
    }
    const outcomes = await postings.submit(
      linkedChain([
        {
          id: ids.slotHold(d.dispute_id),
          debit_account_id: slot,
          credit_account_id: source,
          amount_minor: 1,
          currency: d.currency,
          code: TransferCode.dispute_slot_hold,
          flags: TransferFlags.pending,
          payment_id: d.payment_id,
        },
        {
          id: ids.allowanceUse(d.dispute_id),
          debit_account_id: disputable,
          credit_account_id: source,
          amount_minor: d.amount_minor,
          currency: d.currency,
          code: TransferCode.dispute_allowance_use,
          payment_id: d.payment_id,
        },
        {
          id: ids.credit(d.dispute_id),
          debit_account_id: platformAccount('dispute_receivable', d.currency),
          credit_account_id: d.account_id,
          amount_minor: d.amount_minor,
          currency: d.currency,
          code: TransferCode.dispute_provisional_credit,
          payment_id: d.payment_id,
        },
      ]),
    );
    const failed = chainFailure(outcomes);
    if (!failed) return { booked: true };
    const refusal = refusalOf(failed);
    if (failed.id === ids.slotHold(d.dispute_id) && refusal === 'exceeds_credits') {
      return { booked: false, reason: `payment ${d.payment_id} already has an open dispute` };
    }
    if (failed.id === ids.allowanceUse(d.dispute_id) && refusal === 'exceeds_credits') {
      return {
        booked: false,
        reason: `amount ${d.amount_minor} exceeds what is posted and not yet refunded or disputed (${await balanceMinor(disputable)})`,
      };
    }
    if (failed.id === ids.credit(d.dispute_id) && refusal === 'account_closed') {
      return { booked: false, reason: `the credit line of ${d.company_id} is closed` };
    }
    throw unexpected('openDispute', outcomes);
  }

  return {
    /** The provisional credit (bookOpening), then its event: opened, or refused by the ledger. */
    async openDispute(
      input: DisputeStart & { event_context?: DisputeStepContext | undefined },
    ): Promise<{ booked: true } | { booked: false; reason: string }> {
      const { event_context, ...request } = input;
      const opened = await bookOpening(start(request));
      if (event_context) {
        const decision = decide(
          event_context.state,
          opened.booked ? { kind: 'credit_booked' } : { kind: 'credit_refused', reason: opened.reason },
        );
        if ('refused' in decision) throw ApplicationFailure.nonRetryable(`openDispute: ${decision.refused}`, 'DisputeBug');
        await emit(event_context, decision.events);
      }
      return opened;
    },

    /** Files a stage of the dispute with the network; a filing the network refuses fails for good. */
    async fileDispute(input: { dispute: DisputeStart; stage: DisputeFiling['stage']; amount_minor: number }): Promise<{ case_id: string }> {
      const d = start(input.dispute);
      try {
        return await network.fileDispute({
          dispute_id: d.dispute_id,
          stage: input.stage,
          payment_id: d.payment_id,
          reason: d.reason,
          currency: d.currency,
          amount_minor: input.amount_minor,
        });
      } catch (err) {
        if (err instanceof NetworkRequestRefusedError) {
          throw ApplicationFailure.create({
            message: err.message,
            type: DISPUTE_FAILURE_TYPES.chargebackRefused,
            nonRetryable: true,
            details: [err.message],
          });
        }
        throw err;
      }
    },

    /** Ends a dispute without a win (lost, withdrawn, compensated): the credit still held is taken
     * back, its allowance given back, the slot released — one transaction. */
    async reverseDisputeCredit(input: {
      dispute: DisputeStart;
      credited_minor: number;
      allowance_minor: number;
      /** The outcome this reversal is part of (lost, withdrawn, refused), for its event. */
      event_context?: (DisputeStepContext & { outcome: DisputeEvent }) | undefined;
    }): Promise<{ overlimit: boolean }> {
      const d = start(input.dispute);
      const ids = disputeTransferIds(d.payment_id);
      const release: TransferInput[] = [];
      if (input.allowance_minor > 0) {
        release.push({
          id: ids.allowanceRelease(d.dispute_id),
          debit_account_id: platformAccount('dispute_allowance', d.currency),
          credit_account_id: paymentDisputableAccountId(d.payment_id),
          amount_minor: input.allowance_minor,
          currency: d.currency,
          code: TransferCode.dispute_allowance_release,
          payment_id: d.payment_id,
        });
      }
      release.push(slotRelease(d));
      const taken = await takeBack(
        d,
        input.credited_minor,
        { company: ids.reversal(d.dispute_id, false), overlimit: ids.reversal(d.dispute_id, true) },
        release,
        'reverseDisputeCredit',
      );
      await emit(input.event_context, input.event_context ? [input.event_context.outcome] : []);
      return taken;
    },

    /** A won dispute: the credit is final and the network owes it; the slot is released. */
    async bookDisputeWon(input: {
      dispute: DisputeStart;
      won_minor: number;
      event_context?: (DisputeStepContext & { outcome: DisputeEvent }) | undefined;
    }): Promise<void> {
      const d = start(input.dispute);
      const ids = disputeTransferIds(d.payment_id);
      const chain: TransferInput[] = [];
      if (input.won_minor > 0) {
        chain.push({
          id: ids.won(d.dispute_id),
          debit_account_id: platformAccount('chargeback_receivable', d.currency),
          credit_account_id: platformAccount('dispute_receivable', d.currency),
          amount_minor: input.won_minor,
          currency: d.currency,
          code: TransferCode.dispute_won,
          payment_id: d.payment_id,
        });
      }
      chain.push(slotRelease(d));
      const outcomes = await postings.submit(linkedChain(chain));
      if (chainFailure(outcomes)) throw unexpected('bookDisputeWon', outcomes);
      await emit(input.event_context, input.event_context ? [input.event_context.outcome] : []);
    },

    /** Refunds of the payment the allowance could not take (they came while this dispute held it):
     * each is booked against the allowance now, and the part that overlaps the dispute reduces it —
     * that much credit taken back and allowance given back, in the same transaction. Answers how
     * much of the dispute the refunds covered since the workflow's `open_minor`, from the ledger:
     * a step retried after its reductions were booked answers the same (not 0). A dispute reduced
     * but still open is then refiled at its new amount with the network (stage `amount_change`,
     * one filing per amount: the same amount again is the same filing). */
    async reconcileDisputeRefunds(input: {
      dispute: DisputeStart;
      open_minor: number;
      /** The dispute as the step finds it (workflows started before dispute.reduced pass none). */
      event_context?: DisputeStepContext;
    }): Promise<{ covered_minor: number }> {
      const d = start(input.dispute);
      if (!(Number.isSafeInteger(input.open_minor) && input.open_minor > 0 && input.open_minor <= d.amount_minor)) {
        throw ApplicationFailure.nonRetryable(`open_minor must be 1..${d.amount_minor}, got ${input.open_minor}`, 'DisputeBug');
      }
      const ids = disputeTransferIds(d.payment_id);
      const transfers = await ledger.getPaymentTransfers(d.payment_id);
      const booked = new Set(transfers.map((t) => t.id));
      const unreconciled = transfers.filter(
        (t: Transfer) => t.code === TransferCode.card_refund && !booked.has(ids.refundUse(t.id)) && !booked.has(ids.refundUseLate(t.id)),
      );
      let open_minor = d.amount_minor - reducedMinor(d, transfers);
      if (open_minor > input.open_minor) {
        throw ApplicationFailure.nonRetryable(
          `the ledger has ${open_minor} of dispute ${d.dispute_id} open, the workflow ${input.open_minor}`,
          'DisputeBug',
        );
      }
      for (const refund of unreconciled) {
        const available = await balanceMinor(paymentDisputableAccountId(d.payment_id));
        const cut = Math.min(open_minor, Math.max(0, refund.amount_minor - available));
        const chain: TransferInput[] = [];
        if (cut > 0) {
          chain.push({
            id: ids.reductionRelease(refund.id),
            debit_account_id: platformAccount('dispute_allowance', d.currency),
            credit_account_id: paymentDisputableAccountId(d.payment_id),
            amount_minor: cut,
            currency: d.currency,
            code: TransferCode.dispute_allowance_release,
            payment_id: d.payment_id,
          });
        }
        chain.push({ ...refundAllowanceUse(d.payment_id, refund), id: ids.refundUseLate(refund.id) });
        await takeBack(
          d,
          cut,
          { company: ids.reduction(refund.id, false), overlimit: ids.reduction(refund.id, true) },
          chain,
          'reconcileDisputeRefunds',
        );
        open_minor -= cut;
      }
      const covered_minor = input.open_minor - open_minor;
      if (covered_minor > 0 && open_minor > 0) {
        await fileAmountChange(d, open_minor);
        // Reduced to nothing, the dispute is withdrawn: that step writes dispute.withdrawn.
        await emit(input.event_context, [{ type: 'reduced', covered_minor }]);
      }
      return { covered_minor };
    },
  };

  /** What refunds have taken off this dispute so far, in the ledger: the reductions booked since
   * its slot was held. A payment has one open dispute at a time, and an earlier dispute's
   * reductions were all booked before its slot was released, so before this one's was held. */
  function reducedMinor(d: DisputeStart, transfers: readonly Transfer[]): number {
    const ids = disputeTransferIds(d.payment_id);
    const held = transfers.find((t) => t.id === ids.slotHold(d.dispute_id));
    if (!held?.created_at) throw ApplicationFailure.nonRetryable(`dispute ${d.dispute_id} holds no slot of ${d.payment_id}`, 'DisputeBug');
    const reductions = new Set(
      transfers.filter((t) => t.code === TransferCode.card_refund).flatMap((t) => [ids.reduction(t.id, false), ids.reduction(t.id, true)]),
    );
    return transfers
      .filter((t) => reductions.has(t.id) && t.created_at !== null && t.created_at >= held.created_at!)
      .reduce((sum, t) => sum + t.amount_minor, 0);
  }

  /** Tells the network the chargeback is now for `amount_minor` (a refund covered the rest). A
   * refusal is retried, not ignored: the network would go on settling the old amount; the step's
   * retries show in the Web UI until people look (docs/operations.md, "Disputes"). */
  async function fileAmountChange(d: DisputeStart, amount_minor: number): Promise<void> {
    try {
      await network.fileDispute({
        dispute_id: d.dispute_id,
        stage: 'amount_change',
        payment_id: d.payment_id,
        reason: d.reason,
        currency: d.currency,
        amount_minor,
      });
    } catch (err) {
      if (err instanceof NetworkRequestRefusedError) {
        throw ApplicationFailure.retryable(
          `the network refused the chargeback's new amount ${amount_minor}: ${err.message}`,
          'NetworkRefused',
        );
      }
      throw err;
    }
  }

  function slotRelease(d: DisputeStart): TransferInput {
    const ids = disputeTransferIds(d.payment_id);
    return {
      id: ids.slotRelease(d.dispute_id),
      pending_id: ids.slotHold(d.dispute_id),
      code: TransferCode.dispute_slot_release,
      flags: TransferFlags.void_pending,
      payment_id: d.payment_id,
    };
  }
}

export type DisputeActivities = ReturnType<typeof createDisputeActivities>;
