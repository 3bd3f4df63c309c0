"""The upload page: check and preview, then confirm; the file waits in the instance folder."""

import datetime as dt
import html
import io
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.core.jobs import jobs_of, run_job
from diversion.referrals.models import Referral
from tests.builders import create_force, create_programme
from tests.referrals.test_import import csv_bytes, row

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def upload(client, content, filename="referrals.csv"):
    return client.post("/referrals/import", data={"file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def waiting_files(app):
    folder = Path(app.instance_path) / "referral_imports"
    return sorted(folder.glob("*.csv")) if folder.exists() else []


def referrals():
    return db.session.scalar(select(func.count()).select_from(Referral))


def setup_forces():
    create_programme()
    force = create_force("WYP", "West Yorkshire Police")
    create_force("NYP", "North Yorkshire Police")
    db.session.commit()
    return force


def test_a_manager_previews_then_confirms_an_import(app, client, login_as):
    setup_forces()
    manager = login_as("manager")
    preview = upload(client, csv_bytes([row(1), row(2, outcome="completed",
                                                       outcome_date="2026-06-12")]))
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert "Check the referrals before importing" in page
    assert "13/00001/26" in page and "reissue a PIN" in page
    assert referrals() == 0
    [waiting] = waiting_files(app)
    assert waiting.name.startswith(f"{manager.id}-")
    token = re.search(r'name="token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="token"', page)
    confirmed = client.post("/referrals/import/confirm", data={"token": token[1]})
    assert confirmed.status_code == 302
    assert referrals() == 2
    assert waiting_files(app) == []
    summary = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "referral.import"))
    assert summary.category is AuditCategory.COLLECTION
    assert summary.details["rows"] == 2 and summary.details["via"] == "upload"
    again = client.post("/referrals/import/confirm", data={"token": token[1]})
    assert again.status_code == 302 and referrals() == 2


def test_the_preview_of_a_small_file_says_plainly_how_its_people_get_a_pin(app, client,
                                                                          login_as):
    setup_forces()
    login_as("manager")
    page = html.unescape(upload(client, csv_bytes([row(1)])).get_data(as_text=True))
    for waiting in waiting_files(app):  # the instance folder outlives the test
        waiting.unlink()
    assert "too many to show" not in page
    assert ("When you hand a person the offer letter, reissue a PIN for them from the "
            "referral's page (Issue a new PIN) and print the letter straight after") in page


def test_problems_are_listed_and_nothing_is_kept(app, client, login_as):
    setup_forces()
    login_as("manager")
    response = upload(client, csv_bytes([row(1), row(2, admitted="perhaps")]))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and "The file has 1 problem" in page
    assert "Admitted must be yes or no" in page
    # The scrolling table is named for what it holds, for screen readers' region lists.
    assert 'role="region" aria-label="Problems in the file"' in page
    assert page.count("<title>Error: Import referrals") == 1
    assert waiting_files(app) == [] and referrals() == 0


def test_the_wrong_kind_of_file_encoding_or_a_missing_column_is_a_clear_error(client, login_as):
    setup_forces()
    login_as("police")
    not_csv = upload(client, b"%PDF-1.7", filename="referrals.pdf")
    assert "The selected file must be a CSV file" in not_csv.get_data(as_text=True)
    latin = upload(client, csv_bytes([row(1, family_name="Müller")], encoding="latin-1"))
    assert ("The file is not saved as CSV UTF-8: in Excel, choose Save As and the file type "
            "&#39;CSV UTF-8 (Comma delimited)&#39; (the problem starts on row 2)"
            in latin.get_data(as_text=True))
    missing = upload(client, b"force_code,crime_reference\r\nWYP,1\r\n")
    assert "column is missing" in missing.get_data(as_text=True)
    assert {not_csv.status_code, latin.status_code, missing.status_code} == {400}


def test_police_rows_for_another_force_are_problems(client, login_as):
    force = setup_forces()
    login_as("police", force=force)
    response = upload(client, csv_bytes([row(1, force_code="WYP"), row(2, force_code="NYP")]))
    assert response.status_code == 400
    assert "You can only make referrals for your own force (WYP)" in response.get_data(
        as_text=True)


def test_a_file_left_waiting_for_over_an_hour_is_removed_and_cannot_be_confirmed(
        app, client, login_as, clock):
    setup_forces()
    login_as("manager")
    page = upload(client, csv_bytes([row(1)])).get_data(as_text=True)
    token = re.search(r'value="([A-Za-z0-9_-]{20,})"', page)[1]
    [waiting] = waiting_files(app)
    an_hour_ago = (clock.now - dt.timedelta(seconds=3700)).timestamp()  # by the app's clock
    os.utime(waiting, (an_hour_ago, an_hour_ago))
    response = client.post("/referrals/import/confirm", data={"token": token})
    assert response.status_code == 302
    assert waiting_files(app) == [] and referrals() == 0


def test_another_user_cannot_confirm_someone_elses_file(app, client, auth, login_as):
    setup_forces()
    login_as("manager")
    page = upload(client, csv_bytes([row(1)])).get_data(as_text=True)
    token = re.search(r'value="([A-Za-z0-9_-]{20,})"', page)[1]
    auth.logout()
    login_as("manager")
    client.post("/referrals/import/confirm", data={"token": token})
    assert referrals() == 0
    assert len(waiting_files(app)) == 1


def test_facilitators_cannot_open_the_upload_page(client, login_as):
    login_as("facilitator")
    assert client.get("/referrals/import").status_code == 403


def test_the_scheduler_job_removes_a_preview_left_unconfirmed_for_over_an_hour(
        app, client, login_as, clock):
    for left_by_another_test in waiting_files(app):
        left_by_another_test.unlink()
    setup_forces()
    login_as("manager")
    page = upload(client, csv_bytes([row(1)])).get_data(as_text=True)
    token = re.search(r'value="([A-Za-z0-9_-]{20,})"', page)[1]
    assert len(waiting_files(app)) == 1
    assert "referral_uploads" in jobs_of(app)
    clock.advance(minutes=59)
    assert run_job("referral_uploads", now=clock.now) == {"uploads_removed": 0}
    assert len(waiting_files(app)) == 1
    clock.advance(minutes=2)
    assert run_job("referral_uploads", now=clock.now) == {"uploads_removed": 1}
    assert waiting_files(app) == []
    response = client.post("/referrals/import/confirm", data={"token": token})
    assert response.status_code == 302 and referrals() == 0
