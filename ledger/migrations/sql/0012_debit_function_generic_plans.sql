-- ledger_debit: debit_create's whole debit in one statement (PostgreSQL).
--
-- 0012 replaces 0011's body: the lots drawn are updated and their allocations inserted one
-- simple statement each, instead of one join on unnest(lot_ids, takes). PL/pgSQL caches a
-- generic plan for a statement only when it costs about what a custom plan would; the
-- estimate of a join on unnest depends on the arrays' length, so those two statements were
-- planned again on every debit (a tenth of the debit throughput, bench/ledger_writes.py).
--
-- The same steps, in the same order and with the same rules, as the Python posting core
-- (postings.account_lock, entry_replay, lots_draw, entry_append, allocations_record):
-- lock the account, look the idempotency key up, draw the spendable lots in consumption
-- order (then debt within the overdraft limit), update the lots, append the entry, move the
-- account's balance, debt, total_spent and entry_seq, and record the allocations. The
-- triggers of 0002_triggers.sql check the result as they check the Python path's.
--
-- Returns a bigint array whose first element says what happened:
--   {0, entry id, seq, balance_before, allocation ids..., lot ids (NULL: debt)..., amounts...}
--   {1, entry id}                        the key was used with the same request: replay
--   {2}                                  the key was used with another request: conflict
--   {3, balance, available}              insufficient credits (nothing written)
--   {4}                                  no such account (in this workspace)
-- VOLATILE (the default): under READ COMMITTED each statement sees what others committed
-- before it, so a request waiting on the account lock finds a concurrent same-key entry.
CREATE OR REPLACE FUNCTION ledger_debit(
    p_account_id bigint, p_workspace_id bigint, p_amount bigint, p_key text, p_hash text,
    p_at timestamptz, p_now timestamptz, p_source text, p_source_id text, p_description text,
    p_actor text, p_actor_user_id bigint
) RETURNS bigint[] AS $$
DECLARE
    account record;
    lot record;
    previous record;
    lot_ids bigint[] := '{}';
    takes bigint[] := '{}';
    allocation_ids bigint[] := '{}';
    left_to_draw bigint := p_amount;
    spendable bigint := 0;
    headroom bigint;
    take bigint;
    new_entry bigint;
    allocation_id bigint;
BEGIN
    SELECT id, balance, debt, overdraft_limit, total_spent, entry_seq INTO account
      FROM ledger_creditaccount
     WHERE id = p_account_id AND (p_workspace_id IS NULL OR workspace_id = p_workspace_id)
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN ARRAY[4];
    END IF;

    IF p_key IS NOT NULL AND p_key <> '' THEN
        SELECT id, request_hash INTO previous FROM ledger_ledgerentry
         WHERE account_id = p_account_id AND idempotency_key = p_key;
        IF FOUND THEN
            IF previous.request_hash IS DISTINCT FROM p_hash THEN
                RETURN ARRAY[2];
            END IF;
            RETURN ARRAY[1, previous.id];
        END IF;
    END IF;

    -- The order of postings.lots_spendable: priority, earliest expiry (never last), oldest.
    FOR lot IN
        SELECT id, remaining FROM ledger_grant
         WHERE account_id = p_account_id AND remaining > 0 AND voided_at IS NULL AND expired_at IS NULL
           AND effective_from <= p_at AND (expires_at IS NULL OR expires_at > p_at)
         ORDER BY priority, expires_at NULLS LAST, id
    LOOP
        spendable := spendable + lot.remaining;
        EXIT WHEN left_to_draw = 0;
        take := LEAST(left_to_draw, lot.remaining);
        lot_ids := lot_ids || lot.id;
        takes := takes || take;
        left_to_draw := left_to_draw - take;
    END LOOP;

    headroom := account.overdraft_limit - account.debt;
    IF left_to_draw > headroom THEN
        RETURN ARRAY[3, account.balance, spendable + GREATEST(headroom, 0)];
    END IF;

    -- One UPDATE (and below one INSERT) per lot drawn, a debit draws one or two: a simple
    -- statement keeps its cached generic plan, where a join on unnest(arrays) would be
    -- planned again on every call (its estimate depends on the arrays' length).
    FOR i IN 1 .. cardinality(lot_ids) LOOP
        UPDATE ledger_grant SET remaining = remaining - takes[i] WHERE id = lot_ids[i];
    END LOOP;

    INSERT INTO ledger_ledgerentry (
        account_id, seq, entry_type, amount, balance_before, balance_after, lot_id, refund_of_id,
        source, source_id, description, actor, actor_user_id, idempotency_key, request_hash, created_at
    ) VALUES (
        p_account_id, account.entry_seq + 1, 'debit', -p_amount, account.balance, account.balance - p_amount,
        NULL, NULL, p_source, p_source_id, p_description, p_actor, p_actor_user_id, p_key, p_hash, p_now
    ) RETURNING id INTO new_entry;

    UPDATE ledger_creditaccount
       SET entry_seq = account.entry_seq + 1, balance = account.balance - p_amount,
           debt = account.debt + left_to_draw, total_spent = account.total_spent + p_amount,
           updated_at = p_now
     WHERE id = p_account_id;

    IF left_to_draw > 0 THEN  -- the rest is debt: an allocation without a lot
        lot_ids := lot_ids || NULL::bigint;
        takes := takes || left_to_draw;
    END IF;
    FOR i IN 1 .. cardinality(lot_ids) LOOP
        INSERT INTO ledger_allocation (entry_id, lot_id, amount, refunded)
        VALUES (new_entry, lot_ids[i], takes[i], 0)
        RETURNING id INTO allocation_id;
        allocation_ids := allocation_ids || allocation_id;
    END LOOP;

    RETURN ARRAY[0, new_entry, account.entry_seq + 1, account.balance] || allocation_ids || lot_ids || takes;
END
$$ LANGUAGE plpgsql;
