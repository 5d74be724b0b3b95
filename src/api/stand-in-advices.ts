// The advices the door owes card payments, in Postgres (api.stand_in_advices, migration
// 1764000000070): written when the door answers with the stand-in, claimed by any API process's
// relay under a lease (FOR UPDATE SKIP LOCKED: two relays never take the same row), deleted once
// delivered. src/api/door-advice.ts says why and when.
import type { Pool } from '../ledger/db.js';
import { paymentIdSchema } from '../domain/payment.js';
import type { OwedAdvice, StandIn, StandInAdviceStore } from './door-advice.js';

function assertAdviceTime(name: string, ms: number): void {
  if (!(Number.isSafeInteger(ms) && ms >= 0)) throw new Error(`stand-in advice ${name}: must be a non-negative integer of ms, got ${ms}`);
}

export function createStandInAdviceStore(pool: Pool): StandInAdviceStore {
  return {
    async add({ payment_id, stand_in, settle_after_ms }) {
      paymentIdSchema.parse(payment_id);
      if (stand_in !== 'decline' && stand_in !== 'approve') throw new Error(`stand-in advice: unknown stand-in ${String(stand_in)}`);
      assertAdviceTime('settle_after_ms', settle_after_ms);
      // A later door answer for the same authorization pushes back when NOT_FOUND is final.
      await pool.query(
        `INSERT INTO api.stand_in_advices (payment_id, stand_in, settle_after)
         VALUES ($1, $2, to_timestamp($3::double precision / 1000))
         ON CONFLICT (payment_id) DO UPDATE SET settle_after = GREATEST(api.stand_in_advices.settle_after, EXCLUDED.settle_after)`,
        [payment_id, stand_in, settle_after_ms],
      );
    },
    async claim(limit, lease_ms) {
      assertAdviceTime('limit', limit);
      assertAdviceTime('lease_ms', lease_ms);
      const { rows } = await pool.query<{ payment_id: string; stand_in: StandIn; settle_after_ms: string; attempts: number }>(
        `UPDATE api.stand_in_advices SET next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
         WHERE payment_id IN (
           SELECT payment_id FROM api.stand_in_advices WHERE next_attempt_at <= now()
           ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING payment_id, stand_in, (extract(epoch FROM settle_after) * 1000)::bigint AS settle_after_ms, attempts`,
        [limit, lease_ms],
      );
      return rows.map((r): OwedAdvice => {
        const settle_after_ms = Number(r.settle_after_ms);
        assertAdviceTime('settle_after_ms', settle_after_ms);
        return { payment_id: r.payment_id, stand_in: r.stand_in, settle_after_ms, attempts: r.attempts };
      });
    },
    async settle(payment_id) {
      await pool.query('DELETE FROM api.stand_in_advices WHERE payment_id = $1', [payment_id]);
    },
    async retryLater(payment_id, delay_ms, failed) {
      assertAdviceTime('delay_ms', delay_ms);
      await pool.query(
        `UPDATE api.stand_in_advices
         SET next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), attempts = attempts + $3
         WHERE payment_id = $1`,
        [payment_id, delay_ms, failed ? 1 : 0],
      );
    },
  };
}
