"""Report PDFs read back as text: marking on every page, page numbers, parameters, appendix,
repeated table headers, and a URL fetcher that reads only the app's static files."""

from __future__ import annotations

import datetime as dt
import gc
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, render_template_string
from pypdf import PdfReader

from diversion.core.pdf import RefusedURL, StaticOnlyFetcher, html_to_pdf, render_pdf

GENERATED_AT = dt.datetime(2026, 6, 1, 8, 30, tzinfo=dt.UTC)  # 9:30am in London (BST)

REPORT = """{% extends "reports/pdf_base.html" %}
{% block title %}Attendance by session{% endblock %}
{% block body %}
<table>
  <thead><tr><th>Session reference</th><th class="number">Attended</th></tr></thead>
  <tbody>{% for i in range(rows) %}
    <tr><td>S-{{ '%04d' % i }}</td><td class="number">{{ i }}</td></tr>
  {% endfor %}</tbody>
</table>
{% endblock %}"""


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def render(source: str, **context: object) -> list[str]:
    return pages_text(html_to_pdf(render_template_string(source, **context)))


@pytest.fixture()
def long_report(report_app: Flask) -> list[str]:
    return render(REPORT, rows=90, generated_at=GENERATED_AT,
                  parameters={"From": "1 January 2024", "To": "31 March 2024"},
                  definitions={"Attendance rate": "People who attended in full / people booked."})


def test_a_pdf_is_a4(report_app: Flask):
    pdf = render_pdf("reports/pdf_base.html", title="Empty")
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)


def test_every_pdf_is_tagged_with_its_title_and_language(report_app: Flask):
    reader = PdfReader(io.BytesIO(render_pdf("reports/pdf_base.html", title="Tagged")))

    catalog = reader.trailer["/Root"]
    assert "/StructTreeRoot" in catalog and catalog["/MarkInfo"]["/Marked"].value is True
    assert catalog["/Lang"] == "en-GB"
    assert reader.metadata is not None and reader.metadata.title == "Tagged"


CAPTIONED = """{% extends "reports/pdf_base.html" %}
{% block title %}Captions{% endblock %}
{% block body %}
<div style="height: {{ spacer_mm }}mm"></div>
<table><caption>By programme</caption>
  <thead><tr><th scope="col">Programme</th></tr></thead>
  <tbody><tr><td>First row</td></tr></tbody>
</table>
{% endblock %}"""


def test_a_caption_at_the_foot_of_a_page_moves_with_its_table(report_app: Flask):
    # Spacers that leave room for the caption but not the table's first row: WeasyPrint 69
    # cannot tag a table whose caption was left alone on a page (it raises "Table wrapper
    # without a table"), so the base layout keeps a caption with its table.
    for spacer_mm in range(210, 232, 6):
        pdf = html_to_pdf(render_template_string(CAPTIONED, spacer_mm=spacer_mm))

        assert "/StructTreeRoot" in PdfReader(io.BytesIO(pdf)).trailer["/Root"]
        [page] = [text for text in pages_text(pdf) if "By programme" in text]
        assert "First row" in page, spacer_mm


def test_every_page_is_marked_official_sensitive_in_its_header_and_footer(long_report):
    assert len(long_report) >= 3
    for text in long_report:
        assert text.count("OFFICIAL-SENSITIVE") == 2


def test_every_page_says_which_page_of_how_many_it_is(long_report):
    total = len(long_report)
    for number, text in enumerate(long_report, start=1):
        assert f"Page {number} of {total}" in text


def test_the_table_header_repeats_on_every_page_the_table_runs_over(long_report):
    table_pages = [text for text in long_report if "S-00" in text]
    assert len(table_pages) >= 2
    for text in table_pages:
        assert "Session reference" in text
    assert "S-0089" in "".join(long_report)


def test_the_first_page_shows_the_parameters_and_the_london_generation_time(long_report):
    first = long_report[0]
    assert "Attendance by session" in first
    assert "1 January 2024" in first and "31 March 2024" in first
    assert "1 June 2026 at 9:30am (London time)" in first
    assert "Generated" not in "".join(long_report[1:])


