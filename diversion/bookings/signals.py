"""What the bookings feature tells the features built on it (blinker signals).

Receivers are connected in each feature's init_app and run inside the caller's transaction.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

fee_cleared = _signals.signal("fee-cleared", doc="""
A payment or waiver left nothing owed on a referral. The sender is the Referral; keyword
arguments `actor` (a User, or None for the system) and `now`. The register uses it to complete
a man who attended while the fee was still owed.
""")

booking_transferred = _signals.signal("booking-transferred", doc="""
A booking was moved to another session; the referral stays booked, so no lifecycle move tells
anyone. The sender is the new Booking; keyword argument `now`.
""")

fee_changed = _signals.signal("fee-changed", doc="""
Money was recorded against a referral's fee, or given back: the balance owed may have changed
(a part payment, a refund). The sender is the Referral; keyword argument `now`. Sent before
`fee_cleared` when a payment clears the fee. Reminders keep the fee reminder's amount true.
""")
