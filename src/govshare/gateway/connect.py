"""Connecting sources (R09, R14, R17): a provider connects a published entry to the data it already has.

Three kinds of source:
- `sql`: a table of one of the department's data connections (gateway.connections: the platform admin
  registers them; department users choose one and a table in it, never type a URL). Its URL is copied
  sealed onto the source. The table is reflected and profiled on a bounded sample.
- `file`: a CSV (UTF-8 or GBK/GB18030), XLSX or Parquet file, loaded into the managed store as one Parquet
  file under data_dir/sources/<entry>/ (every value as text, plus `_row`, the row's position in the file).
  Loading is vectorized (pyarrow's CSV reader, Arrow and DuckDB); rows that cannot be trusted are reported
  one by one (row number and reason) and skipped, the good rows kept.
- `http`: an upstream API below the base address of one of the department's data connections, called on
  the requester's behalf (lookups and verification only).

Source columns map to the entry's data items: as the provider says (`column_map`), else by the item's field
name or Chinese name (exact, then ignoring case). Anything left over is reported, never guessed. Connecting
profiles the data (gateway.profiling) and suggests grades and masking; the provider confirms them
(`confirm_profile`). One source per entry: connecting again replaces the source (the old managed file is
removed only once the new one is committed)."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import Select, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, lazyload

from govshare import xlsx
from govshare.authz import Actor, region_prefix, require_own_department, require_role
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, DataItem, EntryEvent, EntryRevision
from govshare.catalog.vocab import GRADE_RANK, EntryStatus, Grade, LabelledEnum, PersonalInfo, RevisionStatus
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, DomainError, NotFound, TooLarge, ValidationFailed, found, required_reason
from govshare.gateway import connections, profiling
from govshare.gateway.masking import quote_literal
from govshare.gateway.models import DataConnection, DataSource
from govshare.gateway.sources import FileSource, HttpSource, Query, SourceUnavailable, SqlSource
from govshare.nul_guard import bad_text
from govshare.orgs.models import Department, Role
from govshare.sealing import seal
from govshare.sharing.models import Grant
from govshare.sharing.vocab import GrantStatus

logger = logging.getLogger(__name__)

PROVIDER_ROLES = (Role.CATALOG_MANAGER, Role.DEPT_REVIEWER)
READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)
FILE_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}
MAX_REPORTED_ROWS = 1000  # bad rows listed one by one in the load report (all are counted)
# An uploaded data file may be this large (bytes) unless GOVSHARE_MAX_SOURCE_UPLOAD_MB says otherwise: larger
# than a catalog file's (catalog.importer.MAX_UPLOAD_BYTES), as a department's data is. An upload is copied
# to disk only up to it, then refused (413).
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
# The table an XLSX sheet unfolds to (data rows times header columns): a sparse sheet of a few megabytes
# (a wide header, then rows of one cell each) would otherwise make gigabytes of empty cells.
MAX_XLSX_CELLS = 200_000_000
REPLACEMENT = "\ufffd"  # what a decoder writes for bytes it could not read: the mark of mis-decoded text
ROW = FileSource.ROW


class SourceKind(LabelledEnum):
    SQL = "sql", "数据库表"
    FILE = "file", "文件"
    HTTP = "http", "上游接口"


class SourceStatus(LabelledEnum):
    CONNECTED = "connected", "已接入"
    DISCONNECTED = "disconnected", "已断开"


FILE_STAGES = ("读取文件", "检查数据行", "写入托管存储", "数据画像")
Progress = Callable[[str], None]


def _no_progress(_stage: str) -> None:
    return None


# ---------------------------------------------------------------- who may


def connectable(session: Session, actor: Actor, entry_id: int) -> CatalogEntry:
    """The entry, when the actor is a catalog manager or department reviewer of its provider and it is
    published (only published entries are shared)."""
    require_role(actor, *PROVIDER_ROLES, action="接入或管理数据源")
    entry = found(session.get(CatalogEntry, entry_id, with_for_update={"of": CatalogEntry}),
                  f"目录不存在：{entry_id}", "entry_id")
    require_own_department(actor, entry.provider_id, action="接入或管理")
    if entry.status != EntryStatus.PUBLISHED:
        raise Conflict(f"只有已发布的目录可以接入数据源，当前状态：{EntryStatus(entry.status).label}", field="status")
    return entry


def readable_sources(actor: Actor) -> Select:
    """Sources the actor may see: its own department's; the competent authority those of its area; the
    platform administrator and the auditor all."""
    query = select(DataSource).join(CatalogEntry, CatalogEntry.id == DataSource.entry_id)
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return query
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        prefix = region_prefix(actor.region_code)
        return query.where(CatalogEntry.provider.has(Department.region_code.startswith(prefix)))
    return query.where(CatalogEntry.provider_id == actor.department_id)


def get_source(session: Session, actor: Actor, entry_id: int) -> DataSource:
    source = session.scalars(readable_sources(actor).where(DataSource.entry_id == entry_id)).first()
    if source is None:
        raise NotFound(f"目录 {entry_id} 未接入数据源或无权查看", field="entry_id")
    return source


def list_sources(session: Session, actor: Actor) -> list[DataSource]:
    return list(session.scalars(readable_sources(actor).order_by(CatalogEntry.provider_id, CatalogEntry.id)))


def provider_entries(session: Session, actor: Actor) -> list[tuple[CatalogEntry, DataSource | None]]:
    """The published entries of the actor's department, each with its source (None: not connected)."""
    if actor.department_id is None:
        return []
    rows = session.execute(
        select(CatalogEntry, DataSource).outerjoin(DataSource, DataSource.entry_id == CatalogEntry.id)
        .where(CatalogEntry.provider_id == actor.department_id, CatalogEntry.status == EntryStatus.PUBLISHED)
        .order_by(CatalogEntry.resource_code)
        .options(lazyload(DataSource.entry)))  # its joined eager load is an inner join: it would drop unconnected
    return [(entry, source) for entry, source in rows]


