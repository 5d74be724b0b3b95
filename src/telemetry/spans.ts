// Spans around the platform's own work (API calls, ledger batches), on the OpenTelemetry API
// only: without an installed provider (src/telemetry/tracing.ts) they cost next to nothing.
import { context, trace, type Link, type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';

export const TRACER_NAME = 'card-payments-platform';
export { SpanKind };

/** Runs `fn` in a new span (child of the active one, linked to `links`), recording failures. */
export async function traced<T>(
  name: string,
  attributes: Record<string, string | number | boolean>,
  fn: (span: Span) => Promise<T>,
  options: { kind?: SpanKind; links?: Link[] } = {},
): Promise<T> {
  const tracer = trace.getTracer(TRACER_NAME);
  return tracer.startActiveSpan(name, { attributes, kind: options.kind ?? SpanKind.INTERNAL, links: options.links ?? [] }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active span's context, to link a later batch span to the callers it serves. */
export function activeSpanLink(): Link | null {
  const span = trace.getSpan(context.active());
  return span ? { context: span.spanContext() } : null;
}
