// The Temporal CLI resolution order, with the file system and `go install` replaced by fakes:
// this tests the order and the messages, not Go (the harness builds the real binary).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  TEMPORAL_CLI_MODULE,
  TEMPORAL_CLI_VERSION,
  TemporalCliNotFoundError,
  resolveTemporalCli,
  temporalCacheDir,
} from '../../src/stack/temporal-cli.js';

function deps(executables: string[], env: NodeJS.ProcessEnv, goInstall?: (gobin: string, target: string) => Promise<void>) {
  const calls: string[] = [];
  return {
    calls,
    deps: {
      env,
      isExecutable: (f: string) => executables.includes(f),
      goInstall: async (gobin: string, target: string) => {
        calls.push(target);
        if (!goInstall) throw new Error('go: command not found');
        await goInstall(gobin, target);
      },
      log: () => undefined,
    },
  };
}

const both = { allow_go_install: true, allow_sdk_download: true };

describe('resolveTemporalCli', () => {
  test('TEMPORAL_CLI_PATH wins over everything', async () => {
    const { deps: d } = deps(['/opt/t', '/usr/bin/temporal'], { TEMPORAL_CLI_PATH: '/opt/t', PATH: '/usr/bin' });
    assert.deepEqual(await resolveTemporalCli(both, d), { type: 'existing-path', path: '/opt/t', source: 'env' });
  });

  test('a TEMPORAL_CLI_PATH that is not executable is an error, not a fallback', async () => {
    const { deps: d } = deps(['/usr/bin/temporal'], { TEMPORAL_CLI_PATH: '/missing', PATH: '/usr/bin' });
    await assert.rejects(resolveTemporalCli(both, d), /TEMPORAL_CLI_PATH=\/missing is not an executable file/);
  });

  test('then PATH, then the per-user cache', async () => {
    const env = { PATH: '/a:/b', HOME: '/home/u' };
    assert.equal((await resolveTemporalCli(both, deps(['/b/temporal'], env).deps)).type, 'existing-path');
    const cached = path.join(temporalCacheDir(env), 'temporal');
    assert.ok(cached.startsWith('/home/u/.cache/'), 'cache lives outside the repository');
    assert.ok(cached.includes(TEMPORAL_CLI_VERSION), 'cache is per pinned version');
    assert.deepEqual(await resolveTemporalCli(both, deps([cached], env).deps), { type: 'existing-path', path: cached, source: 'cache' });
  });

  test('then go install of the pinned version into the cache', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'tcli-'));
    const env = { PATH: '', XDG_CACHE_HOME: home };
    const { calls, deps: d } = deps([], env, async (gobin) => writeFileSync(path.join(gobin, 'temporal'), '#!/bin/sh\n', { mode: 0o755 }));
    const result = await resolveTemporalCli(both, d);
    assert.deepEqual(calls, [`${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`]);
    assert.deepEqual(result, { type: 'existing-path', path: path.join(temporalCacheDir(env), 'temporal'), source: 'go-install' });
  });

  test('then the SDK download; with that disallowed, an error that says what to install', async () => {
    const env = { PATH: '', XDG_CACHE_HOME: mkdtempSync(path.join(os.tmpdir(), 'tcli-')) };
    assert.equal((await resolveTemporalCli(both, deps([], env).deps)).type, 'sdk-download');
    await assert.rejects(
      resolveTemporalCli({ allow_go_install: true, allow_sdk_download: false }, deps([], env).deps),
      (err: Error) =>
        err instanceof TemporalCliNotFoundError &&
        /go install failed: go: command not found/.test(err.message) &&
        /Install Go/.test(err.message) &&
        /TEMPORAL_CLI_PATH/.test(err.message),
    );
  });
});
