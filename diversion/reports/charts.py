"""Report charts as SVG, written by hand: bars, stacked bars and step lines (no GUI, no network).

The SVG keeps its text as text (so it can be read back from a PDF and by screen readers) and
carries a <title> and <desc>. Embed it as an image: `<img src="{{ svg|data_uri }}" alt=...>`
works both in WeasyPrint PDFs and under the pages' Content-Security-Policy (img-src data:).

The charts were drawn by matplotlib until issue 17: importing it (and numpy) added about
45 MiB to every web worker that showed a report page and most of a second to each PDF, for
three simple chart types. Writing the few elements these charts need takes a few
milliseconds and nothing is imported (tests/test_light_startup.py). Series differ in
pattern and line style as well as colour, so the charts read without colour.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diversion.core.timeutils import add_months
from diversion.reports.reoffending import FOLLOW_UP_MONTHS, SurvivalStep

if TYPE_CHECKING:
    from diversion.reports.measures import AttendanceSummary

# Colours from the GOV.UK palette; line styles differ too, so the chart reads without colour.
SERIES_STYLES = (("#1d70b8", ""), ("#d4351c", "6 3"), ("#505a5f", "1.5 2.5"))
DAYS_IN_WINDOW = 366  # the longest 12-month follow-up window
GRID = "#b1b4b6"
INK = "#0b0c0c"
FONT = "Liberation Sans, Arial, DejaVu Sans, sans-serif"
FONT_SIZE = 9
WIDTH = 453.6  # 6.3 inches in points, the width of an A4 page's text
LEFT, RIGHT, TOP = 46.0, 8.0, 8.0


def svg_data_uri(svg: str) -> str:
    """An SVG document as a data: URI for an <img src>."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _n(value: float) -> str:
    """A coordinate with at most two decimals, so the same data gives the same SVG."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, *, anchor: str = "middle", size: float = FONT_SIZE,
          rotate: float = 0) -> str:
    turn = f' transform="rotate({_n(rotate)} {_n(x)} {_n(y)})"' if rotate else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{_n(size)}"'
            f'{turn}>{html.escape(content)}</text>')


def _text_width(content: str, size: float = FONT_SIZE) -> float:
    return 0.56 * size * len(content)  # about right for Liberation Sans / Arial


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top`, about `count` of them, whole numbers at
    least one apart (the charts count people or percentages)."""
    raw = max(top / count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10)
                if m * magnitude >= raw and float(m * magnitude).is_integer())
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_label(value: float) -> str:
    return f"{value:g}"


@dataclass
class _Canvas:
    height: float
    bottom: float  # space under the plot for the x labels
    y_top: float
    parts: list[str]

    @property
    def plot_height(self) -> float:
        return self.height - TOP - self.bottom

    @property
    def plot_width(self) -> float:
        return WIDTH - LEFT - RIGHT

    def y(self, value: float) -> float:
        return TOP + self.plot_height * (1 - value / self.y_top)


def _canvas(height: float, bottom: float, top_value: float, y_label: str) -> _Canvas:
    """Axes: the y grid and tick labels, the y label, the left and bottom spines."""
    ticks = _nice_ticks(top_value)
    canvas = _Canvas(height=height, bottom=bottom, y_top=ticks[-1], parts=[])
    for tick in ticks:
        y = canvas.y(tick)
        canvas.parts.append(f'<path d="M{_n(LEFT)} {_n(y)}H{_n(WIDTH - RIGHT)}" '
                            f'stroke="{GRID}" stroke-width="0.5"/>')
        canvas.parts.append(_text(LEFT - 4, y + 3, _tick_label(tick), anchor="end"))
    middle = TOP + canvas.plot_height / 2
    canvas.parts.append(_text(11, middle, y_label, rotate=-90))
    return canvas


def _spines(canvas: _Canvas) -> str:
    bottom = TOP + canvas.plot_height
    return (f'<path d="M{_n(LEFT)} {_n(TOP)}V{_n(bottom)}H{_n(WIDTH - RIGHT)}" fill="none" '
            f'stroke="{INK}" stroke-width="0.8"/>')


def _legend(canvas: _Canvas, entries: Sequence[tuple[str, str]], *, across: bool,
            size: float = FONT_SIZE) -> None:
    """Legend entries (label, swatch SVG at 0,0 of a 14x8 box) from the plot's top left."""
    x, y = LEFT + 8, TOP + 6
    for label, swatch in entries:
        canvas.parts.append(f'<g transform="translate({_n(x)} {_n(y)})">{swatch}</g>')
        canvas.parts.append(_text(x + 18, y + 7, label, anchor="start", size=size))
        if across:
            x += 18 + _text_width(label, size) + 12
        else:
            y += size + 4


