"""The published password of the demonstration accounts (never used outside the demo)."""

DEMO_PASSWORD = "demo password for diversion"  # noqa: S105 (published demo login)
