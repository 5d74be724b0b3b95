// What the report shows, read from the running platform: payment outcomes and the payments needing
// attention from Temporal visibility (search attributes), latency and batch histograms from the
// worker's and the API's Prometheus endpoints, ledger totals, platform balances and the verifier's
// verdict from Postgres.
import type { Client } from '@temporalio/client';
import { PAYMENT_STATUSES, type PaymentKind } from '../domain/payment.js';
import {
  AmountMinorKey,
  CurrencyKey,
  PaymentKindKey,
  PaymentStatusKey,
  paymentStatusClause,
  visibleStatus,
} from '../domain/search-attributes.js';
import { PLATFORM_ACCOUNT_KINDS, platformAccount, type PlatformAccountKind } from '../ledger/accounts.js';
import type { Pool } from '../ledger/db.js';
import type { Ledger } from '../ledger/ledger.js';
import { verifyLedger, type VerifyReport } from '../ledger/verify.js';
import { counterBy, histogram, parseSamples, type Histogram } from './prometheus.js';

export const PAYMENT_KINDS: readonly PaymentKind[] = ['card', 'payout'];
/** Payments needing attention listed by id, at most. */
const ATTENTION_LISTED_MAX = 50;
const METRICS_TIMEOUT_MS = 5_000;

export interface KindOutcomes {
  kind: PaymentKind;
  total: number;
  /** Count per PaymentStatus, every status listed (zeros included). */
  by_status: Record<string, number>;
  /** Payments of this kind with no known status (should be 0). */
  other: number;
}

export interface AttentionPayment {
  workflow_id: string;
  kind: string | null;
  status: string | null;
  amount_minor: number | null;
  currency: string | null;
  started_at: string;
}

/** A metrics endpoint's figures, or why there are none. */
export type Scraped<T> = { ok: true; url: string; data: T } | { ok: false; url: string | null; error: string };

export interface WorkerFigures {
  decision_ms: Histogram | null;
  decisions: Record<string, number>;
  batch_transfers: Histogram | null;
  batch_latency_ms: Histogram | null;
}

export interface ApiFigures {
  authorization_latency_ms: Histogram | null;
  answers: Record<string, number>;
  /** Authorize calls by their gRPC code as the API ended them ("ok", "deadline_exceeded"...). */
  authorize_calls: Record<string, number>;
}

/** What the card network saw of its authorizations: answered (and how), or not answered in time. */
export interface AuthorizationCounts {
  calls: number;
  approved: number;
  declined: number;
  /** Answered by the stand-in: the decision could not be made inside the deadline. */
  stand_in: number;
  /** No answer inside the caller's deadline (DEADLINE_EXCEEDED, or cancelled by the caller). */
  timed_out: number;
  unavailable: number;
  /** Refused or failed otherwise (bad input, unknown card, internal...). */
  other: number;
}

export function authorizationCounts(api: ApiFigures): AuthorizationCounts {
  const calls = Object.values(api.authorize_calls).reduce((a, b) => a + b, 0);
  const a = api.answers;
  const timed_out = (api.authorize_calls.deadline_exceeded ?? 0) + (api.authorize_calls.canceled ?? 0);
  const unavailable = api.authorize_calls.unavailable ?? 0;
  return {
    calls,
    approved: a.approved ?? 0,
    declined: a.declined ?? 0,
    stand_in: (a.stand_in_declined ?? 0) + (a.stand_in_approved ?? 0),
    timed_out,
    unavailable,
    other: Math.max(0, calls - (api.authorize_calls.ok ?? 0) - timed_out - unavailable),
  };
}

export interface PlatformBalance {
  currency: string;
  kind: PlatformAccountKind;
  account_id: string;
  /** Signed, as decimal strings of minor units: credits - debits. */
  posted: string;
  pending: string;
}

export interface ReportData {
  generated_at: string;
  source: { temporal: string; namespace: string; database: string; filter: string | null };
  payments: { total: number; kinds: KindOutcomes[] };
  attention: { count: number; listed: AttentionPayment[] };
  worker: Scraped<WorkerFigures>;
  api: Scraped<ApiFigures>;
  ledger: VerifyReport;
  platform_balances: PlatformBalance[];
}

export interface CollectOptions {
  client: Client;
  pool: Pool;
  ledger: Ledger;
  /** Where they are, for the page's header (a database URL without its password). */
  source: { temporal: string; namespace: string; database: string };
  /** ANDed to every visibility query (e.g. `TaskQueue = "payments"`); null: every payment. */
  filter?: string | null;
  metrics?: { worker?: string | null; api?: string | null };
}

