"""Import of catalog files: the standard spreadsheet (XLSX with sheets 目录 and 信息项, or the CSV pair
NAME.csv + NAME.items.csv) and JSON/CSV catalogs of other portals whose columns differ.

Every row goes through catalog.service (the single place for the rules) in its own SAVEPOINT, so a bad
row is reported (row, column, rule) and the good rows are kept. Each row carries an external key (the
hash of its url, else of the normalized row), so importing the same file again creates nothing new. A
resource code the file carries (资源代码 of the standard export) is kept when it is free, so related codes
still point to the same entries after an export and import."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from govshare import messages, xlsx
from govshare.authz import Actor, require_role
from govshare.catalog import grades, service
from govshare.catalog import mapping as m
from govshare.catalog.exporter import ITEM_SHEET, UNKNOWN_DATE, items_csv_path
from govshare.catalog.models import CatalogEntry
from govshare.catalog.schemas import EntryIn, ItemIn
from govshare.catalog.vocab import (
    DataFormat,
    EntryStatus,
    Grade,
    ItemType,
    LabelledEnum,
    OpenAttribute,
    PersonalInfo,
    ShareMethod,
    ShareType,
    UpdateCycle,
)
from govshare.errors import DomainError, TooLarge, ValidationFailed
from govshare.orgs import service as orgs
from govshare.orgs.models import LEVEL_LABELS, Department, DepartmentAlias, Level, Role
from govshare.spreadsheet import restore

ENTRY_SHEET = "目录"
OPEN_SHARE_CONDITION = "{label}数据：经提供单位审核同意后按申请用途共享"
GRADED_SHARE_CONDITION = "含{grade}数据：经提供单位审核同意后按申请用途共享"
GRADED_SHARE_NOTE = ("无条件开放但含重要或核心数据（分级）的目录不得无条件共享，按“有条件共享”登记，"
                     "共享条件：“含重要（或核心）数据：经提供单位审核同意后按申请用途共享”")
KEY_QUERY_CHUNK = 500
BATCH_SIZE = 1000  # rows created per SAVEPOINT; a failing batch is retried row by row
# What a catalog file may be: the real portal catalogs are < 1 MB with < 40 columns and 4 levels of JSON.
SUFFIXES = (".xlsx", ".xlsm", ".csv", ".json")
MAX_NAME_CHARS = 200
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_COLUMNS = 1000
MAX_JSON_DEPTH = 32
SHEET_BROKEN = "无法读取 Excel 文件（工作表内容损坏）"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
NUL_RULE = "不能含空字符（\\x00）"

ENUMS: dict[str, type[LabelledEnum]] = {
    "data_format": DataFormat, "share_type": ShareType, "share_method": ShareMethod,
    "open_attribute": OpenAttribute, "update_cycle": UpdateCycle, "grade": Grade,
}
ITEM_ENUMS: dict[str, type[LabelledEnum]] = {"data_type": ItemType, "grade": Grade, "personal_info": PersonalInfo}


# ---------------------------------------------------------------- reading files


def file_name(name: str | None, field: str = "file") -> str:
    """The name a catalog file is known by (the report, the import reason): the last part of the path the
    client or the command line gave. Refused with a 422 naming `field` when it cannot name a file."""
    base = re.split(r"[/\\]", name or "")[-1].strip()
    if base in ("", ".", ".."):
        raise ValidationFailed("文件名无效：应为文件的名称（如 目录.xlsx），不能为空、“.”、“..”或以“/”结尾",
                               field=field)
    if CONTROL_CHARACTERS.search(base):
        raise ValidationFailed("文件名无效：不能含控制字符", field=field)
    if len(base) > MAX_NAME_CHARS:
        raise ValidationFailed(f"文件名过长：不能超过{MAX_NAME_CHARS}个字符（现为{len(base)}个）", field=field)
    if not base.lower().endswith(SUFFIXES):
        suffix = Path(base).suffix or "无扩展名"
        raise ValidationFailed(f"不支持的文件类型：{suffix}（支持 .xlsx、.csv、.json）", field=field)
    return base


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, dict]]  # (row number as a person counts it in the file, {header: value})
    sheet: str = ""


@dataclass
class Source:
    name: str
    entries: Table
    items: Table | None = None


def _table_from_matrix(matrix, sheet: str = "", field: str = "file") -> Table:
    """Rows of cells, each with its number (the file's line or sheet row), the first non-empty one the
    header."""
    headers: list[str] | None = None
    rows: list[tuple[int, dict]] = []
    for number, cells in matrix:
        values = list(cells)
        if not any(m.text(v) for v in values):
            continue
        if headers is None:
            headers = [m.text(v) for v in values]
            while headers and not headers[-1]:
                headers.pop()
            _check_columns([h for h in headers if h], field)
            continue
        # a cell an export neutralized against formula injection ('=…) is read back as it was stored
        rows.append((number, {h: restore(v) for h, v in zip(headers, values, strict=False) if h}))
    return Table(headers=[h for h in headers or [] if h], rows=rows, sheet=sheet)


def _check_columns(headers: list, field: str) -> None:
    if len(headers) > MAX_COLUMNS:
        raise ValidationFailed(f"表头列数过多：不能超过{MAX_COLUMNS}列", field=field)


def _decode(raw: bytes, field: str = "file") -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("文件编码无法识别（应为 UTF-8 或 GB18030）", field=field)


def read_csv_text(text: str, sheet: str = "", field: str = "file") -> Table:
    reader = csv.reader(io.StringIO(text))
    try:
        return _table_from_matrix(enumerate(reader, start=1), sheet, field)
    except csv.Error as exc:  # a cell longer than csv.field_size_limit(), a stray quote or line break
        rule = f"单元格过长（超过{csv.field_size_limit()}个字符）或引号、换行不配对"
        raise ValidationFailed(f"CSV 文件第{reader.line_num}行无法读取：{rule}", field=field) from exc


def _parse_json(text: str):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"JSON 文件格式错误：{exc.msg}（第{exc.lineno}行）", field="file") from exc
    except RecursionError:  # nested beyond what the parser follows: too deep by far
        raise _nested_too_deep() from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ValidationFailed("JSON 文件格式错误：数字位数过多", field="file") from exc
    if _too_deep(data):
        raise _nested_too_deep()
    return data


def _nested_too_deep() -> ValidationFailed:
    return ValidationFailed(f"JSON 文件嵌套过深：不能超过{MAX_JSON_DEPTH}层（目录文件应为目录对象的列表）",
                            field="file")


def _too_deep(data) -> bool:
    """More than MAX_JSON_DEPTH nested lists and objects (counted without recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def read_json_bytes(raw: bytes) -> Table:
    data = _parse_json(_decode(raw))
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise ValidationFailed("JSON 文件应为目录对象的列表（或只含一个列表的对象）", field="file")
        data = lists[0]
    if not isinstance(data, list):
        raise ValidationFailed("JSON 文件应为目录对象的列表", field="file")
    headers: dict[str, None] = {}
    rows = []
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            row = {"_": row}
        headers.update(dict.fromkeys(row))
        rows.append((number, row))
    _check_columns(list(headers), "file")
    return Table(headers=list(headers), rows=rows)


def read_xlsx(path: Path) -> Source:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a broken file
        raise ValidationFailed(f"无法读取 Excel 文件（应为 .xlsx 工作簿）：{exc}", field="file") from exc
    try:
        names = workbook.sheetnames
        entry_sheet = ENTRY_SHEET if ENTRY_SHEET in names else next((n for n in names if n != ITEM_SHEET), names[0])
        entries = _read_sheet(workbook, entry_sheet)
        items = _read_sheet(workbook, ITEM_SHEET) if ITEM_SHEET in names else None
    except DomainError:
        raise
    except Exception as exc:  # a sheet whose XML is broken fails only when its rows are read
        raise ValidationFailed(SHEET_BROKEN, field="file") from exc
    finally:
        workbook.close()
    return Source(name=path.name, entries=entries, items=items)


def _read_sheet(workbook, sheet: str) -> Table:
    """The rows the sheet has, numbered by their sheet row (govshare.xlsx: never padded to the sheet's last
    row or column); one column past the limit is enough to tell a sheet that is too wide."""
    rows = xlsx.sheet_rows(workbook, sheet, message=SHEET_BROKEN)
    return _table_from_matrix(((number, xlsx.dense(cells, MAX_COLUMNS + 1)) for number, cells in rows), sheet)


def read_source(path: Path, *, name: str | None = None, items_path: Path | None = None) -> Source:
    """Reads an .xlsx, .csv (with NAME.items.csv beside it when present) or .json catalog file. `name`: the
    name the file is known by, when the path on disk is a temporary one (uploads)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed(f"文件不存在或不是普通文件：{path}", field="file")
    name = file_name(name or path.name)
    suffix = Path(name).suffix.lower()
    if path.stat().st_size == 0:
        raise ValidationFailed(f"文件为空：{name}", field="file")
    if suffix in (".xlsx", ".xlsm"):
        source = read_xlsx(path)
        source.name = name
        return source
    if suffix == ".json":
        return Source(name=name, entries=read_json_bytes(path.read_bytes()))
    entries = read_csv_text(_decode(path.read_bytes()), ENTRY_SHEET)
    beside = items_path or items_csv_path(path)
    items = read_csv_text(_decode(beside.read_bytes(), "items"), ITEM_SHEET, "items") if beside.is_file() else None
    return Source(name=name, entries=entries, items=items)


# ---------------------------------------------------------------- the report


@dataclass
class ImportReport:
    file: str
    total_rows: int = 0
    created: int = 0
    unchanged: int = 0
    updated: int = 0  # drafts or returned entries of this node changed by their row (same resource code)
    revisions: int = 0  # published entries of this node: a revision awaiting review, never a direct change
    rejected: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    defaults: list[dict] = field(default_factory=list)
    departments_created: list[str] = field(default_factory=list)
    seconds: float = 0.0
    published: bool = False
    entry_ids: list[int] = field(default_factory=list, repr=False)

    def reject(self, row: int, column: str, rule: str, value: object = None, sheet: str = "") -> None:
        problem = {"row": row, "column": column, "rule": rule, "value": m.text(value)}
        if sheet:
            problem["sheet"] = sheet
        self.rejected.append(problem)

    @property
    def rejected_rows(self) -> int:
        return len({(p.get("sheet", ""), p["row"]) for p in self.rejected if p.get("sheet", "") != ITEM_SHEET})

    def to_dict(self) -> dict:
        return {
            "file": self.file, "total_rows": self.total_rows, "created": self.created,
            "unchanged": self.unchanged, "updated": self.updated, "revisions": self.revisions,
            "rejected": self.rejected, "duplicates": self.duplicates,
            "mapping": self.mapping, "ignored_columns": self.ignored_columns, "defaults": self.defaults,
            "departments_created": self.departments_created, "seconds": round(self.seconds, 3),
            "published": self.published,
        }


class RowRejected(Exception):
    def __init__(self, target: str, rule: str, value: object = None, *, column: str | None = None) -> None:
        super().__init__(rule)
        self.target, self.rule, self.value, self.column = target, rule, value, column


class _Defaults:
    """Collects what the import derived or assumed, per field and note, with the rows concerned."""

    def __init__(self) -> None:
        self._notes: dict[tuple[str, str], dict] = {}

    def add(self, column: str, note: str, rows: list[int]) -> None:
        entry = self._notes.setdefault((column, note), {"column": column, "note": note, "rows": 0, "first_rows": []})
        entry["rows"] += len(rows)
        entry["first_rows"] = sorted([*entry["first_rows"], *rows])[:5]

    def as_list(self) -> list[dict]:
        return sorted(self._notes.values(), key=lambda n: -n["rows"])


# ---------------------------------------------------------------- one row -> EntryIn


@dataclass
class _Row:
    number: int
    raw: dict
    payload: dict = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)
    provider: str = ""
    provider_code: str = ""
    provider_region: str = ""
    provider_level: str = ""
    data_updated_at: datetime | None = None
    items: list[tuple[int, dict]] = field(default_factory=list)
    key: str = ""


class _RowBuilder:
    """Turns one source row into the payload of EntryIn, deriving what real portals leave out."""

    def __init__(self, mapping: m.ColumnMapping) -> None:
        self.mapping = mapping
        self.labels = m.standard_headers("entry")

    def column(self, target: str) -> str:
        return self.mapping.source(target) or self.labels.get(target, target)

    def value(self, row: _Row, target: str) -> object:
        source = self.mapping.source(target)
        return None if source is None else row.raw.get(source)

    def present(self, row: _Row, target: str) -> bool:
        return not m.is_blank(self.value(row, target))

    def note(self, row: _Row, target: str, note: str) -> None:
        row.notes.append((self.column(target), note))

    def read_provider(self, row: _Row) -> None:
        row.provider = m.text(self.value(row, "provider"))
        row.provider_code = m.text(self.value(row, "provider_code")).upper()
        row.provider_region = m.text(self.value(row, "provider_region"))
        row.provider_level = m.text(self.value(row, "provider_level"))

    def build(self, row: _Row) -> None:
        p = row.payload
        name = m.text(self.value(row, "name"))
        if not name:
            raise RowRejected("name", "目录名称不能为空")
        p["name"] = name
        p["abstract"] = m.text(self.value(row, "abstract"))
        for target in ("source_system", "secrecy", "legal_basis", "share_condition", "open_condition"):
            p[target] = m.text(self.value(row, target))
        self._theme_and_classification(row)
        p["tags"] = m.split_tags(self.value(row, "tags"), self.value(row, "industry"))
        p["source_url"] = self._source_url(row)
        formats = self._data_format(row)
        embedded = self.value(row, "items")
        if isinstance(embedded, list):
            row.items = [(n, i) for n, i in enumerate(embedded, start=1) if isinstance(i, dict)]
        self._open_and_share(row, formats)
        self._update_cycle(row)
        p["publish_date"] = self._date(row, "publish_date")
        # 未知 (what the export writes for an unknown date) is no date either: the date stays unknown (None), it is
        # not the import time, and the update cycle (R05) counts from the publish date (catalog.service)
        unknown = m.text(self.value(row, "data_updated_at")) == UNKNOWN_DATE
        updated = None if unknown else self._date(row, "data_updated_at")
        row.data_updated_at = datetime.combine(updated, dtime()) if updated else None
        if self.mapping.source("data_updated_at") and updated is None:
            self.note(row, "data_updated_at", "数据更新时间为空，记为未知（按发布日期计算是否过期）")
        p["related_codes"] = [c for c in re.split(r"[,，;；、\s]+", m.text(self.value(row, "related_codes"))) if c]
        if self.present(row, "grade"):
            p["grade"] = m.text(self.value(row, "grade"))
        else:
            self.note(row, "grade", f"未提供分级，按“{Grade.GENERAL_1.label}”登记")

    def _source_url(self, row: _Row) -> str:
        """The portal's page of the entry; an address that is not a web page is kept out (and said), not a
        reason to refuse the row."""
        url = m.text(self.value(row, "url"))
        if url and not (len(url) <= 500 and service.SOURCE_URL.match(url)):
            self.note(row, "url", "来源页面不是 http/https 网址，未保存")
            return ""
        return url

    def _parsed(self, row: _Row, target: str, parse):
        """`parse` applied to the row's value for `target`; an unreadable value rejects the row, naming it."""
        raw = self.value(row, target)
        try:
            return parse(raw)
        except m.UnreadableValue as exc:
            raise RowRejected(target, exc.rule, raw) from None

    def _date(self, row: _Row, target: str):
        return self._parsed(row, target, m.parse_date)

    def _theme_and_classification(self, row: _Row) -> None:
        themes = m.split_themes(self.value(row, "theme"))
        row.payload["theme"] = "、".join(themes)[:60]
        if self.present(row, "classification_code"):
            row.payload["classification_code"] = m.text(self.value(row, "classification_code"))
            return
        code = m.theme_classification(themes[0]) if themes else None
        if code is None:
            code = m.THEME_CLASS + m.UNKNOWN_THEME
            shown = f"“{themes[0]}”" if themes else "为空"
            self.note(row, "classification_code", f"主题{shown}不在主题分类表中，分类代码按“{code}”（主题·其他）登记")
        else:
            self.note(row, "classification_code", "分类代码按主题分类表由主题领域推定（主题信息资源·项）")
        row.payload["classification_code"] = code

    def _data_format(self, row: _Row) -> set[DataFormat]:
        if not self.present(row, "data_format"):
            self.note(row, "data_format", f"数据格式缺失，按“{DataFormat.DOCUMENT.label}”登记")
            row.payload["data_format"] = DataFormat.DOCUMENT
            return {DataFormat.DOCUMENT}
        raw = self.value(row, "data_format")
        primary, tokens = self._parsed(row, "data_format", m.parse_data_formats)
        row.payload["data_format"] = primary
        if len(tokens) > 1:
            listed = "、".join(tokens)
            row.payload["abstract"] = f"{row.payload['abstract']}\n提供格式：{listed}".strip()
            self.note(row, "data_format", "多种数据格式：以第一种为主要格式，全部格式记入摘要（提供格式：…）")
        elif m.text(raw) != primary.label:
            self.note(row, "data_format", "数据格式按格式对照表归入标准类别（如 xls→电子表格、api→服务接口）")
        return m.format_categories(tokens) or {primary}

    def _open_and_share(self, row: _Row, formats: set[DataFormat]) -> None:
        p = row.payload
        share_given = self.present(row, "share_type")
        if self.present(row, "open_attribute"):
            p["open_attribute"] = self._parsed(row, "open_attribute", m.parse_open_attribute)
            source_label = m.text(self.value(row, "open_attribute"))
            if source_label != p["open_attribute"].label:
                self.note(row, "open_attribute",
                          "开放属性按对照表归一（普遍开放→无条件开放，依申请/安全开放→有条件开放，“开发”按“开放”）")
        else:
            p["open_attribute"] = OpenAttribute.CLOSED if share_given else OpenAttribute.CONDITIONAL
            source_label = p["open_attribute"].label
            self.note(row, "open_attribute", f"未提供开放属性，按“{p['open_attribute'].label}”登记")
        if p["open_attribute"] == OpenAttribute.CONDITIONAL and not p["open_condition"]:
            p["open_condition"] = source_label if source_label in ("依申请开放", "安全开放") else "有条件开放"
        if share_given:
            raw = self.value(row, "share_type")
            p["share_type"] = ShareType.parse(m.text(raw))
            if p["share_type"] is None:
                raise RowRejected("share_type", "共享类型应为 无条件共享/有条件共享/不予共享", raw)
        elif p["open_attribute"] == OpenAttribute.OPEN and (graded := self._grade_needing_reply(row)):
            p["share_type"] = ShareType.CONDITIONAL
            p["share_condition"] = GRADED_SHARE_CONDITION.format(grade=graded.label)
            self.note(row, "share_type", GRADED_SHARE_NOTE)
        elif p["open_attribute"] == OpenAttribute.OPEN:
            p["share_type"] = ShareType.UNCONDITIONAL
            self.note(row, "share_type", "无条件开放的数据按“无条件共享”登记")
        else:
            p["share_type"] = ShareType.CONDITIONAL
            label = p["open_condition"] if p["open_condition"] in ("依申请开放", "安全开放") else "有条件开放"
            p["share_condition"] = p["share_condition"] or OPEN_SHARE_CONDITION.format(label=label)
            self.note(row, "share_type",
                      "非无条件开放的数据按“有条件共享”登记，共享条件：“经提供单位审核同意后按申请用途共享”")
        if self.present(row, "share_method"):
            raw = self.value(row, "share_method")
            p["share_method"] = ShareMethod.parse(m.text(raw))
            if p["share_method"] is None:
                raise RowRejected("share_method", f"共享方式应为 {'/'.join(ShareMethod.labels().values())}", raw)
        else:
            if DataFormat.SERVICE in formats:
                p["share_method"] = ShareMethod.API
            elif DataFormat.DATABASE in formats:
                p["share_method"] = ShareMethod.TABLE
            else:
                p["share_method"] = ShareMethod.FILE
            self.note(row, "share_method", "共享方式由数据格式推定（服务接口→接口，数据库→库表，其他→文件）")

    def _grade_needing_reply(self, row: _Row) -> Grade | None:
        """The most sensitive grade the row gives, for the entry or one of its items, if it is one that is
        never shared unconditionally (重要, 核心; catalog.grades); unreadable grades are the validation's."""
        given = [self.value(row, "grade"), *(item.get("grade") for _n, item in row.items)]
        parsed = [grade for value in given if (grade := Grade.parse(m.text(value))) is not None]
        top = grades.highest(parsed)
        return top if top is not None and grades.needs_reply(top) else None

    def _update_cycle(self, row: _Row) -> None:
        if not self.present(row, "update_cycle"):
            row.payload["update_cycle"] = UpdateCycle.IRREGULAR
            self.note(row, "update_cycle", "未提供更新周期，按“不定期”登记")
            return
        cycle, note = self._parsed(row, "update_cycle", m.parse_update_cycle)
        row.payload["update_cycle"] = cycle
        if note:
            self.note(row, "update_cycle", note)


def row_key(row: dict, url: str = "", items: list | None = None) -> str:
    """The idempotency key: SHA-256 of the url when there is one, else of the normalized row (and its items)."""
    if url:
        material = "url:" + url
    else:
        normalized = {str(k).strip(): m.text(v) for k, v in row.items() if not isinstance(v, list)}
        item_rows = [{str(k).strip(): m.text(v) for k, v in i.items()} for _n, i in items or []]
        material = json.dumps([normalized, item_rows], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _rule_of(error: dict, enum_cls: type[LabelledEnum] | None = None) -> str:
    """A pydantic error in Chinese; enumerations list their Chinese labels."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "enum":
        allowed = "/".join(member.label for member in enum_cls) if enum_cls else ctx.get("expected", "")
        return f"取值无效，应为 {allowed}"
    if kind in ("string_too_short", "missing"):
        return "不能为空"
    if kind == "string_too_long":
        return f"长度不能超过{ctx.get('max_length')}个字符"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "应为整数"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"数值超出范围（{ctx}）"
    if kind.startswith("date"):
        return "日期格式无效（应为 YYYY-MM-DD）"
    return messages.pydantic_rule(error)  # in Chinese, never a library's English


# ---------------------------------------------------------------- departments


class _Providers:
    """The provider department of each row. A catalog manager imports only the own department's rows (named by
    its name, an alias or its credit code); the platform imports for the department the row names (credit code,
    else name or alias, and region), created on first sight with the given region and level.

    A name that is not registered but close to a department of the region that existed before this import
    (orgs.service.names_close: 省统计局 beside 安徽省统计局) is not created: the row is rejected naming the
    candidates, so that the administrator adds an alias (or registers the other department first). Departments
    created by the same file are not held against each other (a portal's first import into an empty node names
    both 省统计局 and 安徽省统计局): such a pair is reported in the defaults section for the administrator to check."""

    def __init__(self, session: Session, actor: Actor, region_code: str | None, level: str | None,
                 report: ImportReport) -> None:
        self.session, self.report = session, report
        self.region_code, self.level = region_code, level
        self.own: Department | None = None
        self.own_names: set[str] = set()
        if actor.has(Role.CATALOG_MANAGER) and not actor.is_system:
            self.own = session.get(Department, actor.department_id)
            self.own_names = {self.own.name, *(a.alias for a in self.own.aliases)}
        self.by_code: dict[str, Department | None] = {}
        self.by_region: dict[str, dict[str, Department]] = {}  # region -> name or alias -> department, read once
        self.before: dict[str, list[Department]] = {}  # region -> its departments before this import
        self.created: dict[str, list[Department]] = {}  # region -> departments this import created
        self.refused: dict[tuple[str, str], str] = {}  # (region, name) -> why a close name is not created
        self.anywhere: dict[str, list[Department]] = {}  # name -> departments of any region (no region given)

    def authorize(self, row: _Row, builder: _RowBuilder, default_provider: str | None) -> None:
        """The row's provider name, and for a catalog manager the own-department rule. Checked before
        anything else about the row, so a foreign row gets the same answer whatever the database holds."""
        if not row.provider and default_provider:
            row.provider = default_provider
            row.notes.append((builder.column("provider"),
                              f"提供部门为空，按指定的默认提供部门“{default_provider}”登记"))
        if not row.provider and self.own is not None and builder.mapping.source("provider") is None:
            row.provider = self.own.name
            row.notes.append((builder.column("provider"), "文件未提供提供部门列，按本部门登记"))
        if not row.provider:
            raise RowRejected("provider", "提供部门不能为空")
        if self.own is not None and row.provider not in self.own_names and not (
                row.provider_code and row.provider_code == self.own.uscc):
            if orgs.names_close(row.provider, self.own.name):
                raise RowRejected("provider", f"只能导入本部门目录：“{row.provider}”不是本部门“{self.own.name}”的"
                                              "名称或别名（如为本部门，请平台管理员为本部门添加别名）", row.provider)
            raise RowRejected("provider", "只能导入本部门目录", row.provider)

    def resolve(self, row: _Row, builder: _RowBuilder) -> Department:
        if self.own is not None:
            return self.own
        if row.provider_code:
            if row.provider_code not in self.by_code:
                self.by_code[row.provider_code] = self.session.scalars(
                    select(Department).where(Department.uscc == row.provider_code)).first()
            if self.by_code[row.provider_code] is not None:
                return self.by_code[row.provider_code]
        if not (row.provider_region or self.region_code):  # an existing department is found by its name alone
            if row.provider not in self.anywhere:
                self.anywhere[row.provider] = self._named_anywhere(row.provider)
            if len(self.anywhere[row.provider]) == 1:
                return self.anywhere[row.provider][0]
        region, level = self._region_and_level(row, builder)
        known = self._known(region)
        if row.provider not in known:
            known[row.provider] = self._create(row, builder, region, level)
        return known[row.provider]

    def _named_anywhere(self, name: str) -> list[Department]:
        """The departments of any region called `name` or having it as an alias (at most two: one is enough)."""
        named = list(self.session.scalars(select(Department).where(Department.name == name).limit(2)))
        aliased = self.session.scalars(select(Department).join(DepartmentAlias)
                                       .where(DepartmentAlias.alias == name).limit(2))
        return list({d.id: d for d in [*named, *aliased]}.values())[:2]

    def _known(self, region: str) -> dict[str, Department]:
        """Name or alias -> department of `region`, read at the region's first row (names win over aliases)."""
        if region not in self.by_region:
            departments = list(self.session.scalars(select(Department).where(Department.region_code == region)
                                                    .options(selectinload(Department.aliases))))
            self.before[region] = departments
            known = {a.alias: d for d in departments for a in d.aliases}
            known.update({d.name: d for d in departments})
            self.by_region[region] = known
        return self.by_region[region]

    def _create(self, row: _Row, builder: _RowBuilder, region: str, level: str) -> Department:
        """A new department for a name the region does not know, unless it is close to one it knew before."""
        key = (region, row.provider)
        if key not in self.refused:
            close = orgs.close_departments(row.provider, self.before[region])
            self.refused[key] = (f"提供部门“{row.provider}”未登记；相近的已有部门："
                                 f"{'、'.join(d.name for d in close)}（如为同一部门，请为其添加别名）") if close else ""
        if self.refused[key]:
            raise RowRejected("provider", self.refused[key], row.provider)
        created = self.created.setdefault(region, [])
        close = [d.name for d in created if orgs.names_close(row.provider, d.name)]
        if close:
            builder.note(row, "provider", f"新建的提供部门“{row.provider}”与本次新建的“{'、'.join(close)}”相近，"
                                          "请核对：如为同一部门，应先登记该部门并添加别名再导入（已新建的部门不会自动合并）")
        department = orgs.find_or_create_department_by_name(self.session, row.provider, level=level, region_code=region)
        created.append(department)
        self.report.departments_created.append(row.provider)
        return department

    def _region_and_level(self, row: _Row, builder: _RowBuilder) -> tuple[str, str]:
        region = row.provider_region or self.region_code
        if not region:
            what = "多个地区有同名部门" if self.anywhere.get(row.provider) else "新建提供部门"
            raise ValidationFailed(
                f"{what}“{row.provider}”，需要行政区划代码 region_code（导入时指定 --region-code，"
                f"或在文件中提供“{builder.column('provider_region')}”列）", field="region_code")
        try:
            region = orgs.validate_region_code(region)
        except ValidationFailed as exc:
            raise RowRejected("provider_region", exc.message, region) from None
        level = row.provider_level or self.level or infer_level(region)
        by_label = {label: lvl.value for lvl, label in LEVEL_LABELS.items()}
        level = by_label.get(level, level)
        try:
            return region, orgs.validate_level(level)
        except ValidationFailed as exc:
            raise RowRejected("provider_level", exc.message, level) from None


def infer_level(region_code: str) -> str:
    """340000 -> provincial, 341700 -> municipal, 341702 -> county."""
    if region_code.endswith("0000"):
        return Level.PROVINCIAL.value
    return Level.MUNICIPAL.value if region_code.endswith("00") else Level.COUNTY.value


# ---------------------------------------------------------------- items


def _group_items(source: Source, entry_mapping: m.ColumnMapping, report: ImportReport,
                 explicit_items: dict | None) -> tuple[dict, str]:
    """Items of the items sheet grouped by the entry they belong to: by 资源代码, else by 目录行号."""
    if source.items is None:
        return {}, ""
    item_mapping = m.detect_mapping(source.items.headers, "item", explicit_items)
    if item_mapping.source("resource_code") and entry_mapping.source("resource_code"):
        link = "resource_code"
    elif item_mapping.source("entry_row"):
        link = "entry_row"
    else:
        raise ValidationFailed("信息项表需要“资源代码”列（对应目录表的资源代码）或“目录行号”列", field="items")
    report.mapping.update({f"{ITEM_SHEET}.{t}": s for t, s in item_mapping.columns.items()})
    report.ignored_columns.extend(f"{ITEM_SHEET}.{c}" for c in item_mapping.ignored)
    return _items_by_entry(source.items, item_mapping, link), link


def _items_by_entry(items: Table, item_mapping: m.ColumnMapping, link: str) -> dict[str, list[tuple[int, dict]]]:
    """The rows of an items sheet, {value of the `link` column: [(row number, {target: value})]}."""
    groups: dict[str, list[tuple[int, dict]]] = {}
    for number, raw in items.rows:
        key = m.text(raw.get(item_mapping.source(link)))
        item = {t: raw.get(s) for t, s in item_mapping.columns.items() if t not in ("resource_code", "entry_row")}
        groups.setdefault(key, []).append((number, item))
    return groups


def _item_payloads(row: _Row) -> list[dict]:
    payloads = []
    ordered = sorted(row.items, key=lambda ni: (_position(ni[1]), ni[0]))
    for _number, item in ordered:
        payloads.append({t: m.text(v) for t, v in item.items() if t != "position" and not m.is_blank(v)})
    return payloads


def _position(item: dict) -> float:
    try:
        return float(m.text(item.get("position")))
    except ValueError:
        return float("inf")


# ---------------------------------------------------------------- the import


def import_file(
    session: Session,
    actor: Actor,
    path: str | Path,
    *,
    mapping: dict[str, str | None] | None = None,
    region_code: str | None = None,
    level: str | None = None,
    publish: bool = False,
    default_provider: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    name: str | None = None,
    items_path: str | Path | None = None,
) -> ImportReport:
    """Imports one catalog file and returns the report (counts, rejected rows, duplicates, mapping,
    defaults). `mapping`: {"target field": "source column"}, keys "信息项.<field>" for the items sheet."""
    started = time.perf_counter()
    require_role(actor, Role.CATALOG_MANAGER, Role.PLATFORM_ADMIN, action="导入目录")
    if publish:
        service.require_direct_publish(actor)
    if region_code:
        region_code = orgs.validate_region_code(region_code)
    if level:
        level = orgs.validate_level(level)
    if default_provider and "\x00" in default_provider:
        raise ValidationFailed(f"默认提供部门{NUL_RULE}", field="default_provider")
    source = read_source(Path(path), name=name, items_path=Path(items_path) if items_path else None)
    report = ImportReport(file=source.name, total_rows=len(source.entries.rows), published=publish)
    explicit = {k: v for k, v in (mapping or {}).items() if not k.startswith(f"{ITEM_SHEET}.")}
    explicit_items = {k.split(".", 1)[1]: v for k, v in (mapping or {}).items() if k.startswith(f"{ITEM_SHEET}.")}
    column_mapping = m.detect_mapping(source.entries.headers, "entry", explicit)
    report.mapping = dict(column_mapping.columns)
    report.ignored_columns = list(column_mapping.ignored)
    if column_mapping.source("name") is None:
        raise ValidationFailed("无法识别目录名称列（如“目录名称”或“标题”），请用映射文件指定", field="mapping")
    groups, link = _group_items(source, column_mapping, report, explicit_items)

    builder = _RowBuilder(column_mapping)
    rows = [_Row(number=n, raw=raw) for n, raw in source.entries.rows]
    url_column = column_mapping.source("url")
    linked: set[str] = set()
    for row in rows:
        if groups:
            link_value = (m.text(row.raw.get(column_mapping.source("resource_code"))) if link == "resource_code"
                          else str(row.number))
            row.items = groups.get(link_value, []) if link_value else []
            if row.items:
                linked.add(link_value)
        row.key = row_key(row.raw, m.text(row.raw.get(url_column)) if url_column else "", row.items)
    for key, items in groups.items():
        if key not in linked:
            for number, _item in items:
                report.reject(number, m.standard_headers("item")[link], "信息项对应的目录不在目录表中", key,
                              sheet=ITEM_SHEET)
    providers = _Providers(session, actor, region_code, level, report)
    # a catalog manager's rows can only be unchanged among the own department's entries
    existing = _existing_keys(session, [r.key for r in rows], providers.own.id if providers.own else None)
    codes = _ResourceCodes(session, rows, column_mapping.source("resource_code"))
    defaults = _Defaults()
    first_seen: dict[str, int] = {}
    pending: list[_Pending] = []
    renumbered: list[_Pending] = []  # rows without a code of their own wait until every kept code is taken
    for done, row in enumerate(rows, start=1):
        if row.key in first_seen:
            report.duplicates.append({"row": row.number, "duplicate_of": first_seen[row.key]})
        elif (same := codes.same_entry(row, builder)) is not None:
            first_seen[row.key] = row.number
            _sync_existing(session, actor, row, builder, same, report, source.name, providers, default_provider)
        else:
            first_seen[row.key] = row.number
            ready = _prepare(row, builder, providers, existing, codes, report, default_provider, source.name)
            if ready is not None:
                ready.publish = publish and _published_in_file(row, builder)
                (renumbered if codes.free and not ready.code else pending).append(ready)
        if len(pending) >= BATCH_SIZE or done == len(rows):
            _create_by_status(session, actor, pending, builder, report, defaults)
            pending = []
        if progress:
            progress(done, len(rows))
    for start in range(0, len(renumbered), BATCH_SIZE):
        _create_by_status(session, actor, renumbered[start: start + BATCH_SIZE], builder, report, defaults)
    report.defaults = defaults.as_list()
    report.seconds = time.perf_counter() - started
    return report


def import_upload(
    session: Session,
    actor: Actor,
    filename: str | None,
    stream: BinaryIO,
    *,
    items_name: str | None = None,
    items_stream: BinaryIO | None = None,
    mapping_json: str | None = None,
    publish: bool = False,
    region_code: str | None = None,
    level: str | None = None,
    default_provider: str | None = None,
) -> ImportReport:
    """An uploaded file (API or web page): spooled to a temporary folder, then `import_file`. New provider
    departments default to the uploader's own region. The client's file name names the file in the report
    only; on disk the upload has a name of ours, so no name a client sends can point anywhere else."""
    name = file_name(filename)
    if items_stream is not None:
        file_name(items_name or "items.csv", field="items")
    explicit = m.load_mapping_file(mapping_json) if mapping_json else None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{Path(name).suffix.lower()}"
        _spool(stream, path, "file")
        items_path = None
        if items_stream is not None:
            items_path = Path(folder) / "upload-items.csv"
            _spool(items_stream, items_path, "items")
        return import_file(
            session, actor, path, mapping=explicit, region_code=region_code or actor.region_code or None,
            level=level, publish=publish, default_provider=default_provider, name=name, items_path=items_path)


def _spool(stream: BinaryIO, path: Path, field: str) -> None:
    """Copies an upload to `path`, refusing it (413) once it passes MAX_UPLOAD_BYTES."""
    written = 0
    with path.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                raise TooLarge(f"上传文件过大：不能超过{MAX_UPLOAD_BYTES // (1024 * 1024)} MB", field=field)
            out.write(chunk)


def _existing(session: Session, column, values, *where) -> set[str]:
    """Which of `values` the catalog holds in `column` (queried in chunks)."""
    found: set[str] = set()
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), KEY_QUERY_CHUNK):
        chunk = unique[start: start + KEY_QUERY_CHUNK]
        found.update(session.scalars(select(column).where(column.in_(chunk), *where)))
    return found


