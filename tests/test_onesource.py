"""一数一源 (R06): clusters of the same data item under different names, and the lead source department."""

import pytest
from sqlalchemy import select

from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import SourceCluster
from govshare.catalog.schemas import ItemIn
from govshare.errors import Forbidden, ValidationFailed
from govshare.orgs import service as orgs
from tests.factories import PASSWORD, SYSTEM, make_uscc, population_entry, published_entry


def _item(name, chinese_name, data_type="string", **kw):
    return ItemIn(name=name, chinese_name=chinese_name, data_type=data_type, grade=kw.pop("grade", "一般3"),
                  personal_info=kw.pop("personal_info", "pi"), **kw)


def _add_hrss(session, world):
    """省人社厅 and its catalog manager, beside the factory world."""
    from govshare.authz import Actor

    department = orgs.create_department(session, SYSTEM, name="省人社厅", level="provincial", region_code="340000",
                                        uscc_code=make_uscc(99))
    user = orgs.create_user(session, SYSTEM, username="hrss_manager", password=PASSWORD, role="catalog_manager",
                            department_id=department.id)
    world.ids["hrss"] = department.id
    world.actors["hrss_manager"] = Actor.from_user(user)


def _publish(session, world, manager, **overrides):
    return published_entry(session, world, manager, **overrides)


def _three_id_entries(session, world):
    """公安 公民身份号码, 人社 身份证号码, 民政 身份证号 — SCENARIOS §1."""
    _add_hrss(session, world)
    police = _publish(session, world, "police_manager")  # 公民身份号码 string 18
    hrss = _publish(session, world, "hrss_manager", name="社会保险缴费信息", items=[
        _item("sfzhm", "身份证号码", length=18, grade="一般4"),
        _item("cbxz", "参保险种", personal_info="none"),
        _item("jfjs", "缴费基数", "decimal", grade="一般4", personal_info="spi"),
    ])
    civil = _publish(session, world, "civil_manager", name="低保对象信息", items=[
        _item("sfzh", "身份证号", length=18, grade="一般4"),
        _item("bzlb", "保障类别", personal_info="none"),
    ])
    return police, hrss, civil


def _cluster(session, label, data_type="string"):
    return session.scalars(select(SourceCluster).where(SourceCluster.key == f"34|{label}|{data_type}")).first()


def test_r06_normalized_names_map_through_synonyms():
    assert onesource.canonical_item_name("公民身份号码（18位）") == "身份证号"
    assert onesource.canonical_item_name(" 身份证号码 ") == "身份证号"
    assert onesource.canonical_item_name("身份证号") == "身份证号"
    assert onesource.canonical_item_name("权利人证件号码") == "身份证号"
    assert onesource.canonical_item_name("户籍地址信息") == "户籍地址"
    assert onesource.canonical_item_name("统一社会信用代码") == "统一社会信用代码"  # 代码 kept: meaning changes
    assert onesource.canonical_item_name("性别代码") == "性别"
    assert onesource.canonical_item_name("参保险种【GB】") == "参保险种"
    assert onesource.canonical_item_name("ＡＢＣ编号") == "abc编号"  # full-width → half-width, not a known term
    assert onesource.canonical_item_name("信息") == "信息"


def test_r06_id_number_under_three_names_forms_one_cluster(db, world):
    with db.session() as s:
        police, hrss, civil = _three_id_entries(s, world)
        result = onesource.detect_clusters(s, world.actors["reviewer"])
        assert result.created >= 1
        cluster = _cluster(s, "身份证号")
        assert cluster is not None
        view = onesource.cluster_view(cluster)
        assert view["department_count"] == 3 and view["data_type_label"] == "字符型"
        names = {(m["department_id"], m["item_name"], m["resource_code"]) for m in view["members"]}
        assert names == {
            (world.ids["police"], "公民身份号码", police.resource_code),
            (world.ids["hrss"], "身份证号码", hrss.resource_code),
            (world.ids["civil"], "身份证号", civil.resource_code),
        }


def test_r06_same_name_with_a_different_type_does_not_cluster(db, world):
    with db.session() as s:
        _publish(s, world, "police_manager")  # 公民身份号码 is a string here
        _publish(s, world, "civil_manager", name="救助对象信息", items=[
            _item("sfzh", "身份证号", "integer"),
            _item("jzlx", "救助类型", personal_info="none"),
        ])
        onesource.detect_clusters(s, world.actors["reviewer"])
        assert _cluster(s, "身份证号", "string") is None
        assert _cluster(s, "身份证号", "integer") is None


def test_r06_item_of_one_department_is_not_a_cluster(db, world):
    with db.session() as s:
        _publish(s, world, "police_manager")
        _publish(s, world, "police_manager", name="人口迁移信息")  # the same items, same department
        onesource.detect_clusters(s, world.actors["reviewer"])
        assert s.scalars(select(SourceCluster)).all() == []


