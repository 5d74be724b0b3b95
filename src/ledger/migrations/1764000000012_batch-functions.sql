-- Up Migration

-- A post or void is written only after the engine found its pending transfer in the same
-- transaction, and transfers are never deleted (transfers_append_only), so the foreign key from
-- pending_id re-checked what was already guaranteed, at the cost of a row trigger and a row lock
-- on the pending transfer per resolution (the lock writes WAL and dirties the old transfer's
-- page). The verifier checks it instead (invariant 4: 'resolves a transfer that does not exist').
ALTER TABLE ledger.transfers DROP CONSTRAINT transfers_pending_id_fkey;

-- A batch's two round trips as two function calls (src/ledger/ledger.ts). The statements inside a
-- function are planned once per session and then reused, where the same statements sent as SQL
-- text with their values inlined were parsed and planned again for every batch (about a fifth
-- of the database's time per transfer). The function bodies are the statements the engine sent
-- before, unchanged in what they lock, read and write. Both run as the caller (SECURITY INVOKER):
-- the app role needs no right it did not have.

-- Round trip 1, after BEGIN: locks the limit accounts the batch touches in ascending id order,
-- reads the hot accounts without a lock, then reads the transfers, resolutions and refusals the
-- batch depends on. The function is VOLATILE, so in READ COMMITTED each statement takes a new
-- snapshot: the last three reads run after the locks were granted and see every batch that
-- committed meanwhile. Counters are text (JSON numbers would lose bigint precision).
CREATE FUNCTION ledger.batch_read(named uuid[], pending_ids uuid[], transfer_ids uuid[]) RETURNS json
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  wanted uuid[];
  locked json;
  hot json;
  known json;
  resolutions json;
  failures json;
BEGIN
  -- The accounts the transfers name plus those of the pending transfers they resolve
  -- (transfers never change once written).
  SELECT array_agg(DISTINCT w.id) INTO wanted FROM (
    SELECT unnest(named) AS id
    UNION ALL SELECT t.debit_account_id FROM ledger.transfers t WHERE t.id = ANY(pending_ids)
    UNION ALL SELECT t.credit_account_id FROM ledger.transfers t WHERE t.id = ANY(pending_ids)
  ) w;
  SELECT coalesce(json_agg(a), '[]') INTO locked FROM (
    SELECT id, currency, code, flags, debits_pending::text, debits_posted::text, credits_pending::text, credits_posted::text
      FROM ledger.accounts WHERE id = ANY(wanted) AND flags <> 0 ORDER BY id FOR UPDATE
  ) a;
  SELECT coalesce(json_agg(a), '[]') INTO hot FROM (
    SELECT id, currency, code, flags, debits_pending::text, debits_posted::text, credits_pending::text, credits_posted::text
      FROM ledger.account_balances WHERE id = ANY(wanted) AND flags = 0
  ) a;
  SELECT coalesce(json_agg(t), '[]') INTO known FROM ledger.transfers t WHERE t.id = ANY(transfer_ids || pending_ids);
  SELECT coalesce(json_agg(t), '[]') INTO resolutions FROM ledger.transfers t WHERE t.pending_id = ANY(pending_ids);
  SELECT coalesce(json_agg(f), '[]') INTO failures FROM ledger.transfer_failures f WHERE f.id = ANY(transfer_ids);
  RETURN json_build_object('locked', locked, 'hot', hot, 'known', known, 'resolutions', resolutions, 'failures', failures);
END;
$$;

-- Round trip 2, before COMMIT: the batch's new transfers, refused ids, the exact counters of its
-- limit accounts (absolute values; their rows were locked by batch_read), and the summed deltas
-- of its hot accounts added to one bucket row (ids in ascending order, so two batches sharing a
-- bucket lock its rows in the same order). Raises if a decided transfer was not inserted, so
-- the COMMIT that follows never runs. Returns now(), every new transfer's created_at.
CREATE FUNCTION ledger.batch_write(
  bucket_no int,
  t_id uuid[], t_debit uuid[], t_credit uuid[], t_amount bigint[], t_currency char(3)[], t_code int[], t_flags int[],
  t_pending uuid[], t_payment text[],
  f_id uuid[], f_result text[],
  e_id uuid[], e_dp bigint[], e_dpo bigint[], e_cp bigint[], e_cpo bigint[],
  h_id uuid[], h_dp bigint[], h_dpo bigint[], h_cp bigint[], h_cpo bigint[]
) RETURNS timestamptz
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  inserted bigint;
BEGIN
  IF cardinality(t_id) > 0 THEN
    INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, currency, code, flags, pending_id, payment_id)
    SELECT * FROM unnest(t_id, t_debit, t_credit, t_amount, t_currency, t_code, t_flags, t_pending, t_payment);
    GET DIAGNOSTICS inserted = ROW_COUNT;
    PERFORM ledger.assert(inserted = cardinality(t_id), 'inserted transfers differ from those decided');
  END IF;
  IF cardinality(f_id) > 0 THEN
    INSERT INTO ledger.transfer_failures (id, result) SELECT * FROM unnest(f_id, f_result) ON CONFLICT (id) DO NOTHING;
  END IF;
  IF cardinality(e_id) > 0 THEN
    UPDATE ledger.accounts AS a SET
      debits_pending = u.dp, debits_posted = u.dpo, credits_pending = u.cp, credits_posted = u.cpo
    FROM unnest(e_id, e_dp, e_dpo, e_cp, e_cpo) AS u(id, dp, dpo, cp, cpo)
    WHERE a.id = u.id AND a.id = ANY(e_id);
  END IF;
  IF cardinality(h_id) > 0 THEN
    INSERT INTO ledger.account_buckets AS b (account_id, bucket, debits_pending, debits_posted, credits_pending, credits_posted)
    SELECT u.id, bucket_no::smallint, u.dp, u.dpo, u.cp, u.cpo FROM unnest(h_id, h_dp, h_dpo, h_cp, h_cpo) AS u(id, dp, dpo, cp, cpo) ORDER BY u.id
    ON CONFLICT (account_id, bucket) DO UPDATE SET
      debits_pending = b.debits_pending + excluded.debits_pending,
      debits_posted = b.debits_posted + excluded.debits_posted,
      credits_pending = b.credits_pending + excluded.credits_pending,
      credits_posted = b.credits_posted + excluded.credits_posted;
  END IF;
  RETURN now();
END;
$$;

-- Down Migration
DROP FUNCTION ledger.batch_write(int, uuid[], uuid[], uuid[], bigint[], char(3)[], int[], int[], uuid[], text[], uuid[], text[],
  uuid[], bigint[], bigint[], bigint[], bigint[], uuid[], bigint[], bigint[], bigint[], bigint[]);
DROP FUNCTION ledger.batch_read(uuid[], uuid[], uuid[]);
ALTER TABLE ledger.transfers ADD CONSTRAINT transfers_pending_id_fkey FOREIGN KEY (pending_id) REFERENCES ledger.transfers (id);
