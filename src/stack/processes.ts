// Child processes of the stack: each in its own process group (so a terminal's Ctrl-C reaches only
// the supervisor, which then stops children in order), output appended to a log file, pid written
// to a pid file so a later start can clean up after a supervisor that was killed outright.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  /** Sends `signal`, waits up to grace_ms for exit, then SIGKILLs the whole group. */
  stop(signal: NodeJS.Signals, grace_ms: number): Promise<void>;
}

export interface SpawnManagedOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  pidFile?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  cwd?: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilDead(pid: number, timeout_ms: number): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isAlive(pid);
}

/** Stops a process left behind by an earlier supervisor that died without cleaning up. */
export async function stopLeftover(pidFile: string, expectInCommand: string, log: (msg: string) => void): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim().split('\n')[0]);
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return;
  let command = '';
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!command.includes(expectInCommand)) return;
  log(`stopping ${expectInCommand} (pid ${pid}) left running by an earlier start`);
  process.kill(pid, 'SIGINT');
  if (!(await waitUntilDead(pid, 30_000))) process.kill(pid, 'SIGKILL');
}

export function spawnManaged(options: SpawnManagedOptions): ManagedProcess {
  const fd = openSync(options.logFile, 'a');
  const spawnOptions: SpawnOptions = {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: options.env ?? process.env,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  };
  const child = spawn(options.command, options.args, spawnOptions);
  closeSync(fd);
  if (options.pidFile && child.pid !== undefined) writeFileSync(options.pidFile, `${child.pid}\n`);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      if (options.pidFile) rmSync(options.pidFile, { force: true });
      resolve(code);
    });
    child.once('error', () => resolve(-1));
  });
  return {
    name: options.name,
    child,
    logFile: options.logFile,
    exited,
    async stop(signal, grace_ms) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill(signal);
      const done = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), grace_ms))]);
      if (!done) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
    },
  };
}

/** How often a supervised process may be restarted: at most `restarts_max` times within
 * `window_ms` (a process that keeps dying is a fault to report, not to loop on). */
export class RestartBudget {
  private readonly restarts = new Map<string, number[]>();

  constructor(
    readonly restarts_max: number,
    readonly window_ms: number,
  ) {}

  /** Records a restart of `name` now, if the budget allows one. */
  take(name: string, now = Date.now()): boolean {
    const recent = (this.restarts.get(name) ?? []).filter((t) => now - t < this.window_ms);
    if (recent.length >= this.restarts_max) return false;
    this.restarts.set(name, [...recent, now]);
    return true;
  }
}

/** The last lines of a log file, to quote when a child fails to start. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
