"""Report outputs render to a text table, JSON and CSV; the registry finds every module."""
import json
from datetime import datetime, timezone

import pytest

from ledger.reports import Report, report_get, report_register, reports_all
from ledger.reports.base import ReportOutput

OUTPUT = ReportOutput(
    name="demo", title="Demo report", columns=["account", "when", "amount"],
    rows=[[1, datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc), 1500], [22, None, -3]],
    findings=2, generated_at=datetime(2026, 1, 3, tzinfo=timezone.utc), params={"workspace": "acme"},
    summary={"total": 1497},
)


def test_text_table_aligns_columns_and_counts_findings():
    text = OUTPUT.to_text()
    assert "Demo report" in text and "parameters: workspace=acme" in text and "total: 1497" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("account"))
    assert header.index("when") == lines[lines.index(header) + 2].index("2026-01-02 03:04")
    assert text.rstrip().endswith("2 findings")


def test_json_round_trips_through_from_dict():
    data = json.loads(OUTPUT.to_json())
    assert data["rows"][0] == [1, "2026-01-02T03:04:00+00:00", 1500]
    again = ReportOutput.from_dict(data)
    assert (again.title, again.findings, again.generated_at, again.summary) == ("Demo report", 2, OUTPUT.generated_at, {"total": 1497})


def test_csv_has_header_and_empty_cells_for_none():
    assert OUTPUT.to_csv().splitlines() == ["account,when,amount", "1,2026-01-02T03:04:00+00:00,1500", "22,,-3"]


def test_registry_loads_every_report_module():
    assert {"consistency", "expiry"} <= set(reports_all())
    assert report_get("consistency").fails_on_findings and not report_get("expiry").fails_on_findings


def test_unknown_report_names_the_known_ones():
    with pytest.raises(KeyError, match="known: .*consistency"):
        report_get("nope")


def test_a_name_cannot_be_registered_twice():
    class Duplicate(Report):
        name = "consistency"

    with pytest.raises(ValueError, match="registered twice"):
        report_register(Duplicate)
