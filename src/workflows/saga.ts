// A saga's two small mechanisms, kept free of Temporal so they can be unit-tested and used by any
// payment workflow (the workflow passes in its sleep and its non-cancellable scope):
//
// - `retryUntilDone`: runs a step that must eventually succeed (a compensation, the booking of
//   money the bank already moved), pausing between failures with a doubling pause up to a
//   ceiling, telling the caller about each failure (to flag the payment for people), and giving
//   up only after `attempts_max` so that no loop is unbounded.
// - `createSaga`: compensations registered before their step runs (a step whose reply was lost is
//   still undone), run most recent first, each retried until done, inside a scope that a
//   cancellation of the workflow cannot interrupt (DESIGN.md section 5).

export interface RetryPolicy {
  /** Attempts before the failure is thrown to the caller; with the pause at its ceiling this is
   * how long people have to step in. */
  attempts_max: number;
  pause_ms_min: number;
  pause_ms_max: number;
}

export interface RetryHooks {
  /** Whether a failure is worth another attempt (default: every failure); one that is not is
   * thrown at once. */
  retryable?(err: unknown): boolean;
  /** Called after each failed attempt (1-based), before the pause that follows it. */
  failed(attempt: number, err: unknown, pause_ms: number): void;
  /** Waits `pause_ms` before the next attempt (a Temporal timer; a wakeable one if ops may cut it
   * short). */
  pause(pause_ms: number, next_attempt: number): Promise<void>;
}

/** The pause after failed attempt `attempt` (1-based): doubling from the minimum up to the maximum. */
export function pauseAfter(policy: RetryPolicy, attempt: number): number {
  if (!(Number.isSafeInteger(attempt) && attempt >= 1)) throw new Error(`attempt must be a positive integer, got ${attempt}`);
  // 2 ** 52 is still exact; beyond it the ceiling has long been reached.
  return Math.min(policy.pause_ms_min * 2 ** Math.min(attempt - 1, 52), policy.pause_ms_max);
}

export function assertRetryPolicy(policy: RetryPolicy): void {
  const { attempts_max, pause_ms_min, pause_ms_max } = policy;
  if (!(Number.isSafeInteger(attempts_max) && attempts_max >= 1))
    throw new Error(`attempts_max must be a positive integer, got ${attempts_max}`);
  if (!(Number.isSafeInteger(pause_ms_min) && pause_ms_min >= 1))
    throw new Error(`pause_ms_min must be a positive integer, got ${pause_ms_min}`);
  if (!(Number.isSafeInteger(pause_ms_max) && pause_ms_max >= pause_ms_min)) {
    throw new Error(`pause_ms_max must be an integer >= pause_ms_min (${pause_ms_min}), got ${pause_ms_max}`);
  }
}

/** Runs `step` until it succeeds; after `attempts_max` failures the last error is thrown. */
export async function retryUntilDone<T>(step: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks): Promise<T> {
  assertRetryPolicy(policy);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step(attempt);
    } catch (err) {
      if (attempt >= policy.attempts_max || (hooks.retryable && !hooks.retryable(err))) throw err;
      const pause_ms = pauseAfter(policy, attempt);
      hooks.failed(attempt, err, pause_ms);
      await hooks.pause(pause_ms, attempt + 1);
    }
  }
}

export interface SagaHooks {
  /** A compensation's attempt failed (the workflow flags the payment on the first). */
  failed(compensation: string, attempt: number, err: unknown, pause_ms: number): void;
  pause(compensation: string, pause_ms: number, next_attempt: number): Promise<void>;
  /** A compensation finished. */
  compensated(compensation: string): void;
  /** Runs `fn` so that a cancellation of the workflow cannot stop it (CancellationScope.nonCancellable). */
  shielded<T>(fn: () => Promise<T>): Promise<T>;
}

export interface Saga {
  /** Registers the compensation of the step about to run: call it before the step. */
  register(name: string, compensate: () => Promise<void>): void;
  /** Forgets the compensation of a step that was refused for good (nothing to undo). */
  forget(name: string): void;
  /** Names of the registered compensations, in the order they would run. */
  pending(): string[];
  /** Runs every registered compensation, most recent first, each until it succeeds; once run, a
   * compensation is forgotten (running the saga again does not repeat it). */
  compensate(): Promise<void>;
}

export function createSaga(policy: RetryPolicy, hooks: SagaHooks): Saga {
  assertRetryPolicy(policy);
  const compensations: Array<{ name: string; run: () => Promise<void> }> = [];
  return {
    register(name, run) {
      if (compensations.some((c) => c.name === name)) throw new Error(`compensation ${name} is already registered`);
      compensations.unshift({ name, run });
    },
    forget(name) {
      const index = compensations.findIndex((c) => c.name === name);
      if (index < 0) throw new Error(`compensation ${name} is not registered`);
      compensations.splice(index, 1);
    },
    pending: () => compensations.map((c) => c.name),
    compensate: () =>
      hooks.shielded(async () => {
        while (compensations.length > 0) {
          const { name, run } = compensations[0]!;
          await retryUntilDone(() => run(), policy, {
            failed: (attempt, err, pause_ms) => hooks.failed(name, attempt, err, pause_ms),
            pause: (pause_ms, next_attempt) => hooks.pause(name, pause_ms, next_attempt),
          });
          compensations.shift();
          hooks.compensated(name);
        }
      }),
  };
}
