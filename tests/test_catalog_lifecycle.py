"""Catalog life cycle (R02, R05) and entry rules (R01, R03, R04) through the service and the API."""

from datetime import date

import pytest

from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry
from govshare.errors import Conflict, Forbidden, ValidationFailed
from tests.factories import population_entry, published_entry


def test_r03_resource_code_is_classification_slash_sequence_and_unique(db, world):
    with db.session() as s:
        a = catalog.create_entry(s, world.actors["police_manager"], population_entry())
        b = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="人口迁移信息"))
        c = catalog.create_entry(s, world.actors["police_manager"], population_entry(classification_code="201003"))
        assert (a.resource_code, b.resource_code, c.resource_code) == ("101/000001", "101/000002", "201003/000001")


def test_r02_draft_submit_publish_makes_version_one(db, world):
    with db.session() as s:
        entry = published_entry(s, world)
        assert entry.status == "published" and entry.version == 1
        actions = [e.action for e in catalog.history(s, world.actors["police_manager"], entry.id)]
        assert actions == ["created", "submitted", "published"]


def test_r02_return_requires_reason_and_allows_fixing(db, world):
    with db.session() as s:
        manager, reviewer = world.actors["police_manager"], world.actors["reviewer"]
        entry = catalog.create_entry(s, manager, population_entry())
        catalog.submit_entry(s, manager, entry.id)
        with pytest.raises(ValidationFailed) as err:
            catalog.return_entry(s, reviewer, entry.id, "  ")
        assert err.value.field == "reason"
        catalog.return_entry(s, reviewer, entry.id, "摘要未说明数据范围")
        assert entry.status == "returned" and entry.return_reason == "摘要未说明数据范围"
        catalog.update_entry(s, manager, entry.id, population_entry(abstract="全省户籍人口，按区县划分"))
        catalog.submit_entry(s, manager, entry.id)
        catalog.publish_entry(s, reviewer, entry.id)
        assert entry.status == "published"


def test_r05_published_entry_changes_only_through_a_new_version(db, world):
    with db.session() as s:
        manager, reviewer = world.actors["police_manager"], world.actors["reviewer"]
        entry = published_entry(s, world)
        with pytest.raises(Conflict):
            catalog.update_entry(s, manager, entry.id, population_entry(name="改名"))
        revision = catalog.propose_revision(s, manager, entry.id, population_entry(name="人口基本信息（2026版）"),
                                            "新增户籍地址说明", due_to_law_change=True,
                                            law_change_basis="《户口登记条例》", law_effective_date=date(2026, 10, 1))
        assert entry.name == "人口基本信息"  # unchanged until approved
        catalog.approve_revision(s, reviewer, revision.id)
        assert entry.version == 2 and entry.name == "人口基本信息（2026版）"
        assert entry.publish_date is not None  # kept although the revision did not repeat it
        v1 = catalog.published_version(s, manager, entry.id, 1)
        v2 = catalog.published_version(s, manager, entry.id, 2)
        assert v1["name"] == "人口基本信息" and v2["name"] == "人口基本信息（2026版）"
        published = [e for e in catalog.history(s, manager, entry.id) if e.action == "published"]
        assert [e.version for e in published] == [1, 2]
        assert published[1].reason == "新增户籍地址说明" and published[1].actor_id == world.ids["user:reviewer"]


def test_r05_revision_needs_a_reason(db, world):
    with db.session() as s:
        entry = published_entry(s, world)
        with pytest.raises(ValidationFailed) as err:
            catalog.propose_revision(s, world.actors["police_manager"], entry.id, population_entry(), "")
        assert err.value.field == "reason"


def test_r05_entry_not_updated_within_its_cycle_is_stale(db, world):
    from datetime import timedelta

    from govshare.db import utcnow

    with db.session() as s:
        entry = published_entry(s, world)  # 每日
        assert not catalog.is_stale(entry)
        entry.data_updated_at = utcnow() - timedelta(days=5)
        assert catalog.is_stale(entry)
        assert [e.id for e in catalog.stale_entries(s, world.actors["civil_requester"])] == [entry.id]
        catalog.mark_data_updated(s, world.actors["police_manager"], entry.id)
        assert not catalog.is_stale(entry)


def test_r01_secret_entries_are_rejected(db, world):
    with db.session() as s, pytest.raises(ValidationFailed) as err:
        catalog.create_entry(s, world.actors["police_manager"], population_entry(secrecy="工作秘密"))
    assert err.value.field == "secrecy"
    with db.session() as s:
        assert s.query(CatalogEntry).count() == 0


