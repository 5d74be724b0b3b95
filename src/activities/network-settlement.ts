// Network settlement activities: open a cycle (its window and net from the ledger), fetch and keep
// the network's report, post the wire, record the reconciliation. Each is idempotent on
// (cycle_id, currency): the store keeps the first net, report and reconciliation, and the wire's
// transfer id is derived from the cycle, so a retried or re-run cycle writes nothing twice.
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { TransferCode, isSuccess } from '../domain/ledger.js';
import { AMOUNT_MINOR_MAX, type Currency } from '../domain/money.js';
import { cycleKeySchema, instantSchema, type CycleKey, type NetworkCycle } from '../domain/network-settlement.js';
import { parseOrFail } from '../domain/validation.js';
import { ensurePlatformAccounts, platformAccount } from '../ledger/accounts.js';
import type { TransferBatcher } from '../ledger/batcher.js';
import { transferId } from '../ledger/ids.js';
import type { Ledger, TransferInput } from '../ledger/ledger.js';
import { chainFailure, linkedChain } from './ledger-outcomes.js';
import { NetworkCycleConflictError, NetworkCycleNotDueError, type NetworkCycleStore } from '../ledger/network-cycles.js';
import { NetworkRequestRefusedError, type CardNetwork } from '../settlement/network-client.js';

export interface NetworkSettlementActivityDeps {
  ledger: Ledger;
  postings: TransferBatcher;
  networkCycles: NetworkCycleStore;
  network: CardNetwork;
}

/** Failure types the workflow tells apart. */
export const NETWORK_SETTLEMENT_FAILURES = {
  /** The cycle contradicts stored cycles, or the network refused the request: people must look. */
  conflict: 'NetworkCycleConflict',
  invalid: 'InvalidNetworkSettlement',
} as const;

const openCycleSchema = cycleKeySchema.extend({
  window_end: instantSchema,
  lag_ms: z.number().int().min(0),
});

/** The wire of a cycle: one transfer id per cycle and currency, whatever run posts it. */
export const networkWireTransferId = (key: CycleKey) => transferId(`network-settlement:${key.cycle_id}:${key.currency}`, 'wire');
/** The cycle's won chargebacks moved onto network payable: one transfer id per cycle and currency. */
export const networkChargebackTransferId = (key: CycleKey) =>
  transferId(`network-settlement:${key.cycle_id}:${key.currency}`, 'chargeback_settlement');

/** Store errors become failures the workflow understands: not due yet is retried (time fixes
 * it); a conflict never is. */
async function asFailures<T>(step: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof NetworkCycleNotDueError) throw ApplicationFailure.retryable(`${step}: ${err.message}`, 'NetworkCycleNotDue');
    if (err instanceof NetworkCycleConflictError || err instanceof NetworkRequestRefusedError) {
      throw ApplicationFailure.nonRetryable(`${step}: ${err.message}`, NETWORK_SETTLEMENT_FAILURES.conflict);
    }
    throw err;
  }
}