def test_r06_only_published_entries_count(db, world):
    with db.session() as s:
        _publish(s, world, "police_manager")
        catalog.create_entry(s, world.actors["civil_manager"], population_entry(name="低保对象信息"))  # a draft
        onesource.detect_clusters(s, world.actors["reviewer"])
        assert s.scalars(select(SourceCluster)).all() == []


def test_r06_generic_bookkeeping_items_do_not_cluster(db, world):
    with db.session() as s:
        extra = [_item("bz", "备注", personal_info="none")]
        _publish(s, world, "police_manager", items=[*population_entry().items, *extra])
        _publish(s, world, "civil_manager", name="低保对象信息", items=[_item("sfzh", "身份证号"), *extra])
        onesource.detect_clusters(s, world.actors["reviewer"])
        assert [c.label for c in s.scalars(select(SourceCluster))] == ["身份证号"]


def test_r06_generic_items_never_form_clusters_whatever_their_synonym():
    """data/generic_items.txt is compared by canonical name: 联系电话 leaves out 手机号码 too."""
    generic = onesource.generic_items()
    assert {"姓名", "性别", "出生日期", "成立日期", "手机号码", "地址", "备注", "序号"} <= generic
    for name in ("姓名", "人员姓名", "性别代码", "出生年月日", "成立时间", "注册日期", "联系电话", "手机号码",
                 "地址", "备注", "序号（自增）"):
        assert onesource.cluster_key(name, "string", "340100") is None, name
    for name in ("公民身份号码", "统一社会信用代码", "户籍地址", "号牌号码", "企业名称"):
        assert onesource.cluster_key(name, "string", "340100") == f"34|{onesource.canonical_item_name(name)}|string"


def test_r06_departments_sharing_only_generic_person_items_form_no_cluster(db, world):
    """姓名 and 性别 in two departments are not one data item (noise); 身份证号 in two departments still is."""
    with db.session() as s:
        _publish(s, world, "police_manager", name="出入境人员信息", items=[
            _item("xm", "姓名"), _item("xb", "性别", length=1), _item("lxdh", "联系电话"),
        ])
        _publish(s, world, "civil_manager", name="志愿者登记信息", items=[
            _item("ryxm", "人员姓名"), _item("xbdm", "性别代码", length=1), _item("sjhm", "手机号码"),
        ])
        result = onesource.detect_clusters(s, world.actors["reviewer"])
        assert (result.clusters, result.created) == (0, 0)
        assert s.scalars(select(SourceCluster)).all() == []
        _publish(s, world, "police_manager", name="人口核验信息", items=[
            _item("gmsfhm", "公民身份号码", length=18), _item("xm", "姓名"), _item("xb", "性别"),
        ])
        _publish(s, world, "civil_manager", name="低保对象信息", items=[
            _item("sfzh", "身份证号", length=18), _item("xm", "姓名"), _item("xb", "性别"),
        ])
        result = onesource.detect_clusters(s, world.actors["reviewer"])
        assert result.clusters == 1
        assert [c.label for c in s.scalars(select(SourceCluster))] == ["身份证号"]
        assert {m.department_id for m in _cluster(s, "身份证号").members} == {world.ids["police"], world.ids["civil"]}


def test_r06_detection_needs_authority_reviewer_or_admin(db, world):
    with db.session() as s:
        with pytest.raises(Forbidden):
            onesource.detect_clusters(s, world.actors["police_manager"])
        onesource.detect_clusters(s, world.actors["admin"])


def test_r06_provincial_authority_names_the_lead_and_search_is_told(db, world):
    with db.session() as s:
        police, hrss, civil = _three_id_entries(s, world)
        onesource.detect_clusters(s, world.actors["reviewer"])
        cluster = _cluster(s, "身份证号")
        s.info.pop("catalog_changed", None)
        onesource.name_lead_source(s, world.actors["reviewer"], cluster.id, world.ids["police"],
                                   "公民身份号码由公安机关依法编制和管理")
        assert cluster.lead_department_id == world.ids["police"]
        assert cluster.named_by_id == world.ids["user:reviewer"] and cluster.named_at is not None
        assert cluster.lead_reason == "公民身份号码由公安机关依法编制和管理"
        assert {police.id, hrss.id, civil.id} <= s.info["catalog_changed"]
        view = onesource.cluster_view(cluster)
        assert view["lead_department_name"] == "省公安厅"
        assert [m["is_lead"] for m in view["members"] if m["department_id"] == world.ids["police"]] == [True]


@pytest.mark.parametrize(
    ("who", "department", "error"),
    [
        ("police_manager", "police", Forbidden),  # a catalog manager
        ("other_reviewer", "police", Forbidden),  # the authority of another province
        ("city_reviewer", "police", Forbidden),  # a city authority does not cover the provincial members
        ("reviewer", "city_civil", ValidationFailed),  # a department that is not in the cluster
        ("reviewer", "other_authority", ValidationFailed),
    ],
)
def test_r06_only_the_authority_of_the_area_can_name_a_lead(db, world, who, department, error):
    with db.session() as s:
        _three_id_entries(s, world)
        onesource.detect_clusters(s, world.actors["reviewer"])
        cluster = _cluster(s, "身份证号")
        with pytest.raises(error):
            onesource.name_lead_source(s, world.actors[who], cluster.id, world.ids[department], "理由")
        assert cluster.lead_department_id is None


