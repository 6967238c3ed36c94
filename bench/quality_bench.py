"""Quality benchmark: the data-quality engine (`govshare.quality.engine.run`, what a quality run of an entry
executes) with 8 rules over 10,000,000 rows × 10 items of a Parquet file, against a plain DuckDB scan of the
same file computing the same checked and failed counts in one hand-written SQL statement, in the same run.
Target (issue): ≥ 1,000,000 rows/s, report the ratio to the plain scan, peak RSS ≤ 1 GiB at any row count.

The 8 rules (required, format id_number, format mobile, enum GB/T 2261.1, range, reference, birth_matches_id,
not_before) are declared as a provider declares them (`rules.parse_rule`). The engine counts them in one
statement, then fetches up to 5 failing keys per failed rule (masked); its time is from the call to its
return. The baseline is written by hand for this data: missing values as an `IN` list of placeholders,
the mobile pattern as one regular expression, dates by `try_cast`, the check-digit arithmetic of
`profiling.check_sql` computed once; no sampling. The benchmark raises when any count differs: the ratio
would mean nothing.

Each run is a fresh child process (its peak RSS, VmHWM, is its own: Python, govshare and DuckDB), DuckDB
connected as the quality service connects it (no memory limit set); `--quality-rounds` alternating pairs
(baseline, engine), medians reported. The engine is also measured at 1,000,000 rows to show that memory does
not grow with rows. The input is generated with DuckDB `range()` SQL and cached by row count under
GOVSHARE_BENCH_CACHE (default /tmp/govshare-bench-cache)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"rows_per_s": 1_000_000, "peak_rss_mib": 1024.0}

# item, Chinese name, source column
ITEMS = [
    ("gmsfhm", "公民身份号码", "GMSFHM"),
    ("xm", "姓名", "XM"),
    ("xb", "性别", "XB"),
    ("csrq", "出生日期", "CSRQ"),
    ("sjhm", "手机号码", "SJHM"),
    ("xzqhdm", "行政区划代码", "XZQHDM"),
    ("djrq", "登记日期", "DJRQ"),
    ("clrq", "成立日期", "CLRQ"),
    ("je", "金额", "JE"),
    ("jzdz", "居住地址", "JZDZ"),
]
COLUMNS = {item: column for item, _chinese, column in ITEMS}
KEY_ITEM = "gmsfhm"
REFERENCE = "admin_divisions"
RULES = [
    {"kind": "required", "item": "xm"},
    {"kind": "format", "item": "gmsfhm", "params": {"format": "id_number"}},
    {"kind": "format", "item": "sjhm", "params": {"format": "mobile"}},
    {"kind": "enum", "item": "xb", "params": {"standard": "GB/T 2261.1"}},
    {"kind": "range", "item": "je", "params": {"min": 0, "max": 100000}},
    {"kind": "reference", "item": "xzqhdm", "params": {"reference": REFERENCE}},
    {"kind": "birth_matches_id", "item": "csrq", "params": {"other": "gmsfhm"}},
    {"kind": "not_before", "item": "djrq", "params": {"other": "clrq"}},
]

REGIONS = ["340102", "340103", "340104", "340111", "340121", "340181"]  # the rows' codes (and 349999: not one)
PROVINCES = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53)
# The reference table: about the size of the county-level division codes (2,978), the rows' 6 codes among them.
REFERENCE_CODES = sorted({*REGIONS, *(f"{p}{c:02d}{d:02d}" for p in PROVINCES for c in range(1, 12)
                                      for d in range(1, 12))})
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]  # GB 11643 (ISO 7064 MOD 11-2)
MOBILE_PREFIXES = ["30", "35", "38", "39", "50", "58", "86", "89", "77", "99"]  # allocated ranges only


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def _region_sums() -> list[int]:
    """Each region code's part of the ID number's weighted digit sum (its first 6 digits)."""
    return [sum(int(d) * w for d, w in zip(code, ID_WEIGHTS[:6], strict=True)) for code in REGIONS]


def _date_sum(day: str) -> str:
    """The weighted sum of the 8 digits YYYYMMDD of the DATE expression `day` (ID number positions 7–14)."""
    y, m, d = f"year({day})", f"month({day})", f"day({day})"
    digits = [f"{y} // 1000", f"{y} // 100 % 10", f"{y} // 10 % 10", f"{y} % 10", f"{m} // 10", f"{m} % 10",
              f"{d} // 10", f"{d} % 10"]
    return " + ".join(f"({digit}) * {w}" for digit, w in zip(digits, ID_WEIGHTS[6:14], strict=True))


GENERATE = f"""
COPY (
  WITH hashes AS (
    SELECT i, CAST(hash(i) >> 1 AS BIGINT) AS h1, CAST(hash(i + 1000000000000) >> 1 AS BIGINT) AS h2,
           CAST(hash(i + 2000000000000) >> 1 AS BIGINT) AS h3
    FROM range({{rows}}) t(i)
  ), base AS (
    SELECT *, CAST(h1 % 6 AS INTEGER) AS r, DATE '1940-01-01' + CAST(h1 // 6 % 25000 AS INTEGER) AS born,
           CAST(h1 // 150000 % 1000 AS INTEGER) AS seq,
           DATE '1990-01-01' + CAST(h3 % 11000 AS INTEGER) AS established
    FROM hashes
  ), body AS (
    SELECT *,
           {_sql_list(REGIONS)}[r + 1] || strftime(born, '%Y%m%d') || lpad(CAST(seq AS VARCHAR), 3, '0') AS id17,
           (12 - ({[*_region_sums()]}[r + 1] + {_date_sum('born')} + (seq // 100) * {ID_WEIGHTS[14]}
                  + (seq // 10 % 10) * {ID_WEIGHTS[15]} + (seq % 10) * {ID_WEIGHTS[16]}) % 11) % 11 AS checks
    FROM base
  )
  SELECT
    CASE WHEN i % 500 = 3 THEN NULL WHEN i % 500 = 4 THEN 'N/A' WHEN i % 300 = 5 THEN id17
         WHEN i % 100 = 7 THEN id17 || {_sql_list('0123456789X')}[(checks + 1) % 11 + 1]
         ELSE id17 || {_sql_list('0123456789X')}[checks + 1] END AS GMSFHM,
    CASE WHEN i % 50 = 1 THEN '' WHEN i % 50 = 2 THEN 'N/A' WHEN i % 200 = 3 THEN '无' WHEN i % 333 = 5 THEN NULL
         ELSE (CASE WHEN i % 97 = 0 THEN ' ' ELSE '' END)
           || {_sql_list('王李张刘陈杨黄赵吴周徐孙马朱胡郭')}[h2 % 16 + 1]
           || {_sql_list('伟芳娜敏静丽强磊军洋勇艳杰娟')}[h2 // 16 % 14 + 1]
           || CASE WHEN h2 % 3 = 0 THEN '' ELSE {_sql_list('明华玉兰平刚')}[h2 // 224 % 6 + 1] END END AS XM,
    CASE WHEN i % 250 = 7 THEN '3' WHEN i % 251 = 8 THEN '男' WHEN i % 1000 = 9 THEN ''
         WHEN i % 97 = 1 THEN '0' WHEN i % 89 = 2 THEN '9' WHEN i % 2 = 0 THEN '1' ELSE '2' END AS XB,
    CASE WHEN i % 200 = 11 THEN strftime(born + 1, '%Y-%m-%d') WHEN i % 1000 = 13 THEN '不详'
         WHEN i % 1000 = 14 THEN NULL ELSE strftime(born, '%Y-%m-%d') END AS CSRQ,
    CASE WHEN i % 100 = 17 THEN '12' || lpad(CAST(h3 % 1000000000 AS VARCHAR), 9, '0')
         WHEN i % 300 = 19 THEN '13' || lpad(CAST(h3 % 100000000 AS VARCHAR), 8, '0')
         WHEN i % 400 = 21 THEN 'N/A'
         ELSE '1' || {_sql_list(MOBILE_PREFIXES)}[h3 // 7 % {len(MOBILE_PREFIXES)} + 1]
           || lpad(CAST(h3 % 100000000 AS VARCHAR), 8, '0') END AS SJHM,
    CASE WHEN i % 150 = 23 THEN '349999' WHEN i % 600 = 25 THEN '-' WHEN i % 777 = 26 THEN NULL
         ELSE {_sql_list(REGIONS)}[(h2 // 7) % 6 + 1] END AS XZQHDM,
    CASE WHEN i % 120 = 27 THEN strftime(established - CAST(1 + h1 % 365 AS INTEGER), '%Y-%m-%d')
         WHEN i % 1500 = 43 THEN '2019-02-30' WHEN i % 900 = 44 THEN '无'
         ELSE strftime(established + CAST(h3 // 11000 % 2000 AS INTEGER), '%Y-%m-%d') END AS DJRQ,
    CASE WHEN i % 700 = 41 THEN NULL WHEN i % 700 = 42 THEN '无'
         ELSE strftime(established, '%Y-%m-%d') END AS CLRQ,
    CASE WHEN i % 40 = 29 THEN CAST(1 + h1 % 99 AS VARCHAR) || ',' || lpad(CAST(h1 // 99 % 1000 AS VARCHAR), 3, '0')
                              || '.00'
         WHEN i % 500 = 31 THEN '-' || CAST(1 + h1 % 500 AS VARCHAR) || '.00'
         WHEN i % 700 = 33 THEN '待定' WHEN i % 900 = 35 THEN '250000.00' WHEN i % 800 = 37 THEN ''
         ELSE CAST(CAST(h1 % 10000000 / 100.0 AS DECIMAL(10, 2)) AS VARCHAR) END AS JE,
    '安徽省合肥市' || {_sql_list(['瑶海区', '庐阳区', '蜀山区', '包河区', '长丰县', '巢湖市'])}[h2 // 5 % 6 + 1]
      || {_sql_list(['长江', '淮河', '黄山', '宿松', '望江', '芜湖'])}[h3 // 13 % 6 + 1] || '路'
      || CAST(h3 % 2000 AS VARCHAR) || '号' AS JZDZ
  FROM body
) TO {{path}} (FORMAT parquet, COMPRESSION zstd)
"""


def source_file(rows: int) -> tuple[Path, float | None]:
    """The cached Parquet file of `rows` rows; (path, seconds it took to generate, or None when cached)."""
    from bench.export_bench import generated_parquet

    return generated_parquet("quality_source", GENERATE, rows)


# ---------------------------------------------------------------- the baseline: hand-written SQL

PLACEHOLDERS = ("", "N/A", "NA", "NULL", "无", "-", "--", "/")  # masking.is_placeholder's words, upper case


def baseline_sql(parquet: str) -> str:
    """One scan of the file computing, for each of RULES in order, the rows checked and the rows failed (after
    count(*)). Written for this data: what a person would write for these 8 rules. Only the check-digit
    arithmetic is `profiling.check_sql`'s (the same counts), computed once for both rules that need it."""
    from govshare.gateway.profiling import check_sql

    missing = ", ".join("'" + p + "'" for p in PLACEHOLDERS)
    values = ",\n      ".join(
        f"CASE WHEN upper(trim({column})) IN ({missing}) THEN NULL ELSE trim({column}) END AS {item}"
        for item, column in COLUMNS.items() if item != "jzdz")
    return f"""
WITH v AS (
  SELECT {values}
  FROM read_parquet('{parquet.replace("'", "''")}')
), w AS (
  SELECT *, coalesce({check_sql("id_number", "gmsfhm")}, false) AS id_ok FROM v
)
SELECT count(*),
  count(*), count(*) FILTER (WHERE xm IS NULL),
  count(gmsfhm), count(*) FILTER (WHERE gmsfhm IS NOT NULL AND NOT id_ok),
  count(sjhm), count(*) FILTER (WHERE NOT regexp_full_match(sjhm, '1[3-9][0-9]{{9}}')),
  count(xb), count(*) FILTER (WHERE xb NOT IN ('0', '1', '2', '9')),
  count(je), count(*) FILTER (WHERE je IS NOT NULL
                                AND coalesce(NOT try_cast(replace(je, ',', '') AS DOUBLE) BETWEEN 0 AND 100000, true)),
  count(xzqhdm), count(*) FILTER (WHERE xzqhdm NOT IN (SELECT code FROM regions)),
  count(*) FILTER (WHERE id_ok AND try_cast(csrq AS DATE) IS NOT NULL),
  count(*) FILTER (WHERE id_ok AND strftime(try_cast(csrq AS DATE), '%Y%m%d') <> substr(gmsfhm, 7, 8)),
  count(*) FILTER (WHERE try_cast(djrq AS DATE) IS NOT NULL AND try_cast(clrq AS DATE) IS NOT NULL),
  count(*) FILTER (WHERE try_cast(djrq AS DATE) < try_cast(clrq AS DATE))
FROM w
"""


# ---------------------------------------------------------------- the two runs (in child processes)


def _peak_rss_mib() -> float:
    """This process's own peak RSS in MiB: VmHWM, the high-water mark of its memory since it was started. Not
    ru_maxrss: on Linux a child's ru_maxrss starts at its parent's RSS when it was forked (it carries over the
    exec), so a parent that generated a large input would set the floor of every child's figure."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def baseline_child(sql: str) -> dict:
    """Runs in a fresh process: plain DuckDB, the reference codes as a table, the one hand-written statement."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")  # it would print into the JSON line
    connection.execute("CREATE TEMP TABLE regions AS SELECT unnest(?::VARCHAR[]) AS code", [REFERENCE_CODES])
    before = _peak_rss_mib()
    started = time.perf_counter()
    counts = connection.execute(sql).fetchone()
    seconds = time.perf_counter() - started
    peak = _peak_rss_mib()
    connection.close()
    rows, pairs = int(counts[0]), [int(c) for c in counts[1:]]
    return {"seconds": seconds, "rows": rows,
            "counts": [[pairs[2 * n], pairs[2 * n + 1]] for n in range(len(RULES))],
            "rss_before_mib": before, "peak_rss_mib": peak}


class _TimedConnection:
    """The DuckDB connection handed to the engine, timing each `execute` (the engine's statements are
    materialized by execute; fetching one row or five is nothing beside them)."""

    def __init__(self, connection) -> None:
        self._connection = connection
        self.seconds: list[float] = []

    def execute(self, *args, **kwargs):
        started = time.perf_counter()
        result = self._connection.execute(*args, **kwargs)
        self.seconds.append(time.perf_counter() - started)
        return result

    def __getattr__(self, name):
        return getattr(self._connection, name)


def engine_child(parquet: str) -> dict:
    """Runs in a fresh process: `engine.run` over `read_parquet(...)` with the 8 rules, as the quality service
    calls it for a file source (a plain `duckdb.connect()`, all 10 items mapped, the key item masked)."""
    import duckdb

    from govshare.gateway import masking
    from govshare.quality import engine
    from govshare.quality.rules import parse_rule

    rules = [parse_rule(raw, set(COLUMNS), {REFERENCE}) for raw in RULES]
    masks = {item: masking.Rule("none") for item in COLUMNS} | {KEY_ITEM: masking.parse_rule("keep:6:4")}
    source = engine.Source(f"read_parquet({masking.quote_literal(parquet)})", dict(COLUMNS), KEY_ITEM, masks,
                           salt="bench")
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    timed = _TimedConnection(connection)
    before = _peak_rss_mib()
    started = time.perf_counter()
    outcome = engine.run(timed, source, rules, reference_tables={REFERENCE: REFERENCE_CODES})
    seconds = time.perf_counter() - started
    peak = _peak_rss_mib()
    connection.close()
    return {"seconds": seconds, "rows": outcome.rows,
            "count_statement_seconds": timed.seconds[0], "sample_statements": len(timed.seconds) - 1,
            "sample_seconds": sum(timed.seconds[1:]),
            "counts": [[o.checked, o.failed] for o in outcome.rules],
            "samples": [o.samples for o in outcome.rules], "scores": outcome.scores,
            "rss_before_mib": before, "peak_rss_mib": peak}


def _child(function: str, *args: str) -> dict:
    from bench.export_bench import run_in_child

    return run_in_child("bench.quality_bench", function, *args)


def _warm(path: Path) -> None:
    """Reads the file once, so that neither the first baseline nor the first engine run reads it from disk."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def _same_counts(engine_run: dict, baseline: dict, rows: int) -> None:
    differing = [(RULES[n]["kind"], RULES[n]["item"], engine_run["counts"][n], baseline["counts"][n])
                 for n in range(len(RULES)) if engine_run["counts"][n] != baseline["counts"][n]]
    if differing or engine_run["rows"] != rows or baseline["rows"] != rows:
        raise RuntimeError(f"the engine and the hand-written SQL disagree at {rows:,} rows (rows: engine "
                           f"{engine_run['rows']:,}, baseline {baseline['rows']:,}); (kind, item, engine [checked, "
                           f"failed], baseline): {differing}")


def measure_size(rows: int, parquet: Path, rounds: int) -> dict:
    """`rounds` alternating pairs (baseline, engine); medians, every time kept; the counts must agree."""
    sql = baseline_sql(str(parquet))
    _warm(parquet)
    baselines, engines = [], []
    for _ in range(rounds):
        baselines.append(_child("baseline_child", sql))
        engines.append(_child("engine_child", str(parquet)))
        _same_counts(engines[-1], baselines[-1], rows)
    base_s = statistics.median(r["seconds"] for r in baselines)
    engine_s = statistics.median(r["seconds"] for r in engines)
    first = engines[0]
    return {
        "rows": rows,
        "baseline": {"seconds": round(base_s, 3), "all_seconds": [round(r["seconds"], 3) for r in baselines],
                     "rows_per_s": round(rows / base_s), "peak_rss_mib": max(r["peak_rss_mib"] for r in baselines),
                     "rss_before_mib": baselines[0]["rss_before_mib"]},
        "engine": {"seconds": round(engine_s, 3), "all_seconds": [round(r["seconds"], 3) for r in engines],
                   "rows_per_s": round(rows / engine_s),
                   "count_statement_seconds": round(statistics.median(r["count_statement_seconds"]
                                                                      for r in engines), 3),
                   "sample_seconds": round(statistics.median(r["sample_seconds"] for r in engines), 3),
                   "sample_statements": first["sample_statements"],
                   "peak_rss_mib": max(r["peak_rss_mib"] for r in engines),
                   "rss_before_mib": first["rss_before_mib"], "scores": first["scores"]},
        "ratio_engine_over_baseline": round(base_s / engine_s, 3),  # of rows/s: baseline time / engine time
        "counts_agree": True,
        "rules": [{"kind": raw["kind"], "item": raw["item"], "params": raw.get("params", {}),
                   "checked": first["counts"][n][0], "failed": first["counts"][n][1], "samples": first["samples"][n]}
                  for n, raw in enumerate(RULES)],
    }


# ---------------------------------------------------------------- the whole benchmark


def run(results_dir: Path, *, rows: int = 10_000_000, small_rows: int = 1_000_000, rounds: int = 2,
        console=None) -> dict:
    import duckdb
    from rich.console import Console
    from rich.table import Table

    from govshare.quality.rules import parse_rule

    console = console or Console(width=None if sys.stdout.isatty() else 120)
    sizes = [rows] + ([small_rows] if 0 < small_rows < rows else [])
    console.print(f"[bold]数据质量引擎基准测试[/bold]：{rows:,} 行 × {len(ITEMS)} 个信息项，{len(RULES)} 条规则"
                  f"（Parquet，DuckDB {duckdb.__version__}），基线：同一文件一次扫描的手写 SQL")
    result: dict = {
        "benchmark": "quality_engine",
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "duckdb": duckdb.__version__,
                    "load_avg_1m_before": round(os.getloadavg()[0], 2)},
        "setup": {"items": COLUMNS, "rules": RULES, "reference_codes": len(REFERENCE_CODES), "rounds": rounds,
                  "duckdb_memory_limit": "DuckDB default (the quality service sets none)"},
        "targets": TARGETS,
        "sizes": {},
    }
    for size in sizes:
        parquet, generated = source_file(size)
        console.print(f"数据源 {size:,} 行：" + (f"生成用时 {generated:.1f} 秒" if generated else "来自缓存")
                      + f"（{parquet.stat().st_size / 2**20:,.0f} MiB，{parquet}）")
        size_rounds = rounds if size == rows else 1
        console.print(f"  {size_rounds} 轮（手写 SQL、引擎交替），每次一个新进程…")
        measured = measure_size(size, parquet, size_rounds)
        measured["generate_seconds"] = None if generated is None else round(generated, 1)
        measured["source_mib"] = round(parquet.stat().st_size / 2**20, 1)
        result["sizes"][str(size)] = measured
    result["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    main = result["sizes"][str(rows)]
    peaks = {size: m["engine"]["peak_rss_mib"] for size, m in result["sizes"].items()}
    result["rows_per_s"] = main["engine"]["rows_per_s"]
    result["ratio_engine_over_baseline"] = main["ratio_engine_over_baseline"]
    result["peak_rss_mib"] = peaks
    result["pass"] = {
        "rows_per_s": main["engine"]["rows_per_s"] >= TARGETS["rows_per_s"],
        "peak_rss_mib": max(peaks.values()) <= TARGETS["peak_rss_mib"],
        "counts_agree": all(m["counts_agree"] for m in result["sizes"].values()),
    }

    def mark(ok: bool) -> str:
        return "[green]是[/green]" if ok else "[red]否[/red]"

    table = Table(title=f"数据质量引擎 · {len(RULES)} 条规则 · {len(ITEMS)} 个信息项 · Parquet")
    for column in ("指标", "引擎", "手写 SQL（同一轮）", "比值 引擎/基线", "目标", "达标"):
        table.add_column(column)
    for size, m in result["sizes"].items():
        engine_m, base = m["engine"], m["baseline"]
        main_size = int(size) == rows
        table.add_row(f"速度（行/秒），{int(size):,} 行", f"{engine_m['rows_per_s']:,}", f"{base['rows_per_s']:,}",
                      f"{m['ratio_engine_over_baseline']:.2f}×",
                      f"≥ {TARGETS['rows_per_s']:,}" if main_size else "",
                      mark(result["pass"]["rows_per_s"]) if main_size else "")
        table.add_row(f"用时（秒，{len(engine_m['all_seconds'])} 轮中位数）",
                      f"{engine_m['seconds']:.2f}（计数 {engine_m['count_statement_seconds']:.2f} + 取样 "
                      f"{engine_m['sample_statements']} 条 {engine_m['sample_seconds']:.2f}）",
                      f"{base['seconds']:.2f}", "", "", "")
        table.add_row(f"峰值内存 MiB，{int(size):,} 行", f"{engine_m['peak_rss_mib']:.0f}",
                      f"{base['peak_rss_mib']:.0f}", "", f"≤ {TARGETS['peak_rss_mib']:.0f}",
                      mark(engine_m["peak_rss_mib"] <= TARGETS["peak_rss_mib"]))
    table.add_row("检查数、不合格数", f"{len(RULES)} 条规则与手写 SQL 相同", "", "", "相同",
                  mark(result["pass"]["counts_agree"]))
    console.print(table)

    rules_table = Table(title=f"各规则（{rows:,} 行）")
    for column in ("规则", "信息项", "检查", "不合格", "不合格主键示例（脱敏）"):
        rules_table.add_column(column)
    for rule in main["rules"]:
        label = parse_rule(rule, set(COLUMNS), {REFERENCE}).label
        rules_table.add_row(label, rule["item"],
                            f"{rule['checked']:,}", f"{rule['failed']:,}", "、".join(rule["samples"][:2]))
    console.print(rules_table)
    console.print(f"引擎 ≥ {TARGETS['rows_per_s']:,} 行/秒：{mark(result['pass']['rows_per_s'])}；"
                  f"峰值内存 ≤ {TARGETS['peak_rss_mib']:.0f} MiB：{mark(result['pass']['peak_rss_mib'])}；"
                  f"与手写 SQL 计数一致：{mark(result['pass']['counts_agree'])}；"
                  f"速度比 引擎/手写 SQL：{result['ratio_engine_over_baseline']:.2f}×")
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / "quality.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    console.print(f"结果已写入 {out}")
    return result