def test_r04_not_shared_needs_a_cited_legal_basis(db, world):
    with db.session() as s:
        manager = world.actors["police_manager"]
        with pytest.raises(ValidationFailed) as err:
            catalog.create_entry(s, manager, population_entry(share_type="不予共享", legal_basis="不方便"))
        assert err.value.field == "legal_basis"
        entry = catalog.create_entry(s, manager, population_entry(
            share_type="不予共享", legal_basis="《中华人民共和国统计法》第二十八条"))
        assert entry.share_type == "none"


@pytest.mark.parametrize("condition", ["", "有条件", "依申请"])
def test_r04_conditional_needs_a_concrete_condition(db, world, condition):
    with db.session() as s, pytest.raises(ValidationFailed) as err:
        catalog.create_entry(s, world.actors["police_manager"], population_entry(share_condition=condition))
    assert err.value.field == "share_condition"


def test_r04_unconditional_may_not_carry_extra_conditions(db, world):
    with db.session() as s, pytest.raises(ValidationFailed) as err:
        catalog.create_entry(s, world.actors["police_manager"], population_entry(
            share_type="无条件共享", share_condition="须经分管领导同意"))
    assert err.value.field == "share_condition"


def test_r02_only_the_authority_of_the_area_publishes(db, world):
    with db.session() as s:
        manager = world.actors["police_manager"]
        entry = catalog.create_entry(s, manager, population_entry())
        catalog.submit_entry(s, manager, entry.id)
        for who in ("police_manager", "other_reviewer", "city_reviewer", "auditor", "civil_requester"):
            with pytest.raises(Forbidden):
                catalog.publish_entry(s, world.actors[who], entry.id)
        assert entry.status == "submitted"


def test_r02_drafts_are_invisible_to_other_departments(db, world):
    with db.session() as s:
        entry = catalog.create_entry(s, world.actors["police_manager"], population_entry())
        visible = {e.id for e in catalog.list_entries(s, world.actors["civil_manager"])}
        assert entry.id not in visible
        assert entry.id in {e.id for e in catalog.list_entries(s, world.actors["auditor"])}


