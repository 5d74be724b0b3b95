// The test harness behind `npm test`: starts one real Postgres and one real Temporal dev server,
// bundles the workflow code once, then runs every test file with node's test runner against them,
// one at a time, each under a time limit, and stops everything it started, whatever happened.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../src/config.js';
import { generateKeyEntry } from '../src/codec/keys.js';
import { generateWebhookSecret } from '../src/settlement/webhook-signature.js';
import { CARD_WORKFLOWS_PATH, WORKFLOWS_PATH, bundleWorkflows } from '../src/workers/worker.js';
import { runTestFile, type FileResult } from './support/file-runner.js';
import { SERVER_PASS_FILES, startTestStack, testTemporalMode, type TestStack } from './support/stack.js';

const log = (msg: string) => console.error(`[test harness] ${msg}`);
const scratch = path.join(REPO_ROOT, '.tmp', `test-${process.pid}`);

/** How long one test file may run before it is stopped as hung: the longest file (the chaos run)
 * takes about 5 minutes on a busy two-core machine. */
const TEST_FILE_MS_MAX_DEFAULT = 900_000;

function fileTimeLimitMs(value: string | undefined): number {
  if (value === undefined || value === '') return TEST_FILE_MS_MAX_DEFAULT;
  const ms = Number(value);
  if (!(Number.isSafeInteger(ms) && ms > 0)) throw new Error(`TEST_FILE_TIMEOUT_MS must be a positive integer, got ${value}`);
  return ms;
}

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
/** The run's last line, for the whole run (each file's runner printed its own counts above). */
let closingLine = 'tests: 0 passed, 1 failed';
try {
  // TEST_TEMPORAL_MODE=server: the real Temporal server instead of the dev server, and with no
  // filter the files that depend on which engine runs (SERVER_PASS_FILES).
  const filter = process.argv.slice(2);
  const files = filter.length === 0 && testTemporalMode() === 'server' ? SERVER_PASS_FILES : testFiles(filter);
  if (files.length === 0) throw new Error(`no test file matches ${process.argv.slice(2).join(' ')}`);
  mkdirSync(scratch, { recursive: true });

  const started = Date.now();
  const [ready, bundle, cardBundle] = await Promise.all([
    startTestStack(scratch, log),
    bundleWorkflows(WORKFLOWS_PATH),
    bundleWorkflows(CARD_WORKFLOWS_PATH),
  ]);
  stack = ready;
  const bundlePath = path.join(scratch, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle);
  // The worker processes' authorizations worker runs the card workflow's bundle, as in production.
  const cardBundlePath = path.join(scratch, 'card-workflow-bundle.js');
  writeFileSync(cardBundlePath, cardBundle);
  log(`Postgres, Temporal (${stack.temporalMode}, ${stack.temporalAddress}) and the workflow bundle ready in ${Date.now() - started} ms`);

  const env = {
    ...process.env,
    TEST_DATABASE_URL: stack.databaseUrl,
    TEST_TEMPORAL_ADDRESS: stack.temporalAddress,
    ...(stack.executable.type === 'existing-path' ? { TEST_TEMPORAL_CLI_PATH: stack.executable.path } : {}),
    WORKFLOW_BUNDLE_PATH: bundlePath,
    CARD_WORKFLOW_BUNDLE_PATH: cardBundlePath,
    TEST_SCRATCH_DIR: scratch,
    // Payload encryption keys for this run only (test/support/codec.ts), never a committed one.
    PAYLOAD_CODEC_KEYS: generateKeyEntry(`test-${process.pid}`),
    PAYLOAD_CODEC_KEYS_FILE: '',
    // The bank's callback-signing secret for this run only (workers verify, simulators sign).
    SETTLEMENT_CALLBACK_SECRET: generateWebhookSecret(),
    SETTLEMENT_CALLBACK_SECRET_FILE: '',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  // Files run one at a time (integration tests share one server and two cores), each in its own
  // process group with a time limit: a file that hangs is stopped, reported, and fails the run.
  const file_ms_max = fileTimeLimitMs(process.env.TEST_FILE_TIMEOUT_MS);
  const results: FileResult[] = [];
  for (const file of files) {
    const result = await runTestFile(file, env, { file_ms_max });
    results.push(result);
    if (result.timed_out) log(`${file}: stopped after ${file_ms_max} ms (TEST_FILE_TIMEOUT_MS): it hung`);
    else if (!result.ok) log(`${file}: failed (exit ${result.exit_code}, ${result.failed} failed)`);
  }
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed + (r.timed_out ? 1 : 0), 0);
  const bad = results.filter((r) => !r.ok);
  for (const r of bad) log(`not ok: ${r.file}${r.timed_out ? ' (timed out)' : ''}`);
  log(`${files.length} files in ${Math.round((Date.now() - started) / 1000)} s`);
  closingLine = `tests: ${passed} passed, ${failed} failed`;
  exitCode = bad.length === 0 && passed > 0 ? 0 : 1;
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  await stack?.close();
  if (exitCode === 0) rmSync(scratch, { recursive: true, force: true });
  else log(`logs kept in ${scratch}`);
}
console.log(closingLine);
process.exit(exitCode);
