"""The key-credits phase: one stored row, changed by Operations with a reason and an audit
event, from the service, the command or the admin (confirmed)."""
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse

from ledger.exceptions import InvalidInput
from ledger.models import AuditEvent
from ledger.roles import OPERATIONS, SUPPORT
from migrations_ops.models import KeyCreditsSetting
from migrations_ops.services.key_phase import key_credits_phase, key_credits_phase_set

from ...factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_the_phase_starts_legacy_and_is_one_stored_row():
    assert key_credits_phase() == "legacy"
    assert list(KeyCreditsSetting.objects.values_list("pk", "phase")) == [(1, "legacy")]


def test_a_change_is_stored_and_audited_with_who_what_and_why(staff_actor):
    change = key_credits_phase_set(phase="dual", actor=staff_actor, reason="v1 deployed in every region")
    assert (change.before, change.after, change.changed, key_credits_phase()) == ("legacy", "dual", True, "dual")
    event = AuditEvent.objects.get(action="key_credits.phase_change")
    assert (event.actor, event.reason, event.details) == (staff_actor.label, "v1 deployed in every region",
                                                          {"from": "legacy", "to": "dual"})
    setting = KeyCreditsSetting.objects.get()
    assert (setting.changed_by, setting.reason) == (staff_actor.label, "v1 deployed in every region")


def test_setting_the_same_phase_writes_nothing(staff_actor):
    change = key_credits_phase_set(phase="legacy", actor=staff_actor, reason="again")
    assert not change.changed and not AuditEvent.objects.exists()


@pytest.mark.parametrize("phase, reason, field", [("both", "why", "phase"), (None, "why", "phase"),
                                                  ("dual", "  ", "reason")])
def test_bad_input_names_the_field_and_writes_nothing(staff_actor, phase, reason, field):
    with pytest.raises(InvalidInput) as refused:
        key_credits_phase_set(phase=phase, actor=staff_actor, reason=reason)
    assert refused.value.field == field
    assert key_credits_phase() == "legacy" and not AuditEvent.objects.exists()


def test_the_database_refuses_an_unknown_phase_and_a_second_row():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        KeyCreditsSetting.objects.filter(pk=1).update(phase="both")
    with pytest.raises(IntegrityError), transaction.atomic():
        KeyCreditsSetting.objects.create(pk=2, phase="dual")


def test_the_command_shows_and_changes_the_phase_with_confirmation():
    out = io.StringIO()
    call_command("key_credits_phase", stdout=out)
    assert out.getvalue() == "key credits phase: legacy\n"
    with pytest.raises(CommandError, match="standard input is not a terminal; pass --yes"):
        call_command("key_credits_phase", "dual", "--reason", "v1 is out", stdin=io.StringIO())
    with pytest.raises(CommandError, match="reason: is required"):
        call_command("key_credits_phase", "dual", "--yes")
    assert key_credits_phase() == "legacy"
    call_command("key_credits_phase", "dual", "--reason", "v1 is out", "--yes", stdout=out)
    assert out.getvalue().endswith("key credits phase: legacy -> dual\n") and key_credits_phase() == "dual"
    assert AuditEvent.objects.get(action="key_credits.phase_change").actor.startswith("cli:")


def _staff_in(group):
    user = StaffFactory()
    user.groups.add(Group.objects.get(name=group))
    return user


def test_operations_changes_it_in_the_admin_after_a_confirmation_page(client):
    client.force_login(_staff_in(OPERATIONS))
    url = reverse("admin:migrations_ops_keycreditssetting_changelist")
    assert client.get(url).status_code == 200
    data = {"phase": "dual", "reason": "v1 deployed"}
    confirm = client.post(url, {**data, "step": "confirm"})
    assert b"legacy \xe2\x86\x92 dual" in confirm.content and key_credits_phase() == "legacy"
    done = client.post(url, {**data, "step": "do"})
    assert done.status_code == 302 and key_credits_phase() == "dual"
    assert AuditEvent.objects.get(action="key_credits.phase_change").details == {"from": "legacy", "to": "dual"}


def test_support_cannot_change_the_phase(client):
    client.force_login(_staff_in(SUPPORT))
    url = reverse("admin:migrations_ops_keycreditssetting_changelist")
    assert client.post(url, {"phase": "dual", "reason": "x", "step": "do"}).status_code == 403
    assert key_credits_phase() == "legacy"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("answer, phase", [("yes\n", "dual"), ("no\n", "legacy")])
def test_the_command_asks_on_a_terminal(answer, phase):
    if phase == "legacy":
        with pytest.raises(CommandError, match="not confirmed; nothing was changed"):
            call_command("key_credits_phase", "dual", "--reason", "v1", stdin=_Terminal(answer), stdout=io.StringIO())
    else:
        call_command("key_credits_phase", "dual", "--reason", "v1", stdin=_Terminal(answer), stdout=io.StringIO())
    assert key_credits_phase() == phase
