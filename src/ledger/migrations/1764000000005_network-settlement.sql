-- Up Migration

-- Net settlement with the card network (DESIGN.md section 5): one row per cycle and currency. A
-- cycle nets the ledger's card postings on network payable whose created_at lies in
-- [window_start, window_end), compares the net with the network's own report, and records the
-- wire that moved the reported amount from network payable to the settlement bank.
--
-- Windows are contiguous per currency: a cycle starts exactly where the previous one of its
-- currency ended, so no posting is netted twice or skipped. The database holds that shape itself:
-- previous_window_end must be the window_end of an existing cycle of the same currency and equal
-- this cycle's window_start; only a currency's first cycle has none, and there is one first cycle
-- per currency; two cycles never start (or end) at the same instant. Together: one chain.
--
-- When a window may be netted (the cutoff) is decided by the code that opens a cycle
-- (src/ledger/network-cycles.ts): created_at is the writing transaction's start time, so a
-- transfer stamped before window_end may still be committing; a cycle is netted only once the
-- database clock has passed window_end by a lag and no transaction older than window_end is open.
CREATE SCHEMA settlement;

CREATE TABLE settlement.network_cycles (
  cycle_id             text        NOT NULL CHECK (cycle_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
  currency             char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  window_start         timestamptz NOT NULL,
  window_end           timestamptz NOT NULL,
  previous_window_end  timestamptz NULL,
  -- Ours, from the ledger: charges posted to network payable, refunds taken from it, their net.
  cleared_minor        bigint      NOT NULL CHECK (cleared_minor >= 0),
  refunded_minor       bigint      NOT NULL CHECK (refunded_minor >= 0),
  net_minor            bigint      NOT NULL,
  transfers            integer     NOT NULL CHECK (transfers >= 0),
  -- The network's report for the same window (the first answer is kept).
  reported_minor       bigint      NULL,
  -- What the network says minus what we computed: the amount network payable keeps open.
  difference_minor     bigint      GENERATED ALWAYS AS (reported_minor - net_minor) STORED,
  -- The wire: signed, positive when we paid the network; no transfer when zero.
  wired_minor          bigint      NULL,
  wire_transfer_id     uuid        NULL,
  status               text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'matched', 'mismatched')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  reported_at          timestamptz NULL,
  reconciled_at        timestamptz NULL,
  PRIMARY KEY (cycle_id, currency),
  CONSTRAINT network_cycles_window_forward CHECK (window_end > window_start),
  CONSTRAINT network_cycles_net CHECK (net_minor = cleared_minor - refunded_minor),
  CONSTRAINT network_cycles_starts_once UNIQUE (currency, window_start),
  CONSTRAINT network_cycles_ends_once UNIQUE (currency, window_end),
  CONSTRAINT network_cycles_chained CHECK (previous_window_end IS NULL OR previous_window_end = window_start),
  CONSTRAINT network_cycles_previous FOREIGN KEY (currency, previous_window_end)
    REFERENCES settlement.network_cycles (currency, window_end),
  CONSTRAINT network_cycles_reconciled CHECK (
    (status = 'open') = (reconciled_at IS NULL)
    AND (status = 'open' OR (reported_minor IS NOT NULL AND wired_minor IS NOT NULL))
    AND (status <> 'matched' OR reported_minor = net_minor)
    AND (status <> 'mismatched' OR reported_minor <> net_minor)
    AND ((wired_minor IS NULL OR wired_minor = 0) = (wire_transfer_id IS NULL))
  )
);
CREATE UNIQUE INDEX network_cycles_one_first ON settlement.network_cycles (currency) WHERE previous_window_end IS NULL;

-- A cycle is evidence: what it netted and what the network reported never change once written,
-- a reconciled cycle stays reconciled, and no cycle is ever removed.
CREATE FUNCTION settlement.guard_network_cycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE'
     OR NEW.cycle_id <> OLD.cycle_id OR NEW.currency <> OLD.currency
     OR NEW.window_start <> OLD.window_start OR NEW.window_end <> OLD.window_end
     OR NEW.previous_window_end IS DISTINCT FROM OLD.previous_window_end
     OR NEW.cleared_minor <> OLD.cleared_minor OR NEW.refunded_minor <> OLD.refunded_minor
     OR NEW.transfers <> OLD.transfers
     OR (OLD.reported_minor IS NOT NULL AND NEW.reported_minor IS DISTINCT FROM OLD.reported_minor)
     OR (OLD.status <> 'open' AND (NEW.status, NEW.wired_minor, NEW.wire_transfer_id, NEW.reconciled_at)
         IS DISTINCT FROM (OLD.status, OLD.wired_minor, OLD.wire_transfer_id, OLD.reconciled_at)) THEN
    RAISE EXCEPTION 'settlement.network_cycles: % of cycle % % refused (netted and reconciled cycles never change)',
      TG_OP, OLD.cycle_id, OLD.currency USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER network_cycles_guarded
  BEFORE UPDATE OR DELETE ON settlement.network_cycles
  FOR EACH ROW EXECUTE FUNCTION settlement.guard_network_cycle();

-- Down Migration
DROP SCHEMA settlement CASCADE;
