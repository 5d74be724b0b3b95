// Payloads stay secret: payments run through the platform's encrypting data converter, and their
// histories, read straight from the server with no codec, show no amount, company, card, payee or
// bank account in clear: not in inputs, results, signals, updates, summaries, nor failures (a
// payout the bank rejects fails an activity; its message is encrypted too).
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes.js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { authorizeCardPayment, clearCardPayment } from '../../src/api/card-payments.js';
import { startPayout } from '../../src/api/payments.js';
import { DEFAULT_CARD_OPTIONS } from '../../src/domain/card.js';
import { paymentWorkflowId, type PayoutRequest } from '../../src/domain/payment.js';
import { openCreditLine } from '../../src/ledger/accounts.js';
import { REJECTED_ACCOUNT_PREFIX } from '../../src/settlement/simulator.js';
import { testEnv } from '../support/env.js';
import { startPaymentsHarness, type PaymentsHarness } from '../support/payments.js';

type History = proto.temporal.api.history.v1.IHistory;
const History = proto.temporal.api.history.v1.History;

let h: PaymentsHarness;
let raw: Connection;
const run = randomUUID().slice(0, 8);
const company_id = `enc-co-${run}`;
const card_id = `enc-card-${run}`;
const payee = `Secret Supplier ${run}`;
const bank_account = `DE89SECRET${run.toUpperCase()}`;
/** Amounts unlikely to occur by chance, as JSON writes them and as the summaries format them. */
const AMOUNTS = [73_519, 38_217, 58_293];
const histories = new Map<string, History>();

/** The history as the server stores it: a plain connection, no data converter. */
async function rawHistory(workflowId: string): Promise<History> {
  const events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await raw.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
      ...(nextPageToken?.length ? { nextPageToken } : {}),
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken ?? undefined;
  } while (nextPageToken?.length);
  return { events };
}

function secrets(): string[] {
  return [company_id, card_id, payee, bank_account, ...AMOUNTS.flatMap((a) => [String(a), (a / 100).toFixed(2)])];
}

/** Every secret found in these bytes. */
function inClear(bytes: Uint8Array): string[] {
  const buf = Buffer.from(bytes);
  return secrets().filter((s) => buf.includes(s));
}

/** The history without its search attributes (stored in clear by design; checked separately). */
function withoutSearchAttributes(history: History): Uint8Array {
  const copy = History.decode(History.encode(history).finish());
  for (const e of copy.events) {
    if (e.workflowExecutionStartedEventAttributes) e.workflowExecutionStartedEventAttributes.searchAttributes = null;
    if (e.upsertWorkflowSearchAttributesEventAttributes) e.upsertWorkflowSearchAttributesEventAttributes.searchAttributes = null;
  }
  return History.encode(copy).finish();
}

/** Payloads the SDK writes itself, without the codec: a patch marker's id, a local activity
 * marker's bookkeeping (sequence, attempt, times; its result is encrypted), trace context. */
const SDK_PAYLOADS = /markerRecordedEventAttributes\.details\.(patch-data|data)\.payloads|header\.fields\._tracer-data/;

/** Where the history holds payloads whose encoding is not binary/encrypted. */
function unencryptedPayloads(history: unknown): { encrypted: number; paths: string[] } {
  const found = { encrypted: 0, paths: [] as string[] };
  const walk = (o: unknown, at: string): void => {
    if (Array.isArray(o)) return o.forEach((v, i) => walk(v, `${at}[${i}]`));
    if (o === null || typeof o !== 'object') return;
    const record = o as Record<string, unknown>;
    const encoding = (record.metadata as Record<string, string> | undefined)?.encoding;
    if (typeof encoding === 'string') {
      if (Buffer.from(encoding, 'base64').toString() === 'binary/encrypted') found.encrypted += 1;
      else found.paths.push(at);
    }
    for (const [k, v] of Object.entries(record)) walk(v, `${at}.${k}`);
  };
  walk(history, '');
  return found;
}

