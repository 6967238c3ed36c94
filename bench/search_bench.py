"""Catalog search benchmark: a deterministic synthetic catalog (100,000 entries, about 1,000,000 data items),
index build speed and memory, search latency over 1,000 varied queries, the same queries with SQL
LIKE '%…%' on SQLite as the baseline, and the memory of a fresh server process with the index loaded.

Nothing is downloaded; the catalog comes from bench/vocab.py and a seeded random generator."""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from bench import vocab

SEED = 20250801
NOW = datetime(2026, 1, 1)
TARGETS = {
    "build_entries_per_s": 10_000,
    "search_p50_ms": 10.0,
    "search_p95_ms": 30.0,
    "build_peak_rss_mib": 1536.0,
    "server_rss_mib": 500.0,
}


# ---------------------------------------------------------------- the synthetic catalog


def departments() -> list[dict]:
    """Every department kind in every region: (id, name, level, kind index)."""
    result = []
    for region, level, _code in vocab.REGIONS:
        for kind_index, (provincial, local, *_rest) in enumerate(vocab.DEPARTMENT_KINDS):
            name = f"{region}{provincial if level == 'provincial' else local}"
            result.append({"id": len(result) + 1, "name": name, "level": level, "kind": kind_index,
                           "region": region})
    return result


def generate_rows(n: int, seed: int = SEED) -> list[dict]:
    """`n` index rows (the shape search.index.load_rows yields), the same for the same n and seed."""
    rng = random.Random(seed)
    depts = departments()
    item_names = {key: name for key, (name, _type) in vocab.ITEMS.items()}
    rows = []
    for entry_id in range(1, n + 1):
        dept = depts[rng.randrange(len(depts))]
        _p, _l, theme, subjects, item_keys = vocab.DEPARTMENT_KINDS[dept["kind"]]
        subject = subjects[rng.randrange(len(subjects))]
        qualifier = vocab.QUALIFIERS[rng.randrange(len(vocab.QUALIFIERS))]
        name = f"{subject}{qualifier}" if rng.random() < 0.6 else f"{dept['region']}{subject}{qualifier}"
        count = 5 + (entry_id * 7) % 11  # 5..15, 10 on average
        keys = rng.sample(item_keys, min(count, len(item_keys)))
        while len(keys) < count:
            keys.append(rng.choice(list(item_names)))
        items = [item_names[k] for k in keys]
        _cycle, cycle_label, days = vocab.CYCLES[rng.randrange(len(vocab.CYCLES))]
        updated = NOW - timedelta(days=rng.randrange(0, 400), minutes=rng.randrange(1440))
        abstract = vocab.ABSTRACT_TEMPLATES[rng.randrange(len(vocab.ABSTRACT_TEMPLATES))].format(
            region=dept["region"], dept=dept["name"], subject=subject, items="、".join(items[:4]),
            cycle=cycle_label, method=vocab.METHODS[rng.randrange(3)],
        )
        lead = [item_names[k] for k in keys if vocab.LEAD_SOURCES.get(k) == dept["kind"]]
        rows.append({
            "id": entry_id,
            "resource_code": f"{1 + entry_id % 3}{dept['kind']:02d}/{entry_id:06d}",
            "name": name,
            "abstract": abstract,
            "items": items,
            "item_codes": keys,
            "department_id": dept["id"],
            "department_name": dept["name"],
            "level": dept["level"],
            "share_type": vocab.SHARE_TYPES[rng.randrange(len(vocab.SHARE_TYPES))],
            "data_format": vocab.FORMATS[rng.randrange(len(vocab.FORMATS))],
            "grade": vocab.GRADES[rng.randrange(len(vocab.GRADES))],
            "theme": theme,
            "stale_after": None if days is None else updated + timedelta(days=days),
            "lead_terms": [_canonical(t) for t in lead],
        })
    return rows


def _canonical(term: str) -> str:
    from govshare import synonyms

    return synonyms.canonical(term)


# ---------------------------------------------------------------- queries


