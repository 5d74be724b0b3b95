// The event store (issue 16): append-only rows in events.events, written once per change (the id
// is derived from the change: a retried step inserts the same id and nothing happens), read in
// commit order, the ListTransfers way (migration 1764000000011): a page serves only rows below
// the oldest running transaction, so a transaction that commits after a page was served lands
// ahead of its cursor, never behind it. Per object that order is the order of the changes: a
// payment's steps run one after another, each committed before the next starts.
//
// appendEvents is the one way to emit an event, for every feature (payments here; disputes and
// statements call it with their own types: `dispute.opened`, `statement.closed`, ...).
import { z } from 'zod';
import { EVENT_OBJECT_TYPES, eventTypeSchema } from '../domain/events.js';
import { paymentIdSchema } from '../domain/payment.js';
import { describeIssue } from '../domain/validation.js';
import type { Pool } from '../ledger/db.js';
import { uuidV5 } from '../ledger/ids.js';

/** Events one append may carry (one step's changes: a handful). */
export const EVENTS_PER_APPEND_MAX = 16;
/** An event's object, serialized, at most (the column's CHECK says the same). */
export const EVENT_DATA_BYTES_MAX = 65_536;
/** An event's object id, at most: a dispute's id (payment id, `:dispute:`, key) fits (the
 * column's CHECK says the same, migration 1764000000055). */
export const EVENT_OBJECT_ID_LENGTH_MAX = 160;
export const EVENT_PAGE_SIZE_DEFAULT = 100;
export const EVENT_PAGE_SIZE_MAX = 500;

/** The id of the event a change produces: the same object and change always give the same id. */
export function eventId(object_type: string, object_id: string, change_key: string): string {
  return `evt_${uuidV5(`event:${object_type}:${object_id.length}:${object_id}:${change_key}`).replaceAll('-', '')}`;
}

export const newEventSchema = z.strictObject({
  event_id: z.string().regex(/^evt_[0-9a-f]{32}$/, { error: 'must be an id from eventId()' }),
  type: eventTypeSchema,
  company_id: paymentIdSchema,
  object_type: z.enum(EVENT_OBJECT_TYPES),
  object_id: z.string().min(1).max(EVENT_OBJECT_ID_LENGTH_MAX),
  /** The object as the API returns it, after the change. */
  object: z.record(z.string(), z.unknown()),
});
export type NewEvent = z.infer<typeof newEventSchema>;

export interface StoredEvent {
  event_id: string;
  type: string;
  company_id: string;
  object_type: string;
  object_id: string;
  object: Record<string, unknown>;
  created_at: Date;
  /** Where this event is in commit order (opaque; the next page starts after it). */
  cursor: string;
}

export interface EventFilter {
  company_ids: readonly string[];
  types?: readonly string[] | undefined;
  object_id?: string | undefined;
  /** Only events committed by transactions after this one (an endpoint's creation). */
  after_tx?: string | undefined;
}

export interface EventPage {
  events: StoredEvent[];
  /** The cursor to continue from: after the last event served (or where the caller was). */
  next: string;
  /** More may be there now (a full page, or rows held back by a transaction still running). */
  more: boolean;
}

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

const START = encodeCursor('0', '0');
const COLUMNS = 'event_id, type, company_id, object_type, object_id, data, created_at, tx::text AS tx_text, seq::text AS seq_text';

export function encodeCursor(tx: string, seq: string): string {
  return Buffer.from(JSON.stringify([tx, seq]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string' && /^\d{1,20}$/.test(v))) {
      return [value[0] as string, value[1] as string];
    }
  } catch {
    // fall through
  }
  throw new InvalidEventError('page_token: not a token this server returned');
}

interface EventRow {
  event_id: string;
  type: string;
  company_id: string;
  object_type: string;
  object_id: string;
  data: { object: Record<string, unknown> };
  created_at: Date;
  tx_text: string;
  seq_text: string;
  held: boolean;
}

export type EventStore = ReturnType<typeof createEventStore>;

