"""Prepared statements (`govshare.prepared`), the fast path of every gateway call (R09, R12): a statement
compiled once per dialect and run on the DBAPI connection must give what SQLAlchemy gives (the same values
with the same Python types, the same bind conversions), whether it runs on its own connection, in a
`raw_transaction` or inside a Session's transaction. Runs on SQLite and PostgreSQL (the `db` fixture).

The statements run over a table of their own (`prepared_probe`, created and dropped by the tests) with a
column of every type whose conversion differs between the driver and SQLAlchemy: on SQLite a DATETIME is
text, a DATE is text, a BOOLEAN is 0/1 and JSON is text; only SQLAlchemy's processors make them Python
values again."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from govshare.db import Database
from govshare.prepared import Prepared, Raw, raw_connection, reading

probe_metadata = MetaData()
probe = Table(
    "prepared_probe", probe_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(40)),
    Column("at", DateTime),
    Column("day", Date),
    Column("doc", JSON),
    Column("tags", JSON),
    Column("flag", Boolean),
    Column("big", BigInteger),
)

# microsecond 0 on purpose: SQLAlchemy stores it as "… 08:30:00.000000" on SQLite, the driver's own
# conversion as "… 08:30:00", so an equality filter finds the row only through SQLAlchemy's bind processor
MOMENT = datetime(2026, 3, 5, 8, 30, 0)
ROWS = [
    dict(id=1, name="first", at=MOMENT, day=date(2026, 3, 5), doc={"a": 1, "b": [1, 2.5, None], "c": "中文"},
         tags=["x", "y"], flag=True, big=2**40),
    dict(id=2, name="second", at=datetime(2026, 3, 6, 23, 59, 59, 999999), day=date(2026, 3, 6), doc={},
         tags=[], flag=False, big=0),
    dict(id=3, name=None, at=None, day=None, doc=None, tags=None, flag=None, big=None),
]
ALL = select(probe.c.id, probe.c.name, probe.c.at, probe.c.day.label("local_day"), probe.c.doc, probe.c.tags,
             probe.c.flag, probe.c.big).order_by(probe.c.id)


def _create(database: Database, rows: list[dict] | None = None) -> None:
    probe_metadata.create_all(database.engine)
    if rows:
        with database.session() as s:
            s.execute(insert(probe), rows)


def _drop(database: Database) -> None:
    probe_metadata.drop_all(database.engine)


@pytest.fixture
def table(db):
    """The probe table in the test database, holding ROWS (written through a Session)."""
    _create(db, ROWS)
    yield probe
    _drop(db)


def _typed(rows) -> list[list[tuple[type, object]]]:
    return [[(type(value), value) for value in row] for row in rows]


def _count(db, *where) -> int:
    with db.session(read_only=True) as s:
        return s.scalar(select(func.count()).select_from(probe).where(*where))


# ---------------------------------------------------------------- results


def test_r12_prepared_rows_equal_the_sessions_values_and_types(db, table):
    """Every column type comes back as SQLAlchemy's Session gives it: datetime (with and without
    microseconds), date (not datetime, not text), JSON dict and list (not text), bool (not 0/1), int, and
    None for every NULL; the rows are named tuples (a labelled column by its label)."""
    with db.session(read_only=True) as s:
        expected = s.execute(ALL).all()
    with db.raw() as raw:
        got = Prepared(ALL).rows(raw)
    assert _typed(got) == _typed(expected)
    first, second, empty = got
    assert type(first.at) is datetime and first.at == MOMENT
    assert type(first.local_day) is date and first.local_day == date(2026, 3, 5)
    assert first.doc == {"a": 1, "b": [1, 2.5, None], "c": "中文"} and first.tags == ["x", "y"]
    assert first.flag is True and second.flag is False
    assert second.at == datetime(2026, 3, 6, 23, 59, 59, 999999)
    assert (second.doc, second.tags, second.big) == ({}, [], 0)
    assert first.big == 2**40 and type(first.big) is int
    assert tuple(empty) == (3, None, None, None, None, None, None, None)
    assert first._fields == ("id", "name", "at", "local_day", "doc", "tags", "flag", "big")


def test_r12_result_conversions_hold_when_the_first_result_was_empty(db, table):
    """The result conversions are worked out on the first execution (from the cursor): a first execution
    that found nothing must not leave later rows unconverted."""
    statement = ALL.where(probe.c.name == bindparam("name"))
    prepared = Prepared(statement)
    with db.raw() as raw:
        assert prepared.rows(raw, {"name": "nobody"}) == []
        got = prepared.rows(raw, {"name": "first"})
    with db.session(read_only=True) as s:
        expected = s.execute(statement, {"name": "first"}).all()
    assert _typed(got) == _typed(expected)
    assert type(got[0].local_day) is date and type(got[0].doc) is dict and got[0].flag is True


def test_r12_memoized_conversions_give_the_same_values_and_follow_a_changed_row(db, table):
    """A memoizing statement (the gateway's call facts) converts each stored value once: its rows equal
    the plain statement's, a second read shares the converted JSON, and a row changed in the database is
    read as changed at once (the memo is keyed by the stored value, so a grant's new masking or items can
    never be served from an old conversion)."""
    plain, memoized = Prepared(ALL), Prepared(ALL, memoize=True)
    with db.raw() as raw:
        expected, first, again = plain.rows(raw), memoized.rows(raw), memoized.rows(raw)
    assert _typed(first) == _typed(expected) == _typed(again)
    if db.engine.dialect.name == "sqlite":  # (psycopg parses JSON itself: there is nothing to convert)
        assert again[0].doc is first[0].doc and again[0].at is first[0].at  # converted once, shared
    with db.session() as s:
        s.execute(update(probe).where(probe.c.id == 1).values(doc={"a": 2}, day=date(2027, 1, 1), tags=["z"]))
    with db.raw() as raw:
        changed = memoized.rows(raw)
    assert (changed[0].doc, changed[0].local_day, changed[0].tags) == ({"a": 2}, date(2027, 1, 1), ["z"])
    assert changed[1:] == first[1:]


# ---------------------------------------------------------------- parameters


def test_r12_date_and_datetime_parameters_are_converted_like_sqlalchemys(db, table):
    """Named parameters of DateTime, Date and Boolean columns go through SQLAlchemy's bind conversions (an
    equality on a stored datetime matches only in SQLAlchemy's storage format), and a literal in the
    statement (bound by SQLAlchemy, converted too) is combined with the named parameters."""
    by_moment = Prepared(select(probe.c.id).where(probe.c.at == bindparam("moment")))
    since = Prepared(select(probe.c.id).where(probe.c.at >= bindparam("since")).order_by(probe.c.id))
    by_day = Prepared(select(probe.c.id).where(probe.c.day == bindparam("day", type_=Date)))
    days = Prepared(select(probe.c.id).where(probe.c.day.between(bindparam("low"), bindparam("high")))
                    .order_by(probe.c.id))
    flagged = Prepared(select(probe.c.name).where(probe.c.flag == bindparam("flag")))
    literal = Prepared(select(probe.c.id).where(probe.c.at == MOMENT, probe.c.day >= bindparam("day")))
    with db.raw() as raw:
        assert [r.id for r in by_moment.rows(raw, {"moment": MOMENT})] == [1]
        assert by_moment.rows(raw, {"moment": datetime(2026, 3, 5, 8, 30, 0, 1)}) == []
        assert [r.id for r in since.rows(raw, {"since": datetime(2026, 3, 5, 8, 30)})] == [1, 2]
        assert [r.id for r in since.rows(raw, {"since": datetime(2026, 3, 6, 23, 59, 59, 999999)})] == [2]
        assert [r.id for r in by_day.rows(raw, {"day": date(2026, 3, 6)})] == [2]
        assert [r.id for r in days.rows(raw, {"low": date(2026, 3, 1), "high": date(2026, 3, 5)})] == [1]
        assert [r.id for r in days.rows(raw, {"low": date(2026, 3, 5), "high": date(2026, 3, 6)})] == [1, 2]
        assert [r.name for r in flagged.rows(raw, {"flag": False})] == ["second"]
        assert [r.id for r in literal.rows(raw, {"day": date(2026, 3, 5)})] == [1]
        assert literal.rows(raw, {"day": date(2026, 3, 6)}) == []


# ---------------------------------------------------------------- writing


def test_r12_run_returns_the_rowcount_of_an_update(db, table):
    """`run` returns the rows an UPDATE changed (the gateway's day counter inserts the day's row when it
    is 0), and the change is committed by `raw_transaction`."""
    rename = Prepared(update(probe).where(probe.c.day >= bindparam("since")).values(name=bindparam("new")))
    with db.raw_transaction(db.writer_connection()) as raw:
        assert rename.run(raw, {"since": date(2026, 3, 5), "new": "renamed"}) == 2
        assert rename.run(raw, {"since": date(2027, 1, 1), "new": "nobody"}) == 0
    flag = Prepared(update(probe).where(probe.c.id == bindparam("key")).values(flag=bindparam("flag")))
    with db.raw_transaction(db.writer_connection()) as raw:
        assert flag.run(raw, {"key": 3, "flag": True}) == 1
    assert _count(db, probe.c.name == "renamed") == 2
    assert _count(db, probe.c.flag.is_(True)) == 2


def test_r12_run_many_inserts_rows_as_sqlalchemy_would_store_them(db, table):
    """`run_many` writes several rows with one executemany, each value converted for the driver (JSON
    serialized, datetimes in SQLAlchemy's storage format, so a Session reads and filters them back)."""
    added = [dict(id=10 + n, name=f"added {n}", at=datetime(2026, 4, 1, 12, 0, n), day=date(2026, 4, 1 + n),
                  doc={"n": n, "nested": {"list": list(range(n))}}, tags=[f"t{n}"], flag=n % 2 == 0, big=n * 10**12)
             for n in range(4)]
    add = Prepared(insert(probe).values({column.name: bindparam(column.name) for column in probe.columns}))
    with db.raw_transaction(db.writer_connection()) as raw:
        add.run_many(raw, added)
    with db.session(read_only=True) as s:
        stored = [dict(row._mapping) for row in s.execute(select(probe).where(probe.c.id >= 10).order_by(probe.c.id))]
    assert _typed([list(row.values()) for row in stored]) == _typed([list(row.values()) for row in added])
    assert _count(db, probe.c.at == datetime(2026, 4, 1, 12, 0, 0)) == 1
    assert _count(db, probe.c.day == date(2026, 4, 4)) == 1


def test_r12_failed_raw_transaction_writes_nothing(db, table):
    """An error inside `raw_transaction` rolls back what the Prepared statements wrote before it."""
    add = Prepared(insert(probe).values(id=bindparam("id"), name=bindparam("name")))
    with pytest.raises(RuntimeError), db.raw_transaction(db.writer_connection()) as raw:
        add.run_many(raw, [{"id": 20, "name": "a"}, {"id": 21, "name": "b"}])
        raise RuntimeError("after the insert")
    assert _count(db, probe.c.id >= 20) == 0


# ---------------------------------------------------------------- dialects


def _sqlite_database(path) -> Database:
    database = Database(f"sqlite:///{path}")
    _create(database, ROWS)
    return database


def test_r12_statement_is_compiled_once_per_dialect_name(db, table, tmp_path):
    """One Prepared object serves every dialect: each gets its own compiled form (qmark on SQLite, named
    pyformat on PostgreSQL), built once and reused. With PostgreSQL configured the same object runs on
    PostgreSQL and on a SQLite database alternately, in both orders."""
    other = _sqlite_database(tmp_path / "other.db")
    try:
        for order in ((db, other), (other, db)):
            prepared = Prepared(select(probe.c.id, probe.c.at, probe.c.doc).where(probe.c.day == bindparam("day")))
            for _ in range(2):
                for database in order:
                    with database.raw() as raw:
                        rows = prepared.rows(raw, {"day": date(2026, 3, 5)})
                    assert [(r.id, r.at, r.doc) for r in rows] == [(1, MOMENT, ROWS[0]["doc"])]
            names = {db.engine.dialect.name, "sqlite"}
            assert set(prepared._compiled) == names
            compiled = dict(prepared._compiled)
            with db.raw() as raw:
                prepared.rows(raw, {"day": date(2026, 3, 5)})
            assert all(prepared._compiled[name] is compiled[name] for name in names)  # not compiled again
    finally:
        _drop(other)
        other.dispose()
    offline = Prepared(select(probe.c.id).where(probe.c.day == bindparam("day"), probe.c.name == "first"))
    lite = offline._for(sqlite.dialect())
    pg = offline._for(postgresql.psycopg.dialect())
    assert "?" in lite.sql and lite.positional is not None and "day" in lite.positional
    assert "%(day)s" in pg.sql and pg.positional is None
    assert set(offline._compiled) == {"sqlite", "postgresql"}


# ---------------------------------------------------------------- inside a Session's transaction


def test_r12_prepared_statement_in_a_session_is_part_of_its_transaction(db, table):
    """`raw_connection(session)` is the session's own connection in its open transaction: a Prepared
    write is visible to the session's queries, invisible to another connection until commit, rolled back
    with the session, committed with it; rows the session flushed are visible to a Prepared read."""
    add = Prepared(insert(probe).values(id=bindparam("id"), name=bindparam("name"), flag=bindparam("flag")))
    find = Prepared(select(probe.c.id, probe.c.flag).where(probe.c.name == bindparam("name")))
    with pytest.raises(RuntimeError), db.session() as s:
        raw = raw_connection(s)
        assert raw.connection is s.connection().connection.dbapi_connection
        add.run(raw, {"id": 30, "name": "in session", "flag": True})
        assert s.scalar(select(func.count()).select_from(probe).where(probe.c.id == 30)) == 1
        with db.raw() as other:
            assert find.rows(other, {"name": "in session"}) == []  # not committed: not seen elsewhere
        s.execute(insert(probe).values(id=31, name="by session", flag=False))
        assert [tuple(r) for r in find.rows(raw_connection(s), {"name": "by session"})] == [(31, False)]
        raise RuntimeError("the unit of work fails")
    assert _count(db, probe.c.id >= 30) == 0
    with db.session() as s:
        add.run(raw_connection(s), {"id": 32, "name": "committed", "flag": True})
    with db.raw() as raw:
        assert [tuple(r) for r in find.rows(raw, {"name": "committed"})] == [(32, True)]


# ---------------------------------------------------------------- reading connections


def test_r12_reading_on_sqlite_keeps_one_connection_per_thread_and_engine(tmp_path):
    """On SQLite `reading` lends the calling thread's own kept-open connection: the same object on every
    use in a thread, another one in another thread and for another engine; it is opened by the engine (its
    pragmas apply) and is not taken from the pool."""
    first = _sqlite_database(tmp_path / "first.db")
    second = _sqlite_database(tmp_path / "second.db")
    count = Prepared(select(func.count()).select_from(probe))
    try:
        with reading(first.engine) as raw:
            mine = raw.connection
            assert count.rows(raw)[0][0] == len(ROWS)
            assert raw.connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with reading(first.engine) as raw:
            assert raw.connection is mine
        with reading(second.engine) as raw:
            assert raw.connection is not mine
        assert first.engine.pool.checkedout() == 0

        theirs: list = []

        def other_thread() -> None:
            for _ in range(2):
                with reading(first.engine) as raw:
                    theirs.append(raw.connection)
                    theirs.append(count.rows(raw)[0][0])

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert theirs[1] == theirs[3] == len(ROWS)
        assert theirs[0] is theirs[2] and theirs[0] is not mine
        with reading(first.engine) as raw:
            assert raw.connection is mine
    finally:
        _drop(first)
        _drop(second)
        first.dispose()
        second.dispose()


def test_r12_reading_returns_its_connection(db, table):
    """`reading` of any dialect leaves no connection checked out of the pool, also when the read fails
    (on PostgreSQL it lends a pooled connection for the duration)."""
    with db.raw() as raw:
        assert isinstance(raw, Raw) and raw.dialect.name == db.engine.dialect.name
        assert Prepared(select(func.count()).select_from(probe)).rows(raw)[0][0] == len(ROWS)
    assert db.engine.pool.checkedout() == 0
    with pytest.raises(RuntimeError), db.raw():
        raise RuntimeError("the read fails")
    assert db.engine.pool.checkedout() == 0
