// Daily net settlement with the card network (DESIGN.md section 5). Per currency: net the cycle's
// cleared postings on network payable (less the chargebacks won in the window), fetch the network's report of the same window, wire what
// the network reported from network payable to the settlement bank, and reconcile. A report that
// disagrees with our net raises attention (NeedsAttention, and the query shows the difference);
// nothing is rolled back: the wire moves what the network actually settles, and network payable
// keeps the difference open until people resolve it.
//
// Deterministic: the cycle comes from the input or the workflow clock; every read and write is an
// activity. Idempotent: a cycle is named by its end, and every step keeps its first result, so
// running the same cycle again (a retried schedule, an operator's re-run) writes nothing twice.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { formatMinor, type Currency } from '../domain/money.js';
import {
  attentionAfterMs,
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
const STEP_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '3 minutes',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const steps = proxyActivities<Activities>(STEP_OPTIONS);
/** Each call carries a summary for the Web UI (user metadata: replay does not compare it). */
const step = (summary: string): ActivityOptions => ({ ...STEP_OPTIONS, summary });

/** The Web UI's current details of a run: status, each currency's figures, the last events. */
export function renderNetworkSettlementDetails(state: NetworkSettlementState, waiting_for: string | null): string {
  const m = (v: number | null | undefined, currency: Currency) => (v === null || v === undefined ? '—' : formatMinor(v, currency));
  const lines = [`**Network settlement ${state.cycle_id}: ${state.status}** — cycle ending ${state.cycle_end}`];
  if (state.needs_attention)
    lines.push('', '**Needs attention**: the network report and the ledger disagree, a cycle failed, or a step kept retrying too long');
  if (state.cycles.length > 0) {
    lines.push(
      '',
      '| currency | window | won chargebacks | net (ledger) | reported | wired | difference | status |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const { currency, cycle, error } of state.cycles) {
      lines.push(
        `| ${currency} | ${cycle ? `${cycle.window_start} .. ${cycle.window_end}` : '—'} | ${m(cycle?.chargebacks_minor, currency)} | ` +
          `${m(cycle?.net_minor, currency)} | ` +
          `${m(cycle?.reported_minor, currency)} | ${m(cycle?.wired_minor, currency)} | ${m(cycle?.difference_minor, currency)} | ` +
          `${error ? `failed: ${error}` : (cycle?.status ?? 'not opened')} |`,
      );
    }
  }
  lines.push('', `**Waiting for**: ${waiting_for ?? 'nothing (finished)'}`);
  lines.push(
    '',
    '**Last events**',
    ...state.timeline.slice(-6).map((e) => `- ${e.at.slice(0, 19).replace('T', ' ')} \`${e.event}\`${e.detail ? `: ${e.detail}` : ''}`),
  );
  return lines.join('\n');
}

/** Runs started before this patch never arm the stuck-step alarm (their histories have no timer
 * beside each step). Deprecate once no run started before it is open: a run lives as long as its
 * steps retry, so after the first deployment in which no such run shows in the Web UI. */
export const STUCK_ATTENTION_PATCH = 'network-settlement-stuck-attention';

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
  let waiting_for: string | null = null;
  const refresh = () => setCurrentDetails(renderNetworkSettlementDetails(state, waiting_for));
  const waitFor = (what: string | null) => {
    waiting_for = what;
    refresh();
  };
  const note = (event: string, detail?: string) => {
    if (state.timeline.length >= TIMELINE_LENGTH_MAX) state.timeline.splice(1, 1);
    state.timeline.push({ at: new Date().toISOString(), event, ...(detail !== undefined ? { detail } : {}) });
    refresh();
  };
  const markNeedsAttention = (event: string, detail: string) => {
    note(event, detail);
    if (state.needs_attention) return;
    state.needs_attention = true;
    upsertSearchAttributes([{ key: NeedsAttentionKey, value: true }]);
    log.warn('network settlement needs attention', { cycle_id, event, detail });
  };
  // Money steps retry without limit, and the schedule skips every later run while this one is
  // open (overlap SKIP): a step still retrying after attention_after_ms flags the run, so people
  // hear of a stuck cycle before the next one is due. The step goes on retrying.
  const attention_after_ms = attentionAfterMs(parsed.data);
  const watched = async <T>(running: Promise<T>): Promise<T> => {
    if (!patched(STUCK_ATTENTION_PATCH)) return running;
    const alarm = new CancellationScope();
    alarm
      .run(() => sleep(attention_after_ms, { summary: 'flag the run if this step is still retrying' }))
      .then(
        () => markNeedsAttention('cycle_stuck', `${waiting_for ?? 'a step'}: still retrying after ${attention_after_ms} ms`),
        () => undefined, // cancelled: the step finished in time
      );
    try {
      return await running;
    } finally {
      alarm.cancel();
    }
  };
  note('cycle_started', cycle_end);

  waitFor('the ledger: currencies with a network payable account');
  const currencies =
    parsed.data.currencies ??
    (await watched(steps.listNetworkCurrencies.executeWithOptions(step('list currencies with network payable'), [])));
  // Bounded: at most one entry per supported currency.
  for (const currency of currencies) {
    const entry: NetworkSettlementState['cycles'][number] = { currency, cycle: null };
    state.cycles.push(entry);
    const key = { cycle_id, currency };
    try {
      waitFor(`${currency}: netting the cycle on network payable (after the cutoff)`);
      entry.cycle = await watched(
        steps.openNetworkCycle.executeWithOptions(step(`${currency}: open the cycle and net it`), [
          { ...key, window_end: cycle_end, lag_ms },
        ]),
      );
      note(
        'cycle_opened',
        `${currency} ${entry.cycle.window_start} .. ${entry.cycle.window_end}: net ${formatMinor(entry.cycle.net_minor, currency)}` +
          // Cycles recorded before the network settled chargebacks have none (old histories).
          (entry.cycle.chargebacks_minor ? ` after ${formatMinor(entry.cycle.chargebacks_minor, currency)} of won chargebacks` : ''),
      );
      waitFor(`${currency}: the card network's report of the window`);
      entry.cycle = await watched(steps.fetchNetworkReport.executeWithOptions(step(`${currency}: fetch the network's report`), [key]));
      waitFor(`${currency}: the ledger: the wire of what the network reported`);
      const wire = await watched(
        steps.postNetworkWire.executeWithOptions(
          step(`${currency}: wire ${formatMinor(entry.cycle.reported_minor ?? 0, currency)} (reported) to the settlement bank`),
          [key],
        ),
      );
      note('wire_posted', `${currency} ${formatMinor(wire.wired_minor, currency)}`);
      waitFor(`${currency}: reconciliation`);
      entry.cycle = await watched(
        steps.reconcileNetworkCycle.executeWithOptions(step(`${currency}: reconcile report and ledger`), [{ ...key, ...wire }]),
      );
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
  waiting_for = null;
  note('cycle_finished', state.status);
  return state;
}
