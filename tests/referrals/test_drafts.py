"""The referral form's draft and the offer letter's PIN live in the database, not the cookie."""

import datetime as dt
import json
import re
import zlib

import pytest
from itsdangerous.encoding import base64_decode
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from diversion.referrals import drafts
from diversion.referrals.models import ReferralDraft
from tests.builders import create_force, create_programme, create_user
from tests.referrals.test_views_referring import form_data

COOKIE = "diversion_session"


@pytest.fixture
def officer(app, login_as):
    create_programme()
    db.session.commit()
    return login_as("police", force=create_force("WYP", "West Yorkshire Police"))


def cookie_contents(client) -> str:
    """The session cookie's payload as anyone holding it can read it: no key needed."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    value = cookie.value
    compressed = value.startswith(".")
    payload = base64_decode(value.lstrip(".").split(".")[0])
    return (zlib.decompress(payload) if compressed else payload).decode()


def rows() -> list[ReferralDraft]:
    db.session.expire_all()
    return list(db.session.scalars(select(ReferralDraft)))


def test_the_session_cookie_never_holds_the_name_date_of_birth_or_pin(client, officer):
    assert client.post("/referrals/new", data=form_data()).status_code == 302
    during = cookie_contents(client)
    session = json.loads(during)
    assert isinstance(session["referral_draft"], str) and len(session["referral_draft"]) >= 43
    assert "Sampleton" not in during and "Barry" not in during
    assert "1980" not in during and "barry.sampleton" not in during

    (row,) = rows()
    assert row.user_id == officer.id and row.data["form"]["family_name"] == "Sampleton"
    assert session["referral_draft"] not in row.token_hash  # only its digest is stored

    made = client.post("/referrals/new/check")
    assert made.status_code == 302
    shown = client.get(made.location).get_data(as_text=True)
    pin = re.search(r"<strong data-pin>(\d{6})</strong>", shown).group(1)
    after = cookie_contents(client)
    assert pin not in after and "Sampleton" not in after and "1980" not in after
    (row,) = rows()
    assert row.data is None and row.pin == pin  # the draft is gone; the PIN waits for the letter


def test_printing_the_letter_clears_the_pin_from_the_database(client, officer):
    client.post("/referrals/new", data=form_data())
    made = client.post("/referrals/new/check")
    client.get(made.location)
    reference = made.location.split("/")[-2]
    assert client.get(f"/referrals/{reference}/letter.pdf").status_code == 200
    assert rows() == []  # nothing left to keep: the row goes with the PIN


def test_another_users_draft_token_is_404_and_is_dropped_from_the_cookie(client, officer, auth):
    client.post("/referrals/new", data=form_data())
    with client.session_transaction() as session:
        token = session["referral_draft"]
    auth.logout()
    colleague = create_user("police", force=officer.force)
    db.session.commit()
    auth.login(colleague.email)
    with client.session_transaction() as session:
        session["referral_draft"] = token

    assert client.get("/referrals/new/check").status_code == 404
    with client.session_transaction() as session:
        assert "referral_draft" not in session
    assert client.get("/referrals/new").status_code == 200
    (row,) = rows()
    assert row.user_id == officer.id and row.data is not None  # untouched


def test_a_pin_older_than_30_minutes_is_not_given_out(app):
    user = create_user("police")
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    token = drafts.new_token()
    drafts.put_pin(token=token, user=user, reference="ABCD2345", pin="123456", now=now)
    later = now + drafts.PIN_LIFETIME + dt.timedelta(seconds=1)
    assert drafts.take_pin(token=token, user=user, reference="ABCD2345", now=later) is None
    assert drafts.take_pin(token=token, user=user, reference="ABCD2345",
                           now=now + dt.timedelta(minutes=29)) is None  # cleared, not hidden


def test_the_housekeeping_job_removes_expired_drafts_and_clears_old_pins(app):
    user = create_user("police")
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    stale, fresh, pinned = drafts.new_token(), drafts.new_token(), drafts.new_token()
    drafts.save_draft(token=stale, user=user, data={"form": {"family_name": "Old"}},
                      now=now - drafts.DRAFT_LIFETIME - dt.timedelta(minutes=1))
    drafts.save_draft(token=fresh, user=user, data={"form": {"family_name": "New"}}, now=now)
    drafts.save_draft(token=pinned, user=user, data={"form": {"family_name": "Pin"}}, now=now)
    drafts.put_pin(token=pinned, user=user, reference="ABCD2345", pin="123456",
                   now=now - dt.timedelta(minutes=31))
    db.session.commit()

    result = jobs_of(app)["referral_drafts"].function(now=now)
    db.session.commit()

    assert result == {"drafts_removed": 1, "pins_cleared": 1}
    left = sorted((r.data["form"]["family_name"], r.pin) for r in rows())
    assert left == [("New", None), ("Pin", None)]
