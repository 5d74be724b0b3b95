// The API with its database or its Temporal server gone: a second API server whose pool points at
// a closed port, and one whose Temporal connection does. Calls that need the missing dependency
// answer UNAVAILABLE (never INTERNAL) within their deadline, write nothing, and the same request
// against the healthy server, with the same ids, then succeeds once.
import { createStatementStore } from '../../src/ledger/statements.js';
import { createStandInAdviceStore } from '../../src/api/stand-in-advices.js';
import { apiTemporalConnectionOptions } from '../../src/api/temporal-connection.js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { createCardStore } from '../../src/cards/cards.js';
import { createApiKeyStore } from '../../src/api/keys.js';
import { startApiServer } from '../../src/api/rpc/server.js';
import { DEFAULT_CARD_OPTIONS } from '../../src/domain/card.js';
import { createPool } from '../../src/ledger/db.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { grpcClients, startApiHarness, type ApiHarness } from '../support/api.js';

const uid = () => randomUUID().slice(0, 8);
const company = `co-un-${uid()}`;
let api: ApiHarness & { key: string };
const closers: Array<() => Promise<void> | void> = [];

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function outcome(call: Promise<unknown>): Promise<{ code: string; ms: number; answer?: any }> {
  const started = Date.now();
  try {
    const answer = await call;
    return { code: 'OK', ms: Date.now() - started, answer };
  } catch (err) {
    return { code: grpc.status[(err as grpc.ServiceError).code]!, ms: Date.now() - started };
  }
}

async function transferCount(): Promise<number> {
  const { rows } = await api.h.pool.query<{ n: string }>('SELECT count(*) AS n FROM ledger.transfers');
  return Number(rows[0]!.n);
}

const log = pino({ level: 'silent' });
const deps = () => ({
  task_queue: api.h.task_queue,
  payout_options: { settlement_attention_after_ms: 3_600_000 },
  card_options: { ...DEFAULT_CARD_OPTIONS, linger_ms: 60_000 },
  log,
});

before(async () => {
  api = await startApiHarness('api-unavailable', { companies: [company] });
  await api.ledger.CreateCreditLine({ company_id: company, currency: 'USD', limit_minor: '100000', grant_key: 'initial' });
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await api?.close();
});

const DEADLINE_MS = 8_000;

test('the database down: UNAVAILABLE within the deadline, then the same ids succeed once', async () => {
  const deadPool = createPool(`postgres://postgres:x@127.0.0.1:${await closedPort()}/payments`, {
    connections_max: 2,
    application_name: 'api-dead-db',
  });
  closers.push(() => deadPool.end());
  // Keys still verify (their store is healthy); the ledger and the cards are gone.
  const server = await startApiServer(
    {
      ...deps(),
      client: api.h.client,
      ledger: createLedger(deadPool),
      cards: createCardStore(deadPool),
      stand_in_advices: createStandInAdviceStore(deadPool),
      statements: createStatementStore(deadPool),
      keys: api.keys,
    },
    { host: '127.0.0.1', port: 0 },
  );
  closers.push(() => server.close());
  const down = grpcClients(server.port, api.key);
  closers.push(() => down.close());
  const card_id = `card-${uid()}`;
  const tx = { payment_id: `txn-${randomUUID()}`, card_id, currency: 'USD', merchant: { mcc: '5411', name: 'Shop' } };
  const transfersBefore = await transferCount();
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['IssueCard', () => down.cards.IssueCard({ card_id, company_id: company, currency: 'USD' }, { deadline_ms: DEADLINE_MS })],
    ['GetCard', () => down.cards.GetCard({ card_id }, { deadline_ms: DEADLINE_MS })],
    [
      'CreateCreditLine',
      () =>
        down.ledger.CreateCreditLine(
          { company_id: company, currency: 'USD', limit_minor: '500', grant_key: 'more' },
          { deadline_ms: DEADLINE_MS },
        ),
    ],
    ['GetAccount', () => down.ledger.GetAccount({ account_id: '00000000-0000-4000-8000-000000000000' }, { deadline_ms: DEADLINE_MS })],
    ['Authorize', () => down.payments.Authorize({ transaction: tx, amount_minor: '100' }, { deadline_ms: DEADLINE_MS })],
  ];
  // UNAVAILABLE is the server's own answer: a late one would reach the caller as DEADLINE_EXCEEDED,
  // so the code alone proves it came within the deadline (no wall-clock bound to flake on a busy
  // machine).
  for (const [what, call] of calls) {
    const { code, ms } = await outcome(call());
    assert.equal(code, 'UNAVAILABLE', `${what}: ${code} after ${ms} ms`);
  }
  // Every key lookup needs the database too: with the key store down, calls are UNAVAILABLE, not
  // refused as unauthenticated.
  const noKeys = await startApiServer(
    {
      ...deps(),
      client: api.h.client,
      ledger: api.h.ledger,
      cards: api.h.cards,
      statements: createStatementStore(api.h.pool),
      keys: createApiKeyStore(deadPool),
      stand_in_advices: createStandInAdviceStore(api.h.pool),
    },
    { host: '127.0.0.1', port: 0 },
  );
  closers.push(() => noKeys.close());
  const noKeysClients = grpcClients(noKeys.port, api.key);
  closers.push(() => noKeysClients.close());
  assert.equal((await outcome(noKeysClients.cards.GetCard({ card_id }, { deadline_ms: DEADLINE_MS }))).code, 'UNAVAILABLE');
  assert.equal(await transferCount(), transfersBefore, 'nothing written');

  // The same requests against the healthy server: each has its effect once.
  const issued = await api.cards.IssueCard({ card_id, company_id: company, currency: 'USD' });
  assert.equal(issued.card.card_id, card_id);
  const more = await api.ledger.CreateCreditLine({ company_id: company, currency: 'USD', limit_minor: '500', grant_key: 'more' });
  assert.equal(more.account.credits_posted, '100500');
  const again = await api.ledger.CreateCreditLine({ company_id: company, currency: 'USD', limit_minor: '500', grant_key: 'more' });
  assert.equal(again.account.credits_posted, '100500');
  const { decision } = await api.payments.Authorize({ transaction: tx, amount_minor: '100' });
  assert.equal(decision.approved, true);
  assert.equal((await api.payments.Authorize({ transaction: tx, amount_minor: '100' })).decision.held_minor, '100');
  await api.payments.Reverse({ payment_id: tx.payment_id, event_id: 'r' });
  const report = await verifyLedger(api.h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
});

