// `npm run ledger:verify`: checks the ledger invariants of the running platform (or DATABASE_URL)
// and exits 1 on any violation.
import { loadConfig } from '../config.js';
import { readStackFile, stackFilePath } from '../stack/stack-file.js';
import { createPool } from './db.js';
import { formatVerifyReport, verifyLedger } from './verify.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`usage: npm run ledger:verify [-- --json]

Checks the ledger invariants (DESIGN.md section 4, 1-4) and prints a report.
Connects to DATABASE_URL, else to the database of the running \`npm start\` (data/stack.json).
Exit code: 0 when every invariant holds, 1 on a violation, 2 when it cannot run.`);
  process.exit(0);
}

const config = loadConfig();
const databaseUrl = config.DATABASE_URL ?? readStackFile(config.DATA_DIR)?.database;
if (!databaseUrl) {
  console.error(`ledger:verify: no database: set DATABASE_URL or start the platform (${stackFilePath(config.DATA_DIR)} is missing)`);
  process.exit(2);
}
const pool = createPool(databaseUrl, { connections_max: 1, application_name: 'ledger-verify' });
try {
  const report = await verifyLedger(pool);
  console.log(process.argv.includes('--json') ? JSON.stringify(report) : formatVerifyReport(report));
  process.exitCode = report.ok ? 0 : 1;
} catch (err) {
  console.error(`ledger:verify: ${(err as Error).message}`);
  process.exitCode = 2;
} finally {
  await pool.end();
}
