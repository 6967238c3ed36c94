"""The rate limit and the daily quota are exact (R09, R12; issue 12): a grant of N calls per second answers
at most N calls in any clock second, however many threads of however many worker processes call at once,
and a quota of Q calls a day answers Q. Each call takes its slot in the database before it is served
(`gateway.limits`), so calls still in flight count; a slot is a call attempted within the grant, whatever
its result then is. Every refusal is a usage record (result `refused`, reason `rate_limited` or
`quota_exceeded`).

Calls go through `gateway.service.access` (the function the routes call) with a fixed `now`, so a burst
stays in one clock second. The source is slowed down (`serve` waits a little before reading it), so every
call of a burst is still in flight when the others decide: without the reservation they all pass. The
processes test runs two Python processes against the same database (the SQLite file; the PostgreSQL
database when GOVSHARE_TEST_DATABASE_URL is set: the db fixture runs each test on both)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from govshare.audit.models import UsageRecord
from govshare.db import utcnow
from govshare.errors import DomainError
from govshare.gateway import limits, tokens
from govshare.gateway import service as gateway
from govshare.gateway.models import GrantUsageDay
from govshare.gateway.service import Call, Caller, Mode, epoch_second
from govshare.search.index import registry
from govshare.sharing.models import Grant
from govshare.workdays.service import day_in_zone
from tests.gateway_factories import drop_table, served_population

ROOT = Path(__file__).resolve().parents[2]
IN_FLIGHT = 0.2  # seconds each call spends in `serve` before it reads the source
THREADS = 10
RATE = 5


@pytest.fixture(autouse=True)
def _no_search_index(db):
    """The gateway never searches the catalog: publishing the test entry need not build a search index."""
    registry.detach(db.url)


@pytest.fixture
def slow_source(monkeypatch):
    """Every call stays in flight IN_FLIGHT seconds between its decision and its record."""
    serve = gateway.serve

    def slow(*args, **kwargs):
        time.sleep(IN_FLIGHT)
        return serve(*args, **kwargs)

    monkeypatch.setattr(gateway, "serve", slow)


def _served(db, world, tmp_path, *, rate_limit: int = RATE, daily_quota: int | None = None):
    with db.session() as s:
        served = served_population(s, world, tmp_path, rate_limit=rate_limit)
        s.get(Grant, served.grant_id).daily_quota = daily_quota
    with db.session() as s:
        token, _ = tokens.issue_token(s, served.client_id, served.secret)
    return served, Caller(token=token)


def _lookup(served, n: int = 0) -> Call:
    return Call(Mode.LOOKUP, served.resource_code, served.grant_id, key=served.rows[n % len(served.rows)]["GMSFHM"])


def _outcome(db, caller, call, now) -> str:
    """ok, or the refusal's code."""
    try:
        outcome = gateway.access(db, caller, call, now=now)
    except DomainError as refusal:
        return refusal.code
    assert len(outcome.rows) == 1
    return "ok"