const quote = (v: string) => `"${v.replace(/["\\]/g, '\\$&')}"`;

async function scrape<T>(url: string | null | undefined, read: (text: string) => T): Promise<Scraped<T>> {
  if (!url) return { ok: false, url: null, error: 'no endpoint known' };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
    if (!res.ok) return { ok: false, url, error: `HTTP ${res.status}` };
    return { ok: true, url, data: read(await res.text()) };
  } catch (err) {
    return { ok: false, url, error: (err as Error).message };
  }
}

export function workerFigures(text: string): WorkerFigures {
  const samples = parseSamples(text);
  return {
    decision_ms: histogram(samples, 'card_authorization_decision_ms'),
    decisions: counterBy(samples, 'card_authorization_decisions', 'outcome'),
    batch_transfers: histogram(samples, 'ledger_batch_transfers'),
    batch_latency_ms: histogram(samples, 'ledger_batch_latency_ms'),
  };
}

export function apiFigures(text: string): ApiFigures {
  const samples = parseSamples(text);
  return {
    authorization_latency_ms: histogram(samples, 'card_authorization_latency_ms'),
    answers: counterBy(samples, 'card_authorization_answers', 'outcome'),
    authorize_calls: counterBy(samples, 'api_requests', 'code', { method: 'Authorize' }),
  };
}

export async function collectReport(options: CollectOptions): Promise<ReportData> {
  const { client } = options;
  const filter = options.filter?.trim() || null;
  const where = (q: string) => (filter ? `(${filter}) AND ${q}` : q);
  const count = async (q: string) => (await client.workflow.count(where(q))).count;

  const kinds = await Promise.all(
    PAYMENT_KINDS.map(async (kind): Promise<KindOutcomes> => {
      const [total, ...perStatus] = await Promise.all([
        count(`PaymentKind = ${quote(kind)}`),
        // paymentStatusClause: a card payment without PaymentStatus counts as the status its
        // execution status implies (AUTHORIZED open, SETTLED completed).
        ...PAYMENT_STATUSES.map((status) => count(`PaymentKind = ${quote(kind)} AND ${paymentStatusClause(status)}`)),
      ]);
      const by_status = Object.fromEntries(PAYMENT_STATUSES.map((s, i) => [s, perStatus[i]!]));
      const known = perStatus.reduce((a, b) => a + b, 0);
      return { kind, total: total!, by_status, other: Math.max(0, total! - known) };
    }),
  );

  const attentionQuery = where('NeedsAttention = true');
  const [attentionCount, listed] = await Promise.all([
    client.workflow.count(attentionQuery).then((r) => r.count),
    (async () => {
      const found: AttentionPayment[] = [];
      for await (const wf of client.workflow.list({ query: attentionQuery, pageSize: ATTENTION_LISTED_MAX })) {
        const sa = wf.typedSearchAttributes;
        found.push({
          workflow_id: wf.workflowId,
          kind: sa.get(PaymentKindKey) ?? null,
          status: visibleStatus(sa.get(PaymentStatusKey), sa.get(PaymentKindKey), wf.status.name),
          amount_minor: sa.get(AmountMinorKey) ?? null,
          currency: sa.get(CurrencyKey) ?? null,
          started_at: wf.startTime.toISOString(),
        });
        if (found.length >= ATTENTION_LISTED_MAX) break;
      }
      return found;
    })(),
  ]);

  const [worker, api, ledger] = await Promise.all([
    scrape(options.metrics?.worker, workerFigures),
    scrape(options.metrics?.api, apiFigures),
    verifyLedger(options.pool),
  ]);

  const platform_balances: PlatformBalance[] = [];
  for (const { currency } of ledger.currencies) {
    for (const kind of PLATFORM_ACCOUNT_KINDS) {
      const account_id = platformAccount(kind, currency as Parameters<typeof platformAccount>[1]);
      const balance = await options.ledger.getBalance(account_id);
      if (balance) platform_balances.push({ currency, kind, account_id, posted: String(balance.posted), pending: String(balance.pending) });
    }
  }

  return {
    generated_at: new Date().toISOString(),
    source: { ...options.source, filter },
    payments: { total: kinds.reduce((a, k) => a + k.total, 0), kinds },
    attention: { count: attentionCount, listed },
    worker,
    api,
    ledger,
    platform_balances,
  };
}
