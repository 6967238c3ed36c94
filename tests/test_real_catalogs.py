"""The seven real portal catalogs (../shared/data/real/catalogs, 4,735 entries) import on every backend
(R03): headers mapped, values derived and reported, duplicates and empty providers reported per row,
departments created from the provider names (the 10-second target is measured by
`make bench`). They are imported once per
backend (module-scoped); one test runs every check on the result."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from bench.import_bench import PORTALS  # file -> (region code, level) of the departments it names
from sqlalchemy import func, select

from govshare.authz import Actor
from govshare.catalog import importer, service
from govshare.catalog.models import CatalogEntry
from govshare.catalog.schemas import EntryIn
from govshare.db import Database
from govshare.orgs.models import Department
from tests.conftest import REAL, _empty_tables

SYSTEM = Actor.system()
CATALOGS = REAL / "catalogs"
PROVIDER_COLUMN = {"anhui_anhui.json": "提供单位", "anhui_chizhou.json": "提供单位", "anhui_huainan.json": "所属部门",
                   "anhui_luan.json": "来源部门", "anhui_suzhou.json": "来源部门", "fujian_xiamen.json": "数据来源",
                   "jiangxi_jiangxi.json": "数源单位"}
# Rows without a provider are imported a second time naming the portal's operator as their provider.
OPERATORS = {"anhui_chizhou.json": "池州市数据资源局", "anhui_huainan.json": "淮南市数据资源管理局"}
TOTAL_ROWS = 4735


def _raw(name: str) -> list[dict]:
    return json.loads((CATALOGS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def real(db_url):
    database = Database(db_url)
    _empty_tables(database)
    first, second = {}, {}
    for name, (region, level) in PORTALS.items():
        with database.session() as s:
            first[name] = importer.import_file(s, SYSTEM, CATALOGS / name, region_code=region, level=level)
    for name, operator in OPERATORS.items():
        region, level = PORTALS[name]
        with database.session() as s:
            second[name] = importer.import_file(s, SYSTEM, CATALOGS / name, region_code=region, level=level,
                                                default_provider=operator)
    yield database, first, second
    _empty_tables(database)
    database.dispose()


def _r03_all_seven_real_catalogs_import(real) -> None:
    _database, first, _second = real
    assert sum(r.total_rows for r in first.values()) == TOTAL_ROWS
    created = sum(r.created for r in first.values())
    rejected = sum(len(r.rejected) for r in first.values())
    duplicates = sum(len(r.duplicates) for r in first.values())
    assert (created, rejected, duplicates) == (4643, 90, 2)
    assert created + rejected + duplicates == TOTAL_ROWS


def _r03_exact_duplicates_in_luan_are_reported_with_the_row_they_repeat(real) -> None:
    _database, first, _second = real
    assert first["anhui_luan.json"].duplicates == [{"row": 341, "duplicate_of": 321},
                                                   {"row": 342, "duplicate_of": 322}]
    assert all(not r.duplicates for name, r in first.items() if name != "anhui_luan.json")


def _r03_rows_without_provider_are_rejected_one_by_one(real) -> None:
    _database, first, _second = real
    for name, report in first.items():
        empty_rows = [n for n, row in enumerate(_raw(name), start=1) if not (row.get(PROVIDER_COLUMN[name]) or "")]
        assert [p["row"] for p in report.rejected] == empty_rows
        assert {(p["column"], p["rule"]) for p in report.rejected} <= {(PROVIDER_COLUMN[name], "提供部门不能为空")}
    assert len(first["anhui_chizhou.json"].rejected) == 88 and len(first["anhui_huainan.json"].rejected) == 2


def _r03_reimport_with_the_portal_operator_completes_4733_entries_without_duplicates(real) -> None:
    database, first, second = real
    for name, report in second.items():
        assert report.created == len(first[name].rejected)
        assert report.unchanged == first[name].created and report.rejected == []
        assert any("默认提供部门" in note["note"] for note in report.defaults)
    created = sum(r.created for r in first.values()) + sum(r.created for r in second.values())
    assert created == TOTAL_ROWS - 2 == 4733
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogEntry)) == 4733
        again = importer.import_file(s, SYSTEM, CATALOGS / "fujian_xiamen.json", region_code="350200")
        assert (again.created, again.unchanged) == (0, 1001)


def _r03_departments_are_created_from_provider_names(real) -> None:
    database, first, second = real
    expected: set[tuple[str, str]] = set()
    for name, (region, _level) in PORTALS.items():
        column = PROVIDER_COLUMN[name]
        expected |= {(row[column].strip(), region) for row in _raw(name) if (row.get(column) or "").strip()}
    expected |= {(operator, PORTALS[name][0]) for name, operator in OPERATORS.items()}
    with database.session() as s:
        departments = {(d.name, d.region_code): d.level for d in s.scalars(select(Department))}
    assert set(departments) == expected
    assert departments[("省统计局", "340000")] == "provincial"
    assert departments[("厦门市生态环境局", "350200")] == "municipal"
    reported = [n for r in [*first.values(), *second.values()] for n in r.departments_created]
    assert len(reported) == len(expected)


def _r04_derived_values_of_real_rows_pass_the_catalog_rules(real) -> None:
    database, _first, _second = real
    with database.session() as s:
        entries = s.scalars(select(CatalogEntry)).all()
        for entry in entries:
            service.validate_entry(EntryIn.model_validate({**service.snapshot(entry), "items": []}))
        by_name = {e.name: e for e in entries}
        share_types = Counter(e.share_type for e in entries)
        safe = [e for e in entries if e.open_condition == "安全开放"]
    assert share_types["conditional"] > 0 and share_types["unconditional"] > 0 and share_types["none"] == 0
    assert safe and all(e.share_condition == "安全开放数据：经提供单位审核同意后按申请用途共享" for e in safe)
    assert by_name["厦门市大气超级站激光雷达监测数据"].share_type == "conditional"
    assert by_name["民办非企业单位"].open_attribute == "open"  # 淮南 "无条件开发"
    population = by_name["六次全省人口普查基本情况信息"]
    assert (population.data_format, population.share_method, population.update_cycle) == \
        ("service", "api", "yearly")
    assert population.classification_code == "299"  # empty theme


def _r03_defaults_section_says_what_was_derived(real) -> None:
    _database, first, _second = real
    xiamen = {n["note"]: n for n in first["fujian_xiamen.json"].defaults}
    every_two_days = next(n for text, n in xiamen.items() if "每 2 日" in text)
    assert every_two_days["rows"] == 19 and "每日" in every_two_days["note"]
    jiangxi = {n["note"]: n["rows"] for n in first["jiangxi_jiangxi.json"].defaults}
    assert jiangxi["数据格式缺失，按“电子文件”登记"] == 17
    assert jiangxi["未提供更新周期，按“不定期”登记"] == 279


@pytest.mark.slow
def test_r03_the_seven_real_catalogs(real):
    """R03/R04 on real data. One test per backend, so that parallel workers never import the catalogs twice."""
    _r03_all_seven_real_catalogs_import(real)
    _r03_exact_duplicates_in_luan_are_reported_with_the_row_they_repeat(real)
    _r03_rows_without_provider_are_rejected_one_by_one(real)
    _r03_reimport_with_the_portal_operator_completes_4733_entries_without_duplicates(real)
    _r03_departments_are_created_from_provider_names(real)
    _r04_derived_values_of_real_rows_pass_the_catalog_rules(real)
    _r03_defaults_section_says_what_was_derived(real)


def test_r03_an_alias_brings_the_rows_of_a_short_name_under_the_registered_department(db):
    """Issue 13 on real data: 安徽省统计局 is registered; anhui_anhui.json names it 省统计局 in 556 of its 700 rows.
    Without an alias those rows are rejected naming the registered department (no second department beside it);
    once 省统计局 is its alias, the same file imports them under 安徽省统计局."""
    from govshare.orgs import service as orgs

    _empty_tables(db)  # the module's real catalogs may still be loaded on this backend
    name, (region, level) = "anhui_anhui.json", PORTALS["anhui_anhui.json"]
    short = sum(1 for row in _raw(name) if row[PROVIDER_COLUMN[name]].strip() == "省统计局")
    assert short == 556
    with db.session() as s:
        statistics = orgs.create_department(s, SYSTEM, name="安徽省统计局", level=level, region_code=region).id
    with db.session() as s:
        first = importer.import_file(s, SYSTEM, CATALOGS / name, region_code=region, level=level)
    assert len(first.rejected) == short and first.created == 700 - short
    assert {p["rule"] for p in first.rejected} == {
        "提供部门“省统计局”未登记；相近的已有部门：安徽省统计局（如为同一部门，请为其添加别名）"}
    assert "省统计局" not in first.departments_created and "安徽省统计局" not in first.departments_created
    with db.session() as s:
        orgs.add_alias(s, SYSTEM, statistics, "省统计局")
    with db.session() as s:
        second = importer.import_file(s, SYSTEM, CATALOGS / name, region_code=region, level=level)
    assert (second.created, second.unchanged, second.rejected, second.departments_created) == (
        short, 700 - short, [], [])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Department).where(Department.name == "省统计局")) == 0
        under = s.scalar(select(func.count()).select_from(CatalogEntry).where(CatalogEntry.provider_id == statistics))
        assert under == short + 1  # and the one row that names it 安徽省统计局
