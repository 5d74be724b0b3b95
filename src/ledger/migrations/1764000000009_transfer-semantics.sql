-- Up Migration

-- An id is either a transfer or a refused id, never both. The engine checks both tables under its
-- locks, but two batches that do not share a locked account (hot accounts, missing accounts)
-- could otherwise record the same id as created in one and refused in the other. Every id written
-- to either table is also written here, once per statement; a second writer of the same id fails
-- on the primary key (or waits for the first to commit, then fails) and the engine runs its batch
-- again, now seeing the first outcome.
CREATE TABLE ledger.transfer_ids (
  id uuid PRIMARY KEY
);
INSERT INTO ledger.transfer_ids (id) SELECT id FROM ledger.transfers;
INSERT INTO ledger.transfer_ids (id) SELECT id FROM ledger.transfer_failures ON CONFLICT (id) DO NOTHING;

CREATE FUNCTION ledger.register_transfer_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger.transfer_ids (id) SELECT id FROM new_rows;
  RETURN NULL;
END;
$$;
CREATE TRIGGER transfers_register_ids
  AFTER INSERT ON ledger.transfers REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.register_transfer_ids();
CREATE TRIGGER transfer_failures_register_ids
  AFTER INSERT ON ledger.transfer_failures REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.register_transfer_ids();
CREATE TRIGGER transfer_ids_append_only
  BEFORE UPDATE OR DELETE ON ledger.transfer_ids
  FOR EACH ROW EXECUTE FUNCTION ledger.refuse_transfer_change();
CREATE TRIGGER transfer_ids_no_truncate
  BEFORE TRUNCATE ON ledger.transfer_ids
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_transfer_change();
CREATE TRIGGER transfer_failures_no_truncate
  BEFORE TRUNCATE ON ledger.transfer_failures
  FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_transfer_change();

-- Pending timeouts are not part of the engine: it never expired a hold (card sagas expire theirs
-- with durable timers), so a timeout_s other than 0 would promise what nothing keeps. NOT VALID:
-- rows written before are left to the verifier.
ALTER TABLE ledger.transfers ADD CONSTRAINT transfers_no_timeout CHECK (timeout_s = 0) NOT VALID;

-- Closing an account (TigerBeetle's `closed` flag): the one flag change allowed, adding `closed`
-- to an account with a limit flag. Such an account is always locked by the engine (flags <> 0),
-- so whether an account is bucketed (flags = 0, read without a lock) still never changes.
-- Accounts are never reopened.
DROP TRIGGER accounts_identity_fixed ON ledger.accounts;
CREATE TRIGGER accounts_identity_fixed
  BEFORE UPDATE ON ledger.accounts
  FOR EACH ROW
  WHEN (OLD.id <> NEW.id OR OLD.currency <> NEW.currency OR OLD.code <> NEW.code
        OR (OLD.flags <> NEW.flags AND NOT ((OLD.flags & 3) <> 0 AND NEW.flags = (OLD.flags | 4))))
  EXECUTE FUNCTION ledger.refuse_account_identity_change();

-- Down Migration
DROP TRIGGER accounts_identity_fixed ON ledger.accounts;
CREATE TRIGGER accounts_identity_fixed
  BEFORE UPDATE ON ledger.accounts
  FOR EACH ROW
  WHEN (OLD.id <> NEW.id OR OLD.currency <> NEW.currency OR OLD.code <> NEW.code OR OLD.flags <> NEW.flags)
  EXECUTE FUNCTION ledger.refuse_account_identity_change();
ALTER TABLE ledger.transfers DROP CONSTRAINT transfers_no_timeout;
DROP TRIGGER transfer_failures_no_truncate ON ledger.transfer_failures;
DROP TABLE ledger.transfer_ids;
DROP FUNCTION ledger.register_transfer_ids();
