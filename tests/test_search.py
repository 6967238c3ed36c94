"""Catalog search (R02 published only, R05 staleness, R06 lead source first): Chinese full-text with
synonyms and single characters, filters, facets, the after_commit index upkeep, API and CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, SourceCluster
from govshare.catalog.schemas import ItemIn
from govshare.db import utcnow
from govshare.search import index as search_index
from govshare.search import service as search
from tests.factories import population_entry, published_entry


@pytest.fixture
def index_dir(db, settings) -> Path:
    """The test database's index folder, attached so that commits reindex (as create_app does)."""
    path = settings.resolved_index_dir
    search_index.registry.attach(db.url, path)
    yield path
    search_index.registry.detach(db.url)


def _item(name: str, chinese_name: str, **kw) -> ItemIn:
    return ItemIn(name=name, chinese_name=chinese_name, **kw)


def _publish(db, world, manager: str = "police_manager", **overrides) -> int:
    with db.session() as s:
        return published_entry(s, world, manager, **overrides).id


def _catalog(db, world) -> dict[str, int]:
    """A small published catalog of three departments, and a draft and a submitted entry."""
    ids = {
        "population": _publish(db, world),  # 省公安厅 · 人口基本信息 (户籍, 公民身份号码 …)
        "social": _publish(
            db, world, "civil_manager", name="社保缴费信息", abstract="城乡居民社保缴费记录，用于社会救助核对",
            share_type="无条件共享", share_condition="", data_format="电子表格", grade="一般2", theme="社会救助",
            update_cycle="每月",
            items=[_item("jfje", "缴费金额", data_type="decimal"), _item("jfrq", "缴费日期", data_type="date")],
        ),
        "tax": _publish(
            db, world, "city_civil_manager", name="企业纳税信息", abstract="辖区内企业按季度申报的纳税情况",
            data_format="服务接口", grade="一般1", theme="财税金融", update_cycle="每季度",
            items=[_item("nsrsbh", "纳税人识别号"), _item("qymc", "企业名称")],
        ),
    }
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="户籍草稿目录"))
        submitted = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="户籍待审目录"))
        catalog.submit_entry(s, world.actors["police_manager"], submitted.id)
        ids["draft"], ids["submitted"] = draft.id, submitted.id
    return ids


def _ids(result: dict) -> list[int]:
    return [hit["id"] for hit in result["hits"]]


def _search(index_dir, q: str = "", **filters) -> dict:
    """A search of the built index: an answer with no hits is a real "nothing found", never a missing index."""
    facets = filters.pop("facets", True)
    now = filters.pop("now", None)
    every_concept = filters.pop("every_concept", False)
    result = search.search(index_dir, q, search.parse_filters(**filters), facets=facets, now=now,
                           every_concept=every_concept)
    assert result["notice"] is None, result["notice"]
    return result


# ---------------------------------------------------------------- finding


def test_r02_finds_by_name_abstract_item_and_department(db, world, index_dir):
    ids = _catalog(db, world)
    assert _ids(_search(index_dir, "人口基本信息"))[0] == ids["population"]  # name
    assert _ids(_search(index_dir, "社会救助核对")) == [ids["social"]]  # abstract
    assert _ids(_search(index_dir, "纳税人识别号"))[0] == ids["tax"]  # item Chinese name
    assert _ids(_search(index_dir, "出生日期"))[0] == ids["population"]  # item Chinese name
    assert _ids(_search(index_dir, "合肥市民政局"))[0] == ids["tax"]  # department
    assert _ids(_search(index_dir, "nsrsbh")) == [ids["tax"]]  # item field name, case folded
    assert _search(index_dir, "天文望远镜观测")["total"] == 0  # zero hits only when nothing shares a concept


def test_r02_synonyms_hukou_finds_huji_and_social_insurance_finds_shebao(db, world, index_dir):
    ids = _catalog(db, world)
    assert "户口" not in json.dumps(population_entry().model_dump(), ensure_ascii=False)
    assert _ids(_search(index_dir, "户口")) == [ids["population"]]
    assert "社会保险" not in "社保缴费信息城乡居民社保缴费记录"
    assert _ids(_search(index_dir, "社会保险")) == [ids["social"]]
    assert _ids(_search(index_dir, "社会保险 缴费")) == [ids["social"]]
    assert _ids(_search(index_dir, "身份证号")) == [ids["population"]]  # 公民身份号码


