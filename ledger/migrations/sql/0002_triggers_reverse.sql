DROP TRIGGER IF EXISTS ledger_account_balance_explained ON ledger_creditaccount;
DROP FUNCTION IF EXISTS ledger_account_check_balance();
DROP TRIGGER IF EXISTS ledger_entry_chain ON ledger_ledgerentry;
DROP FUNCTION IF EXISTS ledger_entry_check_chain();
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_ledgerentry;
DROP FUNCTION IF EXISTS ledger_entry_refuse_change();
