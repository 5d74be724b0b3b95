// The test harness behind `npm test`: starts one real Postgres and one real Temporal dev server,
// bundles the workflow code once, then runs every test file with node's test runner against them,
// and stops everything it started, whatever happened.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../src/config.js';
import { freePort } from '../src/stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../src/stack/postgres.js';
import { resolveTemporalCli } from '../src/stack/temporal-cli.js';
import { startTemporalDevServer, type RunningDevServer } from '../src/stack/temporal-server.js';
import { bundleWorkflows } from '../src/workers/worker.js';

const log = (msg: string) => console.error(`[test harness] ${msg}`);
const scratch = path.join(REPO_ROOT, '.tmp', `test-${process.pid}`);

function testFiles(filter: string[]): string[] {
  const files = ['unit', 'integration'].flatMap((dir) =>
    readdirSync(path.join(REPO_ROOT, 'test', dir))
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => path.join('test', dir, f)),
  );
  return filter.length === 0 ? files : files.filter((f) => filter.some((needle) => f.includes(needle)));
}

let postgres: RunningPostgres | null = null;
let temporal: RunningDevServer | null = null;
let exitCode = 1;
try {
  const files = testFiles(process.argv.slice(2));
  if (files.length === 0) throw new Error(`no test file matches ${process.argv.slice(2).join(' ')}`);
  mkdirSync(scratch, { recursive: true });

  const started = Date.now();
  const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: true });
  const [pg, server, bundle] = await Promise.all([
    process.env.TEST_DATABASE_URL
      ? Promise.resolve(null)
      : freePort().then((port) => startEmbeddedPostgres({ dir: path.join(scratch, 'postgres'), port, log })),
    Promise.all([freePort(), freePort()]).then(([port]) =>
      startTemporalDevServer({ executable, port: port!, ui_port: null, db_file: null, namespace: 'default', dir: scratch, log }),
    ),
    bundleWorkflows(),
  ]);
  postgres = pg;
  temporal = server;
  const bundlePath = path.join(scratch, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle);
  log(`Postgres, Temporal (${temporal.address}) and the workflow bundle ready in ${Date.now() - started} ms`);

  const env = {
    ...process.env,
    TEST_DATABASE_URL: process.env.TEST_DATABASE_URL ?? postgres!.url,
    TEST_TEMPORAL_ADDRESS: temporal.address,
    ...(executable.type === 'existing-path' ? { TEST_TEMPORAL_CLI_PATH: executable.path } : {}),
    WORKFLOW_BUNDLE_PATH: bundlePath,
    TEST_SCRATCH_DIR: scratch,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  // Files run one at a time: integration tests share one server and two cores.
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
    cwd: REPO_ROOT,
    env,
    stdio: 'inherit',
  });
  exitCode = await new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  await temporal?.stop().catch((err: unknown) => log(`stopping Temporal: ${String(err)}`));
  await postgres?.stop().catch((err: unknown) => log(`stopping Postgres: ${String(err)}`));
  if (exitCode === 0) rmSync(scratch, { recursive: true, force: true });
  else log(`logs kept in ${scratch}`);
}
process.exit(exitCode);
