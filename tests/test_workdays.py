"""Working days (R07): chinese-calendar, the admin's holiday table that takes precedence, the State Council
notice parser, estimated deadlines for unknown years, and the API and CLI over them."""

from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest

from govshare.authz import Actor
from govshare.errors import Forbidden, ValidationFailed
from govshare.workdays import notice, service
from govshare.workdays.models import CalendarDay
from govshare.workdays.service import ESTIMATE_WARNING, Deadline, deadline
from tests.conftest import REAL_IS_WORKDAY

SYSTEM = Actor.system()

NOTICE_2026 = """国务院办公厅关于2026年部分节假日安排的通知
国办发明电〔2025〕7号
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
经国务院批准，现将2026年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
三、清明节：4月4日（周六）至6日（周一）放假，共3天。
四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
五、端午节：6月19日（周五）至21日（周日）放假，共3天。
六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，确保人民群众祥和平安度过节日假期。
国务院办公厅
2025年11月4日
"""

NOTICE_2025 = """国务院办公厅关于2025年部分节假日安排的通知
一、元旦：1月1日（周三）放假1天，不调休。
二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。
三、清明节：4月4日（周五）至6日（周日）放假，共3天。
四、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。
六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。
"""

# Not yet published when chinese-calendar 1.11 was released: a plausible notice for 2027.
NOTICE_2027 = """国务院办公厅关于2027年部分节假日安排的通知
一、元旦：1月1日（周五）至3日（周日）放假，共3天。
二、春节：2月5日（农历除夕、周五）至13日（农历正月初八、周六）放假调休，共9天。2月14日（周日）上班。
三、清明节：4月3日（周六）至5日（周一）放假，共3天。
四、劳动节：5月1日（周六）至5日（周三）放假调休，共5天。4月25日（周日）、5月8日（周六）上班。
五、端午节：6月9日（周三）放假，共1天。
六、中秋节：9月15日（周三）放假，共1天。
七、国庆节：10月1日（周五）至7日（周四）放假调休，共7天。9月26日（周日）、10月9日（周六）上班。
"""


def _package_days(year: int) -> tuple[set[date], set[date]]:
    holidays = {d for d in chinese_calendar.holidays if d.year == year}
    workdays = {d for d in chinese_calendar.workdays if d.year == year}
    return holidays, workdays


def _split(days: list[notice.ParsedDay]) -> tuple[set[date], set[date]]:
    return {d.day for d in days if not d.is_workday}, {d.day for d in days if d.is_workday}


def _flat(output: str) -> str:
    """CLI output without the line breaks rich inserts at the terminal width."""
    return "".join(output.split())


# ---------------------------------------------------------------- deadlines over chinese-calendar


def test_r07_national_day_week_2025_ten_working_days(session):
    # From Friday 2025-09-26, by hand: Sat 27 off; Sun 28 make-up (1); Mon 29 (2); Tue 30 (3); Oct 1–8 off;
    # Thu 9 (4); Fri 10 (5); Sat 11 make-up (6); Sun 12 off; Mon 13 (7); Tue 14 (8); Wed 15 (9); Thu 16 (10).
    assert deadline(session, date(2025, 9, 26), 10) == Deadline(date(2025, 10, 16), estimated=False)
    # The whole holiday week is skipped: one working day after Sept 30 is Oct 9.
    assert deadline(session, date(2025, 9, 30), 1).due == date(2025, 10, 9)


def test_r07_make_up_saturday_counts_and_plain_saturday_does_not(session):
    assert deadline(session, date(2025, 10, 10), 1).due == date(2025, 10, 11)  # Saturday, 调休上班
    assert deadline(session, date(2025, 9, 27), 1).due == date(2025, 9, 28)  # Sunday, 调休上班
    assert deadline(session, date(2025, 10, 17), 1).due == date(2025, 10, 20)  # plain weekend skipped
    calendar = service.WorkCalendar(session)
    assert calendar.working_days_between(date(2025, 9, 26), date(2025, 10, 16)) == 10


def test_r07_admin_table_overrides_the_package(session, world):
    admin = world.actors["admin"]
    # Monday 2025-10-13 is a working day for chinese-calendar; the admin declares it a holiday.
    row = service.set_day(session, admin, date(2025, 10, 13), False, "地方假日", "测试")
    assert row.created_by_id == world.ids["user:admin"]
    assert deadline(session, date(2025, 9, 26), 10).due == date(2025, 10, 17)
    # And a package holiday (Oct 8) declared a working day counts.
    service.set_day(session, admin, date(2025, 10, 8), True, "调整")
    assert deadline(session, date(2025, 9, 30), 1).due == date(2025, 10, 8)
    # Removing the rows gives the package's answer back.
    service.remove_day(session, admin, date(2025, 10, 13))
    service.remove_day(session, admin, date(2025, 10, 8))
    assert deadline(session, date(2025, 9, 26), 10).due == date(2025, 10, 16)


