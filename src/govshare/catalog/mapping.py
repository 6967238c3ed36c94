"""Column mapping and value vocabularies of the catalog import.

Real portals name the same field differently (标题/目录名称, 提供单位/来源部门/数源单位 ...) and fill it in
their own vocabularies (普遍开放/无条件开放, "['xls', 'api']", 每 2 日). The aliases and value tables are
data (govshare/data/column_aliases.json, import_vocab.json); this module turns a header row into a
mapping {target field: source column} and raw values into catalog values, saying what it derived."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources

from govshare.catalog.vocab import DataFormat, OpenAttribute, UpdateCycle
from govshare.errors import ValidationFailed

UNKNOWN_THEME = "99"
THEME_CLASS = "2"  # 主题信息资源


@cache
def _data(name: str) -> dict:
    return json.loads(resources.files("govshare.data").joinpath(name).read_text(encoding="utf-8"))


def aliases(kind: str = "entry") -> dict[str, list[str]]:
    """Target field -> accepted headers; the first one is the standard export header."""
    return _data("column_aliases.json")[kind]


def standard_headers(kind: str = "entry") -> dict[str, str]:
    return {target: names[0] for target, names in aliases(kind).items()}


_HEADER_NOISE = re.compile(r"[\s*＊:：]|（必填）|\(必填\)")


def normalize_header(header: object) -> str:
    return _HEADER_NOISE.sub("", str(header or "")).casefold()


@cache
def _alias_index(kind: str) -> dict[str, tuple[str, int]]:
    """normalized header -> (target, preference); lower preference wins when two columns compete."""
    index: dict[str, tuple[str, int]] = {}
    for target, names in aliases(kind).items():
        for rank, name in enumerate(names):
            index.setdefault(normalize_header(name), (target, rank))
    return index


@dataclass
class ColumnMapping:
    """Which source column feeds which target field, and what was left out."""

    columns: dict[str, str] = field(default_factory=dict)  # target -> source column
    ignored: list[str] = field(default_factory=list)
    explicit: dict[str, str] = field(default_factory=dict)

    def source(self, target: str) -> str | None:
        return self.columns.get(target)


def detect_mapping(headers: list[str], kind: str = "entry", explicit: dict[str, str | None] | None = None
                   ) -> ColumnMapping:
    """Maps recognized headers to targets (case- and space-insensitive); an explicit mapping
    {"target field or its standard header": "source column"} overrides, a null source unmaps."""
    index = _alias_index(kind)
    best: dict[str, tuple[int, str]] = {}
    for header in headers:
        hit = index.get(normalize_header(header))
        if hit is None:
            continue
        target, rank = hit
        if target not in best or rank < best[target][0]:
            best[target] = (rank, header)
    columns = {target: header for target, (_rank, header) in best.items()}
    resolved_explicit: dict[str, str] = {}
    if explicit:
        by_label = {normalize_header(label): target for target, label in standard_headers(kind).items()}
        for key, source in explicit.items():
            target = key if key in aliases(kind) else by_label.get(normalize_header(key))
            if target is None:
                allowed = "、".join(aliases(kind))
                raise ValidationFailed(f"映射文件中的目标字段无法识别：{key}（可用：{allowed}）", field="mapping")
            if source in (None, ""):
                columns.pop(target, None)
                continue
            if source not in headers:
                raise ValidationFailed(f"映射文件指定的源列在文件中不存在：{source}（目标字段 {key}）",
                                       field="mapping")
            columns = {t: s for t, s in columns.items() if s != source}
            columns[target] = source
            resolved_explicit[target] = source
    used = set(columns.values())
    return ColumnMapping(columns=columns, ignored=[h for h in headers if h not in used], explicit=resolved_explicit)


def load_mapping_file(text: str) -> dict[str, str | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"映射文件不是有效的 JSON：{exc.msg}（第{exc.lineno}行）", field="mapping") from exc
    except (RecursionError, ValueError):  # nested beyond the parser's depth; a number of too many digits
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
        raise ValidationFailed('映射文件应为 {"目标字段": "源列名"} 形式的 JSON 对象', field="mapping")
    return data


# ---------------------------------------------------------------- values


class UnreadableValue(Exception):
    """A raw value that cannot be read; `rule` is the Chinese message for the report."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


@cache
def _value_index(table: str) -> dict[str, str]:
    return {normalize_header(alias): code for code, names in _data("import_vocab.json")[table].items()
            for alias in names}


def text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def is_blank(value: object) -> bool:
    return text(value).casefold() in ("", "null", "none", "nan", "[]")


def parse_open_attribute(value: object) -> OpenAttribute:
    member = OpenAttribute.parse(text(value))
    if member is not None:
        return member
    code = _value_index("open_attribute").get(normalize_header(value))
    if code is None:
        raise UnreadableValue(
            f"开放属性无法识别：{text(value)}（应为 无条件开放/有条件开放/不予开放 或 普遍开放/依申请开放 等）")
    return OpenAttribute(code)


_LIST_SPLIT = re.compile(r"[\s,，;；、/|]+")