test('Temporal down: UNAVAILABLE (or the stand-in for an authorization) within the deadline, then the same ids succeed once', async () => {
  // The API's own connection options (src/api/temporal-connection.ts): fail fast, no long retries.
  const connection = await Connection.lazy(apiTemporalConnectionOptions(`127.0.0.1:${await closedPort()}`));
  closers.push(() => connection.close());
  const client = new Client({ connection, namespace: 'default' });
  const server = await startApiServer(
    {
      ...deps(),
      client,
      ledger: api.h.ledger,
      cards: api.h.cards,
      statements: createStatementStore(api.h.pool),
      keys: api.keys,
      stand_in_advices: createStandInAdviceStore(api.h.pool),
    },
    { host: '127.0.0.1', port: 0 },
  );
  closers.push(() => server.close());
  const down = grpcClients(server.port, api.key);
  closers.push(() => down.close());
  const card_id = `card-${uid()}`;
  await api.cards.IssueCard({ card_id, company_id: company, currency: 'USD' });
  const tx = { payment_id: `txn-${randomUUID()}`, card_id, currency: 'USD', merchant: { mcc: '5411', name: 'Shop' } };
  const payout = {
    payment_id: `po-${randomUUID()}`,
    company_id: company,
    amount_minor: '700',
    currency: 'USD',
    payee: { name: 'Acme', bank_account: 'DE89370400440532013000' },
  };
  const transfersBefore = await transferCount();
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['Payout', () => down.payments.Payout(payout, { deadline_ms: DEADLINE_MS })],
    ['GetPayment', () => down.payments.GetPayment({ payment_id: payout.payment_id }, { deadline_ms: DEADLINE_MS })],
    ['Clear', () => down.payments.Clear({ transaction: tx, event_id: 'c', amount_minor: '100' }, { deadline_ms: DEADLINE_MS })],
    [
      'Increment',
      () => down.payments.Increment({ payment_id: tx.payment_id, event_id: 'i', amount_minor: '1' }, { deadline_ms: DEADLINE_MS }),
    ],
    ['ListPayments', () => down.payments.ListPayments({}, { deadline_ms: DEADLINE_MS })],
    ['ListTransfers', () => down.ledger.ListTransfers({ payment_id: payout.payment_id }, { deadline_ms: DEADLINE_MS })],
  ];
  // The API gives up on an unreachable Temporal after a few quick attempts: UNAVAILABLE, safe to
  // retry with the same ids. The code is the proof that it answered inside the caller's deadline
  // (a late answer reaches the caller as DEADLINE_EXCEEDED), not a wall-clock bound.
  const started = await Promise.all(calls.map(async ([what, call]) => ({ what, ...(await outcome(call())) })));
  for (const { what, code, ms } of started) {
    assert.equal(code, 'UNAVAILABLE', `${what}: ${code} after ${ms} ms`);
  }
  // An authorization with the network's 2 s deadline: UNAVAILABLE within it (the network then
  // stands in), never a late answer.
  const auth = await outcome(down.payments.Authorize({ transaction: tx, amount_minor: '100' }, { deadline_ms: 2_000 }));
  assert.equal(auth.code, 'UNAVAILABLE', JSON.stringify(auth));
  // A patient caller hears the same, and is not kept waiting for its whole deadline: the API's
  // attempts are bounded (API_TEMPORAL_ATTEMPTS_MAX), not stretched to the caller's time.
  const patient = await outcome(down.payments.GetPayment({ payment_id: payout.payment_id }, { deadline_ms: 40_000 }));
  assert.equal(patient.code, 'UNAVAILABLE', `GetPayment with a long deadline, after ${patient.ms} ms`);
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(await transferCount(), transfersBefore, 'nothing written');

  const first = await api.payments.Payout(payout);
  assert.equal(first.started, true);
  assert.equal((await api.payments.Payout(payout)).started, false);
  const cleared = await api.payments.Clear({ transaction: tx, event_id: 'c', amount_minor: '100' });
  assert.equal(cleared.payment.posted_minor, '100');
  assert.equal((await api.payments.Clear({ transaction: tx, event_id: 'c', amount_minor: '100' })).payment.posted_minor, '100');
  const deadline = Date.now() + 15_000;
  while ((await api.payments.GetPayment({ payment_id: payout.payment_id })).payment.status !== 'SETTLED') {
    assert.ok(Date.now() < deadline, 'the payout settles');
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows } = await api.h.pool.query('SELECT count(*)::int AS n FROM ledger.transfers WHERE payment_id = $1 AND flags & 2 = 2', [
    payout.payment_id,
  ]);
  assert.equal(rows[0].n, 1, 'one hold for the payout');
  const report = await verifyLedger(api.h.pool);
  assert.ok(report.ok, JSON.stringify(report.violations));
});
