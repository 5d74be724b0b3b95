// The API's connection to Temporal fails fast and never retries itself into a storm. A caller of
// the API has its own deadline (the card network's is 2 s) and retries with the same ids, so:
//
// - an unreachable Temporal is answered UNAVAILABLE within a second, not retried inside the API
//   for the client's default ~15 s (which turns into DEADLINE_EXCEEDED at the caller and hides why);
// - a retry is made only if it can still finish before the call's deadline (set per call by the
//   API: the caller's deadline, src/api/rpc/payments-service.ts and admission-interceptor.ts);
// - retries are paid from a budget shared by the whole process: each call earns
//   RETRY_BUDGET_RATIO of a retry, at most RETRY_BUDGET_TOKENS_MAX saved up. When Temporal is
//   overloaded and most calls fail, retries stop at about a tenth of the traffic instead of
//   tripling it, so the overload cannot sustain itself after its trigger is gone (issue 14).
import {
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionOptions,
  type GrpcRetryOptions,
} from '@temporalio/client';
import type { Interceptor } from '@grpc/grpc-js';

/** Attempts of one Temporal call from the API (the first one included). */
export const API_TEMPORAL_ATTEMPTS_MAX = 3;
/** Pause before the 2nd attempt; the 3rd waits about 1.7 times as long (jittered ±20 %). */
const API_TEMPORAL_RETRY_INITIAL_MS = 100;
const API_TEMPORAL_RETRY_MAX_MS = 400;
/** A retry must leave at least this long before the deadline for the attempt itself. */
const API_TEMPORAL_ATTEMPT_MS_MIN = 50;
/** Retries earned per call: at most about one retry per ten calls, over time. */
export const RETRY_BUDGET_RATIO = 0.1;
/** Retries that can be saved up (a burst of failures after a quiet time). */
export const RETRY_BUDGET_TOKENS_MAX = 10;

/** The process's retry budget (a token bucket filled by calls, emptied by retries). */
export interface RetryBudget {
  /** A call was made: it earns part of a retry. */
  earn(): void;
  /** Takes one retry from the budget; false when it is spent. */
  spend(): boolean;
  readonly tokens: number;
}

export function createRetryBudget(ratio = RETRY_BUDGET_RATIO, tokens_max = RETRY_BUDGET_TOKENS_MAX): RetryBudget {
  if (!(ratio > 0 && ratio <= 1 && Number.isSafeInteger(tokens_max) && tokens_max >= 1)) {
    throw new Error(`retry budget: ratio ${ratio}, tokens_max ${tokens_max}`);
  }
  // Kept in thousandths of a retry: integers, so ten calls at 0.1 make exactly one retry.
  const earn_milli = Math.round(ratio * 1_000);
  const max_milli = tokens_max * 1_000;
  let milli = max_milli;
  return {
    earn() {
      milli = Math.min(max_milli, milli + earn_milli);
    },
    spend() {
      if (milli < 1_000) return false;
      milli -= 1_000;
      return true;
    },
    get tokens() {
      return milli / 1_000;
    },
  };
}

type GrpcStatus = Parameters<GrpcRetryOptions['retryableDecider']>[1];
const base = defaultGrpcRetryOptions({
  maxAttempts: API_TEMPORAL_ATTEMPTS_MAX,
  initialIntervalMs: () => API_TEMPORAL_RETRY_INITIAL_MS,
  maxIntervalMs: () => API_TEMPORAL_RETRY_MAX_MS,
});

/** The retry policy of one call: the SDK's rules of what is retryable, within the attempt bound,
 * only when the retry can finish before the deadline, and only while the budget lasts. Exported
 * for its unit test. */
export function apiCallRetryOptions(deadline_ms: number, budget: RetryBudget, now: () => number = Date.now): GrpcRetryOptions {
  let delay_ms = 0;
  return {
    retryableDecider(attempt: number, status: GrpcStatus) {
      if (!base.retryableDecider(attempt, status)) return false;
      delay_ms = base.delayFunction(attempt, status);
      if (now() + delay_ms + API_TEMPORAL_ATTEMPT_MS_MIN > deadline_ms) return false;
      return budget.spend();
    },
    delayFunction: () => delay_ms,
  };
}

function deadlineMsOf(deadline: unknown): number {
  if (deadline instanceof Date) return deadline.getTime();
  if (typeof deadline === 'number' && Number.isFinite(deadline)) return deadline;
  return Number.POSITIVE_INFINITY; // no deadline: bounded by the attempt count and the budget
}

/** A gRPC interceptor applying apiCallRetryOptions to every call, with one budget per process. */
export function budgetedRetryInterceptor(budget: RetryBudget): Interceptor {
  return (options, nextCall) => {
    budget.earn();
    return makeGrpcRetryInterceptor(apiCallRetryOptions(deadlineMsOf(options.deadline), budget))(options, nextCall);
  };
}

export function apiTemporalConnectionOptions(address: string, budget: RetryBudget = createRetryBudget()): ConnectionOptions {
  return { address, interceptors: [budgetedRetryInterceptor(budget)] };
}

/** Connects eagerly (the API process at start). */
export function connectApiTemporal(address: string): Promise<Connection> {
  return Connection.connect(apiTemporalConnectionOptions(address));
}
