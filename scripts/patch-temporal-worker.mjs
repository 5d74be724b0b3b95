// Run by `npm ci` (package.json `postinstall`): makes the Temporal SDK's workflow stack traces a
// setting, TEMPORAL_WORKFLOW_STACK_TRACES (`on` or `off`, default `off`; src/config.ts).
//
// Why: @temporalio/worker 1.24 installs a V8 promise hook in every workflow thread that captures
// and source-maps a stack trace for every promise a workflow creates, so that the `__stack_trace`
// query (the Web UI's "Stack Trace" tab) can say where a workflow waits. The SDK has no option to
// turn it off. It was 13 of the 36 ms of CPU a card payment costs in the workflow thread
// (`npm run bench:workflow-cpu`, variant `stack_traces_on`; docs/performance.md), and that CPU is
// most of the authorization's first workflow task, the part of its latency the worker owns.
//
// With it off, the SDK takes the path it already has for runtimes without promise hooks: the
// query answers "Workflow stack traces are not enabled on this worker" and nothing else changes
// (the hook only records; workflow code and its history are the same, and the replay tests pass
// either way). Turn it on for a worker to debug where a workflow is stuck.
//
// The SDK reads the variable in each workflow thread, which gets a copy of the process's
// environment when the worker starts it. The edit is checked, not assumed: an SDK version other
// than the one it was written for, or a file without the expected text, fails the install with a
// message saying what to review.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const SDK_VERSION = '1.24.0';
const MARKER = 'TEMPORAL_WORKFLOW_STACK_TRACES';
const ANCHOR = '    setPromiseHook() {\n';
const INSERT =
  `        // card-payments-platform (scripts/patch-temporal-worker.mjs): off unless ${MARKER}=on.\n` +
  `        if (process.env.${MARKER} !== 'on') return;\n`;

function fail(message) {
  process.stderr.write(`[patch-temporal-worker] ${message}\n`);
  process.exit(1);
}

const require = createRequire(import.meta.url);
let packageJsonPath;
try {
  packageJsonPath = require.resolve('@temporalio/worker/package.json');
} catch {
  fail('@temporalio/worker is not installed');
}
const { version } = JSON.parse(readFileSync(packageJsonPath, 'utf8'));
if (version !== SDK_VERSION) {
  fail(
    `@temporalio/worker is ${version}, the patch was written for ${SDK_VERSION}: check whether the SDK now has ` +
      `an option for its workflow stack traces' promise hook, then update or remove this script`,
  );
}

const target = path.join(path.dirname(packageJsonPath), 'lib', 'workflow', 'vm-shared.js');
const source = readFileSync(target, 'utf8');
if (source.includes(MARKER)) {
  process.stdout.write(`[patch-temporal-worker] ${target}: already patched\n`);
} else {
  const at = source.indexOf(ANCHOR);
  if (at < 0 || source.indexOf(ANCHOR, at + 1) >= 0) {
    fail(`${target}: expected exactly one "setPromiseHook() {" line; the SDK changed, review the patch`);
  }
  const patched = source.slice(0, at + ANCHOR.length) + INSERT + source.slice(at + ANCHOR.length);
  writeFileSync(target, patched);
  process.stdout.write(`[patch-temporal-worker] ${target}: workflow stack traces follow ${MARKER}\n`);
}
