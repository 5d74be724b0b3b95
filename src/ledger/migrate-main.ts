// `tsx src/ledger/migrate-main.ts`: applies ledger migrations to DATABASE_URL (docker-compose's
// one-shot migrate service; `npm start` and the tests migrate on their own).
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { migrate } from './migrate.js';

const log = createLogger('migrate');
const config = loadConfig();
// Migrations run as the owner role (DATABASE_MIGRATION_URL), else as DATABASE_URL's role.
const url = config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL;
if (!url) {
  log.fatal('DATABASE_MIGRATION_URL (or DATABASE_URL) is not set: say which database to migrate');
  process.exit(2);
}
const applied = await migrate(url, (msg) => log.debug(msg));
log.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