def _burst(db, caller, calls: list[Call], now) -> Counter:
    """All calls at once, one thread each, at the same `now`."""
    start, results = threading.Barrier(len(calls)), []

    def one(call: Call) -> None:
        start.wait()
        results.append(_outcome(db, caller, call, now))

    threads = [threading.Thread(target=one, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a call never returned"
    return Counter(results)


def _records(db, grant_id: int) -> list[UsageRecord]:
    with db.session(read_only=True) as s:
        return list(s.scalars(select(UsageRecord).where(UsageRecord.grant_id == grant_id).order_by(UsageRecord.seq)))


def _day(db, grant_id: int) -> GrantUsageDay:
    with db.session(read_only=True) as s:
        return s.scalars(select(GrantUsageDay).where(GrantUsageDay.grant_id == grant_id)).one()


def _answered_per_second(records: list[UsageRecord]) -> Counter:
    return Counter(epoch_second(r.at) for r in records if r.result in gateway.ANSWERED)


def _refusals(records: list[UsageRecord]) -> Counter:
    return Counter(r.reason for r in records if r.result == "refused")


# ---------------------------------------------------------------- threads of one process


def test_r12_rate_limit_is_exact_across_threads(db, world, tmp_path, slow_source):
    """10 threads call a grant of 5 calls/s in one clock second, every call still in flight while the
    others decide: exactly 5 are answered, 5 refused as rate_limited (not quota_exceeded: the day has
    quota left), and the records and the counters say the same."""
    served, caller = _served(db, world, tmp_path, daily_quota=1000)
    now = utcnow().replace(microsecond=100_000)
    results = _burst(db, caller, [_lookup(served, n) for n in range(THREADS)], now)
    assert results == {"ok": RATE, "rate_limited": THREADS - RATE}
    records = _records(db, served.grant_id)
    assert _answered_per_second(records) == {epoch_second(now): RATE}
    assert _refusals(records) == {"rate_limited": THREADS - RATE}
    day = _day(db, served.grant_id)
    assert (day.calls, day.second, day.second_calls, day.refusals) == (RATE, epoch_second(now), RATE, THREADS - RATE)


def test_r12_daily_quota_is_exact_across_threads(db, world, tmp_path, slow_source):
    """A quota of 3 calls a day, 10 threads at once (the rate allows them all): exactly 3 answered, 7
    refused as quota_exceeded; the next second has no slot either."""
    served, caller = _served(db, world, tmp_path, rate_limit=1000, daily_quota=3)
    now = utcnow().replace(microsecond=100_000)
    results = _burst(db, caller, [_lookup(served, n) for n in range(THREADS)], now)
    assert results == {"ok": 3, "quota_exceeded": THREADS - 3}
    assert _outcome(db, caller, _lookup(served), now + timedelta(seconds=1)) == "quota_exceeded"
    records = _records(db, served.grant_id)
    assert sum(_answered_per_second(records).values()) == 3
    assert _refusals(records) == {"quota_exceeded": THREADS - 3 + 1}
    assert (_day(db, served.grant_id).calls, _day(db, served.grant_id).refusals) == (3, THREADS - 3 + 1)


# ---------------------------------------------------------------- worker processes

CHILD = r"""
import json, sys, threading, time
from datetime import datetime

from govshare.config import Settings
from govshare.db import Database
from govshare.errors import DomainError
from govshare.gateway import service as gateway

url, data_dir, token, code, grant, keys, now, in_flight = sys.argv[1:9]
settings = Settings(database_url=url, data_dir=data_dir)
db = Database(settings.resolved_database_url, settings)
serve = gateway.serve


def slow(*args, **kwargs):
    time.sleep(float(in_flight))
    return serve(*args, **kwargs)


gateway.serve = slow
caller, moment, results = gateway.Caller(token=token), datetime.fromisoformat(now), []


def one(key):
    try:
        gateway.access(db, caller, gateway.Call(gateway.Mode.LOOKUP, code, int(grant), key=key), now=moment)
        results.append("ok")
    except DomainError as refusal:
        results.append(refusal.code)


threads = [threading.Thread(target=one, args=(key,)) for key in keys.split(",")]
print("ready", flush=True)
sys.stdin.readline()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results), flush=True)
db.dispose()
"""


def test_r12_rate_limit_is_exact_across_worker_processes(db, world, tmp_path, settings):
    """Two worker processes, 5 threads each, call the grant of 5 calls/s in the same clock second against
    the same database: together they get exactly 5 answers; the other 5 calls are refused as rate_limited
    and recorded as such."""
    served, caller = _served(db, world, tmp_path)
    now = utcnow().replace(microsecond=100_000)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT),
                                                                      os.environ.get("PYTHONPATH")]))}
    workers = []
    for worker in range(2):
        keys = ",".join(served.rows[worker * 5 + n]["GMSFHM"] for n in range(5))
        workers.append(subprocess.Popen(
            [sys.executable, "-c", CHILD, settings.resolved_database_url, str(settings.data_dir), caller.token,
             served.resource_code, str(served.grant_id), keys, now.isoformat(), str(IN_FLIGHT)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        for worker in workers:  # both start their calls at once
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = Counter()
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            results.update(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert results == {"ok": RATE, "rate_limited": 2 * 5 - RATE}
    records = _records(db, served.grant_id)
    assert _answered_per_second(records) == {epoch_second(now): RATE}
    assert _refusals(records) == {"rate_limited": 2 * 5 - RATE}
    assert (_day(db, served.grant_id).calls, _day(db, served.grant_id).second_calls) == (RATE, RATE)


# ---------------------------------------------------------------- seconds, and what a slot is


def test_r12_next_second_opens_new_slots_and_a_late_call_takes_the_latest(db, world, tmp_path):
    """Second s fills up with 5 answers; second s+1 opens 5 new slots, then is full too. A call whose clock
    still says s, arriving after s+1 began (the counter only moves forward), is counted in s+1: it is
    refused, and s+1 never holds more than 5. Each refusal is a usage record, reason rate_limited."""
    served, caller = _served(db, world, tmp_path)
    now = utcnow().replace(microsecond=100_000)
    later = now + timedelta(seconds=1)
    assert [_outcome(db, caller, _lookup(served, n), now) for n in range(RATE + 1)] == ["ok"] * RATE + ["rate_limited"]
    assert [_outcome(db, caller, _lookup(served, n), later + timedelta(milliseconds=n))
            for n in range(RATE)] == ["ok"] * RATE
    assert _outcome(db, caller, _lookup(served), now + timedelta(milliseconds=500)) == "rate_limited"  # late
    assert _outcome(db, caller, _lookup(served), later + timedelta(milliseconds=800)) == "rate_limited"
    records = _records(db, served.grant_id)
    assert _answered_per_second(records) == {epoch_second(now): RATE, epoch_second(later): RATE}
    assert [(r.result, r.reason) for r in records if r.result != "ok"] == [("refused", "rate_limited")] * 3
    day = _day(db, served.grant_id)
    assert (day.calls, day.second, day.second_calls, day.refusals) == (2 * RATE, epoch_second(later), RATE, 3)


def test_r12_a_call_that_fails_after_its_slot_still_counts(db, world, tmp_path):
    """A slot is a call attempted within the grant: calls that took theirs and then failed at the source
    count toward the rate like answered ones (else a failing source would make the limit meaningless)."""
    served, caller = _served(db, world, tmp_path, rate_limit=2)
    now = utcnow().replace(microsecond=100_000)
    drop_table(f"sqlite:///{tmp_path / 'police_source.db'}", "RK_JBXX")
    failed = [_outcome(db, caller, _lookup(served, n), now) for n in range(2)]
    assert "ok" not in failed and "rate_limited" not in failed, failed
    assert _outcome(db, caller, _lookup(served), now) == "rate_limited"
    results = [r.result for r in _records(db, served.grant_id)]
    assert results == ["error", "error", "refused"], results
    assert (_day(db, served.grant_id).calls, _day(db, served.grant_id).second_calls) == (2, 2)


def test_r12_slots_never_exceed_the_limit_and_the_second_never_moves_back(db):
    """`limits.reserve` alone: 5 slots of second s, the 6th refused; s+1 opens 5; a late reservation for s
    is counted in s+1 (refused once s+1 is full), leaving the counter at s+1; the quota's refusal reports
    the day's calls; a new day starts its own row."""
    today = day_in_zone(db.settings.timezone, utcnow())
    s = epoch_second(utcnow())

    def take(second: int, quota: int | None = None, day=today):
        return limits.reserve(db, 7, day, second, RATE, quota)

    assert [take(s) for _ in range(RATE)] == [None] * RATE
    assert take(s) == RATE  # refused: the day's calls reported
    assert [take(s + 1) for _ in range(RATE - 1)] == [None] * (RATE - 1)
    assert take(s) is None  # late, counted in s+1: its last slot
    assert take(s) == 2 * RATE and take(s + 1) == 2 * RATE
    assert take(s + 2, quota=2 * RATE) == 2 * RATE  # the quota is reached: no slot in a new second either
    tomorrow = today + timedelta(days=1)
    assert take(s + 86_400, day=tomorrow) is None
    with db.session(read_only=True) as session:
        rows = {r.day: (r.calls, r.second, r.second_calls)
                for r in session.scalars(select(GrantUsageDay).where(GrantUsageDay.grant_id == 7))}
    assert rows == {today: (2 * RATE, s + 1, RATE), tomorrow: (1, s + 86_400, 1)}


# ---------------------------------------------------------------- many callers' slots at once


class _Counting:
    """Records `count` of every run of a Prepared statement (the slot UPDATE) that completed (one SQLite
    refused as busy did not: it is tried again)."""

    def __init__(self, statement) -> None:
        self.statement, self.counts = statement, []

    def run(self, raw, values):
        changed = self.statement.run(raw, values)
        self.counts.append(values["count"])
        return changed


def _hold_the_row(db, grant_id: int, day):
    """Another connection holds what a slot's UPDATE needs: SQLite's write lock, PostgreSQL's lock on the
    grant's row of the day. Returns the connection to roll back."""
    pooled = db.engine.raw_connection()
    cursor = pooled.cursor()
    if db.engine.dialect.name == "sqlite":
        cursor.execute("BEGIN IMMEDIATE")
    else:
        cursor.execute("SELECT calls FROM grant_usage_days WHERE grant_id = %s AND day = %s FOR UPDATE",
                       (grant_id, day))
    cursor.close()
    return pooled


@pytest.mark.parametrize(("rate", "taken"), [(100, 8), (5, 5)])
def test_r12_callers_queued_for_slots_share_one_statement_and_stay_exact(db, monkeypatch, rate, taken):
    """While the grant's row is locked elsewhere (another process's write), the first caller leads and
    waits; seven more arrive meanwhile. On PostgreSQL they queue and, once the lock is free, are taken with
    one UPDATE; on SQLite the leader, retrying against the write lock, takes them into its own turn: one
    UPDATE for all eight. When they do not fit (a rate of 5), slots are taken one by one until one is
    refused: exactly 5 of the 8 are taken, the counter says 5, the other 3 are refused."""
    today = day_in_zone(db.settings.timezone, utcnow())
    s = epoch_second(utcnow())
    assert limits.reserve(db, 9, today, s - 1, rate, None) is None  # the day's row exists (an earlier second)
    spy = _Counting(limits.TAKE_SLOTS)
    monkeypatch.setattr(limits, "TAKE_SLOTS", spy)
    slots, answers = limits.slots(db), []

    def call() -> None:
        answers.append(limits.reserve(db, 9, today, s, rate, None))

    held = _hold_the_row(db, 9, today)
    try:
        threads = [threading.Thread(target=call) for _ in range(8)]
        threads[0].start()
        deadline = time.monotonic() + 10
        while not (slots.taking and slots.turn and not slots.queued):  # the first leads and waits for the row
            assert time.monotonic() < deadline, "the first caller never led"
            time.sleep(0.002)
        for thread in threads[1:]:
            thread.start()
        while len(slots.queued) + len(slots.turn) < 8:  # queued (PostgreSQL) or joined the turn (SQLite)
            assert time.monotonic() < deadline, "the callers never queued"
            time.sleep(0.002)
        assert answers == []  # nobody answered while the row was held
    finally:
        held.rollback()
        held.close()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive(), "a caller never got its answer"
    assert answers.count(None) == taken and len(answers) == 8
    assert all(calls == 1 + taken for calls in answers if calls is not None)  # the day's calls the refusal met
    batched = [1, 7] if db.engine.dialect.name == "postgresql" else [8]
    if rate == 100:
        assert spy.counts == batched  # one UPDATE for the callers that arrived meanwhile
    else:
        # then one by one: the 5 slots (on PostgreSQL 4: the leader's was taken alone first) and a refusal
        singles = taken + 1 - (len(batched) - 1)
        assert spy.counts == [*batched, *[1] * singles], spy.counts
    with db.session(read_only=True) as session:
        row = session.scalars(select(GrantUsageDay).where(GrantUsageDay.grant_id == 9)).one()
    assert (row.calls, row.second, row.second_calls) == (1 + taken, s, taken)


def test_r12_a_lost_connection_fails_no_call_and_a_failing_database_fails_the_turn(db, monkeypatch):
    """The connection slots are taken on is lost (SQLite's closed under it; PostgreSQL's backends
    terminated, as in a restart): the next slot is taken on a fresh one, once. When the statement fails
    again, the caller gets the database's error and no slot is counted; the next call goes on."""
    today = day_in_zone(db.settings.timezone, utcnow())
    s = epoch_second(utcnow())
    assert limits.reserve(db, 11, today, s, RATE, None) is None
    slots = limits.slots(db)
    if db.engine.dialect.name == "sqlite":
        slots.connection.connection.close()
    else:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert limits.reserve(db, 11, today, s, RATE, None) is None

    class Failing:
        def run(self, raw, values):
            raise RuntimeError("the database went away")

    monkeypatch.setattr(limits, "TAKE_SLOTS", Failing())
    with pytest.raises(RuntimeError, match="went away"):
        limits.reserve(db, 11, today, s, RATE, None)
    monkeypatch.undo()
    assert limits.reserve(db, 11, today, s, RATE, None) is None
    with db.session(read_only=True) as session:
        row = session.scalars(select(GrantUsageDay).where(GrantUsageDay.grant_id == 11)).one()
    assert (row.calls, row.second_calls) == (3, 3)
    assert not slots.taking and not slots.queued  # nobody left waiting for a turn
