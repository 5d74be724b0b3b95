// `npm run ledger:verify`: checks the ledger invariants of the running platform (or DATABASE_URL)
// and exits 1 on any violation. Invariant 5 (payments against their final states) reads payment
// states from Temporal (TEMPORAL_ADDRESS or stack.json) when it is reachable.
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { getPayment } from '../api/payments.js';
import { loadDataConverter } from '../codec/data-converter.js';
import { loadConfig } from '../config.js';
import type { PaymentState } from '../domain/payment.js';
import { readStackFile, stackFilePath } from '../stack/stack-file.js';
import { createPool } from './db.js';
import { formatVerifyReport, verifyLedger, type VerifyOptions } from './verify.js';

/** Deadline of each call to Temporal (connect, one payment's query). */
const TEMPORAL_CALL_MS_MAX = 10_000;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`usage: npm run ledger:verify [-- --json] [-- --no-payments]

Checks the ledger invariants (DESIGN.md section 4, 1-5, and the engine's own) and prints each with
how much it checked. Connects to DATABASE_URL, else to the database of the running \`npm start\`
(data/stack.json); invariant 5 reads payment states from TEMPORAL_ADDRESS or stack.json's Temporal
(--no-payments skips it).
Exit code: 0 when every invariant holds, 1 on a violation, 2 when it cannot run.`);
  process.exit(0);
}

const config = loadConfig();
const stack = readStackFile(config.DATA_DIR);
const databaseUrl = config.DATABASE_URL ?? stack?.database;
if (!databaseUrl) {
  console.error(`ledger:verify: no database: set DATABASE_URL or start the platform (${stackFilePath(config.DATA_DIR)} is missing)`);
  process.exit(2);
}
const temporal = process.argv.includes('--no-payments') ? undefined : (config.TEMPORAL_ADDRESS ?? stack?.temporal);
const pool = createPool(databaseUrl, { connections_max: 1, application_name: 'ledger-verify' });
let connection: Connection | undefined;
try {
  const options: VerifyOptions = {};
  if (temporal) {
    connection = await Connection.connect({ address: temporal, connectTimeout: TEMPORAL_CALL_MS_MAX });
    const client = new Client({
      connection,
      namespace: stack?.namespace ?? config.TEMPORAL_NAMESPACE,
      dataConverter: loadDataConverter(config),
    });
    options.paymentState = async (payment_id): Promise<PaymentState | null> => {
      try {
        return await connection!.withDeadline(Date.now() + TEMPORAL_CALL_MS_MAX, () => getPayment(client, payment_id));
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
    };
  }
  const report = await verifyLedger(pool, options);
  console.log(process.argv.includes('--json') ? JSON.stringify(report) : formatVerifyReport(report));
  process.exitCode = report.ok ? 0 : 1;
} catch (err) {
  console.error(`ledger:verify: ${(err as Error).message}`);
  process.exitCode = 2;
} finally {
  await pool.end();
  await connection?.close();
}