def _own_source(session: Session, actor: Actor, entry_id: int) -> tuple[CatalogEntry, DataSource]:
    entry = connectable(session, actor, entry_id)
    source = session.scalars(select(DataSource).where(DataSource.entry_id == entry_id)).first()
    if source is None:
        raise NotFound(f"目录 {entry_id} 尚未接入数据源", field="entry_id")
    return entry, source


# ---------------------------------------------------------------- mapping columns to items


def _items(session: Session, entry: CatalogEntry) -> list[DataItem]:
    return list(session.scalars(select(DataItem).where(DataItem.entry_id == entry.id).order_by(DataItem.position)))


def _item_named(items: list[DataItem], name: str) -> DataItem | None:
    name = (name or "").strip()
    return next((i for i in items if i.name == name), None) or next(
        (i for i in items if i.chinese_name == name), None)


NO_ITEMS = ("该目录尚无信息项，不能接入数据源。请先添加信息项：草稿在目录页面“编辑”中添加，已发布目录在“修订”中添加"
            "（经主管部门批准后生效）；也可用 govshare catalog item-add 或 govshare catalog items-import 信息项表，"
            "或接口 POST /api/v1/catalog/entries/{目录编号}/items")


def key_item_of(items: list[DataItem], key_item: str) -> str:
    if not items:  # imported portal catalogs come without items
        raise ValidationFailed(NO_ITEMS, field="key_item")
    item = _item_named(items, key_item)
    if item is None:
        known = "、".join(f"{i.chinese_name}（{i.name}）" for i in items)
        raise ValidationFailed(f"主键信息项不属于该目录：{key_item!r}；可选：{known}", field="key_item")
    return item.name


def _column_named(columns: list[str], name: str) -> str | None:
    if name in columns:
        return name
    folded = [c for c in columns if c.casefold() == name.strip().casefold()]
    return folded[0] if len(folded) == 1 else None


def map_columns(items: list[DataItem], columns: list[str], column_map: dict | None = None) -> dict[str, str]:
    """item name -> source column. The provider's `column_map` (keys: item field names or Chinese names)
    first; then each remaining item by its field name, then its Chinese name (exact, else ignoring case when
    that names one column only). An item without a column, a column that does not exist or an item that
    does not belong to the entry is a ValidationFailed naming column_map and listing them all."""
    # a multipart form (uploads) is not read by the NUL guard: what no database stores is refused here
    if column_map and any(bad_text(str(text)) for pair in column_map.items() for text in pair):
        raise ValidationFailed("列对应关系包含无法存储的字符（NUL 或不成对的代理项）", field="column_map")
    mapping: dict[str, str] = {}
    unknown_items, unknown_columns = [], []
    for key, column in (column_map or {}).items():
        item = _item_named(items, str(key))
        if item is None:
            unknown_items.append(str(key))
            continue
        actual = _column_named(columns, str(column or ""))
        if actual is None:
            unknown_columns.append(str(column))
            continue
        mapping[item.name] = actual
    for item in items:
        if item.name in mapping:
            continue
        actual = _column_named(columns, item.name) or _column_named(columns, item.chinese_name)
        if actual is not None:
            mapping[item.name] = actual
    unmapped = [i for i in items if i.name not in mapping]
    if unknown_items or unknown_columns or unmapped:
        unused = [c for c in columns if c not in mapping.values() and c != ROW]
        problems = []
        if unmapped:
            problems.append("以下信息项在数据源中找不到对应的列：" + "、".join(
                f"{i.chinese_name}（{i.name}）" for i in unmapped))
        if unknown_columns:
            problems.append("column_map 中的列在数据源中不存在：" + "、".join(unknown_columns))
        if unknown_items:
            problems.append("column_map 中的信息项不属于该目录：" + "、".join(unknown_items))
        hint = f"数据源中尚未对应的列：{'、'.join(unused)}" if unused else "数据源的其余列都已对应"
        raise ValidationFailed(f"数据源的列与目录信息项不一致（平台不猜测对应关系）：{'；'.join(problems)}。"
                               f"{hint}。请指定对应关系（column_map：信息项=列名）", field="column_map",
                               extra={"unmapped_items": [i.name for i in unmapped], "unknown_columns": unknown_columns,
                                      "unknown_items": unknown_items, "unused_columns": unused})
    return {item.name: mapping[item.name] for item in items}


# ---------------------------------------------------------------- replacing a source


def cleanup_after(session: Session, on_commit: Path | None, on_rollback: Path | None) -> None:
    """Deletes `on_commit` once the session commits (the file the source used to point to), `on_rollback`
    if it rolls back instead (the new file nobody points to). Whichever comes first; once."""
    done = {"done": False}

    def remove(path: Path | None) -> None:
        if done["done"]:
            return
        done["done"] = True
        if path is not None:
            with suppress(OSError):
                path.unlink(missing_ok=True)

    event.listen(session, "after_commit", lambda _s: remove(on_commit))
    event.listen(session, "after_rollback", lambda _s: remove(on_rollback))


