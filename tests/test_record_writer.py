"""The usage-record writer of the gateway (R12, R09): `gateway.service.RecordWriter` commits the records of
concurrent calls in groups, led by the callers themselves. Whatever the batching, every caller gets the seq
of its own record, the chain has no gaps and verifies, and the grants' day counters of rows and refusals
add up to exactly what was written (the calls, which the rate limit and the quota count, are slots taken
before a call is served: tests/security/test_rate_limit.py). A record the database refuses fails its own
caller only, and the writer goes on (on a new connection). Runs on SQLite and PostgreSQL.

Records are shaped by `gateway.service.record_values`, as the gateway writes them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from govshare.audit import chain
from govshare.audit.models import ChainHead, UsageRecord
from govshare.gateway import limits, service
from govshare.gateway.models import GrantUsageDay
from govshare.gateway.service import (
    Call,
    Caller,
    Mode,
    Parties,
    count_days,
    epoch_second,
    record_values,
    record_writer,
)

RESOURCE = "34000011/00001"
# 23:59:58.5 in Asia/Shanghai: records 15 ms apart run over four clock seconds and past local midnight
BASE = datetime(2026, 3, 5, 15, 59, 58, 500000)
RESULTS = ("ok", "ok", "not_found", "refused", "error")
WAIT_SECONDS = 10.0


def _record(n: int, *, grant_id: int | None = 44, result: str = "ok", row_count: int = 1,
            at: datetime | None = None, **overrides) -> dict:
    """One lookup's usage record as the gateway writes it (the key makes its request_hash unique)."""
    caller = Caller(system_id=33)
    call = Call(Mode.LOOKUP, RESOURCE, grant_id, key=f"{n:018d}")
    parties = Parties(department_id=11, provider_id=22, entry_id=55, grant_id=grant_id)
    values = record_values(caller, call, parties, ["gmsfhm", "xm"], result, row_count, at or BASE,
                           reason="" if result in service.ANSWERED else "rate_limited")
    values.update(overrides)
    return values


def _stored(db) -> dict[str, int]:
    """request_hash -> seq of every usage record in the table."""
    with db.session(read_only=True) as s:
        return dict(s.execute(select(UsageRecord.request_hash, UsageRecord.seq)).all())


def _expected_days(records: list[dict], timezone: str) -> dict[tuple, tuple]:
    """(grant, local day) -> (calls, rows, refusals, second, second_calls), worked out from the records
    alone: the rows served and the records not answered (neither ok nor not_found); the calls and the
    clock second are left at 0, as the records' counting never touches them (the slots do)."""
    days: dict[tuple, list[int]] = {}
    for record in records:
        if record["grant_id"] is None:
            continue
        day = record["at"].replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).date()
        total = days.setdefault((record["grant_id"], day), [0, 0])
        total[0] += record["row_count"]
        total[1] += record["result"] not in ("ok", "not_found")
    return {key: (0, rows, refusals, 0, 0) for key, (rows, refusals) in days.items() if rows or refusals}


def _days(db) -> dict[tuple, tuple]:
    with db.session(read_only=True) as s:
        return {(d.grant_id, d.day): (d.calls, d.rows, d.refusals, d.second, d.second_calls)
                for d in s.scalars(select(GrantUsageDay))}


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


@contextmanager
def _write_lock_held(db):
    """Another connection holds what a record writer needs first: SQLite's write lock, PostgreSQL's lock
    on the chain head. Callers arriving meanwhile queue up behind the writer's leader."""
    pooled = db.engine.raw_connection()
    cursor = pooled.cursor()
    try:
        if db.engine.dialect.name == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        else:
            cursor.execute("SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE")
        yield
    finally:
        cursor.close()
        pooled.rollback()
        pooled.close()


def _start(writer, records: list[dict], outcomes: dict) -> list[threading.Thread]:
    """One thread per record, each writing it; outcomes[request_hash] is its seq or the exception."""
    def write(values: dict) -> None:
        try:
            outcomes[values["request_hash"]] = writer.write(values)
        except Exception as exc:  # what this caller sees; the test asserts on it
            outcomes[values["request_hash"]] = exc

    threads = [threading.Thread(target=write, args=(values,)) for values in records]
    for thread in threads:
        thread.start()
    return threads


