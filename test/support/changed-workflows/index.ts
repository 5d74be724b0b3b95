// Deliberately non-deterministic changes to every payment workflow (a timer before the first
// step), used only to prove that replaying the recorded histories catches such a change.
import { sleep } from '@temporalio/workflow';
import type { CardPayment, CardWorkflowOptions } from '../../../src/domain/card.js';
import type { PaymentState, PayoutRequest, PayoutWorkflowOptions } from '../../../src/domain/payment.js';
import { cardPaymentWorkflow as currentCard } from '../../../src/workflows/card-payment.js';
import type { NetworkSettlementInput, NetworkSettlementState } from '../../../src/domain/network-settlement.js';
import { networkSettlementWorkflow as currentNetworkSettlement } from '../../../src/workflows/network-settlement.js';
import { payoutWorkflow as currentPayout } from '../../../src/workflows/payout.js';
import type { BillingInput } from '../../../src/domain/billing.js';
import { billingWorkflow as currentBilling } from '../../../src/workflows/billing.js';
import type { DisputeStart, DisputeView, DisputeWorkflowOptions } from '../../../src/domain/dispute.js';
import { disputeWorkflow as currentDispute } from '../../../src/workflows/dispute.js';

export async function payoutWorkflow(input: PayoutRequest, options?: PayoutWorkflowOptions): Promise<PaymentState> {
  await sleep('1 millisecond');
  return currentPayout(input, options);
}

export async function cardPaymentWorkflow(input: CardPayment, options?: CardWorkflowOptions): Promise<PaymentState> {
  await sleep('1 millisecond');
  return currentCard(input, options);
}

export async function networkSettlementWorkflow(input?: NetworkSettlementInput): Promise<NetworkSettlementState> {
  await sleep('1 millisecond');
  return currentNetworkSettlement(input);
}

export async function billingWorkflow(input: BillingInput): Promise<void> {
  await sleep('1 millisecond');
  return currentBilling(input);
}

export async function disputeWorkflow(input: DisputeStart, options: DisputeWorkflowOptions): Promise<DisputeView> {
  await sleep('1 millisecond');
  return currentDispute(input, options);
}
