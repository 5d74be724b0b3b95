// The real Temporal server's topology and its generated configuration: which processes run which
// services on which ports, and the config file each one reads (persistence and visibility on the
// platform's Postgres, history shards, membership, dynamic config). Pure: no I/O.
import assert from 'node:assert/strict';

export type TemporalServices = 'single' | 'split';
export type TemporalService = 'frontend' | 'history' | 'matching' | 'worker';

/** `numHistoryShards` for a new cluster; fixed at first start (the server keeps the first value). */
export const HISTORY_SHARDS_DEFAULT = 16;
export const HISTORY_SHARDS_MAX = 16_384;
/** Split mode runs this many history processes: shards move between them when one dies. */
export const SPLIT_HISTORY_PROCESSES = 2;
/** Closed payments stay in the namespace this long (the dev server keeps them until it is reset). */
export const NAMESPACE_RETENTION_DAYS = 30;
/** The one Temporal cluster's name: the server persists it, so it never changes. */
export const CLUSTER_NAME = 'active';
/** Database connections per process, at most: the default store does the work, visibility is
 * light. Split mode has five processes on the same Postgres (max_connections 200, shared with the
 * ledger), so each gets fewer. */
const CONNECTIONS_MAX: Record<TemporalServices, { store: number; visibility: number }> = {
  single: { store: 20, visibility: 5 },
  split: { store: 8, visibility: 2 },
};

export interface TemporalDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Workflow state (`temporal`) and visibility (`temporal_visibility`). */
  database: string;
  visibility_database: string;
}

/** One server process: the services it runs and the ports it owns. */
export interface TemporalProcessPlan {
  /** `server` (all services) or the service name, `history-1`/`history-2` for history. */
  name: string;
  services: TemporalService[];
  /** The process's own gRPC and membership ports, per service it runs. */
  ports: Partial<Record<TemporalService, { grpc: number; membership: number }>>;
}

/** Every port server mode uses besides the frontend's, from one base: 10 consecutive ports. */
export const SERVER_PORTS_PER_BASE = 10;
/** The server records membership ports in a `smallint` column (cluster_membership.rpc_port): a
 * port above this fails the process at start with "out of range for type smallint". */
export const SERVER_PORT_MAX = 32_767;

/**
 * The processes for a topology. The frontend's gRPC port is the platform's TEMPORAL_PORT; the
 * rest are consecutive from `port_base` (the same in both topologies, so a restart in the other
 * topology finds its membership entries on the same addresses).
 */
export function planTemporalProcesses(services: TemporalServices, frontend_port: number, port_base: number): TemporalProcessPlan[] {
  assert.ok(Number.isInteger(port_base) && port_base > 0 && port_base + SERVER_PORTS_PER_BASE - 1 <= SERVER_PORT_MAX, 'port_base in range');
  const at = (offset: number) => port_base + offset;
  const frontend = { grpc: frontend_port, membership: at(0) };
  const history = [
    { grpc: at(1), membership: at(2) },
    { grpc: at(3), membership: at(4) },
  ];
  const matching = { grpc: at(5), membership: at(6) };
  const worker = { grpc: at(7), membership: at(8) };
  if (services === 'single') {
    return [
      {
        name: 'server',
        services: ['frontend', 'history', 'matching', 'worker'],
        ports: { frontend, history: history[0]!, matching, worker },
      },
    ];
  }
  // Start order: history first (it owns the shards), then matching, the frontend, the worker
  // service (which calls the frontend).
  return [
    ...history.slice(0, SPLIT_HISTORY_PROCESSES).map((ports, i): TemporalProcessPlan => ({
      name: `history-${i + 1}`,
      services: ['history'],
      ports: { history: ports },
    })),
    { name: 'matching', services: ['matching'], ports: { matching } },
    { name: 'frontend', services: ['frontend'], ports: { frontend } },
    { name: 'worker', services: ['worker'], ports: { worker } },
  ];
}

/** Every port a plan listens on, for the start-up port checks. */
export function planPorts(plan: TemporalProcessPlan[]): number[] {
  return plan.flatMap((p) => Object.values(p.ports).flatMap((ports) => [ports.grpc, ports.membership]));
}

export interface ServerConfigOptions {
  services: TemporalServices;
  /** The whole topology (planTemporalProcesses). */
  plan: TemporalProcessPlan[];
  history_shards: number;
  db: TemporalDatabase;
  frontend_address: string;
  dynamic_config_file: string;
}

/** The server's config for one process (the `persistence`, `global`, `services`,
 * `clusterMetadata` and `dynamicConfigClient` sections of the server's YAML; JSON is YAML). */
export function serverConfig(process_plan: TemporalProcessPlan, options: ServerConfigOptions): Record<string, unknown> {
  assert.ok(Number.isInteger(options.history_shards) && options.history_shards >= 1, 'history_shards is a positive integer');
  assert.ok(options.history_shards <= HISTORY_SHARDS_MAX, `history_shards at most ${HISTORY_SHARDS_MAX}`);
  const connections = CONNECTIONS_MAX[options.services];
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${options.db.host}:${options.db.port}`,
      connectProtocol: 'tcp',
      user: options.db.user,
      password: options.db.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  // Every process lists every service: its membership monitor tracks the services named here.
  // Its own services carry its own ports; the others' are where the first process of each listens.
  const ports: Partial<Record<TemporalService, { grpc: number; membership: number }>> = {};
  for (const p of [...options.plan].reverse()) Object.assign(ports, p.ports);
  Object.assign(ports, process_plan.ports);
  const services = Object.fromEntries(
    Object.entries(ports).map(([service, ports]) => [
      service,
      { rpc: { grpcPort: ports.grpc, membershipPort: ports.membership, bindOnLocalHost: true } },
    ]),
  );
  return {
    log: { stdout: true, level: 'warn', format: 'json' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: options.history_shards,
      datastores: {
        default: datastore(options.db.database, connections.store),
        visibility: datastore(options.db.visibility_database, connections.visibility),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services,
    // The worker service and the history service's callers reach the frontend at this address.
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: CLUSTER_NAME,
      currentClusterName: CLUSTER_NAME,
      clusterInformation: {
        [CLUSTER_NAME]: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: options.frontend_address },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: options.dynamic_config_file, pollInterval: '10s' },
  };
}

export interface UiServerConfigOptions {
  frontend_address: string;
  port: number;
  namespace: string;
  codec_endpoint: string | null;
}

/** The Web UI server's config (ui-server's YAML). */
export function uiServerConfig(options: UiServerConfigOptions): Record<string, unknown> {
  return {
    temporalGrpcAddress: options.frontend_address,
    host: '127.0.0.1',
    port: options.port,
    enableUi: true,
    defaultNamespace: options.namespace,
    showTemporalSystemNamespace: false,
    notifyOnNewVersion: false,
    refreshInterval: '1m',
    cors: { cookieInsecure: true, allowOrigins: [`http://127.0.0.1:${options.port}`, `http://localhost:${options.port}`] },
    auth: { enabled: false },
    codec: { endpoint: options.codec_endpoint ?? '', passAccessToken: false, includeCredentials: false },
  };
}
