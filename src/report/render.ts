// The report as one self-contained HTML page: inline CSS and SVG charts, no script, no external
// asset, so it can be mailed, attached to a ticket or opened from disk.
import { CURRENCY_EXPONENTS, type Currency } from '../domain/money.js';
import { TERMINAL_STATUSES, type PaymentStatus } from '../domain/payment.js';
import {
  authorizationCounts,
  type ApiFigures,
  type AuthorizationCounts,
  type KindOutcomes,
  type ReportData,
  type Scraped,
  type WorkerFigures,
} from './collect.js';
import { quantileBound, type Histogram } from './prometheus.js';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const h = escapeHtml;

/** Minor units (a decimal string, any size) for people: "-123456" USD -> "-1,234.56 USD". */
export function formatAmount(minor: string, currency: string): string {
  const exponent = CURRENCY_EXPONENTS[currency as Currency] ?? 2;
  const negative = minor.startsWith('-');
  const digits = (negative ? minor.slice(1) : minor).padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const fraction = exponent ? `.${digits.slice(digits.length - exponent)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction} ${currency}`;
}

const STATUS_COLORS: Record<PaymentStatus, string> = {
  SETTLED: '#2e7d32',
  REFUNDED: '#00897b',
  REVERSED: '#4fc3f7',
  EXPIRED: '#9e9e9e',
  DECLINED: '#ef6c00',
  COMPENSATED: '#c62828',
  RECEIVED: '#c5cae9',
  AUTHORIZING: '#9fa8da',
  AUTHORIZED: '#7986cb',
  POSTED: '#5c6bc0',
  SETTLING: '#3949ab',
  COMPENSATING: '#ad1457',
};
const OTHER_COLOR = '#000000';

const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(1));
const boundLabel = (b: number) => (b === Infinity ? '+Inf' : `≤${fmt(b)}`);
/** Short axis ticks (the axis says they are upper bounds): 1, 20, 500, 1k, 5k, +Inf. */
const tickLabel = (b: number) => (b === Infinity ? '+Inf' : b >= 1_000 && b % 1_000 === 0 ? `${b / 1_000}k` : fmt(b));

function outcomesChart(kinds: KindOutcomes[]): string {
  const width = 760;
  const labelW = 70;
  const barW = width - labelW - 60;
  const rowH = 34;
  const height = kinds.length * rowH + 10;
  const rows = kinds.map((k, i) => {
    const y = 5 + i * rowH;
    let x = labelW;
    const segments: string[] = [];
    const parts: Array<[string, number, string]> = [
      ...Object.entries(k.by_status).map(([s, n]): [string, number, string] => [s, n, STATUS_COLORS[s as PaymentStatus] ?? OTHER_COLOR]),
      ['other', k.other, OTHER_COLOR],
    ];
    for (const [status, n, color] of parts) {
      if (n === 0 || k.total === 0) continue;
      const w = (n / k.total) * barW;
      segments.push(
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 10}" fill="${color}"><title>${h(k.kind)} ${h(status)}: ${n}</title></rect>`,
      );
      if (w > 22) segments.push(`<text x="${(x + w / 2).toFixed(1)}" y="${y + rowH / 2}" class="seg">${n}</text>`);
      x += w;
    }
    if (k.total === 0) segments.push(`<rect x="${labelW}" y="${y}" width="${barW}" height="${rowH - 10}" fill="#eee"/>`);
    return [
      `<text x="${labelW - 8}" y="${y + rowH / 2}" class="label" text-anchor="end">${h(k.kind)}</text>`,
      ...segments,
      `<text x="${labelW + barW + 8}" y="${y + rowH / 2}" class="label">${k.total}</text>`,
    ].join('');
  });
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="payments by kind and status">${rows.join('')}</svg>`;
}

function outcomesLegend(kinds: KindOutcomes[]): string {
  return `<div class="legend">${Object.entries(STATUS_COLORS)
    .filter(([s]) => kinds.some((k) => (k.by_status[s] ?? 0) > 0))
    .map(
      ([s, c]) => `<span><i style="background:${c}"></i>${h(s)}${TERMINAL_STATUSES.has(s as PaymentStatus) ? '' : ' (in flight)'}</span>`,
    )
    .join('')}</div>`;
}

function outcomesTable(kinds: KindOutcomes[]): string {
  const statuses = Object.keys(kinds[0]?.by_status ?? {}).filter((s) => kinds.some((k) => (k.by_status[s] ?? 0) > 0));
  const head = `<tr><th>status</th>${kinds.map((k) => `<th>${h(k.kind)}</th>`).join('')}</tr>`;
  const body = statuses.map(
    (s) =>
      `<tr><td><i class="dot" style="background:${STATUS_COLORS[s as PaymentStatus] ?? OTHER_COLOR}"></i>${h(s)}</td>${kinds
        .map((k) => `<td class="num" data-kind="${h(k.kind)}" data-status="${h(s)}">${k.by_status[s] ?? 0}</td>`)
        .join('')}</tr>`,
  );
  if (kinds.some((k) => k.other > 0))
    body.push(
      `<tr><td>other</td>${kinds.map((k) => `<td class="num" data-kind="${h(k.kind)}" data-status="other">${k.other}</td>`).join('')}</tr>`,
    );
  const total = `<tr class="total"><td>total</td>${kinds.map((k) => `<td class="num" data-kind="${h(k.kind)}" data-status="total">${k.total}</td>`).join('')}</tr>`;
  return `<table class="outcomes">${head}${body.join('')}${total}</table>`;
}

function histogramChart(title: string, hist: Histogram | null, unit: string, color: string): string {
  if (!hist || hist.count === 0) return `<div class="chart"><h3>${h(title)}</h3><p class="muted">no observations yet</p></div>`;
  const width = 460;
  const height = 200;
  const top = 18;
  const bottom = 34;
  const left = 8;
  const n = hist.counts.length;
  const slot = (width - left * 2) / n;
  const max = Math.max(...hist.counts, 1);
  const bars = hist.counts.map((c, i) => {
    const bh = (c / max) * (height - top - bottom);
    const x = left + i * slot;
    const y = height - bottom - bh;
    return [
      `<rect x="${(x + 2).toFixed(1)}" y="${y.toFixed(1)}" width="${(slot - 4).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}"><title>${boundLabel(hist.bounds[i]!)} ${h(unit)}: ${c}</title></rect>`,
      c > 0 ? `<text x="${(x + slot / 2).toFixed(1)}" y="${(y - 4).toFixed(1)}" class="count">${c}</text>` : '',
      `<text x="${(x + slot / 2).toFixed(1)}" y="${height - bottom + 14}" class="tick">${tickLabel(hist.bounds[i]!)}</text>`,
    ].join('');
  });
  const q = (p: number) => {
    const b = quantileBound(hist, p);
    return b === null ? '–' : b === Infinity ? `> ${fmt(hist.bounds.at(-2) ?? 0)}` : `≤ ${fmt(b)}`;
  };
  const mean = hist.count ? hist.sum / hist.count : 0;
  return `<div class="chart"><h3>${h(title)}</h3>
