// `npm stop`: stops a platform that `npm start` runs in the background (or in another terminal).
// It reads <data folder>/stack.json for the supervisor's pid and sends it SIGTERM, which stops
// everything in order (API, worker, simulator, codec server, Temporal, Postgres), as Ctrl-C does,
// then waits for it. A supervisor that is gone already (killed outright) may have left its
// children running: their pid files in the data folder name them, and they are stopped too.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config.js';
import { isAlive, stopLeftover } from './processes.js';
import { readStackFile, removeStackFile, stackFilePath } from './stack-file.js';

/** Beyond the worker's own grace period, how long the supervisor gets to stop everything. */
const STOP_MARGIN_MS = 60_000;
const POLL_MS = 200;

const say = (msg: string) => console.error(`[stop] ${msg}`);

async function waitUntilDead(pid: number, timeout_ms: number): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return true;
}

/** The supervisor's command line names its script; a recycled pid does not. */
function isSupervisor(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join('src', 'stack', 'start.ts'));
  } catch {
    // No /proc (not Linux): trust the pid, as stack.json was written by this data folder's start.
    return true;
  }
}

/** The children's pid files and what their command line must contain. */
function childPidFiles(dataDir: string): Array<[string, string]> {
  return [
    [path.join(dataDir, 'api.pid'), 'api'],
    [path.join(dataDir, 'worker.pid'), 'worker'],
    [path.join(dataDir, 'logs', 'temporal.pid'), 'temporal'],
    [path.join(dataDir, 'postgres', 'postgres.pid'), 'postgres'],
  ];
}

async function main(): Promise<number> {
  const config = loadConfig();
  const stack = readStackFile(config.DATA_DIR);
  if (!stack) {
    // Nothing to stop, unless a killed supervisor left children behind.
    for (const [file, name] of childPidFiles(config.DATA_DIR)) await stopLeftover(file, name, say);
    say(`no platform running here (${stackFilePath(config.DATA_DIR)} is missing)`);
    return 0;
  }
  if (!isAlive(stack.pid) || !isSupervisor(stack.pid)) {
    say(`the platform started at ${stack.started_at} (pid ${stack.pid}) is gone; stopping what it left behind`);
    for (const [file, name] of childPidFiles(config.DATA_DIR)) await stopLeftover(file, name, say);
    removeStackFile(config.DATA_DIR);
    return 0;
  }
  const started = Date.now();
  say(`stopping the platform (pid ${stack.pid}, started ${stack.started_at})`);
  process.kill(stack.pid, 'SIGTERM');
  const timeout_ms = config.WORKER_SHUTDOWN_GRACE_MS + STOP_MARGIN_MS;
  if (!(await waitUntilDead(stack.pid, timeout_ms))) {
    say(`pid ${stack.pid} did not stop within ${timeout_ms} ms; killing it and its children`);
    process.kill(stack.pid, 'SIGKILL');
    await waitUntilDead(stack.pid, 5_000);
    for (const [file, name] of childPidFiles(config.DATA_DIR)) await stopLeftover(file, name, say);
    removeStackFile(config.DATA_DIR);
    return 1;
  }
  say(`stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`error: ${(err as Error).message}`);
    process.exit(1);
  },
);