def _store(session: Session, actor: Actor, entry: CatalogEntry, **fields) -> DataSource:
    """Creates the entry's source or replaces it in place (one per entry). A replaced source needs a new
    confirmation of its profile."""
    source = session.scalars(select(DataSource).where(DataSource.entry_id == entry.id)).first()
    if source is None:
        source = DataSource(entry_id=entry.id)
        session.add(source)
    old_file = managed_path(session, source) if source.kind == SourceKind.FILE and source.location else None
    for name, value in fields.items():
        setattr(source, name, value)
    source.status = SourceStatus.CONNECTED.value
    source.created_by_id = actor.user_id
    source.confirmed_at, source.confirmed_by_id = None, None
    new_file = managed_path(session, source) if source.kind == SourceKind.FILE else None
    if old_file is not None and old_file != new_file:
        cleanup_after(session, old_file, None)
    session.flush()
    from govshare.quality import service as quality  # quality reads sources through the gateway

    quality.after_connect(session, entry)  # proposes rules for the new source; the worker runs them (R14)
    return source


def managed_path(session: Session, source: DataSource) -> Path:
    return settings_of(session).data_dir / source.location


# ---------------------------------------------------------------- SQL tables


def _reflect(connection: DataConnection, url: str, table_name: str) -> tuple[str, list[str]]:
    """(the table's qualified name as the database spells it, its columns). The table must be one the
    connection allows; every failure to reach it has the same message (gateway.connections)."""
    schema, _, name = (table_name or "").strip().rpartition(".")
    if not name:
        raise ValidationFailed("必须指定数据源表名（可带模式名，如 public.rk_jbxx）", field="table")
    try:
        inspector = inspect(SqlSource(url, table_name).engine)
        names = inspector.get_table_names(schema=schema or None) + inspector.get_view_names(schema=schema or None)
    except Exception as exc:  # any driver error: unreachable host, bad credentials, unknown schema
        logger.warning("data connection %s: table %s not reflected: %r", connection.name, table_name, exc)
        raise connections.connection_failed(connection.name) from exc
    actual = _column_named(names, name)
    if actual is None:
        raise ValidationFailed(f"数据连接“{connection.name}”中不存在表或视图：{table_name}", field="table")
    qualified = f"{schema}.{actual}" if schema else actual
    connections.table_allowed(connection, qualified)
    columns = [c["name"] for c in inspector.get_columns(actual, schema=schema or None)]
    return qualified, columns


def connect_sql(session: Session, actor: Actor, entry_id: int, connection: int | str, table_name: str,
                key_item: str, column_map: dict | None = None) -> DataSource:
    """Connects the entry to a table of one of its department's data connections (registered by the
    platform admin) and profiles a bounded sample of it."""
    entry = connectable(session, actor, entry_id)
    chosen = connections.usable(session, actor, entry.provider_id, connection, connections.ConnectionKind.SQL)
    items = _items(session, entry)
    key = key_item_of(items, key_item)
    url = connections.location_of(session, chosen)
    connections.refuse_node_database(session, make_url(url))  # registered before a move of the node's database
    qualified, columns = _reflect(chosen, url, table_name)
    mapping = map_columns(items, columns, column_map)
    profile, total = _profile_sql(chosen, url, qualified, items, mapping, key)
    return _store(session, actor, entry, kind=SourceKind.SQL.value, location=chosen.location,
                  connection_id=chosen.id, table_name=qualified, key_item=key, column_map=mapping, row_count=total,
                  loaded_at=None, profile=profile, load_report={"source_columns": columns})


def _profile_sql(connection: DataConnection, url: str, qualified: str, items: list[DataItem],
                 mapping: dict[str, str], key: str) -> tuple[dict, int]:
    """The profile of the first SAMPLE_ROWS rows (streamed as Arrow), with the table's full row count."""
    source = SqlSource(url, qualified)
    columns = tuple(dict.fromkeys(mapping.values()))
    try:
        with source.engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(source.table)).scalar_one()
        sample = source.batches(Query(columns=columns, limit=profiling.SAMPLE_ROWS)).read_all()
    except DomainError:
        raise
    except Exception as exc:
        logger.warning("data connection %s: table %s not read: %r", connection.name, qualified, exc)
        raise connections.connection_failed(connection.name, field="table") from exc
    connection = duckdb.connect()
    try:
        connection.register("source_sample", sample)
        profile = profiling.profile_relation(connection, "source_sample", items, mapping, total_rows=int(total),
                                             sampled=int(total) > sample.num_rows, key_item=key)
    finally:
        connection.close()
    return profile, int(total)


# ---------------------------------------------------------------- upstream HTTP APIs


