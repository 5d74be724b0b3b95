// The report (src/report/): payouts and card payments with known outcomes on a harness worker, the
// API's metrics served by its real registry, the worker's endpoint unreachable; the page shows the
// right counts, the flagged payment's id, the latency histogram, the ledger totals and balances,
// and the verifier's verdict, with no script and no external asset.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { authorizeCardPayment, clearCardPayment } from '../../src/api/card-payments.js';
import { startPayout } from '../../src/api/payments.js';
import { createApiMetrics, serveMetrics } from '../../src/api/rpc/metrics.js';
import { DEFAULT_CARD_OPTIONS, type CardPayment } from '../../src/domain/card.js';
import { openCreditLine, platformAccount } from '../../src/ledger/accounts.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { collectReport, type ReportData } from '../../src/report/collect.js';
import { formatAmount, renderReport } from '../../src/report/render.js';
import { REJECTED_ACCOUNT_PREFIX } from '../../src/settlement/simulator.js';
import { freePort } from '../../src/stack/ports.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

let h: PaymentsHarness;
let metrics: { url: string; close(): Promise<void> };

before(async () => {
  // A bank answering in 1.5 s: a payout allowed 300 ms before it is flagged gets flagged.
  h = await startPaymentsHarness('report', { simulator: { latency_ms: 1_500 } });
  const api = createApiMetrics();
  for (const latency_ms of [7, 30, 30, 120]) api.authorization({ approved: true, reason: 'none', stand_in: false, latency_ms });
  api.authorization({ approved: false, reason: 'insufficient_funds', stand_in: false, latency_ms: 40 });
  metrics = await serveMetrics(api.registry, { host: '127.0.0.1', port: 0 });
});
after(async () => {
  await metrics?.close();
  await h?.close();
});

/** The text of the element carrying these data attributes. */
function cell(html: string, attrs: string): string | undefined {
  return new RegExp(`<[a-z]+[^>]* ${attrs}[^>]*>([^<]*)<`).exec(html)?.[1];
}

