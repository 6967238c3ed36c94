"""Engine and sessions: SQLite (default, WAL) or PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from govshare.prepared import Raw, reading

READ_ONLY_OPTION = "govshare_read_only"
BUSY_TIMEOUT_MS = 10_000
WAL_SIZE_LIMIT = 64 * 2**20
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Take transaction control away from pysqlite (which would let a SAVEPOINT start the transaction
    # and its RELEASE commit it); the "begin" listener below opens every transaction explicitly.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # a WAL that a burst (an import) made long is cut back to this size when it is next rewound
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # A unit of work that writes takes the write lock up front (IMMEDIATE): it cannot fail half-way with
    # SQLITE_BUSY because another writer committed after it read; waiters use busy_timeout. Read-only
    # units begin DEFERRED, so under WAL they never wait for a writer.
    read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # as many pooled connections as request threads may use at once: opening one runs the pragmas
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=20, max_overflow=20)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """One engine and its session factories; the app, the CLI and the tests each hold one."""

    def __init__(self, url: str, settings=None) -> None:
        self.url = url
        self.settings = settings  # None: the environment's (config.get_settings)
        self.engine = make_engine(url)
        # Services read their settings (deadlines, limits) from session.info, so a test or a node can
        # run with its own settings without passing them through every call.
        info = {"settings": settings} if settings is not None else {}
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False, info=info
        )
        self.disposals = 0  # a writer connection opened before the last `dispose` is closed: open another
        self._writer_connections: list = []

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error. `read_only` units do not take
        SQLite's write lock (they may still write a little, e.g. a token's rehash, at the risk of waiting)."""
        session = (self.read_sessionmaker if read_only else self.sessionmaker)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def raw(self):
        """A DBAPI connection to read with Prepared statements (see `prepared.reading`)."""
        return reading(self.engine)

    def writer_connection(self) -> Raw:
        """A DBAPI connection of its own (outside the pool) for a thread that writes in a loop; pass it to
        `raw_transaction`. On SQLite it does not use SQLite's busy handler (see `_begin_immediate`)."""
        connection = self.engine.raw_connection()
        connection.detach()  # closing the proxy now closes the connection instead of pooling it
        dbapi = connection.dbapi_connection
        self._writer_connections.append(dbapi)
        if self.engine.dialect.name == "sqlite":
            dbapi.execute("PRAGMA busy_timeout=0")
            # its commits do not stop to checkpoint the WAL (copy it into the database and sync, several
            # ms every thousand pages, while the callers of that batch wait): a thread of its own does
            dbapi.execute("PRAGMA wal_autocheckpoint=0")
            _start_checkpointer(self)
        return Raw(dbapi, self.engine.dialect)

    @contextmanager
    def raw_transaction(self, raw: Raw) -> Iterator[Raw]:
        """A write transaction for Prepared statements on a `writer_connection`: commits on success, rolls
        back on any error. On SQLite it takes the write lock up front, like `session`."""
        try:
            if self.engine.dialect.name == "sqlite":
                _begin_immediate(raw.connection)
            yield raw
            raw.connection.commit()
        except BaseException:
            raw.connection.rollback()
            raise

    def dispose(self) -> None:
        """Closes every connection: the pool's, the writers' (their owners open new ones if the Database is
        used again) and the checkpointer's."""
        self.disposals += 1
        connections, self._writer_connections = self._writer_connections, []
        for connection in connections:
            with contextlib.suppress(Exception):  # already closed or broken: nothing left to release
                connection.close()
        self.engine.dispose()


CHECKPOINT_SECONDS = 0.25
# A PASSIVE checkpoint copies the WAL into the database but never rewinds it: under a steady stream of
# commits there is never a moment with nothing left to copy and no reader in the WAL, so the WAL (and the
# wal-index every process maps) would grow without bound, gigabytes a minute at full load. Past this many
# frames (~16 MiB of 4 KiB pages) the checkpointer tries a RESTART checkpoint: it holds off writers while
# it copies what PASSIVE left and waits for readers to leave the WAL, so the next commit writes the WAL
# from its start again. It gives up after RESTART_WAIT_MS (a long read) and tries again on its next round,
# so a writer never waits for it longer than that plus one copy and sync of what PASSIVE left.
WAL_RESTART_FRAMES = 4096
RESTART_WAIT_MS = 20
_checkpointers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Database -> its disposals then
_checkpointers_lock = threading.Lock()


def _start_checkpointer(database: Database) -> None:
    """One thread per process and SQLite database that checkpoints the WAL every CHECKPOINT_SECONDS
    (`_checkpoint`: PASSIVE, which never waits for nor blocks anyone, and RESTART only once the WAL is
    long); it ends with the Database object or its next `dispose` (the writer connection opened after
    that starts another)."""
    with _checkpointers_lock:
        if _checkpointers.get(database) == database.disposals:
            return
        _checkpointers[database] = database.disposals
    reference = weakref.ref(database)
    threading.Thread(target=_checkpoint_loop, args=(reference, database.disposals), name="sqlite-checkpointer",
                     daemon=True).start()


def _checkpoint_loop(reference: weakref.ref, disposals: int) -> None:
    connection = None
    try:
        while True:
            time.sleep(CHECKPOINT_SECONDS)
            database = reference()
            if database is None or database.disposals != disposals:
                return
            if connection is None:
                pooled = database.engine.raw_connection()
                pooled.detach()
                connection = pooled.dbapi_connection
                connection.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")  # only RESTART ever waits
            del database
            try:
                _checkpoint(connection)
            except sqlite3.Error:
                connection.close()  # the file went away (a disposed test database): try again later
                connection = None
    finally:
        if connection is not None:
            connection.close()


def _checkpoint(connection: sqlite3.Connection) -> None:
    """Copies the WAL into the database without waiting for anyone; rewinds it once it is long."""
    _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if frames > WAL_RESTART_FRAMES:
        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()


def _begin_immediate(connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE on a writer connection (busy_timeout 0), waiting for another process's write lock
    in steps of 0.05-0.5 ms: SQLite's own busy handler sleeps 1, 2, 5, 10, 15 … ms, far longer than a
    usage-record batch holds the lock, so writers of two server processes would spend most of their time
    asleep."""
    retrying_busy(lambda: connection.execute("BEGIN IMMEDIATE"))


def retrying_busy(run: Callable[[], T], meanwhile: Callable[[], None] | None = None) -> T:
    """`run()` on a writer connection (busy_timeout 0), again after 0.05-0.5 ms while SQLite answers
    SQLITE_BUSY (another process holds the write lock), for up to BUSY_TIMEOUT_MS; `meanwhile()` before each
    new try. `run` must be safe to repeat: a statement refused as busy changed nothing."""
    deadline, pause = time.monotonic() + BUSY_TIMEOUT_MS / 1000, 0.00005
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 1.5, 0.0005)
        if meanwhile is not None:
            meanwhile()
