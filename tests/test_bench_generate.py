"""The benchmarks' generator (bench/generate.py) makes a database the app's pages work on: if the
schema drifts from what it writes, this fails before `make bench` does."""

from __future__ import annotations

from sqlalchemy import func, select

from bench.generate import BENCH_PASSWORD, PER_SESSION, generate
from diversion.attendance.models import Register, RegisterState
from diversion.core.extensions import db
from diversion.referrals.models import Referral, ReferralStatus

N = 500


def test_the_pages_render_on_a_generated_database(app, client, auth, clock):
    generated = generate(N)

    assert generated.counts["referrals"] == generated.counts["people"] == N
    assert generated.counts["sessions"] == N // PER_SESSION + 1
    assert generated.counts["register_entries"] > N // 2
    assert generated.counts["reoffences"] > 0
    statuses = set(db.session.scalars(select(Referral.status).distinct()))
    assert {ReferralStatus.COMPLETED, ReferralStatus.BOOKED, ReferralStatus.WITHDRAWN} <= statuses
    register = db.session.scalars(select(Register).where(Register.state == RegisterState.SUBMITTED)
                                  .order_by(Register.id.desc())).first()
    assert register is not None
    db.session.commit()

    assert auth.login(generated.manager_email, BENCH_PASSWORD).status_code == 302
    for url in ("/referrals", "/referrals?search=ab", f"/sessions/{register.session_id}/register",
                "/dashboard", "/reports/reoffending", "/reports/outcomes", "/messages"):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get("/referrals").get_data(as_text=True)
    newest = db.session.scalar(select(Referral.reference).order_by(Referral.referral_date.desc(),
                                                                   Referral.id.desc()))
    assert newest is not None and newest in page

    auth.logout()
    assert auth.login(generated.police_email, BENCH_PASSWORD).status_code == 302
    assert client.get("/dashboard").status_code == 200
    assert client.get("/referrals").status_code == 200


def test_generating_twice_adds_to_the_database(app):
    generate(50)
    generate(50, seed=18)
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 100