<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${h(title)}">
<line x1="${left}" y1="${height - bottom}" x2="${width - left}" y2="${height - bottom}" stroke="#999"/>${bars.join('')}
<text x="${width / 2}" y="${height - 4}" class="tick">${h(unit)} (bucket upper bounds)</text></svg>
<p class="stats">n = <b>${fmt(hist.count)}</b> · mean ${fmt(mean)} ${h(unit)} · p50 ${q(0.5)} · p95 ${q(0.95)} · p99 ${q(0.99)} ${h(unit)}</p></div>`;
}

function countsList(counts: Record<string, number>): string {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  if (entries.length === 0) return '';
  return `<p class="stats">${entries
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${h(k || '(none)')}: <b>${fmt(n)}</b>`)
    .join(' · ')}</p>`;
}

/** Every Authorize call the API ended, answered or not: timeouts and stand-ins are what a busy
 * platform shows first, and the latency chart only has the answered ones. */
export function authorizationPanel(c: AuthorizationCounts): string {
  const row = (label: string, key: keyof AuthorizationCounts, n: number, cls = '') =>
    `<tr${cls ? ` class="${cls}"` : ''}><td>${h(label)}</td><td class="num" data-authorizations="${key}">${fmt(n)}</td></tr>`;
  const unanswered = c.timed_out + c.unavailable;
  return `<table class="authorizations"><tr><th>Authorize calls</th><th class="num">n</th></tr>${[
    row('approved', 'approved', c.approved),
    row('declined', 'declined', c.declined),
    row('answered by the stand-in (decision too late)', 'stand_in', c.stand_in, c.stand_in > 0 ? 'warn' : ''),
    row('timed out (no answer inside the deadline)', 'timed_out', c.timed_out, c.timed_out > 0 ? 'warn' : ''),
    row('unavailable', 'unavailable', c.unavailable, c.unavailable > 0 ? 'warn' : ''),
    row('refused or failed otherwise', 'other', c.other),
    row('total', 'calls', c.calls, 'total'),
  ].join('')}</table>${
    unanswered + c.stand_in > 0
      ? `<p class="warn">${fmt(c.stand_in + unanswered)} of ${fmt(c.calls)} authorizations were not decided in time: the platform is overloaded for this load.</p>`
      : ''
  }`;
}