def test_api_errors_have_one_shape(client, world):
    body = population_entry(secrecy="国家秘密").model_dump(mode="json")
    response = client.post("/api/v1/catalog/entries", json=body, headers=world.headers("police_manager"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "secrecy"
    assert set(response.json()["error"]) == {"code", "message", "field"}
    bad = client.post("/api/v1/catalog/entries", json={"name": "x"}, headers=world.headers("police_manager"))
    assert bad.status_code == 422 and bad.json()["error"]["field"]


def test_api_full_lifecycle(client, world):
    body = population_entry().model_dump(mode="json")
    created = client.post("/api/v1/catalog/entries", json=body, headers=world.headers("police_manager"))
    assert created.status_code == 201, created.text
    entry_id = created.json()["id"]
    assert client.post(f"/api/v1/catalog/entries/{entry_id}/submit",
                       headers=world.headers("police_manager")).status_code == 200
    published = client.post(f"/api/v1/catalog/entries/{entry_id}/publish", headers=world.headers("reviewer"))
    assert published.json()["status"] == "published"
    seen = client.get(f"/api/v1/catalog/entries/{entry_id}", headers=world.headers("civil_requester"))
    assert seen.json()["items"][0]["chinese_name"] == "公民身份号码"
    assert client.get("/api/v1/catalog/entries").status_code == 401


def test_r03_concurrent_creators_get_distinct_resource_codes(db, world):
    """Eight sessions create entries in one classification at once: all codes distinct, none lost."""
    from concurrent.futures import ThreadPoolExecutor

    def create(n: int) -> str:
        with db.session() as s:
            return catalog.create_entry(s, world.actors["police_manager"],
                                        population_entry(classification_code="305", name=f"并发目录{n}")).resource_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(create, range(16)))
    assert sorted(codes) == [f"305/{n:06d}" for n in range(1, 17)]


def test_r05_revision_keeps_item_identity_and_does_not_count_as_a_data_update(db, world):
    """Items keep their ids through a revision (one-source memberships and grants point at them), and
    approving new metadata does not clear the stale flag: only a data update does."""
    from datetime import timedelta

    from govshare.db import utcnow

    with db.session() as s:
        manager = world.actors["police_manager"]
        entry = published_entry(s, world)
        ids = {i.name: i.id for i in entry.items}
        entry.data_updated_at = utcnow() - timedelta(days=10)
        revision = catalog.propose_revision(s, manager, entry.id, population_entry(abstract="补充说明"), "补充摘要")
        catalog.approve_revision(s, world.actors["reviewer"], revision.id)
        assert {i.name: i.id for i in entry.items} == ids
        assert catalog.is_stale(entry)


def test_r05_stale_filter_applies_before_paging(db, world):
    from datetime import timedelta

    from govshare.db import utcnow

    with db.session() as s:
        entries = [published_entry(s, world, name=f"目录{n}") for n in range(3)]
        entries[2].data_updated_at = utcnow() - timedelta(days=10)
        s.flush()
        requester = world.actors["civil_requester"]
        assert [e.id for e in catalog.list_entries(s, requester, stale=True, limit=2)] == [entries[2].id]
        assert [e.id for e in catalog.list_entries(s, requester, stale=False)] == [entries[0].id, entries[1].id]
        assert [e.id for e in catalog.stale_entries(s, requester)] == [entries[2].id]


def test_r17_entry_grade_not_below_its_most_sensitive_item(db, world):
    with db.session() as s, pytest.raises(ValidationFailed) as err:
        catalog.create_entry(s, world.actors["police_manager"], population_entry(grade="一般2"))
    assert err.value.field == "grade" and "公民身份号码" in err.value.message
    with db.session() as s:
        entry = catalog.create_entry(s, world.actors["police_manager"], population_entry(grade="重要"))
        assert entry.grade == "important"


def test_r03_a_kept_resource_code_moves_the_sequence_past_it(db, world):
    from govshare.catalog.service import NewEntry

    with db.session() as s:
        manager = world.actors["police_manager"]
        kept = NewEntry(data=population_entry(), provider_id=world.ids["police"], resource_code="101/000007")
        fresh = NewEntry(data=population_entry(name="新目录"), provider_id=world.ids["police"])
        created = catalog.create_entries(s, manager, [fresh, kept])
        assert [e.resource_code for e in created] == ["101/000008", "101/000007"]
        wrong = NewEntry(data=population_entry(), provider_id=world.ids["police"], resource_code="201/000001")
        with pytest.raises(ValidationFailed) as err:
            catalog.create_entries(s, manager, [wrong])
        assert err.value.field == "resource_code"


# ---------------------------------------------------------------- an unknown update date (issue 13)

UNDATED_HEADER = ("目录名称,提供部门,分类代码,摘要,数据格式,共享类型,共享条件,共享方式,更新周期,发布日期,数据更新时间,"
                  "信息项\n")


def _import_undated(db, tmp_path, rows: list[str], *, publish: bool = True):
    """Rows of 省公安厅 (region 340000) imported by the node operator, published as in the file."""
    from govshare.authz import Actor
    from govshare.catalog import importer

    path = tmp_path / "undated.csv"
    path.write_text(UNDATED_HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    with db.session() as s:
        report = importer.import_file(s, Actor.system(), path, region_code="340000", publish=publish)
        assert report.rejected == [], report.rejected
        return report


def _undated_catalog(db, tmp_path) -> dict[str, int]:
    """Four daily entries: updated 10 days ago; no update date but published 10 days ago; no update date and
    published today; neither date."""
    from datetime import timedelta

    from sqlalchemy import select

    from govshare.db import utcnow

    old = (utcnow() - timedelta(days=10)).date().isoformat()
    today = utcnow().date().isoformat()
    report = _import_undated(db, tmp_path, [
        f"按更新日期过期,省公安厅,101,摘要,数据库,无条件共享,,接口,每日,,{old},姓名",
        f"按发布日期过期,省公安厅,101,摘要,数据库,无条件共享,,接口,每日,{old},,姓名",
        f"今日发布,省公安厅,101,摘要,数据库,无条件共享,,接口,每日,{today},,姓名",
        "日期均未知,省公安厅,101,摘要,数据库,无条件共享,,接口,每日,,,姓名",
    ])
    assert report.created == 4
    with db.session() as s:
        return {e.name: e.id for e in s.scalars(select(CatalogEntry))}


def test_r05_an_import_without_an_update_date_keeps_it_unknown_not_the_import_time(db, world, tmp_path):
    report = _import_undated(db, tmp_path, ["人口基本信息,省公安厅,101,摘要,数据库,无条件共享,,接口,每日,,,姓名"],
                             publish=False)
    notes = {n["note"]: n["rows"] for n in report.defaults}
    assert notes["数据更新时间为空，记为未知（按发布日期计算是否过期）"] == 1
    assert not any("导入时间" in note for note in notes)
    with db.session() as s:
        entry = s.get(CatalogEntry, report.entry_ids[0])
        assert entry.data_updated_at is None
        assert catalog.to_out(entry)["data_updated_at"] is None
        # an entry written by hand still starts from its creation
        assert catalog.create_entry(s, world.actors["police_manager"], population_entry()).data_updated_at


def test_r05_staleness_counts_from_the_publish_date_when_the_update_date_is_unknown(db, world, tmp_path):
    """The update date, else the publish date, else nothing: an entry with neither date is never stale (not
    "stale since an unknown time"), in Python (is_stale, stale_deadline) and in SQL (the stale filter) alike."""
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from govshare.db import utcnow

    ids = _undated_catalog(db, tmp_path)
    with db.session() as s:
        entries = {name: s.get(CatalogEntry, entry_id) for name, entry_id in ids.items()}
        by_publish = entries["按发布日期过期"]
        assert by_publish.data_updated_at is None
        assert catalog.stale_deadline(by_publish) == datetime.combine(by_publish.publish_date,
                                                                      datetime.min.time()) + timedelta(days=2)
        assert catalog.stale_deadline(entries["日期均未知"]) is None
        stale = {name for name, e in entries.items() if catalog.is_stale(e)}
        assert stale == {"按更新日期过期", "按发布日期过期"}
        requester = world.actors["civil_requester"]
        assert {e.name for e in catalog.list_entries(s, requester, stale=True)} == stale
        # the negation holds the entries without dates too (a NULL comparison would drop them from both lists)
        assert {e.name for e in catalog.list_entries(s, requester, stale=False)} == {"今日发布", "日期均未知"}
        assert {e.name for e in catalog.stale_entries(s, requester)} == stale
        # two days after today's publication that entry is stale too; the one without dates never is
        later = utcnow() + timedelta(days=3)
        assert catalog.is_stale(entries["今日发布"], later) and not catalog.is_stale(entries["日期均未知"], later)
        assert set(s.scalars(select(CatalogEntry.name).where(catalog.stale_condition(later)))) == {
            "按更新日期过期", "按发布日期过期", "今日发布"}
        # the provider confirms fresh data: the date is known from then on
        catalog.mark_data_updated(s, world.actors["police_manager"], ids["日期均未知"])
        assert entries["日期均未知"].data_updated_at is not None


def test_r05_search_index_treats_an_unknown_deadline_as_never_stale(db, world, tmp_path, settings):
    from datetime import timedelta

    from govshare.db import utcnow
    from govshare.search import index as search_index
    from govshare.search import service as search

    path = settings.resolved_index_dir
    search_index.registry.attach(db.url, path)
    try:
        ids = _undated_catalog(db, tmp_path)
        with db.session() as s:
            rows = {row["id"]: row for row in search_index.load_rows(s)}
        assert rows[ids["日期均未知"]]["stale_after"] is None
        assert search_index.prepare(rows[ids["日期均未知"]])["stale_after"] == search_index.NEVER_STALE
        assert rows[ids["按发布日期过期"]]["stale_after"] is not None

        def found(stale: bool, now=None) -> set[int]:
            result = search.search(path, "", search.parse_filters(stale=stale), facets=False, now=now)
            return {hit["id"] for hit in result["hits"]}

        assert found(True) == {ids["按更新日期过期"], ids["按发布日期过期"]}
        assert found(False) == {ids["今日发布"], ids["日期均未知"]}
        assert ids["日期均未知"] in found(False, now=utcnow() + timedelta(days=3650))
    finally:
        search_index.registry.detach(db.url)


def test_r05_unknown_update_date_is_shown_as_unknown_on_the_page_and_in_exports(db, world, tmp_path, as_user):
    import csv

    from sqlalchemy import select

    from govshare.authz import Actor
    from govshare.catalog import exporter, importer
    from tests.conftest import _empty_tables
    from tests.web_helpers import visible_text

    ids = _undated_catalog(db, tmp_path)
    page = visible_text(as_user("civil_requester").get(f"/catalog/{ids['日期均未知']}"))
    assert "数据更新时间 未知" in page
    stale_page = visible_text(as_user("civil_requester").get(f"/catalog/{ids['按发布日期过期']}"))
    assert "最近更新时间：未知（自发布日期" in stale_page
    dated = visible_text(as_user("civil_requester").get(f"/catalog/{ids['按更新日期过期']}"))
    assert "数据更新时间 未知" not in dated
    with db.session() as s:
        written = exporter.export_file(s, Actor.system(), tmp_path / "export.csv")
    with written[0].open(encoding="utf-8-sig") as f:
        rows = {row["目录名称"]: row for row in csv.DictReader(f)}
    assert rows["日期均未知"]["数据更新时间"] == "未知" and rows["按发布日期过期"]["数据更新时间"] == "未知"
    assert rows["按更新日期过期"]["数据更新时间"] != "未知"
    # the export imports back into an empty node with the date still unknown (未知 is not an unreadable date)
    _empty_tables(db)
    with db.session() as s:
        report = importer.import_file(s, Actor.system(), written[0], region_code="340000")
        assert report.rejected == [] and report.created == 4
        back = {e.name: e.data_updated_at for e in s.scalars(select(CatalogEntry))}
    assert back["日期均未知"] is None and back["按发布日期过期"] is None and back["按更新日期过期"] is not None
