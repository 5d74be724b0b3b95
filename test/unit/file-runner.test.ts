// The per-file time limit of `npm test` (test/support/file-runner.ts): a test file that hangs is
// stopped, together with a process it started, and reported as failed; a good file's counts are read.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runTestFile } from '../support/file-runner.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'file-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const quiet = () => undefined;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a file that hangs is stopped at its limit, with what it started, and fails', async () => {
  const pidFile = path.join(dir, 'grandchild.pid');
  const file = path.join(dir, 'hangs.test.ts');
  writeFileSync(
    file,
    `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
test('never settles', async () => {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
  setInterval(() => undefined, 1_000);
  await new Promise(() => undefined);
});
`,
  );
  const result = await runTestFile(file, process.env, { file_ms_max: 5_000 }, quiet);
  assert.equal(result.timed_out, true);
  assert.equal(result.ok, false);
  assert.ok(result.duration_ms >= 5_000, `ran ${result.duration_ms} ms`);
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  for (let tries = 0; alive(grandchild) && tries < 50; tries++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(alive(grandchild), false, `the process the file started (${grandchild}) is gone`);
});

test('a passing file and a failing file: their counts, and only the failing one is not ok', async () => {
  const good = path.join(dir, 'good.test.ts');
  writeFileSync(good, `import { test } from 'node:test';\ntest('a', () => {});\ntest('b', () => {});\n`);
  const bad = path.join(dir, 'bad.test.ts');
  writeFileSync(
    bad,
    `import assert from 'node:assert';\nimport { test } from 'node:test';\ntest('a', () => {});\ntest('b', () => assert.fail('no'));\n`,
  );
  const a = await runTestFile(good, process.env, { file_ms_max: 60_000 }, quiet);
  assert.deepEqual([a.passed, a.failed, a.timed_out, a.ok], [2, 0, false, true]);
  const b = await runTestFile(bad, process.env, { file_ms_max: 60_000 }, quiet);
  assert.deepEqual([b.passed, b.failed, b.timed_out, b.ok], [1, 1, false, false]);
});

test('the limit must be a positive integer', async () => {
  await assert.rejects(runTestFile('x.test.ts', process.env, { file_ms_max: 0 }, quiet), /file_ms_max must be a positive integer/);
});
