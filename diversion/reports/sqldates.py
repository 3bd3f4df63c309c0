"""Calendar arithmetic in SQL, the same on SQLite and PostgreSQL as in Python.

- `sql_add_months(day, months)`: `timeutils.add_months` in the database (clamped to the month
  end: 31 Jan + 1 month = 28 or 29 Feb)
- `sql_days_between(later, earlier)`: whole days from one date to another
- `sql_id_text(column)`: an integer id as text, compared as Python compares `str(id)`
- `sql_year_month(day)`: a date's calendar month as text, "2026-01" (`day.strftime("%Y-%m")`)

Each compiles to the dialect's own SQL: SQLite's `date()` modifiers do not clamp (31 Jan +
1 month is 2 or 3 March there), so the SQLite form counts from the first of the month and
takes the earlier of that day and the month's last day; PostgreSQL's date + interval clamps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, Integer, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class sql_add_months(FunctionElement[Any]):  # noqa: N801 (an SQL function, named as one)
    """`day` plus a whole number of calendar months, clamped to the month end."""

    type = Date()
    inherit_cache = True

    def __init__(self, day: ColumnElement[Any], months: int) -> None:
        self.months = int(months)
        super().__init__(day)


class sql_days_between(FunctionElement[Any]):  # noqa: N801
    """Whole days from `earlier` to `later` (dates)."""

    type = Integer()
    inherit_cache = True


class sql_id_text(FunctionElement[Any]):  # noqa: N801
    """An integer id as text, ordered byte by byte (as Python orders `str(id)`)."""

    type = String()
    inherit_cache = True


class sql_year_month(FunctionElement[Any]):  # noqa: N801
    """A date's calendar month as text, "2026-01", as Python's `day.strftime("%Y-%m")`."""

    type = String()
    inherit_cache = True


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(argument, **kw) for argument in element.clauses]


@compiles(sql_add_months, "sqlite")
def _add_months_sqlite(element: sql_add_months, compiler: SQLCompiler, **kw: Any) -> str:
    (day,) = _arguments(element, compiler, **kw)
    months = element.months
    same_day = (f"date({day}, 'start of month', '{months:+d} months', "
                f"'+' || (CAST(strftime('%d', {day}) AS INTEGER) - 1) || ' days')")
    month_end = f"date({day}, 'start of month', '{months + 1:+d} months', '-1 day')"
    return f"min({same_day}, {month_end})"


@compiles(sql_add_months, "postgresql")
def _add_months_postgresql(element: sql_add_months, compiler: SQLCompiler, **kw: Any) -> str:
    (day,) = _arguments(element, compiler, **kw)
    return f"CAST({day} + make_interval(months => {element.months}) AS DATE)"


@compiles(sql_days_between, "sqlite")
def _days_between_sqlite(element: sql_days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _arguments(element, compiler, **kw)
    return f"CAST(round(julianday({later}) - julianday({earlier})) AS INTEGER)"


@compiles(sql_days_between, "postgresql")
def _days_between_postgresql(element: sql_days_between, compiler: SQLCompiler,
                             **kw: Any) -> str:
    later, earlier = _arguments(element, compiler, **kw)
    return f"({later} - {earlier})"


@compiles(sql_id_text, "sqlite")
def _id_text_sqlite(element: sql_id_text, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f"CAST({value} AS TEXT)"


@compiles(sql_id_text, "postgresql")
def _id_text_postgresql(element: sql_id_text, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _arguments(element, compiler, **kw)
    return f'(CAST({value} AS TEXT) COLLATE "C")'


@compiles(sql_year_month, "sqlite")
def _year_month_sqlite(element: sql_year_month, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy keeps a date as its ISO text, "2026-01-31", on SQLite: its first seven
    # characters are the month, and substr costs less than strftime on every row of a report.
    (day,) = _arguments(element, compiler, **kw)
    return f"substr({day}, 1, 7)"


@compiles(sql_year_month, "postgresql")
def _year_month_postgresql(element: sql_year_month, compiler: SQLCompiler, **kw: Any) -> str:
    (day,) = _arguments(element, compiler, **kw)
    return f"to_char({day}, 'YYYY-MM')"
