// The workflow bundle's entry point: every workflow type the payments worker runs.
export { cardPaymentWorkflow } from './card-payment.js';
export { networkSettlementWorkflow } from './network-settlement.js';
export { payoutWorkflow } from './payout.js';
export { billingWorkflow } from './billing.js';
export { disputeWorkflow } from './dispute.js';
