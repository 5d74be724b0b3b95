// Finds the `temporal` CLI (which carries the dev server and the Web UI). In order:
//   1. TEMPORAL_CLI_PATH, 2. `temporal` on PATH, 3. the per-user cache (shared by every clone),
//   4. `go install` of the pinned release into that cache, 5. the Temporal SDK's own download
//      (needs internet; used only when nothing else worked).
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The one place the Temporal CLI version is pinned. v1.5.1 is the newest release that
 * `go install` accepts: later ones carry a `replace` directive in go.mod. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export type TemporalCliSource = 'env' | 'path' | 'cache' | 'go-install';
export type TemporalExecutable =
  { type: 'existing-path'; path: string; source: TemporalCliSource } | { type: 'sdk-download'; version: string };

export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
}

export interface ResolveDeps {
  env: NodeJS.ProcessEnv;
  isExecutable(file: string): boolean;
  /** Runs `go install`; resolves with nothing, rejects with go's output. */
  goInstall(gobin: string, target: string, env: NodeJS.ProcessEnv): Promise<void>;
  log(msg: string): void;
}

export function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return existsSync(file);
  } catch {
    return false;
  }
}

export function temporalCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'card-payments-platform', 'temporal-cli', TEMPORAL_CLI_VERSION);
}

function findOnPath(env: NodeJS.ProcessEnv, isExecutable: (f: string) => boolean): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'temporal');
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

const defaultDeps: ResolveDeps = {
  env: process.env,
  isExecutable: isExecutableFile,
  goInstall: (gobin, target, env) =>
    new Promise((resolve, reject) => {
      execFile('go', ['install', target], { env: { ...env, GOBIN: gobin }, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr.trim().split('\n').slice(-10).join('\n')}`));
        else resolve();
      });
    }),
  log: (msg) => console.error(msg),
};

export interface ResolveOptions {
  /** Build with `go install` when nothing is found (minutes on first run). */
  allow_go_install: boolean;
  /** Fall back to the SDK's download (internet) when everything else failed. */
  allow_sdk_download: boolean;
}

export async function resolveTemporalCli(options: ResolveOptions, deps: Partial<ResolveDeps> = {}): Promise<TemporalExecutable> {
  const d: ResolveDeps = { ...defaultDeps, ...deps };
  const override = d.env.TEMPORAL_CLI_PATH;
  if (override) {
    // An explicit override that does not work is an error, never a silent fallback.
    if (!d.isExecutable(override)) {
      throw new TemporalCliNotFoundError(`TEMPORAL_CLI_PATH=${override} is not an executable file`);
    }
    return { type: 'existing-path', path: override, source: 'env' };
  }
  const onPath = findOnPath(d.env, d.isExecutable);
  if (onPath) return { type: 'existing-path', path: onPath, source: 'path' };

  const cacheDir = temporalCacheDir(d.env);
  const cached = path.join(cacheDir, 'temporal');
  if (d.isExecutable(cached)) return { type: 'existing-path', path: cached, source: 'cache' };

  const problems: string[] = [];
  if (options.allow_go_install) {
    const target = `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`;
    // Build into a private folder, then rename: a concurrent start never sees half a binary.
    const staging = path.join(cacheDir, `.staging-${process.pid}`);
    mkdirSync(staging, { recursive: true });
    d.log(
      `building the Temporal CLI ${TEMPORAL_CLI_VERSION} with \`go install ${target}\` into ${cacheDir} (first run only; takes a few minutes)`,
    );
    try {
      await d.goInstall(staging, target, d.env);
      renameSync(path.join(staging, 'temporal'), cached);
      d.log(`Temporal CLI built: ${cached}`);
      return { type: 'existing-path', path: cached, source: 'go-install' };
    } catch (err) {
      problems.push(`go install failed: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  } else {
    problems.push('go install not attempted');
  }
  if (options.allow_sdk_download) return { type: 'sdk-download', version: 'default' };
  throw new TemporalCliNotFoundError(temporalCliMissingMessage(problems));
}

export function temporalCliMissingMessage(problems: string[]): string {
  return (
    `the Temporal CLI was not found (${problems.join('; ')}). Install Go 1.24+ and run ` +
    `\`npm run temporal:install\`, or put a \`temporal\` binary on PATH, or set TEMPORAL_CLI_PATH.`
  );
}
