"""The usage records over HTTP (R12, R18): the API routes (who sees what, totals, anomalies, verify, checkpoint,
consumer-system tokens refused) and the 使用记录 page (filters, local times, the chart's data, totals, anomaly
badges, the auditor's integrity check)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from govshare.audit import chain
from govshare.audit.models import Checkpoint
from govshare.search.index import registry
from tests.authz_case import Case
from tests.authz_cases_issue4_audit import AUDIT_CASES
from tests.gateway_factories import served_population, token_headers
from tests.web_helpers import visible_text

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing the test entry need not build a search index (most of a test's setup time)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)




def _served(db, world, tmp_path):
    with db.session() as s:
        return served_population(s, world, tmp_path)


def _lookups(client, served, count: int) -> dict:
    headers = token_headers(client, served.client_id, served.secret)
    for n in range(count):
        response = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                              params={"grant": served.grant_id, "key": served.rows[n]["GMSFHM"]})
        assert response.status_code == 200, response.text
    refused = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                         params={"grant": served.grant_id, "key": served.rows[0]["GMSFHM"], "items": "nosuch"})
    assert refused.status_code == 403, refused.text
    return headers


def _city_record(db, world, at: datetime | None = None) -> None:
    """A call of 合肥市民政局 (a city department) to 省公安厅's data, outside any grant the tests built."""
    with db.session() as s:
        chain.append(s, department_id=world.ids["city_civil"], provider_id=world.ids["police"], mode="lookup",
                     result="refused", reason="no_grant", request_hash="f" * 64, resource_code="34000011/09999",
                     at=at)


# ---------------------------------------------------------------- API


