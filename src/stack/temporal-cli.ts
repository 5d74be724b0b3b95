// Finds the `temporal` CLI (which carries the dev server and the Web UI). In order:
//   1. TEMPORAL_CLI_PATH, 2. `temporal` on PATH, 3. the per-user cache (shared by every clone),
//   4. `go install` of the pinned release into that cache, 5. the Temporal SDK's own download
//      (needs internet; used only when nothing else worked). Steps 1–4: go-binary.ts.
import path from 'node:path';
import {
  findGoBinary,
  goBinaryMissingMessage,
  platformCacheDir,
  type GoBinarySource,
  type GoBinarySpec,
  type ResolveDeps,
} from './go-binary.js';

export { isExecutableFile, type ResolveDeps } from './go-binary.js';

/** The one place the Temporal CLI version is pinned. v1.5.1 is the newest release that
 * `go install` accepts: later ones carry a `replace` directive in go.mod. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export const TEMPORAL_CLI: GoBinarySpec = {
  title: 'the Temporal CLI',
  env_var: 'TEMPORAL_CLI_PATH',
  path_name: 'temporal',
  module: TEMPORAL_CLI_MODULE,
  version: TEMPORAL_CLI_VERSION,
  cache_subdir: path.join('temporal-cli', TEMPORAL_CLI_VERSION),
  installed_name: 'temporal',
};

export type TemporalCliSource = GoBinarySource;
export type TemporalExecutable =
  { type: 'existing-path'; path: string; source: TemporalCliSource } | { type: 'sdk-download'; version: string };

export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
}

export function temporalCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(platformCacheDir(env), TEMPORAL_CLI.cache_subdir);
}

export interface ResolveOptions {
  /** Build with `go install` when nothing is found (minutes on first run). */
  allow_go_install: boolean;
  /** Fall back to the SDK's download (internet) when everything else failed. */
  allow_sdk_download: boolean;
}

export async function resolveTemporalCli(options: ResolveOptions, deps: Partial<ResolveDeps> = {}): Promise<TemporalExecutable> {
  const found = await findGoBinary(TEMPORAL_CLI, options.allow_go_install, deps);
  if ('path' in found) return { type: 'existing-path', path: found.path, source: found.source };
  if (options.allow_sdk_download) return { type: 'sdk-download', version: 'default' };
  throw new TemporalCliNotFoundError(temporalCliMissingMessage(found.problems));
}

export function temporalCliMissingMessage(problems: string[]): string {
  return goBinaryMissingMessage(TEMPORAL_CLI, problems, 'npm run temporal:install');
}