def connect_http(session: Session, actor: Actor, entry_id: int, connection: int | str, path: str, key_item: str,
                 key_param: str = "key", column_map: dict | None = None, probe_key: str | None = None) -> DataSource:
    """Connects the entry to an upstream API below the base address of one of its department's data
    connections, called on the requester's behalf. Its fields cannot be listed in advance, so `column_map`
    is required (every item); with `probe_key` the API is called once and the mapped fields must be in its
    answer."""
    entry = connectable(session, actor, entry_id)
    chosen = connections.usable(session, actor, entry.provider_id, connection, connections.ConnectionKind.HTTP)
    items = _items(session, entry)
    key = key_item_of(items, key_item)
    url = connections.http_url(chosen, connections.location_of(session, chosen), path)
    key_param = (key_param or "").strip()
    if not key_param:
        raise ValidationFailed("必须指定上游接口的主键参数名（如 key、sfzh）", field="key_param")
    if not column_map:
        raise ValidationFailed("上游接口无法列出其字段，必须用 column_map 为每个信息项指定接口返回的字段名",
                               field="column_map")
    fields = sorted({str(v) for v in column_map.values()})
    probe = None
    if probe_key:
        probe_query = Query(columns=tuple(fields), filters=((key_param, probe_key),))
        try:
            found_rows = HttpSource(url, key_param=key_param, internal=chosen.internal).rows(probe_query)
        except SourceUnavailable as exc:
            raise connections.connection_failed(chosen.name, field="probe_key") from exc
        if not found_rows:
            raise ValidationFailed(f"用探测主键 {probe_key} 调用上游接口未返回记录，无法核对字段", field="probe_key")
        missing = [f for f in fields if found_rows[0].get(f) is None]
        probe = {"key": probe_key, "fields_present": [f for f in fields if f not in missing]}
        fields = [f for f in fields if f not in missing] if missing else fields
    mapping = map_columns(items, fields, column_map)
    profile = profiling.profile_of_names(items)
    if probe:
        profile["probe"] = probe
    return _store(session, actor, entry, kind=SourceKind.HTTP.value, location=seal(session, url),
                  connection_id=chosen.id, table_name=key_param, key_item=key, column_map=mapping,
                  row_count=None, loaded_at=None, profile=profile, load_report={})


# ---------------------------------------------------------------- files


@dataclass
class Loaded:
    """A file read into Arrow: every column text, plus `_row` (1-based position among the data rows)."""

    table: pa.Table
    format: str
    encoding: str | None = None
    rows_read: int = 0
    rejected: dict[int, list[str]] = field(default_factory=dict)  # row -> reasons (the first bad rows)
    rejected_text: dict[int, str] = field(default_factory=dict)
    refused: int = 0  # rows the reader refused (not in `table`)
    flagged: int = 0  # rows read but not trusted (in `table`, skipped)

    @property
    def rejected_count(self) -> int:
        return self.refused + self.flagged

    def reject(self, row: int, reason: str, text: str = "") -> None:
        self.rejected.setdefault(row, []).append(reason)
        if text and row not in self.rejected_text:
            self.rejected_text[row] = text[:200]


def upload_limit(settings) -> int:
    """The largest data file an upload may be, in bytes: GOVSHARE_MAX_SOURCE_UPLOAD_MB, else MAX_UPLOAD_BYTES."""
    megabytes = settings.max_source_upload_mb
    return megabytes * 1024 * 1024 if megabytes else MAX_UPLOAD_BYTES


def _too_large(limit: int) -> TooLarge:
    shown = f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit} 字节"
    return TooLarge(f"上传文件过大：数据文件不能超过 {shown}；更大的数据请通过数据连接接入数据库表，"
                    "或请平台管理员调高上限", field="file", extra={"limit_bytes": limit})


@contextmanager
def _staged(path_or_bytes: Path | str | bytes | BinaryIO, folder: Path, suffix: str, limit: int) -> Iterator[Path]:
    """The upload as a file on disk (bytes and streams are copied to a temporary file next to the store,
    named with the upload's suffix: openpyxl goes by it). An upload over `limit` bytes is refused (413) as
    soon as it passes it: no more than `limit` bytes are written, and the copy is removed. A path (the
    command line: a file already on the node) is read where it is."""
    if isinstance(path_or_bytes, (str, Path)):
        path = Path(path_or_bytes)
        if not path.is_file():
            raise ValidationFailed(f"文件不存在：{path}", field="file")
        yield path
        return
    if isinstance(path_or_bytes, bytes) and len(path_or_bytes) > limit:
        raise _too_large(limit)
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            if isinstance(path_or_bytes, bytes):
                out.write(path_or_bytes)
            else:
                written = 0
                while chunk := path_or_bytes.read(min(1 << 20, limit - written + 1)):
                    written += len(chunk)
                    if written > limit:
                        raise _too_large(limit)
                    out.write(chunk)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def detect_encoding(path: Path) -> str:
    """utf-8 when the whole file decodes as UTF-8, else gb18030 (a superset of GBK and GB2312) when that
    decodes it; anything else is refused."""
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 22):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("无法识别文件编码：CSV 文件应为 UTF-8 或 GBK/GB18030 编码", field="file")


CSV_UNREADABLE = "CSV 文件无法解析：有的行列数与表头不一致或引号未闭合，请检查文件后重新上传"
PARQUET_UNREADABLE = "Parquet 文件无法读取：文件已损坏，或不是 Parquet 格式"


def _csv_header(path: Path, encoding: str) -> tuple[list[str], str]:
    """(the header cells, the delimiter): read from the first line only."""
    with path.open("r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as handle:
        first = handle.readline()
    delimiter = max((",", "\t", ";", "|"), key=first.count)
    delimiter = delimiter if first.count(delimiter) else ","
    header = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    return header, delimiter


def _check_header(header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    if not names or all(not n for n in names):
        raise ValidationFailed("文件第一行应为表头（列名），但它是空的", field="file")
    blank = [str(i + 1) for i, n in enumerate(names) if not n]
    if blank:  # a header reaching a far column has thousands: the first ones say enough
        more = f" 等 {len(blank)} 列" if len(blank) > 20 else " 列"
        raise ValidationFailed(f"表头第 {'、'.join(blank[:20])}{more}没有列名", field="file")
    duplicates = sorted(n for n, times in Counter(names).items() if times > 1)  # not names.count: 16,384 wide
    if duplicates:
        raise ValidationFailed(f"表头列名重复：{'、'.join(duplicates)}", field="file")
    if ROW in names:
        raise ValidationFailed(f"列名 {ROW} 为平台保留，请改名后再上传", field="file")
    return names


def _positions(count: int) -> pa.Array:
    """1, 2, …, count as an int64 array (vectorized)."""
    if count == 0:
        return pa.array([], pa.int64())
    return pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count))


