// What the harness (test/run.ts) started for this run, and per-file helpers around it.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPool, type Pool } from '../../src/ledger/db.js';
import { migrate } from '../../src/ledger/migrate.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through \`npm test\` (test/run.ts starts the servers)`);
  return value;
}

export const testEnv = {
  get databaseUrl() {
    return required('TEST_DATABASE_URL');
  },
  get temporalAddress() {
    return required('TEST_TEMPORAL_ADDRESS');
  },
  get workflowBundlePath() {
    return required('WORKFLOW_BUNDLE_PATH');
  },
  /** Removed by the harness after a green run, kept for its logs after a red one. */
  get scratchDir() {
    return required('TEST_SCRATCH_DIR');
  },
  get temporalCliPath() {
    return required('TEST_TEMPORAL_CLI_PATH');
  },
};

/** A new, migrated database on the test server, so a test file's ledger is its own. */
export async function freshDatabase(label: string, serverUrl: string = testEnv.databaseUrl): Promise<{ url: string; pool: Pool }> {
  const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  return { url: url.toString(), pool: createPool(url.toString(), { connections_max: 20, application_name: `test-${label}` }) };
}
