"""A web worker's memory after load (goal: <= 150 MB): a fresh app process on the run's
generated database serves one request of each main page, as the manager and as an officer;
then its resident memory is read from /proc (and the peak from getrusage).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select

from .common import Context, Row, rss_mib, run_child, signed_in

GOAL_MIB = 150


def rows(ctx: Context) -> list[Row]:
    g = ctx.generated
    result = run_child("bench_worker_memory", ctx.url, g.manager_email, g.police_email)
    return [Row("web worker memory after one request of each main page", f"<= {GOAL_MIB} MB",
                result["rss_mib"], "MiB", met=result["rss_mib"] <= GOAL_MIB,
                note=f"{result['pages']} pages; peak {result['peak_mib']:.0f} MiB; "
                     f"app created: {result['created_mib']:.0f} MiB")]


def child(url: str, manager: str, police: str) -> None:
    from diversion.attendance.models import Register
    from diversion.core.extensions import db
    from diversion.referrals.models import Referral
    from tests.conftest import make_app

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(url, Path(folder))
        created, _ = rss_mib()
        with app.app_context():
            # LIMIT 1: the ORM buffers a result whole, and a million references read here
            # would be counted as the worker's own memory.
            reference = db.session.scalar(select(Referral.reference)
                                          .order_by(Referral.id.desc()).limit(1))
            session_id = db.session.scalar(select(Register.session_id)
                                           .order_by(Register.id.desc()).limit(1))
            db.session.remove()
        pages = {manager: ["/dashboard", "/referrals", "/referrals?search=ab",
                           f"/referrals/{reference}", f"/sessions/{session_id}/register",
                           "/sessions", "/messages", "/reports/outcomes", "/reports/attendance",
                           "/reports/reoffending"],
                 police: ["/dashboard", "/referrals"]}
        count = 0
        for email, urls in pages.items():
            client = signed_in(app, email)
            for url_ in urls:
                response = client.get(url_)
                assert response.status_code == 200, (url_, response.status_code)
                count += 1
        now, peak = rss_mib()
        print(json.dumps({"rss_mib": now, "peak_mib": peak, "created_mib": created,
                          "pages": count}))


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child(*sys.argv[2:5])
