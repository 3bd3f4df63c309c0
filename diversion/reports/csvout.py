"""CSV output that spreadsheets cannot turn into formulas: now `diversion.core.csvout`, shared
with the features below reports (the fees outstanding export)."""

from __future__ import annotations

from diversion.core.csvout import FORMULA_TRIGGERS, cell, neutralise, to_csv

__all__ = ["FORMULA_TRIGGERS", "cell", "neutralise", "to_csv"]
