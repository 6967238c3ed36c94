"""Corrections applied to a managed data file (校核纠错, R13): when an objection to a record of a file source is
answered 已更正, the platform itself holds the data and can correct it. The record's claimed values are written
into a new Parquet file (one DuckDB statement, every other row as it was, the row order kept), the source points
to it in the same unit of work, and the old file goes once that commits (a rollback removes the new one). A SQL
table or an upstream API belongs to the provider's own system: corrected there, and said so in the answer."""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import ValidationFailed
from govshare.gateway.connect import SourceKind, cleanup_after, managed_path
from govshare.gateway.masking import quote_identifier, quote_literal
from govshare.gateway.models import DataSource
from govshare.gateway.sources import FileSource

FIELD = "apply_correction"


@dataclass(frozen=True)
class Applied:
    rows: int
    items: list[str]


def is_managed(session: Session, entry_id: int) -> bool:
    """Whether the entry's data is a file in the platform's managed store (a correction can be applied here)."""
    return session.scalar(select(DataSource.kind).where(DataSource.entry_id == entry_id)) == SourceKind.FILE


def apply(session: Session, entry_id: int, key: str, values: dict[str, str]) -> Applied:
    """Writes `values` (item -> value) into the managed file's rows whose key is `key`; returns what changed."""
    # locked: two corrections of one file at once would each rewrite the same old file, and one would be lost
    source = session.scalars(select(DataSource).where(DataSource.entry_id == entry_id).with_for_update()).first()
    if source is None or source.kind != SourceKind.FILE:
        raise ValidationFailed("该目录的数据不在平台托管存储中，请在提供部门自己的系统中更正后答复“已更正”并说明",
                               field=FIELD)
    if not values:
        raise ValidationFailed("核实请求没有给出认为正确的取值，无法在托管数据中更正；请说明已在上游更正", field=FIELD)
    columns = source.column_map or {}
    unmapped = [item for item in values if item not in columns]
    if unmapped:
        raise ValidationFailed(f"托管数据中没有这些信息项：{'、'.join(unmapped)}", field=FIELD)
    if source.key_item in values:  # a record's key is how every grant finds it: a new key is a new record
        raise ValidationFailed("不能在托管数据中更正主键；请重新上传数据文件", field=FIELD)
    old = managed_path(session, source)
    new = old.with_name(f"{utcnow():%Y%m%dT%H%M%S%f}.parquet")
    rows = _rewrite(old, new, columns[source.key_item], key, {columns[item]: value for item, value in values.items()})
    if rows != 1:
        new.unlink(missing_ok=True)
        found = f"有 {rows} 条主键为 {key} 的记录，无法确定更正哪一条" if rows else f"没有主键为 {key} 的记录"
        raise ValidationFailed(f"托管数据中{found}；请重新上传数据文件", field=FIELD)
    source.location = new.relative_to(settings_of(session).data_dir).as_posix()
    cleanup_after(session, old, new)
    session.flush()
    return Applied(rows, list(values))


def _rewrite(old, new, key_column: str, key: str, values: dict[str, str]) -> int:
    """Copies `old` to `new` with `values` (column -> text) in the rows whose key is `key`; their count."""
    params = {"key": key} | {f"v{n}": value for n, value in enumerate(values.values())}
    replaced = ", ".join(f"CASE WHEN {quote_identifier(key_column)} = $key THEN $v{n} "
                         f"ELSE {quote_identifier(column)} END AS {quote_identifier(column)}"
                         for n, column in enumerate(values))
    source = f"read_parquet({quote_literal(str(old))})"
    partial = new.with_suffix(".part")
    connection = duckdb.connect()
    try:
        rows = connection.execute(f"SELECT count(*) FROM {source} WHERE {quote_identifier(key_column)} = $key",
                                  {"key": key}).fetchone()[0]
        if rows == 1:
            connection.execute(
                f"COPY (SELECT * REPLACE ({replaced}) FROM {source} ORDER BY {quote_identifier(FileSource.ROW)}) "
                f"TO {quote_literal(str(partial))} (FORMAT parquet, COMPRESSION zstd)", params)
            os.replace(partial, new)
    finally:
        connection.close()
        partial.unlink(missing_ok=True)
    return rows
