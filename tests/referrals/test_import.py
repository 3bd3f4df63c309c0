"""The CSV import of referrals: all or nothing, repeatable, historical rows, on both databases."""

import csv
import io

import pytest
from sqlalchemy import event, func, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.referrals import imports
from diversion.referrals.cli import ProgressBar
from diversion.referrals.imports import ImportFailed, import_referrals
from diversion.referrals.models import Person, Referral, ReferralEvent, ReferralStatus
from diversion.referrals.pins import NO_PIN
from tests.builders import NOW, create_force, create_programme, create_referral, create_user
from tests.queries import count_queries

HEADER = ["force_code", "crime_reference", "referral_date", "family_name", "given_names",
          "date_of_birth", "offence_code", "offence_date", "officer_email", "admitted",
          "consented", "no_relevant_convictions", "email", "outcome", "outcome_date"]


def row(number=1, **overrides):
    values = {
        "force_code": "WYP", "crime_reference": f"13/{number:05d}/26",
        "referral_date": "2026-06-10", "family_name": f"Import{'abcdefghij'[number % 10]}"
        f"{'klmnopqrst'[number // 10 % 10]}", "given_names": "Adam", "date_of_birth": "1980-01-02",
        "offence_code": "SOA2003-S51A", "offence_date": "2026-06-01",
        "officer_email": "pc.smith@police.example", "admitted": "yes", "consented": "yes",
        "no_relevant_convictions": "yes", "email": f"person{number}@example.com",
        "outcome": "", "outcome_date": "",
    }
    values.update(overrides)
    return values


def csv_bytes(rows, header=HEADER, bom=False, encoding="utf-8"):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode(encoding) + out.getvalue().encode(encoding)


def run(content, actor=None, **kwargs):
    return import_referrals(content=content, actor=actor, now=NOW, **kwargs)


def problems_of(content, actor=None):
    with pytest.raises(ImportFailed) as caught:
        run(content, actor)
    db.session.rollback()
    return [str(p) for p in caught.value.problems]


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def referral_audit_rows():
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.object_type.in_(["person", "referral", "referral_import"])))


@pytest.fixture
def force(app):
    create_programme()
    force = create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    return force


def test_a_good_file_imports_every_row_without_pins(force):
    officer = create_user("police", force=force, email="pc.smith@police.example")
    result = run(csv_bytes([row(1), row(2), row(3)]))
    db.session.commit()
    assert (result.imported, result.already_present) == (3, 0)
    referrals = db.session.scalars(select(Referral).order_by(Referral.id)).all()
    assert [r.crime_reference for r in referrals] == ["13/00001/26", "13/00002/26", "13/00003/26"]
    assert {r.status for r in referrals} == {ReferralStatus.AWAITING_BOOKING}
    assert {r.pin_hash for r in referrals} == {NO_PIN}
    assert {r.officer_user_id for r in referrals} == {officer.id}
    summary = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "referral.import"))
    assert summary.category is AuditCategory.COLLECTION
    assert summary.details["imported"] == 3


def test_importing_the_same_file_twice_creates_nothing_new(force):
    content = csv_bytes([row(1), row(2)])
    run(content)
    db.session.commit()
    again = run(content)
    db.session.commit()
    assert (again.imported, again.already_present) == (0, 2)
    assert count(Referral) == 2 and count(Person) == 2


def test_a_crime_reference_already_used_for_someone_else_is_a_problem(force):
    run(csv_bytes([row(1)]))
    db.session.commit()
    problems = problems_of(csv_bytes([row(1, family_name="Somebodyelse")]))
    assert problems == ["row 2: crime_reference: crime reference 13/00001/26 has already been "
                        "referred by West Yorkshire Police for someone else"]


def test_any_bad_row_means_nothing_is_written_and_every_problem_is_listed(force):
    rows = [row(1), row(2, date_of_birth="31/02/1980", email="not-an-email"), row(3),
            row(4, crime_reference="13/00001/26"), row(5, force_code="NOPE")]
    problems = problems_of(csv_bytes(rows))
    assert problems == [
        "row 3: date_of_birth: Date of birth must be a real date, like 2026-03-27 or 27/03/2026",
        "row 3: email: Enter an email address in the correct format, like name@example.com",
        "row 3: address_line_1: Enter the address and postcode, or choose another way to "
        "contact the person",
        "row 5: crime_reference: crime reference 13/00001/26 is also on row 2",
        "row 6: force_code: There is no police force with the code NOPE",
    ]
    assert "row 5: crime_reference: crime reference 13/00001/26 is also on row 2" in problems
    assert "row 6: force_code: There is no police force with the code NOPE" in problems
    assert count(Referral) == 0 and count(Person) == 0 and referral_audit_rows() == 0


