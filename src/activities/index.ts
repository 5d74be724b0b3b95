// Every activity the payments worker registers, built from its dependencies.
import { createPayoutActivities, type PayoutActivityDeps } from './payout.js';

export type ActivityDeps = PayoutActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return { ...createPayoutActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
