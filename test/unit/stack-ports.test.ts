// The ports a platform started beside others gets (src/stack/ports.ts): one for every port
// variable of src/config.ts, all distinct.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { STACK_PORT_VARIABLES, stackPortsEnv } from '../../src/stack/ports.js';

test('every listening port variable of the configuration gets a port, and no two the same', async () => {
  const config = readFileSync(path.join(REPO_ROOT, 'src', 'config.ts'), 'utf8');
  const declared = [...config.matchAll(/^\s+([A-Z][A-Z0-9_]*_PORT):\s*port\b/gm)].map((m) => m[1]!).sort();
  assert.ok(declared.length >= 9, `port variables found in src/config.ts: ${declared.join(', ')}`);
  assert.deepEqual([...STACK_PORT_VARIABLES].sort(), declared);
  for (let round = 0; round < 20; round += 1) {
    const env = await stackPortsEnv();
    const ports = Object.values(env).map(Number);
    assert.equal(new Set(ports).size, STACK_PORT_VARIABLES.length, `distinct: ${ports.join(', ')}`);
    assert.ok(ports.every((p) => Number.isInteger(p) && p > 0 && p < 65_536));
  }
});
