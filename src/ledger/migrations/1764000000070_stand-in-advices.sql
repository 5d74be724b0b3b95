-- Up Migration

-- Stand-in advices owed to card payments (src/api/door-advice.ts): the door writes one when it
-- answers an authorization with the stand-in, a relay in every API process delivers it to the
-- payment and deletes it. A work queue, not history: the platform may delete its rows, and
-- nothing else in the schema lets it.
CREATE TABLE api.stand_in_advices (
  payment_id      text        PRIMARY KEY CHECK (payment_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  stand_in        text        NOT NULL CHECK (stand_in IN ('decline', 'approve')),
  -- Before this, a payment not found may not have started yet: the advice is tried again.
  settle_after    timestamptz NOT NULL,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stand_in_advices_due ON api.stand_in_advices (next_attempt_at);

GRANT SELECT, INSERT, DELETE ON api.stand_in_advices TO cardplatform_app;
GRANT UPDATE (settle_after, next_attempt_at, attempts) ON api.stand_in_advices TO cardplatform_app;

-- Down Migration

DROP TABLE api.stand_in_advices;
