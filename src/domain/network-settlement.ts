// Net settlement with the card network: the messages and state shared by the scheduled workflow,
// its activities and its clients. Imported by workflow code, so no I/O here.
import { z } from 'zod';
import { CURRENCIES, currencySchema, type Currency } from './money.js';
import type { TimelineEntry } from './payment.js';

export const DAY_MS = 24 * 3_600_000;
/** Longest cycle: a network settles at least weekly. */
export const NETWORK_SETTLEMENT_INTERVAL_MS_MAX = 7 * DAY_MS;
/** Shortest cycle: anything faster is a misconfiguration, not a settlement rhythm. */
export const NETWORK_SETTLEMENT_INTERVAL_MS_MIN = 60_000;
export const DEFAULT_NETWORK_SETTLEMENT_INTERVAL_MS = DAY_MS;
/** How long after a cycle's end it is netted (see cycleEndFor and src/ledger/network-cycles.ts). */
export const DEFAULT_NETWORK_SETTLEMENT_LAG_MS = 5 * 60_000;
/** How long one step of a run may keep retrying before the run flags NeedsAttention. A run that
 * is still retrying makes the schedule skip the next cycles (overlap SKIP): people must hear of it
 * well before the next cycle is due, and not for a blip (a restart, a short outage). */
export const DEFAULT_NETWORK_SETTLEMENT_ATTENTION_AFTER_MS = 30 * 60_000;
/** Shortest bound accepted: shorter would flag ordinary retries. */
export const NETWORK_SETTLEMENT_ATTENTION_AFTER_MS_MIN = 1_000;

/** A cycle is named by its end: the same end is the same cycle, however often it is run. */
export const cycleIdSchema = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, { error: 'must be 1 to 64 letters, digits, _ . : - (starting with a letter or digit)' });

/** An instant in UTC with millisecond precision, as Date.toISOString() writes it. */
export const instantSchema = z.iso.datetime({ precision: 3, error: 'must be an ISO 8601 UTC time like 2025-01-31T00:00:00.000Z' });

export const networkSettlementInputSchema = z
  .strictObject({
    /** The end of the cycle to settle. Omitted (scheduled runs): the latest cycle end on the
     * interval grid that is at least lag_ms in the past. */
    cycle_end: instantSchema.optional(),
    /** Omitted: every currency that has a network payable account. */
    currencies: z
      .array(currencySchema)
      .min(1)
      .max(CURRENCIES.length)
      .refine((list) => new Set(list).size === list.length, { error: 'must not repeat a currency' })
      .optional(),
    interval_ms: z
      .number()
      .int()
      .min(NETWORK_SETTLEMENT_INTERVAL_MS_MIN)
      .max(NETWORK_SETTLEMENT_INTERVAL_MS_MAX)
      .default(DEFAULT_NETWORK_SETTLEMENT_INTERVAL_MS),
    lag_ms: z.number().int().min(0).max(DAY_MS).default(DEFAULT_NETWORK_SETTLEMENT_LAG_MS),
    /** A step still retrying after this long flags the run NeedsAttention (it keeps retrying).
     * Omitted: the smaller of DEFAULT_NETWORK_SETTLEMENT_ATTENTION_AFTER_MS and half a cycle. */
    attention_after_ms: z.number().int().min(NETWORK_SETTLEMENT_ATTENTION_AFTER_MS_MIN).max(NETWORK_SETTLEMENT_INTERVAL_MS_MAX).optional(),
  })
  .refine((input) => input.lag_ms < input.interval_ms, { error: 'lag_ms must be shorter than interval_ms', path: ['lag_ms'] })
  .refine((input) => input.attention_after_ms === undefined || input.attention_after_ms + input.lag_ms < input.interval_ms, {
    error: 'attention_after_ms plus lag_ms must be shorter than interval_ms (a stuck run must be flagged before the next cycle is due)',
    path: ['attention_after_ms'],
  });
export type NetworkSettlementInput = z.input<typeof networkSettlementInputSchema>;

/** The bound a run uses: the input's, else the default, kept within half of what is left of the
 * cycle after the lag (so the flag comes before the next run is due and skipped). */
export function attentionAfterMs(input: { interval_ms: number; lag_ms: number; attention_after_ms?: number | undefined }): number {
  const bound_ms =
    input.attention_after_ms ?? Math.min(DEFAULT_NETWORK_SETTLEMENT_ATTENTION_AFTER_MS, Math.floor((input.interval_ms - input.lag_ms) / 2));
  if (!(Number.isSafeInteger(bound_ms) && bound_ms > 0)) throw new Error(`attentionAfterMs: ${bound_ms} from ${JSON.stringify(input)}`);
  return bound_ms;
}

/**
 * The cycle a run at `now_ms` settles: the latest end on the grid (multiples of interval_ms from
 * the epoch; midnight UTC for a day) that is at least lag_ms old. The schedule fires lag_ms after
 * each grid point, so a run settles the cycle that just ended; a run delayed past the next grid
 * point settles a later end, and its window (which starts where the previous cycle ended) simply
 * covers more: nothing is skipped.
 */
export function cycleEndFor(now_ms: number, interval_ms: number, lag_ms: number): number {
  if (!(Number.isSafeInteger(now_ms) && Number.isSafeInteger(interval_ms) && interval_ms > 0 && Number.isSafeInteger(lag_ms))) {
    throw new Error(`cycleEndFor: integers expected, got ${now_ms}, ${interval_ms}, ${lag_ms}`);
  }
  return Math.floor((now_ms - lag_ms) / interval_ms) * interval_ms;
}

/** The cycle id of a cycle end: its ISO time. */
export function cycleIdOf(cycle_end: string): string {
  return cycle_end;
}

export const cycleKeySchema = z.strictObject({ cycle_id: cycleIdSchema, currency: currencySchema });
export type CycleKey = z.infer<typeof cycleKeySchema>;

export const NETWORK_CYCLE_STATUSES = ['open', 'matched', 'mismatched'] as const;
export type NetworkCycleStatus = (typeof NETWORK_CYCLE_STATUSES)[number];

/** One cycle of one currency, as stored (times as ISO strings: it travels through Temporal). */
export interface NetworkCycle {
  cycle_id: string;
  currency: Currency;
  window_start: string;
  window_end: string;
  cleared_minor: number;
  refunded_minor: number;
  /** Won chargebacks of the window: what the network pays us for disputes we won (absent in
   * cycles recorded before the network settled them, as in old histories). */
  chargebacks_minor: number;
  /** Cleared minus refunded minus won chargebacks: what we owe the network for the window
   * (negative: it owes us). */
  net_minor: number;
  transfers: number;
  reported_minor: number | null;
  /** reported - net: what network payable keeps open after the wire. */
  difference_minor: number | null;
  /** Signed: positive when we paid the network. */
  wired_minor: number | null;
  wire_transfer_id: string | null;
  status: NetworkCycleStatus;
}

export type NetworkSettlementStatus = 'RUNNING' | 'MATCHED' | 'MISMATCHED' | 'FAILED';

/** What the workflow's query returns. */
export interface NetworkSettlementState {
  cycle_id: string;
  cycle_end: string;
  status: NetworkSettlementStatus;
  needs_attention: boolean;
  /** Per currency: the cycle as far as it got, or why it could not be settled. */
  cycles: Array<{ currency: Currency; cycle: NetworkCycle | null; error?: string }>;
  timeline: TimelineEntry[];
}
