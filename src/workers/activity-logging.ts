// One log line per activity execution, through the SDK's activity logger (which adds the workflow
// id, run id, activity type and attempt), with the payment id and the outcome: what an operator
// greps for when a payment looks wrong.
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import { isBusinessOutcome } from './business-outcomes.js';

/** The payment an activity works for: every activity input names it, directly or in `payment`. */
function paymentIdOf(args: unknown[]): string | undefined {
  const first = args[0] as { payment_id?: unknown; payment?: { payment_id?: unknown } } | undefined;
  const id = first?.payment_id ?? first?.payment?.payment_id;
  return typeof id === 'string' ? id : undefined;
}

export class ActivityLoggingInterceptor implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const started_ms = performance.now();
    const payment_id = paymentIdOf(input.args);
    try {
      const result = await next(input);
      this.ctx.log.info('activity completed', { payment_id, duration_ms: Math.round(performance.now() - started_ms) });
      return result;
    } catch (err) {
      const fields = {
        payment_id,
        duration_ms: Math.round(performance.now() - started_ms),
        error: (err as Error).message,
        error_type: (err as { type?: string }).type ?? (err as Error).name,
      };
      // A decline or a bank's rejection is the payment's answer, not a fault: info, not a warning.
      if (isBusinessOutcome(err)) this.ctx.log.info('activity ended with a business outcome', fields);
      else this.ctx.log.warn('activity failed', fields);
      throw err;
    }
  }
}
