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
