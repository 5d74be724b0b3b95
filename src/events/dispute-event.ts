// A dispute's event: its id (from the dispute and the change), its type, and the dispute as
// GetDispute returns it (without the timeline: the events are the timeline).
import type { DisputeChange } from '../domain/dispute-events.js';
import { disputeToProto } from '../api/rpc/disputes-service.js';
import { DisputeSchema } from '../gen/cardplatform/disputes/v1/disputes_pb.js';
import { apiObject } from './api-object.js';
import { eventId, type NewEvent } from './store.js';

export function disputeEvent(change: DisputeChange): NewEvent {
  const view = change.view;
  return {
    event_id: eventId('dispute', view.dispute_id, change.change_key),
    type: change.type,
    company_id: view.company_id,
    object_type: 'dispute',
    object_id: view.dispute_id,
    object: apiObject(DisputeSchema, { ...disputeToProto(view), timeline: [] }, 'timeline'),
  };
}
