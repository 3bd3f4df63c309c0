"""How long `flask --app diversion --help` takes to start (goal: <= 1 s), median of RUNS wall
times in fresh processes, against `python -c pass` (the interpreter alone), interleaved.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .common import PROJECT_ROOT, Context, Row, interleaved, timed

RUNS = 5
GOAL_SECONDS = 1.0


def _run(*command: str) -> None:
    subprocess.run(command, cwd=PROJECT_ROOT, check=True,  # noqa: S603 (our own commands)
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rows(ctx: Context) -> list[Row]:
    flask = str(Path(sys.executable).parent / "flask")
    figures = interleaved({
        "cli": lambda: timed(lambda: _run(flask, "--app", "diversion", "--help")),
        "python": lambda: timed(lambda: _run(sys.executable, "-c", "pass")),
    }, rounds=RUNS)
    return [Row("CLI start: flask --app diversion --help", f"<= {GOAL_SECONDS:g} s",
                figures["cli"], "s", baseline=figures["python"],
                ratio=figures["cli"] / figures["python"], met=figures["cli"] <= GOAL_SECONDS,
                note="baseline: python -c pass")]