def test_single_character_and_two_character_queries(db, world, index_dir):
    ids = _catalog(db, world)
    assert _ids(_search(index_dir, "税")) == [ids["tax"]]
    assert _ids(_search(index_dir, "户籍")) == [ids["population"]]
    assert set(_ids(_search(index_dir, "费"))) == {ids["social"]}
    assert _search(index_dir, "鑫")["total"] == 0


def test_a_run_of_characters_matches_however_jieba_cut_the_text(db, world, index_dir):
    ids = _catalog(db, world)
    assert _ids(_search(index_dir, "保缴")) == [ids["social"]]  # inside 社保缴费, not a jieba word
    assert _ids(_search(index_dir, "份号"))[0] == ids["population"]  # inside 公民身份号码
    assert _search(index_dir, "籍口")["total"] == 0  # both characters occur, but never next to each other


def test_r02_every_concept_is_optional_and_sharing_more_ranks_first(db, world, index_dir):
    """Rank, don't filter: an entry that shares one concept of the query is found; one that shares both
    comes first; an entry that shares none is not found."""
    ids = _catalog(db, world)
    assert _ids(_search(index_dir, "企业 纳税"))[0] == ids["tax"]
    assert set(_ids(_search(index_dir, "企业 户籍"))) == {ids["tax"], ids["population"]}
    assert _ids(_search(index_dir, "户籍 人口 企业"))[0] == ids["population"]  # two of three before one
    assert _search(index_dir, "企业 户籍", every_concept=True)["total"] == 0  # the former ranking filtered


# ---------------------------------------------------------------- filters and facets


def test_each_filter(db, world, index_dir):
    ids = _catalog(db, world)
    everything = {ids["population"], ids["social"], ids["tax"]}
    assert set(_ids(_search(index_dir))) == everything
    assert _ids(_search(index_dir, department=str(world.ids["civil"]))) == [ids["social"]]
    assert set(_ids(_search(index_dir, department=[str(world.ids["civil"]), str(world.ids["police"])]))) == {
        ids["social"], ids["population"]}
    assert _ids(_search(index_dir, level="municipal")) == [ids["tax"]]
    assert set(_ids(_search(index_dir, level="省级"))) == {ids["population"], ids["social"]}
    assert _ids(_search(index_dir, share_type="无条件共享")) == [ids["social"]]
    assert set(_ids(_search(index_dir, share_type="conditional"))) == {ids["population"], ids["tax"]}
    assert _ids(_search(index_dir, format="服务接口")) == [ids["tax"]]
    assert _ids(_search(index_dir, format="database")) == [ids["population"]]
    assert _ids(_search(index_dir, grade="一般2")) == [ids["social"]]
    assert _ids(_search(index_dir, theme="公共安全")) == [ids["population"]]
    assert _ids(_search(index_dir, "信息", theme="财税金融")) == [ids["tax"]]
    assert _search(index_dir, "户籍", share_type="无条件共享")["total"] == 0


def test_facet_counts_match_the_filtered_counts(db, world, index_dir):
    ids = _catalog(db, world)
    result = _search(index_dir, "信息")
    assert result["total"] == 3
    facets = result["facets"]
    assert sum(facets["share_type"].values()) == result["total"]
    for field in ("department", "level", "share_type", "format", "grade", "theme"):
        assert sum(facets[field].values()) == result["total"], field  # every hit is counted under one value
        for value, count in facets[field].items():
            assert count > 0 and _search(index_dir, "信息", facets=False, **{field: value})["total"] == count, (
                field, value)
    assert facets["share_type"] == {"conditional": 2, "unconditional": 1}
    assert facets["level"] == {"provincial": 2, "municipal": 1}
    assert facets["department"][str(world.ids["police"])] == 1
    assert result["facet_labels"]["department"][str(world.ids["police"])] == "省公安厅"
    assert result["facet_labels"]["share_type"]["conditional"] == "有条件共享"
    assert facets["stale"] == {"true": 0, "false": 3}
    narrowed = _search(index_dir, "信息", level="provincial")
    assert narrowed["total"] == 2 and narrowed["facets"]["level"] == {"provincial": 2}
    assert set(_ids(narrowed)) == {ids["population"], ids["social"]}


