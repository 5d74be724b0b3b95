// The Web UI's payment views (src/domain/payment-views.ts): their queries, the links that open and
// save them, bad input refused, and docs/operations.md listing exactly the views and columns the
// code prints.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../src/config.js';
import { PAYMENT_COLUMNS, PAYMENT_VIEWS, paymentViewUrl, paymentViewsFor } from '../../src/domain/payment-views.js';
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes.js';

describe('payment views', () => {
  test('every column is a registered search attribute; the finished view lists exactly the final statuses', () => {
    const registered = SEARCH_ATTRIBUTES.map((k) => k.name);
    for (const column of PAYMENT_COLUMNS) assert.ok(registered.includes(column), column);
    const finished = PAYMENT_VIEWS.find((v) => v.name === 'Finished payments')!;
    assert.match(finished.query, /PaymentStatus IN \('DECLINED', 'SETTLED', 'COMPENSATED', 'EXPIRED', 'REVERSED', 'REFUNDED'\)/);
    const open = PAYMENT_VIEWS.find((v) => v.name === 'Payments in progress')!;
    assert.equal(
      open.query,
      finished.query
        .replace('PaymentStatus IN', 'PaymentStatus NOT IN')
        .replace("ExecutionStatus = 'Completed'", "ExecutionStatus = 'Running'"),
    );
    // A card payment without PaymentStatus (IMPLIED_CARD_STATUS): finished once Completed, in progress while Running.
    assert.match(finished.query, /OR \(PaymentKind = 'card' AND PaymentStatus IS NULL AND ExecutionStatus = 'Completed'\)\)$/);
  });

  test("a company's views add its filter to each query and name it", () => {
    const views = paymentViewsFor('acme');
    assert.equal(views.length, PAYMENT_VIEWS.length);
    for (const [i, v] of views.entries()) {
      assert.equal(v.query, `${PAYMENT_VIEWS[i]!.query} AND CompanyId = 'acme'`);
      assert.equal(v.name, `${PAYMENT_VIEWS[i]!.name} of acme`);
    }
  });

  test('a company id that could change the query is refused, naming the rule', () => {
    for (const bad of ["acme' OR 'x' = 'x", 'acme co', '', 'a'.repeat(65)]) {
      assert.throws(() => paymentViewsFor(bad), /^Error: company /, bad);
    }
  });

  test('the link opens the view on the namespace, and saves it only when asked', () => {
    const view = PAYMENT_VIEWS[1]!;
    const saving = new URL(paymentViewUrl('http://127.0.0.1:8233', 'default', view, true));
    assert.equal(saving.origin + saving.pathname, 'http://127.0.0.1:8233/namespaces/default/workflows');
    assert.equal(saving.searchParams.get('query'), view.query);
    assert.equal(saving.searchParams.get('savedQuery'), view.name);
    const plain = new URL(paymentViewUrl('http://ui.example:8080/temporal/', 'payments prod', view, false));
    assert.equal(plain.pathname, '/temporal/namespaces/payments%20prod/workflows');
    assert.equal(plain.searchParams.get('savedQuery'), null);
    assert.throws(() => paymentViewUrl('file:///etc', 'default', view, false), /must be http\(s\)/);
  });

  test('docs/operations.md lists the same views and columns', () => {
    const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const block = /<!-- payment-views:begin -->([\s\S]*?)<!-- payment-views:end -->/.exec(doc)?.[1];
    assert.ok(block, 'docs/operations.md has the payment-views block');
    const rows = block
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .slice(2)
      .map((l) => l.split('|').map((c) => c.trim()))
      .map(([, name, query]) => ({ name: name!, query: query!.replace(/^`|`$/g, '') }));
    assert.deepEqual(rows, PAYMENT_VIEWS);
    const columns = /in this order:\s*([^\n]+(?:\n[^\n<]+)*)/.exec(block)?.[1]?.match(/`([A-Za-z]+)`/g);
    assert.deepEqual(
      columns?.map((c) => c.slice(1, -1)),
      [...PAYMENT_COLUMNS],
    );
  });
});
