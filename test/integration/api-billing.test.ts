// BillingService over gRPC (an independent grpc-js client): starting a company's billing, its
// statements and a repayment; tenancy (another company's statement is NOT_FOUND) and validation
// (INVALID_ARGUMENT naming the field, nothing written).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startApiHarness, type ApiHarness } from '../support/api.js';

async function outcome(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
    return { code: 'OK', message: '' };
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (typeof e.code !== 'number') throw err;
    return { code: grpc.status[e.code]!, message: e.details };
  }
}

describe('BillingService', () => {
  const mine = `bill-${randomUUID().slice(0, 8)}`;
  const theirs = `other-${randomUUID().slice(0, 8)}`;
  let api: ApiHarness & { key: string };
  let theirKey: string;
  before(async () => {
    api = await startApiHarness('api-billing', { companies: [mine], callbacks: true });
    theirKey = (await api.keys.create({ name: 'theirs', company_ids: [theirs] })).api_key;
    await api.ledger.CreateCreditLine({ company_id: mine, currency: 'USD', limit_minor: '100000', grant_key: 'initial' });
    await api.ledger.CreateCreditLine(
      { company_id: theirs, currency: 'USD', limit_minor: '100000', grant_key: 'initial' },
      { key: theirKey },
    );
  });
  after(async () => {
    await api.close();
  });

  test('start, a statement closes, a repayment by transfer; the same start again is harmless', async () => {
    const policy = { cycle: { fixed_length_ms: '3000' }, due_after_ms: '500', grace_ms: '1000', cutoff_lag_ms: '100' };
    const started = await api.billing.StartBilling({ company_id: mine, currency: 'USD', policy });
    assert.deepEqual(started, { started: true, workflow_id: `billing-${mine}-USD` });
    assert.equal((await api.billing.StartBilling({ company_id: mine, currency: 'USD', policy })).started, false);
    const receipt = await api.billing.RecordRepayment({
      company_id: mine,
      currency: 'USD',
      idempotency_key: 'wire-1',
      amount_minor: '700',
    });
    assert.equal(receipt.created, true);
    assert.equal(receipt.amount_minor, '700');
    // Waits for the first statement to be paid (its close, then its status, are separate writes).
    let statements: Array<Record<string, unknown>> = [];
    const deadline = Date.now() + 120_000;
    while (statements.at(-1)?.status !== 'STATEMENT_STATUS_PAID') {
      assert.ok(Date.now() < deadline, `statement 1 paid: ${JSON.stringify(statements)}`);
      await new Promise((r) => setTimeout(r, 200));
      statements = (await api.billing.ListStatements({ company_id: mine, currency: 'USD' })).statements;
    }
    const first = statements.at(-1)!;
    assert.equal(first.statement_id, `${mine}/USD/1`);
    // The repayment before the close is in the statement: the company is 700 in credit.
    assert.equal(first.repayments_minor, '700');
    assert.equal(first.closing_balance_minor, '-700');
    assert.equal(first.status, 'STATEMENT_STATUS_PAID');
    const got = await api.billing.GetStatement({ statement_id: `${mine}/USD/1` });
    assert.equal(got.statement.closing_balance_minor, '-700');
    assert.ok(got.statement.events.some((e: { type: string }) => e.type === 'statement.closed'));
    const again = await api.billing.RecordRepayment({ company_id: mine, currency: 'USD', idempotency_key: 'wire-1', amount_minor: '700' });
    assert.equal(again.created, false);
    assert.equal(
      (await outcome(api.billing.RecordRepayment({ company_id: mine, currency: 'USD', idempotency_key: 'wire-1', amount_minor: '701' })))
        .code,
      'ALREADY_EXISTS',
    );
  });

  test("another company's statements are NOT_FOUND; bad input is INVALID_ARGUMENT naming the field", async () => {
    assert.equal((await outcome(api.billing.GetStatement({ statement_id: `${mine}/USD/1` }, { key: theirKey }))).code, 'NOT_FOUND');
    assert.equal((await outcome(api.billing.ListStatements({ company_id: mine }, { key: theirKey }))).code, 'NOT_FOUND');
    assert.equal(
      (
        await outcome(
          api.billing.RecordRepayment({ company_id: mine, currency: 'USD', idempotency_key: 'x', amount_minor: '1' }, { key: theirKey }),
        )
      ).code,
      'NOT_FOUND',
    );
    assert.equal((await outcome(api.billing.StartBilling({ company_id: theirs, currency: 'USD' }))).code, 'NOT_FOUND');
    for (const [call, field] of [
      [() => api.billing.GetStatement({ statement_id: 'nonsense' }), 'statement_id'],
      [() => api.billing.RecordRepayment({ company_id: mine, currency: 'USD', idempotency_key: 'k', amount_minor: '0' }), 'amount_minor'],
      [
        () => api.billing.RecordRepayment({ company_id: mine, currency: 'USD', idempotency_key: 'bad key', amount_minor: '5' }),
        'idempotency_key',
      ],
      [() => api.billing.RecordRepayment({ company_id: mine, currency: 'XYZ', idempotency_key: 'k', amount_minor: '5' }), 'currency'],
      [
        () =>
          api.billing.StartBilling({
            company_id: mine,
            currency: 'USD',
            policy: { cycle: { fixed_length_ms: '3000' }, due_after_ms: '5000' },
          }),
        'due_after_ms',
      ],
      [() => api.billing.ListStatements({ company_id: mine, page_size: 1000 }), 'page_size'],
    ] as const) {
      const { code, message } = await outcome(call());
      assert.equal(code, 'INVALID_ARGUMENT', `${field}: ${code} ${message}`);
      assert.match(message, new RegExp(field));
    }
    // A company without a running billing: FAILED_PRECONDITION, nothing posted.
    const { code } = await outcome(
      api.billing.RecordRepayment({ company_id: theirs, currency: 'USD', idempotency_key: 'k', amount_minor: '5' }, { key: theirKey }),
    );
    assert.equal(code, 'FAILED_PRECONDITION');
  });
});
