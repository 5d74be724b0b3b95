// What the worker's event and webhook activities need, built one way for every worker (npm start's,
// bench:saga's, the tests'): the event store, the endpoint store (secrets sealed with the payload
// keys) and the webhook request timeout.
import type { KeyRing } from '../codec/keys.js';
import type { Pool } from '../ledger/db.js';
import { createEndpointStore } from './endpoints.js';
import { createEventStore } from './store.js';

export function eventActivityDeps(pool: Pool, ring: KeyRing, webhook_timeout_ms: number) {
  return { events: createEventStore(pool), endpoints: createEndpointStore(pool, ring), webhook_timeout_ms };
}
