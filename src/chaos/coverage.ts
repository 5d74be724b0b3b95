// Path coverage of a chaos run: each path must reach the final state it exists to show (a
// card_clear SETTLED, a payout_reject COMPENSATED...) a minimum number of times. A payment that the
// stand-in declined, or that ended otherwise, does not count for its path; and a run where most
// authorizations were stood in fails outright: it showed the stand-in, not the paths it claims.
import { PAYMENT_KINDS, type PaymentKind } from './schedule.js';
import type { PaymentRecord } from './driver.js';

/** The share of a path's payments that must reach the path's own final state (at least one). A
 * short run on a busy machine loses a few to the stand-in; a broken path loses them all. */
export const PATH_FINAL_SHARE_MIN = 0.2;
/** The share of acknowledged authorizations the stand-in may have answered. */
export const STAND_IN_SHARE_MAX = 0.5;

export interface PathCoverage {
  planned: number;
  /** Reached the path's own final state, without a stand-in. */
  reached: number;
  /** At least this many must (at least 1 for a path the run planned). */
  reached_min: number;
  ok: boolean;
}

export interface Coverage {
  ok: boolean;
  paths: Record<PaymentKind, PathCoverage>;
  /** Authorizations acknowledged, and how many of them the stand-in answered. */
  authorizations: number;
  stand_ins: number;
  problems: string[];
}

/** Over the run's planned payments: the overload phase's purchases (src/chaos/overload.ts) exist
 * to be stood in, and have their own report. */
export function pathCoverage(all: readonly PaymentRecord[]): Coverage {
  const records = all.filter((r) => r.phase === undefined);
  const paths = {} as Record<PaymentKind, PathCoverage>;
  const problems: string[] = [];
  for (const kind of Object.keys(PAYMENT_KINDS) as PaymentKind[]) {
    const mine = records.filter((r) => r.kind === kind);
    const reached = mine.filter((r) => r.done && !r.stand_in && r.state?.status === PAYMENT_KINDS[kind]).length;
    const reached_min = mine.length === 0 ? 0 : Math.max(1, Math.floor(mine.length * PATH_FINAL_SHARE_MIN));
    paths[kind] = { planned: mine.length, reached, reached_min, ok: reached >= reached_min };
    if (reached < reached_min)
      problems.push(`path ${kind}: ${reached} of ${mine.length} reached ${PAYMENT_KINDS[kind]}, at least ${reached_min} must`);
  }
  const authorizations = records.filter((r) => r.acked.some((a) => a.call === 'authorize')).length;
  const stand_ins = records.filter((r) => r.stand_in).length;
  if (stand_ins > authorizations * STAND_IN_SHARE_MAX) {
    problems.push(
      `the stand-in answered ${stand_ins} of ${authorizations} authorizations (over ${STAND_IN_SHARE_MAX * 100} %): the run shows overload, not its paths`,
    );
  }
  return { ok: problems.length === 0, paths, authorizations, stand_ins, problems };
}
