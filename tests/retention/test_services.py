import datetime as dt

from flask import Flask
from sqlalchemy import func, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.outbox.models import MessageStatus, OutboxMessage
from diversion.outbox.services import enqueue
from diversion.referrals.models import Person, Referral, ReferralDraft
from diversion.reports.kinds import ReportParameters
from diversion.reports.outcomes_report import build_outcomes
from diversion.reports.reoffending_report import build_reoffending
from diversion.retention.services import run_retention
from diversion.selfservice.models import PersonSession, SelfServiceLock
from tests.builders import NOW, closed_referral, create_referral, create_reoffence, create_user
from tests.queries import count_queries

# A winter day: the London date is the UTC date.
TODAY = dt.date(2026, 1, 31)
AT_NOON = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)


def person_of(referral: Referral) -> Person:
    person = db.session.get(Person, referral.person_id)
    assert person is not None
    return person



def test_a_referral_closed_exactly_the_retention_period_ago_is_erased(app: Flask) -> None:
    referral = closed_referral("Boundary", closed_on=dt.date(2020, 1, 31))  # 72 months default

    result = run_retention(now=AT_NOON)

    person = person_of(referral)
    assert (result.people, result.referrals) == (1, 1)
    assert person.erased_at == AT_NOON
    assert (person.family_name, person.given_names) == ("Erased", "")
    assert person.date_of_birth == dt.date(1980, 1, 1)
    assert (person.mobile, person.postcode, person.town, person.address_line_1) == (None,) * 4


def test_a_referral_closed_one_day_less_than_the_retention_period_ago_is_kept(app: Flask) -> None:
    referral = closed_referral("Boundary", closed_on=dt.date(2020, 2, 1))

    result = run_retention(now=AT_NOON)

    assert result.people == 0
    assert person_of(referral).family_name == "Boundary"
    assert person_of(referral).erased_at is None


def test_the_day_is_the_london_date_of_now(app: Flask) -> None:
    referral = closed_referral("Summer", closed_on=dt.date(2019, 6, 15))
    # 23:30 UTC on 14 June is 00:30 on 15 June in London (BST).
    assert run_retention(now=dt.datetime(2025, 6, 14, 22, 30, tzinfo=dt.UTC)).people == 0
    assert run_retention(now=dt.datetime(2025, 6, 14, 23, 30, tzinfo=dt.UTC)).people == 1
    assert person_of(referral).family_name == "Erased"


def test_the_programmes_retention_period_decides(app: Flask) -> None:
    from diversion.programmes.services import get_programme_by_code

    referral = closed_referral("Short", closed_on=dt.date(2024, 2, 29))
    programme = get_programme_by_code("KCRC")
    assert programme is not None
    programme.retention_months = 23
    db.session.flush()

    assert run_retention(now=dt.datetime(2026, 1, 27, 12, tzinfo=dt.UTC)).people == 0
    assert run_retention(now=dt.datetime(2026, 1, 29, 12, tzinfo=dt.UTC)).people == 1
    assert person_of(referral).erased_at is not None


def test_a_person_with_a_newer_open_referral_keeps_his_record(app: Flask) -> None:
    old = closed_referral("Again", closed_on=dt.date(2019, 5, 1))
    newer = create_referral(family_name="Again", given_names="Adam",
                            date_of_birth=dt.date(1980, 7, 23), pnc_id=None)
    assert newer.person_id == old.person_id and newer.is_open

    result = run_retention(now=NOW)

    assert result.people == 0
    assert person_of(old).family_name == "Again"


def test_a_person_with_a_recently_closed_referral_keeps_his_record(app: Flask) -> None:
    old = closed_referral("Twice", closed_on=dt.date(2019, 5, 1))
    recent = closed_referral("Twice", closed_on=dt.date(2023, 5, 1), outcome="not_completed")
    assert recent.person_id == old.person_id

    assert run_retention(now=NOW).people == 0
    assert person_of(old).erased_at is None


def test_a_person_with_a_recent_reoffence_keeps_his_record(app: Flask) -> None:
    kept = closed_referral("Reoffended", closed_on=dt.date(2019, 5, 1))
    create_reoffence(person_id=kept.person_id, offence_date=dt.date(2022, 3, 1), outcome="conviction",
              outcome_date=dt.date(2022, 9, 1), reference="REF-1")
    gone = closed_referral("Oldreoffence", closed_on=dt.date(2019, 5, 1))
    create_reoffence(person_id=gone.person_id, offence_date=dt.date(2019, 8, 1), outcome="conviction",
              outcome_date=dt.date(2019, 12, 1), reference="REF-2")

    result = run_retention(now=NOW)

    assert result.people == 1
    assert person_of(kept).erased_at is None
    assert person_of(gone).erased_at is not None


def test_a_dry_run_counts_and_writes_nothing(app: Flask) -> None:
    referral = closed_referral("Dry", closed_on=dt.date(2019, 5, 1))
    closed_referral("Kept", closed_on=dt.date(2025, 5, 1))

    with count_queries() as statements:
        result = run_retention(now=NOW, dry_run=True)

    assert (result.dry_run, result.people, result.referrals) == (True, 1, 1)
    assert result.summary() == "would erase 1 people (1 referrals)"
    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "DELETE",
                                                                         "INSERT"))]
    assert person_of(referral).erased_at is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.category == AuditCategory.ERASURE)) == 0


