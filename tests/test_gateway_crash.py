"""A crash never yields data without a record (R12): a real server process serves key lookups to several
client threads and is killed with SIGKILL in the middle of the load. Every response with status 200 that
a client received must have its usage record (the seq in its body, and at least as many `ok` records as
200s), and the chain must still verify. Runs on SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from govshare.audit import chain
from govshare.audit.models import UsageRecord
from tests.gateway_factories import served_population

CLIENTS = 6
OK_BEFORE_KILL = 40  # kill once this many lookups have been answered: the server is under load by then
START_TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(settings, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("GOVSHARE_")}
    env.update(GOVSHARE_DATABASE_URL=settings.resolved_database_url, GOVSHARE_DATA_DIR=str(settings.data_dir))
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "govshare.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server did not start: {log.read_text(errors='replace')}")


def test_r12_server_killed_mid_load_never_served_data_without_a_record(db, world, tmp_path, settings):
    with db.session() as s:
        served = served_population(s, world, tmp_path, count=40, rate_limit=10_000)
    process, base = _start_server(settings, tmp_path / "server.log")
    answered: list[tuple[int, dict]] = []
    lock, stop, enough = threading.Lock(), threading.Event(), threading.Event()
    try:
        token = httpx.post(f"{base}/api/v1/gateway/token", timeout=10,
                           json={"client_id": served.client_id, "client_secret": served.secret})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        def drive(offset: int) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
                n = offset
                while not stop.is_set():
                    key = served.rows[n % len(served.rows)]["GMSFHM"]
                    n += CLIENTS
                    try:
                        response = http.get(f"/api/v1/data/{served.resource_code}",
                                            params={"grant": served.grant_id, "key": key})
                    except httpx.HTTPError:
                        return  # the server is gone
                    with lock:
                        answered.append((response.status_code, response.json()))
                        if sum(1 for status, _ in answered if status == 200) >= OK_BEFORE_KILL:
                            enough.set()

        threads = [threading.Thread(target=drive, args=(i,), daemon=True) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=20), f"too few answers before the kill: {answered[:3]}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    oks = [body for status, body in answered if status == 200]
    assert len(oks) >= OK_BEFORE_KILL
    assert all(status == 200 for status, _ in answered), [a for a in answered if a[0] != 200][:3]
    with db.session() as s:
        records = {r.seq: r for r in s.scalars(select(UsageRecord).where(UsageRecord.mode == "lookup"))}
    for body in oks:
        record = records.get(body["usage_record"])
        assert record is not None, f"a 200 without its record: {body['usage_record']}"
        assert (record.result, record.grant_id, record.row_count) == ("ok", served.grant_id, len(body["rows"]))
    assert sum(1 for r in records.values() if r.result == "ok") >= len(oks)
    assert len({body["usage_record"] for body in oks}) == len(oks)  # one record per response
    report = chain.verify(db)
    assert report.ok, report.problems
