"""Items can be added and edited (issue 13): imported portal catalogs come without items, and an entry without
items cannot be connected to its data. Items are added through the API, the CLI (tests/test_cli_commands.py)
and an items sheet keyed by resource code; a draft is edited, a published entry gets a revision awaiting the
authority's review (R05), an entry under review does not change. The path of a real entry: imported from the
Xiamen portal, given items, connected to the real enterprise register as a file source."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from govshare.authz import Actor
from govshare.catalog import importer
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, EntryRevision
from govshare.errors import ValidationFailed
from govshare.gateway import connect
from tests.conftest import REAL
from tests.factories import population_entry, published_entry

SYSTEM = Actor.system()
NEW_ITEM = {"name": "hjdz2", "chinese_name": "曾用户籍地址", "data_type": "字符型", "length": 200, "grade": "一般2"}


def _post_items(client, world, entry_id: int, items: list[dict], who: str = "police_manager", reason: str = ""):
    return client.post(f"/api/v1/catalog/entries/{entry_id}/items", json={"items": items, "reason": reason},
                       headers=world.headers(who))


def test_r03_api_adds_and_edits_items_of_a_draft(client, db, world):
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="暂住登记", items=[]))
    added = _post_items(client, world, draft.id, [NEW_ITEM, {"name": "xm", "chinese_name": "姓名"}])
    assert added.status_code == 200, added.text
    assert added.json()["applied"] == "updated" and [i["name"] for i in added.json()["items"]] == ["hjdz2", "xm"]
    edited = _post_items(client, world, draft.id, [{"name": "xm", "chinese_name": "人员姓名", "length": 50}])
    assert [(i["name"], i["chinese_name"]) for i in edited.json()["items"]] == [("hjdz2", "曾用户籍地址"),
                                                                                  ("xm", "人员姓名")]
    with db.session() as s:
        assert [i.length for i in s.get(CatalogEntry, draft.id).items] == [200, 50]


def test_r05_items_of_a_published_entry_are_a_revision_awaiting_review(client, db, world):
    with db.session() as s:
        entry = published_entry(s, world)
        before = [i.name for i in entry.items]
    response = _post_items(client, world, entry.id, [NEW_ITEM], reason="补充曾用户籍地址")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] == "revision" and [i["name"] for i in body["items"]] == before  # unchanged meanwhile
    with db.session() as s:
        revision = s.get(EntryRevision, body["revision_id"])
        assert (revision.status, revision.reason) == ("submitted", "补充曾用户籍地址")
        assert [i["name"] for i in revision.payload["items"]] == [*before, "hjdz2"]
        catalog.approve_revision(s, world.actors["reviewer"], revision.id)
    with db.session() as s:
        assert [i.name for i in s.get(CatalogEntry, entry.id).items] == [*before, "hjdz2"]
    again = _post_items(client, world, entry.id, [NEW_ITEM | {"chinese_name": "另一名称"}])
    assert again.json()["applied"] == "revision"
    second = _post_items(client, world, entry.id, [NEW_ITEM | {"chinese_name": "第三个名称"}])
    assert second.status_code == 409  # one open revision at a time


def test_r02_an_entry_under_review_and_another_departments_entry_keep_their_items(client, db, world):
    with db.session() as s:
        manager = world.actors["police_manager"]
        submitted = catalog.create_entry(s, manager, population_entry(name="户籍迁移登记"))
        catalog.submit_entry(s, manager, submitted.id)
    assert _post_items(client, world, submitted.id, [NEW_ITEM]).status_code == 409
    assert _post_items(client, world, submitted.id, [NEW_ITEM], who="civil_manager").status_code == 403
    bad = _post_items(client, world, submitted.id, [{"name": "x", "chinese_name": "x", "grade": "绝密"}])
    assert bad.status_code == 422 and "grade" in bad.text
    with db.session() as s:
        assert "hjdz2" not in [i.name for i in s.get(CatalogEntry, submitted.id).items]


def test_r03_connecting_an_entry_without_items_says_how_to_add_them(db, world, tmp_path):
    with db.session() as s:  # published without items: what the import of a portal's catalog gives
        [entry] = catalog.create_entries(s, SYSTEM, [catalog.NewEntry(population_entry(items=[]), world.ids["police"])],
                                         imported=True, publish=True)
    path = tmp_path / "data.csv"
    path.write_text("gmsfhm,xm\n340104199001011234,张三\n", encoding="utf-8")
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_file(s, world.actors["police_manager"], entry.id, path, "data.csv", "gmsfhm")
    assert refused.value.field == "key_item"
    assert "该目录尚无信息项" in refused.value.message and "govshare catalog item-add" in refused.value.message


ENTERPRISE_ITEMS = [  # the columns of the real register (../shared/data/real/datasets), as items
    ("qymc", "企业名称", "字符型"), ("tyshxydm", "统一社会信用代码", "字符型"), ("zcrq", "注册日期", "日期型"),
    ("qylx", "企业类型", "字符型"), ("fddbr", "法人代表", "字符型"), ("zczj", "注册资金", "字符型"),
    ("jyfw", "经营范围", "字符型"), ("szsf", "所在省份", "字符型"), ("dq", "地区", "字符型"),
    ("zcdz", "注册地址", "字符型"),
]


def test_r03_a_real_imported_entry_gets_items_and_connects_to_the_real_register(db, world, tmp_path):
    """厦门市企业基本信息, imported from the Xiamen portal without items, gets its items from an items sheet (a
    revision, approved), and then connects to the real enterprise register keyed by the credit code."""
    with db.session() as s:
        importer.import_file(s, SYSTEM, REAL / "catalogs" / "fujian_xiamen.json", region_code="350200", publish=True)
    with db.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "厦门市企业基本信息")).one()
        entry_id, code = entry.id, entry.resource_code
        assert entry.items == [] and entry.source_url.startswith("https://data.xm.gov.cn/")
    register = REAL / "datasets" / "enterprise_registration_shanghai_2002.csv"
    with db.session() as s, pytest.raises(ValidationFailed, match="该目录尚无信息项"):
        connect.connect_file(s, SYSTEM, entry_id, register, register.name, "统一社会信用代码")
    sheet = tmp_path / "items.csv"
    rows = [f"{code},{n},{name},{chinese},{kind}" for n, (name, chinese, kind) in enumerate(ENTERPRISE_ITEMS, 1)]
    sheet.write_text("\n".join(["资源代码,序号,字段名,信息项名称,数据类型", *rows]) + "\n", encoding="utf-8-sig")
    with db.session() as s:
        report = importer.import_items(s, SYSTEM, sheet)
        assert (report.revisions, report.entries_updated, report.rejected) == (1, 0, [])
        revision = s.scalars(select(EntryRevision).where(EntryRevision.entry_id == entry_id)).one()
        catalog.approve_revision(s, SYSTEM, revision.id)
    with db.session() as s:
        assert importer.import_items(s, SYSTEM, sheet).unchanged == 1  # the same sheet again: nothing to do
    with db.session() as s:
        source = connect.connect_file(s, SYSTEM, entry_id, register, register.name, "统一社会信用代码")
        assert source.row_count and source.row_count > 1000
        assert source.key_item == "tyshxydm"


def test_r03_the_entry_page_leads_its_manager_to_add_items_and_shows_the_source_page(client, db, world):
    """An entry without items says so on its page; its catalog manager gets 添加信息项 (the revision form of a
    published entry), others only the notice. The portal's page is shown as the entry's source page."""
    from tests.test_web import login
    from tests.web_helpers import visible_text

    with db.session() as s:
        [entry] = catalog.create_entries(
            s, SYSTEM, [catalog.NewEntry(population_entry(items=[], tags="户籍，人口",
                                                          source_url="https://data.example.gov.cn/catalog/7"),
                                         world.ids["police"])], imported=True, publish=True)
    login(client, "police_manager")
    page = client.get(f"/catalog/{entry.id}")
    assert "该目录尚无信息项" in visible_text(page) and f'href="/my/catalog/{entry.id}/revise"' in page.text
    assert 'href="https://data.example.gov.cn/catalog/7"' in page.text and "户籍，人口" in visible_text(page)
    client.post("/logout", data={})
    login(client, "civil_requester")
    other = client.get(f"/catalog/{entry.id}")
    assert "该目录尚无信息项" in visible_text(other) and f"/my/catalog/{entry.id}/revise" not in other.text


def test_r03_a_source_page_that_is_not_a_web_address_is_refused(db, world):
    """The source page is shown as a link: javascript: and other schemes never reach a page."""
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        catalog.create_entry(s, world.actors["police_manager"],
                             population_entry(source_url="javascript:alert(document.cookie)"))
    assert refused.value.field == "source_url"
