// Daily net settlement with the card network (DESIGN.md section 5). Per currency: net the cycle's
// cleared postings on network payable, fetch the network's report of the same window, wire what
// the network reported from network payable to the settlement bank, and reconcile. A report that
// disagrees with our net raises attention (NeedsAttention, and the query shows the difference);
// nothing is rolled back: the wire moves what the network actually settles, and network payable
// keeps the difference open until people resolve it.
//
// Deterministic: the cycle comes from the input or the workflow clock; every read and write is an
// activity. Idempotent: a cycle is named by its end, and every step keeps its first result, so
// running the same cycle again (a retried schedule, an operator's re-run) writes nothing twice.
import { ActivityFailure, ApplicationFailure, log, proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { formatMinor } from '../domain/money.js';
import {
  cycleEndFor,
  cycleIdOf,
  networkSettlementInputSchema,
  type NetworkSettlementInput,
  type NetworkSettlementState,
} from '../domain/network-settlement.js';
import { NeedsAttentionKey } from '../domain/search-attributes.js';
import { describeIssue } from '../domain/validation.js';
import { getNetworkSettlementQuery } from './network-settlement-messages.js';

/** Money steps retry infrastructure errors without limit (a cycle not yet due included), with
 * the backoff capped so recovery is noticed within a minute. */
const steps = proxyActivities<Activities>({
  startToCloseTimeout: '3 minutes',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Timeline entries kept; a run has a few per currency. */
const TIMELINE_LENGTH_MAX = 200;

export async function networkSettlementWorkflow(input: NetworkSettlementInput = {}): Promise<NetworkSettlementState> {
  const parsed = networkSettlementInputSchema.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(describeIssue(parsed.error, 'network settlement '), 'InvalidNetworkSettlement');
  }
  const { interval_ms, lag_ms } = parsed.data;
  // Workflow time: the same on every replay.
  const now_ms = Date.now();
  const cycle_end = parsed.data.cycle_end ?? new Date(cycleEndFor(now_ms, interval_ms, lag_ms)).toISOString();
  const due_ms = Date.parse(cycle_end) + lag_ms;
  if (due_ms > now_ms) {
    throw ApplicationFailure.nonRetryable(
      `network settlement cycle_end: the cycle ending ${cycle_end} is not due before ${new Date(due_ms).toISOString()}`,
      'InvalidNetworkSettlement',
    );
  }
  const cycle_id = cycleIdOf(cycle_end);
  const state: NetworkSettlementState = {
    cycle_id,
    cycle_end,
    status: 'RUNNING',
    needs_attention: false,
    cycles: [],
    timeline: [],
  };
  setHandler(getNetworkSettlementQuery, () => state);
  const note = (event: string, detail?: string) => {
    if (state.timeline.length >= TIMELINE_LENGTH_MAX) state.timeline.splice(1, 1);
    state.timeline.push({ at: new Date().toISOString(), event, ...(detail !== undefined ? { detail } : {}) });
  };
  const markNeedsAttention = (event: string, detail: string) => {
    note(event, detail);
    if (state.needs_attention) return;
    state.needs_attention = true;
    upsertSearchAttributes([{ key: NeedsAttentionKey, value: true }]);
    log.warn('network settlement needs attention', { cycle_id, event, detail });
  };
  note('cycle_started', cycle_end);

  const currencies = parsed.data.currencies ?? (await steps.listNetworkCurrencies());
  // Bounded: at most one entry per supported currency.
  for (const currency of currencies) {
    const entry: NetworkSettlementState['cycles'][number] = { currency, cycle: null };
    state.cycles.push(entry);
    const key = { cycle_id, currency };
    try {
      entry.cycle = await steps.openNetworkCycle({ ...key, window_end: cycle_end, lag_ms });
      note(
        'cycle_opened',
        `${currency} ${entry.cycle.window_start} .. ${entry.cycle.window_end}: net ${formatMinor(entry.cycle.net_minor, currency)}`,
      );
      entry.cycle = await steps.fetchNetworkReport(key);
      const wire = await steps.postNetworkWire(key);
      note('wire_posted', `${currency} ${formatMinor(wire.wired_minor, currency)}`);
      entry.cycle = await steps.reconcileNetworkCycle({ ...key, ...wire });
      if (entry.cycle.status === 'mismatched') {
        markNeedsAttention(
          'cycle_mismatched',
          `${currency}: the network reported ${formatMinor(entry.cycle.reported_minor ?? 0, currency)}, ` +
            `the ledger nets ${formatMinor(entry.cycle.net_minor, currency)}; ` +
            `${formatMinor(entry.cycle.difference_minor ?? 0, currency)} stays open on network payable`,
        );
      } else {
        note('cycle_matched', currency);
      }
    } catch (err) {
      // Retryable failures never reach here (retried without limit); this is a cycle that
      // contradicts the stored ones or a ledger answer nobody expects. Nothing is undone: what
      // was written stands, and the other currencies still settle.
      if (!(err instanceof ActivityFailure)) throw err;
      entry.error = err.cause?.message ?? err.message;
      markNeedsAttention('cycle_failed', `${currency}: ${entry.error}`);
    }
  }

  state.status = state.cycles.some((c) => c.error !== undefined)
    ? 'FAILED'
    : state.cycles.some((c) => c.cycle?.status === 'mismatched')
      ? 'MISMATCHED'
      : 'MATCHED';
  note('cycle_finished', state.status);
  return state;
}
