"""Working days (R07): what mutation testing of `govshare.workdays.service` found untested (docs/testing.md).

Each test names the mutants it kills (`mutmut show NAME` prints one). Refusals name the field and the rule in
Chinese (R18's contract of every error), the admin table's bounds hold at their edges, and what an import
reports is what it did."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from govshare.authz import Actor
from govshare.config import settings_of
from govshare.errors import Forbidden, NotFound, ValidationFailed
from govshare.workdays import notice, service
from govshare.workdays.models import CalendarDay
from govshare.workdays.service import Deadline

SYSTEM = Actor.system()
REFUSED_ROLE = "当前角色无权维护节假日表（需要角色：platform_admin）"
UNTITLED_2027 = "一、元旦：1月1日（周五）至3日（周日）放假，共3天。"


def _raised(error_type, call, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        call(*args, **kwargs)
    return raised.value.field, raised.value.message


def test_r07_a_refused_editor_is_told_which_action_and_role(session, world):
    """Kills x_set_day__mutmut_4, x_remove_day__mutmut_3, x_import_days__mutmut_3, x_import_text__mutmut_6
    (the action named in the refusal dropped)."""
    reviewer = world.actors["reviewer"]
    day = date(2027, 1, 1)
    assert _raised(Forbidden, service.set_day, session, reviewer, day, False, "元旦") == ("role", REFUSED_ROLE)
    assert _raised(Forbidden, service.remove_day, session, reviewer, day) == ("role", REFUSED_ROLE)
    assert _raised(Forbidden, service.import_days, session, reviewer, [], "通知") == ("role", REFUSED_ROLE)
    assert _raised(Forbidden, service.import_text, session, reviewer, UNTITLED_2027, year=2027) == \
        ("role", REFUSED_ROLE)


def test_r07_names_and_sources_of_the_table_are_bounded_at_60_and_200_characters(session):
    """Kills x_set_day__mutmut_12/16/17/18/21/25/26/27 and x_import_days__mutmut_10/14/15/16/56/60/61/62 (the
    limits moved by one, the refused field renamed or dropped)."""
    day = date(2027, 3, 1)
    service.set_day(session, SYSTEM, day, False, "名" * 60, "源" * 200)
    assert _raised(ValidationFailed, service.set_day, session, SYSTEM, day, False, "名" * 61) == \
        ("name", "长度不能超过60个字符")
    assert _raised(ValidationFailed, service.set_day, session, SYSTEM, day, False, "名", "源" * 201) == \
        ("source", "长度不能超过200个字符")

    at_limit = [notice.ParsedDay(date(2027, 3, 2), False, "名" * 60)]
    assert service.import_days(session, SYSTEM, at_limit, "源" * 200).created == 1
    assert _raised(ValidationFailed, service.import_days, session, SYSTEM, at_limit, "源" * 201) == \
        ("source", "长度不能超过200个字符")
    assert [(row.day, row.name) for row in service.list_days(session, 2027)] == [
        (day, "名" * 60), (date(2027, 3, 2), "名" * 60)]
    # last: the refused import leaves its half-written row to the rollback of the request's transaction
    too_long = [notice.ParsedDay(date(2027, 3, 3), False, "名" * 61)]
    assert _raised(ValidationFailed, service.import_days, session, SYSTEM, too_long, "通知") == \
        ("name", "长度不能超过60个字符")
    session.rollback()


def test_r07_a_set_day_keeps_its_source_and_defaults_to_none(session):
    """Kills x_set_day__mutmut_1 (the default source "XXXX") and x_set_day__mutmut_19 (the source dropped)."""
    service.set_day(session, SYSTEM, date(2027, 3, 1), False, "调休", " 省政府通知 ")
    service.set_day(session, SYSTEM, date(2027, 3, 2), False, "调休")
    assert [row.source for row in service.list_days(session, 2027)] == ["省政府通知", ""]


def test_r07_removing_a_day_not_in_the_table_names_the_day(session):
    """Kills x_remove_day__mutmut_9/10/18/19 (the message or the field of the NotFound)."""
    assert _raised(NotFound, service.remove_day, session, SYSTEM, date(2027, 1, 4)) == \
        ("day", "节假日表中没有该日期：2027-01-04")


def test_r07_a_changed_day_is_counted_as_updated(session):
    """Kills x_import_days__mutmut_41/42/43 (the `updated` count)."""
    first = [notice.ParsedDay(date(2027, 1, 1), False, "元旦"), notice.ParsedDay(date(2027, 1, 2), False, "元旦")]
    service.import_days(session, SYSTEM, first, "通知")
    changed = [notice.ParsedDay(date(2027, 1, 1), False, "新年"), notice.ParsedDay(date(2027, 1, 2), True, "元旦"),
               notice.ParsedDay(date(2027, 1, 3), False, "元旦")]
    result = service.import_days(session, SYSTEM, changed, "更正通知")
    assert (result.created, result.updated, result.unchanged) == (1, 2, 0)


def test_r07_an_imported_notice_is_recorded_under_its_own_title_or_the_years(session):
    """Kills x_import_text__mutmut_21 (the notice's own title line ignored), 22, 26 and 28 (the year of an
    untitled notice lost)."""
    untitled = service.import_text(session, SYSTEM, UNTITLED_2027, year=2027)
    assert untitled.source == "国务院办公厅关于2027年部分节假日安排的通知"
    title = "国务院办公厅关于2028年部分节假日安排的补充通知"
    titled = service.import_text(session, SYSTEM, f"{title}\n一、元旦：1月1日（周六）放假，共1天。")
    assert titled.source == title
    assert session.get(CalendarDay, date(2028, 1, 1)).source == title


@pytest.mark.parametrize("year", [1999, 2101])
def test_r07_year_status_is_refused_outside_2000_to_2100(session, year):
    """Kills x_year_status__mutmut_4 (the message dropped)."""
    assert _raised(ValidationFailed, service.year_status, session, year) == \
        ("year", f"年份超出范围（2000–2100）：{year}")


def test_r07_year_status_answers_at_the_edges_and_counts_no_admin_day_as_zero(session):
    """Kills x_year_status__mutmut_2/3 (2000 or 2100 refused) and x_year_status__mutmut_60 (no admin day counted
    as one)."""
    assert service.year_status(session, 2000).known_by == "none"
    assert service.year_status(session, 2100).known_by == "none"
    status = service.year_status(session, 2026)
    assert (status.known_by, status.admin_days, status.package_known) == ("package", 0, True)


def test_r07_a_deadline_preview_takes_0_to_250_working_days(session):
    """Kills x_preview_deadline__mutmut_2/3 (0 refused), 4 (250 refused) and 5–10 (the refusal's message or
    field)."""
    assert service.preview_deadline(session, date(2026, 3, 2), 0) == Deadline(date(2026, 3, 2), False)
    assert service.preview_deadline(session, date(2025, 1, 2), 250) == Deadline(date(2026, 1, 6), False)
    for days in (-1, 251):
        assert _raised(ValidationFailed, service.preview_deadline, session, date(2026, 3, 2), days) == \
            ("days", "工作日数应在 0–250 之间")


def test_r07_a_deadline_preview_from_a_day_out_of_range_names_the_start(session):
    """Kills x_preview_deadline__mutmut_12/14/15/16 (the field `start`) and x__check_day__mutmut_1/2 (the
    default field `day` of the other checks)."""
    assert _raised(ValidationFailed, service.preview_deadline, session, date(1999, 12, 31), 1) == \
        ("start", "日期超出范围（2000–2100年）：1999-12-31")
    assert _raised(ValidationFailed, service.set_day, session, SYSTEM, date(2101, 1, 1), False, "元旦")[0] == "day"


def test_r07_a_table_row_is_shown_with_its_kind_and_who_set_it(session, world):
    """Kills x_day_view__mutmut_14/16 (the kind 上班) and 26/27 (`system` for a row set by the node operator)."""
    by_system = service.set_day(session, SYSTEM, date(2027, 2, 14), True, "春节调休")
    by_admin = service.set_day(session, world.actors["admin"], date(2027, 2, 15), False, "春节")
    shown = service.day_view(session, by_system)
    assert (shown["kind"], shown["created_by"]) == ("上班", "system")
    shown = service.day_view(session, by_admin)
    assert (shown["kind"], shown["created_by"]) == ("放假", "admin")


def test_r07_the_calendar_page_lists_each_admin_year_with_its_days(session):
    """Kills x_admin_years__mutmut_13 (the count of days of each year lost)."""
    service.set_day(session, SYSTEM, date(2028, 1, 1), False, "元旦")
    service.set_day(session, SYSTEM, date(2027, 1, 1), False, "元旦")
    service.set_day(session, SYSTEM, date(2027, 1, 2), False, "元旦")
    assert service.admin_years(session) == [(2027, 2), (2028, 1)]


def test_r07_the_table_is_listed_in_date_order_and_accepts_2000_to_2100(session):
    """Kills x_list_days__mutmut_2 (rows in the order they were written) and x__check_day__mutmut_4/5 (the
    first day of 2000 or the last of 2100 refused)."""
    for day in (date(2100, 12, 31), date(2027, 5, 1), date(2000, 1, 1)):
        service.set_day(session, SYSTEM, day, False, "假日")
    assert [row.day for row in service.list_days(session)] == [date(2000, 1, 1), date(2027, 5, 1), date(2100, 12, 31)]


def test_r07_a_walk_over_the_calendar_reads_the_admin_table_once(session):
    """A deadline walks day by day; the admin table is read once for a window around the start, not once a day.
    Kills xǁWorkCalendarǁ_load__mutmut_2 and 25 (the window forgotten, so every day reads the table again)."""
    dues: list[date] = []
    assert _calendar_reads(session, lambda: dues.append(service.deadline(session, date(2026, 3, 2), 20).due)) == 1
    assert dues == [date(2026, 3, 30)]


def test_r07_the_days_of_stored_moments_and_of_today_are_the_nodes_not_the_servers(session, monkeypatch):
    """Stored moments are UTC and deadlines count the node's calendar days (GOVSHARE_TIMEZONE), whatever zone the
    server's clock is set to. Kills x_day_in_zone__mutmut_2 (a stored moment read as the server's local time) and
    x_local_today__mutmut_1 (today taken in the server's zone): the server here runs 26 hours behind the node."""
    monkeypatch.setenv("TZ", "Etc/GMT+12")  # UTC−12
    time.tzset()
    try:
        moment = datetime(2026, 3, 1, 15, 0)  # 23:00 in Shanghai; read as 15:00 at UTC−12 it would be 2 March there
        assert service.day_in_zone("Asia/Shanghai", moment) == date(2026, 3, 1)
        node = settings_of(session).model_copy(update={"timezone": "Etc/GMT-14"})  # UTC+14
        monkeypatch.setitem(session.info, "settings", node)
        assert service.local_today(session) == datetime.now(ZoneInfo("Etc/GMT-14")).date()
    finally:
        monkeypatch.undo()
        time.tzset()


def _calendar_reads(session, call) -> int:
    """How many times `call` reads the admin table."""
    statements: list[str] = []

    def seen(_connection, _cursor, statement, *_args):
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return sum("calendar_days" in statement for statement in statements)


def test_r07_the_calendar_window_is_31_days_back_and_400_ahead_edges_included(session):
    """The window read once covers [day − 31, day + 400]; its edges are answered from it, a day beyond reads the
    table again. Kills xǁWorkCalendarǁ_load__mutmut_3 and 4 (an edge left out) and 9 and 12 (a wider window)."""
    start = date(2027, 3, 1)
    calendar = service.WorkCalendar(session)
    calendar.status(start)
    edges = (start - timedelta(days=31), start + timedelta(days=400))
    assert _calendar_reads(session, lambda: [calendar.status(day) for day in edges]) == 0
    for beyond in (start - timedelta(days=32), start + timedelta(days=401)):
        fresh = service.WorkCalendar(session)
        fresh.status(start)
        assert _calendar_reads(session, partial(fresh.status, beyond)) == 1, beyond


def test_r07_an_import_of_more_than_a_thousand_days_finds_every_stored_one(session):
    """The stored days are looked up in chunks of 500: a second import of 1,100 days finds all of them (none is
    written twice). Kills x__rows_of__mutmut_6 (only the first 500 chunk starts, so days after the 999th are
    missed and inserted again) and 9 (chunks 501 apart, so every 501st day is missed)."""
    days = [notice.ParsedDay(date(2030, 1, 1) + timedelta(days=n), n % 2 == 0, "调整") for n in range(1100)]
    assert service.import_days(session, SYSTEM, days, "通知").created == 1100
    again = service.import_days(session, SYSTEM, days, "通知")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1100)


def test_r18_each_calendar_change_is_an_admin_event_saying_what_the_day_became(session):
    """Kills set_day_67/69/71/72: the event's sentence says 上班日 or 休息日 as registered, and the day's name only
    when it has one (nothing, not empty brackets, otherwise)."""
    from sqlalchemy import select

    from govshare.orgs.models import AdminEvent

    service.set_day(session, SYSTEM, date(2031, 10, 1), False, "国庆节")
    service.set_day(session, SYSTEM, date(2031, 10, 2), False, "")
    service.set_day(session, SYSTEM, date(2031, 10, 11), True, "")
    summaries = list(session.scalars(select(AdminEvent.summary).order_by(AdminEvent.id)))
    assert summaries == ["登记 2031-10-01 为休息日（国庆节）", "登记 2031-10-02 为休息日", "登记 2031-10-11 为上班日"]
