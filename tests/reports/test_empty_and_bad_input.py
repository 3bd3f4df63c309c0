"""Every report over an empty range is an honest empty report in every format; bad parameters
get a clear message on every interface, and nothing is written (no audit row)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.core.extensions import db
from tests.builders import create_token, create_user

EMPTY = ("date_from-day=1&date_from-month=1&date_from-year=2010"
         "&date_to-day=31&date_to-month=3&date_to-year=2010&scope=any")
EMPTY_MESSAGES = {
    "outcomes": "No referrals were received in this period.",
    "attendance": "No session in this period has a submitted register.",
    "reoffending": "Nobody referred in this period can be counted: see what was left out, below.",
}


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.object_type == "report")) or 0


@pytest.mark.parametrize("kind", ["outcomes", "attendance", "reoffending"])
def test_an_empty_range_gives_an_honest_empty_report_in_every_format(app, client, login_as,
                                                                      kind):
    login_as("manager")
    page = client.get(f"/reports/{kind}?{EMPTY}")
    assert page.status_code == 200
    assert EMPTY_MESSAGES[kind] in page.get_data(as_text=True)

    data = json.loads(client.get(f"/reports/{kind}?{EMPTY}&format=json").data)
    rows = list(csv.reader(io.StringIO(
        client.get(f"/reports/{kind}?{EMPTY}&format=csv").data.decode("utf-8-sig"))))
    if kind == "reoffending":
        assert {c["people"] for c in data["cohorts"]} == {0}
        assert {c["rate"] for c in data["cohorts"]} == {None}
        assert data["excluded"] == {"withdrawn": 0, "open": 0, "follow_up_incomplete": 0}
        assert len(rows) == 1 + len(data["cohorts"])
    else:
        total = data["total"]
        assert all(value in (0, None, {}) for value in total.values())
        assert rows[1][:2] == ["total", "all"]
        assert len(rows) == 2  # the header and the zero total: no groups to break down
        assert rows[1][-1] in ("", "0") and "0" in rows[1]
    pdf = client.get(f"/reports/{kind}?{EMPTY}&format=pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
                    .split())
    assert EMPTY_MESSAGES[kind] in text and "OFFICIAL-SENSITIVE" in text
    assert audit_count() == 4


BAD = [
    ({"from": "2024-06-01", "to": "2024-01-01"}, "to",
     "The end date must be the same as or after the start date"),
    ({"from": "2024-01-01", "to": "2024-06-30", "as_of": "2024-03-01"}, "as_of",
     "The as-of date must be the same as or after the end date"),
    ({"from": "2024-01-01", "to": "2024-06-30", "scope": "everything"}, "scope",
     "Scope must be 'any' or 'programme'"),
]


@pytest.mark.parametrize(("query", "field", "message"), BAD)
def test_the_api_refuses_bad_parameters_clearly_and_writes_nothing(app, client, query, field,
                                                                     message):
    token = create_token(create_user("manager"))
    db.session.commit()
    response = client.get("/api/v1/reports/reoffending", query_string=query,
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"][field] == message
    assert audit_count() == 0


@pytest.mark.parametrize(("query", "field", "message"), BAD)
def test_the_cli_refuses_bad_parameters_clearly_and_writes_nothing(app, tmp_path, query, field,
                                                                     message):
    target = tmp_path / "report.json"
    arguments = ["reports", "reoffending", "--format", "json", "--output", str(target)]
    for name, value in query.items():
        arguments += [f"--{name.replace('_', '-')}", value]
    result = app.test_cli_runner().invoke(args=arguments)
    assert result.exit_code == 1
    assert f"{field}: {message}" in result.stderr
    assert not target.exists()
    assert audit_count() == 0


@pytest.mark.parametrize(("extra", "message"), [
    ("&as_of-day=1&as_of-month=3&as_of-year=2024&scope=any",
     "The as-of date must be the same as or after the end date"),
    ("&scope=everything", "Select which offences are counted"),
])
def test_the_page_refuses_bad_parameters_clearly_and_writes_nothing(app, client, login_as, extra,
                                                                      message):
    login_as("manager")
    response = client.get("/reports/reoffending?date_from-day=1&date_from-month=1"
                          "&date_from-year=2024&date_to-day=30&date_to-month=6"
                          f"&date_to-year=2024{extra}&format=pdf")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "There is a problem" in page and message in page
    assert "Not a valid choice" not in page
    assert audit_count() == 0
