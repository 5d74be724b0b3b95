// Which Temporal `npm start` runs and how: the dev server (default), the real server on the
// platform's Postgres (TEMPORAL_MODE=server or `--temporal server`), or none (TEMPORAL_ADDRESS).
// Binaries are found before anything starts, so a missing toolchain leaves nothing running.
import path from 'node:path';
import type { Config } from '../config.js';
import { startTemporalCluster, type RunningTemporalCluster, type TemporalProcessInfo } from './temporal-cluster.js';
import { resolveTemporalCli, type TemporalExecutable } from './temporal-cli.js';
import { resolveTemporalServerBinaries, type TemporalServerBinaries } from './temporal-server-binaries.js';
import {
  HISTORY_SHARDS_DEFAULT,
  SERVER_PORTS_PER_BASE,
  SERVER_PORT_MAX,
  planPorts,
  planTemporalProcesses,
  type TemporalDatabase,
} from './temporal-server-config.js';
import { freePort, freePortRange } from './ports.js';
import { startTemporalDevServer } from './temporal-server.js';

export type TemporalMode = 'dev' | 'server' | 'external';

/** The server's databases, next to the ledger's on the same Postgres. */
export const TEMPORAL_DATABASE = 'temporal';
export const TEMPORAL_VISIBILITY_DATABASE = 'temporal_visibility';

/** `--temporal dev|server` on the command line wins over TEMPORAL_MODE. */
export function temporalModeFromArgs(config: Config, argv: string[]): 'dev' | 'server' {
  const at = argv.indexOf('--temporal');
  if (at === -1) return config.TEMPORAL_MODE;
  const value = argv[at + 1];
  if (value !== 'dev' && value !== 'server') throw new Error(`--temporal must be \`dev\` or \`server\`, got ${value ?? 'nothing'}`);
  return value;
}

/** The connection settings of the Postgres a `postgres://` URL names, for the server's own tools. */
export function temporalDatabaseFromUrl(
  databaseUrl: string,
  database = TEMPORAL_DATABASE,
  visibility_database = TEMPORAL_VISIBILITY_DATABASE,
): TemporalDatabase {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    visibility_database,
  };
}

export interface StackTemporal {
  mode: TemporalMode;
  address: string;
  ui: string | null;
  processes(): TemporalProcessInfo[];
  stop(): Promise<void>;
}

export interface TemporalStartContext {
  /** Server mode's Postgres (unless TEMPORAL_DATABASE_URL): a role that may create databases. */
  database_url: string;
  codec_url: string;
  logs_dir: string;
  log: (msg: string) => void;
  on_fatal: (message: string) => void;
  /** A Temporal process was restarted: `processes()` changed. */
  on_restart: () => void;
}

export interface PreparedTemporal {
  mode: TemporalMode;
  /** Ports it will listen on: [port, what, the variable that moves it]. */
  ports: Array<[number, string, string]>;
  start(context: TemporalStartContext): Promise<StackTemporal | null>;
}

export async function prepareTemporal(config: Config, argv: string[], log: (msg: string) => void): Promise<PreparedTemporal> {
  const requested = temporalModeFromArgs(config, argv);
  if (config.TEMPORAL_ADDRESS) {
    if (requested === 'server') {
      throw new Error('server mode runs its own Temporal server: unset TEMPORAL_ADDRESS, or drop TEMPORAL_MODE=server / --temporal server');
    }
    return { mode: 'external', ports: [], start: async () => null };
  }
  const uiPort: [number, string, string] = [config.TEMPORAL_UI_PORT, 'Temporal Web UI', 'TEMPORAL_UI_PORT'];
  if (requested === 'dev') {
    const executable = await resolveTemporalCli({ allow_go_install: true, allow_sdk_download: true }, { log });
    return {
      mode: 'dev',
      ports: [[config.TEMPORAL_PORT, 'Temporal frontend', 'TEMPORAL_PORT'], uiPort],
      start: (context) => startDev(config, executable, context),
    };
  }
  const binaries = await resolveTemporalServerBinaries(true, { log });
  const plan = planTemporalProcesses(config.TEMPORAL_SERVICES, config.TEMPORAL_PORT, config.TEMPORAL_SERVER_PORT_BASE);
  return {
    mode: 'server',
    ports: [
      ...planPorts(plan).map((port): [number, string, string] =>
        port === config.TEMPORAL_PORT
          ? [port, 'Temporal frontend', 'TEMPORAL_PORT']
          : [port, 'Temporal server (service or membership)', 'TEMPORAL_SERVER_PORT_BASE'],
      ),
      uiPort,
    ],
    start: (context) => startServer(config, binaries, context),
  };
}