before(async () => {
  h = await startPaymentsHarness('payload-encryption');
  raw = await Connection.connect({ address: testEnv.temporalAddress });
  const account_id = await openCreditLine(h.ledger, { company_id, currency: 'EUR', limit_minor: 130_000, grant_key: 'initial' });
  const payout = (amount_minor: number, account: string): PayoutRequest => ({
    payment_id: `enc-${randomUUID()}`,
    company_id,
    account_id,
    amount_minor,
    currency: 'EUR',
    payee: { name: payee, bank_account: account },
  });
  // Settled, rejected by the bank (an activity failure, then compensation), declined (credit line short).
  for (const request of [
    payout(AMOUNTS[0]!, bank_account),
    payout(AMOUNTS[1]!, `${REJECTED_ACCOUNT_PREFIX}${bank_account}`),
    payout(AMOUNTS[2]!, bank_account),
  ]) {
    const { handle } = await startPayout(h.client, request, h.task_queue);
    const state = await handle.result();
    histories.set(`payout ${state.status}`, await rawHistory(paymentWorkflowId(request.payment_id)));
  }
  // A card purchase, authorized (update-with-start) and cleared (signal or update).
  const card_account = await openCreditLine(h.ledger, { company_id, currency: 'USD', limit_minor: 100_000, grant_key: 'card' });
  await h.cards.issue({ card_id, company_id, currency: 'USD', account_id: card_account });
  const purchase = { payment_id: `enc-${randomUUID()}`, card_id, currency: 'USD' as const, merchant: { mcc: '5411', name: payee } };
  const opts = { task_queue: h.task_queue, workflow: { ...DEFAULT_CARD_OPTIONS, linger_ms: 500 } };
  const decision = await authorizeCardPayment(
    h.client,
    purchase,
    { amount_minor: AMOUNTS[0]!, deadline_at_ms: Date.now() + 10_000, stand_in: 'decline' },
    opts,
  );
  assert.equal(decision.approved, true);
  await clearCardPayment(h.client, purchase, { event_id: 'c1', amount_minor: AMOUNTS[0]! }, opts);
  await h.client.workflow.getHandle(paymentWorkflowId(purchase.payment_id)).result();
  histories.set('card cleared', await rawHistory(paymentWorkflowId(purchase.payment_id)));
});
after(async () => {
  await raw?.close();
  await h?.close();
});

describe('payload encryption', () => {
  test('the payments ran to the expected final states through the encrypting client and worker', () => {
    assert.deepEqual([...histories.keys()].sort(), ['card cleared', 'payout COMPENSATED', 'payout DECLINED', 'payout SETTLED']);
  });

  test('a raw history shows no amount, company, card, payee or bank account in clear', () => {
    for (const [name, history] of histories) {
      assert.ok((history.events?.length ?? 0) > 5, `${name}: history read`);
      assert.deepEqual(inClear(withoutSearchAttributes(history)), [], `${name}: secrets in clear`);
      // Every payload the history carries is encrypted, but for what the SDK writes itself
      // outside the codec (SDK_PAYLOADS: no payment data in any).
      const clear = unencryptedPayloads(History.toObject(History.decode(withoutSearchAttributes(history)), { bytes: String }));
      assert.ok(clear.encrypted > 0, `${name}: has encrypted payloads`);
      assert.deepEqual(
        clear.paths.filter((p) => !SDK_PAYLOADS.test(p)),
        [],
        `${name}: unencrypted payloads`,
      );
    }
  });

  test('failures are encrypted: the rejected payout\'s activity failure says only "Encoded failure"', () => {
    const history = histories.get('payout COMPENSATED')!;
    const failures = (history.events ?? []).flatMap((e) =>
      e.activityTaskFailedEventAttributes?.failure ? [e.activityTaskFailedEventAttributes.failure] : [],
    );
    assert.ok(failures.length > 0, 'the bank rejection failed an activity');
    for (const f of failures) {
      assert.equal(f.message, 'Encoded failure');
      assert.equal(f.stackTrace ?? '', '');
      assert.ok(f.encodedAttributes?.data?.length, 'message and stack trace are in an encrypted payload');
    }
  });

  test('search attributes carry only the ops-query fields: never the payee, the bank account or a payload', () => {
    // By design (issue 6, point 1) ops filter payments by status, kind, company, card, amount,
    // currency and merchant category: Temporal indexes those in clear, so they hold identifiers
    // and amounts, never the payee's name or bank account, and no payload.
    // TemporalChangeVersion: the SDK's record of patched() ids (no payment data).
    const allowed = new Set([...SEARCH_ATTRIBUTES.map((k) => k.name), 'TemporalChangeVersion']);
    for (const [name, history] of histories) {
      const full = Buffer.from(History.encode(history).finish());
      for (const secret of [payee, bank_account]) assert.ok(!full.includes(secret), `${name}: ${secret} nowhere in the history`);
      for (const e of history.events ?? []) {
        const fields =
          e.workflowExecutionStartedEventAttributes?.searchAttributes?.indexedFields ??
          e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ??
          {};
        for (const key of Object.keys(fields)) assert.ok(allowed.has(key), `${name}: search attribute ${key} is one of the platform's`);
      }
    }
  });
});
