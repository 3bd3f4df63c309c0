"""A manager opens Reports, filters the attendance report by dates, reads the figures, and
downloads the PDF, which carries the same figures, the marking and page numbers."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import LiveServer, assert_accessible, sign_in

pytestmark = pytest.mark.browser


def fill_date(page: Page, legend: str, day: int, month: int, year: int) -> None:
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(day))
    group.get_by_label("Month").fill(str(month))
    group.get_by_label("Year").fill(str(year))


def test_a_manager_filters_the_attendance_report_and_downloads_its_pdf(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "manager@diversion.example")
    page.get_by_role("link", name="Reports").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
    assert_accessible(page)

    page.get_by_role("link", name="Attendance", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Attendance")
    fill_date(page, "From", 1, 1, 2026)
    fill_date(page, "To", 31, 3, 2026)
    page.get_by_role("button", name="Show report").click()
    expect(page.get_by_text("1 January 2026", exact=True)).to_be_visible()
    expect(page.get_by_text("31 March 2026", exact=True)).to_be_visible()
    assert_accessible(page)

    total = page.locator("table", has=page.get_by_text("All sessions", exact=True))
    cells = total.locator("tbody tr").first.locator("td").all_inner_texts()
    places, booked, attended = (int(cells[i]) for i in range(3))
    fill_rate, attendance_rate = cells[8], cells[9]
    assert places > booked > attended > 0
    assert attendance_rate.endswith("%") and attendance_rate != "–"
    by_month = page.locator("table", has=page.get_by_text("By month", exact=True))
    assert by_month.locator("tbody tr").all_inner_texts()[0].startswith("Jan 2026")

    link = page.get_by_role("link", name="Download PDF")
    # Rendering a PDF can take a while on a loaded CI machine: allow it, generously.
    with page.expect_download(timeout=60_000) as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "attendance-2026-01-01-to-2026-03-31.pdf"
    response = page.context.request.head(live_server.url + link.get_attribute("href"),
                                         timeout=60_000)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    with open(download.path(), "rb") as downloaded:
        pdf = downloaded.read()

    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert text.count("OFFICIAL-SENSITIVE") == 2
        assert f"Page {number} of {len(pages)}" in text
    first = " ".join(pages[0].split())
    assert "1 January 2026" in first and "31 March 2026" in first and "Generated" in first
    assert f"{places} {booked} {attended}" in first
    assert fill_rate in first and attendance_rate in first
    assert "Definitions" in " ".join(pages)