def test_r07_set_day_updates_in_place(session):
    service.set_day(session, SYSTEM, date(2027, 3, 1), False, "旧名称")
    service.set_day(session, SYSTEM, date(2027, 3, 1), True, " 新名称 ")
    [row] = service.list_days(session, 2027)
    assert (row.is_workday, row.name, row.created_by_id) == (True, "新名称", None)


# ---------------------------------------------------------------- years nobody knows


def test_r07_deadline_in_2027_is_estimated_until_the_notice_is_imported(session):
    # Mon–Fri: Dec 21–25 (5), Dec 28–31 (9), Fri Jan 1 2027 (10) — a guess, New Year's Day is surely off.
    guessed = deadline(session, date(2026, 12, 20), 10)
    assert guessed == Deadline(date(2027, 1, 1), estimated=True)
    assert guessed.warning == ESTIMATE_WARNING
    assert service.year_status(session, 2027).known_by == "none"

    result = service.import_text(session, SYSTEM, NOTICE_2027)
    assert (result.created, result.updated, result.unchanged) == (34, 0, 0)  # 29 放假 + 5 上班
    assert result.source == "国务院办公厅关于2027年部分节假日安排的通知"
    status = service.year_status(session, 2027)
    assert (status.known_by, status.admin_days, status.estimated, status.warning) == ("admin", 34, False, "")

    # Jan 1–3 are holidays now: the 10th working day is Monday Jan 4, and nothing is estimated.
    assert deadline(session, date(2026, 12, 20), 10) == Deadline(date(2027, 1, 4), estimated=False)
    # Spring Festival Feb 5–13 off, Sunday Feb 14 is a make-up working day.
    assert deadline(session, date(2027, 2, 4), 1) == Deadline(date(2027, 2, 14), estimated=False)
    # A day the notice does not name is a plain weekday or weekend, known, not estimated.
    assert deadline(session, date(2027, 3, 5), 1) == Deadline(date(2027, 3, 8), estimated=False)

    again = service.import_text(session, SYSTEM, NOTICE_2027)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 34)


def test_r07_deadline_spanning_2026_into_2027(session):
    # Thu 2026-12-24: Fri 25 (1), Mon 28 … Thu 31 (5) — all known to chinese-calendar.
    assert deadline(session, date(2026, 12, 24), 5) == Deadline(date(2026, 12, 31), estimated=False)
    # One more working day falls in 2027, which nobody knows: Friday Jan 1, estimated.
    assert deadline(session, date(2026, 12, 24), 6) == Deadline(date(2027, 1, 1), estimated=True)
    service.import_days(session, SYSTEM, notice.parse_notice(NOTICE_2027), "2027年通知")
    assert deadline(session, date(2026, 12, 24), 6) == Deadline(date(2027, 1, 4), estimated=False)


def test_r07_the_installed_calendars_own_last_year_plus_one_is_estimated(session, monkeypatch):
    """The other tests see a chinese-calendar that knows the years up to 2026 (conftest), so that a release
    adding 2027 does not change their answers. Here the installed release itself: whatever year it knows
    last is known, and the year after is estimated until the admin enters it."""
    monkeypatch.setattr(chinese_calendar, "is_workday", REAL_IS_WORKDAY)
    last = max(day.year for day in chinese_calendar.holidays)
    unknown = last + 1
    assert service.year_status(session, last).known_by == "package"
    assert service.year_status(session, unknown).known_by == "none"
    assert not deadline(session, date(last, 6, 1), 1).estimated
    assert deadline(session, date(unknown, 6, 1), 1).estimated
    service.set_day(session, SYSTEM, date(unknown, 6, 2), False, "测试")
    assert service.year_status(session, unknown).known_by == "admin"


def test_r07_a_december_day_of_next_years_notice_does_not_make_a_year_known(session):
    # The 2028 notice may start 元旦 on 2027-12-31: that day is a holiday, yet the rest of 2027 stays unknown.
    service.import_days(session, SYSTEM, notice.parse_notice(
        "国务院办公厅关于2028年部分节假日安排的通知\n一、元旦：12月31日（周五）至1月2日（周日）放假，共3天。"), "2028")
    assert service.year_status(session, 2027).known_by == "none"
    assert service.year_status(session, 2028).known_by == "admin"
    assert deadline(session, date(2027, 12, 30), 1) == Deadline(date(2028, 1, 3), estimated=False)
    assert deadline(session, date(2027, 6, 1), 1).estimated


