// A payment's event: its id (from the change), its type, and the payment as the API returns it
// (GetPayment's JSON: camelCase, int64 amounts as strings), without the timeline.
import type { PaymentEventType } from '../domain/events.js';
import type { PaymentState } from '../domain/payment.js';
import { paymentToProto } from '../api/rpc/convert.js';
import { PaymentSchema } from '../gen/cardplatform/payments/v1/payments_pb.js';
import { apiObject } from './api-object.js';
import { eventId, type NewEvent } from './store.js';

export function paymentObject(state: PaymentState): Record<string, unknown> {
  return apiObject(PaymentSchema, { ...paymentToProto(state), timeline: [] }, 'timeline');
}

export function paymentEvent(type: PaymentEventType, change_key: string, state: PaymentState & { company_id: string }): NewEvent {
  return {
    event_id: eventId('payment', state.payment_id, change_key),
    type,
    company_id: state.company_id,
    object_type: 'payment',
    object_id: state.payment_id,
    object: paymentObject(state),
  };
}
