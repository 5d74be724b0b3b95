// Queries and updates of the payment workflows: one definition, used by the workflows and by
// every client.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Authorization, AuthorizationReply, CardDecision, Clearing, Increment, Refund, Reversal } from '../domain/card.js';
import type { CardState } from '../domain/card-lifecycle.js';
import type { OpsAction } from '../domain/ops.js';
import type { PaymentState, SettlementConfirmation } from '../domain/payment.js';

export const getPaymentQuery = defineQuery<PaymentState>('getPayment');
/** A card payment's lifecycle state and view, as continue-as-new carries them: a message for a
 * payment whose run has closed starts a new run from them (src/api/card-payments.ts). Payments
 * started before the decider (patched('card-decider')) do not answer it. */
export const cardLifecycleQuery = defineQuery<{ lifecycle: CardState; view: PaymentState }>('getCardLifecycle');

/** The payee bank confirmed (or rejected) a payout it had accepted: sent by the settlement callback
 * receiver. The payout workflow acts on the first and ignores the rest (banks repeat callbacks). */
export const settlementConfirmedSignal = defineSignal<[SettlementConfirmation]>('settlementConfirmed');

/** The network asks approve or decline; the answer comes back synchronously (update-with-start
 * for the first message of a payment). Repeating it returns the first decision. */
export const authorizeUpdate = defineUpdate<AuthorizationReply, [Authorization]>('authorize');
/** The network answered the stand-in for this payment: the caller that answered it late sends this
 * advice (src/api/card-payments.ts), so a decision that was in time by the workflow's clock but
 * reached the network too late is brought in line with what the network told the merchant. */
export const standInAdviceSignal = defineSignal<[{ stand_in: 'decline' | 'approve' }]>('standInAdvice');
/** Raise the hold (incremental authorization): approved or declined like an authorization. */
export const incrementUpdate = defineUpdate<CardDecision, [Increment]>('increment');
/** Release all or part of the hold. */
export const reverseUpdate = defineUpdate<PaymentState, [Reversal]>('reverse');
/** Post a clearing against the hold, or directly when nothing is held (force post). */
export const clearUpdate = defineUpdate<PaymentState, [Clearing]>('clear');
/** Credit a refund or return back to the company. */
export const refundUpdate = defineUpdate<PaymentState, [Refund]>('refund');

/** Ops actions (src/domain/ops.ts): each validated (operator, reason, and whether it applies now;
 * a refused one writes nothing) and recorded in the timeline as `ops_<action>` with who and why. */
/** Payout waiting for its bank and flagged (no answer past the settlement-attention time, our
 * credentials refused, an answer the gateway cannot read): send it again now with the same
 * idempotency key (the bank pays once); a final answer settles or compensates the payout. Payout
 * the bank paid whose booking is flagged as failing: book it now. */
export const retrySettlementUpdate = defineUpdate<PaymentState, [OpsAction]>('retrySettlement');
/** Card payment: release what it still holds now, as expiry would. */
export const voidHoldUpdate = defineUpdate<PaymentState, [OpsAction]>('voidHold');
/** Any payment flagged NeedsAttention: clear the flag; the timeline keeps why it was raised. */
export const resolveAttentionUpdate = defineUpdate<PaymentState, [OpsAction]>('resolveAttention');

/** Update names, by the kind of card event they carry (also the prefix of their event keys). */
export const CARD_EVENT_KINDS = ['increment', 'reversal', 'clearing', 'refund'] as const;
export type CardEventKind = (typeof CARD_EVENT_KINDS)[number];
