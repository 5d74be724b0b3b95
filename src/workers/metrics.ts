// The platform's own metrics in the worker process, on the SDK's meter: they are served with the
// SDK's metrics (task latencies, slots, polls...) on the worker's Prometheus endpoint
// (WORKER_METRICS_PORT). The SDK's own series carry its `temporal_` prefix; these do not.
import type { MetricMeter } from '@temporalio/common';

/** Buckets of the platform's histograms (the SDK's defaults suit seconds-long tasks, not these). */
const MS_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000];
export const WORKER_HISTOGRAM_BUCKETS: Record<string, number[]> = {
  ledger_batch_transfers: [1, 2, 5, 10, 20, 50, 100, 200, 500],
  ledger_batch_latency_ms: MS_BUCKETS,
  card_authorization_decision_ms: MS_BUCKETS,
};

export interface WorkerMetrics {
  /** One ledger batch (one database transaction) written by the group-commit batcher. */
  ledgerBatch(batch: { transfers: number; latency_ms: number; ok: boolean }): void;
  /** One authorization or increment decided by the card rules and the ledger. */
  cardDecision(decision: { kind: 'authorization' | 'increment'; approved: boolean; reason: string; latency_ms: number }): void;
}

export function createWorkerMetrics(meter: MetricMeter): WorkerMetrics {
  const batchTransfers = meter.createHistogram('ledger_batch_transfers', 'int', 'transfers', 'Transfers per ledger batch (group commit)');
  const batchLatency = meter.createHistogram('ledger_batch_latency_ms', 'float', 'ms', 'Time to write one ledger batch');
  const batches = meter.createCounter('ledger_batches', 'batches', 'Ledger batches written, by result');
  const decisionLatency = meter.createHistogram(
    'card_authorization_decision_ms',
    'float',
    'ms',
    'Time to decide an authorization or increment (card rules + ledger hold)',
  );
  const decisions = meter.createCounter('card_authorization_decisions', 'decisions', 'Authorization decisions by outcome and reason');
  return {
    ledgerBatch({ transfers, latency_ms, ok }) {
      batchTransfers.record(transfers);
      batchLatency.record(latency_ms);
      batches.add(1, { result: ok ? 'committed' : 'failed' });
    },
    cardDecision({ kind, approved, reason, latency_ms }) {
      decisionLatency.record(latency_ms, { kind });
      decisions.add(1, { kind, outcome: approved ? 'approved' : 'declined', reason: approved ? 'none' : reason });
    },
  };
}