def test_a_row_whose_date_or_yes_no_cannot_be_read_has_its_other_problems_listed_too(force):
    rows = [row(1, date_of_birth="2030-01-01", admitted="maybe", postcode="not a postcode",
                mobile="123", offence_date="2026-06-12", email="")]
    problems = problems_of(csv_bytes(rows, header=[*HEADER, "postcode", "mobile"]))
    assert sorted(problems) == [
        "row 2: address_line_1: Enter the address and postcode, or choose another way to "
        "contact the person",
        "row 2: admitted: Admitted must be yes or no",
        "row 2: date_of_birth: Date of birth must be today or in the past",
        "row 2: mobile: Enter a mobile phone number, like 07911 123456 or +44 7911 123456",
        "row 2: postcode: Enter a real UK postcode, like LS1 4AP",
        "row 2: referral_date: Referral date must be on or after the offence date",
    ]
    assert count(Referral) == 0


def test_each_failed_eligibility_rule_of_a_new_referral_is_a_problem_line(force):
    rows = [row(1, admitted="no", offence_code="XYZ-1"), row(2), row(3, family_name=row(2)[
        "family_name"], crime_reference="13/09999/26")]
    problems = problems_of(csv_bytes(rows))
    assert "row 2: admitted: The person did not admit the offence. Both are needed for a " \
           "diversion" in problems
    assert any(p.startswith("row 2: offence_code: Offence XYZ-1 is not one") for p in problems)
    # The same man twice in one file: the second offer finds the first still open.
    assert any(p.startswith("row 4: family_name: The person already has an open referral")
               for p in problems)
    assert count(Referral) == 0


def test_a_row_with_a_mistake_also_lists_the_refusals_its_other_answers_bring(force):
    rows = [row(1, date_of_birth="31/02/1980", consented="no"),
            row(2, email="not an email", no_relevant_convictions="no"),
            row(3, admitted="maybe", consented="no")]
    problems = problems_of(csv_bytes(rows))
    assert "row 2: admitted: The person did not consent to the diversion. Both are needed " \
           "for a diversion" in problems
    assert "row 3: no_relevant_convictions: The person has relevant previous convictions " \
           "(sexual or domestic abuse offences)" in problems
    assert "row 4: admitted: Admitted must be yes or no" in problems
    assert "row 4: consented: The person did not consent to the diversion. Both are needed " \
           "for a diversion" in problems
    assert any(p.startswith("row 2: date_of_birth: ") for p in problems)
    assert any(p.startswith("row 3: email: ") for p in problems)


def test_historical_rows_end_in_their_outcome_with_history_and_no_eligibility_check(force):
    rows = [row(1, outcome="completed", outcome_date="2026-06-12", no_relevant_convictions=""),
            row(2, outcome="withdrawn", outcome_date="20/06/2026", offence_code="OLD-CODE",
                referral_date="2026-06-14"),
            row(3, outcome="not_completed", outcome_date="2026-06-13")]
    result = import_referrals(content=csv_bytes(rows), actor=None,
                              now=NOW.replace(month=7), dry_run=False)
    db.session.commit()
    assert (result.imported, result.historical) == (3, 3)
    statuses = dict(db.session.execute(select(Referral.crime_reference, Referral.status)).all())
    assert statuses == {"13/00001/26": ReferralStatus.COMPLETED,
                        "13/00002/26": ReferralStatus.WITHDRAWN,
                        "13/00003/26": ReferralStatus.NOT_COMPLETED}
    withdrawn = db.session.scalar(select(Referral).where(Referral.crime_reference == "13/00002/26"))
    assert withdrawn.closed_on.isoformat() == "2026-06-20"
    assert [(e.from_status, e.to_status) for e in withdrawn.events] == [
        (None, ReferralStatus.AWAITING_BOOKING),
        (ReferralStatus.AWAITING_BOOKING, ReferralStatus.WITHDRAWN)]
    assert withdrawn.is_historical and withdrawn.pin_hash == NO_PIN


