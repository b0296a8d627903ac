"""The extension points later reports use: a new consistency check and a live Health report
are each one registration, picked up by the report, the command and the Health page."""
from decimal import Decimal

import pytest
from django.urls import reverse

from ledger import clock
from ledger.reports import _REGISTRY, Report, consistency, report_get, report_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def extra_check():
    @consistency.consistency_check("planted_check", "Keys whose legacy remaining differs from the account", order=40)
    def planted_check(*, workspace_id, limit):
        return [["planted_check", 99, "acme", "key key_1", 10, 12]]

    yield
    consistency._CHECKS.pop("planted_check")


@pytest.fixture
def live_report():
    @report_register
    class StuckThings(Report):
        name = "stuck-things"
        title = "Stuck things"
        columns = ["thing", "amount"]
        fails_on_findings = True
        health = "live"

        def run(self, *, workspace_id=None, limit=None):
            return self.output(rows=[["a", Decimal("12")]][:limit], params={}, generated_at=clock.now())

    yield
    _REGISTRY.pop("stuck-things")


def test_a_registered_check_joins_the_consistency_report(extra_check):
    output = report_get("consistency").run()
    assert output.rows == [["planted_check", 99, "acme", "key key_1", 10, 12]] and output.findings == 1
    assert any(note.startswith("planted_check: Keys whose") for note in output.notes)


def test_a_live_report_becomes_a_health_section(live_report, admin_client):
    sections = admin_client.get(reverse("dashboards:health")).context["sections"]
    stuck = next(section for section in sections if section.key == "stuck-things")
    assert (stuck.status, stuck.rows) == ("fail", [["a", Decimal("12")]])
    assert report_get("stuck-things").run().to_dict()["rows"] == [["a", 12]]
