// `npm start`: the whole platform on one machine. Starts (or connects to) Postgres, migrates the
// ledger, starts (or connects to) Temporal with its Web UI, the payee-bank simulator and a worker
// process; prints where everything is and writes it to <data folder>/stack.json. SIGINT/SIGTERM
// stop everything in order: worker first (with its grace period), database last.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { REPO_ROOT, loadConfig, type Config } from '../config.js';
import { createApiKeyStore } from '../api/keys.js';
import { createPool } from '../ledger/db.js';
import { migrate } from '../ledger/migrate.js';
import { startSettlementSimulator, type SettlementSimulator } from '../settlement/simulator.js';
import { callbackReceiverUrl, simulatorOptionsFromConfig } from '../settlement/simulator-config.js';
import { provisionEmbeddedRoles, startEmbeddedPostgres, type RunningPostgres } from './postgres.js';
import { assertPortFree } from './ports.js';
import { isAlive, spawnManaged, tail, type ManagedProcess } from './processes.js';
import { waitForWorker } from './search-attributes.js';
import { readStackFile, removeStackFile, stackFilePath, writeStackFile } from './stack-file.js';
import { resolveTemporalCli } from './temporal-cli.js';
import { startTemporalDevServer, type RunningDevServer } from './temporal-server.js';
import { startStackCodec, type StackCodec } from '../codec/stack.js';

const HELP = `usage: npm start

Runs the card payments platform on this machine:
  Postgres     embedded (data in $DATA_DIR/postgres), or DATABASE_URL
  Temporal     dev server with Web UI (history in $DATA_DIR/temporal.db), or TEMPORAL_ADDRESS
  settlement   payee-bank simulator (confirms payouts by callback), or SETTLEMENT_GATEWAY_URL
  worker       the payments worker (workflows + activities + settlement callback receiver),
               restarted if it crashes
  api          gRPC, gRPC-Web and Connect on API_PORT, with a local API key in stack.json
When ready it prints the addresses and writes them to $DATA_DIR/stack.json.
Ctrl-C (SIGINT) or SIGTERM stops everything. Configuration: see README.md.`;

/** A crashing worker is restarted, but not in a tight loop: at most this many restarts ... */
const WORKER_RESTARTS_MAX = 5;
/** ... within this window. */
const WORKER_RESTART_WINDOW_MS = 60_000;
const WORKER_READY_TIMEOUT_MS = 120_000;
const API_READY_TIMEOUT_MS = 60_000;
const LOCAL_KEY_NAME = 'npm start (local)';

async function createLocalApiKey(databaseUrl: string, company_ids: string[]): Promise<string> {
  const pool = createPool(databaseUrl, { connections_max: 1, application_name: 'start' });
  try {
    const keys = createApiKeyStore(pool);
    await keys.revokeNamed(LOCAL_KEY_NAME);
    return (await keys.create({ name: LOCAL_KEY_NAME, company_ids })).api_key;
  } finally {
    await pool.end();
  }
}

