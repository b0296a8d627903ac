-- Trigram indexes for the admin's account search (selectors.accounts.account_ids_matching):
-- a case-insensitive substring match on a product user's email, an API key's id and an
-- identity's id. Django's icontains is UPPER(column) LIKE UPPER('%term%'), which a GIN
-- trigram index on UPPER(column) serves for terms of three characters or more; without it
-- every search scans the owner table (a second at a million product users).
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension (PostgreSQL 13+): the
-- database owner may create it. Where it cannot be created, the migration says so and the
-- search still works, by scanning.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available (%); the account search will scan the owner tables', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS ledger_customer_email_trgm
            ON ledger_customer USING gin (UPPER(email::text) gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS ledger_apikey_external_id_trgm
            ON ledger_apikey USING gin (UPPER(external_id::text) gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS ledger_identity_external_id_trgm
            ON ledger_identity USING gin (UPPER(external_id::text) gin_trgm_ops);
    END IF;
END
$$;
