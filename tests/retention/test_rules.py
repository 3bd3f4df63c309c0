import datetime as dt

import pytest

from diversion.retention import rules


def test_a_referral_is_due_exactly_retention_months_after_it_closed() -> None:
    assert rules.is_due(dt.date(2020, 1, 31), retention_months=72, today=dt.date(2026, 1, 31))


def test_a_referral_is_not_due_the_day_before() -> None:
    assert not rules.is_due(dt.date(2020, 1, 31), retention_months=72, today=dt.date(2026, 1, 30))


def test_month_arithmetic_is_clamped_to_the_month_end() -> None:
    assert rules.add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert rules.is_due(dt.date(2024, 2, 29), retention_months=12, today=dt.date(2025, 2, 28))


@pytest.mark.parametrize("today", [dt.date(2025, 2, 28), dt.date(2024, 2, 29), dt.date(2026, 3, 1),
                                   dt.date(2026, 6, 30), dt.date(2026, 12, 31)])
@pytest.mark.parametrize("months", [1, 6, 12, 72])
def test_latest_due_closing_separates_due_days_from_the_rest(today: dt.date, months: int) -> None:
    cutoff = rules.latest_due_closing(retention_months=months, today=today)
    assert rules.is_due(cutoff, retention_months=months, today=today)
    assert not rules.is_due(cutoff + dt.timedelta(days=1), retention_months=months, today=today)


def test_latest_due_closing_reaches_past_folded_month_ends() -> None:
    # 29, 30 and 31 August all reach 28 February six months on.
    assert rules.latest_due_closing(retention_months=6, today=dt.date(2025, 2, 28)) == \
        dt.date(2024, 8, 31)


def test_an_erased_date_of_birth_keeps_only_the_year() -> None:
    assert rules.erased_date_of_birth(dt.date(1980, 7, 23)) == dt.date(1980, 1, 1)
