"""The time-to-reoffence chart: an SVG from matplotlib that embeds in a PDF without the network."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET

from flask import Flask, render_template_string
from pypdf import PdfReader

from diversion.core.pdf import html_to_pdf
from diversion.reports.charts import svg_data_uri, time_to_reoffence_svg
from diversion.reports.reoffending import Observation, kaplan_meier

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
