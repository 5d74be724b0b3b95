// `<data folder>/stack.json`: where a running `npm start` can be reached. The CLI, demo and tools
// read it; explicit environment variables win over it.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../config.js';

export const stackFileSchema = z.object({
  temporal: z.string().min(1),
  namespace: z.string().min(1),
  task_queue: z.string().min(1),
  ui: z.string().nullable(),
  database: z.string().min(1),
  settlement_gateway: z.string().min(1),
  /** The settlement callback receiver (served by the worker); absent in files from older versions. */
  settlement_callback: z.string().min(1).optional(),
  /** The gRPC / Connect API, and a local API key scoped to API_LOCAL_COMPANIES (the file is
   * private to its owner). Absent in files from older versions. */
  api: z.string().min(1).optional(),
  api_key: z.string().min(1).optional(),
  /** The codec server (payload decryption for the Web UI), and the bearer token other callers
   * need (e.g. `temporal workflow show --codec-endpoint <url> --codec-auth "Bearer <token>"`).
   * Absent in files from older versions. */
  codec_server: z.string().min(1).optional(),
  codec_server_token: z.string().min(1).optional(),
  /** Prometheus endpoints (GET). Absent in files from older versions. */
  metrics: z.object({ worker: z.string().min(1), api: z.string().min(1) }).optional(),
  /** Which Temporal runs: the CLI's dev server, the real server (server mode), or one given by
   * TEMPORAL_ADDRESS. Absent in files from older versions. */
  temporal_mode: z.enum(['dev', 'server', 'external']).optional(),
  /** Every Temporal process this start runs (none for `external`). */
  temporal_processes: z
    .array(z.object({ service: z.string().min(1), pid: z.number().int(), grpc_port: z.number().int().nullable() }))
    .optional(),
  pid: z.number().int(),
  started_at: z.string(),
});
export type StackFile = z.infer<typeof stackFileSchema>;

export function stackFilePath(dataDir: string): string {
  return path.join(dataDir, 'stack.json');
}

/** Written via a rename so a reader never sees half a file; private, as it holds the database
 * password. */
export function writeStackFile(dataDir: string, stack: StackFile): string {
  const file = stackFilePath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stackFileSchema.parse(stack), null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

export function removeStackFile(dataDir: string): void {
  rmSync(stackFilePath(dataDir), { force: true });
}

export function readStackFile(dataDir: string): StackFile | null {
  const file = stackFilePath(dataDir);
  if (!existsSync(file)) return null;
  return stackFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

export interface StackEndpoints {
  temporal: string;
  namespace: string;
  task_queue: string;
  database: string;
  ui: string | null;
}

/** Where tools connect: environment variables first, then the running stack's stack.json. */
export function resolveEndpoints(config: Config): StackEndpoints {
  const stack = readStackFile(config.DATA_DIR);
  const temporal = config.TEMPORAL_ADDRESS ?? stack?.temporal;
  const database = config.DATABASE_URL ?? stack?.database;
  if (!temporal || !database) {
    throw new Error(
      `no running platform found: ${stackFilePath(config.DATA_DIR)} is missing and ` +
        `${!temporal ? 'TEMPORAL_ADDRESS' : 'DATABASE_URL'} is not set. Start it with \`npm start\` in another terminal.`,
    );
  }
  return {
    temporal,
    database,
    namespace: stack?.namespace ?? config.TEMPORAL_NAMESPACE,
    task_queue: stack?.task_queue ?? config.TEMPORAL_TASK_QUEUE,
    ui: stack?.ui ?? null,
  };
}