def test_bad_filter_value_names_the_field(index_dir):
    from govshare.errors import ValidationFailed

    for field, value in (("share_type", "随便共享"), ("level", "乡级"), ("format", "纸质"), ("grade", "绝密"),
                         ("department", "公安")):
        with pytest.raises(ValidationFailed) as error:
            search.parse_filters(**{field: value})
        assert error.value.field == field


# ---------------------------------------------------------------- what is indexed, and when


def test_r02_drafts_and_submitted_entries_are_not_searchable(db, world, index_dir):
    ids = _catalog(db, world)
    found = _ids(_search(index_dir, "户籍"))
    assert found == [ids["population"]]  # the draft and the submitted entry are about 户籍 too
    assert ids["draft"] not in _ids(_search(index_dir, "户籍草稿目录"))
    with db.session() as s:  # a rebuild from the database indexes published entries only, too
        assert search_index.rebuild(s, index_dir) == 3
    assert ids["submitted"] not in _ids(_search(index_dir, "户籍待审目录"))
    assert _ids(_search(index_dir, "户籍")) == [ids["population"]]
    with db.session() as s:  # the very queries find the two entries once they are published
        catalog.submit_entry(s, world.actors["police_manager"], ids["draft"])
        for entry_id in (ids["draft"], ids["submitted"]):
            catalog.publish_entry(s, world.actors["reviewer"], entry_id)
    assert _ids(_search(index_dir, "户籍草稿目录"))[0] == ids["draft"]
    assert _ids(_search(index_dir, "户籍待审目录"))[0] == ids["submitted"]


def test_r02_publishing_and_committing_makes_an_entry_searchable_without_rebuild(db, world, index_dir):
    ids = _catalog(db, world)
    assert ids["submitted"] not in _ids(_search(index_dir, "户籍待审目录"))
    with db.session() as s:
        catalog.publish_entry(s, world.actors["reviewer"], ids["submitted"])
        assert ids["submitted"] not in _ids(_search(index_dir, "户籍待审目录"))  # not before the commit
    assert _ids(_search(index_dir, "户籍待审目录"))[0] == ids["submitted"]


def test_r02_rolled_back_publication_is_not_indexed(db, world, index_dir):
    ids = _catalog(db, world)
    with pytest.raises(RuntimeError), db.session() as s:
        catalog.publish_entry(s, world.actors["reviewer"], ids["submitted"])
        raise RuntimeError("abort")
    assert ids["submitted"] not in _ids(_search(index_dir, "户籍待审目录"))
    with db.session() as s:  # the same query finds it once the publication is committed
        catalog.publish_entry(s, world.actors["reviewer"], ids["submitted"])
    assert ids["submitted"] in _ids(_search(index_dir, "户籍待审目录"))


def test_r02_publication_inside_a_savepoint_is_indexed_when_the_outer_transaction_commits(db, world, index_dir):
    """SQLAlchemy reports a released SAVEPOINT as a commit; indexing must wait for the real commit (a
    second connection would otherwise wait on SQLite's lock held by the still-open outer transaction)."""
    ids = _catalog(db, world)
    with db.session() as s:
        with s.begin_nested():
            catalog.publish_entry(s, world.actors["reviewer"], ids["submitted"])
        assert ids["submitted"] not in _ids(_search(index_dir, "户籍待审目录"))  # outer not committed yet
    assert ids["submitted"] in _ids(_search(index_dir, "户籍待审目录"))


