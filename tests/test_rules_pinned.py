"""Rules pinned so that changing one fails a test (issue 20): the reply deadline of a submission is the setting
counted in working days (R07), only published entries can be requested (R02), out-of-grant attempts count
toward suspension only within the window (R09), and a purpose, scenario and duty basis must say something (R07).

This module runs with settings that differ from the defaults (reply deadline, suspension attempts and window),
so a literal written into the code where the setting belongs cannot pass; the defaults themselves are pinned to
the README's table at the end."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from govshare.audit.models import UsageRecord
from govshare.catalog import service as catalog
from govshare.config import Settings
from govshare.errors import NotFound, ValidationFailed
from govshare.gateway import service as gateway
from govshare.gateway import tokens
from govshare.gateway.service import Call, Caller, Mode, Refused
from govshare.notify.models import Notification
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant, RequestEvent, ShareRequest
from govshare.workdays import service as workdays
from tests.factories import consumer_system, population_entry, published_entry, request_in
from tests.gateway_factories import served_population
from tests.web_helpers import token

REPLY_DAYS = 7  # the default is 10
SUSPEND_AFTER = 3  # the default is 5
SUSPEND_WINDOW_MINUTES = 30  # the default is 10
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "var", reply_working_days=REPLY_DAYS,
                    suspend_after_refusals=SUSPEND_AFTER, suspend_window_minutes=SUSPEND_WINDOW_MINUTES)


def _stored_requests(db) -> tuple[int, int, int]:
    """(requests, their history events, grants) in the database."""
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(ShareRequest)),
                s.scalar(select(func.count()).select_from(RequestEvent)),
                s.scalar(select(func.count()).select_from(Grant)))


# ---------------------------------------------------------------- R07: the reply deadline is the setting


# (submitted at, as stored in UTC; the reply due REPLY_DAYS working days later on the official calendar)
SUBMISSIONS = [
    # Tuesday before the National Day holiday (1–8 October); Saturday 11 October is a make-up working day
    (datetime(2025, 9, 30, 2, 0), date(2025, 10, 16)),
    # a Friday: the weekend does not count
    (datetime(2025, 11, 14, 2, 0), date(2025, 11, 25)),
    # 01:00 on Friday 14 November in Shanghai, still Thursday in UTC: counted from the node's local day
    (datetime(2025, 11, 13, 17, 0), date(2025, 11, 25)),
]


@pytest.mark.parametrize(("submitted_at", "due"), SUBMISSIONS)
def test_r07_reply_due_is_the_reply_setting_counted_in_working_days(db, world, settings, monkeypatch,
                                                                   submitted_at, due):
    """A submission's reply deadline is `reply_working_days` (a non-default 7 here) working days after the local
    day of submission on the official holiday calendar: not the default, not calendar days, not the UTC day."""
    monkeypatch.setattr(sharing, "utcnow", lambda: submitted_at)
    with db.session() as s:
        entry = published_entry(s, world)
        system = consumer_system(s, world)[0]
        request = sharing.create_request(s, world.actors["civil_requester"],
                                         request_in(entry, consumer_system_id=system.id), submit=True)
        assert request.submitted_at == submitted_at
        local_day = workdays.local_date(s, submitted_at)
        assert (request.reply_due, request.reply_due_estimated) == (due, False)
        assert request.reply_due == workdays.deadline(s, local_day, settings.reply_working_days).due
        assert workdays.WorkCalendar(s).working_days_between(local_day, request.reply_due) == REPLY_DAYS
        assert (request.reply_due - local_day).days > REPLY_DAYS  # a holiday or weekend lies in between
        told = s.scalars(select(Notification.body).where(Notification.event == "request.submitted")).all()
        assert told and all(f"请于 {due} 前答复" in body for body in told)


# ---------------------------------------------------------------- R02: only published entries can be requested


def _unpublished(session, world, state: str):
    manager = world.actors["police_manager"]
    entry = catalog.create_entry(session, manager, population_entry(name=f"人口基本信息（{state}）"))
    if state in ("submitted", "returned"):
        catalog.submit_entry(session, manager, entry.id)
    if state == "returned":
        catalog.return_entry(session, world.actors["reviewer"], entry.id, "摘要未写明数据范围")
    session.flush()
    assert entry.status == state
    return entry


@pytest.mark.parametrize("state", ["draft", "submitted", "returned"])
def test_r02_an_unpublished_entry_cannot_be_requested_through_the_service(db, world, state):
    with db.session() as s:
        entry = _unpublished(s, world, state)
        system = consumer_system(s, world)[0]
        entry_id, data = entry.id, request_in(entry, consumer_system_id=system.id)
    for submit in (False, True):
        with db.session() as s, pytest.raises(NotFound) as refused:
            sharing.create_request(s, world.actors["civil_requester"], data, submit=submit)
        assert refused.value.field == "entry_id"
        assert refused.value.message == f"只能申请已发布的目录：{entry_id}"
    assert _stored_requests(db) == (0, 0, 0)


@pytest.mark.parametrize("state", ["draft", "submitted", "returned"])
def test_r02_an_unpublished_entry_cannot_be_requested_through_the_api(client, db, world, state):
    with db.session() as s:
        entry = _unpublished(s, world, state)
        system = consumer_system(s, world)[0]
        body = request_in(entry, consumer_system_id=system.id).model_dump(mode="json")
    for submit in ("false", "true"):
        response = client.post("/api/v1/sharing/requests", params={"submit": submit}, json=body,
                               headers=world.headers("civil_requester"))
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("not_found", "entry_id")
        assert "只能申请已发布的目录" in error["message"]
    assert _stored_requests(db) == (0, 0, 0)


def test_r02_the_same_entry_once_published_can_be_requested(db, world):
    """The control of the tests above: the refusal is about the entry's state, not about the request."""
    with db.session() as s:
        entry = _unpublished(s, world, "submitted")
        catalog.publish_entry(s, world.actors["reviewer"], entry.id)
        system = consumer_system(s, world)[0]
        request = sharing.create_request(s, world.actors["civil_requester"],
                                         request_in(entry, consumer_system_id=system.id), submit=True)
        assert request.status == "submitted"