/** Polls a URL until it answers 200, the process dies, or the time is up. */
async function waitForHttp(url: string, timeout_ms: number, isDead: () => boolean): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    if (isDead()) throw new Error(`the process behind ${url} exited during start`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeout_ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const say = (msg: string) => console.error(`[start] ${msg}`);

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

class Stack {
  postgres: RunningPostgres | null = null;
  temporal: RunningDevServer | null = null;
  simulator: SettlementSimulator | null = null;
  codec: StackCodec | null = null;
  worker: ManagedProcess | null = null;
  api: ManagedProcess | null = null;
  stopping = false;
  private restarts = new Map<string, number[]>();

  constructor(
    readonly config: Config,
    readonly logsDir: string,
  ) {}

  /** Starts one of the platform's own processes and restarts it when it crashes, at most
   * WORKER_RESTARTS_MAX times a minute (then the whole stack stops: something is wrong). */
  spawnChild(name: 'worker' | 'api', script: string, env: NodeJS.ProcessEnv): ManagedProcess {
    const child = spawnManaged({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', path.join(REPO_ROOT, 'src', ...script.split('/'))],
      logFile: path.join(this.logsDir, `${name}.log`),
      pidFile: path.join(this.config.DATA_DIR, `${name}.pid`),
      cwd: REPO_ROOT,
      env,
    });
    void child.exited.then((code) => {
      if (this.stopping || this[name] !== child) return;
      const now = Date.now();
      const recent = (this.restarts.get(name) ?? []).filter((t) => now - t < WORKER_RESTART_WINDOW_MS);
      if (recent.length >= WORKER_RESTARTS_MAX) {
        say(
          `${name} exited (code ${code}) ${WORKER_RESTARTS_MAX} times within a minute; stopping. Its log ends with:\n${tail(child.logFile)}`,
        );
        void this.stop(1);
        return;
      }
      this.restarts.set(name, [...recent, now]);
      say(`${name} exited (code ${code}); restarting it (see ${child.logFile})`);
      this[name] = this.spawnChild(name, script, env);
    });
    return child;
  }

  async stop(exitCode: number): Promise<never> {
    if (this.stopping) return new Promise<never>(() => undefined);
    this.stopping = true;
    say('stopping: API, worker, settlement simulator, codec server, Temporal, Postgres');
    removeStackFile(this.config.DATA_DIR);
    const steps: Array<[string, () => Promise<void>]> = [
      ['API', async () => this.api?.stop('SIGTERM', 10_000)],
      // The worker gets its own grace period to finish in-flight activities, plus time to exit.
      ['worker', async () => this.worker?.stop('SIGTERM', this.config.WORKER_SHUTDOWN_GRACE_MS + 10_000)],
      ['settlement simulator', async () => this.simulator?.close()],
      ['codec server', async () => this.codec?.server.close()],
      ['Temporal', async () => this.temporal?.stop()],
      ['Postgres', async () => this.postgres?.stop()],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        say(`stopping ${name}: ${(err as Error).message}`);
        exitCode = 1;
      }
    }
    say('stopped');
    process.exit(exitCode);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(HELP);
    return;
  }
  const config = loadConfig();
  const logsDir = path.join(config.DATA_DIR, 'logs');
  mkdirSync(logsDir, { recursive: true });

  const previous = readStackFile(config.DATA_DIR);
  if (previous && previous.pid !== process.pid && isAlive(previous.pid)) {
    throw new Error(`the platform is already running (pid ${previous.pid}, ${stackFilePath(config.DATA_DIR)}); stop it first`);
  }

  const stack = new Stack(config, logsDir);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stack.stop(0));

  try {
    const started = Date.now();

    // Find the Temporal CLI before starting anything, so a missing toolchain leaves nothing running.
    const executable = config.TEMPORAL_ADDRESS
      ? null
      : await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: true }, { log: say });

    // Every port we are about to serve on, checked before anything starts.
    const ports: Array<[number | null, string, string]> = [
      [config.DATABASE_URL ? null : config.POSTGRES_PORT, 'embedded Postgres', 'POSTGRES_PORT'],
      [executable ? config.TEMPORAL_PORT : null, 'Temporal frontend', 'TEMPORAL_PORT'],
      [executable ? config.TEMPORAL_UI_PORT : null, 'Temporal Web UI', 'TEMPORAL_UI_PORT'],
      [config.SETTLEMENT_GATEWAY_URL ? null : config.SETTLEMENT_SIMULATOR_PORT, 'settlement simulator', 'SETTLEMENT_SIMULATOR_PORT'],
      [config.SETTLEMENT_CALLBACK_PORT, 'settlement callback receiver', 'SETTLEMENT_CALLBACK_PORT'],
      [config.API_PORT, 'gRPC / Connect API', 'API_PORT'],
      [config.CODEC_SERVER_PORT, 'codec server', 'CODEC_SERVER_PORT'],
      [config.WORKER_METRICS_PORT, 'worker metrics', 'WORKER_METRICS_PORT'],
      [config.API_METRICS_PORT, 'API metrics', 'API_METRICS_PORT'],
    ];
    for (const [port, what, variable] of ports) {
      if (port !== null) await assertPortFree(port, what, variable);
    }

    // Least privilege: migrations run as the owner role; every process of the platform (and
    // stack.json) gets the app role's URL.
    let databaseUrl = config.DATABASE_URL;
    let migrationUrl = config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL;
    if (!databaseUrl) {
      say(`starting embedded Postgres on 127.0.0.1:${config.POSTGRES_PORT} (data in ${path.join(config.DATA_DIR, 'postgres')})`);
      const pgDir = path.join(config.DATA_DIR, 'postgres');
      stack.postgres = await startEmbeddedPostgres({ dir: pgDir, port: config.POSTGRES_PORT, log: say });
      const urls = await provisionEmbeddedRoles(stack.postgres, pgDir);
      databaseUrl = urls.appUrl;
      migrationUrl = urls.ownerUrl;
    }
    const applied = await migrate(migrationUrl!).catch((err: Error) => {
      throw new Error(
        `cannot use the database at ${redact(databaseUrl!)}: ${err.message}. ` +
          (config.DATABASE_URL
            ? 'Check that it is running and that DATABASE_URL is right, or unset DATABASE_URL to use the embedded Postgres.'
            : ''),
      );
    });
    say(applied.length ? `migrations applied: ${applied.join(', ')}` : 'ledger schema up to date');

    // Payloads are encrypted (src/codec/): the codec server, up before the Web UI that uses it.
    stack.codec = await startStackCodec(config, say, path.join(logsDir, 'codec-server.log'));
    const codecUrl = stack.codec.server.url;

    let temporalAddress: string;
    let ui: string | null = null;
    if (!executable) {
      temporalAddress = config.TEMPORAL_ADDRESS!;
      const connection = await Connection.connect({ address: temporalAddress, connectTimeout: 5_000 }).catch((err: Error) => {
        throw new Error(
          `cannot reach Temporal at TEMPORAL_ADDRESS=${temporalAddress}: ${err.message}. Check that it is running, or unset TEMPORAL_ADDRESS to use the dev server.`,
        );
      });
      // The worker registers the search attributes once it starts.
      await connection.close();
    } else {
      say(`starting the Temporal dev server on 127.0.0.1:${config.TEMPORAL_PORT}, Web UI on ${config.TEMPORAL_UI_PORT}`);
      stack.temporal = await startTemporalDevServer({
        executable,
        port: config.TEMPORAL_PORT,
        ui_port: config.TEMPORAL_UI_PORT,
        db_file: path.join(config.DATA_DIR, 'temporal.db'),
        namespace: config.TEMPORAL_NAMESPACE,
        dir: logsDir,
        log: say,
        ui_codec_endpoint: codecUrl,
      });
      temporalAddress = stack.temporal.address;
      ui = stack.temporal.ui;
    }

    // The worker serves the callback receiver; the simulator confirms payouts to it.
    const callbackUrl = callbackReceiverUrl(config);
    let gatewayUrl = config.SETTLEMENT_GATEWAY_URL;
    if (!gatewayUrl) {
      const simulatorCallbackUrl =
        config.SETTLEMENT_SIMULATOR_MODE === 'callback' ? (config.SETTLEMENT_SIMULATOR_CALLBACK_URL ?? callbackUrl) : undefined;
      stack.simulator = await startSettlementSimulator(simulatorOptionsFromConfig(config, simulatorCallbackUrl));
      gatewayUrl = stack.simulator.url;
    }

    say('starting the payments worker');
    stack.worker = stack.spawnChild('worker', 'workers/main.ts', {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: databaseUrl,
      SETTLEMENT_GATEWAY_URL: gatewayUrl,
      ...stack.codec.env,
    });
    const connection = await Connection.connect({ address: temporalAddress });
    try {
      await waitForWorker(
        connection,
        config.TEMPORAL_NAMESPACE,
        config.TEMPORAL_TASK_QUEUE,
        WORKER_READY_TIMEOUT_MS,
        () => stack.worker?.child.exitCode !== null,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${stack.worker.logFile} ends with:\n${tail(stack.worker.logFile)}`);
    } finally {
      await connection.close();
    }

    // A local key for the CLI and curl, scoped to API_LOCAL_COMPANIES; the previous start's is
    // revoked, so only the key in the current stack.json works.
    const api_key = await createLocalApiKey(databaseUrl, config.API_LOCAL_COMPANIES.split(','));
    say('starting the API');
    stack.api = stack.spawnChild('api', 'api/main.ts', {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: databaseUrl,
      ...stack.codec.env,
    });
    const apiUrl = `http://${config.API_HOST}:${config.API_PORT}`;
    await waitForHttp(`${apiUrl}/healthz`, API_READY_TIMEOUT_MS, () => stack.api?.child.exitCode !== null).catch((err: Error) => {
      throw new Error(`${err.message}; ${stack.api!.logFile} ends with:\n${tail(stack.api!.logFile)}`);
    });

    const file = writeStackFile(config.DATA_DIR, {
      temporal: temporalAddress,
      namespace: config.TEMPORAL_NAMESPACE,
      task_queue: config.TEMPORAL_TASK_QUEUE,
      ui,
      database: databaseUrl,
      settlement_gateway: gatewayUrl,
      settlement_callback: callbackUrl,
      api: apiUrl,
      api_key,
      codec_server: codecUrl,
      codec_server_token: stack.codec.token,
      metrics: {
        worker: `http://${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}/metrics`,
        api: `http://${config.API_HOST}:${config.API_METRICS_PORT}/metrics`,
      },
      pid: process.pid,
      started_at: new Date().toISOString(),
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      [
        `card payments platform is up (${seconds} s)`,
        `  Temporal     ${temporalAddress}  (namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE})`,
        `  Web UI       ${ui ?? '(served by your Temporal deployment)'}`,
        `  Postgres     ${redact(databaseUrl)}`,
        `  Settlement   ${gatewayUrl}${stack.simulator ? '  (payee-bank simulator)' : ''}`,
        `  Callbacks    ${callbackUrl}  (settlement confirmations, served by the worker)`,
        `  Codec        ${codecUrl}  (payload decryption for the Web UI; keys: ${stack.codec.key_source}; token in stack.json)`,
        `  API          ${apiUrl}  (gRPC, gRPC-Web, Connect; local key for ${config.API_LOCAL_COMPANIES} in stack.json)`,
        `  Metrics      http://${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}/metrics (worker), http://${config.API_HOST}:${config.API_METRICS_PORT}/metrics (API)`,
        `  Logs         ${logsDir}`,
        `  stack.json   ${file}`,
        '',
        'Try: npm run demo -- --payments 20      Ctrl-C stops everything.',
      ].join('\n'),
    );
  } catch (err) {
    say(`error: ${(err as Error).message}`);
    await stack.stop(1);
  }
}

main().catch((err: unknown) => {
  console.error(`[start] error: ${(err as Error).message}`);
  process.exit(1);
});
