-- Up Migration

-- API keys of the gRPC front door. Only a hash of each key's secret is stored: a database dump
-- does not let anyone call the API. A key is scoped to one or more companies.
CREATE SCHEMA api;

CREATE TABLE api.keys (
  key_id       text        PRIMARY KEY CHECK (key_id ~ '^[a-z0-9]{12}$'),
  -- SHA-256 of the secret part (high-entropy, random): no salt or slow hash needed.
  secret_hash  bytea       NOT NULL CHECK (length(secret_hash) = 32),
  name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 140),
  company_ids  text[]      NOT NULL CHECK (cardinality(company_ids) BETWEEN 1 AND 100),
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz
);

-- Down Migration
DROP SCHEMA api CASCADE;
