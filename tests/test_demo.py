"""The demo province (`govshare demo`): realistic departments, catalogs and one-source clusters (R02–R06, R17)."""

import pytest
from sqlalchemy import func, select
from stdnum.cn import uscc

from govshare.authz import Actor
from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, SourceCluster
from govshare.catalog.schemas import EntryIn
from govshare.catalog.vocab import Grade, ItemType, PersonalInfo
from govshare.demo import seed as demo
from govshare.orgs import service as orgs
from govshare.orgs.models import Department, Role, User

AUDITOR = Actor.system()


@pytest.fixture
def seeded(db, settings):
    return demo.seed_demo(db, settings)


def test_demo_organ_uscc_is_valid_and_carries_the_region():
    code = demo.organ_uscc("340100", 7)
    assert uscc.is_valid(code) and code.startswith("11340100")
    assert demo.organization_code("00340007")[-1] in "0123456789X"


def test_demo_departments_at_three_levels_with_valid_codes(db, seeded):
    assert seeded.created
    with db.session() as s:
        departments = s.scalars(select(Department)).all()
    assert len(departments) >= 8
    assert {d.level for d in departments} >= {"provincial", "municipal", "county"}
    assert all(uscc.is_valid(d.uscc) and d.uscc[:2] == "11" and d.uscc[2:8] == d.region_code for d in departments)
    assert {d.region_code for d in departments} == {"340000", "340100", "340104"}
    names = "".join(d.name for d in departments)
    for kind in ("公安", "民政", "人力资源和社会保障", "市场监督管理", "卫生健康", "自然资源", "税务", "教育"):
        assert kind in names
    authorities = {d.region_code for d in departments if d.is_competent_authority}
    assert authorities == {"340000", "340100"}


def test_demo_users_of_every_role_can_log_in(db, seeded):
    with db.session() as s:
        roles = set(s.scalars(select(User.role)))
        assert roles == {r.value for r in Role}
        assert orgs.login(s, "police_manager", demo.DEMO_PASSWORD, session_hours=1)
    assert ("data_authority", "主管部门审核员", "安徽省数据资源管理局") in seeded.users


def test_r03_r04_r17_every_demo_entry_is_valid(db, seeded):
    with db.session() as s:
        entries = s.scalars(select(CatalogEntry)).all()
        assert len(entries) >= 40
        for entry in entries:
            assert 4 <= len(entry.items) <= 10, entry.name
            catalog.validate_entry(EntryIn.model_validate(catalog.snapshot(entry)))
            for item in entry.items:
                assert ItemType.parse(item.data_type) and Grade.parse(item.grade)
                assert PersonalInfo.parse(item.personal_info)
        flags = {i.personal_info for e in entries for i in e.items}
        assert flags == {"none", "pi", "spi"}


def test_r04_statistics_entry_is_not_shared_with_its_legal_basis(db, seeded):
    with db.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "经济普查单位原始调查资料")).one()
        assert entry.share_type == "none" and entry.status == "published"
        assert "《中华人民共和国统计法》第二十八条" in entry.legal_basis


def test_r02_r05_demo_entries_in_several_states_with_history(db, seeded):
    assert set(seeded.entries_by_status) == {"draft", "submitted", "returned", "published"}
    with db.session() as s:
        population = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "人口基本信息")).one()
        assert population.version == 2 and "死亡标识" in [i.chinese_name for i in population.items]
        assert catalog.published_version(s, AUDITOR, population.id, 1)["items"][-1]["chinese_name"] != "死亡标识"
        assert population.publish_date is not None
        returned = s.scalars(select(CatalogEntry).where(CatalogEntry.status == "returned")).one()
        assert returned.return_reason
        assert len(catalog.stale_entries(s, AUDITOR)) >= 2
        # the city's entries were reviewed by the city's competent authority
        city_entry = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "城乡低保对象信息")).one()
        published = [e for e in catalog.history(s, AUDITOR, city_entry.id) if e.action == "published"]
        assert published[0].actor.username == "hf_data_authority"


def test_r06_demo_has_one_source_clusters_with_a_lead(db, seeded):
    assert seeded.clusters >= 3 and seeded.leads >= 1
    with db.session() as s:
        cluster = s.scalars(select(SourceCluster).where(SourceCluster.key == "34|身份证号|string")).one()
        view = onesource.cluster_view(cluster)
        assert view["lead_department_name"] == "安徽省公安厅"
        assert {"公民身份号码", "身份证号码", "身份证号"} <= {m["item_name"] for m in view["members"]}
        population = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "人口基本信息")).one()
        assert "身份证号" in onesource.lead_terms_by_entry(s, [population.id])[population.id]


def test_demo_search_index_is_rebuilt(seeded):
    if seeded.search_note:
        pytest.skip(seeded.search_note)
    assert seeded.search_indexed == seeded.entries_by_status["published"]


def test_demo_seeding_twice_does_not_duplicate(db, settings, seeded):
    with db.session() as s:
        before = (s.scalar(select(func.count(Department.id))), s.scalar(select(func.count(CatalogEntry.id))),
                  s.scalar(select(func.count(User.id))))
    again = demo.seed_demo(db, settings)
    assert not again.created and again.entries == seeded.entries and len(again.users) == len(seeded.users)
    with db.session() as s:
        after = (s.scalar(select(func.count(Department.id))), s.scalar(select(func.count(CatalogEntry.id))),
                 s.scalar(select(func.count(User.id))))
    assert after == before


def test_demo_command_seed_only_exits_zero(db, db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", db_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--seed-only"])
        assert result.exit_code == 0, result.output
        assert demo.DEMO_PASSWORD in result.output and "police_manager" in result.output
        again = CliRunner().invoke(app, ["demo", "--seed-only"])
        assert again.exit_code == 0 and "已存在" in again.output
    finally:
        get_settings.cache_clear()
    with db.session() as s:
        assert s.scalar(select(func.count(CatalogEntry.id))) >= 40


def test_demo_reset_refuses_a_server_database(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--seed-only", "--reset"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
