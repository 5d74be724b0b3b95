// Every activity the payments worker registers, built from its dependencies.
import { createBillingActivities, type BillingActivityDeps } from './billing.js';
import { createCardActivities, type CardActivityDeps } from './card.js';
import { createDisputeActivities, type DisputeActivityDeps } from './dispute.js';
import { createNetworkSettlementActivities, type NetworkSettlementActivityDeps } from './network-settlement.js';
import { createPayoutActivities, type PayoutActivityDeps } from './payout.js';
import { createWebhookActivities, type WebhookActivityDeps } from './webhooks.js';

export type ActivityDeps = PayoutActivityDeps &
  CardActivityDeps &
  NetworkSettlementActivityDeps &
  BillingActivityDeps &
  DisputeActivityDeps &
  WebhookActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPayoutActivities(deps),
    ...createCardActivities(deps),
    ...createNetworkSettlementActivities(deps),
    ...createBillingActivities(deps),
    ...createDisputeActivities(deps),
    ...createWebhookActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
