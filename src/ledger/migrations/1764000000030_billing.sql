-- Up Migration

-- Billing (issue 15): each company's credit line, per currency, closes into a statement once per
-- billing cycle. A statement is computed from the ledger alone (src/ledger/statements.ts): the
-- company's transfers whose created_at lies in [window_start, window_end), window_end being the
-- cycle's cut-off, with the same commit-order care as the network settlement cycles
-- (src/ledger/cutoff.ts). Statements are evidence: written once, never changed or removed.
CREATE SCHEMA billing;

CREATE TABLE billing.statements (
  company_id                 text        NOT NULL CHECK (company_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  currency                   char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  cycle_number               integer     NOT NULL CHECK (cycle_number >= 1),
  -- The company's accounts the statement sums: its credit line, and its billing receivable (what
  -- it owes beyond the line: late fees and returned repayments the line could not take).
  credit_line_account_id     uuid        NOT NULL REFERENCES ledger.accounts (id),
  receivable_account_id      uuid        NOT NULL REFERENCES ledger.accounts (id),
  window_start               timestamptz NOT NULL,
  window_end                 timestamptz NOT NULL,
  previous_window_end        timestamptz NULL,
  -- What the company owed at window_start and at window_end (positive: owed to the issuer).
  opening_balance_minor      bigint      NOT NULL,
  card_charges_minor         bigint      NOT NULL CHECK (card_charges_minor >= 0),
  refunds_minor              bigint      NOT NULL CHECK (refunds_minor >= 0),
  payouts_minor              bigint      NOT NULL CHECK (payouts_minor >= 0),
  fees_minor                 bigint      NOT NULL CHECK (fees_minor >= 0),
  repayments_minor           bigint      NOT NULL CHECK (repayments_minor >= 0),
  returned_repayments_minor  bigint      NOT NULL CHECK (returned_repayments_minor >= 0),
  -- Transfers of any other code on the company's accounts (none today), signed.
  other_minor                bigint      NOT NULL,
  closing_balance_minor      bigint      NOT NULL,
  minimum_due_minor          bigint      NOT NULL CHECK (minimum_due_minor >= 0 AND minimum_due_minor <= greatest(closing_balance_minor, 0)),
  due_at                     timestamptz NOT NULL,
  transfers                  integer     NOT NULL CHECK (transfers >= 0),
  created_at                 timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, currency, cycle_number),
  CONSTRAINT statements_window_forward CHECK (window_end > window_start),
  CONSTRAINT statements_due_after_close CHECK (due_at >= window_end),
  CONSTRAINT statements_balance CHECK (
    closing_balance_minor = opening_balance_minor + card_charges_minor + payouts_minor + fees_minor
      + returned_repayments_minor + other_minor - refunds_minor - repayments_minor),
  -- One chain per company and currency: a statement starts where the previous one ended.
  CONSTRAINT statements_ends_once UNIQUE (company_id, currency, window_end),
  CONSTRAINT statements_first_unchained CHECK ((cycle_number = 1) = (previous_window_end IS NULL)),
  CONSTRAINT statements_chained CHECK (previous_window_end IS NULL OR previous_window_end = window_start),
  CONSTRAINT statements_previous FOREIGN KEY (company_id, currency, previous_window_end)
    REFERENCES billing.statements (company_id, currency, window_end)
);

-- What happened to a statement after it closed, in order: the durable record of its lifecycle
-- (named like the events of the coming event store: statement.closed, statement.past_due,
-- statement.paid, ...). `status` is the statement's status after the event; the latest event
-- says where it stands. Keyed by the workflow's own event key, so a retried write is a no-op.
CREATE TABLE billing.statement_events (
  company_id    text        NOT NULL,
  currency      char(3)     NOT NULL,
  cycle_number  integer     NOT NULL,
  event_key     text        NOT NULL CHECK (length(event_key) BETWEEN 1 AND 128),
  seq           integer     NOT NULL CHECK (seq >= 1),
  type          text        NOT NULL CHECK (type IN (
                  'statement.closed', 'statement.debit_requested', 'statement.debit_collected', 'statement.debit_failed',
                  'statement.debit_returned', 'statement.payment_received', 'statement.paid', 'statement.minimum_paid',
                  'statement.grace_ended', 'statement.reminder', 'statement.past_due', 'statement.cards_frozen', 'statement.late_fee_charged',
                  'statement.cards_unfrozen', 'statement.carried_over')),
  status        text        NOT NULL CHECK (status IN ('OPEN', 'PAID', 'MINIMUM_PAID', 'PAST_DUE', 'CARRIED_OVER')),
  paid_minor    bigint      NOT NULL,
  detail        text        NOT NULL DEFAULT '' CHECK (length(detail) <= 500),
  at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (company_id, currency, cycle_number, event_key),
  UNIQUE (company_id, currency, cycle_number, seq),
  FOREIGN KEY (company_id, currency, cycle_number) REFERENCES billing.statements (company_id, currency, cycle_number)
);

CREATE FUNCTION billing.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%: % refused (statements and their events are append-only)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER statements_append_only BEFORE UPDATE OR DELETE ON billing.statements
  FOR EACH ROW EXECUTE FUNCTION billing.refuse_change();
CREATE TRIGGER statements_no_truncate BEFORE TRUNCATE ON billing.statements
  FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();
CREATE TRIGGER statement_events_append_only BEFORE UPDATE OR DELETE ON billing.statement_events
  FOR EACH ROW EXECUTE FUNCTION billing.refuse_change();
CREATE TRIGGER statement_events_no_truncate BEFORE TRUNCATE ON billing.statement_events
  FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

-- Dunning freezes a company's cards and unfreezes only the ones it froze (a card people froze
-- stays frozen).
ALTER TABLE cards.cards ADD COLUMN frozen_by_billing boolean NOT NULL DEFAULT false;
ALTER TABLE cards.cards ADD CONSTRAINT cards_billing_freeze CHECK (NOT frozen_by_billing OR status = 'frozen');

REVOKE ALL ON SCHEMA billing FROM PUBLIC;
GRANT USAGE ON SCHEMA billing TO cardplatform_app;
GRANT SELECT, INSERT ON billing.statements, billing.statement_events TO cardplatform_app;

-- Down Migration
ALTER TABLE cards.cards DROP CONSTRAINT cards_billing_freeze;
ALTER TABLE cards.cards DROP COLUMN frozen_by_billing;
DROP SCHEMA billing CASCADE;
