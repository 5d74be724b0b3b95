// The activities of the engine-ceiling worker in `npm run bench:saga`: the card saga's activities
// by name and type, doing nothing. Each answers at once with what the real one answers on the
// purchase path the benchmark drives (an approved authorization and a final clearing), so the
// workflow takes exactly the same path: no card read, no ledger write, no input validation.
import type { CardActivities, CardAccount } from '../activities/card.js';

const BENCH_CARD: CardAccount = { company_id: 'bench-company', account_id: '00000000-0000-4000-8000-000000000000' };

export function createSagaShapeActivities(): Pick<
  CardActivities,
  'resolveCard' | 'authorizeCard' | 'releaseCardHold' | 'clearCard' | 'refundCard'
> {
  return {
    async resolveCard() {
      return BENCH_CARD;
    },
    async authorizeCard(input) {
      return {
        approved: true,
        hold: { key: input.event_id, amount_minor: input.hold_minor, overlimit: false },
        card: BENCH_CARD,
        decided_at_ms: Date.now(),
      };
    },
    async releaseCardHold() {
      return { hold: null, found: true, released_minor: 0 };
    },
    async clearCard(input) {
      return { hold: null, posted_minor: input.amount_minor, from_hold_minor: 0, overlimit_minor: 0 };
    },
    async refundCard(input) {
      return { refunded_minor: input.amount_minor };
    },
  };
}