def test_r05_revision_approval_updates_the_indexed_name(db, world, index_dir):
    ids = _catalog(db, world)
    with db.session() as s:
        revision = catalog.propose_revision(
            s, world.actors["police_manager"], ids["population"], population_entry(name="全员人口信息"),
            reason="按新规定更名",
        )
    assert ids["population"] in _ids(_search(index_dir, "人口基本信息"))  # not yet approved
    with db.session() as s:
        catalog.approve_revision(s, world.actors["reviewer"], revision.id)
    assert _ids(_search(index_dir, "全员"))[0] == ids["population"]
    assert _search(index_dir, "全员")["hits"][0]["name"] == "全员人口信息"
    people = {hit["id"]: hit["name"] for hit in _search(index_dir, "人口")["hits"]}
    assert people == {ids["population"]: "全员人口信息"}  # found under its new name only, once


def test_r05_stale_filter_and_time_passing_without_rebuild(db, world, index_dir):
    ids = _catalog(db, world)
    with db.session() as s:  # the tax entry (quarterly) was last updated 100 days ago
        entry = s.get(CatalogEntry, ids["tax"])
        entry.data_updated_at = utcnow() - timedelta(days=100)
        s.info.setdefault("catalog_changed", set()).add(entry.id)
    assert _ids(_search(index_dir, stale=True)) == [ids["tax"]]
    assert set(_ids(_search(index_dir, stale=False))) == {ids["population"], ids["social"]}
    assert _search(index_dir)["facets"]["stale"] == {"true": 1, "false": 2}
    # 40 days later the monthly social-insurance entry is stale as well: no reindexing needed
    later = utcnow() + timedelta(days=40)
    assert set(_ids(_search(index_dir, stale=True, now=later))) == {ids["tax"], ids["social"], ids["population"]}
    with db.session() as s:  # the provider confirms fresh data: the flag clears after the commit
        catalog.mark_data_updated(s, world.actors["city_civil_manager"], ids["tax"])
    assert _search(index_dir, stale=True)["total"] == 0


def test_r06_lead_source_first(db, world, index_dir):
    """The civil entry mentions 身份证号 more often (higher BM25), but police is the named lead source."""
    with db.session() as s:
        police = published_entry(s, world)
        civil = published_entry(
            s, world, "civil_manager", name="低保对象身份证号核对信息", abstract="按身份证号核对低保对象，身份证号必填",
            items=[_item("sfzh", "身份证号", personal_info="pi"), _item("xm", "姓名", personal_info="pi")],
        )
        police_id, civil_id = police.id, civil.id
    assert _ids(_search(index_dir, "身份证号"))[0] == civil_id  # no lead named yet: plain relevance
    with db.session() as s:
        onesource.detect_clusters(s, world.actors["reviewer"])
        cluster = s.scalars(select(SourceCluster).where(SourceCluster.label == "身份证号")).one()
        onesource.name_lead_source(s, world.actors["reviewer"], cluster.id, world.ids["police"],
                                   "公民身份号码由公安机关依法编制和管理")
    for query in ("身份证号", "公民身份号码", "身份证号码"):
        hits = _search(index_dir, query)["hits"]
        assert [h["id"] for h in hits[:2]] == [police_id, civil_id], query
        assert hits[0]["is_lead_source"] is True and hits[1]["is_lead_source"] is False
    other = _search(index_dir, "低保")["hits"]  # a query about something else: no lead ranking
    assert [h["id"] for h in other] == [civil_id] and other[0]["is_lead_source"] is False


def test_absent_index_says_rebuild_needed(tmp_path):
    result = search.search(tmp_path / "nothing", "户籍")
    assert result["total"] == 0 and "重建" in result["notice"]


def test_rebuild_from_the_database(db, world, settings):
    """Without an attached index nothing is written at commit; a rebuild indexes the published catalog."""
    index_dir = settings.resolved_index_dir
    _catalog(db, world)
    assert search.search(index_dir, "户籍")["notice"]
    with db.session() as s:
        assert search_index.rebuild(s, index_dir) == 3
    assert search.search(index_dir, "户籍")["total"] == 1
    assert search.index_status(index_dir)["documents"] == 3


# ---------------------------------------------------------------- API and CLI


