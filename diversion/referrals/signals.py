"""What the referrals feature tells the features built on it (blinker signals).

Receivers are connected in each feature's init_app, so they exist whenever the app exists; a
receiver runs inside the caller's transaction and must not commit.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

referral_moved = _signals.signal("referral-moved", doc="""
A referral changed status through `lifecycle.transition`. The sender is the
`lifecycle.Moved` describing the move; there are no keyword arguments.
""")

referrals_moved = _signals.signal("referrals-moved", doc="""
`lifecycle.transition_many` made one move for many referrals (auto-allocation, sweeps). The
sender is the list of `lifecycle.Moved`; a receiver must do what it does for `referral_moved`,
for every move, in bulk where it can.
""")