# ---------------------------------------------------------------- R09: attempts count only within the window


def _noon_today(settings: Settings) -> datetime:
    """Noon of the node's day as a stored (naive UTC) moment: the window reaches back into the same day, so a
    test run just after midnight does not see the grant's first day end."""
    zone = ZoneInfo(settings.timezone)
    noon = datetime.combine(datetime.now(zone).date(), time(12), tzinfo=zone)
    return noon.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture
def out_of_grant(db, world, tmp_path):
    """A grant of 省民政厅 without 户籍地址 (hjdz), and one attempt to read it at a given moment."""
    with db.session() as s:
        served = served_population(s, world, tmp_path, items=["gmsfhm", "xm", "xzqhdm"])
        access_token, _ = tokens.issue_token(s, served.client_id, served.secret)
    call = Call(Mode.LOOKUP, served.resource_code, served.grant_id, key=served.rows[0]["GMSFHM"], items=("hjdz",))

    def attempt(at: datetime) -> None:
        with pytest.raises(Refused) as refused:
            gateway.access(db, Caller(token=access_token), call, now=at)
        assert refused.value.code == "item_not_granted"

    attempt.grant_id = served.grant_id
    return attempt


def _grant_status(db, grant_id: int) -> str:
    with db.session() as s:
        return s.get(Grant, grant_id).status