function unavailable(what: string, s: Scraped<unknown>): string {
  return s.ok ? '' : `<p class="warn">${h(what)} metrics unavailable (${h(s.url ?? 'no endpoint')}: ${h(s.error)})</p>`;
}

function latencySection(worker: Scraped<WorkerFigures>, api: Scraped<ApiFigures>): string {
  const parts: string[] = [];
  if (worker.ok)
    parts.push(
      `<div>${histogramChart('Authorization decision (worker: card rules + ledger hold)', worker.data.decision_ms, 'ms', '#3949ab')}${countsList(worker.data.decisions)}</div>`,
    );
  if (api.ok)
    parts.push(
      `<div>${histogramChart('Authorization answer (API: as the network sees it)', api.data.authorization_latency_ms, 'ms', '#00897b')}${countsList(api.data.answers)}${authorizationPanel(authorizationCounts(api.data))}</div>`,
    );
  return `${unavailable('worker', worker)}${unavailable('API', api)}<div class="row">${parts.join('')}</div>`;
}

function batchSection(worker: Scraped<WorkerFigures>): string {
  if (!worker.ok) return unavailable('worker', worker);
  return `<div class="row">${histogramChart('Transfers per ledger batch', worker.data.batch_transfers, 'transfers', '#5d4037')}${histogramChart(
    'Ledger batch write latency',
    worker.data.batch_latency_ms,
    'ms',
    '#6d4c41',
  )}</div>`;
}

