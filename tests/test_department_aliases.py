"""Departments have aliases (issue 13): one office under variant names (省统计局 for 安徽省统计局). Imports
resolve a provider by its name or an alias, for the platform and for the department's own catalog manager; a
name close to a department the region already had is rejected naming it, not created beside it. Only the
platform administrator manages aliases (service, API, CLI).

`ALIAS_CASES` are the negative authorization cases of the alias write routes in the shape of
tests/test_authz_api.py (which enumerates every write route); they run here through the same checks."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from govshare.authz import Actor
from govshare.catalog import importer
from govshare.catalog.models import CatalogEntry
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.orgs import service as orgs
from govshare.orgs.models import Department, DepartmentAlias
from tests.authz_case import Case
from tests.factories import SYSTEM

HEADER = "目录名称,提供部门,分类代码,摘要,数据格式,共享类型,共享条件,共享方式,更新周期,信息项\n"
CLOSE_RULE = "提供部门“省统计局”未登记；相近的已有部门：安徽省统计局（如为同一部门，请为其添加别名）"


def _csv(tmp_path, providers: list[str], name: str = "catalog.csv"):
    rows = "".join(f"统计数据{n},{provider},101,年度统计数据,数据库,无条件共享,,接口,每年,指标\n"
                   for n, provider in enumerate(providers, start=1))
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def _statistics(session) -> Department:
    return orgs.create_department(session, SYSTEM, name="安徽省统计局", level="provincial", region_code="340000")


def _entries_of(session, department_id: int) -> list[str]:
    query = select(CatalogEntry.name).where(CatalogEntry.provider_id == department_id).order_by(CatalogEntry.name)
    return list(session.scalars(query))


def _department_names(session, region: str = "340000") -> set[str]:
    return set(session.scalars(select(Department.name).where(Department.region_code == region)))


# ---------------------------------------------------------------- close names


@pytest.mark.parametrize(("name", "other"), [
    ("省统计局", "安徽省统计局"),  # the region's own place left out
    ("市统计局", "宿州市统计局"),
    ("省科技厅", "安徽省科学技术厅"),  # an abbreviation
    ("市人社局", "宿州市人力资源和社会保障局"),
    ("市市场监管局", "宿州市市场监督管理局"),
    ("省税务局", "国家税务总局安徽省税务局"),  # the end of a name after a place
    ("安徽省生态环境局", "安徽省生态环境厅"),  # one character apart
    ("文化和旅游局（池州市广播电视新闻出版局）", "文化和旅游局"),  # what is in brackets is set aside
])
def test_names_close_finds_variant_names_of_one_office(name, other):
    assert orgs.names_close(name, other) and orgs.names_close(other, name)


@pytest.mark.parametrize(("name", "other"), [
    ("省统计局", "省审计局"),  # three characters are compared whole
    ("省民政厅", "省财政厅"),
    ("六安市民政局", "金寨县民政局"),  # other places are other offices
    ("六安市民政局", "六安市裕安区民政局"),
    ("六安市公安局", "六安市公安局叶集分局"),  # a unit of its own
    ("厦门市信息中心", "厦门市公共信用信息中心"),
    ("省教育厅", "省公安厅"),
])
def test_names_close_keeps_other_offices_apart(name, other):
    assert not orgs.names_close(name, other) and not orgs.names_close(other, name)


# ---------------------------------------------------------------- managing aliases (service)


def test_platform_admin_adds_lists_and_removes_aliases(db, world):
    with db.session() as s:
        police = world.ids["police"]
        added = orgs.add_alias(s, world.actors["admin"], police, "  安徽省公安厅 ")
        assert (added.alias, added.region_code, added.created_by_id) == ("安徽省公安厅", "340000",
                                                                         world.ids["user:admin"])
        assert orgs.add_alias(s, world.actors["admin"], police, "安徽省公安厅").id == added.id  # nothing new
        orgs.add_alias(s, SYSTEM, police, "皖公安厅")
        assert [a.alias for a in orgs.list_aliases(s, police)] == ["安徽省公安厅", "皖公安厅"]
        assert orgs.department_named(s, "安徽省公安厅", "340000").id == police
        assert orgs.department_named(s, "安徽省公安厅", "360000") is None
        orgs.remove_alias(s, world.actors["admin"], police, added.id)
        assert [a.alias for a in orgs.list_aliases(s, police)] == ["皖公安厅"]
        assert orgs.department_named(s, "安徽省公安厅", "340000") is None


def test_aliases_are_unique_within_a_region_and_never_a_name(db, world):
    with db.session() as s:
        admin, police, civil = world.actors["admin"], world.ids["police"], world.ids["civil"]
        orgs.add_alias(s, admin, police, "公安厅")
        with pytest.raises(Conflict) as err:  # another department's alias in the region
            orgs.add_alias(s, admin, civil, "公安厅")
        assert err.value.field == "alias" and "省公安厅" in err.value.message
        with pytest.raises(Conflict) as err:  # another department's name in the region
            orgs.add_alias(s, admin, civil, "省公安厅")
        assert err.value.field == "alias"
        for bad in ("", "   ", "省民政厅", "民政\x00厅", "厅" * 201):
            with pytest.raises(ValidationFailed) as err:
                orgs.add_alias(s, admin, civil, bad)
            assert err.value.field == "alias", bad
        # the same alias in another region is another department's business
        other = orgs.create_department(s, SYSTEM, name="江西省公安厅", level="provincial", region_code="360000")
        assert orgs.add_alias(s, admin, other.id, "公安厅").region_code == "360000"
        # a department is not registered under a name the region uses as an alias
        with pytest.raises(Conflict) as err:
            orgs.create_department(s, SYSTEM, name="公安厅", level="provincial", region_code="340000")
        assert err.value.field == "name" and "别名" in err.value.message
        with pytest.raises(NotFound):
            orgs.add_alias(s, admin, 999_999, "无此部门")


def test_r18_only_the_platform_admin_manages_aliases(db, world):
    with db.session() as s:
        alias = orgs.add_alias(s, SYSTEM, world.ids["police"], "安徽省公安厅")
    for who in ("police_manager", "civil_manager", "police_reviewer", "reviewer", "civil_requester", "auditor"):
        with db.session() as s:
            with pytest.raises(Forbidden):
                orgs.add_alias(s, world.actors[who], world.ids["police"], "皖公安厅")
            with pytest.raises(Forbidden):
                orgs.remove_alias(s, world.actors[who], world.ids["police"], alias.id)
    with db.session() as s:
        assert [a.alias for a in orgs.list_aliases(s, world.ids["police"])] == ["安徽省公安厅"]
        with pytest.raises(NotFound):  # an alias of another department is not this one's
            orgs.remove_alias(s, SYSTEM, world.ids["civil"], alias.id)


# ---------------------------------------------------------------- imports


def test_r03_admin_import_rejects_a_name_close_to_an_existing_department_naming_it(db, tmp_path):
    with db.session() as s:
        statistics = _statistics(s).id
    path = _csv(tmp_path, ["省统计局", "安徽省统计局", "省统计局", "省教育厅"])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="340000")
    assert [(p["row"], p["column"], p["rule"], p["value"]) for p in report.rejected] == [
        (2, "提供部门", CLOSE_RULE, "省统计局"), (4, "提供部门", CLOSE_RULE, "省统计局")]  # line 1: the header
    assert report.created == 2 and report.departments_created == ["省教育厅"]
    with db.session() as s:
        assert _department_names(s) == {"安徽省统计局", "省教育厅"}
        assert _entries_of(s, statistics) == ["统计数据2"]


def test_r03_after_adding_the_alias_the_rows_import_under_the_department(db, tmp_path):
    with db.session() as s:
        statistics = _statistics(s).id
        orgs.add_alias(s, SYSTEM, statistics, "省统计局")
    path = _csv(tmp_path, ["省统计局", "安徽省统计局", "省统计局"])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="340000")
    assert report.rejected == [] and report.created == 3 and report.departments_created == []
    with db.session() as s:
        assert _department_names(s) == {"安徽省统计局"}
        assert _entries_of(s, statistics) == ["统计数据1", "统计数据2", "统计数据3"]
    # without a region the alias still finds the one department that has it
    with db.session() as s:
        again = importer.import_file(s, SYSTEM, _csv(tmp_path, ["省统计局"], "again.csv"))
    assert again.rejected == [] and again.unchanged == 1


def test_r03_a_close_name_is_refused_only_against_departments_the_region_had_before_the_import(db, tmp_path):
    """A portal's first import into an empty node names both 省统计局 and 安徽省统计局: both are created (nothing
    was registered to compare with), and the defaults section asks the administrator to check the pair."""
    path = _csv(tmp_path, ["安徽省统计局", "省统计局", "省统计局"])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="340000")
    assert report.rejected == [] and report.created == 3
    assert report.departments_created == ["安徽省统计局", "省统计局"]
    note = next(n for n in report.defaults if "相近" in n["note"])
    assert note["column"] == "提供部门" and note["rows"] == 1 and note["first_rows"] == [3]
    assert "省统计局" in note["note"] and "安徽省统计局" in note["note"]
    # the next file of the region meets them as registered departments: exact names import, nothing is refused
    with db.session() as s:
        again = importer.import_file(s, SYSTEM, _csv(tmp_path, ["省统计局"], "again.csv"), region_code="340000")
    assert again.rejected == [] and again.created == 1 and again.departments_created == []


def test_r02_catalog_manager_imports_rows_named_by_an_alias_of_the_own_department(db, tmp_path):
    with db.session() as s:
        statistics = _statistics(s)
        orgs.create_user(s, SYSTEM, username="stats_manager", password="long-enough-1", role="catalog_manager",
                         department_id=statistics.id)
    path = _csv(tmp_path, ["省统计局", "安徽省统计局", "省公安厅"])
    with db.session() as s:
        manager = Actor.from_user(orgs.find_user(s, "stats_manager"))
        report = importer.import_file(s, manager, path)
    rules = {p["row"]: p["rule"] for p in report.rejected}
    assert rules[2] == ("只能导入本部门目录：“省统计局”不是本部门“安徽省统计局”的名称或别名"
                        "（如为本部门，请平台管理员为本部门添加别名）")
    assert rules[4] == "只能导入本部门目录" and report.created == 1
    with db.session() as s:
        orgs.add_alias(s, SYSTEM, statistics.id, "省统计局")
    with db.session() as s:
        manager = Actor.from_user(orgs.find_user(s, "stats_manager"))
        report = importer.import_file(s, manager, path)
    assert [p["row"] for p in report.rejected] == [4] and (report.created, report.unchanged) == (1, 1)
    with db.session() as s:
        assert _entries_of(s, statistics.id) == ["统计数据1", "统计数据2"]
        assert s.scalar(select(func.count()).select_from(Department)) == 1


# ---------------------------------------------------------------- the API


def _alias_state(session, params) -> list:
    query = select(DepartmentAlias.department_id, DepartmentAlias.alias).order_by(DepartmentAlias.id)
    return [tuple(row) for row in session.execute(query)]


def _police(_session, world) -> dict:
    return {"department_id": world.ids["police"]}


def _police_with_alias(session, world) -> dict:
    alias = orgs.add_alias(session, SYSTEM, world.ids["police"], "安徽省公安厅")
    return {"department_id": world.ids["police"], "alias_id": alias.id}


# Catalog managers (the owning department's too), reviewers and requesters are refused; the auditor and a
# caller without a token as on every write route (tests/test_authz_api.py).
ALIAS_INTRUDERS = ("police_manager", "civil_manager", "police_reviewer", "reviewer", "city_reviewer",
                   "civil_requester")
ALIAS_CASES = [
    Case("POST", "/api/v1/departments/{department_id}/aliases", _police, lambda _p: {"alias": "安徽省公安厅"},
         ALIAS_INTRUDERS, "admin", _alias_state, owner_status=201),
    Case("DELETE", "/api/v1/departments/{department_id}/aliases/{alias_id}", _police_with_alias, lambda _p: None,
         ALIAS_INTRUDERS, "admin", _alias_state, owner_status=204),
]


def _send(client, world, case: Case, params: dict, who: str | None):
    headers = world.headers(who) if who else {}
    return client.request(case.method, case.url(params), json=case.body(params), headers=headers)


@pytest.mark.parametrize("case", ALIAS_CASES, ids=lambda c: c.id)
def test_r18_alias_routes_refuse_everybody_but_the_platform_admin(client, db, world, case):
    with db.session() as s:
        params = case.prepare(s, world)
    with db.session() as s:
        before = case.state(s, params)
    for who in (None, "auditor", *case.intruders):
        response = _send(client, world, case, params, who)
        assert response.status_code == (401 if who is None else 403), (who, response.text)
        assert set(response.json()["error"]) == {"code", "message", "field"}
        with db.session() as s:
            assert case.state(s, params) == before, f"{who} changed the aliases through {case.id}"
    allowed = _send(client, world, case, params, case.owner)
    assert allowed.status_code == case.owner_status, allowed.text
    with db.session() as s:
        assert case.state(s, params) != before


def test_api_aliases_are_listed_with_the_department_and_conflicts_are_409(client, db, world):
    admin = world.headers("admin")
    police, civil = world.ids["police"], world.ids["civil"]
    url = f"/api/v1/departments/{police}/aliases"
    created = client.post(url, json={"alias": "安徽省公安厅"}, headers=admin)
    assert created.status_code == 201
    assert created.json()["alias"] == "安徽省公安厅" and created.json()["department_id"] == police
    listed = client.get("/api/v1/departments", headers=world.headers("civil_requester"))  # read by every user
    departments = {d["id"]: d for d in listed.json()}
    assert [a["alias"] for a in departments[police]["aliases"]] == ["安徽省公安厅"]
    assert departments[civil]["aliases"] == []
    taken = client.post(f"/api/v1/departments/{civil}/aliases", json={"alias": "安徽省公安厅"}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "alias"
    name = client.post(f"/api/v1/departments/{civil}/aliases", json={"alias": "省公安厅"}, headers=admin)
    assert name.status_code == 409
    blank = client.post(url, json={"alias": "  "}, headers=admin)
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "alias"
    missing = client.post("/api/v1/departments/999999/aliases", json={"alias": "无"}, headers=admin)
    assert missing.status_code == 404
    alias_id = created.json()["id"]
    foreign = client.delete(f"/api/v1/departments/{civil}/aliases/{alias_id}", headers=admin)
    assert foreign.status_code == 404
    assert client.delete(f"{url}/{alias_id}", headers=admin).status_code == 204
    assert next(d for d in client.get("/api/v1/departments", headers=admin).json() if d["id"] == police)[
        "aliases"] == []
    assert client.delete(f"{url}/{alias_id}", headers=admin).status_code == 404


# ---------------------------------------------------------------- the command line


def test_cli_dept_alias_add_and_remove(db, settings, monkeypatch):
    from govshare import cli
    from govshare.config import get_settings

    with db.session() as s:
        statistics = _statistics(s).id
        orgs.create_department(s, SYSTEM, name="安徽省统计局", level="provincial", region_code="360000")
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(cli.console, "width", 400)
    monkeypatch.setattr(cli.err_console, "width", 400)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        get_settings.cache_clear()
        try:
            result = runner.invoke(cli.app, list(args))
        finally:
            get_settings.cache_clear()
        assert result.exit_code == code, result.output
        return result.output

    ambiguous = run("dept", "alias", "add", "安徽省统计局", "省统计局", code=2)
    assert "--region-code" in ambiguous
    out = run("dept", "alias", "add", "安徽省统计局", "省统计局", "--region-code", "340000")
    assert f"部门 {statistics}（安徽省统计局）的别名：省统计局" in out
    assert "省统计局" in run("dept", "alias", "add", str(statistics), "统计局")
    listed = run("dept", "list")
    assert "省统计局、统计局" in listed
    # the alias names the department too
    assert "已删除" in run("dept", "alias", "remove", "省统计局", "统计局")
    assert "该部门没有别名" in run("dept", "alias", "remove", str(statistics), "统计局", code=2)
    with db.session() as s:
        assert [a.alias for a in orgs.list_aliases(s, statistics)] == ["省统计局"]