def _existing_keys(session: Session, keys: list[str], provider_id: int | None = None) -> set[str]:
    where = [] if provider_id is None else [CatalogEntry.provider_id == provider_id]
    return _existing(session, CatalogEntry.external_key, keys, *where)


class _ResourceCodes:
    """The resource codes the file carries (资源代码 of the standard export). A row keeps its code when the
    code belongs to its classification and no entry holds it yet; the row is created with that code and
    the classification's sequence moves past it (_create_entries)."""

    def __init__(self, session: Session, rows: list[_Row], column: str | None) -> None:
        self.of_row = {r.number: code for r in rows if column and (code := m.text(r.raw.get(column)))}
        wellformed = {c for c in self.of_row.values() if service.RESOURCE_CODE.match(c)}
        self.used = _existing(session, CatalogEntry.resource_code, wellformed)
        self.free = wellformed - self.used
        self.claimed: set[str] = set()
        self.session = session

    def same_entry(self, row: _Row, builder: _RowBuilder) -> CatalogEntry | None:
        """The entry of this node the row stands for (the node's export imported back): it holds the row's
        resource code under the same name and provider. A code held by another entry (the export of another
        node) is a clash: the row becomes a new entry with a new code (claim)."""
        code = self.of_row.get(row.number)
        if code not in self.used:
            return None
        entry = self.session.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == code)).one()
        provider = m.text(builder.value(row, "provider"))
        same_provider = not provider or provider in (entry.provider.name, entry.provider.uscc or "")
        return entry if same_provider and m.text(builder.value(row, "name")) == entry.name else None

    def claim(self, row: _Row, builder: _RowBuilder, classification_code: str) -> str | None:
        code = self.of_row.get(row.number)
        if not code:
            return None
        if code in self.used or code in self.claimed:
            note = "资源代码已被占用，已重新编码"
        elif code not in self.free or code.partition("/")[0] != classification_code or _sequence_number(code) < 1:
            note = "资源代码格式无效或与分类代码不符，已重新编码"
        else:
            self.claimed.add(code)
            return code
        builder.note(row, "resource_code", note)
        return None


