// Builds the payments worker: workflows from the bundle (or source), activities from their deps.
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { ActivityLoggingInterceptor } from './activity-logging.js';
import { FAILURE_CONVERTER_PATH } from '../codec/data-converter.js';
import { WORKFLOW_TRACING_INTERCEPTORS, tracingWorkerOptions, untraced, type Tracing } from '../telemetry/tracing.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** The card payment workflow alone (src/workflows/card-index.ts): the authorizations worker's. */
export const CARD_WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/card-index.ts', import.meta.url));
/** Evaluated once per workflow thread and shared by its workflows (src/workflows/preload.ts: zod). */
export const WORKFLOW_PRELOAD_MODULES = [fileURLToPath(new URL('../workflows/preload.ts', import.meta.url))];

export interface PaymentsWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  task_queue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (tests build one per run); else the worker bundles the source itself. */
  workflow_bundle_path?: string | undefined;
  /** The entry it bundles from source (no prebuilt bundle): default WORKFLOWS_PATH, every workflow. */
  workflows_path?: string | undefined;
  shutdown_grace_ms: number;
  /** Encrypts payloads and failures (src/codec/data-converter.ts); clients must use the same. */
  data_converter: DataConverter;
  /** Traces activities and workflows (src/telemetry/tracing.ts); absent: spans are dropped. */
  tracing?: Tracing | undefined;
  /** Slots and pollers (one of the tunings below); default PAYMENTS_WORKER_TUNING. */
  tuning?: WorkerTuning | undefined;
  /** Only `npm run bench:saga`'s engine-ceiling worker: activities that do nothing, in a worker
   * otherwise built exactly as the production one. */
  activities_override?: WorkerOptions['activities'];
  /** The SDK's per-promise stack traces in the workflow threads (config TEMPORAL_WORKFLOW_STACK_TRACES). */
  workflow_stack_traces: 'on' | 'off';
}

export type WorkerTuning = Pick<
  WorkerOptions,
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentActivityTaskExecutions'
  | 'maxConcurrentLocalActivityExecutions'
  | 'maxConcurrentWorkflowTaskPolls'
  | 'maxConcurrentActivityTaskPolls'
  | 'stickyQueueScheduleToStartTimeout'
  | 'workflowThreadPoolSize'
>;

/**
 * The authorizations worker (TEMPORAL_AUTHORIZATION_TASK_QUEUE): card payment workflows, whose
 * ledger steps are local activities. Its slots serve nothing else, so a backlog of payouts or a
 * settlement run never holds one. 40 workflow tasks in flight is the SDK's default and more than
 * two cores finish at once (a task is a few ms of CPU, the rest is the round trip to the server);
 * 40 local activities match it (each waits on the ledger's batcher, which group-commits them);
 * 10 workflow pollers (SDK default) keep a task always waiting for the next authorization.
 * A payment's later tasks (an increment, a clearing, the stand-in advice) go to the sticky queue
 * of the worker that has it cached; when that worker has crashed, the server moves the task to
 * the shared queue only after `stickyQueueScheduleToStartTimeout`. The SDK's 10 s is five times
 * the network's deadline: with it, test/integration/worker-crash.test.ts's increment after a
 * SIGKILL was answered late, by the stand-in. 1 s leaves another worker the other second to
 * replay and answer.
 * Two workflow threads (the SDK's default with a reused V8 context is one): a workflow task is
 * CPU in the sandbox (35-40 ms for an authorization's first, mostly evaluating the bundle's
 * modules for the new workflow), and with one thread every authorization's task waited behind
 * the one running, while the machine's other core had room. bench:overload with two
 * (docs/performance.md, runs 22-25) recovered from the 3x phase in 6-10 s against 19-25 with one,
 * on both engines; the half-load p99 did not improve.
 */
export const AUTHORIZATION_WORKER_TUNING: WorkerTuning = {
  maxConcurrentWorkflowTaskExecutions: 40,
  maxConcurrentLocalActivityExecutions: 40,
  maxConcurrentActivityTaskExecutions: 40,
  maxConcurrentWorkflowTaskPolls: 10,
  maxConcurrentActivityTaskPolls: 4,
  stickyQueueScheduleToStartTimeout: '1s',
  workflowThreadPoolSize: 2,
};

/**
 * The payments worker (TEMPORAL_TASK_QUEUE): payouts, network settlement, and card payments
 * started there before the authorizations queue existed. Background work: few slots and pollers,
 * so that it takes a small share of the process's CPU and of the namespace's poller budget
 * (docs/performance.md), and waits when busy instead of competing with authorizations.
 * `npm run bench:saga` runs its engine-ceiling worker with the same settings.
 */
