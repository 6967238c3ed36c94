"""`python -m bench.run` (`make bench`): runs the benchmarks and writes bench/results/*.json."""

from __future__ import annotations

import argparse

from bench import search_bench


def main() -> None:
    parser = argparse.ArgumentParser(description="govshare benchmarks")
    parser.add_argument("--entries", type=int, default=100_000, help="synthetic catalog size")
    parser.add_argument("--queries", type=int, default=1000, help="number of search queries")
    args = parser.parse_args()
    search_bench.run(n=args.entries, queries=args.queries)


if __name__ == "__main__":
    main()
