// The real worker program (`npm run worker`) as a child process in its own process group, for the
// tests that kill it with SIGKILL mid-work (worker-crash, events-worker-crash).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../src/config.js';
import { testEnv } from './env.js';

export interface WorkerProcessOptions {
  /** Names its data folder under the test run's scratch folder. */
  data_dir_name: string;
  database_url: string;
  task_queue: string;
  /** Card payments' queue (TEMPORAL_AUTHORIZATION_TASK_QUEUE); default: `<task_queue>-authorizations`,
   * so that no other test file's workers share it. */
  authorization_task_queue?: string;
  settlement_gateway_url: string;
  /** Its metrics and settlement callback ports: several workers running at once each need their own. */
  ports?: { metrics: number; settlement_callback: number };
}

export function startWorkerProcess(options: WorkerProcessOptions): ChildProcess {
  const data_dir = path.join(testEnv.scratchDir, options.data_dir_name);
  mkdirSync(data_dir, { recursive: true });
  return spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'workers', 'main.ts')], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      DATA_DIR: data_dir,
      DATABASE_URL: options.database_url,
      TEMPORAL_ADDRESS: testEnv.temporalAddress,
      TEMPORAL_TASK_QUEUE: options.task_queue,
      TEMPORAL_AUTHORIZATION_TASK_QUEUE: options.authorization_task_queue ?? `${options.task_queue}-authorizations`,
      SETTLEMENT_GATEWAY_URL: options.settlement_gateway_url,
      WORKFLOW_BUNDLE_PATH: testEnv.workflowBundlePath,
      CARD_WORKFLOW_BUNDLE_PATH: testEnv.cardWorkflowBundlePath,
      ...(options.ports
        ? { WORKER_METRICS_PORT: String(options.ports.metrics), SETTLEMENT_CALLBACK_PORT: String(options.ports.settlement_callback) }
        : {}),
      LOG_LEVEL: 'error',
    },
  });
}
