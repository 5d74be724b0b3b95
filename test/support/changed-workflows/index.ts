// A deliberately non-deterministic change to the payout workflow (a timer before the first
// step), used only to prove that replaying the recorded histories catches such a change.
import { sleep } from '@temporalio/workflow';
import type { PaymentState, PayoutRequest } from '../../../src/domain/payment.js';
import { payoutWorkflow as current } from '../../../src/workflows/payout.js';

export async function payoutWorkflow(input: PayoutRequest): Promise<PaymentState> {
  await sleep('1 millisecond');
  return current(input);
}
