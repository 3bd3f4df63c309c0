"""The one throttle behind staff sign-in and the self-service page."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from diversion.auth import throttle
from diversion.auth.models import RefusedAttempt
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc

WINDOW = dt.timedelta(minutes=15)
SIGN_IN = throttle.Throttle(kind=throttle.SIGN_IN, window=WINDOW, max_per_key=2,
                            max_per_address=3)
SELF_SERVICE = throttle.Throttle(kind=throttle.SELF_SERVICE, window=WINDOW, max_per_key=2,
                                 max_per_address=3)


def _refuse(kind: throttle.Kind, key: str, address: str, at: dt.datetime, times: int = 1) -> None:
    for _ in range(times):
        throttle.note_refusal(kind, key=key, address=address, now=at)
    db.session.flush()


def test_a_key_is_throttled_at_its_limit_within_the_window(app):
    now = now_utc()
    _refuse(throttle.SIGN_IN, "k", "192.0.2.1", now)
    assert not throttle.is_throttled(SIGN_IN, key="k", address="192.0.2.9", now=now)
    _refuse(throttle.SIGN_IN, "k", "192.0.2.2", now)
    assert throttle.is_throttled(SIGN_IN, key="k", address="192.0.2.9", now=now)
    assert not throttle.is_throttled(SIGN_IN, key="other", address="192.0.2.9", now=now)


def test_an_address_is_throttled_at_its_limit_whatever_the_key(app):
    now = now_utc()
    for key in ("a", "b", "c"):
        _refuse(throttle.SIGN_IN, key, "192.0.2.1", now)
    assert throttle.is_throttled(SIGN_IN, key="d", address="192.0.2.1", now=now)
    assert not throttle.is_throttled(SIGN_IN, key="d", address="192.0.2.2", now=now)


def test_refusals_older_than_the_window_do_not_count(app):
    now = now_utc()
    _refuse(throttle.SIGN_IN, "k", "192.0.2.1", now - WINDOW - dt.timedelta(seconds=1), times=5)
    assert not throttle.is_throttled(SIGN_IN, key="k", address="192.0.2.1", now=now)


def test_each_kind_counts_only_its_own_refusals(app):
    now = now_utc()
    _refuse(throttle.SELF_SERVICE, "k", "192.0.2.1", now, times=3)
    assert throttle.is_throttled(SELF_SERVICE, key="k", address="192.0.2.1", now=now)
    assert not throttle.is_throttled(SIGN_IN, key="k", address="192.0.2.1", now=now)


def test_forgetting_a_key_leaves_its_address_count_and_other_kinds(app):
    now = now_utc()
    _refuse(throttle.SIGN_IN, "k", "192.0.2.1", now, times=3)
    _refuse(throttle.SELF_SERVICE, "k", "192.0.2.1", now, times=2)
    throttle.forget_refusals(throttle.SIGN_IN, key="k")
    assert db.session.scalar(select(func.count()).select_from(RefusedAttempt).where(
        RefusedAttempt.kind == throttle.SIGN_IN)) == 0
    assert throttle.is_throttled(SELF_SERVICE, key="k", address="192.0.2.1", now=now)


def test_the_housekeeping_job_forgets_old_refusals_of_every_kind(app):
    from diversion.core.jobs import jobs_of

    now = now_utc()
    _refuse(throttle.SIGN_IN, "k", "192.0.2.1", now - dt.timedelta(days=2))
    _refuse(throttle.SELF_SERVICE, "r", "192.0.2.1", now - dt.timedelta(days=2))
    _refuse(throttle.SELF_SERVICE, "r", "192.0.2.1", now)
    assert jobs_of(app)["housekeeping"].function(now=now) == {
        "refusals_removed": 2, "guards_removed": 0, "reset_links_removed": 0,
        "held_forms_removed": 0, "sign_ins_removed": 0}
    assert db.session.scalar(select(func.count()).select_from(RefusedAttempt)) == 1


def test_a_refusal_of_an_unknown_kind_is_refused_by_the_database(app):
    db.session.add(RefusedAttempt(kind="api", key="k", address="192.0.2.1", at=now_utc()))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
