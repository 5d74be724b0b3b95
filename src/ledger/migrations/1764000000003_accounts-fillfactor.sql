-- Up Migration

-- Account rows are rewritten by every batch that touches them. Free space on each page lets
-- Postgres update them in place (HOT updates: no new index entries, less WAL, less bloat).
ALTER TABLE ledger.accounts SET (fillfactor = 50);
ALTER TABLE ledger.account_buckets SET (fillfactor = 50);

-- Down Migration
ALTER TABLE ledger.account_buckets RESET (fillfactor);
ALTER TABLE ledger.accounts RESET (fillfactor);
