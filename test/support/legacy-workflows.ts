// A test-only workflow bundle entry: the legacy card workflow (src/workflows/card-payment-legacy.ts)
// as a workflow type of its own. Production starts no payment on it (a new payment takes the
// decider path); payments started before patched('card-decider') still run it, so a test starts
// one here to see what such a payment does with the changes it makes today.
export { legacyCardPaymentWorkflow } from '../../src/workflows/card-payment-legacy.js';
