// Every activity the payments worker registers, built from its dependencies.
import { createCardActivities, type CardActivityDeps } from './card.js';
import { createNetworkSettlementActivities, type NetworkSettlementActivityDeps } from './network-settlement.js';
import { createPayoutActivities, type PayoutActivityDeps } from './payout.js';
import { createWebhookActivities, type WebhookActivityDeps } from './webhooks.js';

export type ActivityDeps = PayoutActivityDeps & CardActivityDeps & NetworkSettlementActivityDeps & WebhookActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPayoutActivities(deps),
    ...createCardActivities(deps),
    ...createNetworkSettlementActivities(deps),
    ...createWebhookActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
