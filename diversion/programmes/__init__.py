"""Programmes (course types) and their settings."""
