// An event's object as the API returns it: the message's JSON (camelCase, int64 amounts as
// strings, every field present) without its history list, which events do not carry (the events
// are the history).
import { create, toJson, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';

export function apiObject<Desc extends DescMessage>(
  schema: Desc,
  init: MessageInitShape<Desc>,
  history_field: string,
): Record<string, unknown> {
  const json = toJson(schema, create(schema, init), { alwaysEmitImplicit: true }) as Record<string, unknown>;
  const { [history_field]: _history, ...object } = json;
  return object;
}