def test_r07_year_status(session):
    assert service.year_status(session, 2026).known_by == "package"
    service.set_day(session, SYSTEM, date(2026, 10, 12), False, "测试")
    assert service.year_status(session, 2026).known_by == "admin"  # the table takes precedence
    with pytest.raises(ValidationFailed) as refused:
        service.year_status(session, 1800)
    assert refused.value.field == "year"


# ---------------------------------------------------------------- the notice parser


@pytest.mark.parametrize(("year", "text"), [(2026, NOTICE_2026), (2025, NOTICE_2025)])
def test_r07_notice_parse_agrees_with_chinese_calendar(year, text):
    """Every day parsed from the real notice is the package's: the same holidays and make-up working days."""
    holidays, workdays = _split(notice.parse_notice(text))
    assert (holidays, workdays) == _package_days(year)


def test_r07_notice_parse_names_and_ranges():
    days = {d.day: d for d in notice.parse_notice(NOTICE_2026)}
    assert days[date(2026, 2, 14)] == notice.ParsedDay(date(2026, 2, 14), True, "春节")
    assert days[date(2026, 10, 7)].name == "国庆节" and not days[date(2026, 10, 7)].is_workday
    parsed_2025 = {d.day: d for d in notice.parse_notice(NOTICE_2025)}
    dragon_boat = [parsed_2025[date(2025, m, d)].name for m, d in ((5, 31), (6, 1), (6, 2))]  # 5月31日至6月2日
    assert dragon_boat == ["端午节"] * 3
    assert parsed_2025[date(2025, 10, 8)].name == "国庆节、中秋节"


def test_r07_notice_parse_ranges_across_the_year_and_single_days():
    implicit = notice.parse_notice("一、元旦：12月31日至1月2日放假调休，共3天。12月29日（周四）上班。\n"
                                   "二、清明节：4月5日放假，共1天。", year=2023)
    explicit = notice.parse_notice("国务院办公厅关于2023年部分节假日安排的通知\n"
                                   "一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。")
    holidays, workdays = _split(implicit)
    assert holidays == {date(2022, 12, 31), date(2023, 1, 1), date(2023, 1, 2), date(2023, 4, 5)}
    assert workdays == {date(2022, 12, 29)}
    assert _split(explicit)[0] == {date(2022, 12, 31), date(2023, 1, 1), date(2023, 1, 2)}
    one_day = notice.parse_notice("一、元旦：1月1日放假，共1天。", year=2027)
    assert one_day == [notice.ParsedDay(date(2027, 1, 1), False, "元旦")]
    across_months = _split(notice.parse_notice("一、春节：2月28日至3月1日放假，共2天。", year=2027))[0]
    assert across_months == {date(2027, 2, 28), date(2027, 3, 1)}


def test_r07_notice_pasted_on_one_line():
    one_line = " ".join(NOTICE_2026.splitlines())
    assert _split(notice.parse_notice(one_line)) == _package_days(2026)


@pytest.mark.parametrize(("text", "year", "message"), [
    ("一、元旦：1月1日至3日放假，共4天。", 2026, "第1行（元旦）：写明共4天"),
    ("标题\n\n二、春节：2月15日（周日）至23日（周一）放假调休，共9天。", 2027,
     "第3行（春节）：2027年2月15日标注为周日"),
    ("一、元旦：1月1日放假。\n二、春节：2月30日放假。", 2026, "第2行（春节）：日期不存在：2026年2月30日"),
    ("一、元旦：1月4日上班。", 2026, "第1行（元旦）：没有找到放假日期"),
    ("一、元旦：1月1日放假。\n二、春节 2月15日放假", 2026, "第2行：无法识别的条目"),
    ("一、元旦：1月1日至3日放假。\n二、春节：2月1日放假。1月3日上班。", 2026,
     "第2行（春节）：2026年1月3日在第1行是放假"),
    ("一、国庆节：10月1日至9月7日放假。", 2026, "第1行（国庆节）：放假结束日"),
    ("一、国庆节：10月1日至11月7日放假。", 2026, "第1行（国庆节）：放假区间长达38天"),
    ("一、国庆节：10月1日、10月3日放假。", 2026, "第1行（国庆节）：无法识别放假日期"),
    ("一、元旦：3日放假。", 2026, "第1行（元旦）：日期缺少月份"),
])
def test_notice_errors_name_the_line(text, year, message):
    with pytest.raises(ValidationFailed) as failed:
        notice.parse_notice(text, year)
    assert message in failed.value.message
    assert failed.value.field == "text"