def _queue_behind_lock(db, writer, records: list[dict], batches: list[list[dict]]) -> dict:
    """Writes `records` from one thread each while the write lock is held elsewhere: the first caller leads
    and waits for the lock (SQLite's write lock, PostgreSQL's lock on the chain head) with its record still
    queued, the others queue behind it; then the lock is freed. Returns request_hash -> seq or exception."""
    outcomes: dict = {}
    taken = len(batches)
    with _write_lock_held(db):
        running = _start(writer, records[:1], outcomes)
        _until(lambda: writer.writing, "the first caller to lead")
        running += _start(writer, records[1:], outcomes)
        _until(lambda: len(writer.queued) >= len(records), "the callers to queue")
        assert len(batches) == taken  # nothing taken while the lock is held elsewhere
        assert outcomes == {}  # nobody answered before its record was committed
    _join(running)
    return outcomes


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), "a caller of the record writer never returned"


@pytest.fixture
def batches(monkeypatch) -> list[list[dict]]:
    """Every batch handed to chain.append_raw (the writer's transactions, failed ones included)."""
    seen: list[list[dict]] = []
    append_raw = chain.append_raw

    def spy(raw, records, head=None):
        seen.append(list(records))
        return append_raw(raw, records, head)

    monkeypatch.setattr(chain, "append_raw", spy)
    return seen


def _closed(raw) -> bool:
    if hasattr(raw.connection, "closed"):  # psycopg
        return bool(raw.connection.closed)
    try:
        raw.connection.execute("SELECT 1")
    except Exception:  # sqlite3.ProgrammingError: Cannot operate on a closed database
        return True
    return False


# ---------------------------------------------------------------- many callers


def test_r12_concurrent_callers_get_their_own_gapless_seqs_and_counters_add_up(db):
    """8 threads × 25 records through one writer: every caller gets the seq of its own record, the seqs
    are exactly 1..200, the chain verifies, and each grant's counters per local day (rows, refusals) equal
    what the records say, although batches commit records of different seconds and days in any order."""
    threads, each = 8, 25
    load = [[_record(t * each + n, grant_id=None if t == 7 else 1 + t % 3, result=RESULTS[(t + n) % 5],
                     row_count=n % 4, at=BASE + timedelta(milliseconds=15 * (t * each + n)))
             for n in range(each)] for t in range(threads)]
    writer, seqs, errors = record_writer(db), {}, []
    start = threading.Barrier(threads)

    def caller(records: list[dict]) -> None:
        start.wait()
        try:
            for values in records:
                seqs[values["request_hash"]] = writer.write(values)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    running = [threading.Thread(target=caller, args=(records,)) for records in load]
    for thread in running:
        thread.start()
    _join(running)
    assert not errors
    total = threads * each
    assert sorted(seqs.values()) == list(range(1, total + 1))
    assert _stored(db) == seqs  # each caller's seq is its own record's
    with db.session(read_only=True) as s:
        assert s.get(ChainHead, 1).seq == total
    report = chain.verify(db)
    assert report.ok and report.records == total, report.problems
    written = [values for records in load for values in records]
    expected = _expected_days(written, db.settings.timezone)
    assert len(expected) == 6  # three grants, each on both sides of local midnight
    assert _days(db) == expected


def test_r12_callers_queued_behind_the_write_lock_share_one_transaction(db, batches):
    """While the write lock is held elsewhere (another process writing), callers queue up; once it is
    free, the queued records go in one batch (one transaction) instead of one each: group commit."""
    writer, callers = record_writer(db), 12
    outcomes = _queue_behind_lock(db, writer, [_record(n) for n in range(callers)], batches)
    assert sorted(outcomes.values()) == list(range(1, callers + 1))
    assert _stored(db) == outcomes
    assert sum(len(batch) for batch in batches) == callers
    assert [len(batch) for batch in batches] == [callers]  # all taken once the lock was got: one batch
    assert chain.verify(db).ok


# ---------------------------------------------------------------- a record the database refuses


def _bad(kind: str, n: int) -> dict:
    values = _record(n, grant_id=44)
    if kind == "mode_null":
        values["mode"] = None  # NOT NULL
    elif kind == "mode_missing":
        del values["mode"]
    else:
        values["mode"] = "lookup" * 3  # longer than String(12)
    return values


