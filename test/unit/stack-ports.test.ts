// The ports a platform started beside others gets (src/stack/ports.ts): one for every port
// variable of src/config.ts, all distinct.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { freePort, STACK_PORT_VARIABLES, stackPortsEnv } from '../../src/stack/ports.js';

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

test('picked ports lie outside the range the OS draws from, so a listen(0) elsewhere never takes one', async () => {
  // Linux publishes its ephemeral range; elsewhere assume IANA's 49152-65535.
  let ephemeral: [number, number] = [49_152, 65_535];
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) ephemeral = [low!, high!];
  } catch {
    // not Linux: keep IANA's range
  }
  const drawn = await Promise.all(Array.from({ length: 50 }, () => freePort()));
  for (const port of drawn)
    assert.ok(port < ephemeral[0] || port > ephemeral[1], `port ${port} inside the OS range ${ephemeral.join('-')}`);
  // And what the OS hands out for listen(0) is inside it: the two can never meet.
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const osPort = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(osPort >= ephemeral[0] && osPort <= ephemeral[1], `the OS gave ${osPort}`);
});
