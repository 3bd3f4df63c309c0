"""Flask-Migrate (the `flask db` commands and the app's Alembic set-up), bound to the app when
first used rather than at start-up: importing Flask-Migrate imports Alembic (about 95 ms of CPU
on every `flask` command and web worker), which only the `db` commands and the migrations need.

`flask --help` lists `db` with its help from a stand-in group; running `flask db …` (or
`flask db --help`) imports Flask-Migrate and hands the command line to its own group, and the
first read of `app.extensions["migrate"]` (its commands, `flask_migrate.upgrade()` in the tests,
migrations/env.py) binds Flask-Migrate to the app exactly as `Migrate(app, db, …)` would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

# Flask-Migrate's own help for its group (flask_migrate.cli.db), shown by `flask --help`.
DB_COMMAND_HELP = "Perform database migrations."


def init_app(app: Flask, db: SQLAlchemy, *, directory: str, **options: Any) -> None:
    """`Migrate(app, db, directory=directory, **options)`, done when first needed."""

    def bind() -> None:
        from flask_migrate import Migrate  # noqa: PLC0415 (Alembic: only when used)

        Migrate(app, db, directory=directory, **options)  # replaces both stand-ins below

    app.extensions["migrate"] = _ExtensionOnFirstUse(app, "migrate", bind)
    app.cli.add_command(_GroupOnFirstUse("db", DB_COMMAND_HELP, _flask_migrate_group))


def _flask_migrate_group() -> click.Group:
    from flask_migrate import cli  # type: ignore[attr-defined]  # noqa: PLC0415 (no stubs)

    group: click.Group = cli.db
    return group


class _ExtensionOnFirstUse:
    """Stands in for `app.extensions[name]` until something reads an attribute of it."""

    def __init__(self, app: Flask, name: str, bind: Callable[[], None]) -> None:
        self._app = app
        self._name = name
        self._bind = bind

    def __getattr__(self, attribute: str) -> Any:
        if self._app.extensions.get(self._name) is self:
            self._bind()
        return getattr(self._app.extensions[self._name], attribute)


class _GroupOnFirstUse(click.Group):
    """A command group listed by its name and help, loaded when it is run or asked for help."""

    def __init__(self, name: str, help_text: str, load: Callable[[], click.Group]) -> None:
        super().__init__(name=name, help=help_text)
        self._load = load

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        return self._load().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self._load().list_commands(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load().get_command(ctx, cmd_name)
