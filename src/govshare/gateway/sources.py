"""Reading a source: the one place that knows how a SQL table, a managed Parquet file or an upstream HTTP
API is queried. The gateway asks in source columns and gets plain dicts (lookups, pages) or Arrow record
batches / a DuckDB relation (exports); it never sees a connection string.

Connecting, profiling and loading sources is gateway.connect; this module only reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
from sqlalchemy import Integer, MetaData, String, Table, and_, bindparam, cast, create_engine, func, or_, select
from sqlalchemy.engine import Engine

from govshare.errors import DomainError, ValidationFailed
from govshare.gateway.masking import quote_identifier, quote_literal
from govshare.prepared import Prepared, reading

ARROW_BATCH_ROWS = 50_000


class SourceUnavailable(DomainError):
    status_code = 502
    code = "source_unavailable"


@dataclass(frozen=True)
class Query:
    """What to read, in source columns. `scope` is (column, prefixes): only rows whose column starts with
    one of the prefixes, byte for byte on every kind of source (the grant's row scope). `after` is the last
    `order` value already served."""

    columns: tuple[str, ...]
    filters: tuple[tuple[str, str], ...] = ()
    scope: tuple[str, tuple[str, ...]] | None = None
    order: str | None = None
    after: str | None = None
    limit: int | None = None


@dataclass
class SqlSource:
    """A table of the provider's database, reached by a SQLAlchemy URL (SQLite, PostgreSQL, …)."""

    url: str
    table_name: str
    _table: Table | None = field(default=None, repr=False)
    _statements: dict = field(default_factory=dict, repr=False)

    @property
    def engine(self) -> Engine:
        return _engine(self.url)

    @property
    def table(self) -> Table:
        # one reflection per source even when request threads ask at once: two Table objects for one
        # table would make a query join the table with itself
        if self._table is None:
            with _reflect_lock:
                return self._reflect()
        return self._table

    def _reflect(self) -> Table:
        if self._table is None:
            schema, _, name = self.table_name.rpartition(".")
            try:
                self._table = Table(name, MetaData(), schema=schema or None, autoload_with=self.engine)
            except Exception as exc:  # any driver error: the source is down or the table is gone
                raise SourceUnavailable(f"无法读取数据源表 {self.table_name}：{exc.__class__.__name__}",
                                        field="source") from exc
        return self._table

    def source_columns(self) -> list[str]:
        return [c.name for c in self.table.columns]

    def _statement(self, query: Query) -> Prepared:
        """The SELECT of the query's shape (columns, filtered columns, scope, order, resume, limit) with its
        values as parameters: built and compiled once per shape, so a lookup costs the driver alone."""
        shape = (query.columns, tuple(column for column, _ in query.filters),
                 (query.scope[0], len(query.scope[1])) if query.scope else None, query.order,
                 query.after is not None and query.order is not None, bool(query.limit))
        prepared = self._statements.get(shape)
        if prepared is None:
            if len(self._statements) > 256:
                self._statements.clear()
            prepared = self._statements[shape] = Prepared(self._select(query))
        return prepared

    def _select(self, query: Query):
        table = self.table
        conditions = [table.c[column] == bindparam(f"f{n}", type_=table.c[column].type)
                      for n, (column, _) in enumerate(query.filters)]
        if query.scope:
            column, prefixes = query.scope
            text = _exact_text(cast(table.c[column], String), self.engine.dialect.name)
            conditions.append(or_(*(_starts_with(text, n) for n in range(len(prefixes)))))
        if query.after is not None and query.order:
            conditions.append(table.c[query.order] > bindparam("after", type_=table.c[query.order].type))
        statement = select(*(table.c[c] for c in query.columns)).where(and_(True, *conditions))
        if query.order:
            statement = statement.order_by(table.c[query.order])
        if query.limit:
            statement = statement.limit(bindparam("limit", type_=Integer))
        return statement

    def _values(self, query: Query) -> dict | None:
        """The query's values as parameters, each filter value as its column's type; None when a value
        cannot be of that type (a key 'abc' on an integer column: no row matches, rather than an error)."""
        table = self.table
        values: dict = {}
        try:
            for n, (column, value) in enumerate(query.filters):
                values[f"f{n}"] = _typed(table.c[column], value)
        except (ValueError, TypeError, ArithmeticError):
            return None
        if query.scope:
            for n, prefix in enumerate(query.scope[1]):
                values[f"p{n}"], values[f"n{n}"], values[f"s{n}"] = _like_prefix(prefix), len(prefix), prefix
        if query.after is not None and query.order:
            values["after"] = query.after
        if query.limit:
            values["limit"] = int(query.limit)
        return values

    def rows(self, query: Query) -> list[dict]:
        try:
            values = self._values(query)
            if values is None:
                return []
            with reading(self.engine) as raw:
                found = self._statement(query).rows(raw, values)
            return [dict(zip(query.columns, row, strict=True)) for row in found]
        except DomainError:
            raise
        except Exception as exc:
            raise SourceUnavailable(f"数据源查询失败：{exc.__class__.__name__}", field="source") from exc

    def batches(self, query: Query) -> pa.RecordBatchReader:
        """The rows as a stream of Arrow batches (the export reads it without holding it all)."""
        names = list(query.columns)
        values = self._values(query)

        def generate() -> Iterator[pa.RecordBatch]:
            if values is None:
                return
            with self.engine.connect().execution_options(stream_results=True, yield_per=ARROW_BATCH_ROWS) as conn:
                result = conn.execute(self._statement(query).statement, values)
                for chunk in result.partitions(ARROW_BATCH_ROWS):
                    columns = list(zip(*chunk, strict=True))
                    yield pa.record_batch([pa.array([_plain(v) for v in col], type=pa.string()) for col in columns],
                                          names=names)

        schema = pa.schema([(name, pa.string()) for name in names])
        return pa.RecordBatchReader.from_batches(schema, generate())

    def from_clause(self, connection: duckdb.DuckDBPyConnection, query: Query) -> tuple[str, bool]:
        """A DuckDB relation of the filtered rows; True: filters and scope are already applied."""
        connection.register("source_rows", self.batches(query))
        return "source_rows", True


def _typed(column, value):
    """The text of a key or filter as the column's Python type: PostgreSQL does not compare an integer
    column with text. Raises ValueError when the text cannot be of that type."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if python_type is str or not isinstance(value, str):
        return value
    if python_type in (date, datetime):
        return python_type.fromisoformat(value.strip())
    if python_type is bool:
        return value.strip().lower() in ("1", "true", "t", "yes", "是")
    return python_type(value.strip())


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern (escape character '/') matching the values that start with `prefix`."""
    return prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


# The collation that compares text character for character (bytes), per database: a column may be declared
# case-insensitive (SQLite NOCASE, a nondeterministic PostgreSQL collation, on which LIKE even fails).
EXACT_COLLATIONS = {"sqlite": "BINARY", "postgresql": "C"}


def _exact_text(text, dialect_name: str):
    collation = EXACT_COLLATIONS.get(dialect_name)
    return text.collate(collation) if collation else text


def _starts_with(text, n: int):
    """`text` starts with scope prefix n (parameters p<n>, n<n>, s<n>), exactly as Python's str.startswith and
    DuckDB's starts_with say: the LIKE narrows (PostgreSQL may use an index for it), and the equality of the
    first characters with the prefix makes it exact (SQLite's LIKE ignores ASCII case whatever the collation)."""
    return and_(text.like(bindparam(f"p{n}", type_=String), escape="/"),
                func.substr(text, 1, bindparam(f"n{n}", type_=Integer)) == bindparam(f"s{n}", type_=String))


def _plain(value) -> str | None:
    return None if value is None else str(value)


@lru_cache(maxsize=64)
def _engine(url: str) -> Engine:
    # a file database has no connection to lose; a server's may have dropped while idle
    return create_engine(url, pool_pre_ping=not url.startswith("sqlite"))


def engine_for(url: str) -> Engine:
    """The one engine per source URL (gateway.connections reaches a database through it once on registration)."""
    return _engine(url)


_local = threading.local()
_reflect_lock = threading.Lock()


def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB connection per thread for lookups and pages over managed Parquet files."""
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = duckdb.connect()
    return connection


@dataclass
class FileSource:
    """A file the provider uploaded, loaded into the managed store as one Parquet file (all values text,
    plus `_row`, the row's position in the file: the cursor of pages)."""

    path: Path

    ROW = "_row"

    def source_columns(self) -> list[str]:
        names = _duckdb().execute(f"SELECT name FROM parquet_schema({quote_literal(str(self.path))})").fetchall()
        return [n for (n,) in names[1:] if n != self.ROW]

    def where_sql(self, query: Query) -> tuple[str, list]:
        parts, params = [], []
        for column, value in query.filters:
            parts.append(f"{quote_identifier(column)} = ?")
            params.append(str(value))
        if query.scope:
            column, prefixes = query.scope
            parts.append("(" + " OR ".join(f"starts_with({quote_identifier(column)}, ?)" for _ in prefixes) + ")")
            params.extend(prefixes)
        return (" AND ".join(parts) or "TRUE"), params

    def rows(self, query: Query) -> list[dict]:
        where, params = self.where_sql(query)
        order = query.order or self.ROW
        if query.after is not None:
            where += f" AND {quote_identifier(order)} > ?"
            params.append(int(query.after) if order == self.ROW else query.after)
        columns = list(query.columns)
        selected = ", ".join(quote_identifier(c) for c in columns)
        relation = f"read_parquet({quote_literal(str(self.path))})"
        sql = f"SELECT {selected} FROM {relation} WHERE {where} ORDER BY {quote_identifier(order)}"
        if query.limit:
            sql += f" LIMIT {int(query.limit)}"
        try:
            result = _duckdb().execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise SourceUnavailable(f"托管数据文件读取失败：{exc.__class__.__name__}", field="source") from exc
        return [dict(zip(columns, row, strict=True)) for row in result]

    def from_clause(self, connection: duckdb.DuckDBPyConnection, query: Query) -> tuple[str, bool]:
        return f"read_parquet({quote_literal(str(self.path))})", False

    def present(self, query: Query, column: str, values: list[str]) -> set[str]:
        """Which of `values` the column holds in the rows the query keeps (one scan, however many values)."""
        if not values:
            return set()
        where, params = self.where_sql(query)
        listed = ", ".join("?" for _ in values)
        sql = (f"SELECT DISTINCT CAST({quote_identifier(column)} AS VARCHAR) FROM "
               f"read_parquet({quote_literal(str(self.path))}) WHERE {where} AND {quote_identifier(column)} IN "
               f"({listed})")
        try:
            return {value for (value,) in _duckdb().execute(sql, [*params, *values]).fetchall()}
        except duckdb.Error as exc:
            raise SourceUnavailable(f"托管数据文件读取失败：{exc.__class__.__name__}", field="source") from exc


@dataclass
class HttpSource:
    """An upstream API of the provider, called on the requester's behalf: GET url?{key_param}=key returns a
    JSON object or a list of objects (or {"data": [...]}) whose fields are the source columns. Lookups and
    verification only: an upstream API offers no bulk read."""

    url: str
    key_param: str = "key"
    timeout: float = 5.0
    internal: bool = False  # the admin registered its base address as an internal service

    def source_columns(self) -> list[str]:
        return []

    def rows(self, query: Query) -> list[dict]:
        key_filter = dict(query.filters)
        if len(key_filter) != 1:
            raise ValidationFailed("上游接口数据源只支持按主键查询和核验", field="mode")
        (key,) = key_filter.values()
        from govshare.gateway.connections import check_call_address

        check_call_address(self.url, self.internal)  # the host may resolve elsewhere since it was connected
        try:
            response = httpx.get(self.url, params={self.key_param: key}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"上游接口不可用：{exc.__class__.__name__}", field="source") from exc
        if response.status_code == 404:
            return []
        if response.status_code >= 400:
            raise SourceUnavailable(f"上游接口返回错误状态 {response.status_code}", field="source")
        body = response.json()
        records = body.get("data", body) if isinstance(body, dict) else body
        records = records if isinstance(records, list) else [records]
        return [{c: record.get(c) for c in query.columns} for record in records if isinstance(record, dict)]

    def from_clause(self, connection, query: Query):
        raise ValidationFailed("上游接口数据源不支持分页读取或批量导出，请按主键查询或核验", field="mode")


Source = SqlSource | FileSource | HttpSource
