// Builds the payments worker: workflows from the bundle (or source), activities from their deps.
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { FAILURE_CONVERTER_PATH } from '../codec/data-converter.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface PaymentsWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  task_queue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (tests build one per run); else the worker bundles the source itself. */
  workflow_bundle_path?: string | undefined;
  shutdown_grace_ms: number;
  /** Encrypts payloads and failures (src/codec/data-converter.ts); clients must use the same. */
  data_converter: DataConverter;
}

/** Concurrency settings of the payments worker (SDK defaults unless set here); `npm run
 * bench:saga` runs its engine-ceiling worker with the same ones. */
export const PAYMENTS_WORKER_TUNING: Partial<WorkerOptions> = {};

export async function createPaymentsWorker(options: PaymentsWorkerOptions): Promise<Worker> {
  const workflows: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = options.workflow_bundle_path
    ? { workflowBundle: { codePath: options.workflow_bundle_path } }
    : { workflowsPath: WORKFLOWS_PATH };
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.task_queue,
    dataConverter: options.data_converter,
    ...workflows,
    activities: createActivities(options.deps),
    // In-flight activities get this long to finish when the worker is asked to stop.
    shutdownGraceTime: options.shutdown_grace_ms,
    ...PAYMENTS_WORKER_TUNING,
  });
}

/** Bundles the workflow code once, so several workers (or test files) can share it. The bundle
 * includes the failure converter that moves failure messages into (encrypted) payloads. */
export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: undefined,
  });
  return code;
}
