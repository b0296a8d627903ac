-- Seed :accounts accounts x :lots lots of 10 credits each, all due for expiry, consistent
-- with the ledger invariants (grant entries chained per account). For the expiry benchmark:
--   psql -v accounts=10000 -v lots=100 -f bench/expiry_seed.sql "$DATABASE_URL"
--   /usr/bin/time -v .venv/bin/python manage.py expire_credits
-- Triggers are off while seeding (session_replication_role), so only run it on a scratch DB.
SET session_replication_role = replica;
BEGIN;
INSERT INTO ledger_workspace (slug, name, timezone, created_at)
VALUES ('bench-expiry', 'Expiry benchmark', 'UTC', now()) ON CONFLICT DO NOTHING;
INSERT INTO ledger_customer (workspace_id, external_id, email, created_at)
SELECT w.id, 'bench-' || i, 'bench' || i || '@example.com', now()
FROM ledger_workspace w, generate_series(1, :accounts) i WHERE w.slug = 'bench-expiry';
INSERT INTO ledger_creditaccount (workspace_id, owner_kind, customer_id, balance, debt, overdraft_limit,
    total_earned, total_spent, total_expired, entry_seq, refill_interval, created_at, updated_at)
SELECT c.workspace_id, 'customer', c.id, 10 * :lots, 0, 0, 10 * :lots, 0, 0, :lots, '', now(), now()
FROM ledger_customer c JOIN ledger_workspace w ON w.id = c.workspace_id WHERE w.slug = 'bench-expiry';
INSERT INTO ledger_grant (account_id, kind, amount, remaining, priority, effective_from, expires_at,
    reason, actor, source, source_id, created_at)
SELECT a.id, 'purchase', 10, 10, 50, now() - interval '200 days', now() - interval '1 day' + (n || ' seconds')::interval,
    'bench', 'system:bench', '', '', now()
FROM ledger_creditaccount a JOIN ledger_workspace w ON w.id = a.workspace_id, generate_series(1, :lots) n
WHERE w.slug = 'bench-expiry';
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, lot_id,
    source, source_id, description, actor, request_hash, created_at)
SELECT g.account_id, ROW_NUMBER() OVER w, 'grant', 10, 10 * (ROW_NUMBER() OVER w - 1), 10 * ROW_NUMBER() OVER w,
    g.id, '', '', 'bench grant', 'system:bench', '', now()
FROM ledger_grant g JOIN ledger_creditaccount a ON a.id = g.account_id
JOIN ledger_workspace ws ON ws.id = a.workspace_id
WHERE ws.slug = 'bench-expiry'
WINDOW w AS (PARTITION BY g.account_id ORDER BY g.id);
COMMIT;
SET session_replication_role = origin;
ANALYZE;
