-- Up Migration

-- Which company owns each credit-line account: the API answers for an account only to callers
-- scoped to its company. Written by openCreditLine with the account.
CREATE TABLE ledger.credit_lines (
  account_id  uuid        PRIMARY KEY REFERENCES ledger.accounts (id),
  company_id  text        NOT NULL,
  currency    char(3)     NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (company_id, currency)
);

-- Down Migration
DROP TABLE ledger.credit_lines;
