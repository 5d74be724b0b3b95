// One log line per activity execution, through the SDK's activity logger (which adds the workflow
// id, run id, activity type and attempt), with the payment id and the outcome: what an operator
// greps for when a payment looks wrong.
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { Context } from '@temporalio/activity';

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
      this.ctx.log.warn('activity failed', {
        payment_id,
        duration_ms: Math.round(performance.now() - started_ms),
        error: (err as Error).message,
        error_type: (err as { type?: string }).type ?? (err as Error).name,
      });
      throw err;
    }
  }
}