def _sequence_number(code: str) -> int:
    return int(code.partition("/")[2])


@dataclass
class _Pending:
    row: _Row
    new: service.NewEntry
    code: str | None = None  # the resource code of the file, kept
    publish: bool = False  # created as published: a --publish import of a row the file says is published


def _prepare(row: _Row, builder: _RowBuilder, providers: _Providers, existing: set[str], codes: _ResourceCodes,
             report: ImportReport, default_provider: str | None, source_name: str) -> _Pending | None:
    """The row's EntryIn, checked by the service rules, and its provider department; None if rejected
    or already imported. The provider is authorized first, before the row is looked up."""
    try:
        _refuse_nul(row)
        builder.read_provider(row)
        providers.authorize(row, builder, default_provider)
        if row.key in existing:
            report.unchanged += 1
            return None
        builder.build(row)
        data = _validated(row, builder)
        service.validate_entry(data)  # before a provider department is created for a row that would fail
        department = providers.resolve(row, builder)
    except RowRejected as exc:
        report.reject(row.number, exc.column or builder.column(exc.target), exc.rule,
                      exc.value if exc.value is not None else builder.value(row, exc.target))
        return None
    except ValidationFailed as exc:
        _reject_domain(report, row, builder, exc)
        return None
    new = service.NewEntry(data=data, provider_id=department.id, external_key=row.key,
                           reason=f"从 {source_name} 第{row.number}行导入", data_updated_at=row.data_updated_at)
    return _Pending(row, new, codes.claim(row, builder, data.classification_code))


