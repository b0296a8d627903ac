DROP FUNCTION IF EXISTS ledger_debit(bigint, bigint, bigint, text, text, timestamptz, timestamptz, text, text, text, text, bigint);
