-- Up Migration

-- One round trip per batch: ledger.create_transfers locks, reads, decides every transfer in order,
-- writes and returns each transfer's outcome, in one call that is its own transaction (the
-- engine sends it as a single statement, no BEGIN/COMMIT). Before, a batch took two round trips
-- (ledger.batch_read, then the decision in Node, then ledger.batch_write with the COMMIT); Node
-- and Postgres took turns, and every batch's reads crossed the wire as JSON and came back as
-- array literals. The semantics are those of the Node decider it replaces (src/ledger/ledger.ts
-- before this migration; TigerBeetle's create_transfers): the same results, in the same order of
-- checks, the same locks, reads and writes.
--
-- SECURITY INVOKER (the default): the function runs with the caller's rights, so the app role
-- needs no right it did not have (insert transfers and refusals, move account counters and
-- buckets) and gains none (it still cannot UPDATE or DELETE ledger history). Every name is
-- schema-qualified.
--
-- How the function keeps its state: PL/pgSQL has no maps, so everything is an array indexed by
-- the request's position k (1..n) or the account's position. What does not change while the batch
-- is decided (the stored transfer with a request's id, its pending transfer and that one's
-- resolution, an earlier refusal, the accounts' positions) is looked up before the loop in one
-- set-based statement. What the batch itself creates is found through links to earlier requests
-- with the same id (prev_same_id), with an id equal to this pending id (prev_pending_def), or with
-- the same pending id (prev_same_pending): a transfer created earlier in the batch is a request
-- whose outcome is 'created'. A linked chain that fails restores the account counters saved at
-- its start and rewrites its other outcomes to linked_event_failed, which also removes what it
-- created from every later lookup.
CREATE FUNCTION ledger.create_transfers(
  bucket_no int,
  r_id uuid[], r_debit uuid[], r_credit uuid[], r_amount bigint[], r_currency text[], r_code int[], r_flags int[],
  r_pending uuid[], r_payment text[]
) RETURNS TABLE (
  o_id uuid, o_result text, o_first_result text,
  o_debit_account_id uuid, o_credit_account_id uuid, o_amount bigint, o_currency text, o_code int, o_flags int,
  o_pending_id uuid, o_payment_id text, o_created_at timestamptz
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  -- Flags (src/domain/ledger.ts).
  linked constant int := 1;
  pending_flag constant int := 2;
  post_flag constant int := 4;
  void_flag constant int := 8;
  kind_flags constant int := 14;
  debits_within_credits constant int := 1;
  credits_within_debits constant int := 2;
  closed_flag constant int := 4;
  counter_max constant numeric := 9223372036854775807;
  recorded_as_failed constant text[] := ARRAY['debit_account_not_found', 'credit_account_not_found',
    'pending_transfer_not_found', 'account_closed', 'exceeds_credits', 'exceeds_debits', 'overflows'];

  n int := cardinality(r_id);
  pending_ids uuid[];
  wanted uuid[];
  -- Accounts: the locked ones (limit flags) first, then the hot ones; counters now and before.
  a_id uuid[]; a_cur text[]; a_flags int[];
  a_dp bigint[]; a_dpo bigint[]; a_cp bigint[]; a_cpo bigint[];
  b_dp bigint[]; b_dpo bigint[]; b_cp bigint[]; b_cpo bigint[];
  h_id uuid[]; h_cur text[]; h_flags int[]; h_dp bigint[]; h_dpo bigint[]; h_cp bigint[]; h_cpo bigint[];
  save_dp bigint[]; save_dpo bigint[]; save_cp bigint[]; save_cpo bigint[];
  -- Per request, looked up before deciding: the stored transfer with its id (s_*), its pending
  -- transfer (p_*, with the positions of that one's accounts), the stored resolution of that pending
  -- transfer, an earlier refusal of its id, its accounts' positions, and the links to earlier requests.
  s_found boolean[]; s_debit uuid[]; s_credit uuid[]; s_amount bigint[]; s_cur text[]; s_code int[]; s_flags int[];
  s_pending uuid[]; s_payment text[]; s_created timestamptz[];
  p_found boolean[]; p_debit uuid[]; p_credit uuid[]; p_amount bigint[]; p_cur text[]; p_flags int[]; p_payment text[];
  p_didx int[]; p_cidx int[];
  q_flags int[]; f_before text[]; d_idx int[]; c_idx int[];
  prev_same_id int[]; prev_pending_def int[]; prev_same_pending int[];
  -- Per request, decided: outcome, first result of a refused id, whether the refusal is recorded,
  -- and the transfer answered with `created` or `exists` (t_*; for a created one also the
  -- positions of its accounts).
  o_res text[]; o_first text[]; o_rec boolean[];
  t_debit uuid[]; t_credit uuid[]; t_amount bigint[]; t_cur text[]; t_code int[]; t_flags int[]; t_pending uuid[];
  t_payment text[]; t_created timestamptz[]; t_didx int[]; t_cidx int[];

  k int; j int; chain_start int; chain_end int; failed_at int; kind int; res text;
  hit boolean; st_debit uuid; st_credit uuid; st_amount bigint; st_cur text; st_code int; st_flags int;
  st_pending uuid; st_payment text; st_created timestamptz; st_didx int; st_cidx int;
  resolved_flags int; is_post boolean; amount numeric; di int; ci int;
  d_dp numeric; d_dpo numeric; d_cp numeric; d_cpo numeric; c_dp numeric; c_dpo numeric; c_cp numeric; c_cpo numeric;
  created_count int; inserted bigint;
  e_id uuid[]; e_dp bigint[]; e_dpo bigint[]; e_cp bigint[]; e_cpo bigint[];
  x_id uuid[]; x_dp bigint[]; x_dpo bigint[]; x_cp bigint[]; x_cpo bigint[];
BEGIN
  PERFORM ledger.assert(n BETWEEN 1 AND 1000, 'a batch holds 1 to 1000 transfers');
  PERFORM ledger.assert(cardinality(r_debit) = n AND cardinality(r_credit) = n AND cardinality(r_amount) = n
    AND cardinality(r_currency) = n AND cardinality(r_code) = n AND cardinality(r_flags) = n
    AND cardinality(r_pending) = n AND cardinality(r_payment) = n, 'request arrays of different lengths');

  -- 1. The accounts: those the transfers name plus those of the pending transfers they resolve
  -- (transfers never change once written). Limit accounts are locked in ascending id order, so
  -- concurrent batches never deadlock; hot accounts (no flags: no limit to check) are read without
  -- a lock, with their bucket rows (ledger.account_balances), and only their deltas are written.
  SELECT array_agg(DISTINCT p) INTO pending_ids FROM unnest(r_pending) p WHERE p IS NOT NULL;
  SELECT array_agg(DISTINCT w.id) INTO wanted FROM (
    SELECT unnest(r_debit || r_credit) AS id
    UNION ALL SELECT t.debit_account_id FROM ledger.transfers t WHERE t.id = ANY(pending_ids)
    UNION ALL SELECT t.credit_account_id FROM ledger.transfers t WHERE t.id = ANY(pending_ids)
  ) w WHERE w.id IS NOT NULL;
  SELECT coalesce(array_agg(l.id ORDER BY l.id), '{}'), coalesce(array_agg(l.currency::text ORDER BY l.id), '{}'),
         coalesce(array_agg(l.flags ORDER BY l.id), '{}'),
         coalesce(array_agg(l.debits_pending ORDER BY l.id), '{}'), coalesce(array_agg(l.debits_posted ORDER BY l.id), '{}'),
         coalesce(array_agg(l.credits_pending ORDER BY l.id), '{}'), coalesce(array_agg(l.credits_posted ORDER BY l.id), '{}')
    INTO a_id, a_cur, a_flags, a_dp, a_dpo, a_cp, a_cpo
    FROM (SELECT * FROM ledger.accounts WHERE id = ANY(wanted) AND flags <> 0 ORDER BY id FOR UPDATE) l;
  SELECT coalesce(array_agg(h.id), '{}'), coalesce(array_agg(h.currency::text), '{}'), coalesce(array_agg(h.flags), '{}'),
         coalesce(array_agg(h.debits_pending), '{}'), coalesce(array_agg(h.debits_posted), '{}'),
         coalesce(array_agg(h.credits_pending), '{}'), coalesce(array_agg(h.credits_posted), '{}')
    INTO h_id, h_cur, h_flags, h_dp, h_dpo, h_cp, h_cpo
    FROM ledger.account_balances h WHERE h.id = ANY(wanted) AND h.flags = 0;
  a_id := a_id || h_id; a_cur := a_cur || h_cur; a_flags := a_flags || h_flags;
  a_dp := a_dp || h_dp; a_dpo := a_dpo || h_dpo; a_cp := a_cp || h_cp; a_cpo := a_cpo || h_cpo;
  b_dp := a_dp; b_dpo := a_dpo; b_cp := a_cp; b_cpo := a_cpo;

  -- 2. What the batch decides against, read after the locks were granted (this statement takes
  -- its own snapshot, so it sees every batch that committed meanwhile), per request in order.
  WITH req AS (
    SELECT u.k::int AS k, u.id, u.debit, u.credit, u.pending
      FROM unnest(r_id, r_debit, r_credit, r_pending) WITH ORDINALITY AS u(id, debit, credit, pending, k)
  ), acc AS (
    SELECT x.id, x.i::int AS i FROM unnest(a_id) WITH ORDINALITY AS x(id, i)
  ), links AS (
    SELECT r.k,
           lag(r.k) OVER (PARTITION BY r.id ORDER BY r.k) AS same_id,
           CASE WHEN r.pending IS NOT NULL THEN lag(r.k) OVER (PARTITION BY r.pending ORDER BY r.k) END AS same_pending
      FROM req r
  ), defs AS (
    SELECT r.k, max(d.k) AS def FROM req r JOIN req d ON d.id = r.pending AND d.k < r.k GROUP BY r.k
  )
  SELECT array_agg(s.id IS NOT NULL ORDER BY r.k), array_agg(s.debit_account_id ORDER BY r.k),
         array_agg(s.credit_account_id ORDER BY r.k), array_agg(s.amount ORDER BY r.k), array_agg(s.currency::text ORDER BY r.k),
         array_agg(s.code ORDER BY r.k), array_agg(s.flags ORDER BY r.k), array_agg(s.pending_id ORDER BY r.k),
         array_agg(s.payment_id ORDER BY r.k), array_agg(s.created_at ORDER BY r.k),
         array_agg(p.id IS NOT NULL ORDER BY r.k), array_agg(p.debit_account_id ORDER BY r.k),
         array_agg(p.credit_account_id ORDER BY r.k), array_agg(p.amount ORDER BY r.k), array_agg(p.currency::text ORDER BY r.k),
         array_agg(p.flags ORDER BY r.k), array_agg(p.payment_id ORDER BY r.k), array_agg(pd.i ORDER BY r.k),
         array_agg(pc.i ORDER BY r.k), array_agg(q.flags ORDER BY r.k), array_agg(f.result ORDER BY r.k),
         array_agg(ad.i ORDER BY r.k), array_agg(ac.i ORDER BY r.k),
         array_agg(coalesce(l.same_id, 0) ORDER BY r.k), array_agg(coalesce(df.def, 0) ORDER BY r.k),
         array_agg(coalesce(l.same_pending, 0) ORDER BY r.k)
    INTO s_found, s_debit, s_credit, s_amount, s_cur, s_code, s_flags, s_pending, s_payment, s_created,
         p_found, p_debit, p_credit, p_amount, p_cur, p_flags, p_payment, p_didx, p_cidx, q_flags, f_before,
         d_idx, c_idx, prev_same_id, prev_pending_def, prev_same_pending
    FROM req r
    JOIN links l ON l.k = r.k
    LEFT JOIN defs df ON df.k = r.k
    LEFT JOIN ledger.transfers s ON s.id = r.id
    LEFT JOIN ledger.transfers p ON p.id = r.pending
    LEFT JOIN ledger.transfers q ON q.pending_id = r.pending
    LEFT JOIN ledger.transfer_failures f ON f.id = r.id
    LEFT JOIN acc ad ON ad.id = r.debit
    LEFT JOIN acc ac ON ac.id = r.credit
    LEFT JOIN acc pd ON pd.id = p.debit_account_id
    LEFT JOIN acc pc ON pc.id = p.credit_account_id;
  -- A pending transfer that committed after the account statement's snapshot touches accounts
  -- this batch may not hold: start again (serialization_failure: the engine retries) rather than
  -- lock out of order.
  FOR k IN 1..n LOOP
    IF p_found[k] AND (p_didx[k] IS NULL OR p_cidx[k] IS NULL) THEN
      RAISE EXCEPTION 'pending transfer % appeared while the batch waited for its locks', r_pending[k]
        USING ERRCODE = 'serialization_failure';
    END IF;
  END LOOP;

  o_res := array_fill(NULL::text, ARRAY[n]); o_first := array_fill(NULL::text, ARRAY[n]);
  o_rec := array_fill(false, ARRAY[n]);
  t_debit := array_fill(NULL::uuid, ARRAY[n]); t_credit := t_debit; t_pending := t_debit;
  t_amount := array_fill(NULL::bigint, ARRAY[n]); t_cur := array_fill(NULL::text, ARRAY[n]); t_payment := t_cur;
  t_code := array_fill(NULL::int, ARRAY[n]); t_flags := t_code; t_didx := t_code; t_cidx := t_code;
  t_created := array_fill(NULL::timestamptz, ARRAY[n]);

  -- 3. Decide every transfer in order. A chain (transfers flagged linked, ended by one that is
  -- not) succeeds or fails as a whole; a batch that ends inside a chain applies none of it.
  chain_start := 1;
  WHILE chain_start <= n LOOP
    chain_end := chain_start;
    WHILE chain_end <= n AND r_flags[chain_end] & linked <> 0 LOOP chain_end := chain_end + 1; END LOOP;
    IF chain_end > n THEN
      FOR k IN chain_start..n LOOP o_res[k] := 'linked_event_chain_open'; END LOOP;
      EXIT;
    END IF;
    IF chain_end > chain_start THEN
      save_dp := a_dp; save_dpo := a_dpo; save_cp := a_cp; save_cpo := a_cpo;
    END IF;
    failed_at := 0;
    FOR k IN chain_start..chain_end LOOP
      res := NULL;
      -- An id already stored, or created earlier in this batch: compare (exists_with_different_*).
      hit := s_found[k];
      IF hit THEN
        st_debit := s_debit[k]; st_credit := s_credit[k]; st_amount := s_amount[k]; st_cur := s_cur[k];
        st_code := s_code[k]; st_flags := s_flags[k]; st_pending := s_pending[k]; st_payment := s_payment[k];
        st_created := s_created[k];
      ELSE
        j := prev_same_id[k];
        WHILE j > 0 LOOP
          IF o_res[j] = 'created' THEN
            hit := true;
            st_debit := t_debit[j]; st_credit := t_credit[j]; st_amount := t_amount[j]; st_cur := t_cur[j];
            st_code := t_code[j]; st_flags := t_flags[j]; st_pending := t_pending[j]; st_payment := t_payment[j];
            st_created := t_created[j];
            EXIT;
          END IF;
          j := prev_same_id[j];
        END LOOP;
      END IF;
      IF hit THEN
        res := CASE
          WHEN r_flags[k] <> st_flags THEN 'exists_with_different_flags'
          WHEN r_pending[k] IS DISTINCT FROM st_pending THEN 'exists_with_different_pending_id'
          WHEN r_debit[k] IS NOT NULL AND r_debit[k] <> st_debit THEN 'exists_with_different_debit_account_id'
          WHEN r_credit[k] IS NOT NULL AND r_credit[k] <> st_credit THEN 'exists_with_different_credit_account_id'
          -- A void stores the pending amount it released; its request may say 0 for the same thing.
          WHEN r_amount[k] IS NOT NULL AND NOT (r_flags[k] & void_flag <> 0 AND r_amount[k] = 0)
               AND r_amount[k] <> st_amount THEN 'exists_with_different_amount'
          WHEN r_currency[k] IS NOT NULL AND r_currency[k] <> st_cur THEN 'exists_with_different_currency'
          WHEN r_code[k] <> st_code THEN 'exists_with_different_code'
          WHEN r_payment[k] IS NOT NULL AND r_payment[k] IS DISTINCT FROM st_payment THEN 'exists_with_different_payment_id'
          ELSE 'exists' END;
        IF res = 'exists' THEN
          t_debit[k] := st_debit; t_credit[k] := st_credit; t_amount[k] := st_amount; t_cur[k] := st_cur;
          t_code[k] := st_code; t_flags[k] := st_flags; t_pending[k] := st_pending; t_payment[k] := st_payment;
          t_created[k] := st_created;
        END IF;
      END IF;
      -- An id refused before (recorded in this batch, or stored): the refusal is replayed.
      IF res IS NULL THEN
        j := prev_same_id[k];
        WHILE j > 0 LOOP
          IF o_rec[j] THEN o_first[k] := o_res[j]; EXIT; END IF;
          j := prev_same_id[j];
        END LOOP;
        o_first[k] := coalesce(o_first[k], f_before[k]);
        IF o_first[k] IS NOT NULL THEN res := 'id_already_failed'; END IF;
      END IF;
      kind := r_flags[k] & kind_flags;
      IF res IS NULL AND kind NOT IN (0, pending_flag, post_flag, void_flag) THEN res := 'flags_are_mutually_exclusive'; END IF;

      IF res IS NULL AND kind IN (post_flag, void_flag) THEN
        -- A post or void of a pending transfer.
        IF r_pending[k] IS NULL THEN res := 'pending_id_required';
        ELSIF r_pending[k] = r_id[k] THEN res := 'pending_id_must_be_different';
        ELSE
          hit := p_found[k];
          IF hit THEN
            st_debit := p_debit[k]; st_credit := p_credit[k]; st_amount := p_amount[k]; st_cur := p_cur[k];
            st_flags := p_flags[k]; st_payment := p_payment[k]; st_didx := p_didx[k]; st_cidx := p_cidx[k];
          ELSE
            j := prev_pending_def[k];
            WHILE j > 0 LOOP
              IF o_res[j] = 'created' THEN
                hit := true;
                st_debit := t_debit[j]; st_credit := t_credit[j]; st_amount := t_amount[j]; st_cur := t_cur[j];
                st_flags := t_flags[j]; st_payment := t_payment[j]; st_didx := t_didx[j]; st_cidx := t_cidx[j];
                EXIT;
              END IF;
              j := prev_same_id[j];
            END LOOP;
          END IF;
          resolved_flags := q_flags[k];
          IF resolved_flags IS NULL THEN
            j := prev_same_pending[k];
            WHILE j > 0 LOOP
              IF o_res[j] = 'created' THEN resolved_flags := r_flags[j]; EXIT; END IF;
              j := prev_same_pending[j];
            END LOOP;
          END IF;
          is_post := kind = post_flag;
          res := CASE
            WHEN NOT hit THEN 'pending_transfer_not_found'
            WHEN st_flags & pending_flag = 0 THEN 'pending_transfer_not_pending'
            WHEN r_debit[k] IS NOT NULL AND r_debit[k] <> st_debit THEN 'pending_transfer_has_different_debit_account_id'
            WHEN r_credit[k] IS NOT NULL AND r_credit[k] <> st_credit THEN 'pending_transfer_has_different_credit_account_id'
            WHEN r_currency[k] IS NOT NULL AND r_currency[k] <> st_cur THEN 'currency_mismatch'
            WHEN resolved_flags IS NOT NULL AND resolved_flags & post_flag <> 0 THEN 'pending_transfer_already_posted'
            WHEN resolved_flags IS NOT NULL THEN 'pending_transfer_already_voided'
            WHEN is_post AND r_amount[k] IS NOT NULL AND r_amount[k] <= 0 THEN 'amount_must_be_positive'
            WHEN is_post AND r_amount[k] IS NOT NULL AND r_amount[k] > st_amount THEN 'exceeds_pending_transfer_amount'
            -- TigerBeetle: a void names no amount (0) or exactly the amount it releases.
            WHEN NOT is_post AND r_amount[k] IS NOT NULL AND r_amount[k] <> 0 AND r_amount[k] <> st_amount
              THEN 'pending_transfer_has_different_amount'
            -- A void is always allowed, so that a closed account's holds can still be released.
            WHEN is_post AND (a_flags[st_didx] & closed_flag <> 0 OR a_flags[st_cidx] & closed_flag <> 0) THEN 'account_closed'
          END;
          IF res IS NULL THEN
            amount := CASE WHEN is_post THEN coalesce(r_amount[k], st_amount) ELSE st_amount END;
            di := st_didx; ci := st_cidx;
            d_dp := a_dp[di] - st_amount; d_dpo := a_dpo[di]; d_cp := a_cp[di]; d_cpo := a_cpo[di];
            c_dp := a_dp[ci]; c_dpo := a_dpo[ci]; c_cp := a_cp[ci] - st_amount; c_cpo := a_cpo[ci];
            IF is_post THEN
              d_dpo := d_dpo + amount; c_cpo := c_cpo + amount;
              IF greatest(d_dp, d_dpo, d_cp, d_cpo, c_dp, c_dpo, c_cp, c_cpo,
                          d_dp + d_dpo, d_cp + d_cpo, c_dp + c_dpo, c_cp + c_cpo) > counter_max THEN
                res := 'overflows';
              END IF;
            END IF;
            IF res IS NULL THEN
              res := 'created';
              t_debit[k] := st_debit; t_credit[k] := st_credit; t_amount[k] := amount; t_cur[k] := st_cur;
              t_payment[k] := coalesce(r_payment[k], st_payment);
            END IF;
          END IF;
        END IF;
      ELSIF res IS NULL THEN
        -- A new transfer: single-phase, or pending (a hold).
        IF r_pending[k] IS NOT NULL THEN res := 'pending_id_must_be_empty';
        ELSE
          IF r_debit[k] IS NULL OR r_credit[k] IS NULL OR r_amount[k] IS NULL OR r_currency[k] IS NULL THEN
            -- Refused by the engine's validation before any call; reaching here is a bug.
            RAISE EXCEPTION 'transfer %: debit_account_id, credit_account_id, amount_minor and currency are required', r_id[k]
              USING ERRCODE = 'invalid_parameter_value';
          END IF;
          di := d_idx[k]; ci := c_idx[k];
          res := CASE
            WHEN r_amount[k] <= 0 THEN 'amount_must_be_positive'
            WHEN r_debit[k] = r_credit[k] THEN 'accounts_must_be_different'
            WHEN di IS NULL THEN 'debit_account_not_found'
            WHEN ci IS NULL THEN 'credit_account_not_found'
            WHEN a_cur[di] <> r_currency[k] OR a_cur[ci] <> r_currency[k] THEN 'currency_mismatch'
            WHEN a_flags[di] & closed_flag <> 0 OR a_flags[ci] & closed_flag <> 0 THEN 'account_closed'
          END;
          IF res IS NULL THEN
            amount := r_amount[k];
            d_dp := a_dp[di]; d_dpo := a_dpo[di]; d_cp := a_cp[di]; d_cpo := a_cpo[di];
            c_dp := a_dp[ci]; c_dpo := a_dpo[ci]; c_cp := a_cp[ci]; c_cpo := a_cpo[ci];
            IF kind = pending_flag THEN d_dp := d_dp + amount; c_cp := c_cp + amount;
            ELSE d_dpo := d_dpo + amount; c_cpo := c_cpo + amount;
            END IF;
            res := CASE
              WHEN greatest(d_dp, d_dpo, d_cp, d_cpo, c_dp, c_dpo, c_cp, c_cpo,
                            d_dp + d_dpo, d_cp + d_cpo, c_dp + c_dpo, c_cp + c_cpo) > counter_max THEN 'overflows'
              WHEN a_flags[di] & debits_within_credits <> 0 AND d_dp + d_dpo > d_cpo THEN 'exceeds_credits'
              WHEN a_flags[di] & credits_within_debits <> 0 AND d_cp + d_cpo > d_dpo THEN 'exceeds_debits'
              WHEN a_flags[ci] & debits_within_credits <> 0 AND c_dp + c_dpo > c_cpo THEN 'exceeds_credits'
              WHEN a_flags[ci] & credits_within_debits <> 0 AND c_cp + c_cpo > c_dpo THEN 'exceeds_debits'
              ELSE 'created' END;
            IF res = 'created' THEN
              t_debit[k] := r_debit[k]; t_credit[k] := r_credit[k]; t_amount[k] := r_amount[k]; t_cur[k] := r_currency[k];
              t_payment[k] := r_payment[k];
            END IF;
          END IF;
        END IF;
      END IF;

      o_res[k] := res;
      IF res = 'created' THEN
        a_dp[di] := d_dp; a_dpo[di] := d_dpo; a_cp[di] := d_cp; a_cpo[di] := d_cpo;
        a_dp[ci] := c_dp; a_dpo[ci] := c_dpo; a_cp[ci] := c_cp; a_cpo[ci] := c_cpo;
        t_code[k] := r_code[k]; t_flags[k] := r_flags[k]; t_pending[k] := r_pending[k];
        t_created[k] := now(); t_didx[k] := di; t_cidx[k] := ci;
      ELSIF res <> 'exists' THEN
        failed_at := k;
        EXIT;
      END IF;
    END LOOP;
    IF failed_at > 0 THEN
      o_rec[failed_at] := o_res[failed_at] = ANY(recorded_as_failed);
      IF chain_end > chain_start THEN
        a_dp := save_dp; a_dpo := save_dpo; a_cp := save_cp; a_cpo := save_cpo;
        FOR k IN chain_start..chain_end LOOP
          IF k <> failed_at THEN o_res[k] := 'linked_event_failed'; END IF;
        END LOOP;
      END IF;
    END IF;
    chain_start := chain_end + 1;
  END LOOP;

  -- 4. What must hold after deciding, checked before anything is written: every counter within
  -- 0..bigint (limit accounts' limits are also checked by their rows' constraints at the UPDATE).
  PERFORM ledger.assert(NOT EXISTS (
    SELECT 1 FROM unnest(a_dp, a_dpo, a_cp, a_cpo) AS u(dp, dpo, cp, cpo) WHERE dp < 0 OR dpo < 0 OR cp < 0 OR cpo < 0
  ), 'an account counter is negative after deciding');
  PERFORM ledger.assert(o_res[n] IS NOT NULL, 'a transfer was left undecided');

  -- 5. The writes: new transfers, recorded refusals, the exact counters of the limit accounts
  -- (their rows are locked), and the summed deltas of the hot accounts added to one bucket row
  -- (ids in ascending order, so two batches sharing a bucket lock its rows in the same order).
  SELECT count(*) INTO created_count FROM unnest(o_res) AS u(res) WHERE u.res = 'created';
  IF created_count > 0 THEN
    INSERT INTO ledger.transfers (id, debit_account_id, credit_account_id, amount, currency, code, flags, pending_id, payment_id)
    SELECT u.id, u.debit, u.credit, u.amount, u.cur, u.code, u.flags, u.pending, u.payment
      FROM unnest(r_id, o_res, t_debit, t_credit, t_amount, t_cur, t_code, t_flags, t_pending, t_payment)
        AS u(id, res, debit, credit, amount, cur, code, flags, pending, payment)
     WHERE u.res = 'created';
    GET DIAGNOSTICS inserted = ROW_COUNT;
    PERFORM ledger.assert(inserted = created_count, 'inserted transfers differ from those decided');
  END IF;
  INSERT INTO ledger.transfer_failures (id, result)
  SELECT u.id, u.res FROM unnest(r_id, o_res, o_rec) AS u(id, res, rec) WHERE u.rec
  ON CONFLICT (id) DO NOTHING;
  SELECT array_agg(u.id), array_agg(u.dp), array_agg(u.dpo), array_agg(u.cp), array_agg(u.cpo)
    INTO e_id, e_dp, e_dpo, e_cp, e_cpo
    FROM unnest(a_id, a_flags, a_dp, a_dpo, a_cp, a_cpo, b_dp, b_dpo, b_cp, b_cpo)
      AS u(id, flags, dp, dpo, cp, cpo, bdp, bdpo, bcp, bcpo)
   WHERE u.flags <> 0 AND (u.dp, u.dpo, u.cp, u.cpo) IS DISTINCT FROM (u.bdp, u.bdpo, u.bcp, u.bcpo);
  IF e_id IS NOT NULL THEN
    UPDATE ledger.accounts AS a SET
      debits_pending = u.dp, debits_posted = u.dpo, credits_pending = u.cp, credits_posted = u.cpo
    FROM unnest(e_id, e_dp, e_dpo, e_cp, e_cpo) AS u(id, dp, dpo, cp, cpo)
    WHERE a.id = u.id AND a.id = ANY(e_id);
  END IF;
  SELECT array_agg(u.id ORDER BY u.id), array_agg(u.dp - u.bdp ORDER BY u.id), array_agg(u.dpo - u.bdpo ORDER BY u.id),
         array_agg(u.cp - u.bcp ORDER BY u.id), array_agg(u.cpo - u.bcpo ORDER BY u.id)
    INTO x_id, x_dp, x_dpo, x_cp, x_cpo
    FROM unnest(a_id, a_flags, a_dp, a_dpo, a_cp, a_cpo, b_dp, b_dpo, b_cp, b_cpo)
      AS u(id, flags, dp, dpo, cp, cpo, bdp, bdpo, bcp, bcpo)
   WHERE u.flags = 0 AND (u.dp, u.dpo, u.cp, u.cpo) IS DISTINCT FROM (u.bdp, u.bdpo, u.bcp, u.bcpo);
  IF x_id IS NOT NULL THEN
    INSERT INTO ledger.account_buckets AS b (account_id, bucket, debits_pending, debits_posted, credits_pending, credits_posted)
    SELECT u.id, bucket_no::smallint, u.dp, u.dpo, u.cp, u.cpo FROM unnest(x_id, x_dp, x_dpo, x_cp, x_cpo) AS u(id, dp, dpo, cp, cpo)
     ORDER BY u.id
    ON CONFLICT (account_id, bucket) DO UPDATE SET
      debits_pending = b.debits_pending + excluded.debits_pending,
      debits_posted = b.debits_posted + excluded.debits_posted,
      credits_pending = b.credits_pending + excluded.credits_pending,
      credits_posted = b.credits_posted + excluded.credits_posted;
  END IF;

  -- 6. One row per request, in order; the transfer for `created` and `exists`.
  RETURN QUERY
  SELECT u.id, u.res, u.first,
         CASE WHEN ok THEN u.debit END, CASE WHEN ok THEN u.credit END, CASE WHEN ok THEN u.amount END,
         CASE WHEN ok THEN u.cur END, CASE WHEN ok THEN u.code END, CASE WHEN ok THEN u.flags END,
         CASE WHEN ok THEN u.pending END, CASE WHEN ok THEN u.payment END, CASE WHEN ok THEN u.created END
    FROM unnest(r_id, o_res, o_first, t_debit, t_credit, t_amount, t_cur, t_code, t_flags, t_pending, t_payment, t_created)
      WITH ORDINALITY AS u(id, res, first, debit, credit, amount, cur, code, flags, pending, payment, created, k),
         LATERAL (SELECT u.res IN ('created', 'exists') AS ok) s
   ORDER BY u.k;
END;
$$;

-- Down Migration
DROP FUNCTION ledger.create_transfers(int, uuid[], uuid[], uuid[], bigint[], text[], int[], int[], uuid[], text[]);