def test_notice_year_from_title_or_argument():
    with pytest.raises(ValidationFailed) as conflict:
        notice.parse_notice(NOTICE_2026, year=2027)
    assert conflict.value.field == "year" and "2026" in conflict.value.message
    with pytest.raises(ValidationFailed) as missing:
        notice.parse_notice("一、元旦：1月1日放假。")
    assert missing.value.field == "year"
    with pytest.raises(ValidationFailed) as empty:
        notice.parse_notice("国务院办公厅关于2027年部分节假日安排的通知\n另行通知。")
    assert "没有找到节假日安排条目" in empty.value.message


def test_r07_csv_parse():
    text = "\ufeffdate,type,name\n2027-01-01,放假,元旦\n2027/2/14,workday,春节\n\n2027-01-01,holiday,元旦\n"
    assert notice.parse(text, "csv") == [notice.ParsedDay(date(2027, 1, 1), False, "元旦"),
                                         notice.ParsedDay(date(2027, 2, 14), True, "春节")]
    for bad, message in [("2027-02-30,放假,x", "第1行：日期无效"), ("2027-01-01,休息日,x", "第1行：类型应为"),
                         ("2027-01-01,放假\n2027-01-01,上班", "第2行：2027-01-01在第1行是放假"),
                         ("date,type", "没有日期行")]:
        with pytest.raises(ValidationFailed) as failed:
            notice.parse(bad, "csv")
        assert message in failed.value.message
    with pytest.raises(ValidationFailed) as unknown:
        notice.parse("x", "xlsx")
    assert unknown.value.field == "format"


# ---------------------------------------------------------------- authorization in the service


def test_r07_only_the_platform_admin_edits_the_table(session, world):
    service.set_day(session, world.actors["admin"], date(2027, 1, 1), False, "元旦")
    for who in ("reviewer", "police_manager", "auditor"):
        actor = world.actors[who]
        with pytest.raises(Forbidden):
            service.set_day(session, actor, date(2027, 1, 1), True, "改")
        with pytest.raises(Forbidden):
            service.remove_day(session, actor, date(2027, 1, 1))
        with pytest.raises(Forbidden):
            service.import_text(session, actor, NOTICE_2027)
        with pytest.raises(Forbidden):  # refused before the (bad) text is even parsed
            service.import_text(session, actor, "not a notice")
    [row] = service.list_days(session)
    assert (row.day, row.is_workday, row.name) == (date(2027, 1, 1), False, "元旦")


# ---------------------------------------------------------------- API


def test_r07_calendar_api_admin_edits_and_anyone_reads(client, world, db):
    admin, reader = world.headers("admin"), world.headers("civil_requester")
    estimated = client.get("/api/v1/calendar/deadline", params={"start": "2026-12-20", "days": 10}, headers=reader)
    assert estimated.status_code == 200
    assert estimated.json() == {"start": "2026-12-20", "working_days": 10, "due": "2027-01-01", "estimated": True,
                                     "warning": ESTIMATE_WARNING}
    assert client.get("/api/v1/calendar/years/2027", headers=reader).json()["known_by"] == "none"

    imported = client.post("/api/v1/calendar/import", json={"text": NOTICE_2027}, headers=admin)
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["created"], body["updated"], len(body["days"])) == (34, 0, 34)
    assert body["days"][0] == {"day": "2027-01-01", "is_workday": False, "name": "元旦"}

    known = client.get("/api/v1/calendar/deadline", params={"start": "2026-12-20", "days": 10}, headers=reader).json()
    assert (known["due"], known["estimated"], known["warning"]) == ("2027-01-04", False, "")
    status = client.get("/api/v1/calendar/years/2027", headers=reader).json()
    assert (status["known_by"], status["admin_days"], status["estimated"]) == ("admin", 34, False)

    put = client.put("/api/v1/calendar/days/2027-01-04", json={"is_workday": False, "name": "补假"}, headers=admin)
    assert put.status_code == 200 and put.json()["created_by"] == "admin" and put.json()["kind"] == "放假"
    moved = client.get("/api/v1/calendar/deadline", params={"start": "2026-12-20", "days": 10}, headers=reader)
    assert moved.json()["due"] == "2027-01-05"
    listed = client.get("/api/v1/calendar/days", params={"year": 2027}, headers=reader).json()
    assert len(listed) == 35 and listed[0]["source"] == "国务院办公厅关于2027年部分节假日安排的通知"
    assert client.delete("/api/v1/calendar/days/2027-01-04", headers=admin).status_code == 204
    assert client.delete("/api/v1/calendar/days/2027-01-04", headers=admin).status_code == 404
    assert len(client.get("/api/v1/calendar/days", params={"year": 2027}, headers=reader).json()) == 34


