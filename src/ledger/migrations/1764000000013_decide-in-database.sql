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
-- Planned once per session, in the order written: a generic plan (the arrays are parameters either
-- way, so a custom plan knows nothing more), and joins in the order of the FROM lists (each is
-- written driving from the requests into index lookups; the planner's search over a dozen joined
-- items cost milliseconds per plan, and a fresh session plans custom for five calls first, each
-- time holding the locks the batch already took).
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET join_collapse_limit = 1
AS $$
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
  -- Below 2^61 a sum of three counters fits in a bigint: the exact (numeric) overflow check is skipped.
  exact_above constant bigint := 2305843009213693952;
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
  prev_same_id int[]; prev_pending_def int[]; prev_same_pending int[]; positions int[];
  -- No stored transfer, no earlier request and no refusal with the request's id: the common case.
  plain boolean[];
  -- The chain a request is in: its first and last request (last is null in a chain the batch ends
  -- inside); a request that is not linked is a chain of one.
  chain_first int[]; chain_last int[];
  -- Per request, decided: outcome, first result of a refused id, whether the refusal is recorded,
  -- and what of the transfer answered differs from the request (t_*: the stored transfer of an
  -- `exists`; the accounts, amount, currency and payment a post or void takes from its pending one).
  o_res text[]; o_first text[]; o_rec boolean[];
  t_debit uuid[]; t_credit uuid[]; t_amount bigint[]; t_cur text[]; t_payment text[]; t_created timestamptz[];

  k int; j int; skip_to int; kind int; res text;
  resolved_flags int; is_post boolean; amt bigint; held bigint; posted_amount bigint; di int; ci int;
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
  -- (All arrays of one aggregate row come from the same rows in the same order.)
  SELECT coalesce(array_agg(l.id), '{}'), coalesce(array_agg(l.currency::text), '{}'), coalesce(array_agg(l.flags), '{}'),
         coalesce(array_agg(l.debits_pending), '{}'), coalesce(array_agg(l.debits_posted), '{}'),
         coalesce(array_agg(l.credits_pending), '{}'), coalesce(array_agg(l.credits_posted), '{}')
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
  -- The rows are sorted once, by request position, and aggregated in that order (one sort
  -- instead of one per array); the order is checked below.
  WITH req AS (
    SELECT u.k::int AS k, u.id, u.debit, u.credit, u.pending, u.flags
      FROM unnest(r_id, r_debit, r_credit, r_pending, r_flags) WITH ORDINALITY AS u(id, debit, credit, pending, flags, k)
  ), chains AS (
    SELECT r.k,
           coalesce(max(CASE WHEN r.flags & linked = 0 THEN r.k END)
                      OVER (ORDER BY r.k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) + 1 AS first,
           -- (a running minimum from the end: a frame whose start moves would be recomputed per row)
           min(CASE WHEN r.flags & linked = 0 THEN r.k END) OVER (ORDER BY r.k DESC ROWS UNBOUNDED PRECEDING) AS last
      FROM req r
  ), acc AS (
    SELECT x.id, x.i::int AS i FROM unnest(a_id) WITH ORDINALITY AS x(id, i)
  ), links AS (
    SELECT r.k,
           lag(r.k) OVER (PARTITION BY r.id ORDER BY r.k) AS same_id,
           CASE WHEN r.pending IS NOT NULL THEN lag(r.k) OVER (PARTITION BY r.pending ORDER BY r.k) END AS same_pending
      FROM req r
  ), defs AS (
    SELECT r.k, max(d.k) AS def FROM req r JOIN req d ON d.id = r.pending AND d.k < r.k GROUP BY r.k
  ), looked_up AS (
    SELECT r.k, s.id IS NOT NULL AS s_found, s.debit_account_id AS s_debit, s.credit_account_id AS s_credit,
           s.amount AS s_amount, s.currency::text AS s_cur, s.code AS s_code, s.flags AS s_flags, s.pending_id AS s_pending,
           s.payment_id AS s_payment, s.created_at AS s_created,
           p.id IS NOT NULL AS p_found, p.debit_account_id AS p_debit, p.credit_account_id AS p_credit, p.amount AS p_amount,
           p.currency::text AS p_cur, p.flags AS p_flags, p.payment_id AS p_payment, pd.i AS p_didx, pc.i AS p_cidx,
           q.flags AS q_flags, f.result AS f_before, ad.i AS d_idx, ac.i AS c_idx,
           coalesce(l.same_id, 0) AS same_id, coalesce(df.def, 0) AS def, coalesce(l.same_pending, 0) AS same_pending,
           s.id IS NULL AND l.same_id IS NULL AND f.id IS NULL AS plain, ch.first AS chain_first, ch.last AS chain_last
      FROM req r
      JOIN links l ON l.k = r.k
      JOIN chains ch ON ch.k = r.k
      LEFT JOIN defs df ON df.k = r.k
      LEFT JOIN ledger.transfers s ON s.id = r.id
      LEFT JOIN ledger.transfers p ON p.id = r.pending
      LEFT JOIN ledger.transfers q ON q.pending_id = r.pending
      LEFT JOIN ledger.transfer_failures f ON f.id = r.id
      LEFT JOIN acc ad ON ad.id = r.debit
      LEFT JOIN acc ac ON ac.id = r.credit
      LEFT JOIN acc pd ON pd.id = p.debit_account_id
      LEFT JOIN acc pc ON pc.id = p.credit_account_id
     ORDER BY r.k
  )
  SELECT array_agg(x.k), array_agg(x.s_found), array_agg(x.s_debit), array_agg(x.s_credit), array_agg(x.s_amount),
         array_agg(x.s_cur), array_agg(x.s_code), array_agg(x.s_flags), array_agg(x.s_pending), array_agg(x.s_payment),
         array_agg(x.s_created), array_agg(x.p_found), array_agg(x.p_debit), array_agg(x.p_credit), array_agg(x.p_amount),
         array_agg(x.p_cur), array_agg(x.p_flags), array_agg(x.p_payment), array_agg(x.p_didx), array_agg(x.p_cidx),
         array_agg(x.q_flags), array_agg(x.f_before), array_agg(x.d_idx), array_agg(x.c_idx),
         array_agg(x.same_id), array_agg(x.def), array_agg(x.same_pending), array_agg(x.plain),
         array_agg(x.chain_first), array_agg(x.chain_last)
    INTO positions, s_found, s_debit, s_credit, s_amount, s_cur, s_code, s_flags, s_pending, s_payment, s_created,
         p_found, p_debit, p_credit, p_amount, p_cur, p_flags, p_payment, p_didx, p_cidx, q_flags, f_before,
         d_idx, c_idx, prev_same_id, prev_pending_def, prev_same_pending, plain, chain_first, chain_last
    FROM looked_up x;
  PERFORM ledger.assert(positions = (SELECT array_agg(g) FROM generate_series(1, n) g), 'looked-up rows out of request order');
  -- A pending transfer that committed after the account statement's snapshot touches accounts
  -- this batch may not hold: start again (serialization_failure: the engine retries) rather than
  -- lock out of order.
  FOR k IN 1..n LOOP
    IF p_found[k] AND (p_didx[k] IS NULL OR p_cidx[k] IS NULL) THEN
      RAISE EXCEPTION 'pending transfer % appeared while the batch waited for its locks', r_pending[k]
        USING ERRCODE = 'serialization_failure';
    END IF;
  END LOOP;

  o_res := array_fill(NULL::text, ARRAY[n]); o_first := o_res;
  o_rec := array_fill(false, ARRAY[n]);
  t_debit := array_fill(NULL::uuid, ARRAY[n]); t_credit := t_debit;
  t_amount := array_fill(NULL::bigint, ARRAY[n]); t_cur := o_res; t_payment := o_res;
  t_created := array_fill(NULL::timestamptz, ARRAY[n]);
  -- Every transfer that is not a post or void names its accounts, amount and currency (the
  -- engine's validation refuses it before any call; here it would be a bug).
  PERFORM ledger.assert(NOT EXISTS (
    SELECT 1 FROM unnest(r_flags, r_debit, r_credit, r_amount, r_currency) AS u(f, d, c, a, cur)
     WHERE u.f & (post_flag | void_flag) = 0 AND (u.d IS NULL OR u.c IS NULL OR u.a IS NULL OR u.cur IS NULL)
  ), 'a transfer that is not a post or void lacks debit_account_id, credit_account_id, amount_minor or currency');

  -- 3. Decide every transfer in order. A chain (transfers flagged linked, ended by one that is
  -- not) succeeds or fails as a whole; a batch that ends inside a chain applies none of it.
  -- Each PL/pgSQL statement costs about as much as a dozen operators inside one expression, so
  -- each decision is one CASE in the order of the checks, and only what changes is assigned.
  -- A transfer the batch creates is answered from its request (t_* holds only what differs:
  -- the accounts, amount, currency and payment a post or void takes from its pending transfer).
  skip_to := 0;
  FOR k IN 1..n LOOP
    IF chain_last[k] IS NULL THEN o_res[k] := 'linked_event_chain_open'; CONTINUE; END IF;
    IF k <= skip_to THEN o_res[k] := 'linked_event_failed'; CONTINUE; END IF;
    IF chain_first[k] = k AND chain_last[k] > k THEN
      save_dp := a_dp; save_dpo := a_dpo; save_cp := a_cp; save_cpo := a_cpo;
    END IF;
    res := NULL;
    IF NOT plain[k] THEN
      -- Its id is stored, was created earlier in this batch (copied into s_*[k]), or was refused.
      IF NOT s_found[k] THEN
        j := prev_same_id[k];
        WHILE j > 0 LOOP
          IF o_res[j] = 'created' THEN
            s_found[k] := true; s_debit[k] := coalesce(t_debit[j], r_debit[j]);
            s_credit[k] := coalesce(t_credit[j], r_credit[j]); s_amount[k] := coalesce(t_amount[j], r_amount[j]);
            s_cur[k] := coalesce(t_cur[j], r_currency[j]); s_code[k] := r_code[j]; s_flags[k] := r_flags[j];
            s_pending[k] := r_pending[j]; s_payment[k] := coalesce(t_payment[j], r_payment[j]); s_created[k] := now();
            EXIT;
          END IF;
          j := prev_same_id[j];
        END LOOP;
      END IF;
      IF s_found[k] THEN
        res := CASE
          WHEN r_flags[k] <> s_flags[k] THEN 'exists_with_different_flags'
          WHEN r_pending[k] IS DISTINCT FROM s_pending[k] THEN 'exists_with_different_pending_id'
          WHEN r_debit[k] <> s_debit[k] THEN 'exists_with_different_debit_account_id'
          WHEN r_credit[k] <> s_credit[k] THEN 'exists_with_different_credit_account_id'
          -- A void stores the pending amount it released; its request may say 0 for the same thing.
          WHEN r_amount[k] <> s_amount[k] AND NOT (r_flags[k] & void_flag <> 0 AND r_amount[k] = 0)
            THEN 'exists_with_different_amount'
          WHEN r_currency[k] <> s_cur[k] THEN 'exists_with_different_currency'
          WHEN r_code[k] <> s_code[k] THEN 'exists_with_different_code'
          WHEN r_payment[k] IS NOT NULL AND r_payment[k] IS DISTINCT FROM s_payment[k] THEN 'exists_with_different_payment_id'
          ELSE 'exists' END;
        IF res = 'exists' THEN
          t_debit[k] := s_debit[k]; t_credit[k] := s_credit[k]; t_amount[k] := s_amount[k]; t_cur[k] := s_cur[k];
          t_payment[k] := s_payment[k]; t_created[k] := s_created[k];
        END IF;
      ELSE
        j := prev_same_id[k];
        WHILE j > 0 LOOP
          IF o_rec[j] THEN o_first[k] := o_res[j]; EXIT; END IF;
          j := prev_same_id[j];
        END LOOP;
        o_first[k] := coalesce(o_first[k], f_before[k]);
        IF o_first[k] IS NOT NULL THEN res := 'id_already_failed'; END IF;
      END IF;
    END IF;

    IF res IS NULL THEN
      kind := r_flags[k] & kind_flags;
      IF kind = 0 OR kind = pending_flag THEN
        -- A new transfer: single-phase, or pending (a hold). Counters are bigint; below 2^61 each,
        -- no sum of three can overflow, so the exact check (numeric) runs only above that.
        -- Adding the amount to debits pending or posted moves the same sums, so the overflow
        -- check is the same for both kinds; posted_amount is what a limit on the other side sees.
        di := d_idx[k]; ci := c_idx[k]; amt := r_amount[k];
        posted_amount := CASE WHEN kind = 0 THEN amt ELSE 0 END;
        res := CASE
          WHEN r_pending[k] IS NOT NULL THEN 'pending_id_must_be_empty'
          WHEN amt <= 0 THEN 'amount_must_be_positive'
          WHEN r_debit[k] = r_credit[k] THEN 'accounts_must_be_different'
          WHEN di IS NULL THEN 'debit_account_not_found'
          WHEN ci IS NULL THEN 'credit_account_not_found'
          WHEN a_cur[di] <> r_currency[k] OR a_cur[ci] <> r_currency[k] THEN 'currency_mismatch'
          WHEN (a_flags[di] | a_flags[ci]) & closed_flag <> 0 THEN 'account_closed'
          WHEN greatest(a_dp[di], a_dpo[di], a_cp[di], a_cpo[di], a_dp[ci], a_dpo[ci], a_cp[ci], a_cpo[ci], amt) >= exact_above
            AND greatest(a_dp[di]::numeric + a_dpo[di] + amt, a_cp[di]::numeric + a_cpo[di],
                         a_dp[ci]::numeric + a_dpo[ci], a_cp[ci]::numeric + a_cpo[ci] + amt) > counter_max THEN 'overflows'
          WHEN a_flags[di] & debits_within_credits <> 0 AND a_dp[di] + a_dpo[di] + amt > a_cpo[di] THEN 'exceeds_credits'
          WHEN a_flags[di] & credits_within_debits <> 0 AND a_cp[di] + a_cpo[di] > a_dpo[di] + posted_amount THEN 'exceeds_debits'
          WHEN a_flags[ci] & debits_within_credits <> 0 AND a_dp[ci] + a_dpo[ci] > a_cpo[ci] + posted_amount THEN 'exceeds_credits'
          WHEN a_flags[ci] & credits_within_debits <> 0 AND a_cp[ci] + a_cpo[ci] + amt > a_dpo[ci] THEN 'exceeds_debits'
          ELSE 'created' END;
        IF res = 'created' THEN
          IF kind = 0 THEN a_dpo[di] := a_dpo[di] + amt; a_cpo[ci] := a_cpo[ci] + amt;
          ELSE a_dp[di] := a_dp[di] + amt; a_cp[ci] := a_cp[ci] + amt;
          END IF;
        END IF;
      ELSIF kind = post_flag OR kind = void_flag THEN
        -- A post or void of a pending transfer: stored (p_*), or created earlier in this batch
        -- (copied into p_*[k]); already resolved if stored so (q_flags) or earlier in this batch.
        resolved_flags := q_flags[k];
        IF r_pending[k] IS NOT NULL AND r_pending[k] <> r_id[k] THEN
          IF NOT p_found[k] THEN
            j := prev_pending_def[k];
            WHILE j > 0 LOOP
              IF o_res[j] = 'created' THEN
                p_found[k] := true; p_debit[k] := coalesce(t_debit[j], r_debit[j]);
                p_credit[k] := coalesce(t_credit[j], r_credit[j]); p_amount[k] := coalesce(t_amount[j], r_amount[j]);
                p_cur[k] := coalesce(t_cur[j], r_currency[j]); p_flags[k] := r_flags[j];
                p_payment[k] := coalesce(t_payment[j], r_payment[j]); p_didx[k] := d_idx[j]; p_cidx[k] := c_idx[j];
                EXIT;
              END IF;
              j := prev_same_id[j];
            END LOOP;
          END IF;
          IF resolved_flags IS NULL THEN
            j := prev_same_pending[k];
            WHILE j > 0 LOOP
              IF o_res[j] = 'created' THEN resolved_flags := r_flags[j]; EXIT; END IF;
              j := prev_same_pending[j];
            END LOOP;
          END IF;
        END IF;
        di := p_didx[k]; ci := p_cidx[k]; held := p_amount[k];
        is_post := kind = post_flag;
        amt := CASE WHEN is_post THEN coalesce(r_amount[k], held) ELSE held END;
        res := CASE
          WHEN r_pending[k] IS NULL THEN 'pending_id_required'
          WHEN r_pending[k] = r_id[k] THEN 'pending_id_must_be_different'
          WHEN NOT p_found[k] THEN 'pending_transfer_not_found'
          WHEN p_flags[k] & pending_flag = 0 THEN 'pending_transfer_not_pending'
          WHEN r_debit[k] <> p_debit[k] THEN 'pending_transfer_has_different_debit_account_id'
          WHEN r_credit[k] <> p_credit[k] THEN 'pending_transfer_has_different_credit_account_id'
          WHEN r_currency[k] <> p_cur[k] THEN 'currency_mismatch'
          WHEN resolved_flags & post_flag <> 0 THEN 'pending_transfer_already_posted'
          WHEN resolved_flags IS NOT NULL THEN 'pending_transfer_already_voided'
          WHEN is_post AND r_amount[k] <= 0 THEN 'amount_must_be_positive'
          WHEN is_post AND r_amount[k] > held THEN 'exceeds_pending_transfer_amount'
          -- TigerBeetle: a void names no amount (0) or exactly the amount it releases.
          WHEN NOT is_post AND r_amount[k] <> 0 AND r_amount[k] <> held THEN 'pending_transfer_has_different_amount'
          -- A void is always allowed, so that a closed account's holds can still be released.
          WHEN is_post AND (a_flags[di] | a_flags[ci]) & closed_flag <> 0 THEN 'account_closed'
          WHEN is_post
            AND greatest(a_dp[di], a_dpo[di], a_cp[di], a_cpo[di], a_dp[ci], a_dpo[ci], a_cp[ci], a_cpo[ci], amt) >= exact_above
            AND greatest(a_dp[di]::numeric - held + a_dpo[di] + amt, a_cp[di]::numeric + a_cpo[di],
                         a_dp[ci]::numeric + a_dpo[ci], a_cp[ci]::numeric - held + a_cpo[ci] + amt) > counter_max THEN 'overflows'
          ELSE 'created' END;
        IF res = 'created' THEN
          a_dp[di] := a_dp[di] - held; a_cp[ci] := a_cp[ci] - held;
          IF is_post THEN a_dpo[di] := a_dpo[di] + amt; a_cpo[ci] := a_cpo[ci] + amt; END IF;
          t_debit[k] := p_debit[k]; t_credit[k] := p_credit[k]; t_amount[k] := amt; t_cur[k] := p_cur[k];
          t_payment[k] := coalesce(r_payment[k], p_payment[k]);
        END IF;
      ELSE
        res := 'flags_are_mutually_exclusive';
      END IF;
    END IF;

    o_res[k] := res;
    IF res <> 'created' AND res <> 'exists' THEN
      o_rec[k] := res = ANY(recorded_as_failed);
      IF chain_last[k] > chain_first[k] THEN
        -- The chain fails as a whole: its counters back, its other transfers linked_event_failed.
        a_dp := save_dp; a_dpo := save_dpo; a_cp := save_cp; a_cpo := save_cpo;
        FOR j IN chain_first[k]..k - 1 LOOP o_res[j] := 'linked_event_failed'; END LOOP;
        skip_to := chain_last[k];
      END IF;
    END IF;
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
    SELECT u.id, coalesce(u.t_debit, u.debit), coalesce(u.t_credit, u.credit), coalesce(u.t_amount, u.amount),
           coalesce(u.t_cur, u.cur), u.code, u.flags, u.pending, coalesce(u.t_payment, u.payment)
      FROM unnest(r_id, o_res, r_debit, r_credit, r_amount, r_currency, r_code, r_flags, r_pending, r_payment,
                  t_debit, t_credit, t_amount, t_cur, t_payment)
        AS u(id, res, debit, credit, amount, cur, code, flags, pending, payment, t_debit, t_credit, t_amount, t_cur, t_payment)
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
         CASE WHEN s.ok THEN coalesce(u.t_debit, u.debit) END, CASE WHEN s.ok THEN coalesce(u.t_credit, u.credit) END,
         CASE WHEN s.ok THEN coalesce(u.t_amount, u.amount) END, CASE WHEN s.ok THEN coalesce(u.t_cur, u.cur) END,
         CASE WHEN s.ok THEN u.code END, CASE WHEN s.ok THEN u.flags END, CASE WHEN s.ok THEN u.pending END,
         CASE WHEN s.ok THEN coalesce(u.t_payment, u.payment) END,
         CASE WHEN u.res = 'created' THEN now() WHEN s.ok THEN u.t_created END
    FROM unnest(r_id, o_res, o_first, r_debit, r_credit, r_amount, r_currency, r_code, r_flags, r_pending, r_payment,
                t_debit, t_credit, t_amount, t_cur, t_payment, t_created)
      WITH ORDINALITY AS u(id, res, first, debit, credit, amount, cur, code, flags, pending, payment,
                           t_debit, t_credit, t_amount, t_cur, t_payment, t_created, k),
         LATERAL (SELECT u.res IN ('created', 'exists') AS ok) s
   ORDER BY u.k;
END;
$$;

-- The two round trips' functions it replaces (migration 1764000000012) are no longer called.
DROP FUNCTION ledger.batch_write(int, uuid[], uuid[], uuid[], bigint[], char(3)[], int[], int[], uuid[], text[], uuid[], text[],
  uuid[], bigint[], bigint[], bigint[], bigint[], uuid[], bigint[], bigint[], bigint[], bigint[]);
DROP FUNCTION ledger.batch_read(uuid[], uuid[], uuid[]);

-- Down Migration
-- (The engine that called ledger.batch_read and ledger.batch_write is gone with them: migrating
-- below this one needs that engine's code, and its functions from migration 1764000000012.)
DROP FUNCTION ledger.create_transfers(int, uuid[], uuid[], uuid[], bigint[], text[], int[], int[], uuid[], text[]);
