// `npm run report`: one self-contained HTML page about the running platform (payment outcomes,
// payments needing attention, authorization latency, ledger batches, ledger totals and balances,
// the verifier's verdict). Reads stack.json of `npm start`, or DATABASE_URL / TEMPORAL_ADDRESS.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Command } from 'commander';
import { loadDataConverter } from '../codec/data-converter.js';
import { loadConfig } from '../config.js';
import { createPool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { readStackFile, resolveEndpoints } from '../stack/stack-file.js';
import { collectReport } from './collect.js';
import { renderReport } from './render.js';

const program = new Command()
  .name('npm run report --')
  .description(
    'Writes one HTML page (inline SVG, no script, no external asset) about the running platform: payments by kind and\n' +
      'status, payments needing attention, authorization latency, ledger batches, ledger totals and platform balances,\n' +
      "and the ledger verifier's verdict. Connects like the other tools: TEMPORAL_ADDRESS / DATABASE_URL, else\n" +
      "$DATA_DIR/stack.json of `npm start`; metrics from stack.json's endpoints.",
  )
  .option('--out <file>', 'where to write the page (default: $DATA_DIR/report.html)')
  .option('--filter <query>', 'a visibility query ANDed to every payment query, e.g. \'CompanyId = "acme"\'')
  .option('--worker-metrics <url>', "the worker's Prometheus endpoint (default: stack.json, else WORKER_METRICS_HOST:PORT)")
  .option('--api-metrics <url>', "the API's Prometheus endpoint (default: stack.json, else API_HOST:API_METRICS_PORT)")
  .option('--json', 'print the figures as JSON on stdout as well')
  .showHelpAfterError();

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(database)';
  }
}

async function main(): Promise<void> {
  const opts = program.parse().opts<{ out?: string; filter?: string; workerMetrics?: string; apiMetrics?: string; json?: boolean }>();
  const config = loadConfig();
  const endpoints = resolveEndpoints(config);
  const stack = readStackFile(config.DATA_DIR);
  const out = path.resolve(opts.out ?? path.join(config.DATA_DIR, 'report.html'));

  // Only search attributes are read (never encrypted); the platform's converter is used when its
  // keys are here, for anything else the SDK decodes while listing.
  let dataConverter: DataConverter | undefined;
  try {
    dataConverter = loadDataConverter(config);
  } catch {
    dataConverter = undefined;
  }
  const connection = await Connection.connect({ address: endpoints.temporal, connectTimeout: 10_000 });
  const pool = createPool(endpoints.database, { connections_max: 2, application_name: 'report' });
  try {
    const client = new Client({ connection, namespace: endpoints.namespace, ...(dataConverter ? { dataConverter } : {}) });
    const data = await collectReport({
      client,
      pool,
      ledger: createLedger(pool),
      source: { temporal: endpoints.temporal, namespace: endpoints.namespace, database: redact(endpoints.database) },
      filter: opts.filter ?? null,
      metrics: {
        worker:
          opts.workerMetrics ?? stack?.metrics?.worker ?? `http://${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}/metrics`,
        api: opts.apiMetrics ?? stack?.metrics?.api ?? `http://${config.API_HOST}:${config.API_METRICS_PORT}/metrics`,
      },
    });
    mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, renderReport(data));
    renameSync(tmp, out);
    if (opts.json) console.log(JSON.stringify(data));
    for (const [what, s] of [
      ['worker', data.worker],
      ['API', data.api],
    ] as const) {
      if (!s.ok) console.error(`report: ${what} metrics unavailable (${s.url ?? 'no endpoint'}: ${s.error}); the page says so`);
    }
    console.error(
      `report: ${data.payments.total} payments, ${data.attention.count} needing attention, ledger ${data.ledger.ok ? 'OK' : 'VIOLATED'}`,
    );
    console.log(out);
  } finally {
    await pool.end();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`report: ${(err as Error).message}`);
  process.exit(1);
});
