-- Up Migration

-- Paging in commit order (ListTransfers). created_at is the writing transaction's start time and a
-- sequence value is taken at insert; neither follows commit order, so a batch that started
-- before a page was served and committed after it could land behind the page's cursor and never
-- be served. tx is the writing transaction's id (assigned at its first write, in increasing
-- order). A page serves only rows whose tx is below the oldest transaction still running
-- (pg_snapshot_xmin): every transaction that could still commit then has a tx above every row
-- served, so it lands ahead of the cursor. Rows written before this migration share its tx.
ALTER TABLE ledger.transfers ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX transfers_payment_tx ON ledger.transfers (payment_id, tx, id) WHERE payment_id IS NOT NULL;
DROP INDEX ledger.transfers_payment_id;

-- Down Migration
CREATE INDEX transfers_payment_id ON ledger.transfers (payment_id) WHERE payment_id IS NOT NULL;
DROP INDEX ledger.transfers_payment_tx;
ALTER TABLE ledger.transfers DROP COLUMN tx;