def _document(canvas: _Canvas, patterns: str, title: str, description: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(WIDTH)}pt" '
        f'height="{_n(canvas.height)}pt" viewBox="0 0 {_n(WIDTH)} {_n(canvas.height)}" '
        f'role="img" aria-labelledby="chart-title chart-desc">'
        f'<title id="chart-title">{html.escape(title)}</title>'
        f'<desc id="chart-desc">{html.escape(description)}</desc>'
        f'<defs>{patterns}</defs>'
        f'<g font-family="{FONT}" fill="{INK}">'
        f'<rect width="{_n(WIDTH)}" height="{_n(canvas.height)}" fill="#ffffff"/>'
        + "".join(canvas.parts) + _spines(canvas) + "</g></svg>\n"
    )


# A pattern drawn over a series' colour: "" (none), "//" and "\\" (diagonal lines), "." (dots).
# Few, large dots: every one is drawn again in each bar by WeasyPrint (issue 17).
def _pattern(name: str, colour: str, hatch: str) -> str:
    marks = {
        "//": '<path d="M-1 7L7 -1M5 9L9 5M-1 3L3 -1" stroke="#ffffff" stroke-width="1"/>',
        "\\\\": '<path d="M-1 -1L7 7M-1 5L3 9M5 -1L9 3" stroke="#ffffff" stroke-width="1"/>',
        ".": '<rect x="2" y="2" width="1.6" height="1.6" fill="#ffffff"/>',
    }[hatch]
    return (f'<pattern id="{name}" patternUnits="userSpaceOnUse" width="6" height="6">'
            f'<rect width="6" height="6" fill="{colour}"/>{marks}</pattern>')


def _fill(name: str, colour: str, hatch: str, patterns: list[str]) -> str:
    if not hatch:
        return colour
    patterns.append(_pattern(name, colour, hatch))
    return f"url(#{name})"


def _month_axis(canvas: _Canvas, labels: Sequence[str]) -> float:
    """Month labels under the plot, slanted (12 or fewer) or upright; the slot width."""
    slot = canvas.plot_width / max(len(labels), 1)
    base = TOP + canvas.plot_height
    for index, label in enumerate(labels):
        x = LEFT + slot * (index + 0.5)
        canvas.parts.append(f'<path d="M{_n(x)} {_n(base)}v3" stroke="{INK}" '
                            f'stroke-width="0.8"/>')
        if len(labels) > 12:
            canvas.parts.append(_text(x + 3, base + 6, label, anchor="end", rotate=-90))
        else:
            canvas.parts.append(_text(x + 3, base + 8, label, anchor="end", rotate=-45))
    return slot


def _month_labels(months: Mapping[str, Any]) -> list[str]:
    return [dt.date.fromisoformat(f"{month}-01").strftime("%b %Y") for month in months]


def _empty(canvas: _Canvas, message: str) -> None:
    canvas.parts.append(_text(LEFT + canvas.plot_width / 2, TOP + canvas.plot_height / 2,
                              message))


def time_to_reoffence_svg(
    curves: Mapping[str, Sequence[SurvivalStep]],
    *,
    title: str = "Time to first proven reoffence",
) -> str:
    """Cumulative share reoffended (1 - Kaplan–Meier survival) over the 12-month follow-up.

    `curves` maps a series label (e.g. "Completed (n=40)") to its Kaplan–Meier steps.
    """
    drawn = {label: steps for label, steps in curves.items() if steps}
    highest = max((100 * step.reoffended for steps in drawn.values() for step in steps),
                  default=0.0)
    # Room above the curves for the legend, one line per series.
    canvas = _canvas(244.8, 40, max(highest * (1.2 + 0.1 * len(drawn)), 10.0),
                     "Proven reoffenders (%)")
    scale = canvas.plot_width / DAYS_IN_WINDOW
    legend: list[tuple[str, str]] = []
    for (label, steps), (colour, dashes) in zip(drawn.items(), itertools.cycle(SERIES_STYLES)):
        dash = f' stroke-dasharray="{dashes}"' if dashes else ""
        path = f"M{_n(LEFT + scale * steps[0].day)} {_n(canvas.y(100 * steps[0].reoffended))}"
        for step in steps[1:]:
            path += f"H{_n(LEFT + scale * step.day)}V{_n(canvas.y(100 * step.reoffended))}"
        path += f"H{_n(LEFT + scale * DAYS_IN_WINDOW)}"
        canvas.parts.append(f'<path d="{path}" fill="none" stroke="{colour}" '
                            f'stroke-width="1.8"{dash}/>')
        legend.append((label, f'<path d="M0 4H14" stroke="{colour}" stroke-width="1.8"{dash}/>'))
    if not drawn:
        _empty(canvas, "No people to show")
    base = TOP + canvas.plot_height
    for month in range(0, FOLLOW_UP_MONTHS + 1, 3):
        x = LEFT + scale * _day_of_month(month)
        canvas.parts.append(f'<path d="M{_n(x)} {_n(base)}v3" stroke="{INK}" '
                            f'stroke-width="0.8"/>')
        canvas.parts.append(_text(x, base + 13, str(month)))
    canvas.parts.append(_text(LEFT + canvas.plot_width / 2, base + 28,
                              "Months since the referral (index date)"))
    _legend(canvas, legend, across=False)
    description = "; ".join(
        f"{label}: {100 * steps[-1].reoffended:.1f}% reoffended within 12 months"
        for label, steps in curves.items() if steps
    ) or "No people to show."
    return _document(canvas, "", title, description)


