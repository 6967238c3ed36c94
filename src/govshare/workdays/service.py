"""Working days and deadlines (R05, R07, R08, R20).

Which days are working days, in this order: the admin's holiday table (CalendarDay, e.g. imported from the
State Council's yearly notice), then chinese-calendar (official holidays and make-up working days of the
years it knows), then plain Monday–Friday. A deadline that had to count any day Monday–Friday because
neither knows its year is `estimated`, and every page that shows it shows a warning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from govshare.config import settings_of
from govshare.workdays.models import CalendarDay

ESTIMATE_WARNING = "该期限所在年份尚无官方节假日安排（管理员可导入国务院办公厅通知），暂按周一至周五计算工作日"


@dataclass(frozen=True)
class Deadline:
    due: date
    estimated: bool  # some day was counted Monday–Friday because no calendar knows its year

    @property
    def warning(self) -> str:
        return ESTIMATE_WARNING if self.estimated else ""


class WorkCalendar:
    """A view of the calendar for one computation: the admin table is read once per span of dates."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._overrides: dict[date, bool] = {}
        self._loaded: tuple[date, date] | None = None
        self._covered_years: set[int] | None = None

    def _load(self, start: date, end: date) -> None:
        if self._loaded and self._loaded[0] <= start and end <= self._loaded[1]:
            return
        rows = self.session.execute(
            select(CalendarDay.day, CalendarDay.is_workday).where(CalendarDay.day.between(start, end))
        )
        self._overrides = {day: is_workday for day, is_workday in rows}
        self._loaded = (start, end)

    def covered_years(self) -> set[int]:
        """Years the admin table speaks for: there, a day not in the table is a plain weekday or weekend."""
        if self._covered_years is None:
            year = extract("year", CalendarDay.day)
            self._covered_years = {int(y) for y in self.session.scalars(select(year).group_by(year))}
        return self._covered_years

    def status(self, day: date) -> tuple[bool, bool]:
        """(is a working day, only estimated)."""
        self._load(day - timedelta(days=31), day + timedelta(days=400))
        if day in self._overrides:
            return self._overrides[day], False
        known = package_is_workday(day)
        if known is not None:
            return known, False
        return day.weekday() < 5, day.year not in self.covered_years()

    def add_working_days(self, start: date, working_days: int) -> Deadline:
        """The `working_days`-th working day after `start` (the start day itself does not count)."""
        day, counted, estimated = start, 0, False
        while counted < working_days:
            day += timedelta(days=1)
            is_workday, guessed = self.status(day)
            estimated = estimated or guessed
            counted += is_workday
        return Deadline(day, estimated)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.status(day)[0]
        return count


def package_is_workday(day: date) -> bool | None:
    """chinese-calendar's answer, or None for a year it does not know (it raises past its last release)."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


def deadline(session: Session, start: date, working_days: int) -> Deadline:
    return WorkCalendar(session).add_working_days(start, working_days)


def local_date(session: Session, moment: datetime) -> date:
    """The calendar day in the node's time zone of a stored (naive UTC) moment."""
    zone = ZoneInfo(settings_of(session).timezone)
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()


def local_today(session: Session) -> date:
    return datetime.now(ZoneInfo(settings_of(session).timezone)).date()


def admin_years(session: Session) -> list[tuple[int, int]]:
    """(year, days) of the admin table, for the calendar page."""
    year = extract("year", CalendarDay.day)
    return [(int(y), n) for y, n in session.execute(select(year, func.count()).group_by(year).order_by(year))]
