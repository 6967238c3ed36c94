"""`python -m bench.run` (`make bench`): runs the benchmarks and writes bench/results/*.json.

Default sizes are the issue's; smaller ones (e.g. `--only gateway --soak-seconds 60`, `--only export
--export-rows 1000000`, `--only quality --quality-rows 1000000`) give a quick look. See bench/README.md."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench import (
    audit_bench,
    export_bench,
    gateway_bench,
    import_bench,
    objection_bench,
    pages_bench,
    quality_bench,
    relevance,
    search_bench,
)

RESULTS = Path(__file__).parent / "results"
BENCHMARKS = ["search", "relevance", "import", "pages", "gateway", "export", "audit", "quality", "objections"]


def main() -> None:
    parser = argparse.ArgumentParser(description="govshare benchmarks")
    parser.add_argument("--only", choices=BENCHMARKS, help="run one benchmark")
    parser.add_argument("--entries", type=int, default=100_000, help="search: synthetic catalog size")
    parser.add_argument("--queries", type=int, default=1000, help="search: number of search queries")
    parser.add_argument("--source-rows", type=int, default=100_000, help="gateway: rows of the provider table")
    parser.add_argument("--gateway-seconds", type=float, default=15, help="gateway: length of each measured load")
    parser.add_argument("--gateway-rounds", type=int, default=5,
                        help="gateway: alternating bare/governed rounds per phase (the medians are reported)")
    parser.add_argument("--connections", type=int, default=16, help="gateway: concurrent keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="gateway: uvicorn worker processes")
    parser.add_argument("--soak-seconds", type=float, default=600,
                        help="gateway: governed load while worker RSS is watched (0: skip)")
    parser.add_argument("--export-rows", type=int, default=10_000_000, help="export: rows of the exported source")
    parser.add_argument("--export-small-rows", type=int, default=1_000_000,
                        help="export: a second, smaller export whose peak RSS is compared (0: skip)")
    parser.add_argument("--export-rounds", type=int, default=2, help="export: alternating baseline/governed pairs")
    parser.add_argument("--page-repeats", type=int, default=5, help="pages: requests per page (the median is kept)")
    parser.add_argument("--audit-records", type=int, default=10_000_000, help="audit: chained usage records")
    parser.add_argument("--quality-rows", type=int, default=10_000_000, help="quality: rows of the checked file")
    parser.add_argument("--quality-small-rows", type=int, default=1_000_000,
                        help="quality: a second, smaller file whose peak RSS is compared (0: skip)")
    parser.add_argument("--quality-rounds", type=int, default=2,
                        help="quality: alternating baseline/engine pairs (the medians are reported)")
    args = parser.parse_args()
    if args.only in (None, "import"):
        import_bench.run(RESULTS)
        if os.environ.get("GOVSHARE_BENCH_DATABASE_URL"):
            import_bench.run(RESULTS, os.environ["GOVSHARE_BENCH_DATABASE_URL"])
    if args.only in (None, "search"):
        search_bench.run(n=args.entries, queries=args.queries)
    if args.only in (None, "relevance"):
        relevance.run(RESULTS)
    if args.only in (None, "pages"):
        pages_bench.run(RESULTS, repeats=args.page_repeats)
    if args.only in (None, "gateway"):
        gateway = dict(source_rows=args.source_rows, seconds=args.gateway_seconds, connections=args.connections,
                       workers=args.workers, rounds=args.gateway_rounds)
        gateway_bench.run(RESULTS, soak_seconds=args.soak_seconds, **gateway)
        if os.environ.get("GOVSHARE_BENCH_DATABASE_URL"):  # the node on PostgreSQL too (no soak: SQLite's shows it)
            gateway_bench.run(RESULTS, soak_seconds=0, postgres_url=os.environ["GOVSHARE_BENCH_DATABASE_URL"],
                              **gateway)
    if args.only in (None, "export"):
        export_bench.run(RESULTS, rows=args.export_rows, small_rows=args.export_small_rows,
                         rounds=args.export_rounds)
    if args.only in (None, "audit"):
        audit_bench.run(RESULTS, records=args.audit_records)
    if args.only in (None, "objections"):
        objection_bench.run(RESULTS, source_rows=args.source_rows)
    if args.only in (None, "quality"):
        quality_bench.run(RESULTS, rows=args.quality_rows, small_rows=args.quality_small_rows,
                          rounds=args.quality_rounds)


if __name__ == "__main__":
    main()