BAD_KINDS = ["mode_null", "mode_missing", "mode_too_long"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_r12_bad_record_in_a_batch_fails_only_its_own_caller(db, batches, kind):
    """A record the INSERT refuses (a NULL or missing required field; a value longer than its column,
    which only PostgreSQL enforces) is queued with eleven good ones: the batch fails, is retried record by
    record, the bad record's caller gets the database's error and every other caller its seq. The chain
    has no gap (the bad record took no seq), verifies, and the counters hold the good records only. The
    writer's connection is dropped after the failure and a new one writes the next record."""
    if kind == "mode_too_long" and db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite does not enforce the length of a VARCHAR")
    writer, callers = record_writer(db), 12
    first = writer.write(_record(1000))
    before = writer.connection
    assert first == 1 and before is not None
    records = [_record(n, grant_id=44, result=RESULTS[n % 5], row_count=n, at=BASE + timedelta(seconds=n % 3))
               for n in range(callers)]
    bad = records[5] = _bad(kind, 5)
    outcomes = _queue_behind_lock(db, writer, records, batches)

    error = outcomes.pop(bad["request_hash"])
    dbapi = db.engine.dialect.dbapi
    assert isinstance(error, {"mode_null": dbapi.IntegrityError, "mode_missing": (KeyError, dbapi.ProgrammingError),
                              "mode_too_long": dbapi.DataError}[kind]), repr(error)
    assert all(isinstance(seq, int) for seq in outcomes.values()), outcomes
    assert sorted(outcomes.values()) == list(range(2, callers + 1))
    stored = _stored(db)
    assert bad["request_hash"] not in stored and len(stored) == callers
    assert all(stored[request_hash] == seq for request_hash, seq in outcomes.items())
    with_bad = [batch for batch in batches if any(values is bad for values in batch)]
    assert max(len(batch) for batch in with_bad) > 1, "the bad record was never in a batch with others"
    assert [len(batch) for batch in with_bad][-1] == 1, "the failed batch was not retried record by record"
    report = chain.verify(db)
    assert report.ok and report.records == callers, report.problems
    good = [values for values in records if values is not bad] + [_record(1000)]
    assert _days(db) == _expected_days(good, db.settings.timezone)

    assert _closed(before)  # dropped after the failure ...
    assert writer.write(_record(2000)) == callers + 1  # ... and the writer goes on
    assert writer.connection is not None and writer.connection is not before
    assert chain.verify(db).ok


def test_r12_failed_record_takes_no_seq_and_the_writer_reconnects(db):
    """One caller at a time: a refused record raises to its caller and consumes no seq; the writer closes
    its connection and opens a new one for the next record."""
    writer = record_writer(db)
    assert writer.write(_record(1)) == 1
    before = writer.connection
    with pytest.raises(db.engine.dialect.dbapi.IntegrityError):
        writer.write(_bad("mode_null", 2))
    assert writer.connection is None and _closed(before)
    assert writer.write(_record(3)) == 2
    assert writer.connection is not None and writer.connection is not before
    assert writer.write(_record(4)) == 3
    assert writer.connection is not None
    assert sorted(_stored(db).values()) == [1, 2, 3]
    assert chain.verify(db).ok


def test_r12_writer_recovers_when_its_connection_is_lost(db):
    """The database drops the writer's connection (a PostgreSQL backend terminated, as in a restart; a
    SQLite connection closed under it): no caller fails, the record is written on a new connection, with
    no gap in the chain."""
    writer = record_writer(db)
    assert writer.write(_record(1)) == 1
    lost = writer.connection
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                                {"pid": lost.connection.info.backend_pid}).scalar()
    else:
        lost.connection.close()
    assert [writer.write(_record(n)) for n in range(2, 5)] == [2, 3, 4]
    assert writer.connection is not lost
    assert chain.verify(db).ok


def test_r12_writer_reopens_after_the_database_is_disposed(db):
    """`Database.dispose` closes the writer's connection with the pool's; the next record is written on
    a new connection, the first time, with the next seq."""
    writer = record_writer(db)
    assert writer.write(_record(1)) == 1
    before = writer.connection
    db.dispose()
    assert _closed(before)
    assert writer.write(_record(2)) == 2
    assert writer.connection is not before and not _closed(writer.connection)
    assert chain.verify(db).ok


# ---------------------------------------------------------------- the counters (R09)


