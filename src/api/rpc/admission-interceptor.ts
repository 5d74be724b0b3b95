// The front door's bound on calls into Temporal (src/api/admission.ts) for every PaymentService
// call but Authorize, which answers the stand-in instead of refusing (payments-service.ts). A call
// past the bound is refused at once, RESOURCE_EXHAUSTED with a retry hint, before it touches
// anything; an admitted call's Temporal requests (and their retries) end when its caller gives up.
import type { Interceptor } from '@connectrpc/connect';
import type { Client } from '@temporalio/client';
import { PaymentService } from '../../gen/cardplatform/payments/v1/payments_pb.js';
import type { AdmissionControl } from '../admission.js';
import { isEngineFailure, resourceExhausted } from './errors.js';
import type { ApiMetrics } from './metrics.js';

/** The payment a request is about, if it names one. */
function paymentIdOf(message: unknown): string | null {
  const m = message as { paymentId?: unknown; transaction?: { paymentId?: unknown } };
  for (const id of [m.paymentId, m.transaction?.paymentId]) if (typeof id === 'string' && id !== '') return id;
  return null;
}

export function admissionInterceptor(
  admission: AdmissionControl,
  client: Client,
  metrics: Pick<ApiMetrics, 'refused'> | undefined,
): Interceptor {
  return (next) => async (req) => {
    if (req.service.typeName !== PaymentService.typeName || req.method.name === PaymentService.method.authorize.name) {
      return next(req);
    }
    const admitted = admission.call(paymentIdOf(req.message));
    if (!admitted.admitted) {
      metrics?.refused('call', admitted.reason);
      throw resourceExhausted(admitted.reason, admitted.retry_after_ms);
    }
    const started_ms = performance.now();
    let failed_by_engine = false;
    try {
      return await client.withAbortSignal(req.signal, () => next(req));
    } catch (err) {
      failed_by_engine = req.signal.aborted || isEngineFailure(err);
      throw err;
    } finally {
      admitted.release();
      // Every answer steers the bound (src/api/admission.ts); a failure the engine caused, or a
      // caller that gave up waiting, is as telling as a slow answer. A refusal is an answer.
      const elapsed_ms = performance.now() - started_ms;
      admission.observeCall(failed_by_engine ? Math.max(elapsed_ms, admission.limits.authorization_latency_target_ms + 1) : elapsed_ms);
    }
  };
}