def test_the_definitions_appendix_is_on_its_own_last_page(long_report):
    last = long_report[-1]
    assert "Definitions" in last
    assert "People who attended in full / people booked." in last
    assert "S-00" not in last


# --- What a PDF may load ----------------------------------------------------------------------

class _CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b'body::after { content: "FETCHED FROM THE NETWORK"; }')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def web_server() -> Iterator[tuple[str, list[str]]]:
    _CountingHandler.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _CountingHandler.requests
    server.shutdown()
    server.server_close()


@pytest.fixture()
def static_root(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "ok.css").write_text('body::after { content: "FROM STATIC"; }')
    (tmp_path / "leak.css").write_text('body::after { content: "LEAKED OUTSIDE STATIC"; }')
    return root


def test_a_pdf_does_not_fetch_from_the_network(report_app: Flask, web_server):
    base, requests = web_server
    html = render_template_string(
        '{% extends "reports/pdf_base.html" %}{% block title %}T{% endblock %}{% block body %}'
        '<link rel="stylesheet" href="{{ base }}/style.css"><img src="{{ base }}/x.png" alt="">'
        '<img src="http://example.invalid/x.png" alt="">{% endblock %}', base=base)
    text = "".join(pages_text(html_to_pdf(html)))
    assert requests == []
    assert "FETCHED FROM THE NETWORK" not in text


def test_a_pdf_reads_static_files_but_nothing_outside_them(report_app: Flask, static_root: Path):
    outside = static_root.parent / "leak.css"
    html = (
        '<html><head><link rel="stylesheet" href="css/ok.css">'
        f'<link rel="stylesheet" href="{outside.as_uri()}">'
        '<link rel="stylesheet" href="css/../../leak.css">'
        '<link rel="stylesheet" href="file:///etc/passwd"></head><body><p>Body</p></body></html>'
    )
    text = "".join(pages_text(html_to_pdf(html, root=static_root)))
    assert "FROM STATIC" in text
    assert "LEAKED OUTSIDE STATIC" not in text


def test_a_pdf_may_use_data_uris(report_app: Flask, static_root: Path):
    html = ('<html><head><link rel="stylesheet" href="data:text/css,body::after{content:%22DATA%20OK%22}">'
            '</head><body><p>Body</p></body></html>')
    assert "DATA OK" in "".join(pages_text(html_to_pdf(html, root=static_root)))


@pytest.mark.parametrize("url", [
    "http://example.invalid/x.png",
    "https://example.invalid/x.png",
    "ftp://example.invalid/x.png",
    "file:///etc/passwd",
    "file://otherhost/static/css/ok.css",
])
def test_the_fetcher_refuses_anything_but_static_files(static_root: Path, url: str):
    with pytest.raises(RefusedURL):
        StaticOnlyFetcher(static_root).fetch(url)


def test_the_fetcher_refuses_a_path_that_climbs_out_of_the_static_folder(static_root: Path):
    with pytest.raises(RefusedURL):
        StaticOnlyFetcher(static_root).fetch(static_root.as_uri() + "/../leak.css")


def test_the_fetcher_serves_a_static_file_with_its_type(static_root: Path):
    response = StaticOnlyFetcher(static_root).fetch((static_root / "css" / "ok.css").as_uri())
    assert response.content_type == "text/css"
    assert b"FROM STATIC" in response.read()
    response.close()



