// One real Postgres and one real Temporal for the test harness and for re-recording the replay
// histories: the dev server (headless, in memory, free ports), or with TEST_TEMPORAL_MODE=server
// the real Temporal server (one process, headless) on that Postgres, in databases of its own.
import path from 'node:path';
import { freePort } from '../../src/stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/stack/postgres.js';
import { resolveTemporalCli, type TemporalExecutable } from '../../src/stack/temporal-cli.js';
import { startHeadlessTemporalServer } from '../../src/stack/temporal-mode.js';
import { resolveTemporalServerBinaries } from '../../src/stack/temporal-server-binaries.js';
import { startTemporalDevServer } from '../../src/stack/temporal-server.js';

export type TestTemporalMode = 'dev' | 'server';

export interface TestStack {
  databaseUrl: string;
  temporalAddress: string;
  temporalMode: TestTemporalMode;
  executable: TemporalExecutable;
  close(): Promise<void>;
}

export function testTemporalMode(env: NodeJS.ProcessEnv = process.env): TestTemporalMode {
  const mode = env.TEST_TEMPORAL_MODE || 'dev';
  if (mode !== 'dev' && mode !== 'server') throw new Error(`TEST_TEMPORAL_MODE must be dev or server, got ${mode}`);
  return mode;
}

export async function startTestStack(
  scratch: string,
  log: (msg: string) => void,
  mode: TestTemporalMode = testTemporalMode(),
): Promise<TestStack> {
  // Both engines' binaries in both modes, built on a fresh machine before any test runs: the
  // stack tests start npm start on either engine themselves.
  const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: true });
  const serverBinaries = await resolveTemporalServerBinaries(true, { log });
  const binaries = mode === 'server' ? serverBinaries : null;
  let postgres: RunningPostgres | null = null;
  let stopTemporal: (() => Promise<void>) | null = null;
  const close = async () => {
    await stopTemporal?.().catch((err: unknown) => log(`stopping Temporal: ${String(err)}`));
    await postgres?.stop().catch((err: unknown) => log(`stopping Postgres: ${String(err)}`));
  };
  try {
    const startPostgres = process.env.TEST_DATABASE_URL
      ? Promise.resolve(null)
      : freePort().then((port) => startEmbeddedPostgres({ dir: path.join(scratch, 'postgres'), port, log }));
    let temporalAddress: string;
    if (binaries) {
      // The server needs its database first.
      postgres = await startPostgres;
      const databaseUrl = process.env.TEST_DATABASE_URL ?? postgres!.url;
      const suffix = `t${process.pid}`;
      const cluster = await startHeadlessTemporalServer({
        binaries,
        database_url: databaseUrl,
        databases: { database: `temporal_${suffix}`, visibility_database: `temporal_visibility_${suffix}` },
        scratch,
        log,
        on_fatal: (message) => log(`Temporal server: ${message}`),
      });
      stopTemporal = cluster.stop;
      temporalAddress = cluster.address;
    } else {
      const [pgStarted, dev] = await Promise.all([
        startPostgres,
        freePort().then((port) =>
          startTemporalDevServer({ executable, port, ui_port: null, db_file: null, namespace: 'default', dir: scratch, log }),
        ),
      ]);
      postgres = pgStarted;
      stopTemporal = dev.stop;
      temporalAddress = dev.address;
    }
    return { databaseUrl: process.env.TEST_DATABASE_URL ?? postgres!.url, temporalAddress, temporalMode: mode, executable, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The files `npm test` runs a second time against the real server (TEST_TEMPORAL_MODE=server, no
 * filter): every integration test that drives payments through Temporal. The rest do not depend
 * on which engine runs (ledger, unit tests), or start their own (npm start in either mode, chaos,
 * the browser). */
export const SERVER_PASS_FILES = [
  'test/integration/card-lifecycle.test.ts',
  'test/integration/payout-saga.test.ts',
  'test/integration/payout-callbacks.test.ts',
  'test/integration/payout-attention.test.ts',
  'test/integration/network-settlement.test.ts',
  'test/integration/disputes.test.ts',
  'test/integration/api.test.ts',
  'test/integration/ops-actions.test.ts',
  'test/integration/worker-crash.test.ts',
];
