// docker-compose.yml, checked without Docker or docker-compose: parsed as YAML (anchors and merge
// keys resolved, `${VAR:-default}` interpolated with the defaults), its structure validated the
// way Compose would refuse a broken file, and its Temporal checked against server mode: the same
// server and UI versions, history shards, dynamic config file and namespace retention.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import { REPO_ROOT } from '../../src/config.js';
import { DYNAMIC_CONFIG_FILE } from '../../src/stack/temporal-dynamic-config.js';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../src/stack/temporal-server-binaries.js';
import { HISTORY_SHARDS_DEFAULT, NAMESPACE_RETENTION_DAYS } from '../../src/stack/temporal-server-config.js';

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');

/** `${VAR:-default}` / `${VAR-default}` become their default, `${VAR}` an empty string (Compose
 * reads the environment; the test reads none), `$$` a literal `$`. */
function interpolate(value: unknown): unknown {
  if (typeof value === 'string') {
    return value
      .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_, _name: string, fallback?: string) => fallback ?? '')
      .replaceAll('$$', '$');
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  return value;
}

const environment = z.union([
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(=.*)?$/)),
]);
const condition = z.enum(['service_started', 'service_healthy', 'service_completed_successfully']);
const service = z
  .object({
    image: z
      .string()
      .regex(/^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?$/)
      .optional(),
    build: z.union([z.string(), z.object({ context: z.string() }).passthrough()]).optional(),
    command: z.union([z.string(), z.array(z.string())]).optional(),
    entrypoint: z.union([z.string(), z.array(z.string())]).optional(),
    environment: environment.optional(),
    ports: z.array(z.string().regex(/^(\d+:)?\d+(\/(tcp|udp))?$/)).optional(),
    volumes: z.array(z.string().regex(/^[^:]+:\/[^:]*(:(ro|rw))?$/)).optional(),
    depends_on: z.union([z.array(z.string()), z.record(z.string(), z.object({ condition }).strict())]).optional(),
    healthcheck: z
      .object({
        test: z.union([z.string(), z.array(z.string()).min(2)]),
        interval: z.string().regex(/^\d+(ms|s|m|h)$/),
        timeout: z.string().regex(/^\d+(ms|s|m|h)$/),
        retries: z.number().int().positive(),
        start_period: z
          .string()
          .regex(/^\d+(ms|s|m|h)$/)
          .optional(),
      })
      .strict()
      .optional(),
    restart: z
      .string()
      .regex(/^(no|always|unless-stopped|on-failure(:\d+)?)$/)
      .optional(),
    deploy: z.object({ replicas: z.number().int().positive() }).strict().optional(),
  })
  .strict()
  .refine((s) => s.image !== undefined || s.build !== undefined, 'a service needs an image or a build');
const composeSchema = z
  .object({
    services: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), service),
    volumes: z.record(z.string(), z.null().or(z.object({}).passthrough())).optional(),
  })
  // Top-level `x-` keys are extension fields (anchors); a top-level `version:` is obsolete.
  .catchall(z.unknown())
  .superRefine((file, ctx) => {
    for (const key of Object.keys(file)) {
      if (!['services', 'volumes'].includes(key) && !key.startsWith('x-'))
        ctx.addIssue({ code: 'custom', message: `unknown top-level key ${key}` });
    }
  });
type Compose = z.infer<typeof composeSchema>;
type Service = Compose['services'][string];

function loadCompose(): Compose {
  const raw = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true, maxAliasCount: 100 });
  const parsed = composeSchema.safeParse(interpolate(raw));
  assert.ok(parsed.success, parsed.success ? '' : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  return parsed.data;
}

function env(s: Service): Record<string, string> {
  if (!s.environment) return {};
  if (Array.isArray(s.environment))
    return Object.fromEntries(s.environment.map((e) => [e.split('=')[0]!, e.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

describe('docker-compose.yml', () => {
  test('validates: known keys, images or builds, dependencies and named volumes that exist', () => {
    const compose = loadCompose();
    const names = Object.keys(compose.services);
    for (const [name, s] of Object.entries(compose.services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const dep of deps) {
        assert.ok(names.includes(dep), `${name} depends on ${dep}, which is not a service`);
        assert.notEqual(dep, name, `${name} depends on itself`);
      }
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) {
          assert.ok(existsSync(path.resolve(REPO_ROOT, source)), `${name} mounts ${source}, which does not exist`);
        } else {
          assert.ok(compose.volumes && source in compose.volumes, `${name} uses volume ${source}, not declared under volumes:`);
        }
      }
      const condition = Array.isArray(s.depends_on) ? {} : (s.depends_on ?? {});
      for (const [dep, { condition: c }] of Object.entries(condition)) {
        if (c === 'service_healthy')
          assert.ok(compose.services[dep]!.healthcheck, `${name} waits for ${dep} to be healthy; ${dep} has no healthcheck`);
      }
    }
    const hostPorts = Object.values(compose.services).flatMap((s) =>
      (s.ports ?? []).filter((p) => p.includes(':')).map((p) => p.split(':')[0]),
    );
    assert.equal(new Set(hostPorts).size, hostPorts.length, 'no host port published twice');
  });

  test('a broken file is refused (the check can fail)', () => {
    const broken = { services: { worker: { command: ['x'], depends_on: { postgres: { condition: 'service_up' } } } } };
    assert.equal(composeSchema.safeParse(broken).success, false);
  });

  test('defines the production services', () => {
    const names = Object.keys(loadCompose().services);
    for (const name of ['postgres', 'temporal', 'temporal-ui', 'worker', 'settlement-simulator', 'migrate']) {
      assert.ok(names.includes(name), `missing service "${name}"; got: ${names.join(', ')}`);
    }
  });

  test('worker is wired to Postgres and Temporal', () => {
    const worker = env(loadCompose().services.worker!);
    assert.match(worker.DATABASE_URL!, /^postgres:\/\/postgres:[^@\s]+@postgres:5432\/payments$/);
    assert.equal(worker.TEMPORAL_ADDRESS, 'temporal:7233');
  });

  test('its Temporal is server mode: versions, history shards, dynamic config, namespace retention', () => {
    const { services } = loadCompose();
    const semver = (v: string) => v.replace(/^v/, '');
    assert.equal(services.temporal!.image, `temporalio/server:${semver(TEMPORAL_SERVER_VERSION)}`);
    assert.equal(services['temporal-ui']!.image, `temporalio/ui:${semver(TEMPORAL_UI_VERSION)}`);
    for (const name of ['temporal-schema-setup', 'temporal-create-namespace']) {
      assert.ok(
        services[name]!.image!.startsWith(`temporalio/admin-tools:${semver(TEMPORAL_SERVER_VERSION)}-`),
        `${name} uses the server's release`,
      );
    }
    const temporal = env(services.temporal!);
    assert.equal(Number(temporal.NUM_HISTORY_SHARDS), HISTORY_SHARDS_DEFAULT);
    const mount = (services.temporal!.volumes ?? [])
      .map((v) => v.split(':'))
      .find(([, target]) => target === temporal.DYNAMIC_CONFIG_FILE_PATH);
    assert.ok(mount, 'the dynamic config file is mounted where DYNAMIC_CONFIG_FILE_PATH points');
    assert.equal(path.resolve(REPO_ROOT, mount[0]!), DYNAMIC_CONFIG_FILE, "the mounted file is server mode's");
    const createNamespace = [services['temporal-create-namespace']!.command].flat().join('\n');
    assert.match(createNamespace, new RegExp(`namespace create --namespace default --retention ${NAMESPACE_RETENTION_DAYS}d`));
  });
});