def test_r07_calendar_api_refuses_non_admins_and_changes_nothing(client, world, db):
    admin = world.headers("admin")
    assert client.put("/api/v1/calendar/days/2027-01-01", json={"is_workday": False, "name": "元旦"},
                      headers=admin).status_code == 200
    for who in ("reviewer", "police_manager", "civil_requester", "auditor"):
        headers = world.headers(who)
        put = client.put("/api/v1/calendar/days/2027-01-01", json={"is_workday": True, "name": "改"}, headers=headers)
        assert put.status_code == 403 and put.json()["error"]["code"] == "forbidden"
        assert client.put("/api/v1/calendar/days/2027-01-02", json={"is_workday": False},
                          headers=headers).status_code == 403
        assert client.delete("/api/v1/calendar/days/2027-01-01", headers=headers).status_code == 403
        assert client.post("/api/v1/calendar/import", json={"text": NOTICE_2027},
                           headers=headers).status_code == 403
    assert client.get("/api/v1/calendar/days").status_code == 401
    with db.session() as s:
        rows = s.query(CalendarDay).all()
        assert [(r.day, r.is_workday, r.name, r.created_by_id) for r in rows] == [
            (date(2027, 1, 1), False, "元旦", world.ids["user:admin"])]


def test_calendar_api_validation(client, world):
    admin = world.headers("admin")
    bad = client.post("/api/v1/calendar/import", json={"text": "一、元旦：1月1日至3日放假，共4天。", "year": 2027},
                      headers=admin)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "text" and "第1行（元旦）" in bad.json()["error"]["message"]
    csv = client.post("/api/v1/calendar/import", json={"text": "2027-01-01,放假,元旦", "format": "csv"}, headers=admin)
    assert csv.status_code == 200 and csv.json()["source"] == "CSV 导入"
    too_far = client.get("/api/v1/calendar/deadline", params={"start": "2026-01-01", "days": 9999}, headers=admin)
    assert too_far.status_code == 422 and too_far.json()["error"]["field"] == "days"
    assert client.get("/api/v1/calendar/days", params={"year": 2027}, headers=admin).json()[0]["name"] == "元旦"


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli(settings, db, monkeypatch):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["calendar", *args])
    get_settings.cache_clear()


def test_r07_calendar_commands(cli, db, tmp_path):
    before = cli("deadline", "2026-12-20", "10")
    assert before.exit_code == 0, before.output
    assert "2027-01-01" in before.output and ESTIMATE_WARNING in _flat(before.output)

    path = tmp_path / "2027.txt"
    path.write_text(NOTICE_2027, encoding="utf-8")
    imported = cli("import", str(path))
    assert imported.exit_code == 0, imported.output
    assert "新增34" in _flat(imported.output)

    after = cli("deadline", "2026-12-20", "10")
    assert "2027-01-04" in after.output and ESTIMATE_WARNING not in _flat(after.output)
    listed = cli("list", "--year", "2027")
    assert listed.exit_code == 0 and "国庆节" in listed.output and "管理员节假日表" in listed.output

    assert cli("set", "2027-01-04", "--holiday", "--name", "补假").exit_code == 0
    assert "2027-01-05" in cli("deadline", "2026-12-20", "10").output
    assert cli("remove", "2027-01-04").exit_code == 0
    assert "2027-01-04" in cli("deadline", "2026-12-20", "10").output
    assert "未知" in cli("year", "2028").output

    csv_path = tmp_path / "days.csv"
    csv_path.write_text("date,type,name\n2028-01-03,放假,元旦\n", encoding="utf-8")
    assert cli("import", str(csv_path)).exit_code == 0
    with db.session() as s:
        assert s.get(CalendarDay, date(2028, 1, 3)).source == "CSV 导入"


def test_r07_calendar_commands_refuse_and_report(cli, db, world, tmp_path):
    refused = cli("set", "2027-01-01", "--holiday", "--name", "元旦", "--user", "police_manager")
    assert refused.exit_code == 2
    path = tmp_path / "bad.txt"
    path.write_text("一、元旦：1月1日至3日放假，共4天。", encoding="utf-8")
    bad = cli("import", str(path), "--year", "2027")
    assert bad.exit_code == 2 and "第1行（元旦）" in _flat(bad.output)
    assert cli("set", "2027-13-01", "--workday").exit_code == 2
    assert cli("remove", "2027-01-01").exit_code == 2  # not in the table
    with db.session() as s:
        assert s.query(CalendarDay).count() == 0
