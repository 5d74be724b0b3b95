-- Up Migration

-- Hot accounts: an account without limit flags (a platform account such as the settlement bank or
-- payouts payable, touched by every payment) needs no per-transfer check, so its counters do not
-- have to live in one row that every batch locks. Each batch adds its summed deltas to one of
-- several bucket rows instead, so concurrent batches do not queue on the same row lock. The
-- account's counters are its row plus the sum of its buckets (ledger.account_balances). A bucket
-- holds deltas and may go negative (a release booked in another bucket than its hold); totals
-- may not, and the verifier checks them.
CREATE TABLE ledger.account_buckets (
  account_id       uuid     NOT NULL REFERENCES ledger.accounts (id),
  bucket           smallint NOT NULL CHECK (bucket BETWEEN 0 AND 63),
  debits_pending   bigint   NOT NULL DEFAULT 0,
  debits_posted    bigint   NOT NULL DEFAULT 0,
  credits_pending  bigint   NOT NULL DEFAULT 0,
  credits_posted   bigint   NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, bucket)
);

-- Whether an account is bucketed is decided by its flags, read without a lock: flags, currency
-- and code therefore never change after creation.
CREATE FUNCTION ledger.refuse_account_identity_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger.accounts: id, currency, code and flags never change (account %)', OLD.id
    USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER accounts_identity_fixed
  BEFORE UPDATE ON ledger.accounts
  FOR EACH ROW
  WHEN (OLD.id <> NEW.id OR OLD.currency <> NEW.currency OR OLD.code <> NEW.code OR OLD.flags <> NEW.flags)
  EXECUTE FUNCTION ledger.refuse_account_identity_change();

CREATE VIEW ledger.account_balances AS
SELECT a.id, a.currency, a.code, a.flags,
       a.debits_pending + coalesce(b.debits_pending, 0) AS debits_pending,
       a.debits_posted + coalesce(b.debits_posted, 0) AS debits_posted,
       a.credits_pending + coalesce(b.credits_pending, 0) AS credits_pending,
       a.credits_posted + coalesce(b.credits_posted, 0) AS credits_posted,
       a.created_at
  FROM ledger.accounts a
  LEFT JOIN LATERAL (
    SELECT sum(x.debits_pending)::bigint AS debits_pending, sum(x.debits_posted)::bigint AS debits_posted,
           sum(x.credits_pending)::bigint AS credits_pending, sum(x.credits_posted)::bigint AS credits_posted
      FROM ledger.account_buckets x
     WHERE x.account_id = a.id
  ) b ON true;

-- Down Migration
DROP VIEW ledger.account_balances;
DROP TRIGGER accounts_identity_fixed ON ledger.accounts;
DROP FUNCTION ledger.refuse_account_identity_change();
DROP TABLE ledger.account_buckets;
