// Finds a pinned Go program the platform runs (the Temporal CLI, server, schema tool, Web UI). In
// order: 1. its environment override, 2. its name on PATH, 3. the per-user cache (shared by every
// clone), 4. `go install` of the pinned release into that cache. Callers add their own last resort.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One pinned Go program and where it lives. */
export interface GoBinarySpec {
  /** For messages: "the Temporal CLI". */
  title: string;
  /** The environment variable that names the binary explicitly. */
  env_var: string;
  /** The name looked up on PATH (distinctive: `go install` names some of these just `server`). */
  path_name: string;
  /** The module's command path and version: `go install <module>@<version>`. */
  module: string;
  version: string;
  /** Folder under the per-user cache, e.g. `temporal-server/v1.29.1/server`. */
  cache_subdir: string;
  /** The file name `go install` writes (the last element of the command path). */
  installed_name: string;
}

export type GoBinarySource = 'env' | 'path' | 'cache' | 'go-install';

export interface FoundGoBinary {
  path: string;
  source: GoBinarySource;
}

export class GoBinaryNotFoundError extends Error {
  override name = 'GoBinaryNotFoundError';
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

/** `~/.cache/card-payments-platform` (or under XDG_CACHE_HOME): outside the repository, so every
 * clone shares one build. */
export function platformCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'card-payments-platform');
}

export function goBinaryCacheFile(spec: GoBinarySpec, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(platformCacheDir(env), spec.cache_subdir, spec.installed_name);
}

function findOnPath(name: string, env: NodeJS.ProcessEnv, isExecutable: (f: string) => boolean): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

export const defaultResolveDeps: ResolveDeps = {
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

/** Everything that did not work, for the caller's error message. */
export type GoBinaryResult = FoundGoBinary | { problems: string[] };

export async function findGoBinary(
  spec: GoBinarySpec,
  allow_go_install: boolean,
  deps: Partial<ResolveDeps> = {},
): Promise<GoBinaryResult> {
  const d: ResolveDeps = { ...defaultResolveDeps, ...deps };
  const override = d.env[spec.env_var];
  if (override) {
    // An explicit override that does not work is an error, never a silent fallback.
    if (!d.isExecutable(override)) throw new GoBinaryNotFoundError(`${spec.env_var}=${override} is not an executable file`);
    return { path: override, source: 'env' };
  }
  const onPath = findOnPath(spec.path_name, d.env, d.isExecutable);
  if (onPath) return { path: onPath, source: 'path' };

  const cached = goBinaryCacheFile(spec, d.env);
  if (d.isExecutable(cached)) return { path: cached, source: 'cache' };

  if (!allow_go_install) return { problems: ['go install not attempted'] };
  const cacheDir = path.dirname(cached);
  const target = `${spec.module}@${spec.version}`;
  // Build into a private folder, then rename: a concurrent start never sees half a binary.
  const staging = path.join(cacheDir, `.staging-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  d.log(`building ${spec.title} ${spec.version} with \`go install ${target}\` into ${cacheDir} (first run only; takes a few minutes)`);
  try {
    await d.goInstall(staging, target, d.env);
    renameSync(path.join(staging, spec.installed_name), cached);
    d.log(`${spec.title} built: ${cached}`);
    return { path: cached, source: 'go-install' };
  } catch (err) {
    return { problems: [`go install failed: ${(err as Error).message.split('\n')[0]}`] };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Like findGoBinary, but a binary that cannot be found or built is an error saying what to do. */
export async function resolveGoBinary(
  spec: GoBinarySpec,
  allow_go_install: boolean,
  install_hint: string,
  deps: Partial<ResolveDeps> = {},
): Promise<FoundGoBinary> {
  const found = await findGoBinary(spec, allow_go_install, deps);
  if ('path' in found) return found;
  throw new GoBinaryNotFoundError(goBinaryMissingMessage(spec, found.problems, install_hint));
}

export function goBinaryMissingMessage(spec: GoBinarySpec, problems: string[], install_hint: string): string {
  return (
    `${spec.title} was not found (${problems.join('; ')}). Install Go 1.24+ and run ` +
    `\`${install_hint}\`, or put a \`${spec.path_name}\` binary on PATH, or set ${spec.env_var}.`
  );
}
