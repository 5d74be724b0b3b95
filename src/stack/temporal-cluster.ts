// Runs the real Temporal server (server mode): its databases on the platform's Postgres, one
// process with every service or each service in its own process (two for history), the `default`
// namespace and the platform's search attributes, and the Web UI server pointed at the codec
// server. Supervises the server processes: one that dies is restarted (its shards move to the
// other history process meanwhile), within a restart budget.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { assertPortFree } from './ports.js';
import { RestartBudget, spawnManaged, stopLeftover, tail, type ManagedProcess } from './processes.js';
import { registerSearchAttributes } from './search-attributes.js';
import { DYNAMIC_CONFIG_FILE } from './temporal-dynamic-config.js';
import { assertHistoryShards, ensureTemporalSchemas, persistedHistoryShards } from './temporal-schema.js';
import type { TemporalServerBinaries } from './temporal-server-binaries.js';
import {
  NAMESPACE_RETENTION_DAYS,
  planPorts,
  planTemporalProcesses,
  serverConfig,
  uiServerConfig,
  type TemporalDatabase,
  type TemporalProcessPlan,
  type TemporalServices,
} from './temporal-server-config.js';
import { waitForFrontend } from './temporal-server.js';

/** The first start creates the cluster's tables and joins membership: tens of seconds on a busy
 * two-core machine. */
const READY_TIMEOUT_MS = 180_000;
const NAMESPACE_READY_TIMEOUT_MS = 60_000;
const UI_READY_TIMEOUT_MS = 60_000;
/** A server process drains its shards and task queues on SIGTERM. */
const STOP_GRACE_MS = 20_000;
const RESTARTS_MAX = 5;
const RESTART_WINDOW_MS = 60_000;

export interface TemporalClusterOptions {
  binaries: TemporalServerBinaries;
  services: TemporalServices;
  history_shards: number;
  db: TemporalDatabase;
  /** The frontend's gRPC port; the other server ports are consecutive from port_base. */
  port: number;
  port_base: number;
  /** null: no Web UI. */
  ui_port: number | null;
  ui_codec_endpoint: string | null;
  namespace: string;
  /** Generated configs (`<state_dir>/<process>/server.yaml`). */
  state_dir: string;
  /** Logs and pid files. */
  logs_dir: string;
  log: (msg: string) => void;
  /** Called when a process keeps dying (restart budget spent): the caller stops everything. */
  on_fatal: (message: string) => void;
  /** Called after a process was restarted (its pid changed). */
  on_restart?: () => void;
}

/** What stack.json lists about each Temporal process. */
export interface TemporalProcessInfo {
  service: string;
  pid: number;
  grpc_port: number | null;
}

export interface RunningTemporalCluster {
  address: string;
  ui: string | null;
  processes(): TemporalProcessInfo[];
  /** The running process of a plan entry (tests kill them). */
  process(name: string): ManagedProcess | undefined;
  stop(): Promise<void>;
}

/** The platform's `default` namespace: the server creates none. Waits until the frontend serves
 * requests in it (a new namespace reaches the services' caches within seconds). */