export function createNetworkSettlementActivities({ ledger, postings, networkCycles, network }: NetworkSettlementActivityDeps) {
  const key = (input: unknown): CycleKey => parseOrFail(cycleKeySchema, input, 'network cycle');
  const existing = async (k: CycleKey): Promise<NetworkCycle> => {
    const cycle = await networkCycles.get(k);
    if (!cycle)
      throw ApplicationFailure.nonRetryable(`cycle ${k.cycle_id} ${k.currency} was never opened`, NETWORK_SETTLEMENT_FAILURES.conflict);
    return cycle;
  };

  return {
    /** Currencies a scheduled run settles: those with a network payable account. */
    async listNetworkCurrencies(): Promise<Currency[]> {
      return networkCycles.currencies();
    },

    /** Opens the cycle: its window (from the previous cycle's end) and our net over it. */
    async openNetworkCycle(input: CycleKey & { window_end: string; lag_ms: number }): Promise<NetworkCycle> {
      const request = parseOrFail(openCycleSchema, input, 'network cycle');
      return asFailures('openNetworkCycle', () => networkCycles.open(request));
    },

    /** Asks the network for its report of the cycle's window and keeps it; a cycle keeps its
     * first report, so a re-run reconciles against the same figures. */
    async fetchNetworkReport(input: CycleKey): Promise<NetworkCycle> {
      const cycle = await existing(key(input));
      if (cycle.reported_minor !== null) return cycle;
      return asFailures('fetchNetworkReport', async () => {
        const report = await network.report({ currency: cycle.currency, window_start: cycle.window_start, window_end: cycle.window_end });
        return networkCycles.recordReport(cycle, report.net_minor);
      });
    },

    /** Posts the wire of the reported amount: network payable -> settlement bank (or back, when
     * the network owes us). What the network did not report stays on network payable, open.
     * Before it, in the same transaction, the cycle's won chargebacks move from the chargeback
     * receivable onto network payable: the network pays them inside the net it wires, so the
     * receivable is settled by this cycle (the cycle's figures say how much). */
    async postNetworkWire(input: CycleKey): Promise<{ wired_minor: number; wire_transfer_id: string | null }> {
      const cycle = await existing(key(input));
      if (cycle.reported_minor === null) {
        throw ApplicationFailure.nonRetryable(
          `cycle ${cycle.cycle_id} ${cycle.currency} has no report yet`,
          NETWORK_SETTLEMENT_FAILURES.conflict,
        );
      }
      const wired_minor = cycle.reported_minor;
      // Cycles opened before the network settled chargebacks carry none (0, migration 1764000000060).
      const chargebacks_minor = cycle.chargebacks_minor;
      if (wired_minor === 0 && chargebacks_minor === 0) return { wired_minor, wire_transfer_id: null };
      if (Math.abs(wired_minor) > AMOUNT_MINOR_MAX || chargebacks_minor > AMOUNT_MINOR_MAX) {
        throw ApplicationFailure.nonRetryable(
          `wire of ${wired_minor} or chargebacks of ${chargebacks_minor} over one transfer's limit`,
          NETWORK_SETTLEMENT_FAILURES.conflict,
        );
      }
      // A cycle can be settled before any card payment created the accounts (a report of
      // network adjustments only): the wire must not be refused, and recorded as refused, for that.
      await ensurePlatformAccounts(ledger, cycle.currency);
      const payable = platformAccount('network_payable', cycle.currency);
      const bank = platformAccount('settlement_bank', cycle.currency);
      const id = networkWireTransferId(cycle);
      const transfers: TransferInput[] = [];
      if (chargebacks_minor > 0) {
        transfers.push({
          id: networkChargebackTransferId(cycle),
          debit_account_id: payable,
          credit_account_id: platformAccount('chargeback_receivable', cycle.currency),
          amount_minor: chargebacks_minor,
          currency: cycle.currency,
          code: TransferCode.network_chargeback_settlement,
        });
      }
      if (wired_minor !== 0) {
        transfers.push({
          id,
          debit_account_id: wired_minor > 0 ? payable : bank,
          credit_account_id: wired_minor > 0 ? bank : payable,
          amount_minor: Math.abs(wired_minor),
          currency: cycle.currency,
          code: TransferCode.network_settlement,
        });
      }
      // Platform accounts carry no limits: nothing here can be refused but a contradicting id.
      const outcomes = await postings.submit(transfers.length > 1 ? linkedChain(transfers) : transfers);
      const failed = chainFailure(outcomes) ?? outcomes.find((o) => !isSuccess(o.result));
      if (failed || outcomes.length !== transfers.length) {
        const detail = failed ? `${failed.result}${failed.first_result ? ` (${failed.first_result})` : ''}` : 'nothing';
        throw ApplicationFailure.nonRetryable(
          `postNetworkWire: ledger answered ${detail} for ${failed?.id ?? id}`,
          'LedgerUnexpectedResult',
        );
      }
      return wired_minor === 0 ? { wired_minor, wire_transfer_id: null } : { wired_minor, wire_transfer_id: id };
    },

    /** Records the wire and the verdict: matched when the network's net equals ours. */
    async reconcileNetworkCycle(input: CycleKey & { wired_minor: number; wire_transfer_id: string | null }): Promise<NetworkCycle> {
      const k = key({ cycle_id: input.cycle_id, currency: input.currency });
      const wire = parseOrFail(
        z.strictObject({ wired_minor: z.number().int(), wire_transfer_id: z.uuid().nullable() }),
        { wired_minor: input.wired_minor, wire_transfer_id: input.wire_transfer_id },
        'network wire',
      );
      return asFailures('reconcileNetworkCycle', () => networkCycles.reconcile(k, wire));
    },
  };
}

export type NetworkSettlementActivities = ReturnType<typeof createNetworkSettlementActivities>;
