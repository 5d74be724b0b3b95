// The platform a chaos run controls, all of it its own: an embedded Postgres and a Temporal dev
// server (SQLite file) in a scratch folder on free ports, the payee-bank simulator in this process
// (callbacks, fault rates drawn from the seed), worker processes and the API process as children
// it can kill -9 and start again; the Temporal dev server and Postgres are crashed the same way.
// A small forwarder in front of the workers' callback receivers plays the load balancer a bank's
// callbacks would go through. A child that exits when no fault asked for it is started again too,
// and counted.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { createApiKeyStore } from '../api/keys.js';
import { generateKeyEntry } from '../codec/keys.js';
import { REPO_ROOT } from '../config.js';
import { createPool, type Pool } from '../ledger/db.js';
import { migrate } from '../ledger/migrate.js';
import { CALLBACK_PATH } from '../settlement/callback-receiver.js';
import {
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  generateWebhookSecret,
  parseWebhookSecret,
} from '../settlement/webhook-signature.js';
import { startSettlementSimulator, type SettlementSimulator } from '../settlement/simulator.js';
import { distinctFreePorts } from '../stack/ports.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../stack/postgres.js';
import { spawnManaged, tail, type ManagedProcess } from '../stack/processes.js';
import { waitForWorker } from '../stack/search-attributes.js';
import { resolveTemporalCli, type TemporalExecutable } from '../stack/temporal-cli.js';
import { startTemporalDevServer, type RunningDevServer } from '../stack/temporal-server.js';
import { CARD_WORKFLOWS_PATH, WORKFLOWS_PATH, bundleWorkflows } from '../workers/worker.js';
import type { DatabaseCrashMode, GatewayFaultRates } from './schedule.js';

export const TASK_QUEUE = 'payments';
const NAMESPACE = 'default';
/** The workers' gateway client gives up on a bank answer after this long (held requests last longer). */
const GATEWAY_TIMEOUT_MS = 1_500;
/** A child that exits unasked is started again after this long. */
const UNEXPECTED_EXIT_RESTART_MS = 1_000;
const READY_TIMEOUT_MS = 120_000;
/** Application names of the platform's own database connections (src/workers/main.ts, src/api/main.ts). */
export const APP_CONNECTIONS = ['payments-worker', 'api'];

export interface ChaosStackOptions {
  scratch: string;
  workers: number;
  gateway: GatewayFaultRates;
  /** The bank simulator's draws (seeded). */
  random: () => number;
  log: (msg: string) => void;
}

