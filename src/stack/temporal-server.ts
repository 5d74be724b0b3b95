// Runs the Temporal dev server (from the `temporal` CLI): gRPC frontend, optional Web UI, SQLite
// persistence when given a file. Used by `npm start` (persistent, UI on 8233) and by the test
// harness (in memory, headless, random ports).
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES, devServerSearchAttributeArgs } from '../domain/search-attributes.js';
import { dynamicConfigArgs } from '../engine-limits.js';
import { assertPortFree } from './ports.js';
import { spawnManaged, stopLeftover, tail, type ManagedProcess } from './processes.js';
import { temporalCliMissingMessage, type TemporalExecutable } from './temporal-cli.js';

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 15_000;

export interface DevServerOptions {
  executable: TemporalExecutable;
  port: number;
  /** null: headless. */
  ui_port: number | null;
  /** null: in memory (lost on stop). */
  db_file: string | null;
  namespace: string;
  /** Folder for the log and pid files. */
  dir: string;
  log: (msg: string) => void;
  /** The codec server the Web UI decodes payloads with (`--ui-codec-endpoint`). */
  ui_codec_endpoint?: string | null;
}

export interface RunningDevServer {
  address: string;
  ui: string | null;
  process: ManagedProcess | null;
  stop(): Promise<void>;
}

async function waitForFrontend(address: string, proc: ManagedProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(
        `the Temporal dev server exited during start (code ${proc.child.exitCode}); ${proc.logFile} ends with:\n${tail(proc.logFile)}`,
      );
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = (err as Error).message;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`the Temporal dev server did not answer on ${address} within ${READY_TIMEOUT_MS} ms: ${lastError}`);
}

function codecArgs(options: DevServerOptions): string[] {
  return options.ui_port !== null && options.ui_codec_endpoint ? ['--ui-codec-endpoint', options.ui_codec_endpoint] : [];
}

export async function startTemporalDevServer(options: DevServerOptions): Promise<RunningDevServer> {
  const address = `127.0.0.1:${options.port}`;
  const ui = options.ui_port === null ? null : `http://127.0.0.1:${options.ui_port}`;
  await assertPortFree(options.port, 'Temporal frontend', 'TEMPORAL_PORT');
  if (options.ui_port !== null) await assertPortFree(options.ui_port, 'Temporal Web UI', 'TEMPORAL_UI_PORT');

  if (options.executable.type === 'sdk-download') {
    // Last resort, for machines with internet: the SDK downloads and supervises the server.
    options.log('no local Temporal CLI: trying the Temporal SDK download (needs internet)');
    try {
      const env = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'cached-download' },
          ip: '127.0.0.1',
          port: options.port,
          namespace: options.namespace,
          ...(options.db_file ? { dbFilename: options.db_file } : {}),
          ...(options.ui_port !== null ? { ui: true, uiPort: options.ui_port } : {}),
          searchAttributes: SEARCH_ATTRIBUTES,
          extraArgs: [...dynamicConfigArgs(), ...codecArgs(options)],
        },
      });
      return { address, ui, process: null, stop: () => env.teardown() };
    } catch (err) {
      throw new Error(temporalCliMissingMessage([`SDK download failed: ${(err as Error).message.split('\n')[0]}`]));
    }
  }

  const pidFile = path.join(options.dir, 'temporal.pid');
  await stopLeftover(pidFile, 'temporal', options.log);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    options.namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    ...(options.ui_port !== null ? ['--ui-port', String(options.ui_port)] : ['--headless']),
    ...(options.db_file ? ['--db-filename', options.db_file] : []),
    ...devServerSearchAttributeArgs(),
    ...dynamicConfigArgs(),
    ...codecArgs(options),
  ];
  const proc = spawnManaged({
    name: 'temporal',
    command: options.executable.path,
    args,
    logFile: path.join(options.dir, 'temporal.log'),
    pidFile,
  });
  try {
    await waitForFrontend(address, proc);
  } catch (err) {
    await proc.stop('SIGTERM', 5_000);
    throw err;
  }
  return { address, ui, process: proc, stop: () => proc.stop('SIGTERM', STOP_GRACE_MS) };
}
