// Every activity the payments worker registers, built from its dependencies.
import { createBillingActivities, type BillingActivityDeps } from './billing.js';
import { createCardActivities, type CardActivityDeps } from './card.js';
import { createDisputeActivities, type DisputeActivityDeps } from './dispute.js';
import { createNetworkSettlementActivities, type NetworkSettlementActivityDeps } from './network-settlement.js';
import { createPayoutActivities, type PayoutActivityDeps } from './payout.js';

export type ActivityDeps = PayoutActivityDeps &
  CardActivityDeps &
  NetworkSettlementActivityDeps &
  BillingActivityDeps &
  DisputeActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPayoutActivities(deps),
    ...createCardActivities(deps),
    ...createNetworkSettlementActivities(deps),
    ...createBillingActivities(deps),
    ...createDisputeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
