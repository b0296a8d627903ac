"""``manage.py credits_report``: formats, workspace filter, exit status, storing."""
import json

import pytest
from django.core.management import CommandError, call_command

from ledger.models import ReportResult
from migrations_ops.models import RunStatus

from ...factories import AccountFactory, WorkspaceFactory
from ..reporting import defences_off, ledger_build

pytestmark = pytest.mark.django_db


def run(capsys, *args):
    code = 0
    try:
        call_command("credits_report", *args)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr()


def test_clean_consistency_exits_zero_with_text_table(capsys):
    ledger_build(workspaces=1, accounts_per_workspace=1)
    code, out = run(capsys, "consistency")
    assert code == 0 and "Ledger consistency" in out.out and "0 findings" in out.out


def test_findings_exit_one_and_json_lists_them(capsys):
    ledger = ledger_build(workspaces=2, accounts_per_workspace=1)
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_creditaccount SET total_earned = total_earned + 1, total_spent = total_spent + 1 WHERE id = %s", [ledger.accounts[1].pk])
    code, out = run(capsys, "consistency", "--json")
    data = json.loads(out.out)
    assert code == 1 and data["findings"] == 2 and "2 finding(s)" in out.err
    assert {row[1] for row in data["rows"]} == {ledger.accounts[1].pk}
    code, out = run(capsys, "consistency", "--workspace", "ws-0", "--csv")
    assert code == 0 and out.out == "check,account,workspace,subject,expected,actual\n"


def test_expiry_report_never_fails_the_command(capsys):
    code, out = run(capsys, "expiry", "--csv")
    assert code == 0 and out.out.startswith("user,email,")


def test_store_keeps_the_result_with_its_actor(capsys):
    ledger_build(workspaces=1, accounts_per_workspace=1)
    run(capsys, "consistency", "--store")
    stored = ReportResult.objects.get()
    assert (stored.name, stored.findings, stored.actor) == ("consistency", 0, "system:credits_report")
    assert stored.result["title"] == "Ledger consistency"


def test_unknown_report_and_workspace_are_command_errors():
    with pytest.raises(CommandError, match="unknown report"):
        call_command("credits_report", "nope")
    with pytest.raises(CommandError, match="no workspace"):
        call_command("credits_report", "expiry", "--workspace", "missing")


def test_undeducted_tasks_exit_one_only_for_tasks_the_sweep_missed(capsys):
    from .test_undeducted_tasks import task

    account = AccountFactory(workspace=WorkspaceFactory(slug="acme"))
    task(account, deducted=False, minutes_ago=2)
    task(account, shortfall=5)
    code, out = run(capsys, "undeducted-tasks", "--csv")
    assert code == 0 and out.out.startswith("section,task,external_id,workspace,")
    assert [line.split(",")[0] for line in out.out.splitlines()[1:]] == ["undeducted", "short"]
    stale = task(account, deducted=False, minutes_ago=60)
    code, out = run(capsys, "undeducted-tasks", "--json", "--workspace", "acme")
    assert code == 1 and json.loads(out.out)["findings"] == 1 and "1 finding(s)" in out.err
    assert json.loads(out.out)["rows"][0][1] == stale.pk


def test_migration_status_exits_one_on_a_failed_run(capsys):
    from .test_migration_status import run_plant

    code, out = run(capsys, "migration-status")
    assert code == 0 and "key-credits" in out.out and "0 findings" in out.out
    run_plant("key-credits", RunStatus.FAILED, error="boom")
    code, out = run(capsys, "migration-status", "--csv")
    assert code == 1 and "key-credits," in out.out and ",failed,boom" in out.out