def _published_in_file(row: _Row, builder: _RowBuilder) -> bool:
    """Whether the row may be created published: the file says nothing of status (a portal's published
    catalog) or says 已发布. An exported draft, submitted or returned entry comes back as a draft: an import
    never skips review."""
    if not builder.present(row, "status"):
        return True
    status = EntryStatus.parse(m.text(builder.value(row, "status")))
    if status == EntryStatus.PUBLISHED:
        return True
    builder.note(row, "status", "文件中的目录状态不是“已发布”，按草稿导入（导入不跳过审核）")
    return False


def _sync_existing(session: Session, actor: Actor, row: _Row, builder: _RowBuilder, entry: CatalogEntry,
                   report: ImportReport, source_name: str, providers: _Providers, default_provider: str | None
                   ) -> None:
    """A row whose resource code is an entry of this node (the node's export imported back): nothing when
    its content is the entry's; else a draft or returned entry is edited and a published one gets a revision
    awaiting review. The entry's own department writes it (catalog.service checks)."""
    try:
        _refuse_nul(row)
        builder.read_provider(row)
        providers.authorize(row, builder, default_provider)  # first: a foreign row learns nothing of the entry
        builder.build(row)
        data = _validated(row, builder)
        if service.same_content(entry, data):
            report.unchanged += 1
            return
        reason = f"从 {source_name} 第{row.number}行导入"
        with session.begin_nested():
            if entry.status == EntryStatus.PUBLISHED:
                service.propose_revision(session, actor, entry.id, data, reason)
                report.revisions += 1
            else:
                service.update_entry(session, actor, entry.id, data, reason)
                report.updated += 1
    except RowRejected as exc:
        report.reject(row.number, exc.column or builder.column(exc.target), exc.rule,
                      exc.value if exc.value is not None else builder.value(row, exc.target))
    except DomainError as exc:
        _reject_domain(report, row, builder, exc)


