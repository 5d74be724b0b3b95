-- Up Migration

-- Disputes and statements emit events too (issue 16): a dispute's id is its payment's id (64),
-- ':dispute:' and the company's key (64), up to 137 characters, over the 128 the payment events
-- needed. An event the column refused would fail its step on every retry.
ALTER TABLE events.events DROP CONSTRAINT events_object_id_check;
ALTER TABLE events.events ADD CONSTRAINT events_object_id_check CHECK (length(object_id) BETWEEN 1 AND 160);

-- Down Migration
ALTER TABLE events.events DROP CONSTRAINT events_object_id_check;
ALTER TABLE events.events ADD CONSTRAINT events_object_id_check CHECK (length(object_id) BETWEEN 1 AND 128);
