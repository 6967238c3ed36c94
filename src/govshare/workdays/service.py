"""Working days and deadlines (R05, R07, R08, R20).

Which days are working days, in this order: the admin's holiday table (CalendarDay, e.g. imported from the
State Council's yearly notice), then chinese-calendar (official holidays and make-up working days of the
years it knows), then plain Monday–Friday. A deadline that had to count any day Monday–Friday because
neither knows its year is `estimated`, and every page that shows it shows a warning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, require_role
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import ValidationFailed, found
from govshare.orgs.models import AdminAction, Role, User
from govshare.orgs.service import record_admin_change
from govshare.workdays import notice
from govshare.workdays.models import CalendarDay
from govshare.workdays.notice import ParsedDay

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

    def _load(self, day: date) -> None:
        """Reads the table for a window around `day` once; a walk day by day reloads only when it leaves it."""
        if self._loaded and self._loaded[0] <= day <= self._loaded[1]:
            return
        start, end = day - timedelta(days=31), day + timedelta(days=400)
        rows = self.session.execute(
            select(CalendarDay.day, CalendarDay.is_workday).where(CalendarDay.day.between(start, end))
        )
        self._overrides = {d: is_workday for d, is_workday in rows}
        self._loaded = (start, end)

    def covered_years(self) -> set[int]:
        """Years the admin table speaks for: there, a day not in the table is a plain weekday or weekend."""
        if self._covered_years is None:
            self._covered_years = covered_years(self.session)
        return self._covered_years

    def status(self, day: date) -> tuple[bool, bool]:
        """(is a working day, only estimated)."""
        self._load(day)
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
    return day_in_zone(settings_of(session).timezone, moment)


def day_in_zone(timezone: str, moment: datetime) -> date:
    """The calendar day in `timezone` of a stored (naive UTC) moment."""
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).date()


def local_today(session: Session) -> date:
    return datetime.now(ZoneInfo(settings_of(session).timezone)).date()


def admin_years(session: Session) -> list[tuple[int, int]]:
    """(year, days) of the admin table, for the calendar page."""
    year = extract("year", CalendarDay.day)
    return [(int(y), n) for y, n in session.execute(select(year, func.count()).group_by(year).order_by(year))]


def covered_years(session: Session) -> set[int]:
    """Years with a day in the admin table before December. The notice of year Y may start 元旦 in
    December of Y-1 (12月31日至1月2日) but never arranges anything else of Y-1, so a December day alone
    does not make the table speak for its year."""
    year = extract("year", CalendarDay.day)
    query = select(year).where(extract("month", CalendarDay.day) < 12).group_by(year)
    return {int(y) for y in session.scalars(query)}


def package_knows(year: int) -> bool:
    return package_is_workday(date(year, 6, 1)) is not None


# ---------------------------------------------------------------- the admin's table

EDIT_ACTION = "维护节假日表"
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_PREVIEW_DAYS = 250


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    source: str
    days: list[ParsedDay]


@dataclass(frozen=True)
class YearStatus:
    year: int
    known_by: str  # "admin" (the table), "package" (chinese-calendar) or "none" (Monday–Friday, estimated)
    admin_days: int
    package_known: bool

    @property
    def estimated(self) -> bool:
        return self.known_by == "none"

    @property
    def label(self) -> str:
        return {"admin": "管理员节假日表", "package": "chinese-calendar 官方数据", "none": "未知（按周一至周五估算）"}[
            self.known_by]

    @property
    def warning(self) -> str:
        return ESTIMATE_WARNING if self.estimated else ""


def list_days(session: Session, year: int | None = None) -> list[CalendarDay]:
    """The table, in date order; reading it is open to every logged-in user."""
    query = select(CalendarDay).order_by(CalendarDay.day)
    if year is not None:
        query = query.where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)))
    return list(session.scalars(query))


def set_day(session: Session, actor: Actor, day: date, is_workday: bool, name: str, source: str = "") -> CalendarDay:
    """Declares a day a holiday or a working day (insert or update)."""
    require_role(actor, Role.PLATFORM_ADMIN, action=EDIT_ACTION)
    _check_day(day)
    name, source = _text(name, 60, "name"), _text(source, 200, "source")
    row = session.get(CalendarDay, day)
    if row is not None and (row.is_workday, row.name) == (is_workday, name):
        return row  # nothing changes: nothing is recorded (as an import's unchanged days)
    if row is None:
        row = CalendarDay(day=day)
        session.add(row)
    _write(row, actor, is_workday, name, source)
    session.flush()
    record_admin_change(session, actor, AdminAction.CALENDAR_DAY_SET, "calendar_day", _day_id(day),
                        f"登记 {day} 为{'上班日' if is_workday else '休息日'}" + (f"（{name}）" if name else ""))
    return row


def remove_day(session: Session, actor: Actor, day: date) -> None:
    """The day falls back to chinese-calendar, or to Monday–Friday."""
    require_role(actor, Role.PLATFORM_ADMIN, action=EDIT_ACTION)
    row = found(session.get(CalendarDay, day), f"节假日表中没有该日期：{day}", "day")
    session.delete(row)
    session.flush()
    record_admin_change(session, actor, AdminAction.CALENDAR_DAY_REMOVED, "calendar_day", _day_id(day),
                        f"删除 {day} 的节假日登记（恢复按国家安排或周一至周五计算）")


def import_days(session: Session, actor: Actor, days: list[ParsedDay], source: str) -> ImportResult:
    """Upserts parsed days; days of the table that the import does not name are kept."""
    require_role(actor, Role.PLATFORM_ADMIN, action=EDIT_ACTION)
    source = _text(source, 200, "source")
    for parsed in days:
        _check_day(parsed.day)
    existing = _rows_of(session, [p.day for p in days])
    created = updated = unchanged = 0
    for parsed in days:
        row = existing.get(parsed.day)
        if row is not None and (row.is_workday, row.name) == (parsed.is_workday, parsed.name):
            unchanged += 1
            continue
        if row is None:
            row = existing[parsed.day] = CalendarDay(day=parsed.day)
            session.add(row)
            created += 1
        else:
            updated += 1
        _write(row, actor, parsed.is_workday, _text(parsed.name, 60, "name"), source)
    session.flush()
    if created or updated:
        first, last = min(p.day for p in days), max(p.day for p in days)
        record_admin_change(session, actor, AdminAction.CALENDAR_IMPORTED, "calendar_day", _day_id(first),
                            f"导入节假日安排“{source}”（{first} 至 {last}）：新增 {created} 天，修改 {updated} 天，"
                            f"未变 {unchanged} 天")
    return ImportResult(created, updated, unchanged, source, list(days))


def _day_id(day: date) -> int:
    """A calendar day as the record's target id: 2027-10-08 → 20271008."""
    return day.year * 10_000 + day.month * 100 + day.day