def read_csv(path: Path) -> Loaded:
    """pyarrow's CSV reader, single-threaded so that it numbers the rows it refuses (a wrong number of
    fields, an unclosed quote); empty cells become NULL, everything else stays text as written."""
    encoding = detect_encoding(path)
    header, delimiter = _csv_header(path, encoding)
    names = _check_header(header)
    refused: list[tuple[int, int, str]] = []

    def invalid(row) -> str:
        refused.append((row.number - 1 if row.number else -1, row.actual_columns, row.text))
        return "skip"

    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(use_threads=False, encoding=encoding, block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                              invalid_row_handler=invalid),
            convert_options=pa_csv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                  strings_can_be_null=True, quoted_strings_can_be_null=True,
                                                  null_values=[""]))
    except pa.ArrowInvalid as exc:
        raise ValidationFailed(CSV_UNREADABLE, field="file") from exc  # pyarrow's words are English
    table = table.rename_columns(names)
    loaded = Loaded(table, "csv", encoding)
    # Good rows come out in file order; the refused ones have their position (pyarrow's row number, which
    # counts the header as 1): the good rows' positions are the others, in order.
    total = table.num_rows + len(refused)
    taken = pa.array([r for r, _, _ in refused], pa.int64())
    every = _positions(total)
    positions = pc.filter(every, pc.invert(pc.is_in(every, value_set=taken))) if refused else every
    loaded.table = table.append_column(ROW, positions)
    loaded.rows_read = total
    loaded.refused = len(refused)
    for row, count, text in refused[:MAX_REPORTED_ROWS]:
        loaded.reject(row, f"字段数为 {count}，应为 {len(names)}（分隔符或引号错误，或文本编码错乱）", text)
    return loaded


def _cell_text(value) -> str | None:
    """A spreadsheet cell as text: whole numbers without '.0', dates as ISO dates, times kept."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _xlsx_header(rows: Iterator[tuple[int, xlsx.Cells]]) -> tuple[int, list[str]]:
    """(the sheet row of the header, its cells as text): the first row with text; (0, []) if none."""
    for number, cells in rows:
        header = [_cell_text(c) or "" for c in xlsx.dense(cells)]
        if any(header):
            while not header[-1]:
                header.pop()
            return number, header
    return 0, []


def _scattered(count: int, every: pa.Array, rows: list[int], texts: list[str]) -> pa.Array:
    """A text column of `count` rows holding `texts` at the row indices `rows` (ascending), NULL elsewhere
    (vectorized: a sparse column costs its cells, not its rows, in Python)."""
    if len(rows) == count:
        return pa.array(texts, pa.string())
    if not rows:
        return pa.nulls(count, pa.string())
    held = pc.is_in(every, value_set=pa.array(rows, pa.int64()))
    return pc.replace_with_mask(pa.nulls(count, pa.string()), held, pa.array(texts, pa.string()))


def read_xlsx(path: Path) -> Loaded:
    """The first worksheet, by the cells the file holds (govshare.xlsx: never padded to the sheet's last row
    or column, so a far cell costs nothing); the first row with text is the header, blank rows are skipped,
    `_row` is the data row's position below the header (its sheet row less the header's). A row with text
    right of the header is refused row by row, as a field too many is in a CSV; a sheet whose data rows
    times header columns exceed MAX_XLSX_CELLS, or that cannot be read, is refused as a file."""
    workbook = xlsx.open_workbook(path)
    try:
        rows = xlsx.sheet_rows(workbook)
        header_row, header = _xlsx_header(rows)
        names = _check_header(header)
        width = len(names)
        held: list[tuple[list[int], list[str]]] = [([], []) for _ in names]  # per column: (row indices, texts)
        positions: list[int] = []
        loaded = Loaded(pa.table({}), "xlsx")
        for number, cells in rows:
            texts: dict[int, str | None] = {}
            for column, value in cells:
                texts[column] = _cell_text(value)
            texts = {column: text for column, text in texts.items() if text}
            if not texts:
                continue
            position = number - header_row
            loaded.rows_read += 1
            if loaded.rows_read * width > MAX_XLSX_CELLS:
                raise ValidationFailed(f"XLSX 工作表过大：数据行数 × 表头列数超过 {MAX_XLSX_CELLS} 个单元格；"
                                       "请拆分文件，或改为 CSV 或 Parquet 文件上传", field="file")
            extra = [column for column in texts if column > width]
            if extra:
                loaded.refused += 1
                loaded.reject(position, f"表头之外还有 {len(extra)} 个单元格有内容（第 {width + 1} 列及以后）",
                              "，".join(texts[column] for column in sorted(texts)))
                continue
            for column, text in texts.items():
                indices, values = held[column - 1]
                indices.append(len(positions))
                values.append(text)
            positions.append(position)
    finally:
        workbook.close()
    count = len(positions)
    every = pc.subtract(_positions(count), 1)
    arrays = {name: _scattered(count, every, *column) for name, column in zip(names, held, strict=True)}
    loaded.table = pa.table({**arrays, ROW: pa.array(positions, pa.int64())})
    return loaded


def read_parquet(path: Path) -> Loaded:
    """Every column cast to text (dates to ISO dates, numbers as written); nested columns are refused."""
    try:
        source = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationFailed(PARQUET_UNREADABLE, field="file") from exc
    names = _check_header([str(n) for n in source.column_names])
    arrays = {}
    for name, column in zip(names, source.columns, strict=True):
        try:
            arrays[name] = pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationFailed(f"Parquet 列 {name} 的类型 {column.type} 不能作为文本提供", field="file") from exc
    table = pa.table({**arrays, ROW: _positions(source.num_rows)})
    return Loaded(table, "parquet", rows_read=source.num_rows)


READERS = {"csv": read_csv, "xlsx": read_xlsx, "parquet": read_parquet}


def read_header(path: Path, file_kind: str) -> list[str]:
    """The file's column names, read without its rows (a mapping mismatch is reported before loading)."""
    if file_kind == "csv":
        return _check_header(_csv_header(path, detect_encoding(path))[0])
    if file_kind == "parquet":
        try:
            return _check_header([str(n) for n in pq.read_schema(path).names])
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValidationFailed(PARQUET_UNREADABLE, field="file") from exc
    workbook = xlsx.open_workbook(path)
    try:
        return _check_header(_xlsx_header(xlsx.sheet_rows(workbook))[1])
    finally:
        workbook.close()


