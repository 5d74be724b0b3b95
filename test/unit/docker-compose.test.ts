import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// This file lives at test/unit/, so the repo root is two levels up.
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const INSTALL_HINT = 'apt-get install -y docker-compose';

/**
 * Runs `docker-compose <args>` against the repo's compose file. Uses the
 * standalone binary because Debian's docker-compose (1.29, Python) needs no
 * Docker engine to validate a file, which keeps this test runnable here.
 */
function compose(args: string[]): string {
  const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // Fail rather than skip: a silently skipped check is a missing check.
      assert.fail(`docker-compose is not installed; install it with: ${INSTALL_HINT}`);
    }
    throw result.error;
  }
  assert.equal(result.status, 0, `docker-compose ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  return result.stdout;
}

/**
 * Returns the YAML block of one service from `docker-compose config` output.
 * docker-compose 1.29 has no `config --format json` and adding a YAML parser
 * dependency for one test is not worth it, so the block is cut out by
 * indentation: it ends at the next line indented no deeper than its key.
 */
function serviceBlock(yaml: string, service: string): string {
  const lines = yaml.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^ +${service}:$`).test(line));
  assert.notEqual(start, -1, `service "${service}" not found in:\n${yaml}`);
  const indent = lines[start]!.search(/\S/);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => line.trim() !== '' && line.search(/\S/) <= indent);
  return rest.slice(0, end === -1 ? undefined : end).join('\n');
}

test('docker-compose.yml validates', () => {
  compose(['config', '--quiet']);
});

test('docker-compose.yml defines the production services', () => {
  const services = compose(['config', '--services']).split('\n').filter(Boolean);
  for (const name of ['postgres', 'temporal', 'temporal-ui', 'worker', 'settlement-simulator', 'migrate']) {
    assert.ok(services.includes(name), `missing service "${name}"; got: ${services.join(', ')}`);
  }
});

test('worker is wired to Postgres and Temporal', () => {
  const worker = serviceBlock(compose(['config']), 'worker');
  assert.match(worker, /^ +environment:$/m);
  assert.match(worker, /^ +DATABASE_URL: postgres:\/\/postgres:[^@\s]+@postgres:5432\/payments$/m);
  assert.match(worker, /^ +TEMPORAL_ADDRESS: temporal:7233$/m);
});
