// One trace from an API call to Postgres: the gRPC Authorize call's server span, the Temporal
// client's update-with-start, the workflow's update handler (exported through the worker's sink),
// the decision activity, and the ledger batch that wrote the hold, all under one trace id, each a
// descendant of the call.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { installTracing } from '../../src/telemetry/tracing.js';
import { startApiHarness, type ApiHarness } from '../support/api.js';

const exporter = new InMemorySpanExporter();
const tracing = installTracing('tracing-test', new SimpleSpanProcessor(exporter));
const company = `co-${randomUUID().slice(0, 8)}`;
let api: ApiHarness & { key: string };

before(async () => {
  api = await startApiHarness('tracing', { companies: [company], tracing });
});
after(async () => {
  await api.close();
  await tracing.shutdown();
});

function ancestors(span: ReadableSpan, byId: Map<string, ReadableSpan>): ReadableSpan[] {
  const chain: ReadableSpan[] = [];
  for (let s: ReadableSpan | undefined = span, depth = 0; s && depth < 50; depth += 1) {
    chain.push(s);
    s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
  }
  return chain;
}

test('an Authorize call is one trace: API, Temporal client, workflow, activity, ledger batch', async () => {
  await api.ledger.CreateCreditLine({ company_id: company, currency: 'USD', limit_minor: '100000', grant_key: 'g1' });
  await api.cards.IssueCard({ card_id: `card-${company}`, company_id: company, currency: 'USD' });
  const tx = { payment_id: `txn-${randomUUID()}`, card_id: `card-${company}`, currency: 'USD', merchant: { mcc: '5411', name: 'Shop' } };
  exporter.reset();
  const { decision } = await api.payments.Authorize({ transaction: tx, amount_minor: '2500' }, { deadline_ms: 5_000 });
  assert.equal(decision.approved, true);
  // Workflow spans arrive through the worker's sink after the task completes.
  let spans: ReadableSpan[] = [];
  const deadline = Date.now() + 10_000;
  const root = () => spans.find((s) => s.name === 'rpc cardplatform.payments.v1.PaymentService/Authorize');
  const batch = () => spans.find((s) => s.name === 'ledger.batch' && s.spanContext().traceId === root()?.spanContext().traceId);
  while (Date.now() < deadline) {
    spans = exporter.getFinishedSpans();
    if (root() && batch() && spans.some((s) => s.name.startsWith('HandleUpdate'))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const call = root();
  assert.ok(call, `the API call has a span; got ${spans.map((s) => s.name).join(', ')}`);
  const traceId = call.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const byId = new Map(inTrace.map((s) => [s.spanContext().spanId, s]));
  const names = inTrace.map((s) => s.name);
  // The workflow's own run span ends when the payment closes (months later); the update it
  // handled is the workflow's part of this call.
  for (const expected of [
    /^UpdateWithStartWorkflow:authorize$/,
    /^HandleUpdate:authorize$/,
    /^RunActivity:authorizeCard$/,
    /^ledger\.batch$/,
  ]) {
    const span = inTrace.find((s) => expected.test(s.name));
    assert.ok(span, `a span matching ${expected} in the call's trace; got ${names.join(', ')}`);
    assert.ok(
      ancestors(span, byId).includes(call),
      `${span.name} descends from the API call: ${ancestors(span, byId)
        .map((s) => s.name)
        .join(' <- ')}`,
    );
  }
  const ledgerBatch = batch()!;
  assert.equal(ledgerBatch.attributes['db.system'], 'postgresql');
  assert.ok(Number(ledgerBatch.attributes['ledger.transfers']) >= 1);
});
