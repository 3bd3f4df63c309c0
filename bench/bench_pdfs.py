"""The 12-month outcomes and attendance reports as PDFs, each in a fresh process on the run's
generated database (goal: <= 2 s and <= 300 MB). The process signs in, then times the one
request that builds and renders the PDF; its peak resident memory is /proc's VmHWM (its own,
not the parent's, which getrusage would report after exec).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .common import Context, Row, rss_mib, run_child, signed_in

KINDS = ("outcomes", "attendance")
RUNS = 3
GOAL_SECONDS = 2
GOAL_MIB = 300


def rows(ctx: Context) -> list[Row]:
    result = []
    for kind in KINDS:
        runs = [run_child("bench_pdfs", ctx.url, ctx.generated.manager_email, kind)
                for _ in range(RUNS)]
        seconds = statistics.median(run["seconds"] for run in runs)
        peak = max(run["peak_mib"] for run in runs)
        before = statistics.median(run["before_mib"] for run in runs)
        pages = runs[0]["bytes"]
        result.append(Row(f"12-month {kind} PDF", f"<= {GOAL_SECONDS} s, <= {GOAL_MIB} MB",
                          seconds, "s", met=seconds <= GOAL_SECONDS and peak <= GOAL_MIB,
                          note=f"peak RSS {peak:.0f} MiB (app before: {before:.0f}); "
                               f"{pages / 1024:.0f} KiB"))
    return result


def child(url: str, email: str, kind: str) -> None:
    from tests.conftest import make_app

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(url, Path(folder))
        client = signed_in(app, email)
        before, _ = rss_mib()
        start = time.perf_counter()
        response = client.get(f"/reports/{kind}?format=pdf")
        seconds = time.perf_counter() - start
        assert response.status_code == 200, response.status_code
        assert response.data.startswith(b"%PDF"), response.data[:100]
        _, peak = rss_mib()
        print(json.dumps({"seconds": seconds, "peak_mib": peak, "before_mib": before,
                          "bytes": len(response.data)}))


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    child(*sys.argv[2:5])
