"""Reoffences: later offences recorded for people referred, the data of proven reoffending."""
