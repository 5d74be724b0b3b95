// Server mode's pure parts: the topology and its generated configs, where its binaries are looked
// for, and the dynamic config every Temporal reads.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { resolveTemporalServerBinaries, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../src/stack/temporal-server-binaries.js';
import { readDynamicConfig } from '../../src/stack/temporal-dynamic-config.js';
import { ENGINE_UPDATES_IN_FLIGHT_PER_WORKFLOW_MAX, TEMPORAL_DYNAMIC_CONFIG } from '../../src/engine-limits.js';
import { planPorts, planTemporalProcesses, serverConfig } from '../../src/stack/temporal-server-config.js';
import { prepareTemporal, temporalDatabaseFromUrl, temporalModeFromArgs } from '../../src/stack/temporal-mode.js';
import { loadConfig } from '../../src/config.js';

const db = { host: '127.0.0.1', port: 5432, user: 'u', password: 'p', database: 'temporal', visibility_database: 'temporal_visibility' };

describe('server mode topology', () => {
  test('split: two history processes, every port distinct, membership ports fit a smallint', () => {
    const plan = planTemporalProcesses('split', 7233, 7240);
    assert.deepEqual(
      plan.map((p) => p.name),
      ['history-1', 'history-2', 'matching', 'frontend', 'worker'],
    );
    const ports = planPorts(plan);
    assert.equal(new Set(ports).size, ports.length);
    assert.ok(ports.includes(7233));
    assert.throws(() => planTemporalProcesses('split', 7233, 32_760), /port_base in range/);
  });

  test('every process config names every service (the membership monitor tracks them), with its own ports', () => {
    const plan = planTemporalProcesses('split', 7233, 7240);
    const options = {
      services: 'split' as const,
      plan,
      history_shards: 16,
      db,
      frontend_address: '127.0.0.1:7233',
      dynamic_config_file: '/x.yaml',
    };
    const history2 = serverConfig(plan[1]!, options) as { services: Record<string, { rpc: { grpcPort: number } }> };
    const history1 = serverConfig(plan[0]!, options) as typeof history2;
    assert.deepEqual(Object.keys(history2.services).sort(), ['frontend', 'history', 'matching', 'worker']);
    assert.equal(history2.services.history!.rpc.grpcPort, plan[1]!.ports.history!.grpc);
    assert.equal(history1.services.history!.rpc.grpcPort, plan[0]!.ports.history!.grpc);
    assert.notEqual(history1.services.history!.rpc.grpcPort, history2.services.history!.rpc.grpcPort);
    assert.throws(() => serverConfig(plan[0]!, { ...options, history_shards: 0 }), /history_shards/);
  });
});

describe('server mode binaries', () => {
  test('env overrides win; else the per-user cache, one folder per program and version', async () => {
    const env = { PATH: '', HOME: '/home/u' };
    const cache = '/home/u/.cache/card-payments-platform';
    const cached = [
      path.join(cache, 'temporal-server', TEMPORAL_SERVER_VERSION, 'server', 'server'),
      path.join(cache, 'temporal-server', TEMPORAL_SERVER_VERSION, 'sql', 'sql'),
      path.join(cache, 'temporal-ui', TEMPORAL_UI_VERSION, 'server'),
    ];
    const deps = { env, isExecutable: (f: string) => cached.includes(f) || f === '/opt/ui', log: () => undefined };
    assert.deepEqual(await resolveTemporalServerBinaries(false, deps), { server: cached[0], sql_tool: cached[1], ui_server: cached[2] });
    const withOverride = { ...deps, env: { ...env, TEMPORAL_UI_SERVER_PATH: '/opt/ui' } };
    assert.equal((await resolveTemporalServerBinaries(false, withOverride)).ui_server, '/opt/ui');
    await assert.rejects(
      resolveTemporalServerBinaries(false, { ...deps, isExecutable: () => false }),
      /the Temporal server was not found \(go install not attempted\).*npm run temporal:install -- --server.*TEMPORAL_SERVER_PATH/,
    );
  });
});

describe('dynamic config', () => {
  test("the file server mode and docker-compose.yml use says what the dev server's flags say", () => {
    const file = readDynamicConfig();
    assert.deepEqual(file, Object.fromEntries(TEMPORAL_DYNAMIC_CONFIG.map(({ key, value }) => [key, value])));
    assert.equal(file['history.maxInFlightUpdates'], ENGINE_UPDATES_IN_FLIGHT_PER_WORKFLOW_MAX);
  });
});

describe('choosing the engine', () => {
  test('--temporal wins over TEMPORAL_MODE; anything else is refused', async () => {
    const config = loadConfig({ TEMPORAL_MODE: 'server' });
    assert.equal(temporalModeFromArgs(config, []), 'server');
    assert.equal(temporalModeFromArgs(config, ['--temporal', 'dev']), 'dev');
    assert.throws(() => temporalModeFromArgs(config, ['--temporal', 'prod']), /--temporal must be `dev` or `server`, got prod/);
    assert.throws(() => loadConfig({ TEMPORAL_MODE: 'prod' }), /TEMPORAL_MODE/);
    assert.throws(() => loadConfig({ TEMPORAL_SERVER_PORT_BASE: '40000' }), /TEMPORAL_SERVER_PORT_BASE/);
    await assert.rejects(
      prepareTemporal(loadConfig({ TEMPORAL_ADDRESS: 'elsewhere:7233' }), ['--temporal', 'server'], () => undefined),
      /server mode runs its own Temporal server: unset TEMPORAL_ADDRESS/,
    );
  });

  test("the server's databases: the Postgres of a URL, its password decoded", () => {
    assert.deepEqual(temporalDatabaseFromUrl('postgres://app:p%40ss@db.example:6432/payments'), {
      host: 'db.example',
      port: 6432,
      user: 'app',
      password: 'p@ss',
      database: 'temporal',
      visibility_database: 'temporal_visibility',
    });
  });
});
