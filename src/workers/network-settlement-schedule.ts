// The Temporal Schedule that runs the network settlement workflow once per cycle. The worker
// process creates it when it starts (every deployment runs a worker; `npm start` and
// docker-compose alike), idempotently: a schedule that already exists is left as it is, so
// several workers, or restarts, never make two. Change a running one with `temporal schedule
// update`, or delete it and restart a worker to recreate it from the configuration.
import type { DataConverter } from '@temporalio/common';
import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy, type ConnectionLike } from '@temporalio/client';
import type { Currency } from '../domain/money.js';
import { networkSettlementInputSchema, type NetworkSettlementInput } from '../domain/network-settlement.js';
import { NeedsAttentionKey } from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import type { networkSettlementWorkflow } from '../workflows/network-settlement.js';

export const NETWORK_SETTLEMENT_SCHEDULE_ID = 'network-settlement';

export interface NetworkSettlementScheduleOptions {
  task_queue: string;
  interval_ms: number;
  lag_ms: number;
  /** A step retrying this long flags the run; omitted: the workflow's default (attentionAfterMs). */
  attention_after_ms?: number | undefined;
  /** Omitted: every currency that has a network payable account when the run starts. */
  currencies?: Currency[];
  /** Tests use their own. */
  schedule_id?: string;
  /** The platform's (src/codec/data-converter.ts): the schedule's workflow arguments are encrypted. */
  data_converter?: DataConverter;
}

/** Creates the schedule unless it exists; answers which happened. */
export async function ensureNetworkSettlementSchedule(
  connection: ConnectionLike,
  namespace: string,
  options: NetworkSettlementScheduleOptions,
): Promise<'created' | 'exists'> {
  const args: NetworkSettlementInput = {
    interval_ms: options.interval_ms,
    lag_ms: options.lag_ms,
    ...(options.currencies ? { currencies: options.currencies } : {}),
    ...(options.attention_after_ms !== undefined ? { attention_after_ms: options.attention_after_ms } : {}),
  };
  // Refuse a configuration every run would refuse, before it is stored in a schedule.
  const parsed = networkSettlementInputSchema.safeParse(args);
  if (!parsed.success) throw new Error(describeIssue(parsed.error, 'network settlement schedule '));
  const schedule_id = options.schedule_id ?? NETWORK_SETTLEMENT_SCHEDULE_ID;
  const client = new Client({ connection, namespace, ...(options.data_converter ? { dataConverter: options.data_converter } : {}) });
  try {
    await client.schedule.create<typeof networkSettlementWorkflow>({
      scheduleId: schedule_id,
      // Fires at every grid point + lag: the run settles the cycle that ended lag_ms ago (see
      // cycleEndFor). With a day and 5 minutes: 00:05 UTC daily.
      spec: { intervals: [{ every: options.interval_ms, offset: options.lag_ms }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'networkSettlementWorkflow',
        // Temporal appends the scheduled time to this id, one run per firing.
        workflowId: schedule_id,
        taskQueue: options.task_queue,
        args: [args],
        typedSearchAttributes: [{ key: NeedsAttentionKey, value: false }],
        staticSummary: 'Net settlement with the card network',
      },
      policies: {
        // A run still retrying when the next one is due: skip the next one. Its cycle is not
        // lost: the following run's window starts where the last settled cycle ended. Skipping
        // is never silent: a run whose step retries past attention_after_ms has flagged itself
        // NeedsAttention before the next run is due.
        overlap: ScheduleOverlapPolicy.SKIP,
        // After downtime, one catch-up run settles everything since the last cycle.
        catchupWindow: options.interval_ms,
      },
    });
    return 'created';
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return 'exists';
    throw err;
  }
}
