import datetime as dt

import pytest

from diversion.referrals.pnc import InvalidPnc, check_letter, parse_pnc

TODAY = dt.date(2026, 6, 15)


# Worked by hand: 190123456 = 23 x 8266237 + 5, and CHECK_LETTERS[5] is "E".
# 980000001 = 23 x 42608695 + 16, and CHECK_LETTERS[16] is "R".
def test_check_letter_is_the_remainder_of_yy_and_serial_modulo_23():
    assert check_letter(2019, 123456) == "E"
    assert check_letter(1998, 1) == "R"


def test_a_valid_long_form_is_returned_unchanged():
    assert parse_pnc("2019/0123456E", today=TODAY) == "2019/0123456E"


def test_lower_case_and_spaces_are_tidied():
    assert parse_pnc(" 2019/0123456e ", today=TODAY) == "2019/0123456E"


def test_a_short_form_with_a_recent_year_is_expanded_to_the_2000s():
    assert parse_pnc("19/0123456E", today=TODAY) == "2019/0123456E"


def test_a_short_form_with_a_year_after_this_one_is_expanded_to_the_1900s():
    assert parse_pnc("98/0000001R", today=TODAY) == "1998/0000001R"


def test_a_short_serial_is_padded_to_seven_digits():
    assert parse_pnc("98/1R", today=TODAY) == "1998/0000001R"


@pytest.mark.parametrize("value", ["", "2019-0123456E", "2019/0123456", "201/0123456E",
                                   "2019/01234567E", "ABCD/0123456E"])
def test_a_malformed_pnc_id_is_refused_with_the_expected_format(value):
    with pytest.raises(InvalidPnc, match="format YYYY/NNNNNNNL"):
        parse_pnc(value, today=TODAY)


def test_a_wrong_check_letter_is_refused():
    with pytest.raises(InvalidPnc, match="check letter"):
        parse_pnc("2019/0123456F", today=TODAY)


def test_a_year_in_the_future_is_refused():
    with pytest.raises(InvalidPnc, match="between 1900 and this year"):
        parse_pnc(f"2030/0000001{check_letter(2030, 1)}", today=TODAY)