SINGLE_WORDS = [
    "户籍", "户口", "人口", "社保", "社会保险", "营业执照", "企业登记", "公积金", "低保", "不动产", "婚姻登记",
    "公民身份号码", "身份证号", "统一社会信用代码", "企业名称", "法定代表人", "注册资本", "出生日期", "学籍",
    "医保", "医疗保险", "纳税", "发票", "排污许可", "律师", "残疾人证", "驾驶人", "机动车", "疫苗", "养老保险",
    "就业", "补贴", "许可", "处罚", "救助", "车牌号", "房屋", "土地", "监测", "核验", "合作社", "护士",
    "出生医学证明", "死亡", "欠税", "学历", "教师资格", "抵押", "税务", "公安", "民政", "卫健", "交通",
]
TWO_WORDS = [
    "户籍 人口", "企业 注册资本", "社保 缴费", "公积金 贷款", "不动产 抵押", "医保 结算", "婚姻 登记日期",
    "学生 资助", "驾驶人 信息", "纳税 信用", "残疾人 补贴", "排污 许可", "律师 执业", "出生 证明",
    "养老 保险", "车辆 号牌号码", "企业 处罚", "土地 承包", "医疗机构 执业", "房屋 交易",
]
ONE_CHARS = ["税", "房", "车", "婚", "医", "学", "地", "证", "水", "农", "粮", "药", "矿", "桥", "猪"]
FILTER_KEYS = ["share_type", "level", "format", "grade", "stale", "department", "theme"]


def make_queries(n: int = 1000, seed: int = SEED) -> list[dict]:
    """Varied queries: single words, two words, one character, with filters, with facets."""
    rng = random.Random(seed + 1)
    depts = departments()
    themes = sorted({kind[2] for kind in vocab.DEPARTMENT_KINDS})
    queries = []
    for i in range(n):
        kind = ("word", "two", "char", "filter", "facet")[i % 5]
        if kind == "word":
            q = rng.choice(SINGLE_WORDS)
        elif kind == "two":
            q = rng.choice(TWO_WORDS)
        elif kind == "char":
            q = rng.choice(ONE_CHARS)
        else:
            q = rng.choice(SINGLE_WORDS + TWO_WORDS + ONE_CHARS)
        filters: dict = {}
        if kind in ("filter", "facet"):
            for key in rng.sample(FILTER_KEYS, rng.choice((1, 1, 2))):
                filters[key] = {
                    "share_type": lambda: rng.choice(["unconditional", "conditional", "none"]),
                    "level": lambda: rng.choice(["provincial", "municipal", "county"]),
                    "format": lambda: rng.choice(["database", "spreadsheet", "service"]),
                    "grade": lambda: rng.choice(["general_2", "general_3", "important"]),
                    "stale": lambda: rng.random() < 0.5,
                    "department": lambda: str(rng.choice(depts)["id"]),
                    "theme": lambda: rng.choice(themes),
                }[key]()
        queries.append({"kind": kind, "q": q, "filters": filters, "facets": kind == "facet"})
    return queries


# ---------------------------------------------------------------- measurements


class PeakRss:
    """Samples the resident memory of this process and its children (the tokenizer workers)."""

    def __init__(self, interval: float = 0.02) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(Exception):  # the child may just have ended
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def build_index(index_dir: Path, n: int, *, heap_size: int = 512_000_000, workers: int | None = None,
                parallel: bool | None = None) -> dict:
    """Generates `n` rows in memory, then builds the index from them; time and peak memory of the build."""
    from govshare.search import index as search_index

    started = time.perf_counter()
    rows = generate_rows(n)
    generated = time.perf_counter() - started
    with PeakRss() as rss:
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        count = search_index.build(index_dir, rows, heap_size=heap_size, workers=workers, parallel=parallel)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
    size = sum(f.stat().st_size for f in Path(index_dir).rglob("*") if f.is_file())
    return {
        "entries": count,
        "items": sum(len(r["items"]) for r in rows),
        "generate_s": round(generated, 3),
        "build_s": round(seconds, 3),
        "entries_per_s": round(count / seconds, 1),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_entry": round(cpu / max(count, 1) * 1e6, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "peak_rss_mib": round(rss.peak / 2**20, 1),
        "index_size_mib": round(size / 2**20, 1),
    }


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the tokenizer workers), all threads."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {"p50_ms": round(pct(50), 3), "p95_ms": round(pct(95), 3), "p99_ms": round(pct(99), 3),
            "mean_ms": round(statistics.fmean(ordered), 3), "max_ms": round(ordered[-1], 3)}


def run_searches(index_dir: Path, queries: list[dict]) -> dict:
    """Runs the queries against the index (in this process) and reports latencies per kind and overall."""
    from govshare.search import service

    filters_cache = [service.parse_filters(**q["filters"]) for q in queries]
    for q, filters in zip(queries[:50], filters_cache[:50], strict=True):  # warm up
        service.search(index_dir, q["q"], filters, limit=20, facets=q["facets"], now=NOW)
    latencies: dict[str, list[float]] = {}
    totals = []
    for q, filters in zip(queries, filters_cache, strict=True):
        started = time.perf_counter()
        result = service.search(index_dir, q["q"], filters, limit=20, facets=q["facets"], now=NOW)
        elapsed = (time.perf_counter() - started) * 1000
        latencies.setdefault(q["kind"], []).append(elapsed)
        latencies.setdefault("all", []).append(elapsed)
        totals.append(result["total"])
    return {
        "latency": {kind: _percentiles(values) for kind, values in latencies.items()},
        "zero_hit_queries": sum(1 for t in totals if t == 0),
        "mean_total": round(statistics.fmean(totals), 1),
        "totals": totals,
    }