def _create_by_status(session: Session, actor: Actor, batch: list[_Pending], builder: _RowBuilder,
                      report: ImportReport, defaults: _Defaults) -> None:
    for publish in (True, False):
        _create(session, actor, [p for p in batch if p.publish == publish], builder, report, defaults,
                publish=publish)


def _refuse_nul(row: _Row) -> None:
    """A NUL character is no text (PostgreSQL refuses it): the row is rejected on every database alike."""
    for column, value in row.raw.items():
        if _has_nul(column) or _has_nul(value):
            raise RowRejected("", NUL_RULE, m.text(value).replace("\x00", ""), column=str(column).replace("\x00", ""))
    for number, item in row.items:
        for target, value in item.items():
            if "\x00" in m.text(value):
                header = m.standard_headers("item").get(target, target)
                raise RowRejected("items", f"信息项第{number}行“{header}”{NUL_RULE}", m.text(value).replace("\x00", ""),
                                  column=ITEM_SHEET)


def _has_nul(value: object) -> bool:
    """Whether a cell holds a NUL character, also inside the lists and objects of a JSON file (MAX_JSON_DEPTH
    bounds the recursion)."""
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return "\x00" in m.text(value)


def _create(session: Session, actor: Actor, batch: list[_Pending], builder: _RowBuilder, report: ImportReport,
            defaults: _Defaults, *, publish: bool) -> None:
    """A batch in one SAVEPOINT; if it fails, row by row, each in its own SAVEPOINT, so the failing row
    is reported (with the error it raised) and the others are kept."""
    if not batch:
        return
    try:
        with session.begin_nested():
            entries = _create_entries(session, actor, batch, publish=publish)
    except (DomainError, SQLAlchemyError) as exc:
        if len(batch) > 1:
            for pending in batch:
                _create(session, actor, [pending], builder, report, defaults, publish=publish)
        elif isinstance(exc, DomainError):
            _reject_domain(report, batch[0].row, builder, exc)
        else:
            report.reject(batch[0].row.number, "", f"写入数据库失败：{type(exc).__name__}")
        return
    for pending, entry in zip(batch, entries, strict=True):
        report.created += 1
        report.entry_ids.append(entry.id)
        for column, note in pending.row.notes:
            defaults.add(column, note, [pending.row.number])


