-- Up Migration

-- An assertion usable inside any statement: raises when the condition is not true, so a check on
-- a batch's writes runs in the same statement, before the COMMIT that follows it.
CREATE FUNCTION ledger.assert(condition boolean, detail text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF condition IS NOT TRUE THEN
    RAISE EXCEPTION 'ledger assertion failed: %', detail USING ERRCODE = 'internal_error';
  END IF;
  RETURN true;
END;
$$;

-- Down Migration
DROP FUNCTION ledger.assert(boolean, text);
