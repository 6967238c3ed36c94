"""Core statements compiled once per dialect and run on the DBAPI connection directly.

The gateway runs a handful of statements on every call (the call's facts, the source lookup, the usage
record). Through a Session or even a Core Connection each execution costs SQLAlchemy ~100-300 µs of
Python (execution context, cache key, result metadata): most of a call. A `Prepared` statement keeps what
SQLAlchemy would work out on every execution (the SQL text, the order of the parameters, the type
conversions of parameters and results) and hands the text to the driver: the same SQL and the same types,
at the cost of the driver alone. Only statements with plain named parameters belong here.

`raw_connection(session)` gives the DBAPI connection of a session's transaction, so a Prepared statement
can also run inside an ordinary unit of work."""

from __future__ import annotations

import operator
import threading
import weakref
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True)
class Raw:
    """A DBAPI connection and the dialect that speaks to it."""

    connection: Any
    dialect: Dialect


def raw_connection(session: Session) -> Raw:
    """The DBAPI connection of the session's transaction (begun if it was not)."""
    connection = session.connection()
    return Raw(connection.connection.dbapi_connection, connection.dialect)


_local = threading.local()


@contextmanager
def reading(engine: Engine) -> Iterator[Raw]:
    """A DBAPI connection to read with Prepared statements, one statement at a time (each sees one
    snapshot). On SQLite it is the calling thread's own connection, kept open: a file database costs
    nothing to keep open, and the pool's check-out and reset would cost more than the query. Elsewhere
    it is a pooled connection for the duration."""
    if engine.dialect.name != "sqlite":
        pooled = engine.raw_connection()
        dbapi = pooled.dbapi_connection
        # a lone SELECT needs no transaction: in autocommit there is no BEGIN before it and no ROLLBACK
        # when the pool takes the connection back (two round trips fewer; psycopg and psycopg2)
        autocommit = hasattr(dbapi, "autocommit") and not dbapi.autocommit
        try:
            if autocommit:
                dbapi.autocommit = True
            yield Raw(dbapi, engine.dialect)
        finally:
            try:
                if autocommit:
                    dbapi.autocommit = False
            finally:
                pooled.close()
        return
    mine = getattr(_local, "connections", None)
    if mine is None:
        mine = _local.connections = weakref.WeakKeyDictionary()  # a disposed engine's entry goes with it
    raw = mine.get(engine)
    if raw is None:
        pooled = engine.raw_connection()  # a new one runs the engine's connect hooks (pragmas)
        pooled.detach()
        raw = mine[engine] = Raw(pooled.dbapi_connection, engine.dialect)
    yield raw


@dataclass
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None       # parameter names in order (qmark dialects), None: named
    defaults: dict[str, Any]                 # values fixed in the statement (literals SQLAlchemy binds)
    bind_processors: dict[str, Any]          # parameter name -> conversion for the driver
    column_types: list                       # result columns' types (SELECT only)
    result_processors: list | None = None    # filled on the first result (they depend on the cursor's types)

    def __post_init__(self) -> None:
        # the positional parameters' tuple from a dict, in C
        names = self.positional
        if names is None:
            self.pick = None
        elif len(names) == 1:
            self.pick = lambda values, name=names[0]: (values[name],)
        else:
            self.pick = operator.itemgetter(*names) if names else (lambda values: ())


MEMO_SIZE = 1024  # distinct stored values remembered per result column of a memoizing statement


def _memoized(process):
    """`process` remembering its results by stored value: the same stored text (a grant's JSON, a date)
    converts once, not on every call."""
    memo: dict = {}

    def convert(value):
        try:
            return memo[value]
        except KeyError:
            pass
        except TypeError:  # unhashable (a driver's own parsed JSON): nothing to remember
            return process(value)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        converted = memo[value] = process(value)
        return converted

    return convert


class Prepared:
    """One statement, compiled once per dialect; `rows` for a SELECT, `run`/`run_many` for the rest.

    `memoize=True`: result values that need a conversion (JSON, dates, times) are converted once per
    distinct stored value and the result is shared by every row that holds that value, so callers must
    treat such values (JSON lists and dicts included) as read-only. For statements read on every call
    whose values rarely change."""

    def __init__(self, statement: ClauseElement, *, memoize: bool = False) -> None:
        self.statement = statement
        self.memoize = memoize
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()
        columns = getattr(statement, "selected_columns", None)
        self._row = namedtuple("Row", columns.keys(), rename=True) if columns is not None else None

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(dialect.name) or self._compile(dialect)
                self._compiled[dialect.name] = compiled
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        processors = {}
        for name, bind in binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        columns = getattr(self.statement, "selected_columns", None)
        return _Compiled(
            sql=compiled.string,
            positional=tuple(compiled.positiontup) if dialect.positional else None,
            defaults={name: bind.effective_value for name, bind in binds.items() if not bind.required},
            bind_processors=processors,
            column_types=[column.type.dialect_impl(dialect) for column in columns] if columns is not None else [],
        )

    def _parameters(self, compiled: _Compiled, values: dict):
        merged = {**compiled.defaults, **values} if compiled.defaults else values
        if compiled.bind_processors:
            merged = dict(merged)
            for name, process in compiled.bind_processors.items():
                if name in merged:
                    merged[name] = process(merged[name])
        if compiled.pick is not None:
            return compiled.pick(merged)
        return merged

    def rows(self, raw: Raw, values: dict | None = None) -> list:
        """The result rows as named tuples (attribute per selected column), types converted."""
        compiled = self._for(raw.dialect)
        cursor = raw.connection.cursor()
        try:
            cursor.execute(compiled.sql, self._parameters(compiled, values or {}))
            fetched = cursor.fetchall()
            processors = compiled.result_processors
            if processors is None:
                processors = compiled.result_processors = self._result_processors(raw.dialect, compiled, cursor)
        finally:
            cursor.close()
        make = self._row._make
        if not any(processors):
            return [make(row) for row in fetched]
        return [make([value if process is None or value is None else process(value)
                      for process, value in zip(processors, row, strict=True)]) for row in fetched]

    def _result_processors(self, dialect: Dialect, compiled: _Compiled, cursor) -> list:
        processors = [kind.result_processor(dialect, description[1])
                      for kind, description in zip(compiled.column_types, cursor.description, strict=True)]
        if self.memoize:
            processors = [None if process is None else _memoized(process) for process in processors]
        return processors

    def run(self, raw: Raw, values: dict | None = None) -> int:
        """Executes the statement once; returns the rows it changed."""
        compiled = self._for(raw.dialect)
        cursor = raw.connection.cursor()
        try:
            cursor.execute(compiled.sql, self._parameters(compiled, values or {}))
            return cursor.rowcount
        finally:
            cursor.close()

    def run_many(self, raw: Raw, rows: list[dict]) -> None:
        """Executes the statement once per row (the driver's executemany)."""
        compiled = self._for(raw.dialect)
        cursor = raw.connection.cursor()
        try:
            cursor.executemany(compiled.sql, [self._parameters(compiled, row) for row in rows])
        finally:
            cursor.close()