def _create_entries(session: Session, actor: Actor, batch: list[_Pending], *, publish: bool) -> list[CatalogEntry]:
    """service.create_entries, each row keeping the resource code of the file when it could claim it."""
    for pending in batch:
        pending.new.resource_code = pending.code
    return service.create_entries(session, actor, [p.new for p in batch], imported=True, publish=publish)


def _validated(row: _Row, builder: _RowBuilder) -> EntryIn:
    payload = dict(row.payload)
    item_payloads = _item_payloads(row)
    payload["items"] = item_payloads
    try:
        entry = EntryIn.model_validate(payload)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error.get("loc", ())
        if loc and loc[0] == "items" and len(loc) >= 3:
            number = sorted(row.items, key=lambda ni: (_position(ni[1]), ni[0]))[loc[1]][0]
            header = m.standard_headers("item").get(str(loc[2]), str(loc[2]))
            rule = _rule_of(error, ITEM_ENUMS.get(str(loc[2])))
            raise RowRejected("items", f"信息项第{number}行“{header}”{rule}",
                              item_payloads[loc[1]].get(str(loc[2])), column=ITEM_SHEET) from None
        target = str(loc[0]) if loc else "name"
        raise RowRejected(target, _rule_of(error, ENUMS.get(target)), payload.get(target)) from None
    for item in entry.items:  # R17: an item named like personal information but declared otherwise is said
        warning = grades.undeclared_personal_warning(item.chinese_name, item.personal_info, item.name)
        if warning:
            row.notes.append((ITEM_SHEET, warning))
    return entry


