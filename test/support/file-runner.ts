// Runs one test file under node's test runner in a process group of its own, with a time limit:
// a file that hangs (a test that never settles, a handle left open, a child that never exits) is
// stopped, with everything it started, and reported instead of holding up the whole run forever.
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../../src/config.js';

export interface FileResult {
  file: string;
  /** Counts from the runner's own summary (zero when it never printed one). */
  passed: number;
  failed: number;
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  ok: boolean;
}

/** After SIGTERM, how long a timed-out file gets to stop before its group is killed. */
const STOP_GRACE_MS = 10_000;

/** The TAP summary's count for `name` ("# pass 12"), or 0. */
function summaryCount(output: string, name: string): number {
  const matches = [...output.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))];
  return matches.length === 0 ? 0 : Number(matches.at(-1)![1]);
}

export async function runTestFile(
  file: string,
  env: NodeJS.ProcessEnv,
  limits: { file_ms_max: number },
  echo: (chunk: Buffer) => void = (chunk) => process.stdout.write(chunk),
): Promise<FileResult> {
  if (!(Number.isSafeInteger(limits.file_ms_max) && limits.file_ms_max > 0)) {
    throw new Error(`file_ms_max must be a positive integer, got ${limits.file_ms_max}`);
  }
  const started = Date.now();
  // A runner started from inside a test file (this module's own test) must not think it is one.
  const { NODE_TEST_CONTEXT: _insideTest, ...childEnv } = env;
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group, so that stopping it also stops what its tests started.
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    echo(chunk);
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
  }, limits.file_ms_max);
  const exit_code = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearTimeout(timer);
  clearTimeout(killTimer);
  // Whatever the file left behind in its group goes with it.
  signalGroup('SIGKILL');
  const passed = summaryCount(output, 'pass');
  const failed = summaryCount(output, 'fail') + summaryCount(output, 'cancelled');
  return {
    file,
    passed,
    failed,
    exit_code,
    timed_out: timedOut,
    duration_ms: Date.now() - started,
    ok: !timedOut && exit_code === 0 && failed === 0,
  };
}
