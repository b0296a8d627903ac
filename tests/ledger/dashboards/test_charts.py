"""Server-side SVG charts: axes, labels and points without any external resource."""
from datetime import date, timedelta

from ledger.dashboards.charts import Series, line_chart, number_short, ticks_nice


def test_number_short_formats_axis_labels():
    assert [number_short(v) for v in (0, 950, 12_500, 3_200_000, -1_100_000_000, 2000)] == [
        "0", "950", "12.5k", "3.2M", "-1.1B", "2k"]


def test_ticks_are_round_and_cover_the_range():
    assert ticks_nice(0, 97) == [0, 20, 40, 60, 80, 100]
    ticks = ticks_nice(-30, 120)
    assert ticks[0] <= -30 and ticks[-1] >= 120 and 0 in ticks


def test_line_chart_draws_every_series_with_legend_axes_and_tooltips():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(30)]
    svg = line_chart(series=[Series("Granted", "#2e7d32", list(range(30))), Series("Spent <x>", "#1565c0", [5] * 30)],
                     days=days, title="Credits & more")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and svg.count("<circle") == 60
    assert "Credits &amp; more" in svg and "Spent &lt;x&gt;" in svg
    assert "Jan 01" in svg and ">30<" in svg
    assert "Granted 2026-01-30: 29" in svg
    assert "href" not in svg and "<script" not in svg


def test_flat_and_empty_series_still_render():
    svg = line_chart(series=[Series("Zero", "#000", [0, 0])], days=[date(2026, 1, 1), date(2026, 1, 2)], title="t", area=True)
    assert "<polygon" in svg and "nan" not in svg.lower()