function balancesChart(data: ReportData): string {
  // The issuance account mirrors every credit line granted and would dwarf the rest: table only.
  const rows = data.platform_balances.filter((b) => b.kind !== 'credit_line_issuance');
  if (rows.length === 0) return '';
  const width = 760;
  const labelW = 230;
  const rowH = 24;
  const half = (width - labelW - 20) / 2;
  const mid = labelW + half;
  const height = rows.length * rowH + 10;
  // Scaled per currency: amounts of different currencies are not comparable.
  const maxBy = new Map<string, number>();
  for (const r of rows) maxBy.set(r.currency, Math.max(maxBy.get(r.currency) ?? 0, Math.abs(Number(r.posted))));
  const bars = rows.map((r, i) => {
    const y = 5 + i * rowH;
    const v = Number(r.posted);
    const w = (maxBy.get(r.currency) ? Math.abs(v) / maxBy.get(r.currency)! : 0) * (half - 120); // room for the amount beside the longest bar
    const x = v < 0 ? mid - w : mid;
    return `<text x="${labelW - 8}" y="${y + rowH / 2}" class="label" text-anchor="end">${h(r.currency)} ${h(r.kind)}</text><rect x="${x.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${v < 0 ? '#c62828' : '#2e7d32'}"><title>${h(formatAmount(r.posted, r.currency))}</title></rect><text x="${(v < 0 ? mid + 4 : x + w + 4).toFixed(1)}" y="${y + rowH / 2}" class="label">${h(formatAmount(r.posted, r.currency))}</text>`;
  });
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="platform account balances"><line x1="${mid}" y1="0" x2="${mid}" y2="${height}" stroke="#999"/>${bars.join('')}</svg>`;
}

function ledgerSection(data: ReportData): string {
  const l = data.ledger;
  const totals = l.currencies.length
    ? `<table><tr><th>currency</th><th>debits posted</th><th>credits posted</th><th>debits pending</th><th>credits pending</th></tr>${l.currencies
        .map(
          (c) =>
            `<tr data-currency="${h(c.currency)}"><td>${h(c.currency)}</td><td class="num">${formatAmount(c.debits_posted, c.currency)}</td><td class="num">${formatAmount(
              c.credits_posted,
              c.currency,
            )}</td><td class="num">${formatAmount(c.debits_pending, c.currency)}</td><td class="num">${formatAmount(c.credits_pending, c.currency)}</td></tr>`,
        )
        .join('')}</table>`
    : '<p class="muted">no accounts yet</p>';
  const balances = data.platform_balances.length
    ? `<table><tr><th>account</th><th>posted (credits − debits)</th><th>pending</th></tr>${data.platform_balances
        .map(
          (b) =>
            `<tr data-account="${h(b.currency)}:${h(b.kind)}"><td>${h(b.currency)} ${h(b.kind)}<br><span class="muted id">${h(b.account_id)}</span></td><td class="num">${formatAmount(
              b.posted,
              b.currency,
            )}</td><td class="num">${formatAmount(b.pending, b.currency)}</td></tr>`,
        )
        .join('')}</table>`
    : '';
  const verdict = l.ok
    ? `<p class="verdict ok" data-verdict="ok">✔ Ledger invariants 1–4 hold (${fmt(l.accounts)} accounts, ${fmt(l.transfers)} transfers)</p>`
    : `<div class="verdict bad" data-verdict="violated"><p>✘ ${l.violations.length} ledger invariant violation(s)</p><ul>${l.violations
        .map((v) => `<li>[${v.invariant}] ${h(v.detail)}</li>`)
        .join('')}</ul></div>`;
  return `${verdict}<h3>Totals per currency</h3>${totals}<h3>Platform accounts</h3>${balancesChart(data)}${balances}`;
}

function attentionSection(data: ReportData): string {
  const a = data.attention;
  if (a.count === 0) return '<p class="ok" data-attention="0">No payment needs attention.</p>';
  const rows = a.listed
    .map(
      (p) =>
        `<tr><td class="id">${h(p.workflow_id)}</td><td>${h(p.kind ?? '')}</td><td>${h(p.status ?? '')}</td><td class="num">${
          p.amount_minor !== null && p.currency ? formatAmount(String(p.amount_minor), p.currency) : ''
        }</td><td>${h(p.started_at)}</td></tr>`,
    )
    .join('');
  const more = a.count > a.listed.length ? `<p class="muted">and ${a.count - a.listed.length} more</p>` : '';
  return `<p class="warn" data-attention="${a.count}">${a.count} payment(s) need attention (Web UI: <code>NeedsAttention = true</code>; runbook: docs/operations.md)</p>
<table><tr><th>workflow id</th><th>kind</th><th>status</th><th>amount</th><th>started</th></tr>${rows}</table>${more}`;
}

const CSS = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222;margin:24px auto;max-width:1000px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}h3{font-size:14px;margin:14px 0 6px}
.muted{color:#777}.id{font-family:ui-monospace,monospace;font-size:12px}code{font-family:ui-monospace,monospace;background:#f3f3f3;padding:0 3px}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.tile{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.tile b{display:block;font-size:24px}.row{display:flex;gap:16px;flex-wrap:wrap}.chart{margin-bottom:4px}
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;border-top:1px solid #999}.dot,.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin:4px 0 10px}
svg text{font-size:11px;fill:#333}svg text.label{font-size:13px;dominant-baseline:middle}svg text.seg{fill:#fff;text-anchor:middle;dominant-baseline:middle;font-weight:600}
svg text.count,svg text.tick{text-anchor:middle}.stats{font-size:12px;color:#444;margin:2px 0 10px}
.verdict{font-weight:600;padding:8px 12px;border-radius:6px}.verdict.ok,.tile.ok{background:#e8f5e9;color:#1b5e20}.verdict.bad,.tile.bad{background:#ffebee;color:#b71c1c}
.warn{color:#b71c1c}.ok{color:#1b5e20}`;

export function renderReport(data: ReportData): string {
  const finalShare = (k: KindOutcomes) =>
    Object.entries(k.by_status)
      .filter(([s]) => TERMINAL_STATUSES.has(s as PaymentStatus))
      .reduce((a, [, n]) => a + n, 0);
  const final = data.payments.kinds.reduce((a, k) => a + finalShare(k), 0);
  const tiles = [
    `<div class="tile">payments<b data-figure="payments">${fmt(data.payments.total)}</b>${fmt(final)} in a final state</div>`,
    `<div class="tile ${data.attention.count ? 'bad' : 'ok'}">need attention<b data-figure="attention">${fmt(data.attention.count)}</b></div>`,
    `<div class="tile ${data.ledger.ok ? 'ok' : 'bad'}">ledger<b data-figure="ledger">${data.ledger.ok ? 'OK' : `${data.ledger.violations.length} violation(s)`}</b>${fmt(
      data.ledger.transfers,
    )} transfers</div>`,
  ].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Card payments report ${h(data.generated_at)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${CSS}</style></head>
<body>
<h1>Card payments platform: report</h1>
<p class="muted">${h(data.generated_at)} · Temporal ${h(data.source.temporal)} (namespace ${h(data.source.namespace)}) · ${h(data.source.database)}${
    data.source.filter ? ` · payments matching <code>${h(data.source.filter)}</code>` : ''
  }</p>
<div class="tiles">${tiles}</div>
<h2>Payments by kind and status</h2>
${outcomesChart(data.payments.kinds)}
${outcomesLegend(data.payments.kinds)}
${outcomesTable(data.payments.kinds)}
<p class="muted">From Temporal visibility (search attributes PaymentKind, PaymentStatus); card payments stay open a while in their final state.</p>
<h2>Payments needing attention</h2>
${attentionSection(data)}
<h2>Authorization latency</h2>
${latencySection(data.worker, data.api)}
<p class="muted">Histograms since each process started (Prometheus buckets; a percentile is the bucket bound it falls under).</p>
<h2>Ledger batches</h2>
${batchSection(data.worker)}
<h2>Ledger</h2>
${ledgerSection(data)}
</body></html>
`;
}
