"""What the benchmarks share: the table row, the databases, interleaved timing, child processes.

`make bench` runs at BENCH_N referrals (10,000 unless given) on SQLite, or on PostgreSQL when
DATABASE_URL names a PostgreSQL server: the benchmarks then create their own databases beside
the one named (`<name>_bench_<what>`, dropped and made again each run) and never touch its
tables.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5


def bench_n() -> int:
    return int(os.environ.get("BENCH_N", "10000").replace("_", "").replace(",", ""))


def server_url() -> str | None:
    """DATABASE_URL when it names a PostgreSQL server; None for SQLite."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql", "postgres:")) else None


def database_label() -> str:
    return "postgresql" if server_url() else "sqlite"


def figure(value: float | None) -> str:
    """A measured value as the table shows it: thousands grouped, small ones with decimals."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


@dataclass
class Row:
    """One line of the table: a measure, its goal, what was measured and what it is against."""

    measure: str
    goal: str
    measured: float | None
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    met: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A new, empty database for one benchmark: a SQLite file in a temporary folder, or a
    PostgreSQL database beside DATABASE_URL's (made again each time)."""
    server = server_url()
    if server is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / (name + '.sqlite')}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(server.replace("postgresql://", "postgresql+psycopg://")
                    .replace("postgres://", "postgresql+psycopg://"))
    database = f"{base.database}_bench_{name}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield base.set(database=database).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()


def migrated_app(url: str, folder: Path) -> Any:
    """The app on `url` (as the tests make it: no CSRF, no second factor), schema upgraded."""
    from flask_migrate import upgrade

    from tests.conftest import make_app

    app = make_app(url, folder)
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="heads")
    return app


@dataclass
class Standalone:
    """A bench module's own database (its `main`), as `standalone_sqlite` makes it."""

    app: Any
    path: Path
    force: Any
    programme: Any


@contextmanager
def standalone_sqlite(now: Any) -> Iterator[Standalone]:
    """For a bench module's own `main`: a migrated SQLite file in a temporary folder with the
    app's context pushed, one force (BF1) and the programme (KCRC), not yet committed."""
    from diversion.auth import services as auth_services
    from diversion.programmes import services as programme_services

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite"
        app = migrated_app(f"sqlite:///{path}", Path(folder))
        with app.app_context():
            force = auth_services.create_force(code="BF1", name="Bench force 1", actor=None,
                                               now=now)
            programme = programme_services.create_programme(
                settings=programme_services.ProgrammeSettings(code="KCRC", name="Course"),
                actor=None, now=now)
            yield Standalone(app, path, force, programme)


def interleaved(calls: dict[str, Callable[[], float]], rounds: int = ROUNDS) -> dict[str, float]:
    """Each call returns a figure (seconds, or a rate); they run in turn, round after round, so
    that a change in the machine's load falls on all of them alike. Medians."""
    figures: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            figures[name].append(call())
    return {name: statistics.median(values) for name, values in figures.items()}


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def run_child(module: str, *args: str, env: dict[str, str] | None = None,
              timeout: float = 600) -> dict[str, Any]:
    """`python -m bench.<module> child ARGS` in a fresh process; its last line is JSON."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    environment.update(env or {})
    done = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", f"bench.{module}", "child", *args], cwd=PROJECT_ROOT,
        env=environment, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.{module} child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def rss_mib() -> tuple[float, float]:
    """(resident now, peak) of this process in MiB, from /proc/self/status (VmRSS, VmHWM).
    Not getrusage's ru_maxrss: Linux keeps it across exec, so a child process started from a
    big parent would report the parent's size as its own peak."""
    found: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


@dataclass
class Context:
    """The run's generated database (bench.generate at n referrals) and the app on it."""

    n: int
    url: str
    folder: Path
    app: Any
    generated: Any


@contextmanager
def generated_context(n: int) -> Iterator[Context]:
    """The run's database: generated now, or with BENCH_DATABASE_URL one that `python -m
    bench.generate --n N` filled before (its schema upgraded; the run adds audit rows to it),
    so a million referrals need generating once, not for every run."""
    from diversion.core.extensions import db
    from diversion.core.timeutils import now_utc

    from .generate import found, generate

    reuse = os.environ.get("BENCH_DATABASE_URL")
    with (nullcontext(reuse) if reuse else scratch_database("data")) as url, \
            tempfile.TemporaryDirectory() as folder:
        app = migrated_app(url, Path(folder))
        with app.app_context():
            generated = found(n) if reuse else generate(n, now=now_utc())
            db.session.remove()
        counts = ", ".join(f"{name} {count:,}" for name, count in generated.counts.items())
        made = "found" if reuse else f"generated in {generated.seconds:.1f}s"
        print(f"{n:,} referrals {made} ({counts})", flush=True)
        try:
            yield Context(n=n, url=url, folder=Path(folder), app=app, generated=generated)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def bare_app() -> Any:
    """The baseline for a page: a Flask route that returns a small page and does nothing else."""
    from flask import Flask

    bare = Flask("bare")

    @bare.get("/")
    def index() -> str:
        return "<!doctype html><title>Bare</title><p>Bare Flask route</p>"

    return bare


def signed_in(app: Any, email: str) -> Any:
    from .generate import BENCH_PASSWORD

    client = app.test_client()
    response = client.post("/sign-in", data={"email": email, "password": BENCH_PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"could not sign in as {email}: {response.status_code}")
    return client