def server_process(index_dir: Path, queries_file: Path) -> dict:
    """A fresh process that opens the index and answers the queries, as a server would: its latency and
    resident memory."""
    code = (
        "import json, sys, psutil\n"
        "from pathlib import Path\n"
        "from bench.search_bench import run_searches\n"
        "queries = json.loads(Path(sys.argv[2]).read_text(encoding='utf-8'))\n"
        "result = run_searches(Path(sys.argv[1]), queries)\n"
        "import resource\n"
        "result['rss_mib'] = round(psutil.Process().memory_info().rss / 2**20, 1)\n"
        "result['peak_rss_mib'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)\n"
        "print(json.dumps(result))\n"
    )
    return _json_from_subprocess(code, index_dir, queries_file)


def build_process(index_dir: Path, n: int) -> dict:
    """Builds the index in a fresh process, so that its peak memory is the build's own."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from bench.search_bench import build_index\n"
        "print(json.dumps(build_index(Path(sys.argv[1]), int(sys.argv[2]))))\n"
    )
    return _json_from_subprocess(code, index_dir, n)


def _json_from_subprocess(code: str, *args) -> dict:
    """Runs `code` in a fresh Python process (its memory is its own) and reads the JSON it prints last."""
    output = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the LIKE baseline


def load_sqlite(path: Path, rows: list[dict]) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE entries (id INTEGER PRIMARY KEY, name TEXT, abstract TEXT, items TEXT, department_id INTEGER,"
        " level TEXT, share_type TEXT, data_format TEXT, grade TEXT, theme TEXT, stale_after TEXT)"
    )
    conn.executemany(
        "INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            (r["id"], r["name"], r["abstract"], " ".join(r["items"]), r["department_id"], r["level"],
             r["share_type"], r["data_format"], r["grade"], r["theme"],
             (r["stale_after"] or datetime(2200, 1, 1)).isoformat(sep=" "))
            for r in rows
        ),
    )
    conn.commit()
    conn.close()
    return time.perf_counter() - started


LIKE_COLUMNS = {"department": "department_id", "level": "level", "share_type": "share_type",
                "format": "data_format", "grade": "grade", "theme": "theme"}
FACET_COLUMNS = ["department_id", "level", "share_type", "data_format", "grade", "theme"]


def like_search(conn: sqlite3.Connection, query: dict) -> int:
    """The same query with LIKE '%word%' over name, abstract and items; facets counted from the matches."""
    where, params = [], []
    for word in query["q"].split():
        where.append("(name LIKE ? OR abstract LIKE ? OR items LIKE ?)")
        params.extend([f"%{word}%"] * 3)
    for key, value in query["filters"].items():
        if key == "stale":
            where.append("stale_after < ?" if value else "stale_after >= ?")
            params.append(NOW.isoformat(sep=" "))
        else:
            where.append(f"{LIKE_COLUMNS[key]} = ?")
            params.append(int(value) if key == "department" else value)
    sql = f"SELECT id, {', '.join(FACET_COLUMNS)} FROM entries WHERE {' AND '.join(where)}"
    rows = conn.execute(sql, params).fetchall()
    if query["facets"]:
        for position in range(1, len(FACET_COLUMNS) + 1):
            Counter(row[position] for row in rows)
    return len(rows)


def run_like(db_path: Path, queries: list[dict]) -> dict:
    conn = sqlite3.connect(db_path)
    latencies: dict[str, list[float]] = {}
    totals = []
    for query in queries:
        started = time.perf_counter()
        totals.append(like_search(conn, query))
        elapsed = (time.perf_counter() - started) * 1000
        latencies.setdefault(query["kind"], []).append(elapsed)
        latencies.setdefault("all", []).append(elapsed)
    conn.close()
    return {"latency": {kind: _percentiles(values) for kind, values in latencies.items()}, "totals": totals}


# ---------------------------------------------------------------- the whole benchmark


def run(n: int = 100_000, queries: int = 1000, out: Path | None = None, console=None) -> dict:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 120)
    workdir = Path(tempfile.mkdtemp(prefix="govshare-bench-"))
    index_dir = workdir / "index"
    console.print(f"[bold]目录搜索基准测试[/bold]：{n:,} 条目录，{queries} 个查询，工作目录 {workdir}")

    console.print("1/4 建立索引（独立进程）…")
    build = build_process(index_dir, n)
    console.print(f"    {build['entries']:,} 条目录 / {build['items']:,} 个信息项，用时 {build['build_s']} 秒")

    query_list = make_queries(queries)
    queries_file = workdir / "queries.json"
    queries_file.write_text(json.dumps(query_list, ensure_ascii=False), encoding="utf-8")
    console.print("2/4 搜索（新进程加载索引，模拟服务进程）…")
    searched = server_process(index_dir, queries_file)

    console.print("3/4 SQL LIKE 基线（SQLite，同一数据、同一查询）…")
    db_path = workdir / "baseline.db"
    load_s = load_sqlite(db_path, generate_rows(n))
    like = run_like(db_path, query_list)

    console.print("4/4 汇总")
    overlap = sum(1 for a, b in zip(searched.pop("totals"), like.pop("totals"), strict=True) if a >= b)
    s_all, l_all = searched["latency"]["all"], like["latency"]["all"]
    result = {
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "dataset": {"entries": build["entries"], "items": build["items"], "seed": SEED},
        "build": build,
        "search": searched,
        "like_baseline": {**like, "load_s": round(load_s, 3)},
        "ratios": {
            "p50_like_over_index": round(l_all["p50_ms"] / s_all["p50_ms"], 1),
            "p95_like_over_index": round(l_all["p95_ms"] / s_all["p95_ms"], 1),
            "mean_like_over_index": round(l_all["mean_ms"] / s_all["mean_ms"], 1),
        },
        "recall_vs_like": {"queries_with_at_least_like_hits": overlap, "queries": len(query_list)},
        "targets": TARGETS,
    }
    result["pass"] = {
        "build_entries_per_s": build["entries_per_s"] >= TARGETS["build_entries_per_s"],
        "search_p50_ms": s_all["p50_ms"] <= TARGETS["search_p50_ms"],
        "search_p95_ms": s_all["p95_ms"] <= TARGETS["search_p95_ms"],
        "build_peak_rss_mib": build["peak_rss_mib"] <= TARGETS["build_peak_rss_mib"],
        "server_rss_mib": searched["rss_mib"] <= TARGETS["server_rss_mib"],
    }

    table = Table(title=f"目录搜索 · {build['entries']:,} 条目录 / {build['items']:,} 个信息项")
    for column in ("指标", "实测", "目标", "SQL LIKE 基线", "倍数", "达标"):
        table.add_column(column)

    def mark(ok: bool) -> str:
        return "[green]是[/green]" if ok else "[red]否[/red]"

    table.add_row("建索引速度（条/秒）", f"{build['entries_per_s']:,.0f}", f"≥ {TARGETS['build_entries_per_s']:,}",
                  "", "", mark(result["pass"]["build_entries_per_s"]))
    table.add_row("建索引用时（秒）", f"{build['build_s']}", "", "", "", "")
    table.add_row("建索引峰值内存（MiB）", f"{build['peak_rss_mib']}", f"≤ {TARGETS['build_peak_rss_mib']:.0f}", "", "",
                  mark(result["pass"]["build_peak_rss_mib"]))
    table.add_row("索引大小（MiB）", f"{build['index_size_mib']}", "", "", "", "")
    for key, label in (("p50_ms", "搜索 p50（毫秒）"), ("p95_ms", "搜索 p95（毫秒）"), ("p99_ms", "搜索 p99（毫秒）"),
                       ("mean_ms", "搜索平均（毫秒）")):
        target = {"p50_ms": f"≤ {TARGETS['search_p50_ms']}", "p95_ms": f"≤ {TARGETS['search_p95_ms']}"}.get(key, "")
        ok = result["pass"].get(f"search_{key}")
        table.add_row(label, f"{s_all[key]}", target, f"{l_all[key]}", f"{l_all[key] / s_all[key]:.1f}×",
                      "" if ok is None else mark(ok))
    for kind, label in (("word", "单词"), ("two", "两词"), ("char", "单字"), ("filter", "带筛选"), ("facet", "带分面")):
        s, lk = searched["latency"][kind], like["latency"][kind]
        table.add_row(f"  {label} p50 / p95", f"{s['p50_ms']} / {s['p95_ms']}", "",
                      f"{lk['p50_ms']} / {lk['p95_ms']}", f"{lk['p50_ms'] / s['p50_ms']:.1f}×", "")
    table.add_row("服务进程内存（MiB）", f"{searched['rss_mib']}", f"≤ {TARGETS['server_rss_mib']:.0f}", "", "",
                  mark(result["pass"]["server_rss_mib"]))
    table.add_row("命中数 ≥ LIKE 的查询", f"{overlap} / {len(query_list)}", "", "", "", "")
    console.print(table)

    out = out or Path(__file__).resolve().parent / "results" / "search.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"结果已写入 {out}")
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)
    return result
