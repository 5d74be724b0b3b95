// How a payment workflow records what happens to it: the state its query returns, the search
// attributes ops filter on, and the log. One recorder for every kind of payment, so a status
// change looks the same in the query, the Web UI and the logs.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { log, metricMeter, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PaymentState, PaymentStatus } from '../domain/payment.js';
import { NeedsAttentionKey, PaymentStatusKey, visibleStatus } from '../domain/search-attributes.js';

/** Timeline entries one payment keeps; beyond it the oldest detail-free entries would be noise. */
export const TIMELINE_LENGTH_MAX = 500;

export interface PaymentRecorder {
  /** Moves the payment to `status`, with the event that moved it. */
  transition(status: PaymentStatus, event: string, detail?: string): void;
  /** Adds an event to the timeline without changing the status. */
  note(event: string, detail?: string): void;
  /** Flags the payment for people (once; each reason is kept in the timeline). */
  markNeedsAttention(event: string, detail: string): void;
  /** Sets a search attribute (now, or at the next flush when coalescing). */
  setAttribute(pair: SearchAttributeUpdatePair): void;
  /** Sends the attributes set since the last flush in one upsert (coalescing only). With
   * `implied_status`, told what the run is about to be (`RUNNING`: it waits, `COMPLETED`: it
   * closes); from a handler (nothing told), a status the close would imply waits for that. */
  flush(execution?: 'RUNNING' | 'COMPLETED'): void;
}

export interface RecorderOptions {
  /** Buffer search-attribute changes and send them in one upsert per flush, instead of one per
   * change: each upsert is a history event and a visibility write. Off for workflows recorded
   * before it (their histories upsert every change). */
  coalesce_attributes: boolean;
  /** Card payments of CARD_WORKFLOW_VERSION 1 (src/domain/card.ts): attributes go out only at a
   * flush that says what the run is about to be, only those that differ from the run's visibility
   * record (the start gave the fixed ones), and PaymentStatus only when the visibility record, read
   * as visibleStatus() reads it, would tell another status: an authorize + clear writes none. */
  implied_status?: boolean;
}

export function createPaymentRecorder(state: PaymentState, options: RecorderOptions = { coalesce_attributes: false }): PaymentRecorder {
  const pending = new Map<string, SearchAttributeUpdatePair>();
  // Saga metrics, on the worker's Prometheus endpoint (the SDK drops them during replay).
  const transitions = metricMeter.createCounter('payment_transitions', 'transitions', 'Payments entering each status, by kind');
  const attention = metricMeter.createCounter('payments_needing_attention', 'payments', 'Payments flagged NeedsAttention, by reason');
  const compensations = metricMeter.createCounter('payment_compensations', 'steps', 'Compensation steps completed, by step');
  const setAttribute = (pair: SearchAttributeUpdatePair) => {
    if (options.coalesce_attributes || options.implied_status) pending.set(pair.key.name, pair);
    else upsertSearchAttributes([pair]);
  };
  /** The pairs whose value the run's visibility record does not have yet. */
  const changed = (pairs: SearchAttributeUpdatePair[]) => {
    const current = workflowInfo().typedSearchAttributes;
    return pairs.filter((p) => (current.get(p.key) ?? null) !== p.value);
  };
  const note = (event: string, detail?: string) => {
    if (event.startsWith('compensated_')) compensations.add(1, { kind: state.kind, step: event.slice('compensated_'.length) });
    if (state.timeline.length >= TIMELINE_LENGTH_MAX) state.timeline.splice(1, 1);
    state.timeline.push({ at: new Date().toISOString(), event, ...(detail !== undefined ? { detail } : {}) });
  };
  return {
    note,
    transition(status, event, detail) {
      state.status = status;
      note(event, detail);
      transitions.add(1, { kind: state.kind, status });
      // Without coalescing, upserted on every transition, as the recorded histories do (replay).
      // With implied_status, decided at the flush.
      if (!options.implied_status) setAttribute({ key: PaymentStatusKey, value: status });
      log.info('payment transition', { payment_id: state.payment_id, status, event });
    },
    markNeedsAttention(event, detail) {
      note(event, detail);
      if (state.needs_attention) return;
      attention.add(1, { kind: state.kind, reason: event });
      state.needs_attention = true;
      setAttribute({ key: NeedsAttentionKey, value: true });
      log.warn('payment needs attention', { payment_id: state.payment_id, event, detail });
    },
    setAttribute,
    flush(execution) {
      if (options.implied_status) {
        // A handler's flush (no execution given) runs while the workflow is open and sends what
        // ops must see now (attention, a status the open run does not imply), but leaves a status
        // the close would imply (SETTLED) to the run's own flush where it waits or closes.
        const written = workflowInfo().typedSearchAttributes.get(PaymentStatusKey);
        const deferred = execution === undefined && state.status === visibleStatus(undefined, state.kind, 'COMPLETED');
        if (!deferred && visibleStatus(written, state.kind, execution ?? 'RUNNING') !== state.status)
          pending.set(PaymentStatusKey.name, { key: PaymentStatusKey, value: state.status });
        const pairs = changed([...pending.values()]);
        pending.clear();
        if (pairs.length > 0) upsertSearchAttributes(pairs);
        return;
      }
      if (pending.size === 0) return;
      upsertSearchAttributes([...pending.values()]);
      pending.clear();
    },
  };
}
