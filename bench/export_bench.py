"""Export benchmark: 10,000,000 rows × 10 items of a managed Parquet source, 3 items masked by the grant
(keep:6:4, hash, year), exported to Parquet through the full governed path — `gateway.service.access`
with a consumer system's token (token, grant and item checks, the masking SQL, the DuckDB COPY, the chained
usage record) — against a plain DuckDB `COPY (SELECT <the same 10 columns> FROM read_parquet(...)) TO ...
(FORMAT parquet, COMPRESSION zstd)` without masking, in the same run, with the same DuckDB memory limit.

Each export runs in a fresh child process, so its peak RSS (ru_maxrss: Python, govshare and DuckDB) is its
own; the governed export is also measured at 1,000,000 rows to show that memory does not grow with rows.
The source file is generated with DuckDB `range()` SQL (ID-number-like strings, names, dates, region
codes, amounts…) in the managed store format (`_row` BIGINT plus every value as VARCHAR, see
gateway/sources.py FileSource) and cached under GOVSHARE_BENCH_CACHE (default /tmp/govshare-bench-cache)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"speed_ratio": 0.5, "peak_rss_mib": 1024.0}
COMPRESSION = "zstd"  # what the gateway writes (service.EXPORT_FORMATS) and the baseline too

# item name, Chinese name, type, grade, personal information, source column, the grant's rule
ITEMS = [
    ("gmsfhm", "公民身份号码", "string", "一般4", "pi", "GMSFHM", "keep:6:4"),
    ("xm", "姓名", "string", "一般3", "pi", "XM", "hash"),
    ("csrq", "出生日期", "date", "一般3", "pi", "CSRQ", "year"),
    ("xb", "性别", "string", "一般2", "pi", "XB", "none"),
    ("mz", "民族", "string", "一般2", "pi", "MZ", "none"),
    ("xzqhdm", "行政区划代码", "string", "一般1", "none", "XZQH", "none"),
    ("jzdz", "居住地址", "string", "一般3", "pi", "JZDZ", "none"),
    ("lxdh", "联系电话", "string", "一般3", "pi", "LXDH", "none"),
    ("dbje", "低保金额", "decimal", "一般2", "none", "DBJE", "none"),
    ("djrq", "登记日期", "date", "一般1", "none", "DJRQ", "none"),
]
COLUMNS = [column for *_rest, column, _rule in ITEMS]

GENERATE = """
COPY (
  WITH base AS (
    SELECT i,
           (['340102', '340103', '340104', '340111', '340121', '340181'])[i % 6 + 1] AS region,
           DATE '1940-01-01' + CAST(hash(i) % 30000 AS INTEGER) AS born,
           CAST(hash(i * 31 + 7) >> 1 AS BIGINT) AS h
    FROM range({rows}) t(i)
  )
  SELECT i AS _row,
         region || strftime(born, '%Y%m%d') || lpad(CAST(i % 1000 AS VARCHAR), 3, '0')
           || (['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X'])[i % 11 + 1] AS GMSFHM,
         (['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡', '郭'])[h % 16 + 1]
           || (['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '娟'])[(h // 16) % 14 + 1]
           || CASE WHEN h % 3 = 0 THEN '' ELSE (['明', '华', '玉', '兰', '平', '刚'])[(h // 224) % 6 + 1] END AS XM,
         strftime(born, '%Y-%m-%d') AS CSRQ,
         CASE WHEN i % 2 = 0 THEN '1' ELSE '2' END AS XB,
         lpad(CAST(CASE WHEN h % 10 < 9 THEN 1 ELSE h % 56 + 1 END AS VARCHAR), 2, '0') AS MZ,
         region AS XZQH,
         '安徽省合肥市' || (['瑶海区', '庐阳区', '蜀山区', '包河区', '长丰县', '巢湖市'])[i % 6 + 1]
           || (['长江', '淮河', '黄山', '宿松', '望江', '芜湖'])[(h // 7) % 6 + 1] || '路'
           || CAST(h % 2000 AS VARCHAR) || '号' AS JZDZ,
         '1' || (['3', '5', '7', '8', '9'])[(h // 11) % 5 + 1] || lpad(CAST(h % 1000000000 AS VARCHAR), 9, '0') AS LXDH,
         CAST(CAST((h % 200000) / 100.0 AS DECIMAL(10, 2)) AS VARCHAR) AS DBJE,
         strftime(DATE '2015-01-01' + CAST(i % 3650 AS INTEGER), '%Y-%m-%d') AS DJRQ
  FROM base
) TO {path} (FORMAT parquet, COMPRESSION zstd)
"""


def cache_dir() -> Path:
    folder = Path(os.environ.get("GOVSHARE_BENCH_CACHE", Path(tempfile.gettempdir()) / "govshare-bench-cache"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def generated_parquet(name: str, generate: str, rows: int) -> tuple[Path, float | None]:
    """The cached Parquet file `name`_`rows` written by the DuckDB statement `generate` (its `{rows}` and `{path}`
    filled in); (path, seconds it took to generate, or None when it came from the cache). A changed statement
    makes a new file."""
    import duckdb

    from govshare.gateway.masking import quote_literal

    tag = hashlib.sha256(generate.encode()).hexdigest()[:10]
    path = cache_dir() / f"{name}_{rows}_{tag}.parquet"
    if path.exists():
        return path, None
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    connection = duckdb.connect()
    try:
        connection.execute("SET enable_progress_bar = false")
        connection.execute(generate.format(rows=int(rows), path=quote_literal(str(partial))))
    finally:
        connection.close()
    partial.rename(path)
    return path, time.perf_counter() - started


def source_file(rows: int) -> tuple[Path, float | None]:
    """The cached managed-store Parquet file of `rows` rows (see `generated_parquet`)."""
    return generated_parquet("export_source", GENERATE, rows)


# ---------------------------------------------------------------- the node: entry, file source, grant


def seed(folder: Path, parquet: Path, rows: int) -> dict:
    """A node whose published 10-item entry is served from `parquet` (linked into the managed store) and
    an approved grant of 省民政厅 with 3 masked items; returns what the child processes need."""
    from tests.factories import build_world, consumer_system, published_entry, request_in

    from bench.gateway_bench import new_node, unbounded
    from govshare.catalog.schemas import ItemIn
    from govshare.gateway.models import DataSource
    from govshare.sharing import service as sharing
    from govshare.sharing.models import Grant
    from govshare.sharing.schemas import ReplyIn

    settings, database = new_node(folder)
    store = settings.data_dir / "sources"
    store.mkdir(parents=True, exist_ok=True)
    (store / "population.parquet").symlink_to(parquet)
    items = [ItemIn(name=name, chinese_name=chinese, data_type=kind, grade=grade, personal_info=pi)
             for name, chinese, kind, grade, pi, _column, _rule in ITEMS]
    with database.session() as session:
        world = build_world(session)
    with database.session() as session:
        entry = published_entry(session, world, items=items, data_format="数据库", name="低保对象与人口信息")
        session.add(DataSource(entry_id=entry.id, kind="file", location="sources/population.parquet",
                               key_item="gmsfhm", column_map={name: column for name, *_r, column, _rule in ITEMS},
                               status="connected", row_count=rows, loaded_at=datetime.now()))
        system, secret = consumer_system(session, world)
        request = sharing.create_request(session, world.actors["civil_requester"], request_in(
            entry, consumer_system_id=system.id), submit=True)
        sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve", reason=""))
        grant = sharing.grant_of(session, request.id)
        session.flush()
        session.get(Grant, grant.id).masking = {name: rule for name, *_r, rule in ITEMS}
        unbounded(session, grant.id)
        node = {"data_dir": str(settings.data_dir), "url": settings.resolved_database_url,
                "resource_code": entry.resource_code, "grant_id": grant.id, "client_id": system.client_id,
                "secret": secret}
    database.dispose()
    return node


# ---------------------------------------------------------------- the two exports (in child processes)


def governed_child(node_json: str) -> dict:
    """Runs in a fresh process: one governed export, timed from the call to `access` to its return."""
    import resource

    from govshare.config import Settings
    from govshare.db import Database
    from govshare.gateway import tokens
    from govshare.gateway.service import Call, Caller, Mode, access

    node = json.loads(node_json)
    settings = Settings(data_dir=Path(node["data_dir"]), database_url=node["url"])
    database = Database(node["url"], settings)
    with database.session() as session:
        token, _ = tokens.issue_token(session, node["client_id"], node["secret"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcome = access(database, Caller(token=token), Call(Mode.EXPORT, node["resource_code"],
                                                          grant_id=node["grant_id"], export_format="parquet"))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    database.dispose()
    return {"seconds": seconds, "rows": outcome.row_count, "path": str(outcome.export_path),
            "usage_record": outcome.record_seq, "masking": outcome.masking,
            "rss_before_mib": round(before / 1024, 1), "peak_rss_mib": round(peak / 1024, 1)}


def baseline_child(source: str, out: str, memory_limit: str) -> dict:
    """Runs in a fresh process: the plain DuckDB COPY of the same 10 columns, no masking, no checks."""
    import resource

    import duckdb

    def quote_identifier(name: str) -> str:  # not imported from govshare: this process stays plain DuckDB
        return '"' + name.replace('"', '""') + '"'

    def quote_literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    connection = duckdb.connect()
    connection.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    connection.execute(f"SET temp_directory = {quote_literal(tempfile.gettempdir())}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    selected = ", ".join(quote_identifier(c) for c in COLUMNS)
    rows = connection.execute(
        f"COPY (SELECT {selected} FROM read_parquet({quote_literal(source)})) TO {quote_literal(out)} "
        f"(FORMAT parquet, COMPRESSION {COMPRESSION})").fetchone()[0]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.close()
    return {"seconds": seconds, "rows": int(rows), "path": out, "rss_before_mib": round(before / 1024, 1),
            "peak_rss_mib": round(peak / 1024, 1)}


def run_in_child(module: str, function: str, *args: str) -> dict:
    """`module.function(*args)` in a fresh Python process (its own peak RSS), returning what it returns as JSON."""
    code = (f"import json, sys\nfrom {module} import {function}\n"
            f"print(json.dumps({function}(*sys.argv[1:]), ensure_ascii=False))\n")
    output = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if output.returncode:
        raise RuntimeError(f"{function} failed: {output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def _child(function: str, *args: str) -> dict:
    return run_in_child("bench.export_bench", function, *args)


def check_output(path: Path, rows: int) -> dict:
    """The governed file has every row, the masked items masked, the others as stored."""
    import duckdb

    from govshare.gateway.masking import quote_literal

    connection = duckdb.connect()
    relation = f"read_parquet({quote_literal(str(path))})"
    count = connection.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    first = connection.execute(f"SELECT * FROM {relation} LIMIT 1").fetchone()
    names = [d[0] for d in connection.description]
    connection.close()
    sample = dict(zip(names, first, strict=True))
    masked = (sample["gmsfhm"][6:-4] == "*" * 8 and len(sample["xm"]) == 64 and len(sample["csrq"]) == 4)
    return {"rows": count, "complete": count == rows, "masked_as_granted": masked, "sample": sample}


def export_size(rows: int, node: dict, parquet: Path, folder: Path, settings_limit: str, rounds: int) -> dict:
    """`rounds` alternating pairs (baseline, governed); the best time of each, every time kept."""
    baselines, governed = [], []
    for n in range(rounds):
        out = folder / f"baseline_{rows}_{n}.parquet"
        baselines.append(_child("baseline_child", str(parquet), str(out), settings_limit))
        out.unlink(missing_ok=True)
        run = _child("governed_child", json.dumps(node))
        if n == 0:
            run["check"] = check_output(Path(run["path"]), rows)
        Path(run["path"]).unlink(missing_ok=True)
        governed.append(run)
    best_base = min(baselines, key=lambda r: r["seconds"])
    best_gov = min(governed, key=lambda r: r["seconds"])
    return {
        "rows": rows,
        "baseline": {**best_base, "all_seconds": [round(r["seconds"], 3) for r in baselines],
                     "rows_per_s": round(rows / best_base["seconds"]),
                     "peak_rss_mib": max(r["peak_rss_mib"] for r in baselines)},
        "governed": {**best_gov, "all_seconds": [round(r["seconds"], 3) for r in governed],
                     "rows_per_s": round(rows / best_gov["seconds"]),
                     "peak_rss_mib": max(r["peak_rss_mib"] for r in governed), "check": governed[0]["check"]},
        "ratio_baseline_over_governed": round(best_base["seconds"] / best_gov["seconds"], 3),
    }


# ---------------------------------------------------------------- the whole benchmark


def run(results_dir: Path, *, rows: int = 10_000_000, small_rows: int = 1_000_000, rounds: int = 2,
        console=None) -> dict:
    from rich.console import Console
    from rich.table import Table

    from govshare.config import Settings

    console = console or Console(width=None if sys.stdout.isatty() else 120)
    memory_limit = Settings().export_memory_limit
    folder = Path(tempfile.mkdtemp(prefix="govshare-export-bench-"))
    sizes = [rows] + ([small_rows] if 0 < small_rows < rows else [])
    console.print(f"[bold]批量导出基准测试[/bold]：{rows:,} 行 × {len(ITEMS)} 个信息项（3 项脱敏）→ Parquet，"
                  f"DuckDB 内存上限 {memory_limit}，工作目录 {folder}")
    result: dict = {
        "benchmark": "export_parquet",
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_avg_1m_before": round(os.getloadavg()[0], 2)},
        "setup": {"items": [name for name, *_r in ITEMS], "masked": {n: r for n, *_x, r in ITEMS if r != "none"},
                  "compression": COMPRESSION, "duckdb_memory_limit": memory_limit, "rounds": rounds},
        "targets": TARGETS,
        "sizes": {},
    }
    for size in sizes:
        started = time.perf_counter()
        parquet, generated = source_file(size)
        console.print(f"数据源 {size:,} 行：" + (f"生成用时 {generated:.1f} 秒" if generated else "来自缓存")
                      + f"（{parquet.stat().st_size / 2**20:,.0f} MiB，{parquet}）")
        node = seed(folder / f"node_{size}", parquet, size)
        console.print(f"  建库 {time.perf_counter() - started:.1f} 秒；导出 {rounds} 轮（基线、受控交替）…")
        measured = export_size(size, node, parquet, folder, memory_limit, rounds if size == rows else 1)
        measured["generate_seconds"] = None if generated is None else round(generated, 1)
        measured["source_mib"] = round(parquet.stat().st_size / 2**20, 1)
        result["sizes"][str(size)] = measured
    result["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    main = result["sizes"][str(rows)]
    peaks = {size: m["governed"]["peak_rss_mib"] for size, m in result["sizes"].items()}
    result["ratio_baseline_over_governed"] = main["ratio_baseline_over_governed"]
    result["pass"] = {
        "speed_ratio": main["ratio_baseline_over_governed"] >= TARGETS["speed_ratio"],
        "peak_rss_mib": max(peaks.values()) <= TARGETS["peak_rss_mib"],
        "output_complete_and_masked": all(m["governed"]["check"]["complete"] and
                                          m["governed"]["check"]["masked_as_granted"]
                                          for m in result["sizes"].values()),
    }

    def mark(ok: bool) -> str:
        return "[green]是[/green]" if ok else "[red]否[/red]"

    table = Table(title=f"批量导出 · {len(ITEMS)} 个信息项（3 项脱敏）· Parquet ({COMPRESSION})")
    for column in ("行数", "受控导出（秒）", "纯 DuckDB COPY（秒）", "速度比 基线/受控", "受控 行/秒",
                   "受控峰值内存 MiB", "基线峰值内存 MiB"):
        table.add_column(column)
    for size, m in result["sizes"].items():
        table.add_row(f"{int(size):,}", f"{m['governed']['seconds']:.2f}", f"{m['baseline']['seconds']:.2f}",
                      f"{m['ratio_baseline_over_governed']:.2f}", f"{m['governed']['rows_per_s']:,}",
                      f"{m['governed']['peak_rss_mib']:.0f}", f"{m['baseline']['peak_rss_mib']:.0f}")
    console.print(table)
    console.print(f"速度比 ≥ {TARGETS['speed_ratio']}：{mark(result['pass']['speed_ratio'])}；"
                  f"峰值内存 ≤ {TARGETS['peak_rss_mib']:.0f} MiB：{mark(result['pass']['peak_rss_mib'])}；"
                  f"行数完整且按授权脱敏：{mark(result['pass']['output_complete_and_masked'])}")
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / "export.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    console.print(f"结果已写入 {out}")
    shutil.rmtree(folder, ignore_errors=True)
    return result
