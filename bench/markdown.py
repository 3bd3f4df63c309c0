"""A results file as a Markdown table, for docs/performance.md:
`python -m bench.markdown bench/results/sqlite-10000.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def markdown(path: Path) -> str:
    results = json.loads(path.read_text())
    lines = ["| measure | goal | measured | baseline | ratio | met? |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        lines.append(f"| {row['measure']} | {row['goal']} | "
                     f"{_figure(row['measured'])} {row['unit']} | {_figure(row['baseline'])} | "
                     f"{ratio} | {met} |")
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(markdown(Path(name)))
