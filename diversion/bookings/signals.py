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
