// The authorizations worker's workflow bundle entry (src/workers/main.ts): the card payment
// workflow alone. The SDK evaluates a bundle's modules again for every new workflow (each workflow
// gets its own module registry), so each workflow type and library the entry imports costs every
// card payment's first workflow task CPU: the whole entry (index.ts) was about half of it
// (bench:overload --worker-cpu-prof, docs/performance.md).
export { cardPaymentWorkflow } from './card-payment.js';