interface Child {
  name: string;
  script: string;
  env: NodeJS.ProcessEnv;
  proc: ManagedProcess | null;
  /** Set while a fault holds it down (its exit is expected). */
  down: boolean;
  starts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long terminated database connections get to disappear before they count as not dropped. */
const TERMINATED_WAIT_MS = 5_000;

/** Signals a process's whole group; true only when the process was alive and the signal went out. */
function killGroup(proc: ManagedProcess, signal: NodeJS.Signals): boolean {
  const pid = proc.child.pid;
  if (pid === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeout_ms: number): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export class ChaosStack {
  postgres: RunningPostgres | null = null;
  temporal: RunningDevServer | null = null;
  simulator: SettlementSimulator | null = null;
  databaseUrl = '';
  temporalAddress = '';
  apiUrl = '';
  apiKey = '';
  /** Children that exited without a fault asking for it. */
  unexpectedExits: string[] = [];
  private executable: TemporalExecutable | null = null;
  private ports = { postgres: 0, temporal: 0, api: 0, api_metrics: 0, callbacks: [] as number[], metrics: [] as number[] };
  private workers: Child[] = [];
  private api: Child | null = null;
  private forwarder: http.Server | null = null;
  private stopping = false;
  private pool: Pool | null = null;
  readonly logsDir: string;

  constructor(readonly options: ChaosStackOptions) {
    this.logsDir = path.join(options.scratch, 'logs');
  }

  async start(): Promise<void> {
    const { scratch, log } = this.options;
    const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: false }, { log });
    this.executable = executable;
    // One draw of distinct ports for everything: drawn one group at a time, a port released by one
    // group could come back in the next (a worker then got the same callback and metrics port and
    // could never start: it exited at once, again and again).
    const ports = await distinctFreePorts(4 + 2 * this.options.workers);
    const take = (n: number) => ports.splice(0, n);
    const [pgPort, temporalPort, apiPort, apiMetricsPort] = take(4);
    this.ports = {
      postgres: pgPort!,
      temporal: temporalPort!,
      api: apiPort!,
      api_metrics: apiMetricsPort!,
      callbacks: take(this.options.workers),
      metrics: take(this.options.workers),
    };
    log(`starting Postgres (127.0.0.1:${pgPort}), Temporal (127.0.0.1:${temporalPort}, SQLite) and bundling the workflows in ${scratch}`);
    const bundlePath = path.join(scratch, 'workflow-bundle.js');
    const cardBundlePath = path.join(scratch, 'card-workflow-bundle.js');
    const [postgres, temporal, bundle, cardBundle] = await Promise.all([
      this.startPostgres(),
      this.startTemporal(),
      bundleWorkflows(WORKFLOWS_PATH),
      bundleWorkflows(CARD_WORKFLOWS_PATH),
    ]);
    this.postgres = postgres;
    this.temporal = temporal;
    writeFileSync(bundlePath, bundle);
    writeFileSync(cardBundlePath, cardBundle);
    this.databaseUrl = postgres.url;
    this.temporalAddress = temporal.address;
    await migrate(this.databaseUrl);
    this.pool = createPool(this.databaseUrl, { connections_max: 4, application_name: 'chaos-checker' });

    // Callbacks from the bank reach whichever worker answers (a load balancer's job).
    this.forwarder = http.createServer((req, res) => void this.forward(req, res));
    await new Promise<void>((resolve) => this.forwarder!.listen(0, '127.0.0.1', () => resolve()));
    const forwarderPort = (this.forwarder.address() as { port: number }).port;
    const g = this.options.gateway;
    const callbackSecret = generateWebhookSecret();
    this.simulator = await startSettlementSimulator({
      host: '127.0.0.1',
      port: 0,
      transient_failure_rate: g.transient_failure_rate,
      reply_lost_rate: g.reply_lost_rate,
      latency_ms: 0,
      random: this.options.random,
      callback_url: `http://127.0.0.1:${forwarderPort}${CALLBACK_PATH}`,
      // The bank signs its callbacks; the workers verify with the same secret (`common` below).
      callback_secret: parseWebhookSecret(callbackSecret, 'chaos callback secret'),
      callback_delay_ms: 200,
      duplicate_callback_rate: g.duplicate_callback_rate,
      late_callback_rate: g.late_callback_rate,
      late_callback_delay_ms: g.late_callback_delay_ms,
      request_timeout_rate: g.request_timeout_rate,
      request_hold_ms: g.request_hold_ms,
    });

    const common: NodeJS.ProcessEnv = {
      ...process.env,
      DATA_DIR: scratch,
      DATABASE_URL: this.databaseUrl,
      TEMPORAL_ADDRESS: this.temporalAddress,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      // One key ring for the run's workers and API (src/codec/), never a committed one.
      PAYLOAD_CODEC_KEYS: process.env.PAYLOAD_CODEC_KEYS || generateKeyEntry('chaos'),
      PAYLOAD_CODEC_KEYS_FILE: '',
      SETTLEMENT_CALLBACK_SECRET: callbackSecret,
      SETTLEMENT_CALLBACK_SECRET_FILE: '',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
    };
    this.workers = Array.from({ length: this.options.workers }, (_, i) => ({
      name: `worker-${i}`,
      script: 'workers/main.ts',
      env: {
        ...common,
        SETTLEMENT_GATEWAY_URL: this.simulator!.url,
        SETTLEMENT_GATEWAY_TIMEOUT_MS: String(GATEWAY_TIMEOUT_MS),
        SETTLEMENT_CALLBACK_HOST: '127.0.0.1',
        SETTLEMENT_CALLBACK_PORT: String(this.ports.callbacks[i]),
        WORKER_METRICS_PORT: String(this.ports.metrics[i]),
        WORKFLOW_BUNDLE_PATH: bundlePath,
        CARD_WORKFLOW_BUNDLE_PATH: cardBundlePath,
        WORKER_SHUTDOWN_GRACE_MS: '2000',
      },
      proc: null,
      down: false,
      starts: 0,
    }));
    this.api = {
      name: 'api',
      script: 'api/main.ts',
      env: { ...common, API_HOST: '127.0.0.1', API_PORT: String(this.ports.api), API_METRICS_PORT: String(this.ports.api_metrics) },
      proc: null,
      down: false,
      starts: 0,
    };
    this.apiUrl = `http://127.0.0.1:${this.ports.api}`;

    log(`starting ${this.workers.length} workers and the API`);
    for (const w of this.workers) this.spawn(w);
    const connection = await Connection.connect({ address: this.temporalAddress });
    try {
      await waitForWorker(connection, NAMESPACE, TASK_QUEUE, READY_TIMEOUT_MS, () =>
        this.workers.every((w) => w.proc?.child.exitCode !== null),
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${this.workers[0]!.proc!.logFile} ends with:\n${tail(this.workers[0]!.proc!.logFile)}`);
    } finally {
      await connection.close();
    }
    for (let i = 0; i < this.workers.length; i++) await this.waitForWorkerReceiver(i);
    this.spawn(this.api);
    await this.waitForApi();
  }

  /** Opens an API key for these companies (stored hashed by the API's key store). */
  async createApiKey(company_ids: string[]): Promise<string> {
    const { api_key } = await createApiKeyStore(this.pool!).create({ name: 'chaos', company_ids });
    this.apiKey = api_key;
    return api_key;
  }

  /** The checker's own connection pool (reads the ledger after the run). */
  get checkerPool(): Pool {
    return this.pool!;
  }

  private startPostgres(): Promise<RunningPostgres> {
    return startEmbeddedPostgres({ dir: path.join(this.options.scratch, 'postgres'), port: this.ports.postgres, log: this.options.log });
  }

  private startTemporal(): Promise<RunningDevServer> {
    return startTemporalDevServer({
      executable: this.executable!,
      port: this.ports.temporal,
      ui_port: null,
      db_file: path.join(this.options.scratch, 'temporal.db'),
      namespace: NAMESPACE,
      dir: this.options.scratch,
      log: this.options.log,
    });
  }

  private spawn(child: Child): void {
    const proc = spawnManaged({
      name: child.name,
      command: process.execPath,
      args: ['--import', 'tsx', path.join(REPO_ROOT, 'src', ...child.script.split('/'))],
      logFile: path.join(this.options.scratch, `${child.name}.log`),
      cwd: REPO_ROOT,
      env: child.env,
    });
    child.proc = proc;
    child.starts += 1;
    void proc.exited.then(async (code) => {
      if (this.stopping || child.down || child.proc !== proc) return;
      this.unexpectedExits.push(`${child.name} exited (code ${code}, signal ${proc.child.signalCode}): ${tail(proc.logFile, 3)}`);
      this.options.log(`${child.name} exited unasked (code ${code}); starting it again (see ${proc.logFile})`);
      await sleep(UNEXPECTED_EXIT_RESTART_MS);
      if (!this.stopping && !child.down && child.proc === proc) this.spawn(child);
    });
  }

  private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const start = Math.floor(Math.random() * this.workers.length);
    for (let k = 0; k < this.workers.length; k++) {
      const port = this.ports.callbacks[(start + k) % this.workers.length];
      try {
        const answer = await fetch(`http://127.0.0.1:${port}${req.url ?? CALLBACK_PATH}`, {
          method: req.method ?? 'POST',
          // The bank's signature headers pass through, as through a load balancer.
          headers: {
            'content-type': req.headers['content-type'] ?? 'application/json',
            ...Object.fromEntries(
              [WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER].flatMap((name) => {
                const value = req.headers[name];
                return typeof value === 'string' ? [[name, value]] : [];
              }),
            ),
          },
          body,
          signal: AbortSignal.timeout(4_000),
        });
        const text = await answer.text();
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
        res.end(text);
        return;
      } catch {
        // this worker is down: try the next one
      }
    }
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"error":"no settlement callback receiver is up"}');
  }

  private async waitForWorkerReceiver(i: number): Promise<void> {
    const w = this.workers[i]!;
    await waitFor(
      `${w.name}'s callback receiver`,
      async () => {
        if (w.proc?.child.exitCode !== null) throw new Error(`${w.name} exited during start: ${tail(w.proc!.logFile)}`);
        await fetch(`http://127.0.0.1:${this.ports.callbacks[i]}/`);
        return true;
      },
      READY_TIMEOUT_MS,
    );
  }

  private async waitForApi(): Promise<void> {
    await waitFor('the API', async () => (await fetch(`${this.apiUrl}/healthz`)).ok, READY_TIMEOUT_MS);
  }

  // ---- faults ----
  // Each returns whether it was played: a kill only when a live process was signalled, a drop
  // only as connections actually terminated. A fault that found nothing to strike is not played.

  /** SIGKILL of a worker process (its whole process group), started again after down_ms. */
  async killWorker(i: number, down_ms: number): Promise<boolean> {
    return this.killChild(this.workers[i % this.workers.length]!, down_ms);
  }

  /** SIGKILL of the API process, started again after down_ms; resolves once it answers. */
  async killApi(down_ms: number): Promise<boolean> {
    const played = await this.killChild(this.api!, down_ms);
    await this.waitForApi();
    return played;
  }

  private async killChild(child: Child, down_ms: number): Promise<boolean> {
    child.down = true;
    let played = false;
    try {
      const proc = child.proc;
      if (proc) {
        played = killGroup(proc, 'SIGKILL');
        await proc.exited;
      }
      await sleep(down_ms);
    } finally {
      child.down = false;
    }
    this.spawn(child);
    return played;
  }

  /** SIGKILL of the Temporal dev server (a crash: no shutdown of its own), started again after
   * down_ms on the same SQLite file and port. */
  async killTemporal(down_ms: number): Promise<boolean> {
    const proc = this.temporal!.process;
    const played = proc !== null && killGroup(proc, 'SIGKILL');
    if (proc) await proc.exited;
    await this.temporal!.stop().catch(() => undefined); // whatever it holds besides the process
    await sleep(down_ms);
    this.temporal = await this.startTemporal();
    return played;
  }

  /** Crashes Postgres — SIGKILL of the postmaster's process group (every backend dies with it), or
   * an immediate shutdown (SIGQUIT: no checkpoint) — and starts it again on the same data folder
   * and port after down_ms. Either way the next start recovers from the WAL. */
  async crashPostgres(down_ms: number, mode: DatabaseCrashMode): Promise<boolean> {
    const proc = this.postgres!.process;
    let played: boolean;
    if (mode === 'sigkill') {
      played = killGroup(proc, 'SIGKILL');
      await proc.exited;
    } else {
      played = proc.child.exitCode === null && proc.child.signalCode === null;
      await proc.stop('SIGQUIT', 30_000);
    }
    await sleep(down_ms);
    this.postgres = await this.startPostgres();
    return played;
  }

  /** Terminates every database connection of the workers and the API (pg_terminate_backend) and
   * counts those that are then gone. */
  async dropConnections(): Promise<number> {
    // In the select list, so that only the rows the WHERE keeps are terminated.
    const { rows } = await this.pool!.query<{ pid: number; signalled: boolean }>(
      `SELECT pid, pg_terminate_backend(pid) AS signalled FROM pg_stat_activity
        WHERE application_name = ANY($1) AND pid <> pg_backend_pid()`,
      [APP_CONNECTIONS],
    );
    const signalled = rows.filter((r) => r.signalled).map((r) => r.pid);
    if (signalled.length === 0) return 0;
    let remaining = signalled;
    const deadline = Date.now() + TERMINATED_WAIT_MS;
    while (remaining.length > 0 && Date.now() < deadline) {
      await sleep(50);
      const { rows: alive } = await this.pool!.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])', [
        remaining,
      ]);
      remaining = alive.map((r) => r.pid);
    }
    return signalled.length - remaining.length;
  }

  /** The long-running processes of the platform and their pids now (for memory sampling). */
  processes(): Array<{ name: string; pid: number }> {
    const out: Array<{ name: string; pid: number }> = [];
    const add = (name: string, proc: ManagedProcess | null | undefined) => {
      if (proc?.child.pid !== undefined && proc.child.exitCode === null) out.push({ name, pid: proc.child.pid });
    };
    for (const w of this.workers) add(w.name, w.proc);
    add('api', this.api?.proc);
    add('temporal', this.temporal?.process);
    add('postgres', this.postgres?.process);
    return out;
  }

  /** Every log line of the API processes matching `needle` (internal errors are logged there). */
  apiLogFile(): string {
    return path.join(this.options.scratch, 'api.log');
  }

  /** The log files of the API and the worker processes (a restarted process appends to its own). */
  platformLogFiles(): string[] {
    return [this.apiLogFile(), ...this.workers.map((w) => path.join(this.options.scratch, `${w.name}.log`))];
  }

  starts(): Record<string, number> {
    return Object.fromEntries([...this.workers, ...(this.api ? [this.api] : [])].map((c) => [c.name, c.starts]));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const children = [this.api, ...this.workers].filter((c): c is Child => c !== null);
    await Promise.all(children.map((c) => c.proc?.stop('SIGTERM', 5_000)));
    await new Promise<void>((resolve) => (this.forwarder ? this.forwarder.close(() => resolve()) : resolve()));
    await this.simulator?.close();
    await this.pool?.end().catch(() => undefined);
    await this.temporal?.stop().catch(() => undefined);
    await this.postgres?.stop().catch(() => undefined);
  }
}
