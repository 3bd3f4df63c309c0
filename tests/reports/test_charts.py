"""The report charts: SVG written by hand (no matplotlib) that embeds in a PDF without the network."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from flask import Flask, render_template_string
from pypdf import PdfReader

from diversion.core.pdf import html_to_pdf
from diversion.reports.charts import (
    attendance_by_month_svg,
    outcomes_by_month_svg,
    svg_data_uri,
    time_to_reoffence_svg,
)
from diversion.reports.measures import AttendanceSummary
from diversion.reports.reoffending import Observation, kaplan_meier
from tests.conftest import PROJECT_ROOT

SVG = "{http://www.w3.org/2000/svg}"


def curves():
    return {
        "Completed (n=4)": kaplan_meier([Observation(30, True), Observation(365, False),
                                         Observation(365, False), Observation(365, False)]),
        "Not completed (n=2)": kaplan_meier([Observation(60, True), Observation(90, True)]),
    }


def test_the_chart_is_an_svg_with_a_title_a_description_and_its_labels_as_text():
    svg = time_to_reoffence_svg(curves())
    root = ET.fromstring(svg.encode("utf-8"))  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == "Time to first proven reoffence"
    assert root.find(f"{SVG}desc").text == (
        "Completed (n=4): 25.0% reoffended within 12 months; "
        "Not completed (n=2): 100.0% reoffended within 12 months")
    texts = "".join(root.itertext())
    assert "Completed (n=4)" in texts
    assert "Months since the referral (index date)" in texts
    assert "http://" not in svg.replace("http://www.w3.org", "").replace("http://purl.org", "").replace(
        "http://creativecommons.org", "").replace("http://matplotlib.org", "")


def test_the_same_data_gives_the_same_svg():
    assert time_to_reoffence_svg(curves()) == time_to_reoffence_svg(curves())


def test_an_empty_chart_says_there_is_nobody_to_show():
    svg = time_to_reoffence_svg({"Completed (n=0)": kaplan_meier([])[:0]})
    assert "No people to show" in svg


def test_a_data_uri_carries_the_svg_unchanged():
    svg = time_to_reoffence_svg(curves())
    uri = svg_data_uri(svg)
    assert uri.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).decode("utf-8") == svg


def test_the_chart_embeds_in_a_pdf_and_its_labels_can_be_read_back(report_app: Flask):
    html = render_template_string(
        '{% extends "reports/pdf_base.html" %}{% block title %}Chart{% endblock %}'
        '{% block body %}<figure><img src="{{ chart }}" alt="Time to reoffence"></figure>{% endblock %}',
        chart=svg_data_uri(time_to_reoffence_svg(curves())),
    )
    text = PdfReader(io.BytesIO(html_to_pdf(html))).pages[0].extract_text()
    assert "Not completed (n=2)" in text
    assert "Proven reoffenders (%)" in text


def outcome_months():
    return {"2026-01": {"received": 9, "completed": 5, "not_completed": 2, "withdrawn": 1,
                        "open": 1},
            "2026-02": {"received": 0, "completed": 0, "not_completed": 0, "withdrawn": 0,
                        "open": 0},
            "2026-03": {"received": 4, "completed": 4, "not_completed": 0, "withdrawn": 0,
                        "open": 0}}


def test_the_outcomes_chart_stacks_a_patterned_bar_for_each_outcome_a_month_has():
    svg = outcomes_by_month_svg(outcome_months())
    root = ET.fromstring(svg.encode("utf-8"))  # noqa: S314 - our own output
    assert root.find(f"{SVG}title").text == "Referrals by month and outcome"
    assert root.find(f"{SVG}desc").text.startswith("Jan 2026: 9 received, 5 completed, 2 not")
    fills = [rect.get("fill") for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]
    # January has all four outcomes, February none, March only completed.
    assert fills == ["#00703c", "url(#outcome-not_completed)", "url(#outcome-withdrawn)",
                     "url(#outcome-open)", "#00703c"]
    assert {p.get("id") for p in root.iter(f"{SVG}pattern")} == {
        "outcome-not_completed", "outcome-withdrawn", "outcome-open"}
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert {"Jan 2026", "Feb 2026", "Mar 2026", "Completed", "Still open", "Referrals"} <= set(texts)
    assert all(float(t).is_integer() for t in texts if t.replace(".", "").isdigit())
    assert outcomes_by_month_svg(outcome_months()) == svg


def test_the_attendance_chart_has_a_booked_and_an_attended_bar_a_month():
    months = {"2026-04": AttendanceSummary(booked=12, attended=9),
              "2026-05": AttendanceSummary(booked=3, attended=3)}
    svg = attendance_by_month_svg(months)
    root = ET.fromstring(svg.encode("utf-8"))  # noqa: S314 - our own output
    assert root.find(f"{SVG}desc").text == "Apr 2026: 12 booked, 9 attended; May 2026: 3 booked, 3 attended"
    heights = [float(rect.get("height")) for rect in root.iter(f"{SVG}rect")
               if rect.get("class") == "bar"]
    assert len(heights) == 4
    assert heights[0] == 4 * heights[2]  # 12 booked against 3
    assert heights[1] == 3 * heights[3]  # 9 attended against 3
    assert {"Booked", "Attended in full", "People"} <= set(root.itertext())


def test_empty_bar_charts_say_there_is_nothing_to_show():
    assert "No referrals to show" in outcomes_by_month_svg({})
    assert "No sessions to show" in attendance_by_month_svg({})


DRAW_EVERY_CHART = """
import json, sys
from diversion.reports import charts
from diversion.reports.measures import AttendanceSummary
from diversion.reports.reoffending import Observation, kaplan_meier
charts.time_to_reoffence_svg({"All": kaplan_meier([Observation(30, True), Observation(365, False)])})
charts.attendance_by_month_svg({"2026-04": AttendanceSummary(booked=2, attended=1)})
charts.outcomes_by_month_svg({"2026-04": dict(received=1, completed=1, not_completed=0,
                                              withdrawn=0, open=0)})
print(json.dumps([m for m in ("matplotlib", "numpy", "PIL", "fontTools") if m in sys.modules]))
"""


def test_drawing_a_chart_imports_no_plotting_library():
    # matplotlib and numpy added about 45 MiB to every worker that showed a report (issue 17).
    result = subprocess.run([sys.executable, "-c", DRAW_EVERY_CHART], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