def _reject_domain(report: ImportReport, row: _Row, builder: _RowBuilder, exc: DomainError) -> None:
    target = {"provider_id": "provider", "department_id": "provider", "region_code": "provider_region",
              "level": "provider_level"}.get(exc.field or "", exc.field or "")
    column = ITEM_SHEET if target == "items" else builder.column(target) if target else ""
    value = row.payload.get(target, builder.value(row, target) if target else None)
    if isinstance(value, LabelledEnum):
        value = value.label
    if isinstance(value, list):
        value = "、".join(str(v) for v in value)
    report.reject(row.number, column, exc.message, value)


# ---------------------------------------------------------------- an items sheet for entries already here


@dataclass
class ItemsImportReport:
    file: str
    total_rows: int = 0
    entries_updated: int = 0  # drafts or returned entries whose items were added or edited
    revisions: int = 0  # published entries: a revision awaiting review
    unchanged: int = 0  # entries whose items were already these
    rejected: list[dict] = field(default_factory=list)


def read_items_table(path: str | Path, name: str | None = None) -> Table:
    """The items of an .xlsx (its 信息项 sheet, else its first sheet) or a .csv file."""
    path = Path(path)
    source = read_source(path, name=name)
    if Path(source.name).suffix.lower() in (".xlsx", ".xlsm") and source.items is not None:
        return source.items
    return source.entries