def import_text(session: Session, actor: Actor, text: str, fmt: str = "notice", year: int | None = None,
                source: str = "") -> ImportResult:
    """Parses a notice or CSV and imports it. The role is checked first, so that a refused user learns
    nothing from parse errors and nothing is parsed for nobody."""
    require_role(actor, Role.PLATFORM_ADMIN, action=EDIT_ACTION)
    days = notice.parse(text, fmt, year)
    if not source:
        source = notice.notice_title(text, notice.notice_year(text, year)) if fmt == "notice" else "CSV 导入"
    return import_days(session, actor, days, source)


def year_status(session: Session, year: int) -> YearStatus:
    """Who knows the holidays of `year`: the admin table first, then chinese-calendar, else nobody."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed(f"年份超出范围（{MIN_YEAR}–{MAX_YEAR}）：{year}", field="year")
    admin_days = session.scalar(
        select(func.count()).select_from(CalendarDay).where(CalendarDay.day.between(date(year, 1, 1),
                                                                                   date(year, 12, 31)))
    )
    in_package = package_knows(year)
    known_by = "admin" if year in covered_years(session) else "package" if in_package else "none"
    return YearStatus(year, known_by, int(admin_days or 0), in_package)


def preview_deadline(session: Session, start: date, working_days: int) -> Deadline:
    """A deadline asked for by a person (API, CLI): bounded so that a typo cannot walk for years."""
    if not 0 <= working_days <= MAX_PREVIEW_DAYS:
        raise ValidationFailed(f"工作日数应在 0–{MAX_PREVIEW_DAYS} 之间", field="days")
    _check_day(start, field="start")
    return deadline(session, start, working_days)


def day_view(session: Session, row: CalendarDay) -> dict:
    """A table row as the API and pages show it, with who set it."""
    user = session.get(User, row.created_by_id) if row.created_by_id else None
    return {"day": row.day, "is_workday": row.is_workday, "kind": "上班" if row.is_workday else "放假",
            "name": row.name, "source": row.source, "created_by": user.username if user else "system",
            "created_at": row.created_at}


def _rows_of(session: Session, days: list[date]) -> dict[date, CalendarDay]:
    rows: dict[date, CalendarDay] = {}
    for i in range(0, len(days), 500):  # bounded IN lists
        chunk = select(CalendarDay).where(CalendarDay.day.in_(days[i:i + 500]))
        rows.update({r.day: r for r in session.scalars(chunk)})
    return rows


def _write(row: CalendarDay, actor: Actor, is_workday: bool, name: str, source: str) -> None:
    """created_by/created_at record the last writer: the table keeps no history, and who set the value in
    force is what an administrator needs to know."""
    row.is_workday, row.name, row.source = bool(is_workday), name, source
    row.created_by_id, row.created_at = actor.user_id, utcnow()


def _check_day(day: date, field: str = "day") -> None:
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValidationFailed(f"日期超出范围（{MIN_YEAR}–{MAX_YEAR}年）：{day}", field=field)


def _text(value: str, limit: int, field: str) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationFailed(f"长度不能超过{limit}个字符", field=field)
    return value
