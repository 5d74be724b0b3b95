// The workflow bundle's entry point: every workflow type the payments worker runs.
export { payoutWorkflow } from './payout.js';
