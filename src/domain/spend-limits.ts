// Spend limits of a card or a company: amount and count caps per UTC window (day, week, month, all
// time), optionally only for some merchant categories. The ledger enforces them (src/ledger/
// spend-limits.ts); this module holds the rules that need no I/O: validation, the window an
// authorization falls in, and the name a decline carries.
import { z } from 'zod';
import { mccSchema } from './card.js';

export const SPEND_LIMIT_WINDOWS = ['day', 'week', 'month', 'all_time'] as const;
export type SpendLimitWindow = (typeof SPEND_LIMIT_WINDOWS)[number];
export const SPEND_LIMIT_MEASURES = ['amount', 'count'] as const;
export type SpendLimitMeasure = (typeof SPEND_LIMIT_MEASURES)[number];
export const SPEND_LIMIT_SCOPES = ['card', 'company'] as const;
export type SpendLimitScope = (typeof SPEND_LIMIT_SCOPES)[number];

/** Largest amount limit per window, minor units (10^13: 100 billion USD). Also the headroom each
 * window's ledger account is granted once, so it bounds how fast a scope's source account grows. */
export const SPEND_LIMIT_AMOUNT_MAX = 10_000_000_000_000;
/** Largest count limit per window (authorizations). */
export const SPEND_LIMIT_COUNT_MAX = 1_000_000;
/** Limits per card, and per company and currency. */
export const SPEND_LIMITS_PER_SCOPE_MAX = 16;
/** Merchant categories one limit may be scoped to. */
export const SPEND_LIMIT_MCCS_MAX = 50;

export const spendLimitSchema = z
  .strictObject({
    window: z.enum(SPEND_LIMIT_WINDOWS, { error: `must be one of ${SPEND_LIMIT_WINDOWS.join(', ')}` }),
    measure: z.enum(SPEND_LIMIT_MEASURES, { error: `must be one of ${SPEND_LIMIT_MEASURES.join(', ')}` }),
    /** Minor units for an amount limit, authorizations for a count limit. */
    limit: z
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer (no fractions)' })
      .positive({ error: 'must be greater than zero' }),
    /** Only authorizations at these merchant categories count (and are checked); empty: all. */
    mccs: z
      .array(mccSchema)
      .max(SPEND_LIMIT_MCCS_MAX, { error: `at most ${SPEND_LIMIT_MCCS_MAX} merchant categories` })
      .default([])
      .transform((mccs) => [...new Set(mccs)].sort()),
  })
  .superRefine((l, ctx) => {
    const max = l.measure === 'amount' ? SPEND_LIMIT_AMOUNT_MAX : SPEND_LIMIT_COUNT_MAX;
    if (l.limit > max) ctx.addIssue({ code: 'custom', path: ['limit'], message: `must be at most ${max} for a ${l.measure} limit` });
  });
export type SpendLimit = z.output<typeof spendLimitSchema>;
export type SpendLimitInput = z.input<typeof spendLimitSchema>;

/** What makes two limits of one scope the same limit: window, measure and merchant categories. */
export function spendLimitKey(l: Pick<SpendLimit, 'window' | 'measure' | 'mccs'>): string {
  return `${l.window}:${l.measure}${l.mccs.length > 0 ? `:mcc=${l.mccs.join('+')}` : ''}`;
}

export const spendLimitsSchema = z
  .array(spendLimitSchema)
  .max(SPEND_LIMITS_PER_SCOPE_MAX, { error: `at most ${SPEND_LIMITS_PER_SCOPE_MAX} limits` })
  .superRefine((limits, ctx) => {
    const seen = new Set<string>();
    for (const [index, l] of limits.entries()) {
      const key = spendLimitKey(l);
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: [index], message: `a second ${key} limit (one per window, measure and categories)` });
      seen.add(key);
    }
  });

/** The words a decline carries, e.g. `spend_limit:card:day:amount` or
 * `spend_limit:company:month:count:mcc=5812+5813`. */
export type SpendLimitDeclineReason = `spend_limit:${string}`;
export function spendLimitName(scope: SpendLimitScope, l: Pick<SpendLimit, 'window' | 'measure' | 'mccs'>): SpendLimitDeclineReason {
  return `spend_limit:${scope}:${spendLimitKey(l)}`;
}

/** Does an authorization at this merchant category count towards (and get checked by) the limit? */
export function spendLimitApplies(l: Pick<SpendLimit, 'mccs'>, mcc: string): boolean {
  return l.mccs.length === 0 || l.mccs.includes(mcc);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Start of the UTC window holding `at_ms` (epoch ms): midnight, Monday midnight (ISO weeks), the
 * first of the month; 0 for all time. The start is part of the window's ledger account identity,
 * so a new window is a new account and rollover needs no job. */
export function windowStartMs(window: SpendLimitWindow, at_ms: number): number {
  if (!Number.isSafeInteger(at_ms) || at_ms < 0) throw new RangeError(`windowStartMs: ${at_ms} is not epoch milliseconds`);
  const day_ms = at_ms - (at_ms % DAY_MS);
  switch (window) {
    case 'day':
      return day_ms;
    case 'week': {
      // 1970-01-01 was a Thursday: days since the epoch plus 3, modulo 7, counts from Monday.
      const weekday = (Math.floor(at_ms / DAY_MS) + 3) % 7;
      return day_ms - weekday * DAY_MS;
    }
    case 'month': {
      const d = new Date(at_ms);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
    case 'all_time':
      return 0;
  }
}

/** Where the window after the one holding `at_ms` starts (null for all time). */
export function windowEndMs(window: SpendLimitWindow, at_ms: number): number | null {
  const start = windowStartMs(window, at_ms);
  switch (window) {
    case 'day':
      return start + DAY_MS;
    case 'week':
      return start + 7 * DAY_MS;
    case 'month': {
      const d = new Date(start);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
    case 'all_time':
      return null;
  }
}

/** A window as text, part of its account's identity: `2026-12-02`, `week-2026-11-30`, `2026-12`, `all`. */
export function windowLabel(window: SpendLimitWindow, at_ms: number): string {
  const iso = new Date(windowStartMs(window, at_ms)).toISOString();
  switch (window) {
    case 'day':
      return iso.slice(0, 10);
    case 'week':
      return `week-${iso.slice(0, 10)}`;
    case 'month':
      return iso.slice(0, 7);
    case 'all_time':
      return 'all';
  }
}

/** The headroom a window's account is granted once: the largest limit of its measure. A limit
 * below it is checked by a probe (see src/ledger/spend-limits.ts), so limits change at once. */
export function spendLimitHeadroom(measure: SpendLimitMeasure): number {
  return measure === 'amount' ? SPEND_LIMIT_AMOUNT_MAX : SPEND_LIMIT_COUNT_MAX;
}
