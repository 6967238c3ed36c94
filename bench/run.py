"""`python -m bench.run` (`make bench`): runs the benchmarks and writes bench/results/*.json."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench import import_bench, search_bench

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description="govshare benchmarks")
    parser.add_argument("--entries", type=int, default=100_000, help="synthetic catalog size")
    parser.add_argument("--queries", type=int, default=1000, help="number of search queries")
    parser.add_argument("--only", choices=["search", "import"], help="run one benchmark")
    args = parser.parse_args()
    if args.only in (None, "import"):
        import_bench.run(RESULTS)
        if os.environ.get("GOVSHARE_BENCH_DATABASE_URL"):
            import_bench.run(RESULTS, os.environ["GOVSHARE_BENCH_DATABASE_URL"])
    if args.only in (None, "search"):
        search_bench.run(n=args.entries, queries=args.queries)


if __name__ == "__main__":
    main()
