-- The extension stays: other objects may use it.
DROP INDEX IF EXISTS ledger_customer_email_trgm;
DROP INDEX IF EXISTS ledger_apikey_external_id_trgm;
DROP INDEX IF EXISTS ledger_identity_external_id_trgm;
