-- Up Migration

-- Least privilege (src/ledger/roles.ts): the platform's processes connect as a login role in the
-- group role cardplatform_app, which gets exactly the rights below. Tables, functions and
-- triggers belong to the owner role that runs these migrations; a role that owns nothing cannot
-- alter a table, disable its triggers or drop it. The group role is created here if missing
-- (that needs CREATEROLE; without it, create it first: README "Least privilege").
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cardplatform_app') THEN
    CREATE ROLE cardplatform_app NOLOGIN;
  END IF;
END;
$$;

REVOKE ALL ON SCHEMA ledger, cards, settlement, api FROM PUBLIC;
GRANT USAGE ON SCHEMA ledger, cards, settlement, api TO cardplatform_app;
GRANT SELECT ON ALL TABLES IN SCHEMA ledger, cards, settlement, api TO cardplatform_app;

-- Ledger history: insert only. No UPDATE, DELETE or TRUNCATE on transfers, refusals or ids.
GRANT INSERT ON ledger.transfers, ledger.transfer_failures, ledger.transfer_ids TO cardplatform_app;
-- Accounts: created, their counters moved, and closed (a trigger allows no other flag change).
GRANT INSERT ON ledger.accounts, ledger.credit_lines TO cardplatform_app;
GRANT UPDATE (debits_pending, debits_posted, credits_pending, credits_posted, flags) ON ledger.accounts TO cardplatform_app;
-- Hot-account buckets: inserted and added to, never removed.
GRANT INSERT ON ledger.account_buckets TO cardplatform_app;
GRANT UPDATE (debits_pending, debits_posted, credits_pending, credits_posted) ON ledger.account_buckets TO cardplatform_app;
-- Processes connected as the app role check that the schema is up to date before they start.
GRANT SELECT ON public.schema_migrations TO cardplatform_app;
-- What the API and workflows maintain.
GRANT INSERT, UPDATE ON cards.cards, settlement.network_cycles, api.keys TO cardplatform_app;

-- Bucket rows are protected like transfers: the database itself refuses to remove them.
CREATE FUNCTION ledger.refuse_bucket_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger.account_buckets rows are never removed: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER account_buckets_never_deleted
  BEFORE DELETE ON ledger.account_buckets
  FOR EACH ROW EXECUTE FUNCTION ledger.refuse_bucket_removal();
CREATE TRIGGER account_buckets_no_truncate
  BEFORE TRUNCATE ON ledger.account_buckets
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_bucket_removal();

-- Down Migration
DROP TRIGGER account_buckets_no_truncate ON ledger.account_buckets;
DROP TRIGGER account_buckets_never_deleted ON ledger.account_buckets;
DROP FUNCTION ledger.refuse_bucket_removal();
REVOKE ALL ON ALL TABLES IN SCHEMA ledger, cards, settlement, api FROM cardplatform_app;
REVOKE ALL ON SCHEMA ledger, cards, settlement, api FROM cardplatform_app;