def attendance_by_month_svg(
    months: Mapping[str, AttendanceSummary], *, title: str = "Attendance by month"
) -> str:
    """Bars of people booked and people who attended in full, per month ("2026-03" keys)."""
    labels = _month_labels(months)
    booked = [summary.booked for summary in months.values()]
    attended = [summary.attended for summary in months.values()]
    canvas = _canvas(230.4, 52, max([*booked, *attended, 1]) * 1.25, "People")
    patterns: list[str] = []
    attended_fill = _fill("attended", "#1d70b8", "//", patterns)
    slot = _month_axis(canvas, labels)
    width = slot * 0.4
    base = TOP + canvas.plot_height
    for index, (b, a) in enumerate(zip(booked, attended, strict=True)):
        middle = LEFT + slot * (index + 0.5)
        for x, value, fill, stroke in ((middle - width, b, "#b1b4b6", "#505a5f"),
                                       (middle, a, attended_fill, "none")):
            top = canvas.y(value)
            canvas.parts.append(f'<rect class="bar" x="{_n(x)}" y="{_n(top)}" width="{_n(width)}" '
                                f'height="{_n(base - top)}" fill="{fill}" stroke="{stroke}" '
                                f'stroke-width="0.5"/>')
    if labels:
        _legend(canvas, [
            ("Booked", '<rect width="14" height="8" fill="#b1b4b6" stroke="#505a5f" '
                       'stroke-width="0.5"/>'),
            ("Attended in full", f'<rect width="14" height="8" fill="{attended_fill}"/>'),
        ], across=True)
    else:
        _empty(canvas, "No sessions to show")
    description = "; ".join(
        f"{label}: {b} booked, {a} attended" for label, b, a in zip(labels, booked, attended,
                                                                   strict=True)
    ) or "No sessions to show."
    return _document(canvas, "".join(patterns), title, description)


def _day_of_month(months: int) -> int:
    """Days from a typical index date (1 January of a non-leap year) to `months` later."""
    start = dt.date(2023, 1, 1)
    return (add_months(start, months) - start).days


OUTCOME_SERIES = (("completed", "Completed", "#00703c", ""),
                  ("not_completed", "Not completed", "#d4351c", "//"),
                  ("withdrawn", "Withdrawn", "#505a5f", "."),
                  ("open", "Still open", "#b1b4b6", "\\\\"))


def outcomes_by_month_svg(
    months: Mapping[str, Mapping[str, Any]], *, title: str = "Referrals by month and outcome"
) -> str:
    """Stacked bars per month of referral ("2026-03" keys): completed, not completed,
    withdrawn and still open, as in the report's `by_month` JSON."""
    labels = _month_labels(months)
    totals = [sum(summary[key] for key, *_ in OUTCOME_SERIES) for summary in months.values()]
    canvas = _canvas(230.4, 52, max([*totals, 1]) * 1.25, "Referrals")
    patterns: list[str] = []
    fills = [_fill(f"outcome-{key}", colour, hatch, patterns)
             for key, _, colour, hatch in OUTCOME_SERIES]
    slot = _month_axis(canvas, labels)
    width = slot * 0.7
    for index, summary in enumerate(months.values()):
        x = LEFT + slot * (index + 0.5) - width / 2
        bottom = 0
        for (key, *_), fill in zip(OUTCOME_SERIES, fills, strict=True):
            if summary[key]:
                top, low = canvas.y(bottom + summary[key]), canvas.y(bottom)
                canvas.parts.append(f'<rect class="bar" x="{_n(x)}" y="{_n(top)}" width="{_n(width)}" '
                                    f'height="{_n(low - top)}" fill="{fill}" stroke="#ffffff" '
                                    f'stroke-width="0.5"/>')
            bottom += summary[key]
    if labels:
        _legend(canvas, [(label, f'<rect width="14" height="8" fill="{fill}"/>')
                         for (_, label, *_), fill in zip(OUTCOME_SERIES, fills, strict=True)],
                across=True, size=8)
    else:
        _empty(canvas, "No referrals to show")
    description = "; ".join(
        f"{label}: {summary['received']} received, {summary['completed']} completed, "
        f"{summary['not_completed']} not completed"
        for label, summary in zip(labels, months.values(), strict=True)
    ) or "No referrals to show."
    return _document(canvas, "".join(patterns), title, description)
