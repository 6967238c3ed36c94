"""Reading the holiday arrangement into days: the State Council General Office's yearly notice
(国务院办公厅关于XXXX年部分节假日安排的通知) as published, or a CSV `date,type,name` for bulk edits.

The notice is parsed strictly: every numbered item must yield a holiday, its day count (共N天) and the
weekdays it names (周四, 星期日) must agree with the dates, and any failure names the line. A wrong year
or a typo then fails loudly instead of silently shifting every deadline of the year."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from govshare.errors import ValidationFailed

FORMATS = ("notice", "csv")
MAX_HOLIDAY_SPAN = 31  # no official holiday is longer; a longer range is a typo in a month
WEEKDAYS = "一二三四五六日"

# After NFKC: full-width digits, colons, commas and brackets are ASCII; 。 and 、 stay.
_ORDINAL = re.compile(r"^\s*[一二三四五六七八九十]+、")
_ITEM = re.compile(r"^\s*(?:[一二三四五六七八九十]+、)?\s*([^:,。]{1,20}?)\s*:(.*)$")
_ITEM_START = re.compile(r"(?<=[。\s:])\s*(?=[一二三四五六七八九十]+、[^:。]{1,30}:)")
_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日(?:\s*\(([^)]*)\))?")
_RANGE_SEP = re.compile(r"^\s*(?:至|~|-|–|—)\s*$")
_DAY_COUNT = re.compile(r"(?:共|放假)\s*(\d{1,2})\s*天")
_WEEKDAY = re.compile(r"(?:周|星期)([一二三四五六日天])")
_TITLE_YEARS = (re.compile(r"关于\s*(\d{4})\s*年\s*(?:部分)?\s*节假日"), re.compile(r"现将\s*(\d{4})\s*年"))


@dataclass(frozen=True)
class ParsedDay:
    day: date
    is_workday: bool  # True: a make-up working day (调休上班); False: a holiday (放假)
    name: str


@dataclass(frozen=True)
class _Token:
    """A date as written: year and month may be left out (至3日 keeps the month of the range's start)."""

    year: int | None
    month: int | None
    day: int
    remark: str  # the bracket after it, e.g. 农历腊月二十八、周日
    start: int
    end: int


class _Item:
    """One numbered item of the notice, e.g. 一、元旦：…; errors name its line."""

    def __init__(self, line_no: int, name: str, body: str, year: int) -> None:
        self.line_no, self.name, self.body, self.year = line_no, name, body, year

    def fail(self, problem: str) -> ValidationFailed:
        return ValidationFailed(f"第{self.line_no}行（{self.name}）：{problem}", field="text")


# ---------------------------------------------------------------- notice


def parse_notice(text: str, year: int | None = None) -> list[ParsedDay]:
    """Every holiday and make-up working day of the notice, in date order."""
    text = unicodedata.normalize("NFKC", text or "")
    year = notice_year(text, year)
    items = list(_items(text, year))
    if not items:
        raise ValidationFailed("没有找到节假日安排条目（应形如“一、元旦：1月1日至3日放假调休，共3天。”）", field="text")
    days: dict[date, tuple[ParsedDay, int]] = {}
    for item in items:
        for parsed in _parse_item(item):
            _add(days, parsed, item)
    return sorted((parsed for parsed, _ in days.values()), key=lambda p: p.day)


def notice_year(text: str, year: int | None = None) -> int:
    """The year the notice arranges: from its title (关于2026年部分节假日安排) or the explicit `year`;
    both given and different is refused, since the weekdays of every date would be wrong."""
    text = unicodedata.normalize("NFKC", text or "")
    titled = next((int(m.group(1)) for pattern in _TITLE_YEARS if (m := pattern.search(text))), None)
    if year is not None and titled is not None and year != titled:
        raise ValidationFailed(f"指定年份{year}与通知标题中的{titled}年不一致", field="year")
    found = year if year is not None else titled
    if found is None:
        raise ValidationFailed("无法确定年份：请保留通知标题（国务院办公厅关于XXXX年部分节假日安排的通知）或指定年份",
                               field="year")
    if not 2000 <= found <= 2100:
        raise ValidationFailed(f"年份超出范围（2000–2100）：{found}", field="year")
    return found


def _items(text: str, year: int):
    """The numbered items, each with its line number; items pasted on one line are split before 二、…"""
    for line_no, line in enumerate(text.splitlines(), start=1):
        for part in _ITEM_START.split(line):
            match, numbered = _ITEM.match(part), _ORDINAL.match(part)
            # Unnumbered lines are items only when they arrange a holiday (the preamble has no "名称：…放假");
            # a numbered line that is not an item would silently lose a holiday, so it is refused.
            if match and (numbered or "放假" in match.group(2)):
                yield _Item(line_no, match.group(1).strip(), match.group(2), year)
            elif numbered:
                raise ValidationFailed(f"第{line_no}行：无法识别的条目（应形如“一、元旦：1月1日至3日放假，共3天。”）："
                                       f"{part.strip()[:40]}", field="text")


def _parse_item(item: _Item) -> list[ParsedDay]:
    holidays: list[ParsedDay] = []
    workdays: list[ParsedDay] = []
    for sentence in re.split(r"[。;；]", item.body):
        if "放假" in sentence:
            if "上班" in sentence:
                raise item.fail(f"同一句中既有放假又有上班，无法区分：{sentence.strip()}")
            holidays += _holiday_sentence(item, sentence)
        elif "上班" in sentence:
            workdays += _workday_sentence(item, sentence, holidays)
        # other sentences (e.g. 鼓励…安排职工在除夕休息) arrange nothing
    if not holidays:
        raise item.fail("没有找到放假日期（应形如“10月1日至7日放假调休，共7天”）")
    return holidays + workdays


def _holiday_sentence(item: _Item, sentence: str) -> list[ParsedDay]:
    tokens = list(_DATE.finditer(sentence))
    if not tokens:
        raise item.fail(f"放假句中没有日期：{sentence.strip()}")
    if len(tokens) > 2 or (len(tokens) == 2 and not _RANGE_SEP.match(sentence[tokens[0].end():tokens[1].start()])):
        raise item.fail(f"无法识别放假日期（应为“某日”或“某日至某日”）：{sentence.strip()}")
    first, last = _range(item, [_token(t) for t in tokens])
    span = (last - first).days + 1
    if span > MAX_HOLIDAY_SPAN:
        raise item.fail(f"放假区间长达{span}天，请检查日期：{sentence.strip()}")
    count = _DAY_COUNT.search(sentence[tokens[-1].end():])
    if count and int(count.group(1)) != span:
        raise item.fail(f"写明共{count.group(1)}天，但{_cn(first)}至{_cn(last)}是{span}天")
    return [ParsedDay(first + timedelta(days=i), False, item.name) for i in range(span)]


def _workday_sentence(item: _Item, sentence: str, holidays: list[ParsedDay]) -> list[ParsedDay]:
    """Make-up working days; a December date next to a 元旦 that starts in the previous year is in that year."""
    tokens = [_token(t) for t in _DATE.finditer(sentence)]
    if not tokens:
        raise item.fail(f"上班句中没有日期：{sentence.strip()}")
    previous_year = bool(holidays) and holidays[0].day.year < item.year
    return [ParsedDay(_resolve(item, t, item.year - (previous_year and t.month == 12), None), True, item.name)
            for t in tokens]


def _range(item: _Item, tokens: list[_Token]) -> tuple[date, date]:
    """The first and last day. 元旦 may start in December of the year before (12月31日至1月2日): a range
    from December into January without years written starts in the previous year."""
    start, end = tokens[0], tokens[-1]
    crosses = start.month == 12 and end.month == 1 and start.year is None
    first = _resolve(item, start, item.year - 1 if crosses else item.year, None)
    last = _resolve(item, end, end.year or item.year, first) if len(tokens) == 2 else first
    if last < first:
        raise item.fail(f"放假结束日{_cn(last)}早于开始日{_cn(first)}")
    return first, last


def _token(match: re.Match) -> _Token:
    year, month, day, remark = match.groups()
    return _Token(int(year) if year else None, int(month) if month else None, int(day), remark or "",
                  match.start(), match.end())


def _resolve(item: _Item, token: _Token, year: int, previous: date | None) -> date:
    """The date of a token; a missing month is the previous date's (至3日), and a weekday written in the
    bracket must be the date's own."""
    month = token.month or (previous.month if previous else None)
    if month is None:
        raise item.fail(f"日期缺少月份：{token.day}日")
    try:
        value = date(token.year or year, month, token.day)
    except ValueError:
        raise item.fail(f"日期不存在：{token.year or year}年{month}月{token.day}日") from None
    named = _WEEKDAY.search(token.remark)
    if named:
        expected = WEEKDAYS.index("日" if named.group(1) == "天" else named.group(1))
        if value.weekday() != expected:
            raise item.fail(f"{_cn(value)}标注为周{named.group(1)}，但该日是周{WEEKDAYS[value.weekday()]}"
                            f"（年份是否正确？）")
    return value


def _add(days: dict[date, tuple[ParsedDay, int]], parsed: ParsedDay, item: _Item) -> None:
    """The same day twice is kept once (国庆节、中秋节 may overlap); as holiday and working day it is refused."""
    seen = days.get(parsed.day)
    if seen is None:
        days[parsed.day] = (parsed, item.line_no)
    elif seen[0].is_workday != parsed.is_workday:
        raise item.fail(f"{_cn(parsed.day)}在第{seen[1]}行是{_kind(seen[0].is_workday)}，"
                        f"这里又是{_kind(parsed.is_workday)}")


def _cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _kind(is_workday: bool) -> str:
    return "上班" if is_workday else "放假"


# ---------------------------------------------------------------- CSV

_TYPES = {"放假": False, "休": False, "holiday": False, "off": False,
          "上班": True, "班": True, "调休上班": True, "workday": True, "work": True}
_CSV_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def parse_csv(text: str) -> list[ParsedDay]:
    """Rows `date,type,name` (date YYYY-MM-DD, type 放假/上班 or holiday/workday); a header row is optional."""
    rows = list(csv.reader(io.StringIO((text or "").lstrip("\ufeff"))))
    days: dict[date, tuple[ParsedDay, int]] = {}
    for row_no, row in enumerate(rows, start=1):
        cells = [unicodedata.normalize("NFKC", c).strip() for c in row]
        if not any(cells) or (row_no == 1 and cells[0].lower() in ("date", "日期")):
            continue
        parsed = _csv_row(row_no, cells)
        seen = days.get(parsed.day)
        if seen and seen[0].is_workday != parsed.is_workday:
            raise ValidationFailed(f"第{row_no}行：{parsed.day}在第{seen[1]}行是{_kind(seen[0].is_workday)}，"
                                   f"这里又是{_kind(parsed.is_workday)}", field="text")
        days.setdefault(parsed.day, (parsed, row_no))
    if not days:
        raise ValidationFailed("CSV 中没有日期行（每行：日期,放假/上班,名称）", field="text")
    return sorted((parsed for parsed, _ in days.values()), key=lambda p: p.day)


def _csv_row(row_no: int, cells: list[str]) -> ParsedDay:
    if len(cells) < 2:
        raise ValidationFailed(f"第{row_no}行：至少需要日期和类型两列", field="text")
    match = _CSV_DATE.match(cells[0])
    try:
        day = date(*(int(g) for g in match.groups())) if match else None
    except ValueError:
        day = None
    if day is None:
        raise ValidationFailed(f"第{row_no}行：日期无效（应为 YYYY-MM-DD）：{cells[0]}", field="text")
    kind = _TYPES.get(cells[1].lower())
    if kind is None:
        raise ValidationFailed(f"第{row_no}行：类型应为 放假/上班（或 holiday/workday）：{cells[1]}", field="text")
    name = cells[2] if len(cells) > 2 else ""
    if len(name) > 60:
        raise ValidationFailed(f"第{row_no}行：名称超过60个字符", field="text")
    return ParsedDay(day, kind, name)


# ---------------------------------------------------------------- both


def parse(text: str, fmt: str = "notice", year: int | None = None) -> list[ParsedDay]:
    if fmt == "notice":
        return parse_notice(text, year)
    if fmt == "csv":
        return parse_csv(text)
    raise ValidationFailed(f"格式应为 notice 或 csv：{fmt}", field="format")


def notice_title(text: str, year: int) -> str:
    """The source recorded on imported days: the notice's own title line when it has one."""
    for line in unicodedata.normalize("NFKC", text or "").splitlines():
        if "节假日安排" in line and len(line.strip()) <= 60:
            return line.strip()
    return f"国务院办公厅关于{year}年部分节假日安排的通知"
