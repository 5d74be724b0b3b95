-- Up Migration

-- Spend limits (README "Spend limits"): what a card's and a company's limits are. What they have
-- used lives in the ledger (one account per limit and window, src/ledger/spend-limits.ts); these
-- rows are only the configuration an authorization reads with its card. Each limit is
-- {window, measure, limit, mccs}, validated by src/domain/spend-limits.ts before it is written.
ALTER TABLE cards.cards
  ADD COLUMN spend_limits jsonb NOT NULL DEFAULT '[]'
    CHECK (jsonb_typeof(spend_limits) = 'array' AND jsonb_array_length(spend_limits) <= 16);

-- A company's limits per currency: they count every card of the company in that currency.
CREATE TABLE cards.company_spend_limits (
  company_id   text        NOT NULL CHECK (company_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  currency     char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  spend_limits jsonb       NOT NULL CHECK (jsonb_typeof(spend_limits) = 'array' AND jsonb_array_length(spend_limits) <= 16),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, currency)
);

GRANT SELECT, INSERT, UPDATE ON cards.company_spend_limits TO cardplatform_app;

-- Down Migration
DROP TABLE cards.company_spend_limits;
ALTER TABLE cards.cards DROP COLUMN spend_limits;
