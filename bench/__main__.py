"""`make bench`: run every benchmark module in this folder and print its results."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if not names:
        print("no benchmarks yet")
        return 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