def test_r09_attempts_older_than_the_window_do_not_count_toward_suspension(db, settings, out_of_grant):
    now = _noon_today(settings)
    before_window = now - timedelta(minutes=settings.suspend_window_minutes, seconds=1)
    for _ in range(settings.suspend_after_refusals - 1):
        out_of_grant(before_window)
    out_of_grant(now)  # the old attempts and this one make the number, but only this one is in the window
    assert _grant_status(db, out_of_grant.grant_id) == "active"
    for _ in range(settings.suspend_after_refusals - 2):
        out_of_grant(now)
    assert _grant_status(db, out_of_grant.grant_id) == "active"  # one short within the window
    out_of_grant(now)
    assert _grant_status(db, out_of_grant.grant_id) == "suspended"
    with db.session() as s:
        recorded = s.scalars(select(UsageRecord.reason).where(UsageRecord.grant_id == out_of_grant.grant_id)
                             .order_by(UsageRecord.seq)).all()
        assert recorded == ["item_not_granted"] * (2 * settings.suspend_after_refusals - 1)
        reason = s.get(Grant, out_of_grant.grant_id).suspend_reason
        assert f"{settings.suspend_window_minutes} 分钟内 {settings.suspend_after_refusals} 次越权访问" in reason


def test_r09_attempts_within_the_window_suspend_the_grant(db, settings, out_of_grant):
    now = _noon_today(settings)
    inside_window = now - timedelta(minutes=settings.suspend_window_minutes) + timedelta(seconds=1)
    for _ in range(settings.suspend_after_refusals - 1):
        out_of_grant(inside_window)
    assert _grant_status(db, out_of_grant.grant_id) == "active"
    out_of_grant(now)
    assert _grant_status(db, out_of_grant.grant_id) == "suspended"


# ---------------------------------------------------------------- R07: purpose and scenario must say something

BLANKS = ["  ", "\u3000\u3000", "\t \n", "。。", " - "]
STATED = {"purpose": "共享目的", "scenario": "使用场景", "duty_basis": "履职依据"}


@pytest.fixture
def requestable(db, world):
    """A conditional and an unconditional published entry, and 省民政厅's consumer system."""
    with db.session() as s:
        conditional = published_entry(s, world)
        unconditional = published_entry(s, world, name="人口统计汇总信息", share_type="无条件共享", share_condition="")
        system = consumer_system(s, world)[0]
        return {"conditional": conditional, "unconditional": unconditional, "system_id": system.id}


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(("field", "kind"), [("purpose", "unconditional"), ("scenario", "unconditional"),
                                             ("purpose", "conditional"), ("duty_basis", "conditional")])
def test_r07_a_blank_statement_is_refused_by_the_service_naming_the_field(db, world, requestable, field, kind,
                                                                         blank):
    """Whitespace (also full-width) or punctuation satisfies the schema's length but states nothing: the
    service refuses it, so an unconditional request is not granted with an empty purpose."""
    data = request_in(requestable[kind], consumer_system_id=requestable["system_id"], **{field: blank})
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        sharing.create_request(s, world.actors["civil_requester"], data, submit=True)
    assert refused.value.field == field and refused.value.status_code == 422
    assert STATED[field] in refused.value.message and "不能只有空格或标点" in refused.value.message
    assert _stored_requests(db) == (0, 0, 0)


def test_r07_a_short_real_statement_is_kept_stripped(db, world, requestable):
    """The control: two Chinese characters state a purpose; surrounding blanks are dropped."""
    data = request_in(requestable["unconditional"], consumer_system_id=requestable["system_id"],
                      purpose=" 低保 ", scenario="\u3000核对户籍\u3000", duty_basis="")
    with db.session() as s:
        request = sharing.create_request(s, world.actors["civil_requester"], data, submit=True)
        assert (request.purpose, request.scenario, request.status) == ("低保", "核对户籍", "approved")


@pytest.mark.parametrize("field", ["purpose", "scenario"])
def test_r07_api_refuses_a_blank_purpose_or_scenario_and_stores_nothing(client, db, world, requestable, field):
    body = request_in(requestable["unconditional"], consumer_system_id=requestable["system_id"],
                      **{field: "  "}).model_dump(mode="json")
    response = client.post("/api/v1/sharing/requests", params={"submit": "true"}, json=body,
                           headers=world.headers("civil_requester"))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and STATED[field] in error["message"]
    assert _stored_requests(db) == (0, 0, 0)