def file_format(filename: str) -> str:
    suffix = Path(filename or "").suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ValidationFailed(f"不支持的文件类型：{suffix or filename!r}；可上传 CSV、XLSX 或 Parquet 文件",
                               field="file")
    return FILE_FORMATS[suffix]


def _bad_rows(loaded: Loaded, key_column: str, key_label: str,
              key_hints: tuple[str, ...]) -> tuple[pa.Array, str | None]:
    """A boolean mask of the rows to skip (vectorized): mis-decoded text (U+FFFD in any cell), an empty key,
    or a key that fails the check of its kind (the kind detected on the key column). The reasons of the first
    MAX_REPORTED_ROWS bad rows are added to `loaded.rejected`; all are counted."""
    table = loaded.table
    names = [n for n in table.column_names if n != ROW]
    garbled = {name: pc.fill_null(pc.match_substring(table.column(name), REPLACEMENT), False) for name in names}
    key = table.column(key_column)
    empty_key = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(key), ""), True)
    key_values = [v for v in pc.drop_null(key).slice(0, profiling.KIND_SAMPLE * 5).to_pylist() if v.strip()]
    kind, _share = profiling.detect_kind(key_values[: profiling.KIND_SAMPLE], key_hints)
    invalid_key = None
    if kind in profiling.CHECKED_KINDS:
        invalid_key = pc.and_(pc.invert(profiling.valid_mask(kind, key)), pc.invert(empty_key))
    bad = empty_key
    for mask in [*garbled.values(), *([invalid_key] if invalid_key is not None else [])]:
        bad = pc.or_(bad, mask)
    bad = bad.combine_chunks() if isinstance(bad, pa.ChunkedArray) else bad
    loaded.flagged = pc.sum(pc.cast(bad, pa.int64())).as_py() or 0
    if not loaded.flagged:
        return bad, kind
    # Reasons for the first bad rows only: a short Python pass over at most MAX_REPORTED_ROWS rows.
    first = table.filter(bad).slice(0, MAX_REPORTED_ROWS)
    picked = {name: pc.filter(garbled[name], bad).slice(0, MAX_REPORTED_ROWS).to_pylist() for name in names}
    invalid = pc.filter(invalid_key, bad).slice(0, MAX_REPORTED_ROWS).to_pylist() if invalid_key is not None else None
    kind_label = profiling.Kind(kind).label if kind else ""
    values = {name: first.column(name).to_pylist() for name in names}
    for index, row in enumerate(first.column(ROW).to_pylist()):
        broken = [name for name in names if picked[name][index]]
        value = values[key_column][index]
        if broken:
            loaded.reject(row, f"含无法识别的字符（U+FFFD，文本编码错乱）：{'、'.join(broken)}")
        if value is None or not value.strip():
            loaded.reject(row, f"主键信息项（{key_label}）为空")
        elif invalid is not None and invalid[index]:
            loaded.reject(row, f"主键信息项（{key_label}）不是有效的{kind_label}：{value[:40]}")
        loaded.rejected_text.setdefault(row, ",".join(values[name][index] or "" for name in names)[:200])
    return bad, kind