def test_a_historical_row_needs_a_known_outcome_and_its_date(force):
    problems = problems_of(csv_bytes([row(1, outcome="finished", outcome_date="")]))
    assert "row 2: outcome: Outcome must be completed, not_completed or withdrawn" in problems
    assert "row 2: outcome_date: Enter the date of the outcome" in problems


ADDRESS_HEADER = HEADER + ["mobile", "address_line_1", "town", "postcode"]


def test_a_historical_row_without_contact_details_or_address_is_imported(force):
    rows = [row(1, outcome="completed", outcome_date="2026-06-12", email=""),
            row(2, outcome="not_completed", outcome_date="2026-06-13", email="")]
    result = import_referrals(content=csv_bytes(rows, header=ADDRESS_HEADER), actor=None,
                              now=NOW.replace(month=7), dry_run=False)
    db.session.commit()
    assert (result.imported, result.historical) == (2, 2)
    people = list(db.session.scalars(select(Person)))
    assert [(p.email, p.mobile, p.address_line_1, p.postcode) for p in people] == [
        (None, None, None, None)] * 2


def test_a_new_referral_without_contact_details_is_still_refused(force):
    problems = problems_of(csv_bytes([row(1, email="")], header=ADDRESS_HEADER))
    assert problems == ["row 2: address_line_1: Enter the address and postcode, or choose "
                        "another way to contact the person"]


def test_a_historical_rows_contact_details_are_checked_when_present(force):
    rows = [row(1, outcome="completed", outcome_date="2026-06-12", email="not-an-address",
                mobile="12345", postcode="NOT A CODE", address_line_1="x" * 201)]
    problems = problems_of(csv_bytes(rows, header=ADDRESS_HEADER))
    assert "row 2: email: Enter an email address in the correct format, like name@example.com" \
        in problems
    assert any(p.startswith("row 2: mobile: Enter a mobile phone number") for p in problems)
    assert "row 2: postcode: Enter a real UK postcode, like LS1 4AP" in problems
    assert "row 2: address_line_1: Enter no more than 200 characters" in problems


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(force):
    result = run(csv_bytes([row(1), row(2)]), dry_run=True)
    db.session.commit()
    assert result.imported == 2 and len(result.preview) == 2
    assert result.preview[0].crime_reference == "13/00001/26"
    assert count(Referral) == 0 and count(Person) == 0 and count(ReferralEvent) == 0
    assert referral_audit_rows() == 0


def test_a_bom_and_day_month_year_dates_are_accepted(force):
    run(csv_bytes([row(1, referral_date="10/06/2026", date_of_birth="02/01/1980")], bom=True))
    db.session.commit()
    referral = db.session.scalar(select(Referral))
    assert referral.referral_date.isoformat() == "2026-06-10"
    assert referral.person.date_of_birth.isoformat() == "1980-01-02"


def test_a_file_that_is_not_utf8_is_refused_with_one_clear_problem(force):
    content = csv_bytes([row(1), row(2, family_name="Müller")], encoding="latin-1")
    assert problems_of(content) == [
        "row 3: file: the file is not saved as CSV UTF-8: in Excel, choose Save As and the "
        "file type 'CSV UTF-8 (Comma delimited)'"]


def test_a_missing_column_is_named_on_row_1(force):
    header = [c for c in HEADER if c not in ("officer_email", "consented")]
    assert sorted(problems_of(csv_bytes([row(1)], header=header))) == [
        "row 1: consented: column is missing", "row 1: officer_email: column is missing"]


def test_no_relevant_convictions_is_only_needed_when_a_row_is_a_new_referral(force):
    header = [c for c in HEADER if c != "no_relevant_convictions"]
    assert problems_of(csv_bytes([row(1)], header=header)) == [
        "row 1: no_relevant_convictions: column is missing (it is needed for new referrals)"]
    result = run(csv_bytes([row(1, outcome="completed", outcome_date="2026-06-12")],
                           header=header))
    assert result.historical == 1