def split_formats(value: object) -> list[str]:
    """"['xls', 'api']", "[xml,xls,csv,json]", "xlsx" -> ["xls", "api"], ..."""
    raw = text(value).strip("[]（）()")
    return [t for t in (p.strip("'\" ") for p in _LIST_SPLIT.split(raw)) if t and t.casefold() != "null"]


def parse_data_formats(value: object) -> tuple[DataFormat, list[str]]:
    """The primary format (the first one recognized) and the raw tokens, in order."""
    tokens = split_formats(value)
    index = _value_index("data_format")
    for token in tokens:
        member = DataFormat.parse(token)
        if member is None and (code := index.get(normalize_header(token))):
            member = DataFormat(code)
        if member is not None:
            return member, tokens
    raise UnreadableValue(f"数据格式无法识别：{text(value)}（应为 电子文件/电子表格/数据库/图形图像/流媒体/"
                          "自描述格式/服务接口 或 xls、csv、json、api 等）")


def format_categories(tokens: list[str]) -> set[DataFormat]:
    index = _value_index("data_format")
    found = set()
    for token in tokens:
        member = DataFormat.parse(token)
        if member is None and (code := index.get(normalize_header(token))):
            member = DataFormat(code)
        if member is not None:
            found.add(member)
    return found


_EVERY_N = re.compile(r"^每\s*(\d+)\s*(小时|时|日|天|周|星期|个月|月|季度|年)$")
_UNIT_DAYS = {"小时": 1 / 24, "时": 1 / 24, "日": 1, "天": 1, "周": 7, "星期": 7, "个月": 30.5, "月": 30.5,
              "季度": 91.5, "年": 365}
# Shortest interval (days) of each cycle, longest first: an interval gets the nearest cycle not longer than it.
_CYCLE_FLOOR = [
    (365, UpdateCycle.YEARLY), (182, UpdateCycle.SEMIANNUAL), (91, UpdateCycle.QUARTERLY), (30, UpdateCycle.MONTHLY),
    (7, UpdateCycle.WEEKLY), (1, UpdateCycle.DAILY), (0, UpdateCycle.REALTIME),
]


def parse_update_cycle(value: object) -> tuple[UpdateCycle, str | None]:
    """The cycle and, when it had to be approximated, a note saying how."""
    raw = text(value)
    member = UpdateCycle.parse(raw)
    if member is not None:
        return member, None
    compact = re.sub(r"\s+", "", raw)
    code = _value_index("update_cycle").get(normalize_header(compact))
    if code is not None:
        return UpdateCycle(code), None
    match = _EVERY_N.match(compact)
    if match:
        days = int(match.group(1)) * _UNIT_DAYS[match.group(2)]
        cycle = next(c for floor, c in _CYCLE_FLOOR if days >= floor)
        return cycle, f"更新频率“{raw}”不在标准周期内，按不长于它的最近周期“{cycle.label}”登记"
    if "null" in compact.casefold():
        return UpdateCycle.IRREGULAR, f"更新频率“{raw}”无效，按“不定期”登记"
    raise UnreadableValue(f"更新周期无法识别：{raw}（应为 实时/每日/每周/每月/每季度/每半年/每年/不定期）")


_DATE_PATTERNS = [
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?: \d{1,2}:\d{2}(?::\d{2})?)?$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]


def parse_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if is_blank(value):
        return None
    raw = text(value)
    for pattern in _DATE_PATTERNS:
        match = pattern.match(raw)
        if match:
            try:
                return date(*(int(g) for g in match.groups()))
            except ValueError:
                break
    raise UnreadableValue(f"日期格式无效：{raw}（应为 YYYY-MM-DD）")


@cache
def _theme_index() -> dict[str, str]:
    return {alias: code for code, names in _data("import_vocab.json")["themes"].items() for alias in names}


def split_themes(value: object) -> list[str]:
    """"城乡建设,城乡建设" -> ["城乡建设"]: the distinct themes in order."""
    seen: list[str] = []
    for part in re.split(r"[,，;；、/|\s]+", text(value)):
        if part and part.casefold() != "null" and part not in seen:
            seen.append(part)
    return seen


TAG_SEPARATOR = "，"
MAX_TAGS_LENGTH = 500


def split_tags(*values: object) -> str:
    """The distinct tags of several columns (标签, 行业分类), joined by "，". Industry names hold "、"
    (公共管理、社会保障和社会组织), so only commas, semicolons and line breaks separate tags. Tags that would pass
    the column's length are left out whole, never cut."""
    seen: list[str] = []
    for value in values:
        for part in re.split(r"[,，;；\r\n\t|]+", text(value)):
            part = part.strip()
            if part and part.casefold() not in ("null", "none") and part not in seen:
                seen.append(part)
    kept: list[str] = []
    for tag in seen:
        if len(TAG_SEPARATOR.join([*kept, tag])) <= MAX_TAGS_LENGTH:
            kept.append(tag)
    return TAG_SEPARATOR.join(kept)


def theme_classification(theme: str) -> str | None:
    """主题 class + 项 for a theme name; None when the theme table does not know it."""
    code = _theme_index().get(theme)
    return THEME_CLASS + code if code else None
