// What every API command needs: where the API is and which key to send (flags, then the
// environment, then the running stack's stack.json), the output format and the call deadline.
import path from 'node:path';
import type { Command } from 'commander';
import { REPO_ROOT } from '../config.js';
import { readStackFile, stackFilePath, type StackFile } from '../stack/stack-file.js';
import type { ApiClients } from './client.js';
import { usageError } from './errors.js';
import { createOutput, type Output } from './output.js';

export const TIMEOUT_MS_DEFAULT = 10_000;

export interface GlobalOptions {
  api?: string;
  key?: string;
  json?: boolean;
  timeoutMs: number;
}

export function dataDir(): string {
  return process.env.DATA_DIR || path.join(REPO_ROOT, 'data');
}

/** stack.json of a running `npm start`, or null; a damaged file is a clear error. */
export function stackFile(): StackFile | null {
  try {
    return readStackFile(dataDir());
  } catch (err) {
    throw usageError(`${stackFilePath(dataDir())} cannot be read: ${(err as Error).message}`);
  }
}

/** The API address a command resolved, for error messages. */
export const resolvedApi: { url?: string } = {};

export interface ApiContext {
  url: string;
  clients: ApiClients;
  out: Output;
  timeout_ms: number;
}

/** The API, its key and the output of a command (its options merged with the global ones). */
export async function apiContext(cmd: Command): Promise<ApiContext> {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const stack = opts.api && opts.key ? null : stackFile();
  const url = opts.api ?? stack?.api;
  if (!url) {
    throw usageError(
      `no API address: pass --api URL or set CARD_API_URL, or start the platform with \`npm start\` (it writes ${stackFilePath(dataDir())})`,
    );
  }
  resolvedApi.url = url;
  // The local key of stack.json goes only to the API of that same stack.
  const key = opts.key ?? (stack && url === stack.api ? stack.api_key : undefined);
  if (!key) {
    throw usageError(
      `no API key: pass --key KEY or set CARD_API_KEY (create one with \`npm run cli -- keys create\`), or start the platform with \`npm start\` (its local key is in ${stackFilePath(dataDir())})`,
    );
  }
  // Loaded here: commands that never call the API (help, keys) start faster without it.
  const { createApiClients } = await import('./client.js');
  return {
    url,
    clients: createApiClients({ url, key, timeout_ms: opts.timeoutMs }),
    out: createOutput(opts.json === true),
    timeout_ms: opts.timeoutMs,
  };
}

/** The output format alone (keys commands do not call the API). */
export function outputOf(cmd: Command): Output {
  return createOutput(cmd.optsWithGlobals<GlobalOptions>().json === true);
}
