"""What every report is and returns: a named class that produces a ``ReportOutput``, a table
(title, columns, rows) with a findings count, when it was made and with which parameters,
that renders to a text table, JSON and CSV."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


@dataclass
class ReportOutput:
    """The result of one report run. ``rows`` are lists aligned with ``columns``;
    ``summary`` holds totals worth a headline; ``notes`` explain the checks."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    findings: int
    generated_at: datetime
    params: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict (dates as ISO 8601 strings)."""
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [[_jsonable(value) for value in row] for row in self.rows],
            "findings": self.findings,
            "generated_at": self.generated_at.isoformat(),
            "params": {key: _jsonable(value) for key, value in self.params.items()},
            "summary": {key: _jsonable(value) for key, value in self.summary.items()},
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ReportOutput:
        """Rebuild a stored result (dates inside rows stay ISO strings)."""
        return cls(
            name=data["name"], title=data["title"], columns=data["columns"], rows=data["rows"],
            findings=data["findings"], generated_at=datetime.fromisoformat(data["generated_at"]),
            params=data.get("params", {}), summary=data.get("summary", {}), notes=data.get("notes", []),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def to_csv(self) -> str:
        """Return the rows as CSV with a header line (no title or summary)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if value is None else _jsonable(value) for value in row])
        return buffer.getvalue()

    def to_text(self) -> str:
        """Return a plain-text table with the title, parameters, summary and a findings line."""
        cells = [[_cell(value) for value in row] for row in self.rows]
        widths = [len(column) for column in self.columns]
        for row in cells:
            widths = [max(width, len(cell)) for width, cell in zip(widths, row)]
        params = ", ".join(f"{key}={value}" for key, value in self.params.items() if value is not None)
        lines = [f"{self.title} — generated {self.generated_at:%Y-%m-%d %H:%M:%S %Z}".rstrip()]
        if params:
            lines.append(f"parameters: {params}")
        lines += [f"{key.replace('_', ' ')}: {_cell(value)}" for key, value in self.summary.items()]
        lines.append("")
        if cells:
            lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths)).rstrip())
            lines.append("  ".join("-" * w for w in widths))
            lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
            lines.append("")
        lines.append(f"{self.findings} finding{'s' if self.findings != 1 else ''}")
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(_jsonable(value))


class Report:
    """A named, registered report. Subclasses set ``name``, ``title`` and ``columns`` and
    implement :meth:`run`; a read only, it never writes.

    ``fails_on_findings``: findings mean something is wrong (the command exits 1).
    ``health``: how the Health dashboard shows it: ``"stored"`` (its latest stored result,
    for reports too heavy to run per page view), ``"live"`` (run on each view with a small
    limit; it must be cheap and bounded) or ``""`` (not shown).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    columns: ClassVar[list[str]]
    description: ClassVar[str] = ""
    fails_on_findings: ClassVar[bool] = False
    health: ClassVar[str] = ""

    def run(self, *, workspace_id: int | None = None, limit: int | None = None) -> ReportOutput:
        raise NotImplementedError

    def health_run(self, *, limit: int) -> ReportOutput:
        """Return what the Health page shows of a live report: by default the report over
        every workspace with ``limit`` rows. Override to leave out what is too slow per view."""
        return self.run(limit=limit)

    def output(self, *, rows: list[list[Any]], params: dict, generated_at: datetime, **extra: Any) -> ReportOutput:
        """Build this report's output; findings default to the number of rows."""
        extra.setdefault("findings", len(rows))
        return ReportOutput(
            name=self.name, title=self.title, columns=list(self.columns), rows=rows,
            generated_at=generated_at, params=params, **extra,
        )
