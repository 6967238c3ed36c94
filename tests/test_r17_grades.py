"""R17: the grade drives approval and access rules, not only masking (catalog.grades).

- 重要 and 核心 data is never 无条件共享: the catalog refuses it on create, edit and import (where a portal row's
  derived share type becomes 有条件共享 instead), and a request for such data always waits for the reply.
- 核心 items are granted for verification only (核验, R09): the gateway answers verifications and refuses to
  read them in any other way (`core_verify_only`, recorded like every refusal); neither the reply nor the
  grant's masking can open them."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from govshare.audit.models import UsageRecord
from govshare.catalog import importer
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry
from govshare.catalog.schemas import EntryIn
from govshare.catalog.vocab import Grade, ShareType
from govshare.demo.data import ENTRIES as DEMO_ENTRIES
from govshare.errors import ValidationFailed
from govshare.gateway import connect
from govshare.gateway.models import DataSource
from govshare.sealing import seal
from govshare.search.index import registry
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant, RequestEvent, ShareRequest
from govshare.sharing.schemas import ReplyIn
from tests.factories import SYSTEM, consumer_system, population_entry, published_entry, request_in
from tests.gateway_factories import COLUMN_MAP, people, population_items, source_table, token_headers

CORE_ITEM = "hjdz"  # 户籍地址, graded 核心 in the tests of the gateway


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing need not build a search index here (the app attaches one; it is detached after)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


def _items_graded(grade: str, name: str = CORE_ITEM) -> list:
    """The population items, `name` graded `grade`."""
    return [item.model_copy(update={"grade": Grade.parse(grade)}) if item.name == name else item
            for item in population_items()]


def _entry_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(CatalogEntry))


# ---------------------------------------------------------------- catalog


@pytest.mark.parametrize("grade", ["重要", "核心"])
def test_r17_an_entry_holding_important_or_core_items_cannot_be_unconditional(db, world, grade):
    data = population_entry(share_type="无条件共享", share_condition="", grade=grade, items=_items_graded(grade))
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        catalog.create_entry(s, world.actors["police_manager"], data)
    assert (refused.value.field, refused.value.code) == ("share_type", "grade_requires_condition")
    assert f"信息项“户籍地址”分级为{grade}" in refused.value.message and "有条件共享" in refused.value.message
    assert _entry_count(db) == 0


def test_r17_an_entry_graded_important_as_a_whole_cannot_be_unconditional(db, world):
    """An entry may be graded above its items (aggregated data): its own grade counts too."""
    data = population_entry(share_type="无条件共享", share_condition="", grade="重要")
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        catalog.create_entry(s, world.actors["police_manager"], data)
    assert refused.value.field == "share_type" and "目录分级为重要" in refused.value.message
    assert _entry_count(db) == 0


DSL_BASIS = "《中华人民共和国数据安全法》第二十一条：核心数据实行更加严格的管理制度"


@pytest.mark.parametrize(("share_type", "extra"), [
    ("有条件共享", {}),
    ("不予共享", {"share_condition": "", "legal_basis": DSL_BASIS}),
])
def test_r17_important_and_core_items_may_be_conditional_or_not_shared(db, world, share_type, extra):
    data = population_entry(share_type=share_type, grade="核心", items=_items_graded("核心"), **extra)
    with db.session() as s:
        entry = catalog.create_entry(s, world.actors["police_manager"], data)
        assert (entry.share_type, entry.grade) == (ShareType.parse(share_type).value, "core")


def test_r17_an_edit_cannot_make_an_entry_with_core_items_unconditional(db, world):
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry_id = catalog.create_entry(s, manager, population_entry(grade="核心", items=_items_graded("核心"))).id
    edit = population_entry(share_type="无条件共享", share_condition="", grade="核心", items=_items_graded("核心"))
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        catalog.update_entry(s, manager, entry_id, edit, "改为无条件共享")
    assert refused.value.field == "share_type"
    with db.session() as s:
        assert s.get(CatalogEntry, entry_id).share_type == "conditional"


def test_r17_api_refuses_an_unconditional_entry_with_an_important_item(client, db, world):
    body = population_entry(share_type="无条件共享", share_condition="", grade="重要",
                            items=_items_graded("重要")).model_dump(mode="json")
    response = client.post("/api/v1/catalog/entries", json=body, headers=world.headers("police_manager"))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["field"], error["code"]) == ("share_type", "grade_requires_condition")
    assert "不得无条件共享" in error["message"]
    assert _entry_count(db) == 0


def test_r17_the_demo_catalog_keeps_the_grade_rules():
    """Every demo entry passes the catalog's rules, and none shares 重要 or 核心 data unconditionally."""
    for demo in DEMO_ENTRIES:
        data = EntryIn.model_validate(demo.payload())
        catalog.validate_entry(data)
        if data.share_type == ShareType.UNCONDITIONAL:
            assert data.grade not in (Grade.IMPORTANT, Grade.CORE), demo.name


