-- Ledger invariants the database itself enforces (PostgreSQL).

-- 1. Entries are append-only: UPDATE and DELETE are refused for everyone.
CREATE OR REPLACE FUNCTION ledger_entry_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % on ledger_ledgerentry is refused (entry %)',
        TG_OP, OLD.id USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON ledger_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_refuse_change();

-- 2. Entries chain without gaps: entry n of an account starts where entry n-1 ended.
CREATE OR REPLACE FUNCTION ledger_entry_check_chain() RETURNS trigger AS $$
DECLARE
    previous_after bigint;
BEGIN
    IF NEW.seq = 1 THEN
        previous_after := 0;
    ELSE
        SELECT balance_after INTO previous_after FROM ledger_ledgerentry
         WHERE account_id = NEW.account_id AND seq = NEW.seq - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger entry chain broken: account % has no entry % before entry %',
                NEW.account_id, NEW.seq - 1, NEW.seq USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.balance_before <> previous_after THEN
        RAISE EXCEPTION 'ledger entry chain broken: account % entry % starts at % but the previous balance is %',
            NEW.account_id, NEW.seq, NEW.balance_before, previous_after USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_chain
    BEFORE INSERT ON ledger_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_check_chain();

-- 3. At commit, an account's balance is its last entry's balance_after and its lots'
--    remaining minus its debt: nobody can move a balance without an entry explaining it.
CREATE OR REPLACE FUNCTION ledger_account_check_balance() RETURNS trigger AS $$
DECLARE
    account record;
    last_after bigint;
    in_lots bigint;
BEGIN
    SELECT id, balance, debt, entry_seq INTO account FROM ledger_creditaccount WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF account.entry_seq = 0 THEN
        last_after := 0;
    ELSE
        SELECT balance_after INTO last_after FROM ledger_ledgerentry
         WHERE account_id = account.id AND seq = account.entry_seq;
    END IF;
    IF last_after IS DISTINCT FROM account.balance THEN
        RAISE EXCEPTION 'account % balance % is not its last entry''s balance_after %',
            account.id, account.balance, last_after USING ERRCODE = 'check_violation';
    END IF;
    SELECT COALESCE(SUM(remaining), 0) INTO in_lots FROM ledger_grant WHERE account_id = account.id;
    IF in_lots - account.debt <> account.balance THEN
        RAISE EXCEPTION 'account % balance % differs from its lots (%) minus debt (%)',
            account.id, account.balance, in_lots, account.debt USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_account_balance_explained
    AFTER INSERT OR UPDATE ON ledger_creditaccount
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_account_check_balance();