test('the report shows outcomes, attention, latency, ledger totals, balances and the verdict', async () => {
  const company_id = `report-${randomUUID().slice(0, 8)}`;
  const account_id = await openCreditLine(h.ledger, { company_id, currency: 'USD', limit_minor: 100_000, grant_key: 'initial' });
  const payout = (amount_minor: number, bank_account = 'GB29NWBK60161331926819') => ({
    payment_id: `report-payout-${randomUUID()}`,
    company_id,
    account_id,
    amount_minor,
    currency: 'USD' as const,
    payee: { name: 'Paper Supplies Ltd', bank_account },
  });
  const flagged = payout(3_000);
  const payouts = await Promise.all([
    startPayout(h.client, payout(12_000), h.task_queue),
    startPayout(h.client, payout(5_000, `${REJECTED_ACCOUNT_PREFIX}0000000042`), h.task_queue),
    startPayout(h.client, flagged, h.task_queue, { settlement_attention_after_ms: 300 }),
    startPayout(h.client, payout(500_000), h.task_queue),
  ]);
  const finals = await Promise.all(payouts.map((p) => p.handle.result()));
  assert.deepEqual(
    finals.map((s) => s.status),
    ['SETTLED', 'COMPENSATED', 'SETTLED', 'DECLINED'],
  );
  assert.equal(finals[2]!.needs_attention, true, finals[2]!.timeline.map((e) => e.event).join(', '));

  const card = await h.cards.issue({
    card_id: `report-card-${randomUUID().slice(0, 8)}`,
    company_id,
    currency: 'USD',
    account_id,
    transaction_limit_minor: null,
    blocked_mccs: [],
  });
  const purchase = (): CardPayment => ({
    payment_id: `report-txn-${randomUUID()}`,
    card_id: card.card_id,
    currency: 'USD',
    merchant: { mcc: '5812', name: 'Cafe Rio' },
  });
  const options = { task_queue: h.task_queue, workflow: { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 } };
  const inTime = (amount_minor: number) => ({ amount_minor, deadline_at_ms: Date.now() + 10_000, stand_in: 'decline' as const });
  const cleared = purchase();
  assert.equal((await authorizeCardPayment(h.client, cleared, inTime(2_500), options)).approved, true);
  assert.equal((await clearCardPayment(h.client, cleared, { event_id: 'clr-1', amount_minor: 2_500 }, options)).status, 'SETTLED');
  assert.equal((await authorizeCardPayment(h.client, purchase(), inTime(900_000), options)).approved, false);

  // Visibility lags the workflows a little: collect until it has caught up.
  const collect = async () =>
    collectReport({
      client: h.client,
      pool: h.pool,
      ledger: h.ledger,
      source: { temporal: 'test', namespace: 'default', database: 'test' },
      filter: `TaskQueue = "${h.task_queue}"`,
      metrics: { worker: `http://127.0.0.1:${await freePort()}/metrics`, api: metrics.url },
    });
  const expected = { payout: { SETTLED: 2, COMPENSATED: 1, DECLINED: 1 }, card: { SETTLED: 1, DECLINED: 1 } };
  const seen = (d: ReportData) =>
    Object.fromEntries(
      d.payments.kinds.map((k) => [k.kind, Object.fromEntries(Object.entries(k.by_status).filter(([, n]) => n > 0))]),
    ) as Record<string, Record<string, number>>;
  let data = await collect();
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; data = await collect()) {
    const s = seen(data);
    if (
      JSON.stringify(s.payout) === JSON.stringify(expected.payout) &&
      JSON.stringify(s.card) === JSON.stringify(expected.card) &&
      data.attention.count === 1
    )
      break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.deepEqual(seen(data), { card: expected.card, payout: expected.payout }, 'visibility counts by kind and status');
  assert.equal(data.payments.total, 6);
  assert.equal(data.attention.count, 1);
  assert.equal(data.attention.listed[0]?.workflow_id, `payment-${flagged.payment_id}`);

  const html = renderReport(data);
  // Self-contained: no script, nothing fetched.
  assert.doesNotMatch(html, /<script|<link|\bsrc=|url\(|@import/i);
  assert.match(html, /^<!doctype html>/);
  assert.ok((html.match(/<svg /g) ?? []).length >= 3, 'charts are inline SVG');

  // Outcomes.
  assert.equal(cell(html, 'data-figure="payments"'), '6');
  assert.equal(cell(html, 'data-kind="payout" data-status="SETTLED"'), '2');
  assert.equal(cell(html, 'data-kind="payout" data-status="COMPENSATED"'), '1');
  assert.equal(cell(html, 'data-kind="payout" data-status="DECLINED"'), '1');
  assert.equal(cell(html, 'data-kind="payout" data-status="total"'), '4');
  assert.equal(cell(html, 'data-kind="card" data-status="SETTLED"'), '1');
  assert.equal(cell(html, 'data-kind="card" data-status="DECLINED"'), '1');
  assert.equal(cell(html, 'data-kind="card" data-status="total"'), '2');

  // Attention, with the payment's id.
  assert.equal(cell(html, 'data-figure="attention"'), '1');
  assert.ok(html.includes(`payment-${flagged.payment_id}`), 'the flagged payout is listed by id');

  // Latency: the API's five answers (7, 30, 30, 40, 120 ms) in its buckets; the worker's endpoint is down.
  assert.ok(data.api.ok, JSON.stringify(data.api));
  const apiLatency = data.api.data.authorization_latency_ms!;
  const bucket = (le: number) => apiLatency.counts[apiLatency.bounds.indexOf(le)];
  assert.deepEqual([bucket(10), bucket(50), bucket(150), bucket(Infinity)], [1, 3, 1, 0]);
  assert.equal(data.api.data.authorization_latency_ms?.count, 5);
  assert.deepEqual(data.api.data.answers, { approved: 4, declined: 1 });
  assert.match(html, /Authorization answer \(API[^<]*<\/h3>\s*<svg/);
  assert.match(html, /n = <b>5<\/b>/);
  assert.equal(data.worker.ok, false);
  assert.match(html, /worker metrics unavailable \(http:\/\/127\.0\.0\.1:\d+\/metrics: /);

  // Ledger: the verifier's figures per currency, formatted, and the platform balances.
  const ledger = await verifyLedger(h.pool);
  assert.ok(ledger.ok);
  const usd = ledger.currencies.find((c) => c.currency === 'USD')!;
  assert.ok(html.includes(`<td class="num">${formatAmount(usd.debits_posted, 'USD')}</td>`), 'USD posted debits');
  assert.ok(html.includes(`<td class="num">${formatAmount(usd.credits_posted, 'USD')}</td>`), 'USD posted credits');
  assert.equal(cell(html, 'data-verdict="ok"')?.startsWith('✔ Ledger invariants 1–4 hold'), true);
  assert.equal(cell(html, 'data-figure="ledger"'), 'OK');
  // This test's database is its own: the credit line granted 1,000.00 USD, the banks were paid
  // 12,000 + 3,000 minor units (the rejected payout reversed), the network is owed the 25.00 USD purchase.
  const balance = (kind: Parameters<typeof platformAccount>[0]) =>
    data.platform_balances.find((b) => b.kind === kind && b.currency === 'USD');
  assert.equal(balance('credit_line_issuance')?.posted, '-100000');
  assert.equal(Math.abs(Number(balance('settlement_bank')?.posted)), 15_000);
  assert.equal(balance('payouts_payable')?.posted, '0');
  assert.equal(Math.abs(Number(balance('network_payable')?.posted)), 2_500);
  assert.ok(html.includes(formatAmount('-100000', 'USD')) && html.includes('-1,000.00 USD'));
  assert.ok(html.includes('150.00 USD') && html.includes('25.00 USD'));
});

test('amounts are formatted exactly, whatever their size', () => {
  assert.equal(formatAmount('0', 'USD'), '0.00 USD');
  assert.equal(formatAmount('-5', 'EUR'), '-0.05 EUR');
  assert.equal(formatAmount('123456789012345678', 'USD'), '1,234,567,890,123,456.78 USD');
  assert.equal(formatAmount('1500', 'JPY'), '1,500 JPY');
});
