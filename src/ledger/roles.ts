// Least privilege: who may do what to the ledger's database.
//
// - The owner role owns every schema, table and function, and runs the migrations.
// - The app role (worker, API, CLI) is a member of the group role APP_GROUP_ROLE, which the
//   migrations grant exactly what the platform does: read everything, insert transfers and
//   refusals, update account counters (and the closed flag), and the card, settlement and API-key
//   rows it maintains. It owns nothing, so it cannot disable triggers, alter or drop tables,
//   UPDATE/DELETE/TRUNCATE transfers, refusals or bucket rows (no grant, and triggers refuse
//   anyway), or set session_replication_role (superuser only).
//
// `npm start` creates both roles on the embedded Postgres (ensureRoles, ensureDatabaseOwner); with
// DATABASE_URL, README "Least privilege" gives the SQL to run once as an administrator.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';

/** The NOLOGIN role the migrations grant the platform's rights to (see 1764000000010). */
export const APP_GROUP_ROLE = 'cardplatform_app';

export interface LoginRole {
  name: string;
  password: string;
}

export interface DatabaseRoles {
  owner: LoginRole;
  app: LoginRole;
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A role name and password safe to write into SQL text (CREATE ROLE takes no parameters). */
function assertRole(role: LoginRole): void {
  if (!ROLE_NAME.test(role.name)) throw new Error(`role name ${JSON.stringify(role.name)} must match ${ROLE_NAME}`);
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(role.password))
    throw new Error(`the password of role ${role.name} must be 16-128 base64url characters`);
}

/** Reads a password kept in a file (mode 0600), creating it on first use. */
export function passwordFromFile(file: string): string {
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** The SQL an administrator runs once: the group role, and an app login role in it. */
export function appRoleSql(app: LoginRole): string {
  assertRole(app);
  return [
    `DO $$ BEGIN`,
    `  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN CREATE ROLE ${APP_GROUP_ROLE} NOLOGIN; END IF;`,
    `  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${app.name}') THEN CREATE ROLE ${app.name} LOGIN; END IF;`,
    `END $$;`,
    `ALTER ROLE ${app.name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '${app.password}';`,
    `GRANT ${APP_GROUP_ROLE} TO ${app.name};`,
  ].join('\n');
}

/** As a superuser: creates (or updates) the owner and app login roles and the group role.
 * Idempotent; concurrent callers are serialized. */
export async function ensureRoles(superuserUrl: string, roles: DatabaseRoles): Promise<void> {
  assertRole(roles.owner);
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    // Roles are global to the server: serialize concurrent callers (test files, restarts).
    await client.query('SELECT pg_advisory_lock(hashtext($1))', ['cardplatform roles']);
    await client.query(
      [
        `DO $$ BEGIN`,
        `  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${roles.owner.name}') THEN CREATE ROLE ${roles.owner.name} LOGIN; END IF;`,
        `END $$;`,
        `ALTER ROLE ${roles.owner.name} LOGIN NOSUPERUSER NOCREATEROLE PASSWORD '${roles.owner.password}';`,
      ].join('\n'),
    );
    await client.query(appRoleSql(roles.app));
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', ['cardplatform roles']).catch(() => undefined);
    await client.end();
  }
}

/** As a superuser: makes `owner` own `database` and every object of the platform's schemas in it,
 * so that a database created before the roles existed (an older data folder) changes hands. */
export async function ensureDatabaseOwner(superuserUrl: string, database: string, owner: LoginRole): Promise<void> {
  assertRole(owner);
  if (!ROLE_NAME.test(database)) throw new Error(`database name ${JSON.stringify(database)} must match ${ROLE_NAME}`);
  const url = new URL(superuserUrl);
  url.pathname = `/${database}`;
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  try {
    await db.query(`ALTER DATABASE ${database} OWNER TO ${owner.name}`);
    await db.query(`DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT nspname FROM pg_namespace WHERE nspname IN ('ledger', 'cards', 'settlement', 'api')
             AND nspowner <> '${owner.name}'::regrole LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO ${owner.name}', r.nspname);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('ledger', 'cards', 'settlement', 'api', 'public') AND c.relkind IN ('r', 'v', 'p')
              AND c.relowner <> '${owner.name}'::regrole LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO ${owner.name}', r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('ledger', 'cards', 'settlement', 'api') AND p.proowner <> '${owner.name}'::regrole LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO ${owner.name}', r.name);
  END LOOP;
END $$;`);
  } finally {
    await db.end();
  }
}

/** The URL of `url`'s server and database, as `role`. */
export function urlAs(url: string, role: LoginRole): string {
  const u = new URL(url);
  u.username = role.name;
  u.password = role.password;
  return u.toString();
}
