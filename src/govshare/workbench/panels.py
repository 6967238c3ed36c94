"""The shape of a workbench list: a panel is a titled table of rows of text cells, each row with its link,
its mark (overdue, due soon) and the value the list's 分类 filter chooses by. Filtering, pages and the XLSX
export work the same for every panel, so each role's work is written once, as a query (workbench.service)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.config import settings_of
from govshare.spreadsheet import neutralize_row
from govshare.workdays.service import WorkCalendar, local_today

OVERDUE, DUE_SOON = "overdue", "due_soon"
MARK_LABELS = {OVERDUE: "已逾期", DUE_SOON: "即将到期"}
PREVIEW_ROWS = 8  # rows a panel shows on the workbench itself; the rest on its own list
LIST_PAGE_SIZE = 20
MAX_ROWS = 5000  # a panel is a work queue: more rows than this are read in the module's own pages
QUERY_LIMIT = 200  # characters of the text filter


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    url: str | None = None
    mark: str | None = None  # OVERDUE, DUE_SOON or None
    facet: str = ""  # the value the list's 分类 filter chooses by


@dataclass
class Context:
    """What every panel query needs once per page: who looks, today (the node's zone) and the calendar."""

    session: Session
    actor: Actor
    today: date = field(init=False)
    calendar: WorkCalendar = field(init=False)
    zone: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        self.today = local_today(self.session)
        self.calendar = WorkCalendar(self.session)
        self.zone = ZoneInfo(settings_of(self.session).timezone)

    @property
    def settings(self):
        return settings_of(self.session)

    def time(self, moment: datetime | None) -> str:
        """A stored time (naive UTC) as the node's local time, the way the pages show times."""
        if moment is None:
            return "—"
        return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def local_date(self, moment: datetime) -> date:
        return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.zone).date()

    def deadline(self, due: date | None, *, late: bool = False) -> tuple[str, str | None]:
        """The time left to a working-day deadline in words, and its mark: overdue once the day has passed
        (or when the worker has marked it, `late`), due soon within the reminder's working days."""
        if due is None:
            return "—", None
        if due < self.today or late:
            days = self.calendar.working_days_between(due, self.today)
            return (f"已逾期 {days} 个工作日" if days else "已逾期"), OVERDUE
        days = self.calendar.working_days_between(self.today, due)
        if days == 0:
            return "今日到期", DUE_SOON
        mark = DUE_SOON if days <= self.settings.reminder_working_days else None
        return f"剩余 {days} 个工作日", mark

    def waited(self, since: datetime | None) -> str:
        """Working days since a local day, in words ("当日" on the same day)."""
        if since is None:
            return "—"
        days = self.calendar.working_days_between(self.local_date(since), self.today)
        return f"{days} 个工作日" if days else "当日"


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    columns: tuple[str, ...]
    empty: str
    shown_to: Callable[[Actor], bool]
    fetch: Callable[[Context], list[Row]]
    facet_label: str = "分类"
    more_url: str | None = None  # the module's own page for this work
    chart: Callable[[list[Row]], dict] | None = None  # ECharts data drawn above the list


@dataclass(frozen=True)
class Shown:
    """A panel as a page shows it: its rows after the filters, one page of them, and the counts."""

    panel: Panel
    rows: list[Row]
    total: int
    matched: int
    page: int
    pages: int
    marks: dict[str, int]
    facets: list[str]

    @property
    def preview(self) -> list[Row]:
        return self.rows[:PREVIEW_ROWS]


def mark_counts(rows: list[Row]) -> dict[str, int]:
    counts = {mark: sum(1 for row in rows if row.mark == mark) for mark in MARK_LABELS}
    return {mark: count for mark, count in counts.items() if count}


def matches(row: Row, q: str, facet: str, mark: str) -> bool:
    """The text filter matches any cell (case-insensitive); the 分类 and the mark filters match exactly."""
    if facet and row.facet != facet:
        return False
    if mark and row.mark != mark:
        return False
    needle = q.casefold()
    return not needle or any(needle in cell.casefold() for cell in row.cells)


def show(panel: Panel, context: Context, *, q: str = "", facet: str = "", mark: str = "", page: int = 1,
         page_size: int | None = None) -> Shown:
    page_size = page_size or LIST_PAGE_SIZE
    rows = panel.fetch(context)[:MAX_ROWS]
    q = q.strip()[:QUERY_LIMIT]
    kept = [row for row in rows if matches(row, q, facet, mark if mark in MARK_LABELS else "")]
    pages = max(1, math.ceil(len(kept) / page_size))
    page = min(max(page, 1), pages)
    return Shown(panel=panel, rows=kept[(page - 1) * page_size: page * page_size], total=len(rows),
                 matched=len(kept), page=page, pages=pages, marks=mark_counts(rows),
                 facets=sorted({row.facet for row in rows if row.facet}))


def xlsx_of(panel: Panel, rows: list[Row]) -> bytes:
    """The rows as one sheet with the panel's headers and a 期限标记 column; cells that a spreadsheet would
    run as a formula are neutralized (spreadsheet.neutralize)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(panel.title[:31])
    sheet.append([*panel.columns, "标记"])
    for row in rows:
        sheet.append(neutralize_row([*row.cells, MARK_LABELS.get(row.mark or "", "")]))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