def import_items(session: Session, actor: Actor, path: str | Path, *, name: str | None = None
                 ) -> ItemsImportReport:
    """Adds or edits the items of entries of this node from an items sheet keyed by 资源代码 (the standard
    export's 信息项 sheet, or one written by hand): imported catalogs come without items, and an entry needs
    them before it can be connected to its data. Each entry goes through catalog.service.put_items (its own
    department writes it; a published entry gets a revision awaiting review); rows are reported one by one."""
    table = read_items_table(path, name)
    report = ItemsImportReport(file=file_name(name or Path(path).name), total_rows=len(table.rows))
    mapping = m.detect_mapping(table.headers, "item")
    if mapping.source("resource_code") is None:
        raise ValidationFailed("信息项表需要“资源代码”列（对应已登记目录的资源代码）", field="file")
    header = mapping.source("resource_code")
    for code, rows in _items_by_entry(table, mapping, "resource_code").items():
        _import_entry_items(session, actor, code, rows, report, header)
    return report


def _import_entry_items(session: Session, actor: Actor, code: str, rows: list[tuple[int, dict]],
                        report: ItemsImportReport, header: str) -> None:
    entry = session.scalars(service.readable_entries(actor).where(CatalogEntry.resource_code == code)).first()
    if entry is None:  # another department's draft reads as absent too
        for number, _item in rows:
            report.rejected.append({"row": number, "column": header, "rule": "资源代码对应的目录不存在", "value": code})
        return
    try:
        items = [ItemIn.model_validate(payload) for payload in _item_payloads(_Row(0, {}, items=rows))]
    except ValidationError as exc:
        error = exc.errors()[0]
        target = str(error["loc"][-1]) if error.get("loc") else "name"
        rule = _rule_of(error, ITEM_ENUMS.get(target))
        for number, _item in rows:
            report.rejected.append({"row": number, "column": m.standard_headers("item").get(target, target),
                                    "rule": rule, "value": code})
        return
    before = service.entry_in_of(entry).items
    if all(item in before for item in items):
        report.unchanged += 1
        return
    try:
        with session.begin_nested():
            change = service.put_items(session, actor, entry.id, items, f"从信息项表导入（{code}）")
    except DomainError as exc:
        for number, _item in rows:
            report.rejected.append({"row": number, "column": exc.field or header, "rule": exc.message, "value": code})
        return
    if change.revision is not None:
        report.revisions += 1
    else:
        report.entries_updated += 1


def preview_mapping(path: str | Path, mapping: dict[str, str | None] | None = None) -> dict:
    """The detected column mapping of a file, without importing: target -> source column and a sample value."""
    source = read_source(Path(path))
    explicit = {k: v for k, v in (mapping or {}).items() if not k.startswith(f"{ITEM_SHEET}.")}
    detected = m.detect_mapping(source.entries.headers, "entry", explicit)
    sample = source.entries.rows[0][1] if source.entries.rows else {}
    labels = m.standard_headers("entry")
    return {
        "file": source.name,
        "total_rows": len(source.entries.rows),
        "mapping": [
            {"target": target, "label": labels[target], "column": detected.source(target),
             "explicit": target in detected.explicit, "sample": m.text(sample.get(detected.source(target)))[:40]}
            for target in labels if detected.source(target)
        ],
        "missing": [labels[t] for t in labels if not detected.source(t) and t != "items"],
        "ignored_columns": detected.ignored,
        "items_sheet": source.items is not None,
    }


def read_mapping_file(path: str | Path) -> dict[str, str | None]:
    return m.load_mapping_file(Path(path).read_text(encoding="utf-8-sig"))