def test_a_second_run_erases_nothing_more(app: Flask) -> None:
    closed_referral("Once", closed_on=dt.date(2019, 5, 1))
    first = run_retention(now=NOW)
    second = run_retention(now=NOW + dt.timedelta(days=1))

    assert first.people == 1
    assert (second.people, second.referrals, second.messages) == (0, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.category == AuditCategory.ERASURE)) == 1


def test_each_erasure_is_audited_with_counts_only(app: Flask) -> None:
    referral = closed_referral("Audited", closed_on=dt.date(2019, 5, 1))
    closed_referral("Audited", closed_on=dt.date(2019, 9, 1), outcome="withdrawn",
                    crime_reference="CR/AUD/2")

    run_retention(now=NOW)

    rows = db.session.scalars(select(AuditEvent).where(
        AuditEvent.category == AuditCategory.ERASURE)).all()
    assert [(row.action, row.object_type, row.object_id, row.details, row.actor_label)
            for row in rows] == [
        ("person_erased", "person", str(referral.person_id), {"referrals": 2}, "system")]


def test_erasure_clears_messages_sessions_locks_and_drafts_about_the_person(app: Flask) -> None:
    referral = closed_referral("Contacted", closed_on=dt.date(2019, 5, 1))
    other = closed_referral("Other", closed_on=dt.date(2025, 5, 1))
    for number, (subject, status) in enumerate([(referral, MessageStatus.SENT),
                                                (referral, MessageStatus.PENDING),
                                                (other, MessageStatus.SENT)]):
        message = enqueue(dedupe_key=f"test:{number}", channel="email",
                          recipient=f"person{number}@example.com", template="booking_confirmed",
                          due_at=NOW, now=NOW, context={"name": "Someone"},
                          subject_type="referral", subject_id=subject.id)
        message.status = status
    for number, subject in enumerate([referral, other]):
        db.session.add(PersonSession(token_hash=f"{number:064d}", referral_id=subject.id,
                                     created_at=NOW, last_seen_at=NOW))
        db.session.add(SelfServiceLock(referral_id=subject.id, failed_attempts=2, updated_at=NOW))
    officer = create_user("police")
    db.session.add(ReferralDraft(token_hash="d" * 64, user_id=officer.id, data=None,
                                 pin_reference=referral.reference, pin="12345678",
                                 is_pin_shown=False, pin_expires_at=NOW, created_at=NOW,
                                 expires_at=NOW))
    db.session.flush()

    result = run_retention(now=NOW)

    assert (result.messages, result.person_sessions, result.self_service_locks,
            result.drafts) == (1, 1, 1, 1)
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.recipient, m.context) for m in messages] == [
        ("erased", {}), ("person1@example.com", {"name": "Someone"}),
        ("person2@example.com", {"name": "Someone"})]
    assert db.session.scalars(select(PersonSession.referral_id)).all() == [other.id]
    assert db.session.scalars(select(SelfServiceLock.referral_id)).all() == [other.id]
    assert db.session.scalar(select(func.count()).select_from(ReferralDraft)) == 0


def test_a_batch_costs_the_same_statements_whatever_its_size(app: Flask) -> None:
    for number in range(2):
        closed_referral(f"Small{chr(97 + number)}", closed_on=dt.date(2019, 5, 1))
    with count_queries() as small:
        assert run_retention(now=NOW).people == 2
    for number in range(6):
        closed_referral(f"Large{chr(97 + number)}", closed_on=dt.date(2019, 5, 1))
    with count_queries() as large:
        assert run_retention(now=NOW).people == 6

    assert len(large) == len(small)


def test_people_are_erased_in_batches(app: Flask) -> None:
    for number in range(5):
        closed_referral(f"Batch{chr(97 + number)}", closed_on=dt.date(2019, 5, 1))

    result = run_retention(now=NOW, batch_size=2)

    assert (result.people, result.referrals) == (5, 5)
    assert db.session.scalar(select(func.count()).select_from(Person).where(
        Person.erased_at.is_(None))) == 0


def test_reports_count_erased_referrals_as_before(app: Flask) -> None:
    people = []
    for number, outcome in enumerate(["completed", "not_completed", "withdrawn", "completed"]):
        referral = closed_referral(f"Report{chr(97 + number)}", closed_on=dt.date(2019, 5, 1),
                                   outcome=outcome)
        people.append(referral.person_id)
    create_reoffence(person_id=people[0], offence_date=dt.date(2019, 6, 1), outcome="conviction",
              outcome_date=dt.date(2019, 7, 1), reference="REF-R1")
    create_referral()  # an open referral, never erased
    parameters = ReportParameters(date_from=dt.date(2019, 1, 1), date_to=dt.date(2026, 12, 31),
                                  as_of=dt.date(2026, 12, 31))
    outcomes_before = build_outcomes(parameters).data
    reoffending_before = build_reoffending(parameters).data

    assert run_retention(now=NOW).people == 4

    assert build_outcomes(parameters).data == outcomes_before
    assert build_reoffending(parameters).data == reoffending_before
    assert outcomes_before["total"]["received"] == 5


def test_an_erased_referrals_pin_no_longer_opens_the_self_service_page(app: Flask) -> None:
    from diversion.auth.passwords import hash_password, verify_password
    from diversion.retention.services import ERASED_PIN_HASH

    referral = closed_referral("Pinned", closed_on=dt.date(2019, 6, 1))
    referral.pin_hash = hash_password("246810")  # as a reissued PIN leaves it
    db.session.flush()

    run_retention(now=AT_NOON)

    db.session.refresh(referral)
    assert referral.pin_hash == ERASED_PIN_HASH
    assert verify_password(referral.pin_hash, "246810") is False