def test_r09_day_counters_add_rows_and_refusals_and_leave_the_slots_alone(db):
    """`count_days` adds the rows served and the refusals (records neither ok nor not_found) to the
    grant's day, whatever the records' clock seconds; the day's calls and the second's (the slots the
    calls took before they were served, `gateway.limits`) are left as they are, so no call counts twice.
    A grant's first record of the day inserts its row (calls 0); records without a grant count nowhere,
    answers without rows add nothing."""
    timezone = db.settings.timezone
    second = BASE.replace(microsecond=0) - timedelta(seconds=30)  # 23:59:28 local: one day
    day = second.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).date()
    now = epoch_second(second)
    assert [limits.reserve(db, 44, day, now, 5, None) for _ in range(2)] == [None, None]
    assert _days(db)[(44, day)] == (2, 0, 0, now, 2)
    steps = [
        ([_record(1, at=second), _record(2, at=second, result="not_found", row_count=0)], (2, 1, 0, now, 2)),
        ([_record(3, at=second - timedelta(seconds=1), row_count=5), _record(4, at=second, result="refused",
                                                                             row_count=0)], (2, 6, 1, now, 2)),
        ([_record(5, at=second + timedelta(seconds=1), row_count=2), _record(6, grant_id=45, at=second),
          _record(7, grant_id=None, at=second), _record(8, result="error", row_count=0, at=second)],
         (2, 8, 2, now, 2)),
        ([_record(9, grant_id=46, result="not_found", row_count=0, at=second)], (2, 8, 2, now, 2)),
    ]
    for records, expected in steps:
        with db.raw_transaction(db.writer_connection()) as raw:
            count_days(raw, timezone, records)
        assert _days(db)[(44, day)] == expected
    assert _days(db)[(45, day)] == (0, 1, 0, 0, 0)
    assert {grant for grant, _ in _days(db)} == {44, 45}


def test_r09_day_counters_meet_a_first_slot_inserted_meanwhile(db, monkeypatch, batches):
    """Another process's first slot of the day inserts the grant's row between `count_days`' UPDATE
    (which found none) and its INSERT: the INSERT does nothing (no unique-constraint failure, no batch
    retried) and the UPDATE, run again, counts the record's rows on that row, whose calls stay the slot's.
    PostgreSQL only: on SQLite both hold the one write lock, so nothing comes between."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: a slot cannot be taken inside a record batch")
    timezone = db.settings.timezone
    day, second = BASE.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).date(), epoch_second(BASE)
    count_day, runs = service.COUNT_DAY, []

    class Meanwhile:
        def run(self, raw, values):
            runs.append(values)
            if len(runs) == 1:  # finds no row; the other process then takes its first slot
                assert count_day.run(raw, values) == 0
                assert limits.reserve(db, 44, day, second, 5, None) is None
                return 0
            return count_day.run(raw, values)

    monkeypatch.setattr(service, "COUNT_DAY", Meanwhile())
    writer = record_writer(db)
    assert writer.write(_record(1, row_count=3)) == 1
    assert len(runs) == 2 and [len(batch) for batch in batches] == [1]  # updated again; nothing failed
    assert _days(db)[(44, day)] == (1, 3, 0, second, 1)
    assert writer.write(_record(2, row_count=2)) == 2
    assert writer.write(_record(3, result="refused", row_count=0)) == 3
    assert _days(db)[(44, day)] == (1, 5, 1, second, 1)
    assert chain.verify(db).ok


def test_r12_sqlite_wal_stays_bounded_under_a_steady_stream_of_commits(tmp_path, monkeypatch):
    """With commits arriving all the time and readers always about, a PASSIVE checkpoint never finds the
    moment to rewind SQLite's WAL, which then grows without bound (gigabytes a minute under the gateway's
    load, and the wal-index every process maps with it). The writer's checkpointer rewinds it once it is
    long: here many times the restart threshold is committed while a reader reads on, and the WAL file's
    size on disk (its high-water mark) stays within a few thresholds."""
    from govshare import db as db_module
    from govshare.db import Database

    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 0.01)
    monkeypatch.setattr(db_module, "WAL_RESTART_FRAMES", 64)
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    wal = tmp_path / "wal.db-wal"
    with database.session() as session:
        session.execute(text("CREATE TABLE stream (id INTEGER PRIMARY KEY, payload TEXT)"))
    stop, reads = threading.Event(), []

    def read() -> None:  # point reads, as the gateway's
        while not stop.is_set():
            with database.raw() as raw:
                reads.append(raw.connection.execute("SELECT max(id) FROM stream").fetchone()[0])

    reader = threading.Thread(target=read)
    reader.start()
    writer, committed, largest = database.writer_connection(), 0, 0
    try:
        payload = "x" * 3000  # about one 4 KiB page per row
        while committed < 40 * 64 * 4096:  # 40 thresholds' worth of rows
            with database.raw_transaction(writer) as raw:
                raw.connection.executemany("INSERT INTO stream (payload) VALUES (?)", [(payload,)] * 8)
            committed += 8 * 4096
            largest = max(largest, wal.stat().st_size)
            time.sleep(0.0005)  # a server's threads wait on the network between calls: the GIL goes round
    finally:
        stop.set()
        reader.join()
        database.dispose()
    assert reads and max(value or 0 for value in reads) > 0
    assert largest < 8 * 64 * 4096, f"WAL grew to {largest:,} bytes after {committed:,} bytes committed"
