"""Report charts as SVG, drawn by matplotlib's SVG backend (no GUI, no network).

The SVG keeps its text as text (so it can be read back from a PDF and by screen readers) and
carries a <title> and <desc>. Embed it as an image: `<img src="{{ svg|data_uri }}" alt=...>`
works both in WeasyPrint PDFs and under the pages' Content-Security-Policy (img-src data:).

matplotlib is imported inside the functions that draw, never when this module is imported: it
costs about a second and tens of megabytes that no web worker, job or command should pay until
it draws a chart (issue 17, light start-up; tests/test_light_startup.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from diversion.core.timeutils import add_months
from diversion.reports.reoffending import FOLLOW_UP_MONTHS, SurvivalStep

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from diversion.reports.measures import AttendanceSummary

# Colours from the GOV.UK palette; line styles differ too, so the chart reads without colour.
SERIES_STYLES = (("#1d70b8", "-"), ("#d4351c", "--"), ("#505a5f", ":"))
DAYS_IN_WINDOW = 366  # the longest 12-month follow-up window


def svg_data_uri(svg: str) -> str:
    """An SVG document as a data: URI for an <img src>."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _with_title(svg: str, title: str, description: str) -> str:
    opening = re.search(r"<svg\b[^>]*>", svg)
    if opening is None:  # pragma: no cover - matplotlib always writes an <svg> element
        return svg
    tag = opening.group(0)
    labelled = tag[:-1] + ' role="img" aria-labelledby="chart-title chart-desc">'
    accessible = (
        f'<title id="chart-title">{html.escape(title)}</title>'
        f'<desc id="chart-desc">{html.escape(description)}</desc>'
    )
    return svg[: opening.start()] + labelled + accessible + svg[opening.end():]


def time_to_reoffence_svg(
    curves: Mapping[str, Sequence[SurvivalStep]],
    *,
    title: str = "Time to first proven reoffence",
) -> str:
    """Cumulative share reoffended (1 - Kaplan–Meier survival) over the 12-month follow-up.

    `curves` maps a series label (e.g. "Completed (n=40)") to its Kaplan–Meier steps.
    """
    # Lazy: see the module docstring (matplotlib only when a chart is drawn).
    import matplotlib  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    with matplotlib.rc_context({
        "svg.fonttype": "none",  # text stays text
        "svg.hashsalt": "diversion",  # stable element ids, so the same data gives the same SVG
        "font.family": ["Liberation Sans", "DejaVu Sans", "sans-serif"],
        "font.size": 9,
    }):
        figure = Figure(figsize=(6.3, 3.4))
        axes = figure.add_subplot()
        drawn = 0
        for (label, steps), (colour, line) in zip(curves.items(), itertools.cycle(SERIES_STYLES)):
            if not steps:
                continue
            days = [step.day for step in steps] + [DAYS_IN_WINDOW]
            shares = [100 * step.reoffended for step in steps]
            shares.append(shares[-1])
            axes.step(days, shares, where="post", label=label, linewidth=1.8, color=colour,
                      linestyle=line)
            drawn += 1
        if not drawn:
            axes.text(0.5, 0.5, "No people to show", ha="center", va="center",
                      transform=axes.transAxes)
        month_ticks = list(range(0, FOLLOW_UP_MONTHS + 1, 3))
        axes.set_xticks([_day_of_month(m) for m in month_ticks], [str(m) for m in month_ticks])
        axes.set_xlim(0, DAYS_IN_WINDOW)
        axes.set_ylim(bottom=0)
        axes.set_xlabel("Months since the referral (index date)")
        axes.set_ylabel("Proven reoffenders (%)")
        axes.grid(axis="y", color="#b1b4b6", linewidth=0.5)
        axes.spines[["top", "right"]].set_visible(False)
        if drawn:
            axes.legend(frameon=False, loc="upper left")
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    description = "; ".join(
        f"{label}: {100 * steps[-1].reoffended:.1f}% reoffended within 12 months"
        for label, steps in curves.items() if steps
    ) or "No people to show."
    return _with_title(buffer.getvalue(), title, description)


def _svg_of(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "diversion",
    "font.family": ["Liberation Sans", "DejaVu Sans", "sans-serif"],
    "font.size": 9,
}


