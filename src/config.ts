// Every setting the platform reads from its environment, validated once, in one place.
// README "Configuration" lists the same variables: keep the two in step.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  DAY_MS,
  DEFAULT_NETWORK_SETTLEMENT_INTERVAL_MS,
  DEFAULT_NETWORK_SETTLEMENT_LAG_MS,
  NETWORK_SETTLEMENT_INTERVAL_MS_MAX,
  NETWORK_SETTLEMENT_INTERVAL_MS_MIN,
  NETWORK_SETTLEMENT_ATTENTION_AFTER_MS_MIN,
} from './domain/network-settlement.js';
import { HISTORY_SHARDS_DEFAULT, HISTORY_SHARDS_MAX, SERVER_PORTS_PER_BASE, SERVER_PORT_MAX } from './stack/temporal-server-config.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const port = z.coerce.number().int().min(1).max(65535);
const optionalUrl = z.url().optional();

const envSchema = z.object({
  DATA_DIR: z.string().min(1).default(path.join(REPO_ROOT, 'data')),
  DATABASE_URL: optionalUrl,
  /** The owner role's URL, for migrations only (npm start, migrate-main); DATABASE_URL (the app
   * role) when unset. */
  DATABASE_MIGRATION_URL: optionalUrl,
  POSTGRES_PORT: port.default(55432),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, { error: 'must be host:port' })
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('payments'),
  /** Card payment workflows (authorizations and the rest of their lifecycle) run here, on a
   * worker of their own with dedicated slots, so payouts, settlement and network settlement on
   * TEMPORAL_TASK_QUEUE cannot delay an authorization (docs/performance.md). */
  TEMPORAL_AUTHORIZATION_TASK_QUEUE: z.string().min(1).default('authorizations'),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  /** `dev`: the Temporal CLI's dev server (SQLite); `server`: the real Temporal server on the
   * platform's Postgres (src/stack/temporal-cluster.ts). `npm start -- --temporal server` too. */
  TEMPORAL_MODE: z.enum(['dev', 'server']).default('dev'),
  /** Server mode: `single` (one process, every service) or `split` (frontend, matching, worker and
   * two history processes). */
  TEMPORAL_SERVICES: z.enum(['single', 'split']).default('single'),
  /** Server mode: history shards of a new cluster; fixed at its first start. */
  TEMPORAL_HISTORY_SHARDS: z.coerce.number().int().min(1).max(HISTORY_SHARDS_MAX).default(HISTORY_SHARDS_DEFAULT),
  /** Server mode: the server's other ports (services' gRPC, membership) are the 10 from this one
   * (at most 32767: the server stores membership ports as smallint). */
  TEMPORAL_SERVER_PORT_BASE: z.coerce
    .number()
    .int()
    .min(1024)
    .max(SERVER_PORT_MAX + 1 - SERVER_PORTS_PER_BASE)
    .default(7240),
  /** Server mode: the Postgres server for Temporal's databases, when not the ledger's (its
   * database part is ignored: the databases are `temporal` and `temporal_visibility`). */
  TEMPORAL_DATABASE_URL: optionalUrl,
  TEMPORAL_SERVER_PATH: z.string().min(1).optional(),
  TEMPORAL_SQL_TOOL_PATH: z.string().min(1).optional(),
  TEMPORAL_UI_SERVER_PATH: z.string().min(1).optional(),
  /** `on`: the SDK records a stack trace for every promise a workflow creates, for the Web UI's
   * "Stack Trace" tab; read by the SDK itself in each workflow thread (scripts/patch-temporal-worker.mjs),
   * validated here so that a misspelt value stops the worker instead of meaning `off`. */
  TEMPORAL_WORKFLOW_STACK_TRACES: z.enum(['on', 'off']).default('off'),
  SETTLEMENT_GATEWAY_URL: optionalUrl,
  SETTLEMENT_SIMULATOR_HOST: z.string().min(1).default('127.0.0.1'),
  SETTLEMENT_SIMULATOR_PORT: port.default(7480),
  SETTLEMENT_SIMULATOR_TRANSIENT_FAILURE_RATE: z.coerce.number().min(0).lt(1).default(0),
  SETTLEMENT_SIMULATOR_REPLY_LOST_RATE: z.coerce.number().min(0).lt(1).default(0),
  SETTLEMENT_SIMULATOR_LATENCY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /** How long the gateway client waits for the bank's answer before retrying with the same key. */
  SETTLEMENT_GATEWAY_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Each webhook POST to a company's endpoint gives up after this long (then it is retried). */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** The settlement callback receiver, served by the worker process. */
  SETTLEMENT_CALLBACK_HOST: z.string().min(1).default('127.0.0.1'),
  SETTLEMENT_CALLBACK_PORT: port.default(7481),
  /** The bank's callback-signing secret(s), `whsec_<base64>` (several, space-separated, during a
   * rotation: the first signs), or a file of them; neither: `<DATA_DIR>/settlement-callback-secret`
   * (npm start creates it). src/settlement/callback-secret.ts. */
  SETTLEMENT_CALLBACK_SECRET: z.string().min(1).optional(),
  SETTLEMENT_CALLBACK_SECRET_FILE: z.string().min(1).optional(),
  /** `callback`: the simulator accepts payouts (202) and confirms them by callback; `sync`: it
   * answers each payout at once (200 settled / 422 rejected). */
  SETTLEMENT_SIMULATOR_MODE: z.enum(['callback', 'sync']).default('callback'),
  /** Where the simulator sends its callbacks; `npm start` derives it from SETTLEMENT_CALLBACK_HOST
   * and _PORT. simulator-main.ts confirms by callback only when this is set. */
  SETTLEMENT_SIMULATOR_CALLBACK_URL: optionalUrl,
  SETTLEMENT_SIMULATOR_CALLBACK_DELAY_MS: z.coerce.number().int().min(0).max(3_600_000).default(200),
  SETTLEMENT_SIMULATOR_DUPLICATE_CALLBACK_RATE: z.coerce.number().min(0).lt(1).default(0),
  SETTLEMENT_SIMULATOR_LATE_CALLBACK_RATE: z.coerce.number().min(0).lt(1).default(0),
  SETTLEMENT_SIMULATOR_LATE_CALLBACK_DELAY_MS: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
  SETTLEMENT_SIMULATOR_TIMEOUT_RATE: z.coerce.number().min(0).lt(1).default(0),
  SETTLEMENT_SIMULATOR_TIMEOUT_HOLD_MS: z.coerce.number().int().min(0).max(600_000).default(15_000),
  /** Server-side bounds set on every database connection (src/ledger/db.ts): how long a statement
   * waits for a row lock, how long any statement runs, and how long a session may sit idle inside
   * an open transaction (a stalled process holding locks) before the server ends it. */
  DATABASE_LOCK_TIMEOUT_MS: z.coerce.number().int().min(10).max(600_000).default(2_000),
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  DATABASE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  LEDGER_BATCH_SIZE_MAX: z.coerce.number().int().min(1).max(1000).default(500),
  LEDGER_BATCH_WAIT_MS_MAX: z.coerce.number().int().min(0).max(1000).default(0),
  LEDGER_QUEUE_LENGTH_MAX: z.coerce.number().int().min(1000).max(1_000_000).default(50_000),
  PAYOUT_SETTLEMENT_ATTENTION_AFTER_MS: z.coerce
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3_600_000)
    .default(3_600_000),
  /** The network's dispute deadlines, set per dispute when it opens: the merchant's representment
   * window and the arbitration window (30 days each; shorten them for demos and tests). */
  DISPUTE_REPRESENTMENT_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(1)
    .max(365 * 24 * 3_600_000)
    .default(30 * 24 * 3_600_000),
  DISPUTE_ARBITRATION_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(1)
    .max(365 * 24 * 3_600_000)
    .default(30 * 24 * 3_600_000),
  /** How often the card network settles (one cycle): the schedule's interval; cycles end on multiples of it from the epoch. */
  NETWORK_SETTLEMENT_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(NETWORK_SETTLEMENT_INTERVAL_MS_MIN)
    .max(NETWORK_SETTLEMENT_INTERVAL_MS_MAX)
    .default(DEFAULT_NETWORK_SETTLEMENT_INTERVAL_MS),
  /** How long after a cycle's end it is netted, so transfers still committing land in it. */
  NETWORK_SETTLEMENT_LAG_MS: z.coerce.number().int().min(0).max(DAY_MS).default(DEFAULT_NETWORK_SETTLEMENT_LAG_MS),
  /** A network settlement step still retrying after this long flags its run NeedsAttention (the
   * schedule skips later runs while one is open). Unset: 30 minutes, or half of what is left of a
   * shorter cycle after the lag (src/domain/network-settlement.ts attentionAfterMs). */
  NETWORK_SETTLEMENT_ATTENTION_AFTER_MS: z.coerce.number().int().min(NETWORK_SETTLEMENT_ATTENTION_AFTER_MS_MIN).max(DAY_MS).optional(),
  /** The card network's settlement reports; by default the settlement simulator's /network endpoints. */
  CARD_NETWORK_URL: optionalUrl,
  /** Prometheus endpoints: the worker's (SDK and platform metrics) and the API's. */
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  WORKER_METRICS_PORT: port.default(9464),
  API_METRICS_PORT: port.default(9465),
  /** The gRPC / Connect API (src/api/main.ts). */
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: port.default(7470),
  /** Admission control at the API (src/api/admission.ts; sizes explained in docs/performance.md):
   * the adaptive bound on calls one API process has in flight into Temporal: its ceiling, floor
   * and start. */
  API_TEMPORAL_IN_FLIGHT_MAX: z.coerce.number().int().min(1).max(10_000).default(64),
  API_TEMPORAL_IN_FLIGHT_MIN: z.coerce.number().int().min(1).max(10_000).default(8),
  API_TEMPORAL_IN_FLIGHT_INITIAL: z.coerce.number().int().min(1).max(10_000).default(8),
  /** Authorization answer time the bound steers under (it shrinks when answers are slower). */
  API_AUTHORIZATION_LATENCY_TARGET_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** Share of a round of answers (one bound's worth) that may be slower than the target before the
   * bound halves, in percent; 0: every slow answer halves it. */
  API_ADMISSION_SLOW_ANSWERS_PERCENT_MAX: z.coerce.number().int().min(0).max(90).default(25),
  /** Share of the bound kept for authorizations; calls other than authorizations have the rest as
   * their own share, counted among themselves (src/api/admission.ts). */
  API_AUTHORIZATION_RESERVE_PERCENT: z.coerce.number().int().min(0).max(90).default(50),
  /** Calls in flight on one payment at once, per API process (the server refuses a workflow's
   * 11th in-flight update: processes × this must stay below 10). */
  API_PAYMENT_IN_FLIGHT_MAX: z.coerce.number().int().min(1).max(9).default(2),
  /** Authorizations waiting for a slot at once (each waits at most until its deadline minus the
   * engine time); beyond it, the stand-in at once. */
  API_AUTHORIZATION_WAITING_MAX: z.coerce.number().int().min(0).max(100_000).default(64),
  /** The least deadline an authorization must have left to enter the engine (more when recent
   * answers were slower); less: the stand-in at once. */
  API_AUTHORIZATION_ENGINE_MS: z.coerce.number().int().min(0).max(60_000).default(150),
  /** API calls waiting for one of the API's 10 database connections at once; one more is refused
   * at once (RESOURCE_EXHAUSTED) rather than queued (src/ledger/db.ts DatabaseBusyError). */
  API_DATABASE_WAITING_MAX: z.coerce.number().int().min(0).max(100_000).default(40),
  /** How long a verified API key is trusted without asking the database again: a key revoked in
   * another process (the CLI) is refused within this long. 0: every call asks the database. */
  API_KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(2_000),
  /** The retry hint of a refused call (RESOURCE_EXHAUSTED), jittered up to twice this. */
  API_RETRY_AFTER_MS: z.coerce.number().int().min(1).max(60_000).default(200),
  /** Companies the key that `npm start` creates for local use (CLI, curl) is scoped to. */
  API_LOCAL_COMPANIES: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*(,[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/, { error: 'must be a comma-separated list of company ids' })
    .default('acme'),
  WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(300_000).default(10_000),
  /** Payload encryption keys, `id:base64key,...` (first encrypts), or a file of them; neither:
   * `<DATA_DIR>/payload-codec-keys` (npm start creates it). src/codec/keys.ts. */
  PAYLOAD_CODEC_KEYS: z.string().min(1).optional(),
  PAYLOAD_CODEC_KEYS_FILE: z.string().min(1).optional(),
  /** The codec server (src/codec/server.ts) the Web UI decodes payloads with. */
  CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  CODEC_SERVER_PORT: port.default(7482),
  /** Browser origins allowed to call it (comma-separated); default: the dev server's Web UI. */
  CODEC_SERVER_UI_ORIGINS: z
    .string()
    .regex(/^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/, { error: 'must be a comma-separated list of scheme://host[:port]' })
    .optional(),
  /** Bearer token for callers other than the Web UI; npm start generates one when unset. */
  CODEC_SERVER_TOKEN: z.string().min(16).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the environment; a bad value stops the process with the variable's name and the rule. */
export interface DatabaseTimeouts {
  lock_timeout_ms: number;
  statement_timeout_ms: number;
  idle_in_transaction_session_timeout_ms: number;
}

/** The configured bounds on database waits (DATABASE_*_TIMEOUT_MS). */
export function databaseTimeouts(env: NodeJS.ProcessEnv = process.env): DatabaseTimeouts {
  const config = loadConfig(env);
  return {
    lock_timeout_ms: config.DATABASE_LOCK_TIMEOUT_MS,
    statement_timeout_ms: config.DATABASE_STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout_ms: config.DATABASE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT_MS,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset": shells and compose files often export VAR= to clear a value.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
  }
  return parsed.data;
}