def test_the_reoffending_pdf_prints_the_figures_warnings_chart_and_definitions(report_app: Flask):
    from diversion.reports.charts import svg_data_uri, time_to_reoffence_svg
    from diversion.reports.reoffending import (
        DEFINITIONS,
        CohortReferral,
        Reoffence,
        proven_reoffending,
        time_to_first_reoffence,
    )

    referrals = [CohortReferral(f"r{i}", f"p{i}", dt.date(2023, 2, 10), "completed") for i in range(40)]
    referrals += [CohortReferral(f"n{i}", f"n{i}", dt.date(2023, 2, 10), "not_completed") for i in range(3)]
    reoffences = [Reoffence(f"p{i}", dt.date(2023, 6, 1), "conviction", dt.date(2023, 8, 1), "X")
                  for i in range(5)]
    reoffences += [Reoffence("p0", dt.date(2023, 7, 1), "caution", dt.date(2023, 7, 2), "X"),
                   Reoffence("p1", dt.date(2023, 7, 1), "caution", dt.date(2023, 7, 2), "X")]
    params = {"date_from": dt.date(2023, 1, 1), "date_to": dt.date(2023, 3, 31),
              "as_of": dt.date(2026, 6, 30)}
    report = proven_reoffending(referrals, reoffences, **params)
    curves = time_to_first_reoffence(referrals, reoffences, **params)
    chart = time_to_reoffence_svg({"Completed": curves["completed"],
                                   "Not completed": curves["not_completed"]})

    pages = pages_text(render_pdf(
        "reports/reoffending_pdf.html", report=report, chart=svg_data_uri(chart),
        generated_at=GENERATED_AT, parameters={"Referrals from": "1 January 2023"},
        definitions=DEFINITIONS,
    ))
    text = " ".join(" ".join(pages).split())  # table cells wrap over lines
    assert "12.5%" in text and "5.5% to 26.1%" in text and "0.17" in text and "1.40" in text
    assert "Suppressed (fewer than 10 people)" in text
    assert "Too few for a Justice Data Lab comparison" in text
    assert "Months since the referral (index date)" in text
    # The definitions appendix starts a page and runs to the end (it may take two pages).
    start = next(i for i, page in enumerate(pages) if "Definitions" in page)
    appendix = " ".join(pages[start:])
    assert pages[start].split("Definitions", 1)[0].replace("OFFICIAL-SENSITIVE", "").strip() == ""
    assert "Proven reoffence" in appendix and "Wilson score interval" in appendix
    assert "Months since the referral" not in appendix
    # A term is never left at the foot of a page without its meaning.
    for page in pages[start:]:
        lines = [line.strip() for line in page.splitlines()
                 if line.strip() and "OFFICIAL-SENSITIVE" not in line]
        assert lines[-1] not in DEFINITIONS, lines[-1]
    assert all(page.count("OFFICIAL-SENSITIVE") == 2 for page in pages)


def test_a_pdf_is_drawn_with_the_cycle_collector_held_off_and_left_on(tmp_path: Path) -> None:
    passes: list[int] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    rows = "".join(f"<tr><td>S-{i:04d}</td><td>{i}</td></tr>" for i in range(300))
    html = (f'<html lang="en-GB"><title>Rows</title><table><tbody>{rows}</tbody></table>'
            "</html>")
    was_enabled = gc.isenabled()
    gc.enable()
    gc.callbacks.append(counted)
    try:
        pdf = html_to_pdf(html, root=tmp_path)
        enabled_after = gc.isenabled()
    finally:
        gc.callbacks.remove(counted)
        if not was_enabled:
            gc.disable()
    assert pdf.startswith(b"%PDF-")
    # 300 rows of boxes set it off about a hundred times when it is on; back on, it may run
    # once straight away, for what was made while it was off.
    assert len(passes) <= 1
    assert enabled_after is True


def test_a_row_header_is_ruled_like_its_row_not_like_the_column_headers(app: Flask) -> None:
    # The column headers are ruled off with a heavy line; a row's name (<th scope="row">) is
    # ruled like the rest of its row: a heavy line under the first cell only looked broken.
    from weasyprint import HTML  # noqa: PLC0415 (WeasyPrint only where a PDF is made)

    with app.test_request_context():
        html = render_template_string(
            """{% extends "reports/pdf_base.html" %}{% block body %}<table>
            <thead><tr><th scope="col">Month</th><th scope="col">Received</th></tr></thead>
            <tbody><tr><th scope="row">Jan 2026</th><td>3</td></tr></tbody></table>
            {% endblock %}""", title="Rules")
    widths = {}
    boxes = [HTML(string=html).render().pages[0]._page_box]
    while boxes:
        box = boxes.pop()
        boxes.extend(getattr(box, "children", []))
        if getattr(box, "element_tag", None) in ("th", "td") and hasattr(box, "colspan"):
            widths[box.element.text] = box.style["border_bottom_width"]
    assert widths["Month"] > widths["Jan 2026"] == widths["3"] > 0