def test_r12_api_lists_the_callers_records_and_refuses_strangers(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    system_headers = _lookups(client, served, 2)
    _city_record(db, world)

    def seqs(who: str, **params) -> list[int]:
        response = client.get("/api/v1/audit/records", params=params, headers=world.headers(who))
        assert response.status_code == 200, response.text
        return [r["seq"] for r in response.json()]

    assert seqs("civil_requester") == [3, 2, 1]
    assert seqs("police_reviewer") == seqs("auditor") == seqs("reviewer") == [4, 3, 2, 1]
    assert seqs("city_reviewer") == [4] and seqs("other_reviewer") == []
    assert seqs("civil_requester", result="refused") == [3]
    first = client.get("/api/v1/audit/records", headers=world.headers("civil_requester"),
                       params={"result": "ok", "limit": 1}).json()[0]
    assert (first["department_name"], first["system_name"], first["mode_label"], first["items"]) == (
        "省民政厅", "低保审核系统", "按键查询", ["gmsfhm", "xm", "csrq", "hjdz", "xzqhdm"])
    # the consumer system's own gateway token is not a login: it reads no usage records
    for headers in (system_headers, {}):
        refused = client.get("/api/v1/audit/records", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    bad = client.get("/api/v1/audit/records", params={"result": "maybe"}, headers=world.headers("auditor"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "result"


def test_r12_api_totals_and_anomalies(client, db, world, tmp_path, settings):
    served = _served(db, world, tmp_path)
    _lookups(client, served, 3)
    today = datetime.now(ZONE).date()
    totals = client.get("/api/v1/audit/totals", params={"by": "day"}, headers=world.headers("civil_requester"))
    assert totals.status_code == 200, totals.text
    assert totals.json()[-1] == {"key": today.isoformat(), "label": today.isoformat(), "calls": 4, "served": 3,
                                 "refused": 1, "errors": 0, "rows": 3}
    by_system = client.get("/api/v1/audit/totals", params={"by": "system"}, headers=world.headers("police_reviewer"))
    assert [(t["key"], t["label"], t["calls"]) for t in by_system.json()] == [
        (served.system_id, "低保审核系统（省民政厅）", 4)]
    # a clerk's page previews are told apart from calls nobody could be identified for (issue 14)
    for _ in range(2):
        preview = client.get(f"/api/v1/data/{served.resource_code}/preview", params={"grant": served.grant_id},
                             headers=world.headers("civil_requester"))
        assert preview.status_code == 200, preview.text
    stranger = client.get(f"/api/v1/data/{served.resource_code}", params={"grant": served.grant_id, "key": "1"})
    assert stranger.status_code == 401
    by_caller = client.get("/api/v1/audit/totals", params={"by": "system"}, headers=world.headers("auditor")).json()
    assert [(t["key"], t["label"], t["calls"]) for t in by_caller] == [
        (served.system_id, "低保审核系统（省民政厅）", 4),
        ("person", "工作人员本人的预览和核验（页面或个人令牌）", 2),
        (None, "未认证的调用（无有效令牌）", 1)]
    wrong = client.get("/api/v1/audit/totals", params={"by": "hour"}, headers=world.headers("auditor"))
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "by"
    settings.anomaly_refusals = 1
    flags = client.get("/api/v1/audit/anomalies", headers=world.headers("civil_requester"))
    assert [(a["kind"], a["grant_id"], a["day"], a["label"]) for a in flags.json()] == [
        ("refusals", served.grant_id, today.isoformat(), "多次被拒绝")]
    assert client.get("/api/v1/audit/anomalies", headers=world.headers("other_reviewer")).json() == []


def test_r12_api_verify_is_for_auditors_admins_and_authorities(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    _lookups(client, served, 2)
    for who in ("auditor", "admin", "reviewer"):
        report = client.get("/api/v1/audit/verify", headers=world.headers(who))
        assert report.status_code == 200, report.text
        assert report.json()["ok"] and report.json()["records"] == 3
    for who in ("civil_requester", "police_reviewer", "police_manager"):
        refused = client.get("/api/v1/audit/verify", headers=world.headers(who))
        assert refused.status_code == 403 and refused.json()["error"]["field"] == "role"
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE usage_records SET row_count = 0 WHERE seq = 2"))
    report = client.get("/api/v1/audit/verify", headers=world.headers("auditor")).json()
    assert not report["ok"]
    assert (report["first_problem"]["seq"], report["first_problem"]["kind"], report["first_problem"]["label"]) == (
        2, "altered", "记录被篡改")


def test_r12_api_checkpoint_signs_the_head_once(client, db, world):
    with db.session() as s:
        AUDIT_CASES[0].prepare(s, world)
    signed = client.post("/api/v1/audit/checkpoint", headers=world.headers("admin"))
    assert signed.status_code == 200, signed.text
    assert signed.json()["signed"] and signed.json()["seq"] == 1 and signed.json()["kind"] == "manual"
    again = client.post("/api/v1/audit/checkpoint", headers=world.headers("admin"))
    assert again.status_code == 200 and again.json() == {**again.json(), "signed": False}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Checkpoint)) == 1
    assert isinstance(AUDIT_CASES[0], Case)


# ---------------------------------------------------------------- the 使用记录 page


def test_r12_records_page_shows_the_visitors_records_in_local_time(db, world, tmp_path, as_user):
    client = as_user("civil_requester")  # the client logs in before the records exist
    served = _served(db, world, tmp_path)
    _lookups(client, served, 2)
    _city_record(db, world)
    page = client.get("/audit")
    assert page.status_code == 200, page.text
    rows = re.findall(r'<tr id="record-(\d+)">', page.text)
    assert rows == ["3", "2", "1"]  # not 合肥市民政局's record
    text_ = visible_text(page)
    assert "省民政厅" in text_ and "低保审核系统" in text_ and "按键查询" in text_ and "请求未授权的信息项" in text_
    with db.session() as s:
        from govshare.audit.models import UsageRecord

        at = s.scalar(select(UsageRecord.at).where(UsageRecord.seq == 1))
    local = at.replace(tzinfo=UTC).astimezone(ZONE)
    assert local.strftime("%Y-%m-%d %H:%M:%S") in page.text  # the time shown is Asia/Shanghai's
    chart = json.loads(re.search(r'<script type="application/json" id="audit-chart-data">(.*?)</script>', page.text,
                                 re.S).group(1))
    today = datetime.now(ZONE).date()
    assert len(chart["days"]) == 30 and chart["days"][-1] == today.isoformat()
    assert (chart["calls"][-1], chart["refused"][-1]) == (3, 1) and sum(chart["calls"]) == 3
    assert '<script src="/static/vendor/echarts.min.js"></script>' in page.text
    resource = re.search(r'<table class="list" data-totals="resource">.*?</table>', page.text, re.S).group(0)
    assert served.resource_code in resource and "<td>3</td>" in resource
    assert "完整性校验" not in page.text  # the requester does not check the chain


def test_r12_each_page_preview_is_one_record_of_the_clerk_shown_apart_from_system_calls(db, world, tmp_path,
                                                                                         as_user):
    """Issue 14: opening 数据预览 writes one usage record per page shown, in the clerk's name, with the mode
    页面预览; the records page counts the clerk's page calls in their own row, not with a consumer system's."""
    client = as_user("civil_requester")
    served = _served(db, world, tmp_path)
    _lookups(client, served, 1)
    for shown in (1, 2):
        page = client.get("/data/preview", params={"grant": served.grant_id})
        assert page.status_code == 200, page.text
        with db.session() as s:
            from govshare.audit.models import UsageRecord

            previews = s.scalars(select(UsageRecord).where(UsageRecord.mode == "preview")).all()
        assert [(r.user_id, r.consumer_system_id, r.grant_id) for r in previews] == \
            [(world.ids["user:civil_requester"], None, served.grant_id)] * shown
    records = client.get("/audit", params={"mode": "preview"})
    assert re.findall(r'<tr id="record-(\d+)">', records.text) == [str(r.seq) for r in reversed(previews)]
    assert "页面预览" in visible_text(records)
    by_caller = re.search(r'<table class="list" data-totals="system">.*?</table>', client.get("/audit").text,
                          re.S).group(0)
    assert re.search(r"<td>工作人员本人的预览和核验（页面或个人令牌）</td><td>2</td>", by_caller)
    assert re.search(r"<td>低保审核系统（省民政厅）</td><td>2</td>", by_caller)


def test_r12_records_page_filters_pages_and_shows_the_field_error(db, world, tmp_path, as_user):
    client = as_user("auditor")
    served = _served(db, world, tmp_path)
    _lookups(client, served, 2)
    refused = client.get("/audit", params={"result": "refused"})
    assert re.findall(r'<tr id="record-(\d+)">', refused.text) == ["3"]
    old = client.get("/audit", params={"since": "2020-01-01", "until": "2020-01-31"})
    assert "所选条件下没有使用记录" in old.text and 'value="2020-01-01"' in old.text
    bad = client.get("/audit", params={"since": "2026-13-01"})
    assert bad.status_code == 422
    assert re.search(r'name="since".*?<span class="field-error" role="alert">开始日期的格式应为', bad.text, re.S)
    assert "完整性校验" in bad.text  # the auditor's button
    for grant in ("99999999999999999999", "0", "abc"):  # an id beyond any id is a 422, never a database overflow
        huge = client.get("/audit", params={"grant": grant})
        assert huge.status_code == 422 and "授权编号应为不超过" in huge.text, grant


def test_r12_records_page_badges_the_anomalies(db, world, tmp_path, as_user, settings):
    settings.anomaly_off_hours_calls = 1
    client = as_user("police_reviewer")
    served = _served(db, world, tmp_path)
    night = datetime.combine(datetime.now(ZONE).date() - timedelta(days=1), datetime.min.time(), ZONE).replace(hour=23)
    with db.session() as s:
        for minute in range(2):
            chain.append(s, department_id=world.ids["civil"], provider_id=world.ids["police"],
                         grant_id=served.grant_id, mode="lookup", result="ok", request_hash="a" * 64,
                         at=(night + timedelta(minutes=minute)).astimezone(UTC).replace(tzinfo=None))
    page = client.get("/audit")
    item = re.search(r'<li data-kind="off_hours".*?</li>', page.text, re.S)
    assert item and "非工作时间访问" in item.group(0) and f"授权 #{served.grant_id}" in item.group(0)
    assert "调用 2 次，超过阈值 1 次" in item.group(0)
    calm = as_user("other_reviewer").get("/audit")
    assert "所选期间没有异常" in calm.text and "<li data-kind" not in calm.text


def test_r12_verify_page_is_the_auditors_and_names_the_first_problem(db, world, tmp_path, as_user):
    _city_record(db, world)
    _city_record(db, world)
    client = as_user("auditor")
    intact = client.get("/audit/verify")
    assert intact.status_code == 200 and "使用记录链完整" in intact.text
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM usage_records WHERE seq = 1"))
    broken = client.get("/audit/verify")
    assert broken.status_code == 200
    assert re.search(r'id="verify-result">校验未通过：第一个问题在序号 1（记录缺失）', broken.text)
    for who in ("civil_requester", "police_reviewer"):
        refused = as_user(who).get("/audit/verify")
        assert refused.status_code == 403 and "审计员" in refused.text


def test_r12_audit_pages_need_a_login_and_the_chart_library_is_served(client):
    for path in ("/audit", "/audit/verify"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    script = client.get("/static/vendor/echarts.min.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert b"echarts" in script.content[:2000]
    assert client.get("/static/vendor/nothing.js").status_code == 404
