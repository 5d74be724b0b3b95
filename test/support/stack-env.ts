// The environment for running `npm start` in a test: a scratch data folder, and a free port for
// every `*_PORT` variable the configuration has, so it runs beside the harness and other stacks.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../src/config.js';
import { freePort } from '../../src/stack/ports.js';
import { testEnv } from './env.js';

/** A scratch data folder and a free port for every `*_PORT` variable the configuration has. */
export async function stackEnv(dataDir: string): Promise<NodeJS.ProcessEnv> {
  const config = readFileSync(path.join(REPO_ROOT, 'src', 'config.ts'), 'utf8');
  const ports = [...config.matchAll(/^\s+([A-Z][A-Z0-9_]*_PORT):\s*port\b/gm)].map((m) => m[1]!);
  assert.ok(ports.includes('TEMPORAL_UI_PORT'), `found the port variables in src/config.ts: ${ports.join(', ')}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    TEMPORAL_CLI_PATH: testEnv.temporalCliPath,
    WORKER_SHUTDOWN_GRACE_MS: '2000',
    LOG_LEVEL: 'info',
  };
  for (const name of ports) env[name] = String(await freePort());
  // npm start's own database, Temporal and keys (it creates its key file), not the harness's.
  for (const name of [
    'DATABASE_URL',
    'TEMPORAL_ADDRESS',
    'SETTLEMENT_GATEWAY_URL',
    'PAYLOAD_CODEC_KEYS',
    'PAYLOAD_CODEC_KEYS_FILE',
    'SETTLEMENT_CALLBACK_SECRET',
    'SETTLEMENT_CALLBACK_SECRET_FILE',
  ])
    delete env[name];
  return env;
}
