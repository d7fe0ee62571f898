"""Run every benchmark: `python -m bench [--write bench/RESULTS.md]`."""

from __future__ import annotations

import sys

from bench import bench_explainers

BENCHES = [bench_explainers.main]

if __name__ == "__main__":
    for bench in BENCHES:
        bench(sys.argv[1:])