def test_r06_naming_a_lead_needs_a_reason(db, world):
    with db.session() as s:
        _three_id_entries(s, world)
        onesource.detect_clusters(s, world.actors["reviewer"])
        cluster = _cluster(s, "身份证号")
        with pytest.raises(ValidationFailed) as err:
            onesource.name_lead_source(s, world.actors["reviewer"], cluster.id, world.ids["police"], "  ")
        assert err.value.field == "reason"


def test_r06_lead_assignment_survives_re_detection(db, world):
    with db.session() as s:
        _three_id_entries(s, world)
        onesource.detect_clusters(s, world.actors["reviewer"])
        cluster_id = _cluster(s, "身份证号").id
        onesource.name_lead_source(s, world.actors["reviewer"], cluster_id, world.ids["police"], "法定职责")
        _publish(s, world, "city_civil_manager", name="城乡低保对象信息", items=[_item("sfzjhm", "身份证件号码")])
        result = onesource.detect_clusters(s, world.actors["admin"])
        assert result.leads_kept == 1 and result.leads_cleared == []
        cluster = _cluster(s, "身份证号")
        assert cluster.id == cluster_id and cluster.lead_department_id == world.ids["police"]
        assert onesource.cluster_view(cluster)["department_count"] == 4


def test_r06_lead_terms_by_entry_only_for_the_lead_departments_entries(db, world):
    with db.session() as s:
        police, hrss, civil = _three_id_entries(s, world)
        onesource.detect_clusters(s, world.actors["reviewer"])
        assert onesource.lead_terms_by_entry(s, [police.id, hrss.id]) == {police.id: [], hrss.id: []}
        cluster = _cluster(s, "身份证号")
        onesource.name_lead_source(s, world.actors["reviewer"], cluster.id, world.ids["police"], "法定职责")
        terms = onesource.lead_terms_by_entry(s, [police.id, hrss.id, civil.id])
        assert terms == {police.id: ["身份证号"], hrss.id: [], civil.id: []}
        assert onesource.lead_terms_by_entry(s, []) == {}


def test_r06_one_source_api(client, db, world):
    with db.session() as s:
        police, _hrss, _civil = _three_id_entries(s, world)
    assert client.post("/api/v1/catalog/one-source/detect", headers=world.headers("police_manager")).status_code == 403
    detected = client.post("/api/v1/catalog/one-source/detect", headers=world.headers("reviewer"))
    assert detected.status_code == 200 and detected.json()["clusters"] == 1
    listed = client.get("/api/v1/catalog/one-source/clusters", headers=world.headers("civil_requester"))
    assert listed.status_code == 200
    [cluster] = listed.json()
    assert cluster["label"] == "身份证号" and cluster["department_count"] == 3
    url = f"/api/v1/catalog/one-source/clusters/{cluster['id']}/lead"
    refused = client.post(url, json={"department_id": world.ids["police"], "reason": "x"},
                          headers=world.headers("other_reviewer"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    named = client.post(url, json={"department_id": world.ids["police"], "reason": "公安机关法定职责"},
                        headers=world.headers("reviewer"))
    assert named.status_code == 200, named.text
    assert named.json()["lead_department_name"] == "省公安厅"
    missing = client.post(url, json={"department_id": world.ids["police"]}, headers=world.headers("reviewer"))
    assert missing.status_code == 422
    with db.session() as s:
        assert onesource.lead_terms_by_entry(s, [police.id]) == {police.id: ["身份证号"]}


def test_r06_one_source_commands(db, db_url, world, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    with db.session() as s:
        _three_id_entries(s, world)
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", db_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        listed = runner.invoke(app, ["catalog", "one-source", "--detect", "--json"])
        assert listed.exit_code == 0, listed.output
        [cluster] = json.loads(listed.output)
        assert cluster["label"] == "身份证号" and cluster["lead_department_id"] is None
        refused = runner.invoke(app, ["catalog", "lead", str(cluster["id"]), str(world.ids["police"]),
                                      "--reason", "法定职责", "--user", "other_reviewer"])
        assert refused.exit_code == 2
        named = runner.invoke(app, ["catalog", "lead", str(cluster["id"]), str(world.ids["police"]),
                                    "--reason", "公安机关法定职责", "--user", "reviewer"])
        assert named.exit_code == 0, named.output
        table = runner.invoke(app, ["catalog", "one-source"])
        assert table.exit_code == 0 and "省公安厅" in table.output
    finally:
        get_settings.cache_clear()
    with db.session() as s:
        cluster_row = s.get(SourceCluster, cluster["id"])
        assert cluster_row.named_by_id == world.ids["user:reviewer"]