export function createEventStore(pool: Pool) {
  return {
    /** Writes events in one transaction; an event whose id exists already is left as it is. */
    async appendEvents(events: readonly NewEvent[]): Promise<void> {
      if (events.length === 0) return;
      if (events.length > EVENTS_PER_APPEND_MAX) throw new InvalidEventError(`at most ${EVENTS_PER_APPEND_MAX} events per append`);
      const rows = events.map((e) => {
        const parsed = newEventSchema.safeParse(e);
        if (!parsed.success) throw new InvalidEventError(`event: ${describeIssue(parsed.error)}`);
        const data = JSON.stringify({ object: parsed.data.object });
        if (Buffer.byteLength(data) > EVENT_DATA_BYTES_MAX)
          throw new InvalidEventError(`event ${e.event_id}: object over ${EVENT_DATA_BYTES_MAX} bytes`);
        return { ...parsed.data, data };
      });
      await pool.query(
        `INSERT INTO events.events (event_id, type, company_id, object_type, object_id, data)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
         ON CONFLICT (event_id) DO NOTHING`,
        [
          rows.map((r) => r.event_id),
          rows.map((r) => r.type),
          rows.map((r) => r.company_id),
          rows.map((r) => r.object_type),
          rows.map((r) => r.object_id),
          rows.map((r) => r.data),
        ],
      );
    },

    /** One page in commit order after `after` (a cursor from a previous page; none: the start). */
    async listEvents(filter: EventFilter, page: { after?: string | undefined; limit: number }): Promise<EventPage> {
      if (!(Number.isSafeInteger(page.limit) && page.limit >= 1 && page.limit <= EVENT_PAGE_SIZE_MAX)) {
        throw new InvalidEventError(`page size must be 1..${EVENT_PAGE_SIZE_MAX}, got ${page.limit}`);
      }
      if (filter.company_ids.length === 0) return { events: [], next: page.after ?? START, more: false };
      const [tx, seq] = decodeCursor(page.after ?? START);
      const params: unknown[] = [filter.company_ids, tx, seq];
      let where = 'company_id = ANY($1::text[]) AND (tx, seq) > ($2::xid8, $3::bigint)';
      if (filter.types && filter.types.length > 0) {
        params.push(filter.types);
        where += ` AND type = ANY($${params.length}::text[])`;
      }
      if (filter.object_id !== undefined) {
        params.push(filter.object_id);
        where += ` AND object_id = $${params.length}`;
      }
      if (filter.after_tx !== undefined) {
        params.push(filter.after_tx);
        where += ` AND tx > $${params.length}::xid8`;
      }
      params.push(page.limit + 1);
      const horizon = 'pg_snapshot_xmin(pg_current_snapshot())';
      const { rows } = await pool.query<EventRow>(
        `SELECT ${COLUMNS}, held FROM (
           (SELECT *, false AS held FROM events.events WHERE ${where} AND tx < ${horizon} ORDER BY tx, seq LIMIT $${params.length})
           UNION ALL
           (SELECT *, true AS held FROM events.events WHERE ${where} AND tx >= ${horizon} LIMIT 1)
         ) u
         ORDER BY held, tx, seq`,
        params,
      );
      const served = rows.filter((r) => !r.held);
      const more = served.length > page.limit || served.length < rows.length;
      const shown = served.slice(0, page.limit);
      const last = shown.at(-1);
      return {
        events: shown.map((r) => ({
          event_id: r.event_id,
          type: r.type,
          company_id: r.company_id,
          object_type: r.object_type,
          object_id: r.object_id,
          object: r.data.object,
          created_at: r.created_at,
          cursor: encodeCursor(r.tx_text, r.seq_text),
        })),
        next: last ? encodeCursor(last.tx_text, last.seq_text) : (page.after ?? START),
        more,
      };
    },

    async getEvent(event_id: string): Promise<StoredEvent | null> {
      const { rows } = await pool.query<EventRow>(`SELECT ${COLUMNS}, false AS held FROM events.events WHERE event_id = $1`, [event_id]);
      const r = rows[0];
      if (!r) return null;
      return {
        event_id: r.event_id,
        type: r.type,
        company_id: r.company_id,
        object_type: r.object_type,
        object_id: r.object_id,
        object: r.data.object,
        created_at: r.created_at,
        cursor: encodeCursor(r.tx_text, r.seq_text),
      };
    },
  };
}
