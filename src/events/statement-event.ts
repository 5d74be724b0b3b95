// A statement's event: one per statement event billing records (billing.statement_events), its
// id from the statement and that event's key, the statement as GetStatement returns it (without
// its events list: the events are that list).
import type { BillingEventType, StatementView } from '../domain/billing.js';
import { statementToProto } from '../api/rpc/billing-service.js';
import { StatementSchema } from '../gen/cardplatform/billing/v1/billing_pb.js';
import { apiObject } from './api-object.js';
import { eventId, type NewEvent } from './store.js';

export function statementEvent(type: BillingEventType, event_key: string, statement: StatementView): NewEvent {
  return {
    event_id: eventId('statement', statement.statement_id, event_key),
    type,
    company_id: statement.company_id,
    object_type: 'statement',
    object_id: statement.statement_id,
    object: apiObject(StatementSchema, { ...statementToProto(statement), events: [] }, 'events'),
  };
}
