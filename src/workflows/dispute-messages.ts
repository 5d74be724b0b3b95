// Queries, updates and signals of the dispute workflow: one definition for it and its clients.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DisputeView, NetworkResponseMessage } from '../domain/dispute.js';

export const getDisputeQuery = defineQuery<DisputeView>('getDispute');
/** The network's message about the dispute: the merchant accepted or represented it, or the
 * network ruled on its pre-arbitration. Refused (nothing changes) when the dispute is not at the
 * stage the message answers. */
export const networkResponseUpdate = defineUpdate<DisputeView, [NetworkResponseMessage]>('networkResponse');
/** The company withdraws the dispute: the chargeback is withdrawn and the credit taken back. */
export const withdrawDisputeUpdate = defineUpdate<DisputeView, [{ reason: string }]>('withdrawDispute');
/** A refund of the disputed payment was booked: reconcile it with the dispute now. */
export const refundBookedSignal = defineSignal('refundBooked');
