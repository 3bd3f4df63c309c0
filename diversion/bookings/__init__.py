"""Bookings: places on sessions, transfers, cancellations, waiting lists, allocation, fees."""
