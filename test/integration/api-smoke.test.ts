// The API server answers the same services over gRPC (grpc-js, in test/support/api.ts), gRPC-Web and
// Connect JSON.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-node';
import { CardService } from '../../src/gen/cardplatform/cards/v1/cards_pb.js';
import { startApiHarness, type ApiHarness } from '../support/api.js';

let api: ApiHarness & { key: string };
const company = `co-${randomUUID().slice(0, 8)}`;
before(async () => {
  api = await startApiHarness('api-smoke', { companies: [company] });
});
after(async () => {
  await api.close();
});

test('smoke: credit line, card, authorize, clear, get', async () => {
  const { account } = await api.ledger.CreateCreditLine({ company_id: company, currency: 'USD', limit_minor: '100000', grant_key: 'g1' });
  assert.equal(account.available_minor, '100000');
  const { card } = await api.cards.IssueCard({ card_id: `card-${company}`, company_id: company, currency: 'USD' });
  assert.equal(card.status, 'CARD_STATUS_ACTIVE');
  const tx = { payment_id: `txn-${randomUUID()}`, card_id: card.card_id, currency: 'USD', merchant: { mcc: '5411', name: 'Shop' } };
  const { decision } = await api.payments.Authorize({ transaction: tx, amount_minor: '2500' }, { deadline_ms: 2_000 });
  assert.equal(decision.approved, true, JSON.stringify(decision));
  const { payment } = await api.payments.Clear({ transaction: tx, event_id: 'c1', amount_minor: '2500' });
  assert.equal(payment.status, 'SETTLED');
  const got = await api.payments.GetPayment({ payment_id: tx.payment_id });
  assert.equal(got.payment.posted_minor, '2500');
  await assert.rejects(api.payments.GetPayment({ payment_id: tx.payment_id }, { key: null }), /UNAUTHENTICATED/);
});

test('the same server speaks gRPC-Web (HTTP/1.1) and Connect JSON, not only gRPC', async () => {
  const card_id = `card-${company}`;
  const auth =
    (next: Parameters<Interceptor>[0]): ReturnType<Interceptor> =>
    (req) => {
      req.header.set('authorization', `Bearer ${api.key}`);
      return next(req);
    };
  const grpcWeb = createClient(CardService, createGrpcWebTransport({ baseUrl: api.server.url, httpVersion: '1.1', interceptors: [auth] }));
  const viaGrpcWeb = await grpcWeb.getCard({ cardId: card_id });
  assert.equal(viaGrpcWeb.card?.companyId, company);
  await assert.rejects(grpcWeb.getCard({ cardId: 'card-nobody-has' }), (err: ConnectError) => err.code === Code.NotFound);

  const viaJson = await fetch(`${api.server.url}/cardplatform.cards.v1.CardService/GetCard`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.key}` },
    body: JSON.stringify({ cardId: card_id }),
  });
  assert.equal(viaJson.status, 200);
  assert.equal(((await viaJson.json()) as { card: { companyId: string } }).card.companyId, company);
});
