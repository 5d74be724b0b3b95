// Registers the platform's search attributes on a Temporal server that was not started by us
// (TEMPORAL_ADDRESS). Already-registered attributes are fine; the dev server gets them as flags.
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes.js';

export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  // One at a time: the server refuses a whole request when any of its attributes exists, and a
  // server that has the older attributes must still get the newer ones.
  for (const key of SEARCH_ATTRIBUTES) {
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: { [key.name]: encodeSearchAttributeIndexedValueType(key.type)! },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== grpcStatus.ALREADY_EXISTS) throw err;
    }
  }
}

/** Waits until at least one worker polls the task queue (the worker is up and bundled). */
export async function waitForWorker(
  connection: Connection,
  namespace: string,
  task_queue: string,
  timeout_ms: number,
  isDead: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    if (isDead()) throw new Error('the worker process exited during start');
    const response = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: task_queue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    if ((response.pollers?.length ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no worker polled task queue ${task_queue} within ${timeout_ms} ms`);
}
