// The API's Prometheus metrics (prom-client), served on API_METRICS_PORT: every call by method and
// code, and what the card network sees of an authorization (latency and outcome, stand-ins
// included).
import http from 'node:http';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionControl, Refusal } from '../admission.js';

/** Milliseconds: authorization answers are due within a few seconds. */
const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 2_000, 5_000];

export interface ApiMetrics {
  registry: Registry;
  interceptor: Interceptor;
  authorization(outcome: { approved: boolean; reason: string; stand_in: boolean; latency_ms: number }): void;
  /** A call the front door refused: an authorization answered by the stand-in, or any other call
   * answered RESOURCE_EXHAUSTED (src/api/admission.ts). */
  refused(kind: 'authorization' | 'call', reason: Refusal): void;
  /** Exposes the admission control's in-flight and waiting counts as gauges. */
  observeAdmission(control: AdmissionControl): void;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'api_process_' });
  const requests = new Counter({
    name: 'api_requests_total',
    help: 'API calls by method and code',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'api_request_duration_ms',
    help: 'API call duration by method',
    labelNames: ['method'],
    buckets: LATENCY_BUCKETS_MS,
    registers: [registry],
  });
  const authLatency = new Histogram({
    name: 'card_authorization_latency_ms',
    help: 'Authorize calls as the network sees them: time to answer, by outcome',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS_MS,
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'card_authorization_answers_total',
    help: 'Authorization answers given to the network, by outcome and reason',
    labelNames: ['outcome', 'reason'],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'api_admission_refusals_total',
    help: 'Calls refused at the door: authorizations answered by the stand-in (nothing reached Temporal), other calls RESOURCE_EXHAUSTED',
    labelNames: ['kind', 'reason'],
    registers: [registry],
  });
  return {
    registry,
    refused(kind, reason) {
      refusals.inc({ kind, reason });
    },
    observeAdmission(control) {
      new Gauge({
        name: 'api_temporal_calls_in_flight',
        help: 'Calls this API process has in flight into Temporal',
        registers: [registry],
        collect() {
          this.set(control.in_flight);
        },
      });
      new Gauge({
        name: 'api_admission_bound',
        help: 'The adaptive bound in force on calls into Temporal (src/api/admission.ts)',
        registers: [registry],
        collect() {
          this.set(control.bound);
        },
      });
      new Gauge({
        name: 'api_authorizations_waiting',
        help: 'Authorizations waiting for an admission slot',
        registers: [registry],
        collect() {
          this.set(control.waiting);
        },
      });
    },
    interceptor: (next) => async (req) => {
      const started_ms = performance.now();
      let code = 'ok';
      try {
        return await next(req);
      } catch (err) {
        code = Code[err instanceof ConnectError ? err.code : Code.Unknown]?.toLowerCase() ?? 'unknown';
        throw err;
      } finally {
        requests.inc({ method: req.method.name, code });
        duration.observe({ method: req.method.name }, performance.now() - started_ms);
      }
    },
    authorization({ approved, reason, stand_in, latency_ms }) {
      const outcome = stand_in ? (approved ? 'stand_in_approved' : 'stand_in_declined') : approved ? 'approved' : 'declined';
      authLatency.observe({ outcome }, latency_ms);
      decisions.inc({ outcome, reason: approved ? 'none' : reason });
    },
  };
}

/** Serves GET /metrics from a registry. */
export async function serveMetrics(
  registry: Registry,
  listen: { host: string; port: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return { url: `http://${listen.host}:${port}/metrics`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
