// Queries, signals and updates of the payment workflows: one definition, used by the workflow
// and by every client.
import { defineQuery } from '@temporalio/workflow';
import type { PaymentState } from '../domain/payment.js';

export const getPaymentQuery = defineQuery<PaymentState>('getPayment');