def test_an_unknown_column_a_spreadsheet_or_an_oversized_file_is_refused(force, monkeypatch):
    assert problems_of(csv_bytes([row(1)], header=[*HEADER, "pnc"])) == [
        "row 1: pnc: unknown column; check its spelling"]
    assert problems_of(b"PK\x03\x04rest of a zip") == [
        "row 1: file: this is a spreadsheet workbook, not a CSV file; save it as CSV UTF-8"]
    assert problems_of(b"x" * (imports.MAX_BYTES + 1)) == [
        "row 1: file: the file is larger than 10 MB; split it into smaller files"]
    assert problems_of(b"") == [
        "row 1: file: the file is empty; it needs a header row and at least one row"]


def test_a_file_with_more_rows_than_the_limit_is_refused(force, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROWS", 2)
    assert problems_of(csv_bytes([row(1), row(2), row(3)])) == [
        "row 4: file: the file has more than 2 rows; split it into smaller files"]


def test_police_may_import_only_their_own_forces_rows(force):
    officer = create_user("police", force=force)
    create_force("NYP", "North Yorkshire Police")
    db.session.commit()
    problems = problems_of(csv_bytes([row(1, force_code=""), row(2, force_code="NYP")]), officer)
    assert problems == ["row 3: force_code: You can only make referrals for your own force (WYP)"]
    result = run(csv_bytes([row(1, force_code="")]), officer)
    assert result.imported == 1
    assert db.session.scalar(select(Referral)).force_id == force.id


def test_the_command_imports_and_is_repeatable(app, force, tmp_path):
    path = tmp_path / "referrals.csv"
    path.write_bytes(csv_bytes([row(1), row(2)], bom=True))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["referrals", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0 and "would import 2" in dry.output
    assert count(Referral) == 0
    first = runner.invoke(args=["referrals", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0] == "imported 2"
    second = runner.invoke(args=["referrals", "import", str(path)])
    assert second.exit_code == 0
    assert second.output.splitlines()[:2] == ["imported 0", "already present 2"]
    assert count(Referral) == 2


def test_the_command_prints_one_line_per_problem_and_exits_1(app, force, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes([row(1), row(2, admitted="maybe", referral_date="2026-13-01")]))
    result = app.test_cli_runner().invoke(args=["referrals", "import", str(path)])
    assert result.exit_code == 1
    assert sorted(result.output.splitlines()) == [
        "row 3: admitted: Admitted must be yes or no",
        "row 3: referral_date: Referral date must be a real date, like 2026-03-27 or 27/03/2026"]
    assert count(Referral) == 0


def test_far_dates_and_control_characters_are_problem_lines_and_nothing_is_written(force):
    rows = [row(1, referral_date="9999-12-31"), row(2, offence_date="31/12/1899"),
            row(3, family_name="Smith\x1b[31m"), row(4, given_names="John\u2028Paul")]
    problems = problems_of(csv_bytes(rows))
    assert problems == [
        "row 2: referral_date: Referral date must be between 1 January 1900 and 31 December 2100",
        "row 3: offence_date: Offence date must be between 1 January 1900 and 31 December 2100",
        "row 4: family_name: must be on one line, with no tabs, line breaks or other special "
        "characters",
        "row 5: given_names: must be on one line, with no tabs, line breaks or other special "
        "characters",
    ]
    assert count(Referral) == 0 and count(Person) == 0 and referral_audit_rows() == 0


def test_the_import_reports_its_progress_row_by_row_and_reserves_distinct_references(force):
    seen = []
    result = run(csv_bytes([row(n) for n in range(1, 6)]), progress=lambda done, total:
                 seen.append((done, total)))
    db.session.commit()
    assert result.imported == 5
    assert seen == [(n, 5) for n in range(1, 6)]
    references = db.session.scalars(select(Referral.reference)).all()
    assert len(set(references)) == 5
    assert all(len(reference) == 8 for reference in references)


def test_the_command_shows_a_progress_bar_only_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    bar = ProgressBar("importing")
    for done in range(1, 4):
        bar(done, 3)
    bar.finish()
    assert "importing" in terminal.getvalue() and "3/3" in terminal.getvalue()

    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    bar = ProgressBar("importing")
    bar(1, 1)
    bar.finish()
    assert piped.getvalue() == ""


def test_checking_and_writing_a_chunk_takes_the_same_queries_whatever_its_rows(force):
    create_user("police", force=force, email="pc.smith@police.example")
    db.session.commit()

    def queries_for(numbers):
        rows = [row(n, family_name=f"Chunk{'abcdefghij'[n % 10]}{'klmnopqrst'[n // 10 % 10]}",
                    date_of_birth=f"1980-01-{n % 28 + 1:02d}") for n in numbers]
        with count_queries() as statements:
            result = run(csv_bytes(rows))
        db.session.commit()
        assert result.imported == len(rows)
        return len(statements)

    assert queries_for(range(1, 4)) == queries_for(range(4, 64))


def test_on_postgresql_the_checks_send_a_chunks_values_as_one_array(force):
    """A statement with a parameter a value gets a generic plan from PostgreSQL once psycopg
    prepares it, planned on the statistics of before the last import: it read the whole table
    for every chunk (an import straight after another took 10 to 24 s, not 2). As arrays, the
    crime references, new references and people's blocks are one parameter each."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans")
    create_user("police", force=force, email="pc.smith@police.example")
    db.session.commit()
    rows = [row(n, family_name=f"Array{'abcdefghij'[n % 10]}{'klmnopqrst'[n // 10 % 10]}",
                date_of_birth=f"1980-01-{n % 28 + 1:02d}") for n in range(1, 41)]
    parameters: list[int] = []

    def note(_conn, _cursor, _statement, values, *_args):
        parameters.append(len(values) if isinstance(values, dict | list | tuple) else 0)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        result = run(csv_bytes(rows))
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    db.session.commit()
    assert result.imported == 40
    assert parameters and max(parameters) < 20, parameters


def test_people_are_matched_within_a_file_and_across_its_chunks(force, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", 2)
    run(csv_bytes([row(1, family_name="Earlier")]))
    db.session.commit()
    on_record = db.session.scalar(select(Person))
    history = {"outcome": "completed", "outcome_date": "2026-06-12"}
    rows = [row(2, family_name="Newman"),
            row(3, family_name="Newman", crime_reference="13/00300/26", pnc_id="2001/0000001Q",
                **history),  # same chunk as row 2: the new man, his PNC ID filled in
            row(4, family_name="Other"),
            row(5, family_name="Newman", given_names="Adam Peter", **history),  # next chunk
            row(6, family_name="Somebody", given_names="Else", pnc_id="2001/0000001Q",
                **history),  # the PNC ID filled in by row 3 names him
            row(7, family_name="Earlier", crime_reference="13/00700/26", **history)]
    result = run(csv_bytes(rows, header=HEADER + ["pnc_id"]))
    db.session.commit()
    assert (result.imported, result.historical) == (6, 4)
    people = dict(db.session.execute(select(Referral.crime_reference, Referral.person_id)).all())
    newman = people["13/00002/26"]
    assert people["13/00300/26"] == people["13/00005/26"] == people["13/00006/26"] == newman
    assert people["13/00700/26"] == on_record.id
    assert len({people["13/00004/26"], newman, on_record.id}) == 3
    assert count(Person) == 3
    assert db.session.get(Person, newman).pnc_id == "2001/0000001Q"


def test_the_same_man_offered_twice_is_refused_when_the_rows_are_in_different_chunks(
        force, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", 1)
    problems = problems_of(csv_bytes([row(1), row(2, crime_reference="13/09999/26",
                                                     family_name=row(1)["family_name"])]))
    assert len(problems) == 1
    assert problems[0].startswith("row 3: family_name: The person already has an open referral")
    assert count(Referral) == 0 and count(Person) == 0


def test_a_crime_reference_taken_while_the_file_was_checked_fails_the_import_by_its_row(force):
    # Another referral with row 3's crime reference is written after the check and before the
    # rows are: the database's unique constraint refuses the write (COPY on PostgreSQL, a
    # multi-row INSERT on SQLite), and the problem names the row; nothing of the file is kept.
    def taken_meanwhile(done, total):
        if done == total:
            create_referral(force=force, crime_reference="13/00002/26", family_name="Meanwhile")

    with pytest.raises(ImportFailed) as caught:
        run(csv_bytes([row(1), row(2), row(3)]), progress=taken_meanwhile)
    assert [str(p) for p in caught.value.problems] == [
        "row 3: crime_reference: Crime reference 13/00002/26 has already been referred by "
        "West Yorkshire Police"]
    assert db.session.scalars(select(Referral.crime_reference)).all() == ["13/00002/26"]
    assert db.session.scalars(select(Person.family_name)).all() == ["Meanwhile"]
