"""The CSV reading both imports share: numbered rows, header rules, and limits."""

from __future__ import annotations

import pytest

from diversion.core.csvimport import (
    CONTROL_CHARACTERS,
    ImportFailed,
    RowProblem,
    Wording,
    read_csv_rows,
    text_errors,
)
from diversion.reoffences import services as reoffences
from tests.builders import NOW


def read(content: bytes, **overrides):  # type: ignore[no-untyped-def]
    options = {"required_columns": ("a", "b"), "optional_columns": ("c",), "max_bytes": 1000,
               "max_rows": 3}
    options.update(overrides)
    return read_csv_rows(content, **options)


def problems(content: bytes, **overrides) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ImportFailed) as caught:
        read(content, **overrides)
    return [str(problem) for problem in caught.value.problems]


def test_rows_are_numbered_by_the_line_they_start_on_past_blank_rows_and_a_bom():
    header, rows = read('\ufeffA , b\n1,2\n\n3,4\n'.encode())
    assert header == ["a", "b"]
    assert rows == [(2, {"a": "1", "b": "2"}), (4, {"a": "3", "b": "4"})]


@pytest.mark.parametrize("value", ["two\nlines", "two\r\nlines", "tab\there", "esc\x1b[31m",
                                   "bell\x07", "del\x7f", "nel\x85", "sep\u2028"])
def test_a_value_with_a_line_break_or_control_character_breaks_the_text_rule(value):
    # Every column of the imports is single-line text: one rule with the forms and the API.
    assert text_errors({"a": "fine", "b": value}) == {"b": CONTROL_CHARACTERS}
    assert text_errors({"a": "fine", "b": value}, columns=("a",)) == {}


def problems_of_import(content: bytes) -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        reoffences.import_reoffences(content=content, actor=None, now=NOW)
    return [str(problem) for problem in caught.value.problems]


def test_a_multi_line_value_is_refused_by_the_line_its_row_starts_on(app):
    content = b'family_name,given_names,date_of_birth,offence_code,offence_date,outcome,' \
              b'outcome_date,source_reference\n' \
              b'"Two\nLines",John,1980-01-01,X1,2024-01-01,arrest,,SRC-1\n' \
              b'Fine,John,1980-01-01,X1,9999-01-01,arrest,,SRC-2\n'
    assert problems_of_import(content) == [
        f"row 2: family_name: {CONTROL_CHARACTERS}",
        "row 4: offence_date: Offence date must be between 1 January 1900 and 31 December 2100",
    ]


def test_unknown_and_repeated_columns_are_refused_when_the_columns_are_listed():
    assert problems(b"a,b,b,d\n1,2,3,4\n") == [
        "row 1: b: column appears more than once", "row 1: d: unknown column; check its spelling"]


def test_any_other_column_is_let_through_when_none_are_listed_as_optional():
    _, rows = read(b"a,b,notes\n1,2,x\n", optional_columns=None)
    assert rows == [(2, {"a": "1", "b": "2", "notes": "x"})]


def test_a_feature_words_its_own_reading_problems():
    wording = Wording(not_utf8="Save it as UTF-8", column_missing="Missing", no_rows="No rows")
    assert problems(b"a\n", wording=wording) == ["row 1: b: Missing"]
    assert problems(b"a,b\n", wording=wording) == ["row 1: file: No rows"]
    assert problems(b"a,b\n1,\xff\n", wording=wording) == ["row 2: file: Save it as UTF-8"]


def test_a_file_over_the_row_limit_is_refused_at_the_first_row_too_many():
    assert problems(b"a,b\n" + b"1,2\n" * 4) == [
        "row 5: file: the file has more than 3 rows; split it into smaller files"]


def test_the_problem_count_is_the_default_summary():
    failed = ImportFailed([RowProblem(2, "a", "x"), RowProblem(3, "a", "y")])
    assert failed.message == "The file has 2 problems; nothing was imported"
    assert failed.errors == {"row 2: a": "x", "row 3: a": "y"}


def test_a_reoffences_file_over_the_size_limit_is_now_refused_too(app):
    header = ",".join(reoffences.COLUMNS).encode() + b"\n"
    with pytest.raises(ImportFailed) as caught:
        reoffences.import_reoffences(content=header + b"x" * reoffences.MAX_BYTES, actor=None,
                                     now=NOW)
    assert [str(p) for p in caught.value.problems] == [
        "row 1: file: the file is larger than 10 MB; split it into smaller files"]