export const PAYMENTS_WORKER_TUNING: WorkerTuning = {
  maxConcurrentWorkflowTaskExecutions: 10,
  maxConcurrentLocalActivityExecutions: 10,
  maxConcurrentActivityTaskExecutions: 20,
  maxConcurrentWorkflowTaskPolls: 2,
  maxConcurrentActivityTaskPolls: 2,
  // No deadline of seconds here: a crashed worker's payouts may wait a few seconds for another.
  stickyQueueScheduleToStartTimeout: '5s',
};

/** Adds the activity log line (src/workers/activity-logging.ts) after the tracing interceptors,
 * so the log line is written inside the activity's span. */
function withActivityLogging(options: Pick<WorkerOptions, 'interceptors' | 'sinks'>): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  return {
    ...options,
    interceptors: {
      ...options.interceptors,
      activity: [...(options.interceptors?.activity ?? []), (ctx) => ({ inbound: new ActivityLoggingInterceptor(ctx) })],
    },
  };
}

export async function createPaymentsWorker(options: PaymentsWorkerOptions): Promise<Worker> {
  const workflows: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = options.workflow_bundle_path
    ? { workflowBundle: { codePath: options.workflow_bundle_path } }
    : { workflowsPath: options.workflows_path ?? WORKFLOWS_PATH };
  // Bundling from source: the same parts as bundleWorkflows puts in a prebuilt bundle.
  const workflowModules = options.workflow_bundle_path ? [] : WORKFLOW_BUNDLE_PARTS.interceptor_modules;
  // The patched SDK reads this in each workflow thread (scripts/patch-temporal-worker.mjs), and a
  // thread gets a copy of the environment when Worker.create starts it: the environment is the
  // only way in. So it is one setting per process: src/workers/main.ts gives both its workers the
  // configured one. Two workers created in one process with different settings could each get the
  // other's (a test that did so failed one run in three); the tests run each setting in a process
  // of its own (test/integration/workflow-stack-traces*.test.ts).
  process.env.TEMPORAL_WORKFLOW_STACK_TRACES = options.workflow_stack_traces;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.task_queue,
    dataConverter: options.data_converter,
    ...workflows,
    // Bundling from source (a prebuilt bundle has them already, from bundleWorkflows).
    bundlerOptions: { preloadModules: WORKFLOW_BUNDLE_PARTS.preload_modules },
    activities: options.activities_override ?? createActivities(options.deps),
    ...withActivityLogging(tracingWorkerOptions(options.tracing ?? untraced(), workflowModules)),
    // In-flight activities get this long to finish when the worker is asked to stop.
    shutdownGraceTime: options.shutdown_grace_ms,
    ...(options.tuning ?? PAYMENTS_WORKER_TUNING),
  });
}

/** What goes into a workflow bundle besides the workflows. Production bundles use
 * WORKFLOW_BUNDLE_PARTS; `npm run bench:workflow-cpu` builds the others to measure what each costs. */
export interface WorkflowBundleParts {
  /** Evaluated once per workflow thread and shared (the SDK's preloadModules). */
  preload_modules: string[];
  /** Workflow interceptor modules. */
  interceptor_modules: string[];
}

/** The tracing interceptors are part of the workflows' determinism, not only of their spans: they
 * wrap update handlers and add awaits, and 4 of the recorded card histories (test/histories) fail
 * replay against a bundle without them (bench:workflow-cpu, `replay_failures`). So every bundle has
 * them, traced or not, and a workflow thread pays for their spans even when no exporter takes them. */
export const WORKFLOW_BUNDLE_PARTS: WorkflowBundleParts = {
  preload_modules: WORKFLOW_PRELOAD_MODULES,
  interceptor_modules: [WORKFLOW_TRACING_INTERCEPTORS],
};

/** Bundles the workflow code once, so several workers (or test files) can share it: every
 * workflow (WORKFLOWS_PATH), or the card payment's alone (CARD_WORKFLOWS_PATH, the authorizations
 * worker's). The bundle includes the failure converter that moves failure messages into
 * (encrypted) payloads, and `parts` (production: WORKFLOW_BUNDLE_PARTS). */
export async function bundleWorkflows(
  workflows_path: string = WORKFLOWS_PATH,
  parts: WorkflowBundleParts = WORKFLOW_BUNDLE_PARTS,
): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: workflows_path,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    workflowInterceptorModules: parts.interceptor_modules,
    preloadModules: parts.preload_modules,
    logger: undefined,
  });
  return code;
}