def connect_file(session: Session, actor: Actor, entry_id: int, path_or_bytes: Path | str | bytes | BinaryIO,
                 filename: str, key_item: str, column_map: dict | None = None,
                 progress: Progress | None = None) -> DataSource:
    """Loads a CSV, XLSX or Parquet file into the managed store and connects the entry to it. Bad rows are
    reported row by row in `load_report` and skipped; the good rows are served."""
    report = progress or _no_progress
    entry = connectable(session, actor, entry_id)
    items = _items(session, entry)
    key = key_item_of(items, key_item)
    file_kind = file_format(filename or getattr(path_or_bytes, "name", "") or str(path_or_bytes))
    settings = settings_of(session)
    folder = settings.data_dir / "sources" / str(entry.id)
    report(FILE_STAGES[0])
    suffix = Path(filename or "").suffix.lower()
    with _staged(path_or_bytes, settings.data_dir / "sources" / "uploads", suffix, upload_limit(settings)) as path:
        names = read_header(path, file_kind)
        mapping = map_columns(items, names, column_map)
        loaded = READERS[file_kind](path)
    report(FILE_STAGES[1])
    key_of = next(i for i in items if i.name == key)
    bad, key_kind = _bad_rows(loaded, mapping[key], key_of.chinese_name, (key_of.name, key_of.chinese_name))
    kept_columns = [*dict.fromkeys(mapping.values()), ROW]
    good = loaded.table.filter(pc.invert(bad)).select(kept_columns)
    if good.num_rows == 0:
        raise ValidationFailed(f"文件中没有可用的数据行（共 {loaded.rows_read} 行，均有问题）", field="file",
                               extra={"bad_rows": _report_rows(loaded)[:20]})
    report(FILE_STAGES[2])
    folder.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    target = folder / f"{now:%Y%m%dT%H%M%S%f}.parquet"
    partial = target.with_suffix(".part")
    # Only the mapped columns are kept (minimum necessary), sorted by position: pages use `_row` as cursor.
    pq.write_table(good.sort_by(ROW), partial, compression="zstd")
    os.replace(partial, target)
    cleanup_after(session, None, target)
    report(FILE_STAGES[3])
    connection = duckdb.connect()
    try:
        profile = profiling.profile_relation(connection, f"read_parquet({quote_literal(str(target))})", items,
                                             mapping, key_item=key)
    finally:
        connection.close()
    load_report = {
        "format": loaded.format, "encoding": loaded.encoding, "filename": Path(filename or "").name,
        "rows_read": loaded.rows_read, "rows_loaded": good.num_rows, "rejected": loaded.rejected_count,
        "key_kind": key_kind, "bad_rows": _report_rows(loaded)[:MAX_REPORTED_ROWS],
        "truncated": loaded.rejected_count > MAX_REPORTED_ROWS, "source_columns": names,
        "unused_columns": [n for n in names if n not in mapping.values()],
    }
    return _store(session, actor, entry, kind=SourceKind.FILE.value,
                  location=target.relative_to(settings.data_dir).as_posix(), connection_id=None, table_name="",
                  key_item=key,
                  column_map=mapping, row_count=good.num_rows, loaded_at=now, profile=profile,
                  load_report=load_report)


def _report_rows(loaded: Loaded) -> list[dict]:
    return [{"row": row, "reasons": reasons, "text": loaded.rejected_text.get(row, "")}
            for row, reasons in sorted(loaded.rejected.items())]


# ---------------------------------------------------------------- confirming the profile


def _rank(grade: str, personal_info: str) -> tuple[int, int]:
    return GRADE_RANK[Grade(grade)], profiling.PI_RANK[PersonalInfo(personal_info)]


def confirm_profile(session: Session, actor: Actor, entry_id: int, grades: dict | None = None, *,
                    accept_all: bool = False, reason: str = "") -> DataSource:
    """The provider confirms the grades and personal-information flags of the entry's items: the profile's
    suggestions (`accept_all`) and/or its own choice per item (`grades`: item -> {grade, personal_info}).

    A confirmation may keep or raise an item's protection, and it applies at once to the published entry as
    a classification correction (an entry event records who, when, what and why; the entry's grade is raised
    with its items, R17). Lowering a published grade loosens masking and approval: that goes through a
    catalog revision, which the competent authority approves (R05), and is refused here."""
    entry, source = _own_source(session, actor, entry_id)
    if source.status != SourceStatus.CONNECTED:
        raise Conflict("数据源已断开，不能确认其画像", field="status")
    if not grades and not accept_all:
        raise ValidationFailed("请逐项确认分级和个人信息标识，或选择全部采纳建议", field="grades")
    items = {item.name: item for item in _items(session, entry)}
    suggested = (source.profile or {}).get("items", {})
    wanted: dict[str, tuple[str, str]] = {}
    if accept_all:
        for name, item in items.items():
            hint = suggested.get(name, {})
            wanted[name] = (hint.get("suggested_grade") or item.grade,
                            hint.get("suggested_personal_info") or item.personal_info)
    for key, choice in (grades or {}).items():
        item = _item_named(list(items.values()), str(key))
        if item is None:
            raise ValidationFailed(f"信息项不属于该目录：{key}", field="grades")
        choice = choice or {}
        grade = Grade.parse(str(choice.get("grade") or item.grade))
        personal_info = PersonalInfo.parse(str(choice.get("personal_info") or item.personal_info))
        if grade is None:
            raise ValidationFailed(f"信息项 {item.chinese_name} 的分级无效：{choice.get('grade')}；可选："
                                   + "、".join(Grade.labels().values()), field="grades")
        if personal_info is None:
            raise ValidationFailed(f"信息项 {item.chinese_name} 的个人信息标识无效：{choice.get('personal_info')}；"
                                   "可选：" + "、".join(PersonalInfo.labels().values()), field="grades")
        wanted[item.name] = (grade.value, personal_info.value)
    lowered = [items[n] for n, (g, p) in wanted.items()
               if _rank(g, p)[0] < _rank(items[n].grade, items[n].personal_info)[0]
               or _rank(g, p)[1] < _rank(items[n].grade, items[n].personal_info)[1]]
    if lowered:
        raise ValidationFailed("确认画像只能维持或提高分级和个人信息保护；降低以下信息项须提交目录修订，"
                               "经主管部门审核：" + "、".join(f"{i.chinese_name}（{i.name}）" for i in lowered),
                               field="grades")
    changes = [(items[n], g, p) for n, (g, p) in wanted.items() if (g, p) != (items[n].grade, items[n].personal_info)]
    if changes:
        _correct_classification(session, actor, entry, changes, reason)
    source.confirmed_at, source.confirmed_by_id = utcnow(), actor.user_id
    session.flush()
    return source