@pytest.fixture
def cli(settings, db, monkeypatch):
    """`govshare ARGS...` against the test database, as tests/test_sharing_cli.py runs it."""
    from typer.testing import CliRunner

    from govshare import cli as cli_module
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(cli_module.console, "width", 240)
    monkeypatch.setattr(cli_module.err_console, "width", 240)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_module.app, [str(a) for a in args])
    get_settings.cache_clear()


@pytest.mark.parametrize(("field", "option"), [("purpose", "--purpose"), ("scenario", "--scenario")])
def test_r07_cli_refuses_a_blank_purpose_or_scenario_and_stores_nothing(cli, db, requestable, field, option):
    values = {"--purpose": "最低生活保障资格审核", "--scenario": "低保申请受理时核对申请人户籍信息", option: "  "}
    result = cli("request", "create", requestable["unconditional"].id, *[x for pair in values.items() for x in pair],
                 "--items", "gmsfhm,xm", "--period-end", (date.today() + timedelta(days=300)).isoformat(),
                 "--system", requestable["system_id"], "--submit", "--user", "civil_requester")
    assert result.exit_code == 2, result.output
    assert STATED[field] in result.output and "不能只有空格或标点" in result.output
    assert _stored_requests(db) == (0, 0, 0)


def _field_error(page_html: str, name: str) -> str:
    """The message shown in the label of the named form field."""
    label = re.search(rf'<label(?:(?!</label>).)*?<(?:input|select|textarea) name="{name}".*?</label>', page_html, re.S)
    assert label, name
    error = re.search(r'<span class="field-error" role="alert">([^<]*)</span>', label.group(0))
    return error.group(1) if error else ""


@pytest.mark.parametrize("blank", ["  ", "。。"])
@pytest.mark.parametrize("field", ["purpose", "scenario"])
def test_r07_request_form_refuses_a_blank_purpose_or_scenario_and_stores_nothing(db, requestable, as_user, field,
                                                                                  blank):
    entry = requestable["unconditional"]
    client = as_user("civil_requester")
    form = {"csrf_token": token(client), "entry_id": str(entry.id), "purpose": "最低生活保障资格审核",
            "scenario": "低保申请受理时核对申请人户籍信息", "item_ids": [str(i.id) for i in entry.items][:2],
            "period_end": (date.today() + timedelta(days=300)).isoformat(),
            "consumer_system_id": str(requestable["system_id"]), "action": "submit", field: blank}
    response = client.post("/sharing/requests/new", data=form, follow_redirects=False)
    assert response.status_code == 422, response.text
    assert STATED[field] in _field_error(response.text, field)
    assert _stored_requests(db) == (0, 0, 0)


# ---------------------------------------------------------------- the defaults are the documented ones


def _readme_defaults() -> dict[str, str]:
    """`GOVSHARE_*` variable -> default, from the README's settings table (rows naming several variables give
    their defaults in the same order)."""
    defaults = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) < 4 or "GOVSHARE_" not in cells[1]:
            continue
        names = re.findall(r"`(GOVSHARE_\w+)`", cells[1])
        values = re.findall(r"`([^`]*)`", cells[2])
        if len(names) == len(values):
            defaults.update(zip(names, values, strict=True))
    return defaults


@pytest.mark.parametrize(("variable", "field"), [
    ("GOVSHARE_REPLY_WORKING_DAYS", "reply_working_days"),  # R07
    ("GOVSHARE_SUSPEND_AFTER_REFUSALS", "suspend_after_refusals"),  # R09
    ("GOVSHARE_SUSPEND_WINDOW_MINUTES", "suspend_window_minutes"),  # R09
])
def test_r07_r09_setting_defaults_are_the_documented_ones(variable, field):
    """The tests above run with other values on purpose; the defaults a node starts with are the README's
    (10 working days to reply; 5 out-of-grant attempts within 10 minutes suspend a grant)."""
    assert str(Settings.model_fields[field].default) == _readme_defaults()[variable]
