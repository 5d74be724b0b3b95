// The engine-ceiling workflow of `npm run bench:saga`, bundled on its own for a bench-only task
// queue. It is the card-payment saga itself, not a copy: the same start (update-with-start), the
// same updates, the same local activity for the decision and regular activity for the clearing,
// the same timers, conditions and search-attribute upserts, in the same places. What differs is
// only its worker's activities (./saga-shape-activities.ts), which do nothing. So the ratio of the
// real saga's rate to this one's is what the ledger and card reads cost on top of the engine.
// The production bundle (src/workflows/index.ts) does not include this module.
export { cardPaymentWorkflow } from '../workflows/card-payment.js';
