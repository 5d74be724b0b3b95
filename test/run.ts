// The test harness behind `npm test`: starts one real Postgres and one real Temporal dev server,
// bundles the workflow code once, then runs every test file with node's test runner against them,
// and stops everything it started, whatever happened.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../src/config.js';
import { generateKeyEntry } from '../src/codec/keys.js';
import { generateWebhookSecret } from '../src/settlement/webhook-signature.js';
import { bundleWorkflows } from '../src/workers/worker.js';
import { SERVER_PASS_FILES, startTestStack, testTemporalMode, type TestStack } from './support/stack.js';

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

let stack: TestStack | null = null;
let exitCode = 1;
try {
  // TEST_TEMPORAL_MODE=server: the real Temporal server instead of the dev server, and with no
  // filter the files that depend on which engine runs (SERVER_PASS_FILES).
  const filter = process.argv.slice(2);
  const files = filter.length === 0 && testTemporalMode() === 'server' ? SERVER_PASS_FILES : testFiles(filter);
  if (files.length === 0) throw new Error(`no test file matches ${process.argv.slice(2).join(' ')}`);
  mkdirSync(scratch, { recursive: true });

  const started = Date.now();
  const [ready, bundle] = await Promise.all([startTestStack(scratch, log), bundleWorkflows()]);
  stack = ready;
  const bundlePath = path.join(scratch, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle);
  log(`Postgres, Temporal (${stack.temporalMode}, ${stack.temporalAddress}) and the workflow bundle ready in ${Date.now() - started} ms`);

  const env = {
    ...process.env,
    TEST_DATABASE_URL: stack.databaseUrl,
    TEST_TEMPORAL_ADDRESS: stack.temporalAddress,
    ...(stack.executable.type === 'existing-path' ? { TEST_TEMPORAL_CLI_PATH: stack.executable.path } : {}),
    WORKFLOW_BUNDLE_PATH: bundlePath,
    TEST_SCRATCH_DIR: scratch,
    // Payload encryption keys for this run only (test/support/codec.ts), never a committed one.
    PAYLOAD_CODEC_KEYS: generateKeyEntry(`test-${process.pid}`),
    PAYLOAD_CODEC_KEYS_FILE: '',
    // The bank's callback-signing secret for this run only (workers verify, simulators sign).
    SETTLEMENT_CALLBACK_SECRET: generateWebhookSecret(),
    SETTLEMENT_CALLBACK_SECRET_FILE: '',
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
  await stack?.close();
  if (exitCode === 0) rmSync(scratch, { recursive: true, force: true });
  else log(`logs kept in ${scratch}`);
}
process.exit(exitCode);
