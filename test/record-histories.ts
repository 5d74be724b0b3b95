// `npm run histories:record`: runs every payment path once against a real Postgres and Temporal
// server, and saves each workflow's history under test/histories/, where the replay test
// (test/unit/replay.test.ts) replays them against the current workflow code. Re-record only on
// purpose: the recorded histories are what proves that old payments still replay.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { startPayout } from '../src/api/payments.js';
import { REPO_ROOT } from '../src/config.js';
import { paymentWorkflowId, type PayoutRequest } from '../src/domain/payment.js';
import { openCreditLine } from '../src/ledger/accounts.js';
import { REJECTED_ACCOUNT_PREFIX } from '../src/settlement/simulator.js';
import { startPaymentsHarness } from './support/payments.js';
import { startTestStack } from './support/stack.js';

export const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
const log = (msg: string) => console.error(`[histories:record] ${msg}`);

const scratch = path.join(REPO_ROOT, '.tmp', `record-${process.pid}`);
mkdirSync(scratch, { recursive: true });
const stack = await startTestStack(scratch, log);
try {
  const h = await startPaymentsHarness('record', { endpoints: { databaseUrl: stack.databaseUrl, temporalAddress: stack.temporalAddress } });
  try {
    const account_id = await openCreditLine(h.ledger, { company_id: 'acme', currency: 'EUR', limit_minor: 50_000, grant_key: 'record' });
    const payout = (name: string, amount_minor: number, bank_account: string): PayoutRequest => ({
      payment_id: `record-${name}-${randomUUID().slice(0, 8)}`,
      company_id: 'acme',
      account_id,
      amount_minor,
      currency: 'EUR',
      payee: { name: 'Supplier GmbH', bank_account },
    });
    const scenarios: Array<[string, PayoutRequest]> = [
      ['payout-settled', payout('settled', 12_345, 'DE89370400440532013000')],
      ['payout-declined', payout('declined', 50_001, 'DE89370400440532013000')],
      ['payout-compensated', payout('compensated', 20_000, `${REJECTED_ACCOUNT_PREFIX}0000000042`)],
    ];
    for (const [name, request] of scenarios) {
      const { handle } = await startPayout(h.client, request, h.task_queue);
      const state = await handle.result();
      const history = await h.client.workflow.getHandle(paymentWorkflowId(request.payment_id)).fetchHistory();
      const file = path.join(HISTORIES_DIR, `${name}.json`);
      writeFileSync(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 2)}\n`);
      const events = history.events?.length ?? 0;
      log(`${name}: ${state.status}, ${events} events -> ${path.relative(REPO_ROOT, file)}`);
    }
  } finally {
    await h.close();
  }
} finally {
  await stack.close();
  rmSync(scratch, { recursive: true, force: true });
}
