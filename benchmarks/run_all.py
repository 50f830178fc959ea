"""Runs every benchmark in this folder and prints one table of ratios, each measured in one run.

python -m benchmarks.run_all [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import benchmarks
from benchmarks.timing import print_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument(
        "--only", nargs="*", default=None, help="benchmark modules to run, e.g. metrics"
    )
    args = parser.parse_args()
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    rows = []
    for name in names:
        if args.only and name.removeprefix("bench_") not in args.only:
            continue
        print(f"running {name} ...", flush=True)
        rows += importlib.import_module(f"benchmarks.{name}").run(quick=args.quick)
    print()
    print_rows(rows)


if __name__ == "__main__":
    main()