# ---------------------------------------------------------------- import


def _write_json(path, rows: list[dict]):
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def test_r17_import_derives_conditional_sharing_for_graded_open_rows_and_reports_it(db, tmp_path):
    base = {"来源部门": "市数据资源局", "数据格式": "xls", "更新频率": "每月", "重点领域": "交通运输",
            "开放类型": "普遍开放"}
    rows = [{**base, "标题": "公交线路", "分级": "一般2"},
            {**base, "标题": "重点目标分布", "分级": "重要"},
            {**base, "标题": "关键设施运行", "分级": "核心"}]
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, _write_json(tmp_path / "graded.json", rows), region_code="341500")
        assert (report.created, report.rejected) == (3, [])
        shared = {e.name: (e.share_type, e.share_condition) for e in s.scalars(select(CatalogEntry))}
    assert shared["公交线路"] == ("unconditional", "无条件")
    assert shared["重点目标分布"] == ("conditional", "含重要数据：经提供单位审核同意后按申请用途共享")
    assert shared["关键设施运行"] == ("conditional", "含核心数据：经提供单位审核同意后按申请用途共享")
    [note] = [d for d in report.defaults if d["column"] == "共享类型" and "重要或核心数据" in d["note"]]
    assert (note["rows"], note["first_rows"]) == (2, [2, 3])
    assert "有条件共享" in note["note"]


def test_r17_import_rejects_a_row_stating_unconditional_sharing_of_important_data(db, tmp_path):
    header = ["目录名称", "提供部门", "数据格式", "共享类型", "共享方式", "更新周期", "分级"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerow(["企业名录", "市市场监管局", "数据库", "无条件共享", "库表", "每日", "一般1"])
    writer.writerow(["关键设施运行", "市应急管理局", "数据库", "无条件共享", "库表", "每日", "核心"])
    path = tmp_path / "stated.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="341500")
        assert report.created == 1
        assert [e.name for e in s.scalars(select(CatalogEntry))] == ["企业名录"]
    [problem] = report.rejected
    assert (problem["row"], problem["column"], problem["value"]) == (3, "共享类型", "无条件共享")
    assert "目录分级为核心" in problem["rule"] and "不得无条件共享" in problem["rule"]


# ---------------------------------------------------------------- requests and replies


@pytest.fixture
def core_source(db, world, tmp_path):
    """The population entry with 户籍地址 graded 核心 (有条件共享), connected to a SQL table of residents."""
    rows = people(30)
    with db.session() as s:
        entry = published_entry(s, world, grade="核心", items=_items_graded("核心"))
        url = source_table(tmp_path / "police_source.db", rows)
        s.add(DataSource(entry_id=entry.id, kind="sql", location=seal(s, url), table_name="RK_JBXX",
                         key_item="gmsfhm", column_map=COLUMN_MAP, status="connected", row_count=len(rows)))
        return {"entry_id": entry.id, "resource_code": entry.resource_code, "rows": rows}


@pytest.fixture
def core_grant(db, world, core_source):
    """省民政厅's request for every item, 户籍地址 included, approved by the provider as asked."""
    with db.session() as s:
        entry = s.get(CatalogEntry, core_source["entry_id"])
        system, secret = consumer_system(s, world)
        request = sharing.create_request(s, world.actors["civil_requester"],
                                         request_in(entry, consumer_system_id=system.id), submit=True)
        assert request.status == "submitted" and request.reply_due is not None
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve", reason=""))
        grant = sharing.grant_of(s, request.id)
        assert CORE_ITEM in {i.name for i in entry.items if i.id in grant.item_ids}
        return {**core_source, "grant_id": grant.id, "client_id": system.client_id, "secret": secret}


def test_r17_a_request_for_core_data_of_an_unconditional_entry_waits_for_the_reply(db, world):
    """An unconditional entry whose item the provider later confirms as 核心 (a classification correction on
    the published entry, gateway.connect) is no longer granted on request: the provider replies."""
    with db.session() as s:
        entry = published_entry(s, world, name="人口统计汇总信息", share_type="无条件共享", share_condition="",
                                items=population_items())
        s.add(DataSource(entry_id=entry.id, kind="sql", location=seal(s, "sqlite://"), table_name="RK_JBXX",
                         key_item="gmsfhm", column_map=COLUMN_MAP, status="connected", row_count=0))
        s.flush()
        connect.confirm_profile(s, world.actors["police_reviewer"], entry.id, {CORE_ITEM: {"grade": "核心"}},
                                reason="户籍地址汇聚后属于核心数据")
        system = consumer_system(s, world)[0]
        asked = sharing.create_request(s, world.actors["civil_requester"],
                                       request_in(entry, consumer_system_id=system.id, duty_basis=""), submit=True)
        assert (entry.share_type, entry.grade) == ("unconditional", "core")
        assert asked.status == "submitted" and asked.reply_due is not None
        assert sharing.grant_of(s, asked.id) is None
        submitted = s.scalars(select(RequestEvent).where(RequestEvent.request_id == asked.id,
                                                         RequestEvent.action == "submitted")).one()
        assert "重要或核心" in submitted.reason
        assert "auto_approved" not in {e.action for e in s.scalars(select(RequestEvent))}


def test_r17_the_grant_of_a_core_item_cannot_be_opened_by_its_masking(client, db, world, core_grant):
    url = f"/api/v1/gateway/grants/{core_grant['grant_id']}/masking"
    refused = client.put(url, json={"rules": {CORE_ITEM: "none"}}, headers=world.headers("police_reviewer"))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["field"], error["code"]) == (f"masking.{CORE_ITEM}", "core_verify_only")
    assert "仅提供核验" in error["message"]
    with db.session() as s:
        assert s.get(Grant, core_grant["grant_id"]).masking == {}
    shown = client.get(url, headers=world.headers("police_reviewer"))
    assert shown.status_code == 200, shown.text
    assert shown.json()["rules"] == {}
    assert shown.json()["effective"][CORE_ITEM] == {"rule": "null", "label": "不提供", "source": "default"}