export async function ensureNamespace(connection: Connection, namespace: string, timeout_ms: number): Promise<void> {
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(NAMESPACE_RETENTION_DAYS * 24 * 3_600_000),
    });
  } catch (err) {
    if ((err as { code?: number }).code !== grpcStatus.ALREADY_EXISTS) throw err;
  }
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace, query: '' });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== grpcStatus.NOT_FOUND || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function waitForClusterMetadata(db: TemporalDatabase, first: ManagedProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while ((await persistedHistoryShards(db)) === null) {
    if (first.child.exitCode !== null) {
      throw new Error(`Temporal ${first.name} exited during start; ${first.logFile} ends with:\n${tail(first.logFile)}`);
    }
    if (Date.now() > deadline) throw new Error(`Temporal ${first.name} did not initialise the cluster within ${READY_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitForUi(url: string, proc: ManagedProcess): Promise<void> {
  const deadline = Date.now() + UI_READY_TIMEOUT_MS;
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new Error(`the Temporal Web UI server exited during start; ${proc.logFile} ends with:\n${tail(proc.logFile)}`);
    }
    const ok = await fetch(`${url}/api/v1/settings`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the Temporal Web UI at ${url} did not answer within ${UI_READY_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startTemporalCluster(options: TemporalClusterOptions): Promise<RunningTemporalCluster> {
  const address = `127.0.0.1:${options.port}`;
  const plan = planTemporalProcesses(options.services, options.port, options.port_base);
  const ui = options.ui_port === null ? null : `http://127.0.0.1:${options.ui_port}`;
  for (const p of plan) {
    await stopLeftover(path.join(options.logs_dir, `temporal-${p.name}.pid`), options.binaries.server, options.log);
  }
  await stopLeftover(path.join(options.logs_dir, 'temporal-ui.pid'), options.binaries.ui_server, options.log);
  for (const port of planPorts(plan)) {
    await assertPortFree(port, 'Temporal server', port === options.port ? 'TEMPORAL_PORT' : 'TEMPORAL_SERVER_PORT_BASE');
  }
  if (options.ui_port !== null) await assertPortFree(options.ui_port, 'Temporal Web UI', 'TEMPORAL_UI_PORT');

  await ensureTemporalSchemas(options.binaries.sql_tool, options.db, options.log);
  await assertHistoryShards(options.db, options.history_shards);

  const running = new Map<string, ManagedProcess>();
  let uiProcess: ManagedProcess | null = null;
  let stopping = false;
  // Until the cluster is up, a process that exits is a start-up failure to report, not to retry.
  let started = false;
  const budget = new RestartBudget(RESTARTS_MAX, RESTART_WINDOW_MS);

  const spawnServer = (p: TemporalProcessPlan): ManagedProcess => {
    const child = spawnManaged({
      name: `temporal-${p.name}`,
      command: options.binaries.server,
      args: [
        '--root',
        options.state_dir,
        '--config',
        p.name,
        '--env',
        'server',
        '--allow-no-auth',
        'start',
        ...p.services.flatMap((s) => ['--service', s]),
      ],
      logFile: path.join(options.logs_dir, `temporal-${p.name}.log`),
      pidFile: path.join(options.logs_dir, `temporal-${p.name}.pid`),
      cwd: options.state_dir,
    });
    running.set(p.name, child);
    void child.exited.then((code) => {
      if (stopping || !started || running.get(p.name) !== child) return;
      if (!budget.take(p.name)) {
        options.on_fatal(
          `Temporal ${p.name} exited (code ${code}) ${RESTARTS_MAX} times within ${RESTART_WINDOW_MS / 1000} s; its log ends with:\n${tail(child.logFile)}`,
        );
        return;
      }
      options.log(`Temporal ${p.name} exited (code ${code ?? child.child.signalCode}); restarting it (see ${child.logFile})`);
      spawnServer(p);
      options.on_restart?.();
    });
    return child;
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    await uiProcess?.stop('SIGTERM', 5_000);
    // The frontend first (no new requests), history last (it owns the shards' state).
    const order = ['frontend', 'worker', 'matching', 'server', ...plan.map((p) => p.name).filter((n) => n.startsWith('history'))];
    for (const name of order) await running.get(name)?.stop('SIGTERM', STOP_GRACE_MS);
  };

  try {
    mkdirSync(options.logs_dir, { recursive: true });
    for (const p of plan) {
      const dir = path.join(options.state_dir, p.name);
      mkdirSync(dir, { recursive: true });
      const config = serverConfig(p, {
        services: options.services,
        plan,
        history_shards: options.history_shards,
        db: options.db,
        frontend_address: address,
        dynamic_config_file: DYNAMIC_CONFIG_FILE,
      });
      // Holds the database password: private to its owner, like stack.json.
      writeFileSync(path.join(dir, 'server.yaml'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      const child = spawnServer(p);
      // Every process writes the cluster's metadata row if it is missing: on a new cluster they
      // would race for it (a duplicate key kills the losers), so the first one goes alone.
      if (p === plan[0] && plan.length > 1) await waitForClusterMetadata(options.db, child);
    }
    const frontend = plan.find((p) => p.services.includes('frontend'))!;
    await waitForFrontend(address, running.get(frontend.name)!, `the Temporal server (${frontend.name})`, READY_TIMEOUT_MS);
    const connection = await Connection.connect({ address, connectTimeout: 5_000 });
    try {
      await ensureNamespace(connection, options.namespace, NAMESPACE_READY_TIMEOUT_MS);
      await registerSearchAttributes(connection, options.namespace);
    } finally {
      await connection.close();
    }

    for (const [name, child] of running) {
      if (child.child.exitCode !== null || child.child.signalCode !== null) {
        throw new Error(`Temporal ${name} exited during start; ${child.logFile} ends with:\n${tail(child.logFile)}`);
      }
    }

    if (options.ui_port !== null) {
      const dir = path.join(options.state_dir, 'ui');
      mkdirSync(dir, { recursive: true });
      const config = uiServerConfig({
        frontend_address: address,
        port: options.ui_port,
        namespace: options.namespace,
        codec_endpoint: options.ui_codec_endpoint,
      });
      writeFileSync(path.join(dir, 'ui.yaml'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      uiProcess = spawnManaged({
        name: 'temporal-ui',
        command: options.binaries.ui_server,
        args: ['--root', options.state_dir, '--config', 'ui', '--env', 'ui', 'start'],
        logFile: path.join(options.logs_dir, 'temporal-ui.log'),
        pidFile: path.join(options.logs_dir, 'temporal-ui.pid'),
        cwd: options.state_dir,
      });
      await waitForUi(ui!, uiProcess);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  started = true;

  return {
    address,
    ui,
    processes: () => [
      ...plan.map((p) => ({
        service: p.name === 'server' ? p.services.join(',') : p.name,
        pid: running.get(p.name)?.child.pid ?? -1,
        grpc_port: Object.values(p.ports)[0]!.grpc,
      })),
      ...(uiProcess ? [{ service: 'ui', pid: uiProcess.child.pid ?? -1, grpc_port: null }] : []),
    ],
    process: (name) => running.get(name),
    stop,
  };
}
