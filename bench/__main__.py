"""`make bench`: issue 17's table, every row as goal / measured / baseline, on one generated
database of BENCH_N referrals (10,000 unless given), SQLite unless DATABASE_URL names a
PostgreSQL server:

    make bench
    make bench BENCH_N=1000000 DATABASE_URL=postgresql://user@host/name

Prints the table and writes it as JSON to bench/results/<database>-<N>.json, with the machine
it ran on. BENCH_ONLY=pages,pdfs runs only the named modules (bench_<name>). Each module's
`main` still runs alone for its detailed figures: `python -m bench.bench_referral_list`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import Context, Row, bench_n, database_label, figure, generated_context

# In the order of issue 17's table; bench_reports (the reoffending report against a
# hand-written SQL aggregate) is another module's, run when it is there.
MODULES = ["referral_list", "pages", "dashboard", "reports", "pdfs", "referral_import",
           "allocation", "dispatch", "worker_memory", "cli_start", "demo_load"]
RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text()
                   .splitlines() if line.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": memory,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "system": platform.platform()}


def print_table(rows: list[Row]) -> None:
    header = ["measure", "goal", "measured", "baseline", "ratio", "met?"]
    lines = [[row.measure, row.goal, f"{figure(row.measured)} {row.unit}".strip(),
              figure(row.baseline), "-" if row.ratio is None else f"{row.ratio:.2f}x",
              {True: "yes", False: "NO", None: "-"}[row.met]] for row in rows]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *lines]:
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))
    for row in rows:
        if row.note:
            print(f"  {row.measure}: {row.note}")


def _module_rows(name: str, ctx: Context) -> list[Row]:
    try:
        module = importlib.import_module(f"bench.bench_{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.bench_{name}":
            raise
        return [Row(f"({name})", "-", None, "", note=f"bench/bench_{name}.py is not there yet")]
    measure: Callable[[Context], list[Row]] = module.rows
    print(f"== bench_{name}", flush=True)
    try:
        return measure(ctx)
    except Exception as exc:  # one broken benchmark must not lose the others' figures
        traceback.print_exc()
        return [Row(f"({name})", "-", None, "", met=False, note=f"failed: {exc!r}"[:300])]


def main() -> int:
    n = bench_n()
    only = [m for m in os.environ.get("BENCH_ONLY", "").split(",") if m]
    started = dt.datetime.now(dt.UTC)
    rows: list[Row] = []
    with generated_context(n) as ctx:
        for name in only or MODULES:
            rows.extend(_module_rows(name, ctx))
    if not only:
        rows.append(Row("fresh clone: make test", "<= 15 min", None, "",
                        note="documented only: see docs/performance.md"))
    print(f"\n{database_label()}, {n:,} referrals, {started:%Y-%m-%d %H:%M} UTC")
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{database_label()}-{n}.json"
    path.write_text(json.dumps({
        "database": database_label(), "n": n, "started": started.isoformat(),
        "machine": machine(), "rows": [row.as_dict() for row in rows]}, indent=2) + "\n")
    print(f"written to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
