"""Pages on the run's generated database (`make bench`): a submitted register through the whole
app against a bare Flask route (goal >= 0.25x), beside the privacy notice signed in (no goal: what
every signed-in page costs before its own work, the ceiling of any page's ratio); and, on SQLite,
reads while another connection holds the write lock (goal: a page that only reads never waits
for it).
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.engine import make_url

from .common import Context, Row, database_label, signed_in
from .served import page_rows

HOLD_SECONDS = 3.0


def _register_session(ctx: Context) -> int:
    from diversion.attendance.models import Register, RegisterState
    from diversion.core.extensions import db

    with ctx.app.app_context():
        session_id = db.session.scalar(
            select(Register.session_id).where(Register.state == RegisterState.SUBMITTED)
            .order_by(Register.id.desc()).limit(1))
        db.session.remove()
    assert session_id is not None
    return session_id


def _median_ms(client: object, urls: list[str], repeats: int = 5) -> float:
    timings = []
    for _ in range(repeats):
        for url in urls:
            start = time.perf_counter()
            response = client.get(url)  # type: ignore[attr-defined]
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, url
    return statistics.median(timings)


def _hold_the_lock(path: str, holding: threading.Event, seconds: float) -> None:
    writer = sqlite3.connect(path, isolation_level=None, timeout=15)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE forces SET name = name WHERE id = (SELECT min(id) FROM forces)")
        holding.set()
        time.sleep(seconds)
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def _under_a_writer(path: str, client: object, urls: list[str]) -> float:
    """The pages' median time while another connection holds the write lock for HOLD_SECONDS."""
    holding = threading.Event()
    writer = threading.Thread(target=_hold_the_lock, args=(path, holding, HOLD_SECONDS))
    writer.start()
    try:
        assert holding.wait(timeout=30)
        return _median_ms(client, urls, repeats=1)
    finally:
        writer.join()


def _reads_under_a_write_lock(ctx: Context) -> list[Row]:
    goal = "reads never wait for the write lock"
    if database_label() != "sqlite":
        return [Row("SQLite: reads while a writer holds the lock", goal, None, "ms",
                    note="SQLite only")]
    path = make_url(ctx.url).database
    assert path
    client = signed_in(ctx.app, ctx.generated.manager_email)
    result = []
    for label, urls in (("dashboard, sessions", ["/dashboard", "/sessions"]),
                        ("referral list, register (audited reads)",
                         ["/referrals", f"/sessions/{_register_session(ctx)}/register"])):
        free = _median_ms(client, urls)
        locked = _under_a_writer(path, client, urls)
        result.append(Row(f"SQLite: {label} while a writer holds the lock", goal, locked, "ms",
                          baseline=free, ratio=locked / free, met=locked <= 2 * free + 50,
                          note=f"writer holds the lock {HOLD_SECONDS:g} s; baseline: no writer"))
    return result


def rows(ctx: Context) -> list[Row]:
    register, floor = page_rows(ctx, [
        ("register page (submitted register)", ctx.generated.manager_email,
         f"/sessions/{_register_session(ctx)}/register"),
        (FLOOR, ctx.generated.manager_email, "/privacy")])
    # What every signed-in page costs before it does anything of its own (the sign-in's row,
    # the layout, CSRF, the commit): the ceiling any page's ratio can reach here.
    floor = replace(floor, goal="none: for reference", met=None,
                    note="the ceiling of every signed-in page's ratio")
    return [register, floor, *_reads_under_a_write_lock(ctx)]


FLOOR = "signed-in page with no query of its own (privacy notice)"
