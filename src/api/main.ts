// The API process: `npm run api` (started by `npm start`, or on its own against TEMPORAL_ADDRESS
// and DATABASE_URL). Serves gRPC, gRPC-Web and Connect on API_HOST:API_PORT. SIGINT/SIGTERM stop
// it: no new connections, then the database and Temporal connections close.
import { Client } from '@temporalio/client';
import { loadConfig } from '../config.js';
import { createCardStore } from '../cards/cards.js';
import { createStatementStore } from '../ledger/statements.js';
import { DEFAULT_CARD_OPTIONS } from '../domain/card.js';
import { createPool } from '../ledger/db.js';
import { createLedger } from '../ledger/ledger.js';
import { createLogger } from '../logger.js';
import { readStackFile } from '../stack/stack-file.js';
import { createDataConverter } from '../codec/data-converter.js';
import { loadKeyRing } from '../codec/keys.js';
import { createEndpointStore } from '../events/endpoints.js';
import { createEventStore } from '../events/store.js';
import { installTracing, tracingClientInterceptors } from '../telemetry/tracing.js';
import { createApiKeyStore } from './keys.js';
import { connectApiTemporal } from './temporal-connection.js';
import { createAdmissionControl } from './admission.js';
import { createApiMetrics, serveMetrics } from './rpc/metrics.js';
import { startApiServer } from './rpc/server.js';
import { createStandInAdviceStore } from './stand-in-advices.js';

const log = createLogger('api');
const config = loadConfig();
const stack = readStackFile(config.DATA_DIR);
const temporalAddress = config.TEMPORAL_ADDRESS ?? stack?.temporal;
const databaseUrl = config.DATABASE_URL ?? stack?.database;
if (!temporalAddress || !databaseUrl) {
  log.fatal('the API needs TEMPORAL_ADDRESS and DATABASE_URL (or a running `npm start`)');
  process.exit(2);
}

const pool = createPool(databaseUrl, { connections_max: 10, application_name: 'api', waiting_max: config.API_DATABASE_WAITING_MAX });
const connection = await connectApiTemporal(temporalAddress);
// Payloads and failures are encrypted with the workers' keys (src/codec/).
// Spans go to OTEL_EXPORTER_OTLP_ENDPOINT when set; the client carries the trace into workflows.
installTracing('card-payments-api');
const keyRing = loadKeyRing(config);
const client = new Client({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  dataConverter: createDataConverter(keyRing),
  interceptors: tracingClientInterceptors(),
});
const metrics = createApiMetrics();
// Bounds this process's calls into Temporal; sizes in docs/performance.md.
const admission = createAdmissionControl({
  in_flight_max: config.API_TEMPORAL_IN_FLIGHT_MAX,
  in_flight_min: config.API_TEMPORAL_IN_FLIGHT_MIN,
  in_flight_initial: config.API_TEMPORAL_IN_FLIGHT_INITIAL,
  authorization_latency_target_ms: config.API_AUTHORIZATION_LATENCY_TARGET_MS,
  slow_answers_percent_max: config.API_ADMISSION_SLOW_ANSWERS_PERCENT_MAX,
  authorization_reserve_percent: config.API_AUTHORIZATION_RESERVE_PERCENT,
  payment_in_flight_max: config.API_PAYMENT_IN_FLIGHT_MAX,
  authorization_waiting_max: config.API_AUTHORIZATION_WAITING_MAX,
  authorization_engine_ms: config.API_AUTHORIZATION_ENGINE_MS,
  retry_after_ms: config.API_RETRY_AFTER_MS,
});
metrics.observeAdmission(admission);
const metricsServer = await serveMetrics(metrics.registry, { host: config.API_HOST, port: config.API_METRICS_PORT });
const server = await startApiServer(
  {
    client,
    ledger: createLedger(pool),
    cards: createCardStore(pool),
    statements: createStatementStore(pool),
    keys: createApiKeyStore(pool, { cache_ttl_ms: config.API_KEY_CACHE_TTL_MS }),
    task_queue: config.TEMPORAL_TASK_QUEUE,
    card_task_queue: config.TEMPORAL_AUTHORIZATION_TASK_QUEUE,
    payout_options: { settlement_attention_after_ms: config.PAYOUT_SETTLEMENT_ATTENTION_AFTER_MS },
    card_options: DEFAULT_CARD_OPTIONS,
    dispute_options: {
      representment_window_ms: config.DISPUTE_REPRESENTMENT_WINDOW_MS,
      arbitration_window_ms: config.DISPUTE_ARBITRATION_WINDOW_MS,
    },
    log,
    metrics,
    admission,
    // Webhook endpoint secrets are sealed with the payload keys (src/events/secret-box.ts).
    events: { events: createEventStore(pool), endpoints: createEndpointStore(pool, keyRing) },
    stand_in_advices: createStandInAdviceStore(pool),
  },
  { host: config.API_HOST, port: config.API_PORT },
);
log.info({ url: server.url, metrics: metricsServer.url, admission: admission.limits }, 'api serving gRPC, gRPC-Web and Connect');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api stopping');
    void (async () => {
      await server.close();
      await metricsServer.close();
      await connection.close();
      await pool.end();
      log.info('api stopped');
      process.exit(0);
    })();
  });
}