async function startDev(config: Config, executable: TemporalExecutable, context: TemporalStartContext): Promise<StackTemporal> {
  context.log(`starting the Temporal dev server on 127.0.0.1:${config.TEMPORAL_PORT}, Web UI on ${config.TEMPORAL_UI_PORT}`);
  const dev = await startTemporalDevServer({
    executable,
    port: config.TEMPORAL_PORT,
    ui_port: config.TEMPORAL_UI_PORT,
    db_file: path.join(config.DATA_DIR, 'temporal.db'),
    namespace: config.TEMPORAL_NAMESPACE,
    dir: context.logs_dir,
    log: context.log,
    ui_codec_endpoint: context.codec_url,
  });
  return {
    mode: 'dev',
    address: dev.address,
    ui: dev.ui,
    processes: () =>
      dev.process?.child.pid ? [{ service: 'dev-server', pid: dev.process.child.pid, grpc_port: config.TEMPORAL_PORT }] : [],
    stop: () => dev.stop(),
  };
}

async function startServer(config: Config, binaries: TemporalServerBinaries, context: TemporalStartContext): Promise<StackTemporal> {
  context.log(
    `starting the Temporal server (${config.TEMPORAL_SERVICES === 'split' ? 'frontend, matching, worker and 2 history processes' : 'one process'}, ` +
      `${config.TEMPORAL_HISTORY_SHARDS} history shards, databases ${TEMPORAL_DATABASE} and ${TEMPORAL_VISIBILITY_DATABASE}` +
      `${config.TEMPORAL_DATABASE_URL ? ' on TEMPORAL_DATABASE_URL' : ''}) on 127.0.0.1:${config.TEMPORAL_PORT}, ` +
      `Web UI on ${config.TEMPORAL_UI_PORT}`,
  );
  const cluster = await startTemporalCluster({
    binaries,
    services: config.TEMPORAL_SERVICES,
    history_shards: config.TEMPORAL_HISTORY_SHARDS,
    db: temporalDatabaseFromUrl(config.TEMPORAL_DATABASE_URL ?? context.database_url),
    port: config.TEMPORAL_PORT,
    port_base: config.TEMPORAL_SERVER_PORT_BASE,
    ui_port: config.TEMPORAL_UI_PORT,
    ui_codec_endpoint: context.codec_url,
    namespace: config.TEMPORAL_NAMESPACE,
    state_dir: path.join(config.DATA_DIR, 'temporal-server'),
    logs_dir: context.logs_dir,
    log: context.log,
    on_fatal: context.on_fatal,
    on_restart: context.on_restart,
  });
  return { mode: 'server', address: cluster.address, ui: cluster.ui, processes: cluster.processes, stop: cluster.stop };
}

/** The real server in one process with the platform's history shards, headless, on free ports,
 * on a Postgres the caller runs (the test harness, bench:overload), in databases of its own
 * (default: the platform's). */
export async function startHeadlessTemporalServer(options: {
  binaries: TemporalServerBinaries;
  database_url: string;
  databases?: { database: string; visibility_database: string };
  scratch: string;
  log: (msg: string) => void;
  on_fatal: (message: string) => void;
}): Promise<RunningTemporalCluster> {
  const names = options.databases ?? { database: TEMPORAL_DATABASE, visibility_database: TEMPORAL_VISIBILITY_DATABASE };
  return startTemporalCluster({
    binaries: options.binaries,
    services: 'single',
    history_shards: HISTORY_SHARDS_DEFAULT,
    db: temporalDatabaseFromUrl(options.database_url, names.database, names.visibility_database),
    port: await freePort(),
    port_base: await freePortRange(SERVER_PORTS_PER_BASE, 20_000, SERVER_PORT_MAX),
    ui_port: null,
    ui_codec_endpoint: null,
    namespace: 'default',
    state_dir: path.join(options.scratch, 'temporal-server'),
    logs_dir: options.scratch,
    log: options.log,
    on_fatal: options.on_fatal,
  });
}