def test_api_search_shape(client, world, db, index_dir):
    ids = _catalog(db, world)
    response = client.get("/api/v1/catalog/search", params={"q": "户口", "limit": 5},
                          headers=world.headers("civil_requester"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"total", "hits", "facets", "took_ms"}
    assert body["total"] == 1 and body["took_ms"] >= 0
    hit = body["hits"][0]
    assert hit["id"] == ids["population"]
    assert set(hit) >= {"id", "resource_code", "name", "provider", "share_type", "grade", "score", "is_lead_source",
                        "highlight"}
    assert hit["provider"] == "省公安厅" and hit["share_type"] == "conditional"
    assert set(body["facets"]) >= {"department", "level", "share_type", "format", "grade", "theme", "stale"}
    filtered = client.get("/api/v1/catalog/search",
                          params=[("share_type", "无条件共享"), ("share_type", "有条件共享"), ("level", "provincial"),
                                  ("offset", "1"), ("limit", "1")],
                          headers=world.headers("civil_requester")).json()
    assert filtered["total"] == 2 and len(filtered["hits"]) == 1


def test_api_bad_filter_gives_the_error_shape(client, world, index_dir):
    for params, field in (({"share_type": "随便共享"}, "share_type"), ({"grade": "绝密"}, "grade"),
                          ({"stale": "也许"}, "stale"), ({"limit": "0"}, "limit")):
        response = client.get("/api/v1/catalog/search", params=params, headers=world.headers("civil_requester"))
        assert response.status_code == 422
        error = response.json()["error"]
        assert set(error) == {"code", "message", "field"} and error["field"] == field
    assert client.get("/api/v1/catalog/search", params={"q": "户籍"}).status_code == 401


def test_cli_search_json(db, world, settings, monkeypatch):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.cli_support import console
    from govshare.config import get_settings

    ids = _catalog(db, world)
    monkeypatch.setattr(console, "width", 240)  # one line per message
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["search", "户籍", "--json"])
        assert result.exit_code == 0, result.output
        assert "重建" in json.loads(result.output)["notice"]  # no index yet
        rebuilt = runner.invoke(app, ["index", "rebuild"])
        assert rebuilt.exit_code == 0 and "搜索索引已重建：3 条已发布目录" in rebuilt.output, rebuilt.output
        result = runner.invoke(app, ["search", "户籍", "--json"])
        assert result.exit_code == 0, result.output
        body = json.loads(result.output)
        assert [h["id"] for h in body["hits"]] == [ids["population"]]
        table = runner.invoke(app, ["search", "税", "--share-type", "有条件共享"])
        assert table.exit_code == 0 and "共 1 条" in table.output and "企业纳税信息" in table.output, table.output
        bad = runner.invoke(app, ["search", "税", "--grade", "绝密"])
        assert bad.exit_code == 2 and "错误：" in bad.output and "（字段：grade）" in bad.output, bad.output
        # the CLI's own commits reach the index of the node's settings (after_commit, no rebuild)
        with db.session() as s:
            catalog.publish_entry(s, world.actors["reviewer"], ids["submitted"])
        result = runner.invoke(app, ["search", "户籍待审目录", "--json"])
        assert json.loads(result.output)["hits"][0]["id"] == ids["submitted"]
    finally:
        get_settings.cache_clear()


# ---------------------------------------------------------------- the benchmark's code at a tiny size


def test_bench_generator_and_build_at_small_size(tmp_path):
    from bench import search_bench

    rows = search_bench.generate_rows(500)
    assert rows == search_bench.generate_rows(500)  # deterministic
    assert len(rows) == 500 and sum(len(r["items"]) for r in rows) > 4000
    build = search_bench.build_index(tmp_path / "index", 500, heap_size=50_000_000, workers=2, parallel=True)
    assert build["entries"] == 500 and build["entries_per_s"] > 0
    queries = search_bench.make_queries(50)
    assert {q["kind"] for q in queries} == {"word", "two", "char", "filter", "facet"}
    searched = search_bench.run_searches(tmp_path / "index", queries)
    assert searched["latency"]["all"]["p50_ms"] > 0 and max(searched["totals"]) > 0
    search_bench.load_sqlite(tmp_path / "like.db", rows)
    like = search_bench.run_like(tmp_path / "like.db", queries)
    assert len(like["totals"]) == 50
