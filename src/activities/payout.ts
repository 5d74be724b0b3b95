// Payout activities: thin, idempotent wrappers around the ledger and the settlement gateway.
// Every ledger write uses a transfer id derived from the payment id and the step, so a retry
// after a crash or a lost reply submits the same id and the ledger answers `exists`.
import { ApplicationFailure } from '@temporalio/common';
import { BUSINESS_FAILURE_TYPES, parsePayoutRequestOrFail, type PayoutRequest } from '../domain/payment.js';
import { TransferCode, TransferFlags, isSuccess } from '../domain/ledger.js';
import { platformAccount } from '../ledger/accounts.js';
import { transferId } from '../ledger/ids.js';
import type { TransferBatcher } from '../ledger/batcher.js';
import type { Ledger, TransferInput, TransferOutcome } from '../ledger/ledger.js';
import { SETTLEMENT_FAILURE_TYPES } from '../domain/payout.js';
import {
  SettlementCredentialsError,
  SettlementUnexpectedAnswerError,
  payoutIdempotencyKey,
  type SettlementGateway,
} from '../settlement/gateway.js';
import type { PaymentEventType } from '../domain/events.js';
import type { PaymentState, PaymentStatus } from '../domain/payment.js';
import type { EventStore } from '../events/store.js';
import { paymentEvent } from '../events/payment-event.js';

export interface PayoutActivityDeps {
  /** Reads. */
  ledger: Ledger;
  /** Writes, coalesced with other activities' writes into group commits. */
  postings: TransferBatcher;
  gateway: SettlementGateway;
  /** Where each step writes the payout's event (issue 16). */
  events: Pick<EventStore, 'appendEvents'>;
}

/** The payout as GetPayment shows it after a step (without the timeline). */
function payoutAfter(
  request: PayoutRequest,
  status: PaymentStatus,
  amounts: Partial<Pick<PaymentState, 'authorized_minor' | 'held_minor' | 'posted_minor' | 'reversed_minor' | 'settled_minor'>>,
  decline_reason?: string,
): PaymentState & { company_id: string } {
  return {
    payment_id: request.payment_id,
    kind: 'payout',
    status,
    currency: request.currency,
    amount_minor: request.amount_minor,
    authorized_minor: 0,
    held_minor: 0,
    posted_minor: 0,
    reversed_minor: 0,
    refunded_minor: 0,
    settled_minor: 0,
    ...amounts,
    company_id: request.company_id,
    ...(decline_reason ? { decline_reason } : {}),
    needs_attention: false,
    timeline: [],
  };
}

/** Ledger results that decline a hold, and the reason the payer is told. */
const DECLINE_REASONS: Record<string, string> = {
  exceeds_credits: 'insufficient_credit',
  account_closed: 'account_closed',
  debit_account_not_found: 'account_not_found',
  currency_mismatch: 'currency_mismatch',
};

export const payoutTransferIds = (payment_id: string) => ({
  hold: transferId(payment_id, 'payout_hold'),
  posting: transferId(payment_id, 'payout_posting'),
  hold_release: transferId(payment_id, 'payout_hold_release'),
  reversal: transferId(payment_id, 'payout_reversal'),
  settlement: transferId(payment_id, 'payout_settlement'),
});

async function submitOne(postings: TransferBatcher, transfer: TransferInput): Promise<TransferOutcome> {
  const [outcome] = await postings.submit([transfer]);
  if (!outcome) throw new Error(`ledger returned no result for transfer ${transfer.id}`);
  return outcome;
}

