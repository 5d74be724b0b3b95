// OpenTelemetry traces: one trace from the API call through the Temporal client, the workflow
// and its activities to the ledger's database transactions. Spans go to an OTLP collector when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard variable), else nowhere; tests pass their own
// span processor to read them.
import { createRequire } from 'node:module';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkerOptions } from '@temporalio/worker';

const require = createRequire(import.meta.url);
/** The SDK's workflow interceptors module: bundled with the workflows (src/workers/worker.ts). */
export const WORKFLOW_TRACING_INTERCEPTORS = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export interface Tracing {
  resource: Resource;
  processor: SpanProcessor;
  shutdown(): Promise<void>;
}

let installed: Tracing | null = null;

/** Installs the process's tracer provider once (later calls return the first). */
export function installTracing(service_name: string, processor?: SpanProcessor): Tracing {
  if (installed) return installed;
  const resource = new Resource({ 'service.name': service_name });
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const chosen = processor ?? (endpoint ? new BatchSpanProcessor(new OTLPTraceExporter()) : new NoopSpanProcessor());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [chosen] });
  provider.register();
  installed = { resource, processor: chosen, shutdown: () => provider.shutdown() };
  return installed;
}

/** What a worker uses when the process has no tracing installed: the bundled workflow
 * interceptors still need their exporter sink, which then drops every span. */
export function untraced(): Tracing {
  return { resource: new Resource({ 'service.name': 'untraced' }), processor: new NoopSpanProcessor(), shutdown: async () => undefined };
}

/** Client interceptors: propagate the caller's trace into the workflows it starts and updates. */
export function tracingClientInterceptors() {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

/** Worker options that trace activities and (through the bundled interceptors) workflows. */
export function tracingWorkerOptions(tracing: Tracing, workflowModules: string[] = []): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  return {
    interceptors: {
      workflowModules,
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks: { exporter: makeWorkflowExporter(tracing.processor, tracing.resource) },
  };
}
