// The serialisation helper of the card workflow's handlers (src/workflows/serial-queue.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SerialQueueFullError, createSerialQueue } from '../../src/workflows/serial-queue.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('serial queue', () => {
  test('runs tasks one at a time, in the order they were queued', async () => {
    const q = createSerialQueue(10);
    const log: string[] = [];
    const task = (name: string) => async () => {
      log.push(`${name} start`);
      await tick();
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([q.run(task('a')), q.run(task('b')), q.run(task('c'))]);
    assert.deepEqual(results, ['a', 'b', 'c']);
    assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    assert.equal(q.idle, true);
  });

  test('a failing task fails its caller only; the next one still runs', async () => {
    const q = createSerialQueue(10);
    const failed = q.run(async () => {
      throw new Error('ledger down');
    });
    const next = q.run(async () => 'ran');
    await assert.rejects(failed, /ledger down/);
    assert.equal(await next, 'ran');
    assert.equal(q.size, 0);
  });

  test('size counts queued and running tasks; past queued_max a task is refused at once', async () => {
    const q = createSerialQueue(2);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = q.run(() => gate);
    const second = q.run(async () => undefined);
    assert.equal(q.size, 2);
    assert.equal(q.idle, false);
    await assert.rejects(
      q.run(async () => undefined),
      (err: Error) => err instanceof SerialQueueFullError,
    );
    release();
    await Promise.all([first, second]);
    assert.equal(q.idle, true);
  });

  test('queued_max must be a positive integer', () => {
    assert.throws(() => createSerialQueue(0), /positive integer/);
    assert.throws(() => createSerialQueue(1.5), /positive integer/);
  });
});
