// Group commit at the application level: concurrent callers' transfers are coalesced into one
// ledger batch (one database transaction, one WAL flush), and each caller gets its own results.
//
// While a batch is being written, new requests queue up; when it commits, everything queued (up
// to batch_size_max) goes in the next batch. An idle batcher sends a lone request at once, so
// batching adds no latency at low load and grows batches exactly when the database is the
// bottleneck. batch_wait_ms_max lets a request wait a little for company even when idle.
import type { Link } from '@opentelemetry/api';
import { SpanKind, activeSpanLink, traced } from '../telemetry/spans.js';
import {
  LedgerInputError,
  transferInputSchema,
  type Ledger,
  type TransferInput,
  type TransferOutcome,
  type TransferRequest,
} from './ledger.js';
import { BATCH_SIZE_MAX } from './ledger.js';
import { TransferFlags } from '../domain/ledger.js';
import { describeIssue } from '../domain/validation.js';

export interface BatcherOptions {
  /** Transfers per ledger batch, at most. */
  batch_size_max: number;
  /** How long the first request of a batch may wait for others when no batch is in flight. */
  batch_wait_ms_max: number;
  /** Transfers waiting to be batched, at most; beyond it submit() refuses (back-pressure). */
  queue_length_max: number;
  /** Batches written at once. 1 keeps hot accounts free of lock waits between batches. */
  batches_in_flight_max: number;
}

export const DEFAULT_BATCHER_OPTIONS: BatcherOptions = {
  batch_size_max: 500,
  batch_wait_ms_max: 0,
  queue_length_max: 50_000,
  batches_in_flight_max: 1,
};

export class BatcherOverloadedError extends Error {
  override name = 'BatcherOverloadedError';
}

export class BatcherClosedError extends Error {
  override name = 'BatcherClosedError';
}

interface Pending {
  transfers: TransferRequest[];
  /** The submitter's span, linked from the batch's span (one batch serves many callers). */
  link: Link | null;
  resolve(outcomes: TransferOutcome[]): void;
  reject(err: unknown): void;
}

export interface BatcherStats {
  batches: number;
  transfers: number;
  batch_size_max_seen: number;
  /** The most batches that were being written at once. */
  batches_in_flight_max_seen: number;
}

export interface TransferBatcher {
  /** Submits a group of transfers (one transfer, or one linked chain) and resolves with their
   * outcomes, in order. A group is never split across batches. */
  submit(transfers: TransferInput[]): Promise<TransferOutcome[]>;
  stats(): BatcherStats;
  queued(): number;
  /** Stops accepting work and waits for queued work to be written. */
  close(): Promise<void>;
}

