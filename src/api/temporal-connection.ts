// The API's connection to Temporal fails fast: a caller of the API has its own deadline (the card
// network's is 2 s) and retries with the same ids, so an unreachable Temporal must be answered
// UNAVAILABLE within a second, not retried inside the API for the client's default ~15 s (which
// turns into DEADLINE_EXCEEDED at the caller and hides why).
import { Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type ConnectionOptions } from '@temporalio/client';

/** Attempts of one Temporal call from the API (the first one included). */
export const API_TEMPORAL_ATTEMPTS_MAX = 3;
/** Pause before the 2nd attempt; the 3rd waits about 1.7 times as long. */
const API_TEMPORAL_RETRY_INITIAL_MS = 100;
const API_TEMPORAL_RETRY_MAX_MS = 400;

export function apiTemporalConnectionOptions(address: string): ConnectionOptions {
  return {
    address,
    interceptors: [
      makeGrpcRetryInterceptor(
        defaultGrpcRetryOptions({
          maxAttempts: API_TEMPORAL_ATTEMPTS_MAX,
          initialIntervalMs: () => API_TEMPORAL_RETRY_INITIAL_MS,
          maxIntervalMs: () => API_TEMPORAL_RETRY_MAX_MS,
        }),
      ),
    ],
  };
}

/** Connects eagerly (the API process at start). */
export function connectApiTemporal(address: string): Promise<Connection> {
  return Connection.connect(apiTemporalConnectionOptions(address));
}
