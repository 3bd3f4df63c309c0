from sqlalchemy import func, select

from diversion.core.extensions import db
from diversion.referrals.demo import PLANS, load_demo_referrals
from diversion.referrals.models import Referral, ReferralStatus
from diversion.stats import collect_stats
from tests.builders import NOW, create_force, create_user


def test_demo_referrals_cover_every_state_and_loading_twice_adds_nothing(app):
    force = create_force("WYP", "West Yorkshire Police")
    officer = create_user("police", force=force)
    manager = create_user("manager")
    created = load_demo_referrals(force=force, officer=officer, manager=manager, now=NOW)
    assert created == len(PLANS) >= 36
    statuses = set(db.session.scalars(select(Referral.status)))
    assert statuses == set(ReferralStatus)
    assert load_demo_referrals(force=force, officer=officer, manager=manager, now=NOW) == 0
    assert db.session.scalar(select(func.count()).select_from(Referral)) == len(PLANS)


def test_stats_count_people_and_referrals_by_status(app):
    force = create_force("WYP")
    load_demo_referrals(force=force, officer=create_user("police", force=force),
                        manager=create_user("manager"), now=NOW)
    stats = collect_stats()
    assert stats["people"] == len(PLANS)
    assert sum(stats["referrals"].values()) == len(PLANS)
    assert set(stats["referrals"]) == {s.value for s in ReferralStatus}
    assert stats["referrals"]["completed"] >= 6
