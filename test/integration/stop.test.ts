// `npm stop` (src/stack/stop.ts): a platform started in the background is stopped through the pid
// in its stack.json — the supervisor, and with it every process it started — and a second stop,
// with nothing running, says so and succeeds. Also: README's sample of what `npm start` prints
// has the lines it prints, in the same order.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { isAlive } from '../../src/stack/processes.js';
import { readStackFile } from '../../src/stack/stack-file.js';
import { testEnv } from '../support/env.js';
import { stackEnv } from '../support/npm-start.js';
import { tsx, type Started } from '../support/tsx-process.js';

const START_TIMEOUT_MS = 180_000;

let platform: Started | null = null;
after(async () => {
  if (platform && platform.child.exitCode === null) {
    platform.child.kill('SIGINT');
    await platform.exited;
  }
});

/** The pids the platform's pid files name (API, worker, Temporal, Postgres). */
function childPids(dataDir: string): number[] {
  const files = ['api.pid', 'worker.pid', path.join('logs', 'temporal.pid'), path.join('postgres', 'postgres.pid')].map((f) =>
    path.join(dataDir, f),
  );
  return files.filter((f) => existsSync(f)).map((f) => Number(readFileSync(f, 'utf8').trim().split('\n')[0]));
}

/** The labels of a start banner ("Temporal", "Web UI"...) and its first and last lines. */
function bannerShape(lines: string[]): string[] {
  return lines.map((l) => (l.startsWith('  ') ? l.trim().split(/\s{2,}/)[0]! : l.replace(/\([\d.]+ s\)/, '(N s)')));
}

test('npm stop stops a platform running in the background, and says when nothing runs', async () => {
  const env = await stackEnv(path.join(mkdtempSync(path.join(testEnv.scratchDir, 'stop-')), 'data'));
  platform = tsx('src/stack/start.ts', env);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!/platform is up/.test(platform.stdout())) {
    if (platform.child.exitCode !== null) assert.fail(`npm start exited with ${platform.child.exitCode}:\n${platform.stderr()}`);
    if (Date.now() > deadline) assert.fail(`npm start was not up within ${START_TIMEOUT_MS} ms:\n${platform.stderr()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const stack = readStackFile(env.DATA_DIR!);
  assert.ok(stack, 'stack.json written');

  const printed = platform.stdout().trimEnd().split('\n');
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const sample = /```\n(card payments platform is up[^`]*?)\n```/.exec(readme);
  assert.ok(sample, "README.md shows npm start's output");
  assert.deepEqual(bannerShape(sample[1]!.split('\n')), bannerShape(printed.slice(printed.findIndex((l) => /platform is up/.test(l)))));

  const children = childPids(env.DATA_DIR!);
  assert.equal(children.length, 4, `pid files of API, worker, Temporal and Postgres: ${children.join(', ')}`);
  assert.ok([stack.pid, ...children].every(isAlive));

  const stop = tsx('src/stack/stop.ts', env);
  assert.equal(await stop.exited, 0, stop.stderr());
  assert.match(stop.stderr(), new RegExp(`stopping the platform \\(pid ${stack.pid}`));
  assert.match(stop.stderr(), /stopped in [\d.]+ s/);
  assert.equal(await platform.exited, 0, 'npm start exits 0, as after Ctrl-C');
  assert.equal(readStackFile(env.DATA_DIR!), null, 'stack.json removed');
  assert.deepEqual([stack.pid, ...children].filter(isAlive), [], 'no process left');

  const again = tsx('src/stack/stop.ts', env);
  assert.equal(await again.exited, 0, again.stderr());
  assert.match(again.stderr(), /no platform running here/);
});
