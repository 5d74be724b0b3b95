-- Up Migration

-- Events (issue 16): every change of a payment, as the API returns the payment, written once per
-- change (event_id is derived from the change: a retried step writes the same id and the insert
-- does nothing). Append only, like the ledger's transfers. Read in commit order with the same
-- rule as ListTransfers (migration 1764000000011): (tx, seq), serving only rows below the oldest
-- running transaction, so a page's cursor is never passed by a transaction that commits later.
CREATE SCHEMA events;

CREATE TABLE events.events (
  event_id    text        PRIMARY KEY CHECK (event_id ~ '^evt_[0-9a-f]{32}$'),
  type        text        NOT NULL CHECK (type ~ '^[a-z_]{1,32}\.[a-z_]{1,32}$'),
  company_id  text        NOT NULL CHECK (company_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  object_type text        NOT NULL CHECK (object_type ~ '^[a-z_]{1,32}$'),
  object_id   text        NOT NULL CHECK (length(object_id) BETWEEN 1 AND 128),
  -- {"object": <the object as the API returns it, after the change>}
  data        jsonb       NOT NULL CHECK (octet_length(data::text) <= 65536),
  created_at  timestamptz NOT NULL DEFAULT now(),
  tx          xid8        NOT NULL DEFAULT pg_current_xact_id(),
  seq         bigint      GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX events_by_company ON events.events (company_id, tx, seq);
CREATE INDEX events_by_object ON events.events (company_id, object_id, tx, seq);

CREATE FUNCTION events.refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events.events rows are never changed: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events.events
  FOR EACH ROW EXECUTE FUNCTION events.refuse_event_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events.events
  FOR EACH STATEMENT EXECUTE FUNCTION events.refuse_event_change();

-- Webhook endpoints: a company's URL and the event types it wants. The signing secret is stored
-- sealed with the payload encryption keys (src/events/secret-box.ts), never in clear. An endpoint
-- that failed for good is 'disabled' (with the reason, for ops); a deleted one is kept as
-- 'deleted' so its delivery workflow can see it is gone.
CREATE TABLE events.webhook_endpoints (
  endpoint_id   text        PRIMARY KEY CHECK (endpoint_id ~ '^we_[0-9a-f]{32}$'),
  company_id    text        NOT NULL CHECK (company_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  url           text        NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
  event_types   text[]      NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 32),
  secret_sealed text        NOT NULL,
  status        text        NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled', 'deleted')),
  status_reason text        CHECK (length(status_reason) <= 500),
  -- Events from transactions after this one are the endpoint's.
  created_tx    xid8        NOT NULL DEFAULT pg_current_xact_id(),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_by_company ON events.webhook_endpoints (company_id) WHERE status <> 'deleted';

REVOKE ALL ON SCHEMA events FROM PUBLIC;
GRANT USAGE ON SCHEMA events TO cardplatform_app;
GRANT SELECT, INSERT ON events.events TO cardplatform_app;
GRANT SELECT, INSERT ON events.webhook_endpoints TO cardplatform_app;
GRANT UPDATE (status, status_reason, updated_at) ON events.webhook_endpoints TO cardplatform_app;

-- Down Migration
REVOKE ALL ON ALL TABLES IN SCHEMA events FROM cardplatform_app;
REVOKE ALL ON SCHEMA events FROM cardplatform_app;
DROP SCHEMA events CASCADE;
