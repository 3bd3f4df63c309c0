"""`flask --app diversion reports reoffending|attendance|outcomes --from --to [--as-of] [--scope]
[--force CODE ...] [--programme CODE] --format json|csv|pdf [--output PATH]`; attendance also
`[--venue ID] [--facilitator ID]`."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import AppGroup

from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.core.parsing import OutOfRange, ParseError
from diversion.core.timeutils import london_today, now_utc
from diversion.referrals.intake import parse_date
from diversion.reports.producing import REPORTS, produce_report, validate_parameters

reports_cli = AppGroup("reports", help="Reports: attendance, outcomes and proven reoffending.")


def _date(name: str, value: str | None, errors: dict[str, str]) -> dt.date | None:
    option = f"--{name.replace('_', '-')}"
    try:
        return parse_date(value, what=option)
    except OutOfRange as error:
        errors[name] = str(error)
    except ParseError:
        errors[name] = f"{option} must be a real date, like 2026-03-27"
    return None


def _id(name: str, value: str | None, errors: dict[str, str]) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # "²" passes isdigit()
        errors[name] = f"--{name} must be a whole number, like 3"
        return None
    return int(value)


def _filter_options(kind: str, command: Callable[..., None]) -> Callable[..., None]:
    if REPORTS[kind].uses_venue:
        command = click.option("--facilitator",
                               help="A facilitator's user id: the sessions they ran.")(command)
        command = click.option("--venue", help="A venue's id: its sessions.")(command)
    command = click.option("--programme", help="A programme's code.")(command)
    return click.option("--force", "forces", multiple=True,
                        help="A force's code; repeat for several. Default every force.")(command)


def _report_command(kind: str) -> click.Command:
    @click.option("--from", "date_from", required=True,
                  help="First referral (attendance: session) date, YYYY-MM-DD.")
    @click.option("--to", "date_to", required=True,
                  help="Last referral (attendance: session) date, YYYY-MM-DD.")
    @click.option("--as-of", "as_of", help="Follow-up measured to this date (default today).")
    @click.option("--scope", default="any", show_default=True, help="any | programme")
    @click.option("--format", "fmt", required=True, type=click.Choice(["json", "csv", "pdf"]))
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write to this file instead of standard output.")
    def command(date_from: str, date_to: str, as_of: str | None, scope: str, fmt: str,
                output: Path | None, forces: tuple[str, ...] = (), programme: str | None = None,
                venue: str | None = None, facilitator: str | None = None) -> None:
        now = now_utc()
        errors: dict[str, str] = {}
        start, end = _date("from", date_from, errors), _date("to", date_to, errors)
        as_of_date = _date("as_of", as_of, errors)
        venue_id, facilitator_id = _id("venue", venue, errors), _id("facilitator", facilitator, errors)
        try:
            parameters = validate_parameters(kind=kind, date_from=start, date_to=end,
                                             as_of=as_of_date, scope=scope,
                                             today=london_today(now), errors=errors,
                                             forces=forces, programme=programme,
                                             venue=venue_id, facilitator=facilitator_id)
            produced = produce_report(kind=kind, parameters=parameters, fmt=fmt, actor=None,
                                      now=now, actor_label="cli")
        except ValidationFailed as error:
            db.session.rollback()
            for name, message in error.errors.items():
                click.echo(f"{name}: {message}", err=True)
            sys.exit(1)
        db.session.commit()
        content = produced.content or b""
        if output is not None:
            output.write_bytes(content)
            click.echo(f"wrote {output}", err=True)
        else:
            sys.stdout.buffer.write(content)
            sys.stdout.buffer.flush()

    command.__doc__ = f"The {REPORTS[kind].title.lower()} report."
    return reports_cli.command(kind)(_filter_options(kind, command))


for _kind in REPORTS:
    _report_command(_kind)
