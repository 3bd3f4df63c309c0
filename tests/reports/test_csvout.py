"""CSV cells that a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from diversion.reports.csvout import cell, neutralise, to_csv


@pytest.mark.parametrize(("value", "expected"), [
    ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
    ("+44 7700 900123", "'+44 7700 900123"),
    ("-2+3", "'-2+3"),
    ("@cmd", "'@cmd"),
    ("\tindented", "'\tindented"),
    ("\rreturn", "'\rreturn"),
    ("Smith", "Smith"),
    ("O'Neil = fine", "O'Neil = fine"),
    ("", ""),
])
def test_text_starting_with_a_formula_character_is_prefixed_with_a_quote(value, expected):
    assert neutralise(value) == expected


def test_numbers_dates_booleans_and_none_are_written_plainly():
    assert [cell(-3), cell(0.125), cell(Decimal("-1.50")), cell(dt.date(2024, 2, 29)),
            cell(True), cell(False), cell(None)] == ["-3", "0.125", "-1.50", "2024-02-29", "yes", "no", ""]


def test_a_csv_document_is_utf8_with_every_text_cell_made_safe():
    data = to_csv(["surname", "note"], [["Ó Súilleabháin", "=HYPERLINK(\"http://x\")"], ["Lee", 5]])
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["surname", "note"], ["Ó Súilleabháin", "'=HYPERLINK(\"http://x\")"], ["Lee", "5"]]
    assert text.endswith("\r\n")
    assert not data.startswith(b"\xef\xbb\xbf")


def test_a_byte_order_mark_can_be_asked_for():
    assert to_csv(["a"], [], bom=True) == b"\xef\xbb\xbfa\r\n"
