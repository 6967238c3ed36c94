"""Audit benchmark: `govshare.audit.chain.verify` (what `govshare audit verify` runs) over 10,000,000 chained
usage records in SQLite, against a plain scan of the same rows — the same SELECT through the same driver,
fetched in the same batches, without hashing or checks — in the same run. Target: verify ≤ 30 s.

The records come from bench/audit_data.make_records (linked with audit.chain.link_hash exactly as the
gateway links them, a signed checkpoint at the end). The database is cached under GOVSHARE_BENCH_CACHE
(default /tmp/govshare-bench-cache) by record count, so reruns skip the generation; the JSON reports the
generation time of the run that made it. Verify and scan each run in a fresh child process (peak RSS)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"verify_seconds": 30.0}


def version() -> str:
    """The cache key part that changes with the schema (migrations are edited in place before a release)
    and with the generator: a cached database built by other code is not reused."""
    from govshare import migrate

    digest = hashlib.sha256()
    sources = sorted((Path(migrate.__file__).parent / "migrations" / "versions").glob("*.py"))
    for path in [*sources, ROOT / "bench" / "audit_data.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def cache_dir() -> Path:
    from bench.export_bench import cache_dir as shared

    return shared()


def chained_database(count: int, console) -> tuple[Path, dict]:
    """The data_dir (SQLite file, node key) of a cached chain of `count` records; generated if missing.
    Returns (data_dir, how it was generated)."""
    from bench.audit_data import make_records

    data_dir = cache_dir() / f"audit_{count}_{version()}"
    marker = data_dir / "generated.json"
    if marker.exists():
        return data_dir, {**json.loads(marker.read_text()), "from_cache": True}
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    url = f"sqlite:///{data_dir / 'govshare.db'}"
    done = [0]
    last = [time.monotonic()]

    def progress(n: int) -> None:
        done[0] += n
        if time.monotonic() - last[0] > 15 or done[0] == count:
            last[0] = time.monotonic()
            console.print(f"    已写入 {done[0]:,} / {count:,}")

    started = time.perf_counter()
    made = make_records(url, count, progress, sign=True, data_dir=data_dir)
    seconds = time.perf_counter() - started
    info = {"records": made["records"], "generate_seconds": round(seconds, 1),
            "generate_records_per_s": round(made["records"] / seconds), "generated_at":
            datetime.now().isoformat(timespec="seconds"),
            "db_mib": round((data_dir / "govshare.db").stat().st_size / 2**20, 1)}
    marker.write_text(json.dumps(info, indent=2))
    return data_dir, {**info, "from_cache": False}


# ---------------------------------------------------------------- the two measurements (child processes)


def _database(data_dir: str):
    from govshare.config import Settings
    from govshare.db import Database

    url = f"sqlite:///{Path(data_dir) / 'govshare.db'}"
    return Database(url, Settings(data_dir=Path(data_dir), database_url=url))


def verify_child(data_dir: str) -> dict:
    import resource

    from govshare.audit import chain

    database = _database(data_dir)
    started = time.perf_counter()
    report = chain.verify(database)
    seconds = time.perf_counter() - started
    database.dispose()
    return {"seconds": seconds, "records": report.records, "ok": report.ok, "checkpoints": report.checkpoints,
            "first_problem": report.first_problem.message if report.first_problem else None,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            # verify may read ranges in worker processes of its own: the largest of them
            "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def scan_child(data_dir: str) -> dict:
    """The baseline: verify's own SELECT over the same seq range, through the same session and driver, in
    the same batches; the rows are fetched and dropped."""
    import resource

    from sqlalchemy import func, select

    from govshare.audit import chain
    from govshare.audit.models import UsageRecord

    database = _database(data_dir)
    started = time.perf_counter()
    rows = 0
    with database.session(read_only=True) as session:
        low, high = session.execute(select(func.min(UsageRecord.seq), func.max(UsageRecord.seq))).one()
        for batch in chain._scan(session, low, high):
            rows += len(batch)
    seconds = time.perf_counter() - started
    database.dispose()
    return {"seconds": seconds, "records": rows,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _child(function: str, *args: str) -> dict:
    code = (f"import json, sys\nfrom bench.audit_bench import {function}\n"
            f"print(json.dumps({function}(*sys.argv[1:])))\n")
    output = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if output.returncode:
        raise RuntimeError(f"{function} failed: {output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the whole benchmark


def run(results_dir: Path, *, records: int = 10_000_000, console=None) -> dict:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 120)
    console.print(f"[bold]使用记录链校验基准测试[/bold]：{records:,} 条链式使用记录（SQLite）")
    console.print("1/3 准备记录库（按条数缓存）…")
    data_dir, generated = chained_database(records, console)
    console.print(f"    {'来自缓存' if generated['from_cache'] else '已生成'}：{data_dir}，"
                  f"生成用时 {generated['generate_seconds']} 秒（{generated['generate_records_per_s']:,} 条/秒）")
    load_before = os.getloadavg()[0]
    console.print("2/3 基线：同一查询、同一驱动的纯扫描（也预热页缓存）…")
    scans = [_child("scan_child", str(data_dir))]
    console.print("3/3 校验（govshare.audit.chain.verify）…")
    verified = _child("verify_child", str(data_dir))
    scans.append(_child("scan_child", str(data_dir)))
    scan = min(scans, key=lambda r: r["seconds"])
    ratio = verified["seconds"] / scan["seconds"]
    result = {
        "benchmark": "audit_verify",
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_avg_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}},
        "database": "sqlite",
        "records": records,
        "generation": generated,
        "verify": {**verified, "records_per_s": round(verified["records"] / verified["seconds"])},
        "scan_baseline": {**scan, "all_seconds": [round(s["seconds"], 2) for s in scans],
                          "records_per_s": round(scan["records"] / scan["seconds"])},
        "ratio_verify_over_scan": round(ratio, 2),
        "targets": TARGETS,
    }
    result["pass"] = {
        "verify_seconds": verified["seconds"] <= TARGETS["verify_seconds"],
        "chain_ok_and_complete": verified["ok"] and verified["records"] == records,
    }

    def mark(ok: bool) -> str:
        return "[green]是[/green]" if ok else "[red]否[/red]"

    table = Table(title=f"使用记录链校验 · {records:,} 条 · SQLite")
    for column in ("指标", "实测", "目标", "达标"):
        table.add_column(column)
    table.add_row("校验用时（秒）", f"{verified['seconds']:.1f}", f"≤ {TARGETS['verify_seconds']:.0f}",
                  mark(result["pass"]["verify_seconds"]))
    table.add_row("校验速度（条/秒）", f"{result['verify']['records_per_s']:,}", "", "")
    table.add_row("校验结果", "链完整、检查点有效" if verified["ok"] else str(verified["first_problem"]), "",
                  mark(result["pass"]["chain_ok_and_complete"]))
    table.add_row("纯扫描基线（秒）", f"{scan['seconds']:.1f}（{result['scan_baseline']['records_per_s']:,} 条/秒）",
                  "", "")
    table.add_row("校验 / 纯扫描", f"{ratio:.1f}×", "", "")
    table.add_row("校验峰值内存（MiB）", f"主进程 {verified['peak_rss_mib']:.0f}，子进程最大 "
                  f"{verified['worker_peak_rss_mib']:.0f}", "", "")
    table.add_row("生成用时（秒）", f"{generated['generate_seconds']}（{generated['generate_records_per_s']:,} 条/秒）"
                  + ("，缓存" if generated["from_cache"] else ""), "", "")
    console.print(table)
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / "audit.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"结果已写入 {out}")
    return result
