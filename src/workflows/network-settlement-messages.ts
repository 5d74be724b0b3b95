// The query of the network settlement workflow: one definition, used by the workflow and clients.
import { defineQuery } from '@temporalio/workflow';
import type { NetworkSettlementState } from '../domain/network-settlement.js';

export const getNetworkSettlementQuery = defineQuery<NetworkSettlementState>('getNetworkSettlement');
