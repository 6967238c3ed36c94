"""Gateway key-lookup benchmark: the full governed path (token check, grant check, item projection, masking,
durable chained usage record) against a bare endpoint that reads the same row of the same provider table
with one plain query, both served by the same uvicorn server and workers (bench/gateway_app.py, served as
`govshare serve --workers N` serves: one SO_REUSEPORT socket per worker), driven by wrk from a second
process on loopback.

Why wrk: it is a C load generator that needs a few percent of one core at these rates, so on a small
machine it takes little from the workers it measures (a Python load generator would take a core); its Lua
script picks a random key per request and sends the bearer token, and its latency histogram gives the
percentiles. Install it with `apt-get install -y wrk`.

Phases, all with the same keys, connections and duration for both endpoints, each run as R alternating
rounds (bare, governed, bare, governed, …) whose medians are reported, so that a slow spell of a shared
machine falls on both endpoints instead of deciding the ratio:
1. saturated: as many requests as the server answers (closed loop): the throughput ratio;
2. paced: both endpoints offered the same rate (half the governed throughput of phase 1, random pauses
   between requests): the latency the gateway adds under load without queueing on a saturated server;
3. soak (optional): governed load for N seconds; the RSS of each uvicorn worker after warm-up and at the end.
Afterwards: usage records written == governed 200 responses (up to the requests wrk left in flight when it
stopped, which the server still answered and recorded), and `audit verify` of the chain written under load."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"throughput_ratio": 0.5, "added_p99_ms": 5.0, "worker_rss_growth_pct": 10.0}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
DISTRICTS = ("340102", "340103", "340104")

LUA = r"""
-- set by bench/gateway_bench.py: the keys file, the path before the key, the auth header, the pause
local keys = {}
for line in io.lines(os.getenv("BENCH_KEYS")) do keys[#keys + 1] = line end
local prefix = os.getenv("BENCH_PREFIX")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

function init(args)
  math.randomseed(os.time() + (tonumber(args[1]) or 0))
end

function request()
  return wrk.format("GET", prefix .. keys[math.random(#keys)])
end

if pause > 0 then
  -- exponential pauses: each connection sends like a Poisson source of the chosen mean rate
  function delay()
    return -math.log(1 - math.random()) * pause
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect_errors": %d, "read_errors": %d, '
    .. '"write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, '
    .. '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
"""


# ---------------------------------------------------------------- a fresh node with a served entry


def new_node(folder: Path, url: str | None = None):
    """A migrated node (data_dir folder/var; SQLite there unless `url` names another database) and its
    Database."""
    import argon2

    from govshare import migrate
    from govshare.config import Settings
    from govshare.db import Database
    from govshare.orgs import service as orgs_service

    orgs_service.use_password_profile(argon2.profiles.CHEAPEST)  # seeding only: ten users, not a measurement
    data_dir = folder / "var"
    data_dir.mkdir(parents=True, exist_ok=True)
    url = url or f"sqlite:///{data_dir / 'govshare.db'}"
    migrate.upgrade(url)
    settings = Settings(data_dir=data_dir, database_url=url)
    return settings, Database(url, settings)


def unbounded(session, grant_id: int) -> None:
    """Lifts the grant's rate limit and daily quota: the benchmark measures the gateway, not the limiter
    refusing it (every call still takes its slot of the rate and the quota: a write to the grant's counters)."""
    from govshare.sharing.models import Grant

    grant = session.get(Grant, grant_id)
    grant.rate_limit, grant.daily_quota = 10_000_000, None


def write_people(path: Path, count: int, seed: int = 11) -> list[str]:
    """The provider's table RK_JBXX (as in tests/gateway_factories) with `count` residents whose ID numbers
    are valid and unique; returns the keys."""
    from stdnum.cn import ric

    rng = random.Random(seed)
    rows, keys = [], []
    for n in range(count):
        region, m = DISTRICTS[n % 3], n // 3
        born = date(1950, 1, 1) + timedelta(days=(m // 1000) * 733 % 25_000)  # unique with the serial below
        body = f"{region}{born:%Y%m%d}{m % 1000:03d}"
        key = body + ric.calc_check_digit(body)
        keys.append(key)
        rows.append((key, rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), born.isoformat(),
                     f"安徽省合肥市{region}区某某路{n % 500}号", region))
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE RK_JBXX (GMSFHM TEXT PRIMARY KEY, XM TEXT, CSRQ TEXT, HJDZ TEXT, XZQH TEXT)")
    connection.executemany("INSERT INTO RK_JBXX VALUES (?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return keys


@dataclass
class Node:
    folder: Path
    data_dir: Path
    url: str
    source_url: str
    resource_code: str
    grant_id: int
    client_id: str
    secret: str
    keys_file: Path


def seed(folder: Path, source_rows: int, url: str | None = None) -> Node:
    from tests.factories import build_world
    from tests.gateway_factories import served_population

    settings, database = new_node(folder, url)
    source = folder / "police_source.db"
    keys = write_people(source, source_rows)
    source_url = f"sqlite:///{source}"
    with database.session() as session:
        world = build_world(session)
    with database.session() as session:
        served = served_population(session, world, folder, source_url=source_url)
        unbounded(session, served.grant_id)
    database.dispose()
    keys_file = folder / "keys.txt"
    keys_file.write_text("\n".join(keys) + "\n", encoding="ascii")
    return Node(folder, settings.data_dir, settings.resolved_database_url, source_url, served.resource_code,
                served.grant_id, served.client_id, served.secret, keys_file)


# ---------------------------------------------------------------- the server and the load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving bench.gateway_app with N workers, in its own process group."""

    def __init__(self, node: Node, workers: int, app: str = "bench.gateway_app:app") -> None:
        self.node, self.workers, self.app, self.port = node, workers, app, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = node.folder / "server.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        env = {**os.environ, "GOVSHARE_DATA_DIR": str(self.node.data_dir), "GOVSHARE_DATABASE_URL": self.node.url,
               "GOVSHARE_BENCH_SOURCE_URL": self.node.source_url, "GOVSHARE_GATEWAY_TOKEN_MINUTES": "240"}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "import sys; from bench.gateway_bench import serve; serve(*sys.argv[1:])",
                 self.app, str(self.port), str(self.workers)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)  # a server that never got ready must not outlive the run
            raise
        return self

    def _wait_ready(self, timeout: float = 90) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200 and \
                        len(self.worker_pids()) >= self.workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"uvicorn not ready after {timeout} s: {self.log.read_text(errors='replace')[-2000:]}")

    def worker_pids(self) -> list[int]:
        import psutil

        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]

    def worker_rss(self) -> dict[int, int]:
        import psutil

        return {pid: psutil.Process(pid).memory_info().rss for pid in self.worker_pids()}

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own process group only
                self.process.wait()


def serve(app: str, port: str, workers: str) -> None:
    """The app in N worker processes as `govshare serve --workers N` runs it (govshare.serving: one
    SO_REUSEPORT socket per worker, so the kernel spreads the load generator's connections over them)."""
    from govshare import serving

    serving.serve(app, host="127.0.0.1", port=int(port), workers=int(workers), log_level="warning")


def run_wrk(server: Server, prefix: str, token: str, keys_file: Path, seconds: float, connections: int,
            delay_ms: float = 0.0) -> dict:
    script = server.node.folder / "lookup.lua"
    script.write_text(LUA, encoding="utf-8")
    env = {**os.environ, "BENCH_KEYS": str(keys_file), "BENCH_PREFIX": prefix, "BENCH_AUTH": f"Bearer {token}",
           "BENCH_DELAY_MS": f"{delay_ms:.3f}"}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(script), server.base, "--", str(random.randrange(1 << 20))]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    line = next(x for x in output.stdout.splitlines() if x.startswith("BENCHJSON "))
    data = json.loads(line.removeprefix("BENCHJSON "))
    seconds_run = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "ok_2xx": data["requests"] - data["non2xx"],
        "non_2xx": data["non2xx"],
        "socket_errors": data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
        "seconds": round(seconds_run, 3),
        "rps": round(data["requests"] / seconds_run, 1),
        "p50_ms": data["p50_us"] / 1000, "p90_ms": data["p90_us"] / 1000, "p99_ms": data["p99_us"] / 1000,
        "p999_ms": data["p999_us"] / 1000, "mean_ms": round(data["mean_us"] / 1000, 3),
        "max_ms": data["max_us"] / 1000, "connections": connections,
    }


def record_counts(node: Node) -> dict:
    from sqlalchemy import create_engine, text

    engine = _engines.get(node.url) or _engines.setdefault(node.url, create_engine(node.url))
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT result, count(*) FROM usage_records GROUP BY result")).all())
    return {"all": sum(rows.values()), **rows}


_engines: dict = {}


def settled_counts(node: Node, quiet: float = 0.5, timeout: float = 15) -> dict:
    """The record counts once no more records arrive: the requests wrk left in flight when it stopped are
    answered (and recorded) after it returns, and must be counted in the phase they belong to."""
    deadline = time.monotonic() + timeout
    counts = record_counts(node)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        later = record_counts(node)
        if later == counts:
            return counts
        counts = later
    return counts


def _token(server: Server) -> str:
    import httpx

    response = httpx.post(f"{server.base}/api/v1/gateway/token", timeout=30,
                          json={"client_id": server.node.client_id, "client_secret": server.node.secret})
    response.raise_for_status()
    return response.json()["access_token"]


def _check_both(server: Server, governed: str, token: str, key: str) -> dict:
    """One request each: both answer 200 for the same key, the governed row masked, the bare one not."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    gov = httpx.get(f"{server.base}{governed}{key}", headers=headers, timeout=30)
    bare = httpx.get(f"{server.base}/bare/{key}", headers=headers, timeout=30)
    if gov.status_code != 200 or bare.status_code != 200:
        raise RuntimeError(f"smoke check failed: governed {gov.status_code} {gov.text[:300]}; bare {bare.status_code}")
    return {"governed_row": gov.json()["rows"][0], "bare_row": bare.json()["rows"][0],
            "masking": gov.json()["masking"]}


class RssSampler:
    """Samples the workers' RSS every `interval` seconds while the soak load runs."""

    def __init__(self, server: Server, interval: float) -> None:
        self.server, self.interval, self.samples = server, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            self.samples.append((round(time.monotonic() - started, 1), self.server.worker_rss()))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def soak(server: Server, prefix: str, token: str, seconds: float, connections: int) -> dict:
    """Governed load for `seconds`; each worker's RSS after warm-up (the first sample, 5 % into the run or
    at most 30 s) and at the end (the last sample, taken while the load still runs)."""
    interval = max(1.0, min(30.0, seconds / 20))
    with RssSampler(server, interval) as sampler:
        load = run_wrk(server, prefix, token, server.node.keys_file, seconds, connections)
    samples = [(t, rss) for t, rss in sampler.samples if rss]
    if len(samples) < 2:
        return {"seconds": seconds, "error": "too few RSS samples"}
    (t0, first), (t1, last) = samples[0], samples[-1]
    workers = {}
    for pid in first:
        if pid in last:
            workers[str(pid)] = {"start_mib": round(first[pid] / 2**20, 1), "end_mib": round(last[pid] / 2**20, 1),
                                 "growth_pct": round((last[pid] - first[pid]) / first[pid] * 100, 2)}
    return {
        "seconds": seconds, "load": load, "sample_interval_s": interval, "start_at_s": t0, "end_at_s": t1,
        "workers": workers,
        "max_growth_pct": max((w["growth_pct"] for w in workers.values()), default=None),
        "samples_mib": [(t, {str(p): round(v / 2**20, 1) for p, v in rss.items()}) for t, rss in samples],
    }


def verify_chain(node: Node) -> dict:
    from govshare.audit import chain
    from govshare.config import Settings
    from govshare.db import Database

    database = Database(node.url, Settings(data_dir=node.data_dir, database_url=node.url))
    started = time.perf_counter()
    report = chain.verify(database)
    seconds = time.perf_counter() - started
    database.dispose()
    return {"ok": report.ok, "records": report.records, "seconds": round(seconds, 2),
            "first_problem": report.first_problem.message if report.first_problem else None}


# ---------------------------------------------------------------- the whole benchmark


def alternate(server: Server, node: Node, bare: str, governed: str, token: str, rounds: int, seconds: float,
              connections: int, delay_ms: float = 0.0) -> list[dict]:
    """`rounds` rounds of bare then governed load, each `seconds` long; with the records each governed
    round wrote (counted once the requests left in flight are answered) and those of each bare round."""
    results = []
    for _ in range(rounds):
        start = settled_counts(node)
        bare_load = run_wrk(server, bare, token, node.keys_file, seconds, connections, delay_ms)
        middle = settled_counts(node)
        governed_load = run_wrk(server, governed, token, node.keys_file, seconds, connections, delay_ms)
        end = settled_counts(node)
        results.append({"bare": bare_load, "governed": governed_load, "bare_records": middle["all"] - start["all"],
                        "records": end["all"] - middle["all"]})
    return results


def records_check(rounds: list[dict]) -> dict:
    """Every governed 200 has its record: per round, records written minus 200s seen is between 0 and the
    connections (requests wrk left in flight, answered and recorded after it stopped)."""
    in_flight = [r["records"] - r["governed"]["ok_2xx"] for r in rounds]
    return {"governed_200s": sum(r["governed"]["ok_2xx"] for r in rounds),
            "records_written": sum(r["records"] for r in rounds), "in_flight": sum(in_flight),
            "ok": all(0 <= n <= r["governed"]["connections"] for n, r in zip(in_flight, rounds, strict=True))}


def median(values) -> float:
    return statistics.median(list(values))


def summary(rounds: list[dict], endpoint: str) -> dict:
    """The median of each figure over the rounds."""
    loads = [r[endpoint] for r in rounds]
    return {key: round(median(load[key] for load in loads), 3) for key in
            ("rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "max_ms")} | {
        "requests": sum(load["requests"] for load in loads), "non_2xx": sum(load["non_2xx"] for load in loads),
        "socket_errors": sum(load["socket_errors"] for load in loads), "connections": loads[0]["connections"]}


def _exit_on_term(*_args) -> None:
    raise SystemExit(143)


def run(results_dir: Path, *, source_rows: int = 100_000, seconds: float = 15, connections: int = 16,
        workers: int = 2, rounds: int = 5, soak_seconds: float = 600, warmup_seconds: float = 5,
        postgres_url: str | None = None, console=None) -> dict | None:
    """The node's database is SQLite, or a fresh database on `postgres_url`'s server (dropped afterwards);
    the provider's table is SQLite either way."""
    from rich.console import Console

    from bench.import_bench import temporary_database

    console = console or Console(width=None if sys.stdout.isatty() else 120)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_term)  # `kill` of a background run still stops the server
    if not shutil.which("wrk"):
        console.print("[red]网关基准测试需要 wrk 压测工具：apt-get install -y wrk[/red]（已跳过）")
        return None
    folder = Path(tempfile.mkdtemp(prefix="govshare-gateway-bench-"))
    try:
        with temporary_database(postgres_url, folder / "var") as url:
            return _run(results_dir, folder, url, source_rows=source_rows, seconds=seconds, connections=connections,
                        workers=workers, rounds=rounds, soak_seconds=soak_seconds, warmup_seconds=warmup_seconds,
                        console=console)
    finally:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        shutil.rmtree(folder, ignore_errors=True)


def _run(results_dir: Path, folder: Path, url: str, *, source_rows: int, seconds: float, connections: int,
         workers: int, rounds: int, soak_seconds: float, warmup_seconds: float, console) -> dict:
    from rich.table import Table

    database = url.split(":", 1)[0].split("+", 1)[0]
    console.print(f"[bold]网关按键查询基准测试[/bold]（{database}）：{source_rows:,} 行数据源，{workers} 个 uvicorn "
                  f"工作进程，{connections} 个连接 × {seconds:.0f} 秒，工作目录 {folder}")
    started = time.perf_counter()
    node = seed(folder, source_rows, url)
    console.print(f"1/5 建库与数据源：{time.perf_counter() - started:.1f} 秒")
    governed = f"/api/v1/data/{node.resource_code}?grant={node.grant_id}&key="
    bare = "/bare/"
    result: dict = {
        "benchmark": "gateway_key_lookup",
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "setup": {"source_rows": source_rows, "workers": workers, "connections": connections, "seconds": seconds,
                  "rounds": rounds,
                  "database": database, "server": "uvicorn (bench/gateway_app.py)",
                  "load_generator": "wrk, 1 thread, random key per request, keep-alive"},
        "targets": TARGETS,
    }
    with Server(node, workers) as server:
        token = _token(server)
        result["sample"] = _check_both(server, governed, token, node.keys_file.read_text().split()[0])
        console.print("2/5 预热…")
        for prefix in (bare, governed):
            run_wrk(server, prefix, token, node.keys_file, warmup_seconds, connections)
        load_before = os.getloadavg()[0]

        console.print(f"3/5 满载吞吐：直连与受控交替 {rounds} 轮（同一服务器、同样连接数与时长）…")
        saturated = alternate(server, node, bare, governed, token, rounds, seconds, connections)
        rate = max(10.0, median(r["governed"]["rps"] for r in saturated) / 2)
        paced_connections = max(2, min(connections, 8))
        pause_ms = paced_connections / rate * 1000
        console.print(f"4/5 限速延迟：两者均为约 {rate:.0f} 次/秒（{paced_connections} 个连接，随机间隔），"
                      f"交替 {rounds} 轮…")
        paced = alternate(server, node, bare, governed, token, rounds, seconds, paced_connections, pause_ms)

        soak_result = None
        if soak_seconds > 0:
            console.print(f"5/5 长时负载 {soak_seconds:.0f} 秒（工作进程内存）…")
            before_soak = settled_counts(node)
            soak_result = soak(server, governed, token, soak_seconds, connections)
            after_soak = settled_counts(node)
        else:
            console.print("5/5 长时负载：已跳过（--soak-seconds 0）")
        final = settled_counts(node)

    # every governed 200 has its record: records written during a governed round minus the 200s wrk saw
    # is the number of requests still in flight when wrk stopped (answered and recorded, never read)
    check = {"saturated": records_check(saturated), "paced": records_check(paced)}
    if soak_result and "load" in soak_result:
        soaked = after_soak["all"] - before_soak["all"]
        check["soak"] = records_check([{"governed": soak_result["load"], "records": soaked}])
    check["bare_phase_records"] = sum(r["bare_records"] for r in saturated + paced)  # 0: the bare route records nothing
    check["after_load_total"] = final
    check["chain"] = verify_chain(node)
    records_ok = all(check[k]["ok"] for k in ("saturated", "paced", "soak") if k in check) and \
        check["bare_phase_records"] == 0 and check["chain"]["ok"]

    # each figure is the median of the rounds: the endpoints alternate, so a slow spell of the machine
    # falls on both, and one round's outlier does not decide the result
    sat_bare, sat_gov = summary(saturated, "bare"), summary(saturated, "governed")
    paced_bare, paced_gov = summary(paced, "bare"), summary(paced, "governed")
    ratio = median(r["governed"]["rps"] / r["bare"]["rps"] for r in saturated)
    added_p99 = median(r["governed"]["p99_ms"] - r["bare"]["p99_ms"] for r in paced)
    result["machine"]["load_avg_1m"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    result.update({
        "saturated": {"bare": sat_bare, "governed": sat_gov, "rounds": saturated},
        "paced": {"offered_rps": round(rate, 1), "connections": paced_connections, "bare": paced_bare,
                  "governed": paced_gov, "rounds": paced},
        "ratios": {
            "throughput_governed_over_bare": round(ratio, 3),
            "added_p99_ms_paced": round(added_p99, 3),
            "added_p50_ms_paced": round(paced_gov["p50_ms"] - paced_bare["p50_ms"], 3),
            "added_p99_ms_saturated": round(sat_gov["p99_ms"] - sat_bare["p99_ms"], 3),
        },
        "records": check,
        "soak": soak_result,
    })
    result["pass"] = {
        "throughput_ratio": ratio >= TARGETS["throughput_ratio"],
        "added_p99_ms": added_p99 <= TARGETS["added_p99_ms"],
        "records_match_200s": records_ok,
    }
    if soak_result and soak_result.get("max_growth_pct") is not None:
        result["pass"]["worker_rss_growth_pct"] = soak_result["max_growth_pct"] <= TARGETS["worker_rss_growth_pct"]

    def mark(ok: bool | None) -> str:
        return "" if ok is None else ("[green]是[/green]" if ok else "[red]否[/red]")

    table = Table(title=f"网关按键查询 · {source_rows:,} 行 · {workers} 工作进程 · {connections} 连接 · "
                        f"{rounds} 轮 × {seconds:.0f} 秒（各轮中位数）")
    for column in ("指标", "受控网关", "直连基线", "比值 / 差值", "目标", "达标"):
        table.add_column(column)
    table.add_row("满载吞吐（次/秒）", f"{sat_gov['rps']:,.0f}", f"{sat_bare['rps']:,.0f}", f"{ratio:.2f}×",
                  f"≥ {TARGETS['throughput_ratio']}×", mark(result["pass"]["throughput_ratio"]))
    table.add_row("满载 p50 / p99（毫秒）", f"{sat_gov['p50_ms']:.2f} / {sat_gov['p99_ms']:.2f}",
                  f"{sat_bare['p50_ms']:.2f} / {sat_bare['p99_ms']:.2f}",
                  f"+{sat_gov['p99_ms'] - sat_bare['p99_ms']:.2f}", "", "")
    table.add_row(f"限速 {rate:.0f} 次/秒 p50 / p99（毫秒）", f"{paced_gov['p50_ms']:.2f} / {paced_gov['p99_ms']:.2f}",
                  f"{paced_bare['p50_ms']:.2f} / {paced_bare['p99_ms']:.2f}", f"+{added_p99:.2f}",
                  f"≤ +{TARGETS['added_p99_ms']}", mark(result["pass"]["added_p99_ms"]))
    sat = check["saturated"]
    table.add_row("使用记录 = 200 响应（满载各轮）", f"{sat['records_written']:,} 条记录",
                  f"{sat['governed_200s']:,} 个 200", f"在途 {sat['in_flight']}",
                  f"每轮 0 … {connections}", mark(result["pass"]["records_match_200s"]))
    table.add_row("负载后记录链校验", f"{check['chain']['records']:,} 条，{check['chain']['seconds']} 秒", "",
                  "通过" if check["chain"]["ok"] else str(check["chain"]["first_problem"]), "", "")
    if soak_result and soak_result.get("workers"):
        for pid, w in soak_result["workers"].items():
            table.add_row(f"工作进程 {pid} 内存（MiB）", f"{w['start_mib']} → {w['end_mib']}", "",
                          f"{w['growth_pct']:+.1f}%", f"≤ {TARGETS['worker_rss_growth_pct']}%",
                          mark(w["growth_pct"] <= TARGETS["worker_rss_growth_pct"]))
        table.add_row("长时负载吞吐（次/秒）", f"{soak_result['load']['rps']:,.0f}", "", "", "", "")
    console.print(table)

    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / ("gateway.json" if database == "sqlite" else f"gateway_{database}.json")
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"结果已写入 {out}")
    return result
