"""Fees: payments, waivers, balance; managers only."""

from __future__ import annotations

import pytest

from diversion.audit.models import AuditEvent
from diversion.bookings import fees
from diversion.core.errors import Conflict, Forbidden, ValidationFailed
from diversion.core.extensions import db
from tests.builders import NOW, create_referral, create_user


def test_payments_reduce_the_balance_until_the_fee_is_cleared(app):
    manager, referral = create_user("manager"), create_referral()
    fees.record_payment(referral=referral, amount_pence=12000, method="cash", reference="",
                        actor=manager, now=NOW)
    assert fees.fee_status(referral).balance_pence == 8000
    fees.record_payment(referral=referral, amount_pence=8000, method="bank_transfer",
                        reference="BACS 9", actor=manager, now=NOW)
    status = fees.fee_status(referral)
    assert (status.paid_pence, status.balance_pence, status.is_cleared) == (20000, 0, True)
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert actions.count("fee.payment") == 2


def test_a_waived_fee_leaves_nothing_to_pay(app):
    manager, referral = create_user("manager"), create_referral()
    fees.waive_fee(referral=referral, reason="Hardship", actor=manager, now=NOW)
    assert fees.fee_status(referral).is_cleared
    with pytest.raises(ValidationFailed, match="problem") as error:
        fees.record_payment(referral=referral, amount_pence=100, method="card", reference="",
                            actor=manager, now=NOW)
    assert "waived" in error.value.errors["amount_pence"]
    with pytest.raises(Conflict):
        fees.waive_fee(referral=referral, reason="Again", actor=manager, now=NOW)


def test_bad_payments_are_refused_field_by_field(app):
    manager, referral = create_user("manager"), create_referral()
    with pytest.raises(ValidationFailed) as error:
        fees.record_payment(referral=referral, amount_pence=-5, method="barter", reference="",
                            actor=manager, now=NOW)
    assert set(error.value.errors) == {"amount_pence", "method"}
    with pytest.raises(ValidationFailed):
        fees.waive_fee(referral=referral, reason="  ", actor=manager, now=NOW)


def test_only_managers_handle_fees(app):
    with pytest.raises(Forbidden):
        fees.record_payment(referral=create_referral(), amount_pence=100, method="card",
                            reference="", actor=create_user("police"), now=NOW)
