// One message at a time, in arrival order: a payment's handlers each run a read-modify-write of its
// state with awaits (ledger steps) in between, so two of them interleaving would each act on a
// state the other is changing. No Temporal import: tested on its own (test/unit/serial-queue.test.ts),
// and used by workflow code with `allHandlersFinished()` deciding when the workflow may end.

export interface SerialQueue {
  /** Runs `task` after every task queued before it has settled. Its failure is the caller's only:
   * the next task runs whatever happened to this one. Refused at once past `queued_max`. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks queued or running. */
  readonly size: number;
  readonly idle: boolean;
}

export class SerialQueueFullError extends Error {
  override name = 'SerialQueueFullError';
}

export function createSerialQueue(queued_max: number): SerialQueue {
  if (!(Number.isSafeInteger(queued_max) && queued_max > 0)) throw new Error(`queued_max must be a positive integer, got ${queued_max}`);
  let tail: Promise<void> = Promise.resolve();
  let size = 0;
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      if (size >= queued_max) return Promise.reject(new SerialQueueFullError(`${size} tasks already queued (queued_max ${queued_max})`));
      size += 1;
      const result = tail.then(task).finally(() => {
        size -= 1;
      });
      // The chain never rejects: a failed task must not stop the ones behind it.
      tail = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    },
    get size() {
      return size;
    },
    get idle() {
      return size === 0;
    },
  };
}
