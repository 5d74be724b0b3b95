// One real Postgres and one real Temporal dev server (headless, in memory, free ports), for the
// test harness and for re-recording the replay histories.
import path from 'node:path';
import { freePort } from '../../src/stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/stack/postgres.js';
import { resolveTemporalCli, type TemporalExecutable } from '../../src/stack/temporal-cli.js';
import { startTemporalDevServer, type RunningDevServer } from '../../src/stack/temporal-server.js';

export interface TestStack {
  databaseUrl: string;
  temporalAddress: string;
  executable: TemporalExecutable;
  close(): Promise<void>;
}

export async function startTestStack(scratch: string, log: (msg: string) => void): Promise<TestStack> {
  const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: true });
  let postgres: RunningPostgres | null = null;
  let temporal: RunningDevServer | null = null;
  const close = async () => {
    await temporal?.stop().catch((err: unknown) => log(`stopping Temporal: ${String(err)}`));
    await postgres?.stop().catch((err: unknown) => log(`stopping Postgres: ${String(err)}`));
  };
  try {
    [postgres, temporal] = await Promise.all([
      process.env.TEST_DATABASE_URL
        ? Promise.resolve(null)
        : freePort().then((port) => startEmbeddedPostgres({ dir: path.join(scratch, 'postgres'), port, log })),
      freePort().then((port) =>
        startTemporalDevServer({ executable, port, ui_port: null, db_file: null, namespace: 'default', dir: scratch, log }),
      ),
    ]);
  } catch (err) {
    await close();
    throw err;
  }
  return { databaseUrl: process.env.TEST_DATABASE_URL ?? postgres!.url, temporalAddress: temporal.address, executable, close };
}
