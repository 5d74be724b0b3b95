// How the gateway reads a bank's answer to a payout (classifyPayoutAnswer): only a 422 whose body
// says `rejected` is a rejection; transient statuses, credential refusals and anything else are
// errors of their own kind, never a rejection.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  SettlementCredentialsError,
  SettlementUnavailableError,
  SettlementUnexpectedAnswerError,
  classifyPayoutAnswer,
} from '../../src/settlement/gateway.js';

const settled = JSON.stringify({ status: 'settled', bank_reference: 'BANK-1' });
const rejected = JSON.stringify({ status: 'rejected', reason: 'payee_account_closed' });

describe('classifyPayoutAnswer', () => {
  test('200 settled, 202 accepted, 422 rejected', () => {
    assert.deepEqual(classifyPayoutAnswer(200, settled), { status: 'settled', bank_reference: 'BANK-1' });
    assert.deepEqual(classifyPayoutAnswer(202, ''), { status: 'accepted' });
    assert.deepEqual(classifyPayoutAnswer(422, rejected), { status: 'rejected', reason: 'payee_account_closed' });
  });

  test('408, 409, 425, 429 and every 5xx are transient', () => {
    for (const status of [408, 409, 425, 429, 500, 502, 503, 504, 599]) {
      assert.throws(() => classifyPayoutAnswer(status, rejected), SettlementUnavailableError, String(status));
    }
  });

  test('401 and 403 are a credential problem, whatever the body says', () => {
    for (const status of [401, 403]) {
      assert.throws(() => classifyPayoutAnswer(status, rejected), SettlementCredentialsError, String(status));
    }
  });

  test('anything else is unexpected, never a rejection', () => {
    const cases: Array<[number, string]> = [
      [400, rejected],
      [404, rejected],
      [410, rejected],
      [301, ''],
      [422, '{"error":"unprocessable"}'],
      [422, settled],
      [422, 'not json'],
      [200, rejected],
      [200, '<html>maintenance</html>'],
      [200, '{"status":"settled"}'],
      [201, settled],
    ];
    for (const [status, body] of cases) {
      assert.throws(() => classifyPayoutAnswer(status, body), SettlementUnexpectedAnswerError, `${status} ${body}`);
    }
  });

  test('the error quotes at most 200 characters of the body', () => {
    assert.throws(
      () => classifyPayoutAnswer(400, 'x'.repeat(1_000)),
      (err: Error) => err.message.length < 300 && err.message.includes('x'.repeat(200)),
    );
  });
});