export function createTransferBatcher(
  ledger: Pick<Ledger, 'createParsedTransfers'>,
  options: BatcherOptions = DEFAULT_BATCHER_OPTIONS,
  /** Told about every batch written (metrics). */
  observe: (batch: { transfers: number; latency_ms: number; ok: boolean }) => void = () => undefined,
): TransferBatcher {
  if (!(options.batch_size_max >= 1 && options.batch_size_max <= BATCH_SIZE_MAX)) {
    throw new Error(`batch_size_max must be 1..${BATCH_SIZE_MAX}, got ${options.batch_size_max}`);
  }
  if (!(options.batch_wait_ms_max >= 0 && options.batch_wait_ms_max <= 1_000)) {
    throw new Error(`batch_wait_ms_max must be 0..1000, got ${options.batch_wait_ms_max}`);
  }
  if (!(options.queue_length_max >= options.batch_size_max)) {
    throw new Error(`queue_length_max must be at least batch_size_max (${options.batch_size_max}), got ${options.queue_length_max}`);
  }
  if (!(options.batches_in_flight_max >= 1 && options.batches_in_flight_max <= 16)) {
    throw new Error(`batches_in_flight_max must be 1..16, got ${options.batches_in_flight_max}`);
  }

  const queue: Pending[] = [];
  let queuedTransfers = 0;
  let inFlight = 0;
  let lingerTimer: NodeJS.Timeout | null = null;
  let pumpScheduled = false;
  let closed = false;
  const idleWaiters: Array<() => void> = [];
  const stats: BatcherStats = { batches: 0, transfers: 0, batch_size_max_seen: 0, batches_in_flight_max_seen: 0 };

  function takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let size = 0;
    while (queue.length > 0 && size + queue[0]!.transfers.length <= options.batch_size_max) {
      const next = queue.shift()!;
      size += next.transfers.length;
      batch.push(next);
    }
    queuedTransfers -= size;
    return batch;
  }

  /** Writes one batch and answers its callers. release() frees the batch's slot; it runs before
   * the callers are answered (see schedulePump) and at most once. */
  async function write(batch: Pending[], release: () => void): Promise<void> {
    const transfers = batch.flatMap((p) => p.transfers);
    stats.batches += 1;
    stats.transfers += transfers.length;
    stats.batch_size_max_seen = Math.max(stats.batch_size_max_seen, transfers.length);
    const started_ms = performance.now();
    try {
      const links = batch.flatMap((p) => (p.link ? [p.link] : []));
      const outcomes = await traced(
        'ledger.batch',
        { 'db.system': 'postgresql', 'ledger.transfers': transfers.length, 'ledger.callers': batch.length },
        () => ledger.createParsedTransfers(transfers),
        { kind: SpanKind.CLIENT, links },
      );
      if (outcomes.length !== transfers.length) {
        throw new Error(`ledger answered ${outcomes.length} results for ${transfers.length} transfers`);
      }
      observe({ transfers: transfers.length, latency_ms: performance.now() - started_ms, ok: true });
      release();
      let offset = 0;
      for (const p of batch) {
        p.resolve(outcomes.slice(offset, offset + p.transfers.length));
        offset += p.transfers.length;
      }
    } catch (err) {
      observe({ transfers: transfers.length, latency_ms: performance.now() - started_ms, ok: false });
      // The batch was one transaction. It usually wrote nothing, but if its connection was lost
      // after COMMIT was sent (and the ledger's own retries ran out) it may have committed: either
      // way every caller may retry, since transfers are idempotent by id (a retry answers exists).
      release();
      for (const p of batch) p.reject(err);
    }
  }

  function pump(): void {
    while (inFlight < options.batches_in_flight_max && queue.length > 0) {
      const idle = inFlight === 0;
      if (idle && options.batch_wait_ms_max > 0 && queuedTransfers < options.batch_size_max && !closed) {
        lingerTimer ??= setTimeout(() => {
          lingerTimer = null;
          flush();
        }, options.batch_wait_ms_max);
        return;
      }
      flush();
    }
    if (inFlight === 0 && queue.length === 0) idleWaiters.splice(0).forEach((w) => w());
  }

  /** After a batch, the next one is taken once the promise callbacks of this turn have run: the
   * callers the batch just answered resubmit in those callbacks (a payment's post after its
   * hold) and join the next batch beside those that waited, instead of trailing one transfer
   * behind it. Without this the callers split into two cohorts that alternate, each batch carrying
   * half of them and each caller waiting for two batches. While a pump is scheduled, submit()
   * only queues. Costs one event-loop turn (microseconds) per batch. */
  function schedulePump(): void {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(() => {
      pumpScheduled = false;
      pump();
    });
  }

  function flush(): void {
    if (lingerTimer) {
      clearTimeout(lingerTimer);
      lingerTimer = null;
    }
    const batch = takeBatch();
    if (batch.length === 0) return;
    inFlight += 1;
    stats.batches_in_flight_max_seen = Math.max(stats.batches_in_flight_max_seen, inFlight);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight -= 1;
      schedulePump();
    };
    void write(batch, release).finally(release);
  }

  return {
    submit(transfers) {
      if (closed) return Promise.reject(new BatcherClosedError('the ledger batcher is closed'));
      if (!Array.isArray(transfers) || transfers.length === 0) {
        return Promise.reject(new LedgerInputError('submit: a group needs at least one transfer'));
      }
      if (transfers.length > options.batch_size_max) {
        return Promise.reject(
          new LedgerInputError(`submit: a group of ${transfers.length} is over batch_size_max ${options.batch_size_max}`),
        );
      }
      // Validate here, per caller: a malformed request must fail alone, not the batch it joins.
      const requests: TransferRequest[] = [];
      for (const [index, t] of transfers.entries()) {
        const parsed = transferInputSchema.safeParse(t);
        if (!parsed.success) {
          return Promise.reject(new LedgerInputError(describeIssue(parsed.error, `transfers[${index}].`)));
        }
        requests.push(parsed.data);
      }
      // An open chain would link this caller's last transfer to the next caller's first.
      if ((transfers.at(-1)!.flags ?? 0) & TransferFlags.linked) {
        return Promise.reject(new LedgerInputError('submit: the last transfer of a group must not be linked (the chain would stay open)'));
      }
      if (queuedTransfers + transfers.length > options.queue_length_max) {
        return Promise.reject(
          new BatcherOverloadedError(`ledger batcher queue is full (${options.queue_length_max} transfers); retry later`),
        );
      }
      return new Promise<TransferOutcome[]>((resolve, reject) => {
        queue.push({ transfers: requests, resolve, reject, link: activeSpanLink() });
        queuedTransfers += transfers.length;
        if (!pumpScheduled) pump();
      });
    },
    stats: () => ({ ...stats }),
    queued: () => queuedTransfers,
    async close() {
      closed = true;
      if (lingerTimer) flush();
      if (inFlight === 0 && queue.length === 0) return;
      await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
