-- Up Migration

-- The ledger lives in its own schema so that it can share a database with application tables
-- and commit atomically with them.
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.accounts (
  id               uuid        PRIMARY KEY,
  currency         char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  code             integer     NOT NULL CHECK (code BETWEEN 1 AND 65535),
  flags            integer     NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 7),
  debits_pending   bigint      NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
  debits_posted    bigint      NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_pending  bigint      NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
  credits_posted   bigint      NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- The two limit flags exclude each other.
  CONSTRAINT accounts_limit_flags_exclusive CHECK ((flags & 3) <> 3),
  -- Defence in depth: the posting engine checks limits per transfer; the database refuses any
  -- row that would break them anyway, so a bug can fail a batch but never overdraw a credit line.
  CONSTRAINT accounts_debits_within_credits
    CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
  CONSTRAINT accounts_credits_within_debits
    CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted)
);

CREATE TABLE ledger.transfers (
  id                 uuid        PRIMARY KEY,
  debit_account_id   uuid        NOT NULL REFERENCES ledger.accounts (id),
  credit_account_id  uuid        NOT NULL REFERENCES ledger.accounts (id),
  amount             bigint      NOT NULL CHECK (amount > 0),
  currency           char(3)     NOT NULL,
  code               integer     NOT NULL CHECK (code BETWEEN 1 AND 65535),
  flags              integer     NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 15),
  pending_id         uuid        NULL REFERENCES ledger.transfers (id),
  timeout_s          integer     NOT NULL DEFAULT 0 CHECK (timeout_s >= 0),
  payment_id         text        NULL CHECK (length(payment_id) <= 64),
  created_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT transfers_accounts_different CHECK (debit_account_id <> credit_account_id),
  -- post_pending (4) and void_pending (8) need the pending transfer they resolve; others must not.
  CONSTRAINT transfers_pending_id_iff_resolution CHECK (((flags & 12) <> 0) = (pending_id IS NOT NULL)),
  CONSTRAINT transfers_one_kind CHECK ((flags & 14) IN (0, 2, 4, 8))
);

-- Invariant 4 held by the database: a pending transfer is resolved (posted or voided) at most once.
CREATE UNIQUE INDEX transfers_pending_resolved_once ON ledger.transfers (pending_id)
  WHERE pending_id IS NOT NULL;
CREATE INDEX transfers_payment_id ON ledger.transfers (payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX transfers_debit_account ON ledger.transfers (debit_account_id, created_at);
CREATE INDEX transfers_credit_account ON ledger.transfers (credit_account_id, created_at);

-- Corrections are new transfers: the database itself refuses to change or remove one.
CREATE FUNCTION ledger.refuse_transfer_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger.transfers is append-only: % refused (post a correcting transfer instead)', TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER transfers_append_only
  BEFORE UPDATE OR DELETE ON ledger.transfers
  FOR EACH ROW EXECUTE FUNCTION ledger.refuse_transfer_change();
CREATE TRIGGER transfers_no_truncate
  BEFORE TRUNCATE ON ledger.transfers
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_transfer_change();

-- Transfer ids whose first attempt was refused for a reason that depends on ledger state
-- (insufficient credit, unknown account...): a retry replays the refusal as id_already_failed,
-- so an outcome never changes on retry.
CREATE TABLE ledger.transfer_failures (
  id          uuid        PRIMARY KEY,
  result      text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER transfer_failures_append_only
  BEFORE UPDATE OR DELETE ON ledger.transfer_failures
  FOR EACH ROW EXECUTE FUNCTION ledger.refuse_transfer_change();

-- Down Migration
DROP SCHEMA ledger CASCADE;