def attendance_by_month_svg(
    months: Mapping[str, AttendanceSummary], *, title: str = "Attendance by month"
) -> str:
    """Bars of people booked and people who attended in full, per month ("2026-03" keys)."""
    labels = [dt.date.fromisoformat(f"{month}-01").strftime("%b %Y") for month in months]
    booked = [summary.booked for summary in months.values()]
    attended = [summary.attended for summary in months.values()]
    # Lazy: see the module docstring (matplotlib only when a chart is drawn).
    import matplotlib  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        figure = Figure(figsize=(6.3, 3.2))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        width = 0.4
        axes.bar([x - width / 2 for x in positions], booked, width, label="Booked",
                 color="#b1b4b6", edgecolor="#505a5f", linewidth=0.5)
        axes.bar([x + width / 2 for x in positions], attended, width, label="Attended in full",
                 color="#1d70b8", hatch="//", edgecolor="#ffffff", linewidth=0)
        if not labels:
            axes.text(0.5, 0.5, "No sessions to show", ha="center", va="center",
                      transform=axes.transAxes)
        axes.set_xticks(positions, labels, rotation=90 if len(labels) > 12 else 45,
                        ha="center" if len(labels) > 12 else "right")
        axes.set_ylabel("People")
        axes.grid(axis="y", color="#b1b4b6", linewidth=0.5)
        axes.set_axisbelow(True)
        axes.spines[["top", "right"]].set_visible(False)
        if labels:
            axes.legend(frameon=False, loc="upper left", ncols=2)
        figure.tight_layout()
        svg = _svg_of(figure)
    description = "; ".join(
        f"{label}: {b} booked, {a} attended" for label, b, a in zip(labels, booked, attended,
                                                                   strict=True)
    ) or "No sessions to show."
    return _with_title(svg, title, description)


def _day_of_month(months: int) -> int:
    """Days from a typical index date (1 January of a non-leap year) to `months` later."""
    start = dt.date(2023, 1, 1)
    return (add_months(start, months) - start).days


# Withdrawn is dotted with "." rather than "..": every dot is a curve that WeasyPrint draws again
# in each bar, and the denser pattern was over half of the outcomes PDF's time (issue 17).
OUTCOME_SERIES = (("completed", "Completed", "#00703c", ""),
                  ("not_completed", "Not completed", "#d4351c", "//"),
                  ("withdrawn", "Withdrawn", "#505a5f", "."),
                  ("open", "Still open", "#b1b4b6", "\\\\"))


def outcomes_by_month_svg(
    months: Mapping[str, Mapping[str, Any]], *, title: str = "Referrals by month and outcome"
) -> str:
    """Stacked bars per month of referral ("2026-03" keys): completed, not completed,
    withdrawn and still open, as in the report's `by_month` JSON."""
    labels = [dt.date.fromisoformat(f"{month}-01").strftime("%b %Y") for month in months]
    # Lazy: see the module docstring (matplotlib only when a chart is drawn).
    import matplotlib  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        figure = Figure(figsize=(6.3, 3.2))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        bottoms = [0] * len(labels)
        for key, label, colour, hatch in OUTCOME_SERIES:
            heights = [summary[key] for summary in months.values()]
            axes.bar(positions, heights, 0.7, bottom=bottoms, label=label, color=colour,
                     hatch=hatch, edgecolor="#ffffff", linewidth=0.5)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        if not labels:
            axes.text(0.5, 0.5, "No referrals to show", ha="center", va="center",
                      transform=axes.transAxes)
        axes.set_xticks(positions, labels, rotation=90 if len(labels) > 12 else 45,
                        ha="center" if len(labels) > 12 else "right")
        axes.set_ylabel("Referrals")
        axes.grid(axis="y", color="#b1b4b6", linewidth=0.5)
        axes.set_axisbelow(True)
        axes.spines[["top", "right"]].set_visible(False)
        if labels:
            axes.legend(frameon=False, loc="upper left", ncols=4, fontsize=8)
            axes.set_ylim(top=max(bottoms) * 1.25 or 1)
        figure.tight_layout()
        svg = _svg_of(figure)
    description = "; ".join(
        f"{label}: {summary['received']} received, {summary['completed']} completed, "
        f"{summary['not_completed']} not completed"
        for label, summary in zip(labels, months.values(), strict=True)
    ) or "No referrals to show."
    return _with_title(svg, title, description)
