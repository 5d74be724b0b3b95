// `npm start` as a user runs it, for the stack tests: its own data folder and free ports, waiting
// until it says it is up, and the processes it left pid files for.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePortRange, stackPortsEnv } from '../../src/stack/ports.js';
import { SERVER_PORTS_PER_BASE, SERVER_PORT_MAX } from '../../src/stack/temporal-server-config.js';
import { testEnv } from './env.js';
import type { Started } from './tsx-process.js';

export const START_TIMEOUT_MS = 180_000;

/** The environment for `npm start` beside the harness: a data folder (a new scratch one unless
 * given), free ports for every service, and none of the harness's own database, Temporal or keys. */
export async function stackEnv(dataDir: string = mkdtempSync(path.join(testEnv.scratchDir, 'stack-'))): Promise<NodeJS.ProcessEnv> {
  const temporalCli = testEnv.temporalCliPath;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    TEMPORAL_CLI_PATH: temporalCli,
    ...(await stackPortsEnv()),
    // Server mode's internal ports: below 32768, away from the ephemeral range freePort uses.
    TEMPORAL_SERVER_PORT_BASE: String(await freePortRange(SERVER_PORTS_PER_BASE, 20_000, SERVER_PORT_MAX)),
    WORKER_SHUTDOWN_GRACE_MS: '2000',
    LOG_LEVEL: 'info',
  };
  // No key given: npm start creates its key file in the data folder. The Temporal mode is the
  // test's to choose.
  for (const name of [
    'DATABASE_URL',
    'TEMPORAL_ADDRESS',
    'SETTLEMENT_GATEWAY_URL',
    'PAYLOAD_CODEC_KEYS',
    'PAYLOAD_CODEC_KEYS_FILE',
    'SETTLEMENT_CALLBACK_SECRET',
    'SETTLEMENT_CALLBACK_SECRET_FILE',
    'TEMPORAL_MODE',
    'TEMPORAL_SERVICES',
    'TEMPORAL_HISTORY_SHARDS',
  ])
    delete env[name];
  return env;
}

export async function waitForUp(started: Started, timeout_ms = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!/platform is up/.test(started.stdout())) {
    if (started.child.exitCode !== null) assert.fail(`npm start exited with ${started.child.exitCode}:\n${started.stderr()}`);
    if (Date.now() > deadline) assert.fail(`npm start was not up within ${timeout_ms} ms:\n${started.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pids in every pid file npm start keeps: Postgres, Temporal's processes, worker, API. */
export function pidsOf(dataDir: string): number[] {
  const dirs = [path.join(dataDir, 'postgres'), path.join(dataDir, 'logs'), dataDir];
  return dirs
    .filter((d) => existsSync(d))
    .flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.pid'))
        .map((f) => path.join(d, f)),
    )
    .map((f) => Number(readFileSync(f, 'utf8').trim()));
}

/** The embedded Postgres's superuser URL for `database` (the platform's own processes get a role
 * that cannot read Temporal's tables). */
export function embeddedAdminUrl(env: NodeJS.ProcessEnv, database: string): string {
  const password = readFileSync(path.join(env.DATA_DIR!, 'postgres', 'pg-password'), 'utf8').trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${env.POSTGRES_PORT}/${database}`;
}
