-- Up Migration

-- Won chargebacks settle in the daily network cycle (issue 16): the network pays the issuer what a
-- won dispute left on the chargeback receivable. A cycle nets them with its clearings and refunds:
-- the won transfers (code 605, chargeback receivable debited) whose created_at lies in the cycle's
-- window, under the same commit-order cut-off. net_minor = cleared - refunded - chargebacks; the
-- settlement step moves chargebacks_minor from the chargeback receivable onto network payable
-- (one transfer per cycle and currency, its id derived from the cycle), so the wire of the net
-- closes both. Cycles opened before this migration counted none: theirs stays 0.
ALTER TABLE settlement.network_cycles
  ADD COLUMN chargebacks_minor bigint NOT NULL DEFAULT 0 CHECK (chargebacks_minor >= 0);
ALTER TABLE settlement.network_cycles DROP CONSTRAINT network_cycles_net;
ALTER TABLE settlement.network_cycles
  ADD CONSTRAINT network_cycles_net CHECK (net_minor = cleared_minor - refunded_minor - chargebacks_minor);

-- What a cycle netted never changes: the chargebacks too.
CREATE OR REPLACE FUNCTION settlement.guard_network_cycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE'
     OR NEW.cycle_id <> OLD.cycle_id OR NEW.currency <> OLD.currency
     OR NEW.window_start <> OLD.window_start OR NEW.window_end <> OLD.window_end
     OR NEW.previous_window_end IS DISTINCT FROM OLD.previous_window_end
     OR NEW.cleared_minor <> OLD.cleared_minor OR NEW.refunded_minor <> OLD.refunded_minor
     OR NEW.chargebacks_minor <> OLD.chargebacks_minor OR NEW.net_minor <> OLD.net_minor
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

-- Down Migration
CREATE OR REPLACE FUNCTION settlement.guard_network_cycle() RETURNS trigger LANGUAGE plpgsql AS $$
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
ALTER TABLE settlement.network_cycles DROP CONSTRAINT network_cycles_net;
ALTER TABLE settlement.network_cycles ADD CONSTRAINT network_cycles_net CHECK (net_minor = cleared_minor - refunded_minor);
ALTER TABLE settlement.network_cycles DROP COLUMN chargebacks_minor;
