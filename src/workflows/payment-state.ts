// How a payment workflow records what happens to it: the state its query returns, the search
// attributes ops filter on, and the log. One recorder for every kind of payment, so a status
// change looks the same in the query, the Web UI and the logs.
import { log, upsertSearchAttributes } from '@temporalio/workflow';
import type { PaymentState, PaymentStatus } from '../domain/payment.js';
import { NeedsAttentionKey, PaymentStatusKey } from '../domain/search-attributes.js';

/** Timeline entries one payment keeps; beyond it the oldest detail-free entries would be noise. */
export const TIMELINE_LENGTH_MAX = 500;

export interface PaymentRecorder {
  /** Moves the payment to `status`, with the event that moved it. */
  transition(status: PaymentStatus, event: string, detail?: string): void;
  /** Adds an event to the timeline without changing the status. */
  note(event: string, detail?: string): void;
  /** Flags the payment for people (once; each reason is kept in the timeline). */
  markNeedsAttention(event: string, detail: string): void;
}

export function createPaymentRecorder(state: PaymentState): PaymentRecorder {
  const note = (event: string, detail?: string) => {
    if (state.timeline.length >= TIMELINE_LENGTH_MAX) state.timeline.splice(1, 1);
    state.timeline.push({ at: new Date().toISOString(), event, ...(detail !== undefined ? { detail } : {}) });
  };
  return {
    note,
    transition(status, event, detail) {
      state.status = status;
      note(event, detail);
      // Upserted on every transition, as the first recorded payout histories do (replay).
      upsertSearchAttributes([{ key: PaymentStatusKey, value: status }]);
      log.info('payment transition', { payment_id: state.payment_id, status, event });
    },
    markNeedsAttention(event, detail) {
      note(event, detail);
      if (state.needs_attention) return;
      state.needs_attention = true;
      upsertSearchAttributes([{ key: NeedsAttentionKey, value: true }]);
      log.warn('payment needs attention', { payment_id: state.payment_id, event, detail });
    },
  };
}
