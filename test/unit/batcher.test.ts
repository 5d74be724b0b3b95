// The batcher's coalescing, bounds and per-caller results, against a recording stand-in for the
// ledger (the real ledger under the batcher is tested in test/integration/ledger-batcher.test.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { TransferFlags } from '../../src/domain/ledger.js';
import { BatcherOverloadedError, createTransferBatcher, type BatcherOptions } from '../../src/ledger/batcher.js';
import { LedgerInputError, type TransferInput, type TransferOutcome } from '../../src/ledger/ledger.js';

const A = randomUUID();
const B = randomUUID();
const t = (flags = 0): TransferInput => ({
  id: randomUUID(),
  debit_account_id: A,
  credit_account_id: B,
  amount_minor: 1,
  currency: 'USD',
  code: 1,
  flags,
});

/** Records each batch; completes it when the test says so. */
function recordingLedger() {
  const batches: TransferInput[][] = [];
  const release: Array<() => void> = [];
  let fail: Error | null = null;
  return {
    batches,
    releaseNext: () => release.shift()?.(),
    failNext: (err: Error) => (fail = err),
    async createParsedTransfers(transfers: TransferInput[]): Promise<TransferOutcome[]> {
      batches.push(transfers);
      await new Promise<void>((r) => release.push(r));
      if (fail) {
        const err = fail;
        fail = null;
        throw err;
      }
      return transfers.map((x) => ({ id: x.id, result: 'created' as const }));
    },
  };
}

const options: BatcherOptions = { batch_size_max: 4, batch_wait_ms_max: 0, queue_length_max: 8, batches_in_flight_max: 1 };
const tick = () => new Promise((r) => setImmediate(r));
/** Event-loop turns until the condition holds (a handful at most; fails after 100). */
async function ticksUntil(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100 && !condition(); turn += 1) await tick();
  assert.ok(condition(), 'the condition did not hold within 100 event-loop turns');
}

describe('transfer batcher', () => {
  test('an idle batcher sends at once; requests arriving meanwhile share the next batch', async () => {
    const ledger = recordingLedger();
    const batcher = createTransferBatcher(ledger, options);
    const first = batcher.submit([t()]);
    await tick();
    assert.equal(ledger.batches.length, 1);
    const rest = [batcher.submit([t()]), batcher.submit([t()]), batcher.submit([t()])];
    await tick();
    assert.equal(ledger.batches.length, 1, 'nothing more is sent while a batch is in flight');
    ledger.releaseNext();
    await first;
    await tick();
    assert.equal(ledger.batches.length, 2);
    assert.equal(ledger.batches[1]!.length, 3, 'the three waiting requests form one batch');
    ledger.releaseNext();
    const results = await Promise.all(rest);
    assert.deepEqual(
      results.map((r) => r.length),
      [1, 1, 1],
    );
  });

  test('callers a batch answers resubmit into the next batch, beside those already waiting', async () => {
    const ledger = recordingLedger();
    const batcher = createTransferBatcher(ledger, options);
    // The first caller submits its next transfer a few promise steps after its first is answered,
    // as a payment submits its post after its hold.
    const payment = async () => {
      await batcher.submit([t()]);
      await Promise.resolve();
      await Promise.resolve();
      return batcher.submit([t()]);
    };
    const followUp = payment();
    await tick();
    const waiting = [batcher.submit([t()]), batcher.submit([t()])];
    await tick();
    ledger.releaseNext();
    await ticksUntil(() => ledger.batches.length === 2);
    assert.equal(ledger.batches[1]!.length, 3, 'the resubmitted transfer joins the two that waited (not a batch of its own)');
    ledger.releaseNext();
    await Promise.all([followUp, ...waiting]);
    assert.equal(ledger.batches.length, 2);
  });

  test('each caller gets its own outcomes, in order; groups are never split', async () => {
    const ledger = recordingLedger();
    const batcher = createTransferBatcher(ledger, options);
    const blocker = batcher.submit([t()]);
    const chain = [t(TransferFlags.linked), t(TransferFlags.linked), t()];
    const a = batcher.submit(chain);
    const b = batcher.submit([t(), t()]);
    await tick();
    ledger.releaseNext();
    await blocker;
    await tick();
    assert.deepEqual(
      ledger.batches.slice(1).map((x) => x.length),
      [3],
      'the chain (3) fits; the pair (2) would overflow 4',
    );
    ledger.releaseNext();
    assert.deepEqual(
      (await a).map((o) => o.id),
      chain.map((x) => x.id),
    );
    await tick();
    ledger.releaseNext();
    assert.equal((await b).length, 2);
  });

  test('a full queue refuses with back-pressure, and a malformed group fails alone', async () => {
    const ledger = recordingLedger();
    const batcher = createTransferBatcher(ledger, options);
    const inFlight = batcher.submit([t()]);
    await tick();
    const queued = Array.from({ length: 8 }, () => batcher.submit([t()]));
    await assert.rejects(batcher.submit([t()]), BatcherOverloadedError);
    await assert.rejects(batcher.submit([{ ...t(), amount_minor: 1.5 }]), LedgerInputError);
    await assert.rejects(batcher.submit([t(TransferFlags.linked)]), /must not be linked/);
    await assert.rejects(batcher.submit([]), LedgerInputError);
    await assert.rejects(batcher.submit([t(), t(), t(), t(), t()]), /over batch_size_max/);
    for (let batch = 1; batch <= 3; batch += 1) {
      await ticksUntil(() => ledger.batches.length === batch);
      ledger.releaseNext();
    }
    await inFlight;
    assert.equal((await Promise.all(queued)).length, 8);
  });

  test('a failed batch rejects every caller in it, and the batcher goes on', async () => {
    const ledger = recordingLedger();
    const batcher = createTransferBatcher(ledger, options);
    ledger.failNext(new Error('connection terminated'));
    const doomed = batcher.submit([t()]);
    await tick();
    ledger.releaseNext();
    await assert.rejects(doomed, /connection terminated/);
    const fine = batcher.submit([t()]);
    await tick();
    ledger.releaseNext();
    assert.equal((await fine)[0]!.result, 'created');
  });

  test('batch_wait_ms_max lets a lone request wait for company', async () => {
    const ledger = recordingLedger();
    const batcher = createTransferBatcher(ledger, { ...options, batch_wait_ms_max: 20 });
    const a = batcher.submit([t()]);
    const b = batcher.submit([t()]);
    await tick();
    assert.equal(ledger.batches.length, 0, 'still lingering');
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(
      ledger.batches.map((x) => x.length),
      [2],
    );
    ledger.releaseNext();
    await Promise.all([a, b]);
    await batcher.close();
    await assert.rejects(batcher.submit([t()]), /closed/);
  });

  test('options out of range are refused', () => {
    assert.throws(() => createTransferBatcher(recordingLedger(), { ...options, batch_size_max: 0 }), /batch_size_max/);
    assert.throws(() => createTransferBatcher(recordingLedger(), { ...options, queue_length_max: 1 }), /queue_length_max/);
  });
});
