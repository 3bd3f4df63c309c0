"""The outcomes PDF's column headings break "Completion" where a soft hyphen says, as
`hyphens: auto` did, without loading a hyphenation dictionary (issue 17: 0.05-0.1 s of the
PDF). The break shows only when the tables have their 11th column (completed after the
deadline); with 10 the word fits."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyphen
import pytest
from flask import Flask
from pypdf import PdfReader

from diversion.core.pdf import render_pdf
from diversion.reports.measures import OutcomeSummary


@pytest.fixture()
def dictionaries_loaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    loaded: list[str] = []
    real_init = pyphen.Pyphen.__init__

    def recording_init(self: pyphen.Pyphen, *args: object, **options: object) -> None:
        loaded.append(str(options.get("lang")))
        real_init(self, *args, **options)

    monkeypatch.setattr(pyphen.Pyphen, "__init__", recording_init)
    yield loaded


def outcomes_pdf_text(*, late: int) -> str:
    summary = OutcomeSummary(received=120, booked=110, completed=100,
                             completed_within_deadline=100 - late).as_dict()
    pdf = render_pdf("reports/outcomes_pdf.html", title="Referral outcomes",
                     report={"total": summary, "by_force": {"WYP": summary},
                             "by_month": {"2026-05": summary}},
                     extra={"force_names": {"WYP": "West Yorkshire Police"}})
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize(("late", "broken"), [(0, False), (3, True)])
def test_completion_breaks_in_the_headings_only_when_the_table_is_11_columns_wide(
        report_app: Flask, dictionaries_loaded: list[str], late: int, broken: bool) -> None:
    text = outcomes_pdf_text(late=late)

    assert ("Completed after deadline" in text.replace("\n", " ")) is broken
    assert ("Comple\u2010" in text) is broken
    assert ("Completion" in text) is not broken
    assert "\u00ad" not in text
    assert dictionaries_loaded == []