# ---------------------------------------------------------------- the gateway


def _last_record(db) -> UsageRecord:
    with db.session() as s:
        return s.scalars(select(UsageRecord).order_by(UsageRecord.seq.desc())).first()


def _refused_core(db, response, grant_id: int) -> None:
    """A 403 `core_verify_only` with no data, on the record against the grant."""
    assert response.status_code == 403, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "core_verify_only", body
    assert "核心数据仅提供核验" in body["error"]["message"]
    record = _last_record(db)
    assert (record.result, record.reason, record.row_count, record.grant_id) == (
        "refused", "core_verify_only", 0, grant_id)


@pytest.fixture
def calls(client, core_grant):
    headers = token_headers(client, core_grant["client_id"], core_grant["secret"])
    code, grant = core_grant["resource_code"], core_grant["grant_id"]
    person = core_grant["rows"][0]

    def lookup(**params):
        return client.get(f"/api/v1/data/{code}", headers=headers,
                          params={"grant": grant, "key": person["GMSFHM"], **params})

    def rows(**params):
        return client.get(f"/api/v1/data/{code}/rows", headers=headers, params={"grant": grant, **params})

    def verify(fields: dict):
        return client.post(f"/api/v1/data/{code}/verify", headers=headers, json={"grant": grant, "fields": fields})

    def export(**body):
        return client.post(f"/api/v1/data/{code}/export", headers=headers, json={"grant": grant, **body})

    return {"lookup": lookup, "rows": rows, "verify": verify, "export": export, "person": person,
            "grant": grant, "code": code}


def test_r17_r09_core_items_are_verified_not_read(db, calls):
    person, grant = calls["person"], calls["grant"]
    matched = calls["verify"]({"gmsfhm": person["GMSFHM"], CORE_ITEM: person["HJDZ"]})
    assert matched.status_code == 200, matched.text
    assert matched.json()["result"] == "match" and person["HJDZ"] not in matched.text
    assert calls["verify"]({"gmsfhm": person["GMSFHM"], CORE_ITEM: "安徽省合肥市别处"}).json()["result"] == "no_match"
    record = _last_record(db)
    assert (record.result, record.mode, record.grant_id) == ("ok", "verify", grant)