def _correct_classification(session: Session, actor: Actor, entry: CatalogEntry,
                            changes: list[tuple[DataItem, str, str]], reason: str) -> None:
    pending = session.scalars(select(EntryRevision.id).where(
        EntryRevision.entry_id == entry.id,
        EntryRevision.status.in_([RevisionStatus.DRAFT, RevisionStatus.SUBMITTED]))).first()
    if pending is not None:
        # the revision carries the whole entry and would put the old grades back when approved
        raise Conflict(f"该目录有待审核的修订（{pending}），请在修订中调整分级，或待修订审核后再确认", field="revision")
    lines = []
    for item, grade, personal_info in changes:
        before = f"{Grade(item.grade).label}/{PersonalInfo(item.personal_info).label}"
        after = f"{Grade(grade).label}/{PersonalInfo(personal_info).label}"
        lines.append(f"{item.chinese_name}（{item.name}）：{before} → {after}")
        item.grade, item.personal_info = grade, personal_info
    highest = max((i.grade for i in entry.items), key=lambda g: GRADE_RANK[Grade(g)])
    if GRADE_RANK[Grade(highest)] > GRADE_RANK[Grade(entry.grade)]:
        lines.append(f"目录分级：{Grade(entry.grade).label} → {Grade(highest).label}（不低于信息项的最高分级）")
        entry.grade = highest
    text = "接入数据源后确认分级和个人信息标识：" + "；".join(lines)
    if reason.strip():
        text += f"。说明：{reason.strip()}"
    session.add(EntryEvent(entry_id=entry.id, action="classification_confirmed", reason=text, actor_id=actor.user_id))
    catalog._changed(session, entry)  # the entry's grade is indexed for search


# ---------------------------------------------------------------- disconnecting


def disconnect(session: Session, actor: Actor, entry_id: int, reason: str) -> DataSource:
    """Stops serving the entry from its source, saying why (on the entry's record). While grants are in force
    this would stop a sharing service, which needs the competent authority's approval (R11): refused then."""
    entry, source = _own_source(session, actor, entry_id)
    if source.status != SourceStatus.CONNECTED:
        raise Conflict("数据源已经断开", field="status")
    reason = required_reason(reason, "断开数据源必须说明理由")
    in_force = session.scalar(select(func.count()).select_from(Grant).where(
        Grant.entry_id == entry.id, Grant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED])))
    if in_force:
        raise Conflict(f"该目录仍有 {in_force} 项有效的共享授权，断开数据源会中断共享服务；停止服务须报主管部门批准"
                       "（共享服务变更），或先终止这些授权。更换数据源请直接重新接入", field="grants")
    if source.kind == SourceKind.FILE and source.location:
        cleanup_after(session, managed_path(session, source), None)
    source.status = SourceStatus.DISCONNECTED.value
    session.add(EntryEvent(entry_id=entry.id, action="source_disconnected", reason=reason,
                           actor_id=actor.user_id))
    session.flush()
    return source


# ---------------------------------------------------------------- views


def _shown_location(session: Session, source: DataSource) -> str:
    """Where the source is, without secrets: a database URL without its password, an API URL without its
    query string, a managed file by its store path."""
    if source.kind == SourceKind.FILE:
        return source.location
    return connections.shown_location(session, source.kind, source.location)


def source_view(session: Session, source: DataSource) -> dict:
    """The source as the API, the CLI and the pages show it: profile per item next to the item's grade."""
    entry = source.entry
    items = _items(session, entry)
    profiled = (source.profile or {}).get("items", {})
    confirmed_by = None
    if source.confirmed_by_id:
        from govshare.orgs.models import User

        user = session.get(User, source.confirmed_by_id)
        confirmed_by = user.username if user else None
    rows = []
    for item in items:
        p = profiled.get(item.name, {})
        kind = p.get("kind")
        rows.append({
            "name": item.name, "chinese_name": item.chinese_name, "column": source.column_map.get(item.name),
            "grade": item.grade, "personal_info": item.personal_info,
            "nulls": p.get("nulls"), "distinct": p.get("distinct"), "kind": kind,
            "kind_label": profiling.Kind(kind).label if kind else None, "match_ratio": p.get("match_ratio"),
            "suggested_grade": p.get("suggested_grade"), "suggested_personal_info": p.get("suggested_personal_info"),
            "suggested_masking": p.get("suggested_masking"),
            "is_key": item.name == source.key_item,
        })
    profile = source.profile or {}
    return {
        "entry_id": entry.id, "entry_name": entry.name, "resource_code": entry.resource_code,
        "provider_id": entry.provider_id, "provider_name": entry.provider.name,
        "kind": source.kind, "kind_label": SourceKind(source.kind).label,
        "status": source.status, "status_label": SourceStatus(source.status).label,
        "location": _shown_location(session, source),
        "connection_name": source.connection.name if source.connection else "",
        "table_name": source.table_name if source.kind == "sql" else "",
        "key_param": source.table_name if source.kind == "http" else "",
        "key_item": source.key_item, "column_map": dict(source.column_map or {}),
        "row_count": source.row_count, "loaded_at": source.loaded_at,
        "profile_rows": profile.get("rows"), "sampled": bool(profile.get("sampled")),
        "sample_rows": profile.get("sample_rows"), "items": rows,
        "load_report": dict(source.load_report or {}),
        "confirmed_at": source.confirmed_at, "confirmed_by": confirmed_by,
        "created_at": source.created_at, "updated_at": source.updated_at,
    }
