"""Pages benchmark: the server time of every page a demo user reaches, on the demo data (`govshare demo`'s
seed on embedded SQLite), against the login page measured in the same run — the same app, middleware and
layout rendering with no data read. Target (issue 14): every page ≤ 100 ms.

Each demo user logs in and walks the site by its links as tests/crawl.py does (each kind of page once); every
page reached is then requested `--page-repeats` times in-process (Starlette's TestClient: no network, so the
time is the server's), and its median is kept. The login page is timed the same way before and after the walk."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

TARGETS = {"page_ms": 100.0}
HTML = "text/html,application/xhtml+xml"


def _median_ms(client, url: str, repeats: int) -> tuple[float, int]:
    times, status = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url, headers={"Accept": HTML}, follow_redirects=False)
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return statistics.median(times), status


def _demo_node(folder: Path):
    from govshare import migrate
    from govshare.app import create_app
    from govshare.config import Settings
    from govshare.db import Database
    from govshare.demo import seed

    url = f"sqlite:///{folder / 'govshare.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, data_dir=folder)
    db = Database(url, settings)
    report = seed.seed_demo(db, settings)
    return create_app(settings, db), db, report


def _time_pages(app, password: str, usernames: list[str], repeats: int, progress) -> list[dict]:
    from fastapi.testclient import TestClient
    from tests.crawl import Crawler, page_kind

    timed = []
    with TestClient(app, base_url="http://testserver") as client:
        crawler = Crawler(client, password, per_kind=1)
        for username in usernames:
            pages = sorted(crawler.walk(username).values())
            refused = crawler.log_in(username)  # again: the walk may have ended its session (a logout link)
            if refused or not pages:
                raise RuntimeError(f"{username} could not walk the demo: {refused or 'no page reached'}")
            for url in pages:
                ms, status = _median_ms(client, url, repeats)
                timed.append({"user": username, "url": url, "kind": page_kind(url), "status": status,
                              "median_ms": round(ms, 2)})
            progress(username, len(pages))
    return timed


def _login_page_ms(app, repeats: int) -> float:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as client:
        return _median_ms(client, "/login", repeats)[0]


def run(results_dir: Path, *, repeats: int = 5, console=None) -> dict:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from govshare.demo import seed

    console = console or Console(width=None if sys.stdout.isatty() else 120)
    console.print("[bold]页面服务端用时基准测试[/bold]：演示数据上每位演示用户能到达的每个页面（SQLite）")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="govshare-pages-") as folder:
        console.print("1/3 写入演示数据…")
        app, db, report = _demo_node(Path(folder))
        usernames = [user.username for user in seed.demo_users()]
        console.print("2/3 基线：登录页（同一应用、同一布局，不读数据）…")
        baselines = [_login_page_ms(app, repeats * 4)]
        console.print(f"3/3 每位用户走遍其页面，每页请求 {repeats} 次取中位数…")
        with Progress(console=console) as bar:
            task = bar.add_task("用户", total=len(usernames))
            pages = _time_pages(app, report.password, usernames, repeats,
                                lambda _user, _count: bar.advance(task))
        baselines.append(_login_page_ms(app, repeats * 4))
        db.dispose()
    baseline = min(baselines)
    html = [p for p in pages if p["status"] == 200]
    failed = [p for p in pages if p["status"] >= 500]  # redirects and downloads are timed, not judged
    slowest = sorted(html, key=lambda p: -p["median_ms"])
    over = [p for p in pages if p["median_ms"] > TARGETS["page_ms"]]
    medians = [p["median_ms"] for p in html]
    result = {
        "benchmark": "pages",
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_avg_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}},
        "database": "sqlite (demo seed)",
        "users": len(usernames),
        "pages_timed": len(html),
        "repeats": repeats,
        "login_page_baseline_ms": round(baseline, 2),
        "median_page_ms": round(statistics.median(medians), 2),
        "slowest_page_ms": slowest[0]["median_ms"],
        "ratio_median_page_over_login": round(statistics.median(medians) / baseline, 2),
        "ratio_slowest_page_over_login": round(slowest[0]["median_ms"] / baseline, 2),
        "pages_over_target": over,
        "slowest": slowest[:20],
        "targets": TARGETS,
        "server_errors": failed,
        "pass": {"every_page_ms": not over, "no_server_error": not failed},
        "all_pages": pages,
    }
    table = Table(title=f"最慢的 15 个页面 · {len(usernames)} 位演示用户 · 共 {len(html)} 页")
    for column in ("用户", "页面", "中位用时（毫秒）", "相对登录页"):
        table.add_column(column)
    for page in slowest[:15]:
        table.add_row(page["user"], page["url"][:70], f"{page['median_ms']:.1f}",
                      f"{page['median_ms'] / baseline:.1f}×")
    console.print(table)
    verdict = "[green]达标[/green]" if not over else f"[red]{len(over)} 个页面超过 {TARGETS['page_ms']:.0f} 毫秒[/red]"
    if failed:
        verdict += f"；[red]{len(failed)} 个页面服务器出错[/red]"
    console.print(f"登录页基线 {baseline:.1f} 毫秒；页面中位 {result['median_page_ms']:.1f} 毫秒"
                  f"（{result['ratio_median_page_over_login']}×），最慢 {slowest[0]['median_ms']:.1f} 毫秒"
                  f"（{result['ratio_slowest_page_over_login']}×）；"
                  f"目标每页 ≤ {TARGETS['page_ms']:.0f} 毫秒：{verdict}")
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / "pages.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"结果已写入 {out}")
    return result