@pytest.mark.parametrize("ask", [
    lambda c: c["lookup"](items=CORE_ITEM),
    lambda c: c["lookup"](items=f"xm,{CORE_ITEM}"),
    lambda c: c["rows"](items=CORE_ITEM),
    lambda c: c["rows"](filter=f"{CORE_ITEM}:安徽省"),
    lambda c: c["export"](items=["gmsfhm", CORE_ITEM]),
    lambda c: c["export"](filters={CORE_ITEM: "安徽省"}),
], ids=["lookup", "lookup-with-others", "page", "page-filter", "export", "export-filter"])
def test_r17_r09_reading_or_selecting_by_a_core_item_is_refused_and_recorded(db, calls, ask):
    _refused_core(db, ask(calls), calls["grant"])


def test_r17_reads_without_an_item_list_leave_core_items_out(db, calls):
    looked_up = calls["lookup"]()
    assert looked_up.status_code == 200, looked_up.text
    body = looked_up.json()
    assert CORE_ITEM not in body["items"] and CORE_ITEM not in body["masking"] and body["rows"]
    assert all(CORE_ITEM not in row for row in body["rows"]) and calls["person"]["HJDZ"] not in looked_up.text
    page = calls["rows"](limit=5).json()
    assert CORE_ITEM not in page["items"] and all(CORE_ITEM not in row for row in page["rows"])
    exported = calls["export"](format="csv", headers="field")
    assert exported.status_code == 200, exported.text
    header = next(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert CORE_ITEM not in header and "xm" in header


def test_r17_the_requester_preview_leaves_core_items_out_but_the_provider_sees_its_own(client, world, core_grant):
    url = f"/api/v1/data/{core_grant['resource_code']}/preview"
    requester = client.get(url, params={"grant": core_grant["grant_id"]}, headers=world.headers("civil_requester"))
    assert requester.status_code == 200, requester.text
    assert CORE_ITEM not in requester.json()["items"]
    provider = client.get(url, headers=world.headers("police_reviewer"))
    assert provider.status_code == 200, provider.text
    assert CORE_ITEM in provider.json()["items"]  # its own data, as stored


def test_r17_core_refusals_do_not_suspend_the_grant(db, settings, calls):
    """Like asking a verify-only grant for rows, asking to read a 核心 item is the wrong way to use the grant,
    not an attempt outside its items or rows: it is refused and recorded each time, and does not suspend."""
    for _ in range(settings.suspend_after_refusals + 1):
        assert calls["lookup"](items=CORE_ITEM).status_code == 403
    with db.session() as s:
        assert s.get(Grant, calls["grant"]).status == "active"
        refused = s.scalar(select(func.count()).select_from(UsageRecord).where(
            UsageRecord.reason == "core_verify_only"))
        assert refused == settings.suspend_after_refusals + 1


def test_r17_a_plain_unconditional_request_is_still_granted_at_once(db, world):
    """The control of the approval rule: 一般 data of an unconditional entry needs no reply (R07)."""
    with db.session() as s:
        entry = published_entry(s, world, share_type="无条件共享", share_condition="", share_method="库表",
                                name="企业登记信息")
        request = sharing.create_request(s, world.actors["civil_requester"],
                                         request_in(entry, duty_basis="", period_end=date.today() + timedelta(days=30)),
                                         submit=True)
        assert request.status == "approved" and sharing.grant_of(s, request.id) is not None
        assert s.scalar(select(func.count()).select_from(ShareRequest)) == 1


def test_r17_pages_mark_core_items_verification_only(as_user, db, world, core_grant):
    """The requester's pages say which granted items are 核心 and only verified (仅核验)."""
    with db.session() as s:
        request_id = s.get(Grant, core_grant["grant_id"]).request_id
    client = as_user("civil_requester")
    marked = '户籍地址<span class="muted small">（仅核验）</span>'
    grants = client.get("/sharing/grants").text
    assert marked in grants and grants.count("（仅核验）") == 1
    assert f'href="/data/preview?grant={core_grant["grant_id"]}"' in grants  # its other items can still be read
    assert marked in client.get(f"/sharing/requests/{request_id}").text


def test_r17_a_grant_of_core_items_only_is_not_offered_a_preview(as_user, db, world, core_source):
    with db.session() as s:
        entry = s.get(CatalogEntry, core_source["entry_id"])
        core_only = [i.id for i in entry.items if i.name == CORE_ITEM]
        system = consumer_system(s, world)[0]
        request = sharing.create_request(s, world.actors["civil_requester"],
                                         request_in(entry, consumer_system_id=system.id, item_ids=core_only),
                                         submit=True)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve", reason=""))
        grant_id = sharing.grant_of(s, request.id).id
    grants = as_user("civil_requester").get("/sharing/grants").text
    assert f'href="/data/preview?grant={grant_id}"' not in grants
    assert "核心数据仅限核验，不提供预览" in grants
