"""A results file as a Markdown table, for docs/performance.md:
`python -m bench.markdown bench/results/sqlite-10000.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import figure


def markdown(path: Path) -> str:
    results = json.loads(path.read_text())
    lines = ["| measure | goal | measured | baseline | ratio | met? |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        lines.append(f"| {row['measure']} | {row['goal']} | "
                     f"{figure(row['measured'])} {row['unit']} | {figure(row['baseline'])} | "
                     f"{ratio} | {met} |")
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(markdown(Path(name)))