/** A ledger answer the saga never expects: a bug or a tampered ledger. Retrying cannot help. */
function unexpected(step: string, outcome: TransferOutcome): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${step}: ledger answered ${outcome.result} for transfer ${outcome.id}`, 'LedgerUnexpectedResult');
}

export function createPayoutActivities({ ledger, postings, gateway, events }: PayoutActivityDeps) {
  /** A payout step's event, after its ledger write; the step's name is the change (one each). */
  const emit = (type: PaymentEventType, step: string, state: PaymentState & { company_id: string }) =>
    events.appendEvents([paymentEvent(type, `payout:${step}`, state)]);
  const full = (request: PayoutRequest) => request.amount_minor;
  return {
    /** Places the hold: a pending transfer from the company's credit line to payouts payable. */
    async placeHold(input: PayoutRequest): Promise<{ hold_id: string }> {
      const request = parsePayoutRequestOrFail(input);
      const ids = payoutTransferIds(request.payment_id);
      const outcome = await submitOne(postings, {
        id: ids.hold,
        debit_account_id: request.account_id,
        credit_account_id: platformAccount('payouts_payable', request.currency),
        amount_minor: request.amount_minor,
        currency: request.currency,
        code: TransferCode.payout_hold,
        flags: TransferFlags.pending,
        payment_id: request.payment_id,
      });
      if (isSuccess(outcome.result)) {
        await emit(
          'payment.authorized',
          'hold',
          payoutAfter(request, 'AUTHORIZED', { authorized_minor: full(request), held_minor: full(request) }),
        );
        return { hold_id: ids.hold };
      }
      const refusal = outcome.result === 'id_already_failed' ? outcome.first_result : outcome.result;
      const reason = refusal !== undefined ? DECLINE_REASONS[refusal] : undefined;
      if (reason) {
        await emit('payment.declined', 'hold', payoutAfter(request, 'DECLINED', {}, reason));
        throw ApplicationFailure.create({
          message: `hold declined: ${reason}`,
          type: BUSINESS_FAILURE_TYPES.holdDeclined,
          nonRetryable: true,
          details: [reason],
        });
      }
      throw unexpected('placeHold', outcome);
    },

    /** Posts the hold in full: the company is now charged. */
    async postHold(input: PayoutRequest): Promise<{ posting_id: string }> {
      const request = parsePayoutRequestOrFail(input);
      const ids = payoutTransferIds(request.payment_id);
      const outcome = await submitOne(postings, {
        id: ids.posting,
        pending_id: ids.hold,
        code: TransferCode.payout_posting,
        flags: TransferFlags.post_pending,
        payment_id: request.payment_id,
      });
      if (isSuccess(outcome.result)) {
        await emit(
          'payment.posted',
          'posting',
          payoutAfter(request, 'POSTED', { authorized_minor: full(request), posted_minor: full(request) }),
        );
        return { posting_id: ids.posting };
      }
      throw unexpected('postHold', outcome);
    },

    /** Compensation of placeHold: releases whatever the hold still holds. Succeeds when there is
     * nothing to release (the hold never landed, was posted, or was already released). */
    async releaseHold(input: PayoutRequest): Promise<{ released: boolean }> {
      const request = parsePayoutRequestOrFail(input);
      const ids = payoutTransferIds(request.payment_id);
      const outcome = await submitOne(postings, {
        id: ids.hold_release,
        pending_id: ids.hold,
        code: TransferCode.payout_hold_release,
        flags: TransferFlags.void_pending,
        payment_id: request.payment_id,
      });
      if (isSuccess(outcome.result)) {
        // Only a compensation releases a payout's hold: the payout ends compensated.
        await emit('payment.compensated', 'hold_release', payoutAfter(request, 'COMPENSATED', { authorized_minor: full(request) }));
        return { released: true };
      }
      const nothingHeld = ['pending_transfer_not_found', 'pending_transfer_already_posted', 'pending_transfer_already_voided'];
      const refusal = outcome.result === 'id_already_failed' ? outcome.first_result : outcome.result;
      if (refusal !== undefined && nothingHeld.includes(refusal)) return { released: false };
      throw unexpected('releaseHold', outcome);
    },

    /** Compensation of postHold: a new transfer that gives the posted amount back to the company.
     * Succeeds without writing when the posting never landed. */
    async reversePosting(input: PayoutRequest): Promise<{ reversed_minor: number }> {
      const request = parsePayoutRequestOrFail(input);
      const ids = payoutTransferIds(request.payment_id);
      const [posting] = await ledger.getTransfers([ids.posting]);
      if (!posting) return { reversed_minor: 0 };
      const outcome = await submitOne(postings, {
        id: ids.reversal,
        debit_account_id: posting.credit_account_id,
        credit_account_id: posting.debit_account_id,
        amount_minor: posting.amount_minor,
        currency: posting.currency,
        code: TransferCode.payout_reversal,
        payment_id: request.payment_id,
      });
      if (isSuccess(outcome.result)) {
        await emit(
          'payment.compensated',
          'reversal',
          payoutAfter(request, 'COMPENSATED', {
            authorized_minor: full(request),
            posted_minor: posting.amount_minor,
            reversed_minor: posting.amount_minor,
          }),
        );
        return { reversed_minor: posting.amount_minor };
      }
      throw unexpected('reversePosting', outcome);
    },

    /** Sends the payout to the payee's bank, keyed by the payment id so the bank pays once. A bank
     * that settles at once answers with its reference; one that confirms by callback answers
     * `accepted` (the workflow then waits for settlementConfirmedSignal). Only a final rejection
     * (422 saying `rejected`) is thrown as SettlementRejected. A timeout or a transient error is
     * thrown plainly and retried here with the same key; a credential refusal (401/403) or an
     * unexpected answer is thrown to the workflow at once (non-retryable here), which flags the
     * payout and sends again after a pause. */
    async sendPayout(input: PayoutRequest): Promise<{ bank_reference: string } | { accepted: true }> {
      const request = parsePayoutRequestOrFail(input);
      let result;
      try {
        result = await gateway.sendPayout({
          idempotency_key: payoutIdempotencyKey(request.payment_id),
          amount_minor: request.amount_minor,
          currency: request.currency,
          payee: request.payee,
        });
      } catch (err) {
        if (err instanceof SettlementCredentialsError) {
          throw ApplicationFailure.nonRetryable(err.message, SETTLEMENT_FAILURE_TYPES.credentialsRefused);
        }
        if (err instanceof SettlementUnexpectedAnswerError) {
          throw ApplicationFailure.nonRetryable(err.message, SETTLEMENT_FAILURE_TYPES.unexpectedAnswer);
        }
        throw err;
      }
      if (result.status === 'settled') return { bank_reference: result.bank_reference };
      if (result.status === 'accepted') return { accepted: true };
      throw ApplicationFailure.create({
        message: `settlement rejected: ${result.reason}`,
        type: BUSINESS_FAILURE_TYPES.settlementRejected,
        nonRetryable: true,
        details: [result.reason],
      });
    },

    /** Records the bank's confirmation: the money left the settlement bank account. */
    async recordSettlement(input: PayoutRequest): Promise<{ settlement_id: string }> {
      const request = parsePayoutRequestOrFail(input);
      const ids = payoutTransferIds(request.payment_id);
      const outcome = await submitOne(postings, {
        id: ids.settlement,
        debit_account_id: platformAccount('payouts_payable', request.currency),
        credit_account_id: platformAccount('settlement_bank', request.currency),
        amount_minor: request.amount_minor,
        currency: request.currency,
        code: TransferCode.payout_settlement,
        payment_id: request.payment_id,
      });
      if (isSuccess(outcome.result)) {
        await emit(
          'payment.settled',
          'settlement',
          payoutAfter(request, 'SETTLED', { authorized_minor: full(request), posted_minor: full(request), settled_minor: full(request) }),
        );
        return { settlement_id: ids.settlement };
      }
      throw unexpected('recordSettlement', outcome);
    },
  };
}

export type PayoutActivities = ReturnType<typeof createPayoutActivities>;
