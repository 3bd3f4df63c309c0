"""Light start-up (issue 17): building the app imports no heavy rendering library.

WeasyPrint, numpy and scikit-learn cost seconds and tens of megabytes each (holidays,
pyotp, segno, APScheduler, libphonenumber and email-validator less, but no page needs them at
start-up); they are imported by the function that renders a PDF, matches a
comparison group or checks a phone number or email address, so a web worker, a job or
`flask --app diversion --help` does not pay for them at start-up. The check
runs in a fresh interpreter, because this test process has imported them already.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

HEAVY = ("weasyprint", "numpy", "sklearn", "fontTools", "PIL", "holidays", "pyotp",
         "segno", "apscheduler", "phonenumbers", "email_validator")

PROBE = """
import json, sys
import diversion
app = diversion.create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
names = sorted(app.cli.list_commands(None))
print(json.dumps({"loaded": [m for m in %r if m in sys.modules], "commands": names}))
"""


def test_heavy_libraries_are_installed_so_the_check_means_something() -> None:
    assert all(importlib.util.find_spec(name) is not None for name in HEAVY)


def test_create_app_imports_no_pdf_chart_or_statistics_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    # The app was really built, with its commands (the CLI's --help lists these).
    assert {"demo", "reports", "db"} <= set(report["commands"])


DRIVER_PROBE = """
import json, sys
import diversion
from diversion.core.extensions import db
app = diversion.create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
sorted(app.cli.list_commands(None))
before = "psycopg" in sys.modules
with app.app_context():
    first, again = db.engine, db.engine
    listened = first.dialect.name == "postgresql" and first is again
print(json.dumps({"before": before, "after": "psycopg" in sys.modules, "engine": listened}))
"""


def test_the_database_driver_is_imported_when_the_app_first_uses_the_database() -> None:
    # Creating an engine imports its driver (psycopg: about 80 ms), which `--help` never needs.
    result = subprocess.run(
        [sys.executable, "-c", DRIVER_PROBE],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"before": False, "after": True, "engine": True}



MIGRATE_PROBE = """
import json, sys
import diversion
app = diversion.create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
listed = app.cli.get_command(None, "db").get_short_help_str(80)
before = [name for name in ("flask_migrate", "alembic") if name in sys.modules]
from flask_migrate.cli import db as flask_migrate_group
print(json.dumps({"listed": listed, "real": flask_migrate_group.get_short_help_str(80),
                  "before": before}))
"""


def test_the_db_commands_are_listed_without_importing_alembic_and_run_as_before(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", MIGRATE_PROBE],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == []
    assert report["listed"] == report["real"] == "Perform database migrations."
    # The commands themselves, through the real command line, on a new database.
    flask = [sys.executable, "-m", "flask", "--app", "diversion", "db"]
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    for command in (["upgrade"], ["current"], ["check"]):
        done = subprocess.run([*flask, *command], cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "No new upgrade operations detected."
    current = subprocess.run([*flask, "current"], cwd=tmp_path, env=environment,
                             capture_output=True, text=True, timeout=120, check=True)
    assert current.stdout.strip().endswith("(head)")
