-- Up Migration

-- Cards: what an authorization decision reads. A card spends from its company's credit line (an
-- account in the ledger); the rules here decline before the ledger is asked.
CREATE SCHEMA cards;

CREATE TABLE cards.cards (
  card_id                 text        PRIMARY KEY CHECK (card_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  company_id              text        NOT NULL CHECK (company_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  currency                char(3)     NOT NULL,
  account_id              uuid        NOT NULL REFERENCES ledger.accounts (id),
  status                  text        NOT NULL CHECK (status IN ('active', 'frozen')),
  -- Largest single authorization (after increments), minor units; NULL: no per-transaction limit.
  transaction_limit_minor bigint      CHECK (transaction_limit_minor > 0),
  -- Merchant category codes (ISO 18245, four digits) this card may not be used at.
  blocked_mccs            text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(blocked_mccs) <= 100),
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_by_company ON cards.cards (company_id);

-- Down Migration
DROP SCHEMA cards CASCADE;
