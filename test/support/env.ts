// What the harness (test/run.ts) started for this run, and per-file helpers around it.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPool, type Pool } from '../../src/ledger/db.js';
import { migrate } from '../../src/ledger/migrate.js';
import { ensureRoles, urlAs, type DatabaseRoles } from '../../src/ledger/roles.js';

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
  /** The card payment workflow's bundle alone (the authorizations worker's). */
  get cardWorkflowBundlePath() {
    return required('CARD_WORKFLOW_BUNDLE_PATH');
  },
  /** Removed by the harness after a green run, kept for its logs after a red one. */
  get scratchDir() {
    return required('TEST_SCRATCH_DIR');
  },
  get temporalCliPath() {
    return required('TEST_TEMPORAL_CLI_PATH');
  },
};

/** The roles every test database uses (roles are global to the test server; fixed, test-only
 * passwords, so every process of a run agrees on them). */
export const TEST_ROLES: DatabaseRoles = {
  owner: { name: 'payments_owner', password: 'test-owner-password-not-secret' },
  app: { name: 'payments_app', password: 'test-app-password-not-secret' },
};
const rolesReady = new Map<string, Promise<void>>();

/** A new database on the test server, owned and migrated by the owner role. `url` and `pool`
 * connect as the app role, as the platform's processes do; `ownerUrl` is for tests that must
 * tamper with the ledger (to prove the verifier catches it) or inject faults (triggers). */
export async function freshDatabase(
  label: string,
  serverUrl: string = testEnv.databaseUrl,
): Promise<{ url: string; pool: Pool; ownerUrl: string }> {
  if (!rolesReady.has(serverUrl)) rolesReady.set(serverUrl, ensureRoles(serverUrl, TEST_ROLES));
  await rolesReady.get(serverUrl);
  const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} OWNER ${TEST_ROLES.owner.name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const ownerUrl = urlAs(url.toString(), TEST_ROLES.owner);
  await migrate(ownerUrl);
  const appUrl = urlAs(url.toString(), TEST_ROLES.app);
  return { url: appUrl, ownerUrl, pool: createPool(appUrl, { connections_max: 20, application_name: `test-${label}` }) };
}
