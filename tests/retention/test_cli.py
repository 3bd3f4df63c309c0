import datetime as dt

from flask import Flask
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from diversion.referrals.models import Person
from tests.builders import closed_referral, create_referral


def _seed() -> tuple[int, int]:
    """One person long past retention (two referrals), one with an open referral."""
    gone = closed_referral("Cligone", closed_on=dt.date(2019, 1, 31))
    closed_referral("Cligone", closed_on=dt.date(2019, 3, 31), crime_reference="CR/CLI/2")
    kept = create_referral(family_name="Clikept")
    db.session.commit()
    return gone.person_id, kept.person_id


def _erased() -> list[int]:
    db.session.remove()
    return list(db.session.scalars(select(Person.id).where(Person.erased_at.is_not(None))))


def test_retention_run_prints_how_many_people_and_referrals_it_erased(app: Flask) -> None:
    gone, _ = _seed()

    result = app.test_cli_runner().invoke(args=["retention", "run"])

    assert result.exit_code == 0, result.output
    assert result.output == "erased 1 people (2 referrals)\n"
    assert _erased() == [gone]
    again = app.test_cli_runner().invoke(args=["retention", "run"])
    assert again.output == "erased 0 people (0 referrals)\n"


def test_retention_dry_run_prints_counts_without_names_and_writes_nothing(app: Flask) -> None:
    _seed()

    result = app.test_cli_runner().invoke(args=["retention", "run", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert result.output == "would erase 1 people (2 referrals) (dry run: nothing written)\n"
    assert "Cligone" not in result.output
    assert _erased() == []


def test_retention_is_a_daily_scheduler_job(app: Flask) -> None:
    assert jobs_of(app)["retention"].interval == dt.timedelta(hours=24)


def test_scheduler_run_once_retention_erases_due_people(app: Flask) -> None:
    gone, _ = _seed()

    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "retention"])

    assert result.exit_code == 0, result.output
    assert result.output == "retention: erased 1 people (2 referrals)\n"
    assert _erased() == [gone]
