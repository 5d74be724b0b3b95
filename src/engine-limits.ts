// The Temporal server's dynamic config the platform runs with (the dev server of `npm start` and
// the tests gets exactly these, src/stack/temporal-server.ts; server mode and docker-compose run
// the same server version, whose defaults are the values below), and the engine limits the
// platform's own bounds must stay under. The engine's limits are never what rejects work: the
// API sheds before them (src/api/admission.ts; docs/performance.md "Protections").

/** Server: one workflow's in-flight updates (admitted, not completed); the 11th is refused
 * RESOURCE_EXHAUSTED. Card messages are updates on one workflow per payment. */
export const ENGINE_UPDATES_IN_FLIGHT_PER_WORKFLOW_MAX = 10;
/** Server: long-running requests per namespace, per frontend, per API method (worker polls,
 * update-with-start, update result polls, queries); past it, "namespace concurrent poller limit
 * exceeded". */
export const ENGINE_LONG_POLLS_PER_METHOD_MAX = 1_200;
/** Server: requests per second per namespace per frontend. */
export const ENGINE_NAMESPACE_RPS_MAX = 2_400;

/** Server: how often each history shard's transfer queue loads new tasks from persistence, at
 * most. A workflow start's first workflow task goes to matching through it (later tasks of a
 * running workflow, and the sticky queue's, are dispatched directly), so at the default of 20 an
 * authorization's first task waited up to 50 ms for the next load, on the dev server's one shard:
 * the wait that made bench:overload's half-load tail (docs/performance.md, runs 31-37). Loads follow
 * writes of new tasks (and a periodic poll), so a higher ceiling costs nothing when idle; 200 is
 * ten times the default and above the rate at which new payments reach one shard here. */
export const TRANSFER_QUEUE_LOADS_PER_S_MAX = 200;

/** What the engine says when its own limits refuse work (the API and the workers log it): counted
 * by bench:overload and the chaos run, where it must never appear. */
export const ENGINE_REJECTION_PATTERN =
  /namespace concurrent poller limit exceeded|in-flight updates has been reached|limit on number of concurrent in-flight updates/g;

/** `--dynamic-config-value` entries, each with why. */
export const TEMPORAL_DYNAMIC_CONFIG: ReadonlyArray<{ key: string; value: string | number | boolean; why: string }> = [
  {
    key: 'system.forceSearchAttributesCacheRefreshOnRead',
    value: true,
    why: 'search attributes registered at start are visible to the first workflows at once',
  },
  { key: 'frontend.enableUpdateWorkflowExecution', value: true, why: 'card messages are updates (on by default since 1.26.2)' },
  {
    key: 'frontend.enableUpdateWorkflowExecutionAsyncAccepted',
    value: true,
    why: 'update-with-start waits for the accepted stage, then polls the result',
  },
  {
    key: 'history.maxInFlightUpdates',
    value: ENGINE_UPDATES_IN_FLIGHT_PER_WORKFLOW_MAX,
    why: 'the default, written down: the API allows API_PAYMENT_IN_FLIGHT_MAX (2) calls per payment per process, so up to 4 API processes stay under it',
  },
  {
    key: 'frontend.namespaceCount',
    value: ENGINE_LONG_POLLS_PER_METHOD_MAX,
    why: 'the default, written down: each API process holds at most API_TEMPORAL_IN_FLIGHT_MAX (64) long requests of a kind, each worker process 12 workflow-task and 6 activity-task polls; dozens of processes fit',
  },
  {
    key: 'frontend.namespaceRPS',
    value: ENGINE_NAMESPACE_RPS_MAX,
    why: 'the default, written down: a payment costs a handful of requests and the platform finishes tens per second',
  },
  {
    key: 'history.transferProcessorMaxPollRPS',
    value: TRANSFER_QUEUE_LOADS_PER_S_MAX,
    why: "a new card payment's first workflow task reaches matching through its shard's transfer queue, which loads new tasks at most this often; at the default 20 it waited up to 50 ms (docs/performance.md, runs 31-37)",
  },
];

/** As command-line arguments of `temporal server start-dev`. */
export function dynamicConfigArgs(): string[] {
  return TEMPORAL_DYNAMIC_CONFIG.flatMap(({ key, value }) => ['--dynamic-config-value', `${key}=${value}`]);
}
