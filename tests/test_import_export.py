"""Catalog import and export (R01, R03, R04): column mapping of real portal headers, explicit mapping
files, per-row rejection with row/column/rule, idempotent re-import, XLSX and CSV round trips, the CLI
and the API."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from govshare.authz import Actor
from govshare.catalog import exporter, importer, service
from govshare.catalog import mapping as m
from govshare.catalog.models import CatalogEntry, EntryEvent
from govshare.catalog.schemas import EntryIn
from govshare.catalog.vocab import DataFormat, OpenAttribute, UpdateCycle
from govshare.errors import ValidationFailed
from govshare.orgs.models import Department
from tests.conftest import REAL, _empty_tables
from tests.factories import population_entry, published_entry

SYSTEM = Actor.system()
CATALOGS = REAL / "catalogs"

# The header sets of the seven real portals (data/real/README.md) and what each column must map to.
REAL_HEADERS = {
    "anhui_anhui.json": ({"name": "标题", "provider": "提供单位", "abstract": "摘要信息", "update_cycle": "更新频率",
                          "open_attribute": "开放属性", "data_format": "数据格式", "theme": "所属领域",
                          "publish_date": "发布日期", "data_updated_at": "更新日期", "url": "url"}, []),
    "anhui_chizhou.json": ({"name": "标题", "provider": "提供单位", "abstract": "摘要描述", "data_format": "数据格式",
                            "theme": "所属领域", "data_updated_at": "更新时间"}, []),
    "anhui_huainan.json": ({"name": "标题", "provider": "所属部门", "data_format": "数据类型", "theme": "数据领域",
                            "open_attribute": "开放属性", "publish_date": "发布时间", "data_updated_at": "更新时间",
                            "url": "url", "industry": "主题分类"}, ["创建时间"]),
    "anhui_luan.json": ({"name": "标题", "provider": "来源部门", "abstract": "描述", "update_cycle": "更新频率",
                         "data_format": "数据格式", "theme": "重点领域", "publish_date": "发布时间",
                         "data_updated_at": "更新时间", "tags": "标签", "industry": "所属行业"},
                        ["数据量", "部门电话", "部门邮箱"]),
    "anhui_suzhou.json": ({"name": "标题", "provider": "来源部门", "abstract": "描述", "update_cycle": "更新频率",
                           "open_attribute": "开放类型", "data_format": "数据格式", "theme": "重点领域",
                           "publish_date": "发布时间", "data_updated_at": "更新时间", "url": "url", "tags": "标签",
                           "industry": "所属行业"},
                          ["数据量", "部门电话", "部门邮箱", "文件数"]),
    "fujian_xiamen.json": ({"name": "目录名称", "provider": "数据来源", "abstract": "简介", "update_cycle": "更新频率",
                            "open_attribute": "开放类型", "data_format": "数据格式", "theme": "主题领域",
                            "publish_date": "发布时间", "data_updated_at": "更新时间", "url": "url", "tags": "标签",
                            "industry": "行业分类"},
                           ["联系方式"]),
    "jiangxi_jiangxi.json": ({"name": "标题", "provider": "数源单位", "open_attribute": "开放类型",
                              "data_format": "数据格式", "theme": "数据领域", "publish_date": "发布时间",
                              "data_updated_at": "数据更新时间", "url": "url"}, []),
}


@pytest.mark.parametrize("filename", sorted(REAL_HEADERS))
def test_r03_headers_of_each_real_portal_are_recognized(filename):
    source = importer.read_source(CATALOGS / filename)
    detected = m.detect_mapping(source.entries.headers)
    expected, ignored = REAL_HEADERS[filename]
    assert detected.columns == expected
    assert sorted(detected.ignored) == sorted(ignored)


def test_headers_are_matched_without_case_spaces_or_required_marks():
    detected = m.detect_mapping([" 目录 名称 ", "*提供单位", "URL", "更新频率（必填）"])
    assert detected.columns == {"name": " 目录 名称 ", "provider": "*提供单位", "url": "URL",
                                "update_cycle": "更新频率（必填）"}


def _write_json(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_r03_explicit_mapping_file_overrides_detection(db, tmp_path):
    rows = [{"资源名": "道路运输许可", "主管单位": "市交通运输局", "描述": "旧摘要列", "说明": "许可证号、有效期",
             "格式": "csv", "领域": "交通运输"}]
    source = _write_json(tmp_path / "odd.json", rows)
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(json.dumps({"目录名称": "资源名", "provider": "主管单位", "abstract": "说明",
                                        "数据格式": "格式"}, ensure_ascii=False), encoding="utf-8")
    explicit = importer.read_mapping_file(mapping_file)
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, source, mapping=explicit, region_code="341500")
        assert report.created == 1 and report.rejected == []
        assert report.mapping["name"] == "资源名" and report.mapping["abstract"] == "说明"
        assert "描述" in report.ignored_columns  # auto-detected as abstract, displaced by the explicit mapping
        entry = s.scalars(select(CatalogEntry)).one()
        assert (entry.name, entry.abstract, entry.provider.name) == ("道路运输许可", "许可证号、有效期", "市交通运输局")
        assert entry.data_format == DataFormat.SPREADSHEET and entry.classification_code == "205"


def test_mapping_file_naming_unknown_field_or_column_is_refused(tmp_path):
    headers = ["标题", "单位"]
    with pytest.raises(ValidationFailed) as err:
        m.detect_mapping(headers, explicit={"负责人": "单位"})
    assert err.value.field == "mapping" and "负责人" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        m.detect_mapping(headers, explicit={"provider": "部门"})
    assert "部门" in err.value.message
    with pytest.raises(ValidationFailed):
        m.load_mapping_file('["标题"]')


BAD_FILE_HEADER = ["目录名称", "提供单位", "共享类型", "共享条件", "不予共享依据", "涉密情况", "数据格式", "更新周期",
                   "发布日期"]
BAD_FILE_ROWS = [
    ["企业登记信息", "市市场监管局", "无条件共享", "", "", "", "xls", "每月", "2023-01-05"],  # line 2: good
    ["维稳工作台账", "市公安局", "有条件共享", "仅限公安机关办案使用", "", "工作秘密", "xls", "每月", ""],  # 3: R01
    ["个体调查对象明细", "市统计局", "不予共享", "", "不方便", "", "xls", "每年", ""],  # 4: R04
    ["无主数据", "", "无条件共享", "", "", "", "xls", "每月", ""],  # 5: empty provider
    ["公交线路", "市交通运输局", "无条件共享", "", "", "", "api", "每日", "2023-13-45"],  # 6: bad date
    ["有条件但未写条件", "市交通运输局", "有条件共享", "依申请", "", "", "api", "每日", ""],  # 7: R04 vague
    ["统计年鉴", "市统计局", "无条件共享", "", "", "", "pdf", "每年", "2023/06/30"],  # 8: good
]


def test_r01_r04_bad_rows_rejected_with_row_column_rule_and_good_rows_kept(db, world, tmp_path):
    with db.session() as s:
        before = published_entry(s, world)
        before_id = before.id
    path = _write_csv(tmp_path / "mixed.csv", BAD_FILE_HEADER, BAD_FILE_ROWS)
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="341500")
    problems = {p["row"]: p for p in report.rejected}
    assert sorted(problems) == [3, 4, 5, 6, 7]
    assert problems[3]["column"] == "涉密情况" and "秘密" in problems[3]["rule"] and problems[3]["value"] == "工作秘密"
    assert problems[4]["column"] == "不予共享依据" and "法律" in problems[4]["rule"]
    assert problems[5] == {"row": 5, "column": "提供单位", "rule": "提供部门不能为空", "value": ""}
    assert problems[6]["column"] == "发布日期" and "日期格式无效" in problems[6]["rule"]
    assert problems[7]["column"] == "共享条件" and "具体的共享条件" in problems[7]["rule"]
    assert report.created == 2 and report.total_rows == 7
    with db.session() as s:
        names = set(s.scalars(select(CatalogEntry.name)))
        assert names == {"人口基本信息", "企业登记信息", "统计年鉴"}
        assert s.get(CatalogEntry, before_id).status == "published"
        # rows rejected by the rules create no provider departments either
        assert s.scalars(select(Department).where(Department.name == "市公安局")).first() is None
        assert s.scalars(select(CatalogEntry).where(CatalogEntry.name == "统计年鉴")).one().publish_date == \
            date(2023, 6, 30)


def test_r03_reimport_of_the_same_file_creates_no_duplicates(db, tmp_path):
    path = _write_csv(tmp_path / "mixed.csv", BAD_FILE_HEADER, BAD_FILE_ROWS)
    with db.session() as s:
        first = importer.import_file(s, SYSTEM, path, region_code="341500")
    with db.session() as s:
        second = importer.import_file(s, SYSTEM, path, region_code="341500")
        assert (first.created, second.created, second.unchanged) == (2, 0, 2)
        assert len(second.rejected) == len(first.rejected) == 5
        assert s.scalar(select(func.count()).select_from(CatalogEntry)) == 2
        assert second.departments_created == []


def test_r03_exact_duplicate_rows_are_reported_with_the_row_they_repeat(db, tmp_path):
    row = {"标题": "公交站点", "来源部门": "市交通运输局", "数据格式": "['xls']", "更新频率": "每月"}
    path = _write_json(tmp_path / "dup.json", [row, {**row, "标题": "公交线路"}, dict(row)])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="341500")
    assert report.created == 2 and report.duplicates == [{"row": 3, "duplicate_of": 1}]


def test_r04_portal_open_attributes_become_share_types_that_pass_the_rules(db, tmp_path):
    base = {"来源部门": "市数据资源局", "数据格式": "['xls', 'api']", "更新频率": "每 2 日", "重点领域": "交通运输"}
    rows = [{**base, "标题": "普遍开放数据", "开放类型": "普遍开放"},
            {**base, "标题": "依申请数据", "开放类型": "依申请开放"},
            {**base, "标题": "淮南写法", "开放类型": "有条件开发"},
            {**base, "标题": "无法识别", "开放类型": "看情况"}]
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, _write_json(tmp_path / "open.json", rows), region_code="341500")
        assert report.created == 3
        [problem] = report.rejected
        assert (problem["row"], problem["column"], problem["value"]) == (4, "开放类型", "看情况")
        assert problem["rule"].startswith("开放属性无法识别")
        entries = {e.name: e for e in s.scalars(select(CatalogEntry))}
        for entry in entries.values():
            snapshot = service.snapshot(entry)
            service.validate_entry(EntryIn.model_validate({**snapshot, "items": []}))
            assert entry.update_cycle == UpdateCycle.DAILY and entry.share_method == "api"
            assert entry.data_format == DataFormat.SPREADSHEET and entry.abstract.endswith("提供格式：xls、api")
            assert entry.classification_code == "205"
    assert (entries["普遍开放数据"].open_attribute, entries["普遍开放数据"].share_type) == ("open", "unconditional")
    conditional = entries["依申请数据"]
    assert (conditional.open_attribute, conditional.share_type) == ("conditional", "conditional")
    assert conditional.share_condition == "依申请开放数据：经提供单位审核同意后按申请用途共享"
    assert entries["淮南写法"].open_attribute == "conditional"
    notes = {n["note"] for n in report.defaults}
    assert any("每 2 日" in n and "每日" in n for n in notes)


@pytest.mark.parametrize(("raw", "cycle", "approximated"), [
    ("每年", UpdateCycle.YEARLY, False), ("每天", UpdateCycle.DAILY, False), ("不定期", UpdateCycle.IRREGULAR, False),
    ("自定义", UpdateCycle.IRREGULAR, False), ("每 2 日", UpdateCycle.DAILY, True),
    ("每 121 日", UpdateCycle.QUARTERLY, True), ("每 3 月", UpdateCycle.QUARTERLY, True),
    ("每 6 月", UpdateCycle.SEMIANNUAL, True), ("每 null null", UpdateCycle.IRREGULAR, True),
])
def test_r03_free_text_update_frequencies(raw, cycle, approximated):
    parsed, note = m.parse_update_cycle(raw)
    assert parsed == cycle and (note is not None) == approximated


@pytest.mark.parametrize(("raw", "primary", "tokens"), [
    ("['xls', 'api']", DataFormat.SPREADSHEET, ["xls", "api"]),
    ("[xml,xls,csv,json]", DataFormat.SELF_DESCRIBING, ["xml", "xls", "csv", "json"]),
    ("xlsx", DataFormat.SPREADSHEET, ["xlsx"]), ("file", DataFormat.DOCUMENT, ["file"]),
    ("table", DataFormat.DATABASE, ["table"]), ("[db]", DataFormat.DATABASE, ["db"]),
    ("['jpg']", DataFormat.IMAGE, ["jpg"]), ("服务接口", DataFormat.SERVICE, ["服务接口"]),
])
def test_r03_portal_format_strings(raw, primary, tokens):
    assert m.parse_data_formats(raw) == (primary, tokens)


@pytest.mark.parametrize(("raw", "expected"), [
    ("普遍开放", OpenAttribute.OPEN), ("无条件开发", OpenAttribute.OPEN), ("安全开放", OpenAttribute.CONDITIONAL),
    ("有条件开发", OpenAttribute.CONDITIONAL), ("依申请开放", OpenAttribute.CONDITIONAL),
    ("不予开放", OpenAttribute.CLOSED),
])
def test_r03_portal_open_attributes(raw, expected):
    assert m.parse_open_attribute(raw) == expected


# ---------------------------------------------------------------- round trips


def _catalog_state(session) -> list[dict]:
    entries = session.scalars(select(CatalogEntry).order_by(CatalogEntry.resource_code)).all()
    out = []
    for entry in entries:
        snap = service.snapshot(entry)
        snap.pop("provider_id")
        snap["provider"] = (entry.provider.name, entry.provider.region_code, entry.provider.level)
        snap["data_updated"] = entry.data_updated_at.date()
        out.append(snap)
    return out


def _seed_catalog(session, world) -> None:
    published_entry(session, world)
    service.create_entry(session, world.actors["civil_manager"], population_entry(
        name="低保对象名册", classification_code="201003", share_type="不予共享", share_condition="",
        legal_basis="《中华人民共和国统计法》第二十八条", related_codes=["101/000001"], open_attribute="有条件开放",
        open_condition="依申请开放", update_cycle="每季度"))
    service.create_entry(session, world.actors["city_civil_manager"], population_entry(
        name="社会组织名录", share_type="无条件共享", share_condition="", data_format="电子表格", items=[]))


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_r03_export_then_import_into_an_empty_database_reproduces_entries_and_items(db, world, tmp_path, suffix):
    with db.session() as s:
        _seed_catalog(s, world)
    with db.session() as s:
        before = _catalog_state(s)
        written = exporter.export_file(s, SYSTEM, tmp_path / f"catalog{suffix}")
    assert [p.name for p in written] == ([f"catalog{suffix}"] if suffix == ".xlsx"
                                         else ["catalog.csv", "catalog.items.csv"])
    _empty_tables(db)
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, written[0], region_code="340000")
        assert report.rejected == [] and report.created == 3
        assert report.ignored_columns == []
    with db.session() as s:
        after = _catalog_state(s)
    assert after == before
    assert len(before[0]["items"]) == 4
    with db.session() as s:  # the same file again: nothing new
        again = importer.import_file(s, SYSTEM, written[0], region_code="340000")
        assert (again.created, again.unchanged) == (0, 3)


def test_r03_export_status_filter_and_headers(db, world, tmp_path):
    with db.session() as s:
        _seed_catalog(s, world)
        exporter.export_file(s, SYSTEM, tmp_path / "published.csv", status="published")
    with (tmp_path / "published.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["资源代码", "分类代码", "目录名称", "提供部门"]
    assert [r[2] for r in rows[1:]] == ["人口基本信息"]
    with (tmp_path / "published.items.csv").open(encoding="utf-8-sig") as f:
        items = list(csv.reader(f))
    assert items[0][:4] == ["资源代码", "序号", "字段名", "信息项名称"] and len(items) == 5
    with db.session() as s, pytest.raises(ValidationFailed):
        exporter.export_file(s, SYSTEM, tmp_path / "x.csv", status="whatever")


def test_r03_items_sheet_errors_reject_the_entry_and_orphans_are_reported(db, world, tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "目录"
    sheet.append(["资源代码", "目录名称", "提供部门", "共享类型", "共享方式", "数据格式", "更新周期", "分类代码"])
    sheet.append(["A1", "人口信息", "省公安厅", "无条件共享", "接口", "数据库", "每日", "101"])
    sheet.append(["A2", "婚姻登记", "省民政厅", "无条件共享", "接口", "数据库", "每日", "101"])
    items = workbook.create_sheet("信息项")
    items.append(["资源代码", "字段名", "信息项名称", "数据类型", "长度"])
    items.append(["A1", "xm", "姓名", "字符型", 50])
    items.append(["A2", "djrq", "登记日期", "日期型", None])
    items.append(["A2", "bad", "错误项", "图片", None])
    items.append(["A9", "zz", "孤儿项", "字符型", None])
    path = tmp_path / "with_items.xlsx"
    workbook.save(path)
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="340000")
        assert report.created == 1
        by_row = {(p.get("sheet", ""), p["row"]): p for p in report.rejected}
        assert by_row[("", 3)]["column"] == "信息项" and by_row[("", 3)]["value"] == "图片"
        assert by_row[("", 3)]["rule"].startswith("信息项第4行“数据类型”取值无效，应为 字符型/整数型")
        assert by_row[("信息项", 5)]["rule"] == "信息项对应的目录不在目录表中"
        entry = s.scalars(select(CatalogEntry)).one()
        assert [(i.name, i.data_type, i.length) for i in entry.items] == [("xm", "string", 50)]
        assert entry.provider_id == world.ids["police"]  # existing department found by name and region


def test_r02_publish_loads_entries_as_published_with_history(db, tmp_path):
    rows = [{"标题": "气象站点", "提供单位": "市气象局", "数据格式": "api", "开放属性": "无条件开放"}]
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, _write_json(tmp_path / "p.json", rows), region_code="341700",
                                      publish=True)
        entry = s.get(CatalogEntry, report.entry_ids[0])
        assert (entry.status, entry.version) == ("published", 1)
        events = s.scalars(select(EntryEvent).where(EntryEvent.entry_id == entry.id).order_by(EntryEvent.id)).all()
        assert [(e.action, e.version) for e in events] == [("created", None), ("published", 1)]
        assert events[1].snapshot["name"] == "气象站点" and "p.json 第1行" in events[1].reason


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(settings, db, monkeypatch):
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_r01_cli_import_reports_rejected_rows_and_exits_non_zero(cli_env, db, tmp_path):
    from typer.testing import CliRunner

    from govshare.cli import app

    runner = CliRunner()
    path = _write_csv(tmp_path / "mixed.csv", BAD_FILE_HEADER, BAD_FILE_ROWS)
    preview = runner.invoke(app, ["catalog", "import", str(path), "--show-mapping"])
    assert preview.exit_code == 0 and "提供单位" in preview.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogEntry)) == 0
    missing_region = runner.invoke(app, ["catalog", "import", str(path)])  # every provider would be a new department
    assert missing_region.exit_code == 1 and "region_code" in missing_region.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogEntry)) == 0
    report_path = tmp_path / "report.json"
    result = runner.invoke(app, ["catalog", "import", str(path), "--region-code", "341500", "--report",
                                 str(report_path)])
    assert result.exit_code == 1, result.output
    assert "新建 2" in result.output and "涉密情况" in result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["created"] == 2 and {p["row"] for p in report["rejected"]} == {3, 4, 5, 6, 7}
    assert set(report) >= {"file", "total_rows", "created", "unchanged", "rejected", "duplicates", "mapping",
                           "ignored_columns", "defaults", "departments_created", "seconds"}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogEntry)) == 2
        assert s.scalars(select(Department).where(Department.name == "市统计局")).one().level == "municipal"
    out = tmp_path / "out.xlsx"
    exported = runner.invoke(app, ["catalog", "export", str(out)])
    assert exported.exit_code == 0 and out.exists()


# ---------------------------------------------------------------- API


def _upload(client, world, who: str, rows: list[dict], **form):
    body = json.dumps(rows, ensure_ascii=False).encode("utf-8")
    return client.post("/api/v1/catalog/import", files={"file": ("cat.json", body, "application/json")},
                       data=form, headers=world.headers(who))


def test_api_catalog_manager_imports_only_its_own_department(client, db, world):
    rows = [{"目录名称": "机动车登记", "提供部门": "省公安厅", "数据格式": "数据库", "开放属性": "不予开放",
             "共享类型": "有条件共享", "共享条件": "仅限交通执法使用", "共享方式": "接口", "更新周期": "每日"},
            {"目录名称": "婚姻登记", "提供部门": "省民政厅", "数据格式": "数据库", "共享类型": "无条件共享",
             "共享方式": "接口", "更新周期": "每日"}]
    response = _upload(client, world, "police_manager", rows)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 1
    assert report["rejected"] == [{"row": 2, "column": "提供部门", "rule": "只能导入本部门目录", "value": "省民政厅"}]
    with db.session() as s:
        entry = s.scalars(select(CatalogEntry)).one()
        assert (entry.provider_id, entry.status) == (world.ids["police"], "draft")
    refused = _upload(client, world, "civil_requester", rows)
    assert refused.status_code == 403


def test_api_admin_imports_any_department_but_cannot_publish_directly(client, db, world):
    rows = [{"标题": "企业名录", "提供单位": "省市场监管局", "数据格式": "xls", "开放属性": "无条件开放"},
            {"标题": "社会组织", "提供单位": "省民政厅", "数据格式": "xls", "开放属性": "无条件开放"}]
    refused = _upload(client, world, "admin", rows, publish="true")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "publish"
    response = _upload(client, world, "admin", rows, mapping=json.dumps({"name": "标题"}))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2 and report["departments_created"] == ["省市场监管局"]
    with db.session() as s:
        created = s.scalars(select(Department).where(Department.name == "省市场监管局")).one()
        assert (created.region_code, created.level) == ("340000", "provincial")
        civil = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "社会组织")).one()
        assert civil.provider_id == world.ids["civil"]
        assert civil.created_by_id == world.ids["user:admin"]


def test_api_export_gives_the_callers_readable_catalog(client, db, world):
    from openpyxl import load_workbook

    with db.session() as s:
        _seed_catalog(s, world)
    response = client.get("/api/v1/catalog/export?format=xlsx", headers=world.headers("civil_requester"))
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    names = [row[2] for row in workbook["目录"].iter_rows(min_row=2, values_only=True)]
    assert names == ["人口基本信息", "低保对象名册"]  # published + own department's draft
    items = client.get("/api/v1/catalog/export?format=csv&part=items&status=published",
                       headers=world.headers("civil_requester"))
    assert items.status_code == 200 and items.text.lstrip("\ufeff").startswith("资源代码,序号")
    assert len(items.text.strip().splitlines()) == 5
    assert client.get("/api/v1/catalog/export").status_code == 401


def test_r03_a_row_failing_in_the_database_is_reported_and_the_rest_of_its_batch_kept(db, tmp_path, monkeypatch):
    row = {"标题": "公交站点", "来源部门": "市交通运输局", "数据格式": "xls", "更新频率": "每月"}
    first = _write_json(tmp_path / "first.json", [row])
    with db.session() as s:
        assert importer.import_file(s, SYSTEM, first, region_code="341500").created == 1
    # Pretend the first row was not imported yet: its external key now collides in the database.
    monkeypatch.setattr(importer, "_existing_keys", lambda *_args, **_kwargs: set())
    calls = []
    create_entries = service.create_entries
    monkeypatch.setattr(service, "create_entries", lambda *a, **k: calls.append(len(a[2])) or create_entries(*a, **k))
    both = _write_json(tmp_path / "both.json", [{**row, "标题": "公交线路"}, row, {**row, "标题": "出租车"}])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, both, region_code="341500")
        assert report.created == 2
        assert [(p["row"], p["rule"]) for p in report.rejected] == [(2, "写入数据库失败：IntegrityError")]
    # the batch, then each row once: the failing row is reported with the error already caught, not run again
    assert calls == [3, 1, 1, 1]
    with db.session() as s:
        assert sorted(s.scalars(select(CatalogEntry.name))) == ["公交站点", "公交线路", "出租车"]


def test_api_csv_pair_export_imports_back_with_its_items(client, db, world):
    with db.session() as s:
        published_entry(s, world)
    entries = client.get("/api/v1/catalog/export?format=csv", headers=world.headers("police_manager"))
    items = client.get("/api/v1/catalog/export?format=csv&part=items", headers=world.headers("police_manager"))
    assert entries.status_code == items.status_code == 200
    with db.session() as s:
        s.query(CatalogEntry).delete()
    response = client.post("/api/v1/catalog/import", headers=world.headers("police_manager"),
                           files={"file": ("catalog.csv", entries.content, "text/csv"),
                                  "items": ("catalog.items.csv", items.content, "text/csv")})
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1 and response.json()["rejected"] == []
    with db.session() as s:
        entry = s.scalars(select(CatalogEntry)).one()
        assert [i.chinese_name for i in entry.items] == ["公民身份号码", "姓名", "出生日期", "户籍地址"]
        assert (entry.status, entry.provider_id) == ("draft", world.ids["police"])


def test_r03_unknown_vocabulary_values_are_rejected_with_the_allowed_labels(db, tmp_path):
    header = ["目录名称", "提供部门", "共享类型", "共享方式", "数据格式", "更新周期", "分级"]
    path = _write_csv(tmp_path / "grades.csv", header, [
        ["企业信用信息", "市发展改革委", "无条件共享", "接口", "数据库", "每日", "一般2"],
        ["企业信用评价", "市发展改革委", "无条件共享", "接口", "数据库", "每日", "机密"],
        ["企业信用修复", "市发展改革委", "随便共享", "接口", "数据库", "每日", "一般2"],
    ])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="341500")
    assert report.created == 1
    assert report.rejected == [
        {"row": 3, "column": "分级", "rule": "取值无效，应为 核心/重要/一般4/一般3/一般2/一般1", "value": "机密"},
        {"row": 4, "column": "共享类型", "rule": "共享类型应为 无条件共享/有条件共享/不予共享", "value": "随便共享"},
    ]


# ---------------------------------------------------------------- review findings


def test_r03_a_catalog_managers_import_does_not_reveal_another_departments_drafts(db, world, tmp_path):
    rows = [{"目录名称": "机动车登记", "提供部门": "省公安厅", "数据格式": "数据库", "共享类型": "无条件共享",
             "共享方式": "接口", "更新周期": "每日"}]
    path = _write_json(tmp_path / "police.json", rows)
    foreign = [{"row": 1, "column": "提供部门", "rule": "只能导入本部门目录", "value": "省公安厅"}]
    with db.session() as s:
        before = importer.import_file(s, world.actors["civil_manager"], path)
    with db.session() as s:
        assert importer.import_file(s, world.actors["police_manager"], path).created == 1
    with db.session() as s:
        after = importer.import_file(s, world.actors["civil_manager"], path)
        again = importer.import_file(s, world.actors["police_manager"], path)
    for report in (before, after):  # the same answer whether or not the police draft exists
        assert (report.created, report.unchanged, report.rejected) == (0, 0, foreign)
    assert (again.created, again.unchanged, again.rejected) == (0, 1, [])


@pytest.mark.parametrize("publish", [False, True])
def test_r03_export_then_import_keeps_free_resource_codes_and_related_codes_resolve(db, world, tmp_path, publish):
    from tests.factories import build_world

    police = world.actors["police_manager"]
    with db.session() as s:
        for n in range(3):  # drafts 101/000001-3, not exported
            service.create_entry(s, police, population_entry(name=f"草稿{n}"))
        published_entry(s, world)  # 101/000004
        service.create_entry(s, police, population_entry(name="草稿5"))  # 101/000005, not exported
        published_entry(s, world, name="户籍迁移登记", related_codes=["101/000004"])  # 101/000006
        published_entry(s, world, "civil_manager", name="低保对象名册", classification_code="201003",
                        related_codes=["101/000004", "101/000006"])  # 201003/000001
        written = exporter.export_file(s, SYSTEM, tmp_path / "published.xlsx", status="published")
    _empty_tables(db)
    with db.session() as s:  # another node: its own 101 and 201003 entries hold 101/000001 and 201003/000001
        other = build_world(s)
        police, civil = other.actors["police_manager"], other.actors["civil_manager"]
        service.create_entry(s, police, population_entry(name="既有目录"))
        service.create_entry(s, civil, population_entry(name="既有民政目录", classification_code="201003"))
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, written[0], publish=publish)
        assert report.rejected == [] and report.created == 3
        codes = {e.name: e.resource_code for e in s.scalars(select(CatalogEntry))}
        assert codes == {"既有目录": "101/000001", "既有民政目录": "201003/000001", "人口基本信息": "101/000004",
                         "户籍迁移登记": "101/000006", "低保对象名册": "201003/000002"}
        snapshots = s.scalars(select(EntryEvent.snapshot).where(EntryEvent.action == "published")).all()
        assert sorted(snap["resource_code"] for snap in snapshots) == (
            ["101/000004", "101/000006", "201003/000002"] if publish else [])
        [note] = [n for n in report.defaults if n["column"] == "资源代码"]
        assert (note["note"], note["rows"], note["first_rows"]) == ("资源代码已被占用，已重新编码", 1, [4])
        by_code = {e.resource_code: e for e in s.scalars(select(CatalogEntry))}
        related = {e.name: [by_code[c].name for c in e.related_codes] for e in by_code.values() if e.related_codes}
        assert related == {"户籍迁移登记": ["人口基本信息"], "低保对象名册": ["人口基本信息", "户籍迁移登记"]}
        # the sequence moved past the kept codes: the next 101 entry does not collide
        assert service.create_entry(s, police, population_entry(name="新目录")).resource_code == "101/000007"


def test_r03_region_code_is_needed_only_for_rows_that_create_a_department(cli_env, db, world, tmp_path):
    from typer.testing import CliRunner

    from govshare.cli import app

    base = {"数据格式": "数据库", "共享类型": "无条件共享", "共享方式": "接口", "更新周期": "每日"}
    path = _write_json(tmp_path / "two.json", [{**base, "目录名称": "机动车登记", "提供部门": "省公安厅"},
                                               {**base, "目录名称": "气象站点", "提供部门": "省气象局"}])
    result = CliRunner().invoke(app, ["catalog", "import", str(path), "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["created"] == 1
    [problem] = report["rejected"]
    assert problem["row"] == 2 and "region_code" in problem["rule"] and "省气象局" in problem["rule"]
    with db.session() as s:
        assert s.scalars(select(CatalogEntry.name)).all() == ["机动车登记"]
        assert s.scalars(select(Department).where(Department.name == "省气象局")).first() is None


def test_r03_each_new_provider_department_is_looked_up_once(db, tmp_path):
    from sqlalchemy import event

    rows = [{"标题": f"目录{n}", "来源部门": f"市部门{n}", "数据格式": "xls"} for n in range(5)]
    path = _write_json(tmp_path / "five.json", rows)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as s:
            report = importer.import_file(s, SYSTEM, path, region_code="341500")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert report.created == 5 and len(report.departments_created) == 5
    by_name = [st for st in statements if "FROM departments" in st and "departments.name =" in st]
    assert len(by_name) == 5


def test_r03_same_portal_url_in_two_departments_reveals_nothing(db, world, tmp_path):
    """The idempotency key is unique per provider: a manager's row with the URL of another department's
    entry is simply created (before, a database error hinted that the other entry existed)."""
    def catalog_file(provider: str) -> Path:
        path = tmp_path / f"{provider}.json"
        path.write_text(json.dumps([{"标题": f"{provider}数据", "提供单位": provider, "开放属性": "无条件开放",
                                      "url": "http://portal.example/detail?id=1"}], ensure_ascii=False),
                        encoding="utf-8")
        return path

    with db.session() as s:
        first = importer.import_file(s, world.actors["police_manager"], catalog_file("省公安厅"), region_code="340000")
    with db.session() as s:
        second = importer.import_file(s, world.actors["civil_manager"], catalog_file("省民政厅"), region_code="340000")
    assert (first.created, second.created, second.rejected) == (1, 1, [])


# ---------------------------------------------------------------- the catalog round-trips (issue 13)


def _every_state(session) -> list[tuple]:
    """Each entry's content, status, version and events, and the open revisions: what a round-trip must keep."""
    from govshare.catalog.models import EntryRevision

    entries = [(e["resource_code"], e, status, version) for e, status, version in (
        (service.snapshot(entry), entry.status, entry.version)
        for entry in session.scalars(select(CatalogEntry).order_by(CatalogEntry.resource_code)))]
    events = session.scalar(select(func.count()).select_from(EntryEvent))
    revisions = session.scalar(select(func.count()).select_from(EntryRevision))
    return [*entries, ("events", events), ("revisions", revisions)]


def _seed_every_status(session, world) -> None:
    """A published entry with items, a draft, a submitted and a returned one."""
    _seed_catalog(session, world)  # one published (人口基本信息), two drafts
    manager, reviewer = world.actors["police_manager"], world.actors["reviewer"]
    submitted = service.create_entry(session, manager, population_entry(name="户籍迁移登记", tags="户籍，迁移",
                                                                        source_url="https://data.example.gov.cn/1"))
    service.submit_entry(session, manager, submitted.id)
    returned = service.create_entry(session, manager, population_entry(name="暂住人口登记"))
    service.submit_entry(session, manager, returned.id)
    service.return_entry(session, reviewer, returned.id, "请补充更新周期说明")


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_r03_an_export_imported_into_the_same_node_changes_nothing(db, world, tmp_path, suffix):
    """Export then import --publish: 0 created, 0 changed, every status, version, item and event as it was; a
    draft, submitted or returned entry is never published by it."""
    with db.session() as s:
        _seed_every_status(s, world)
    with db.session() as s:
        before = _every_state(s)
        [path, *_] = exporter.export_file(s, SYSTEM, tmp_path / f"catalog{suffix}")
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, publish=True)
    assert (report.created, report.updated, report.revisions, report.rejected) == (0, 0, 0, [])
    assert report.unchanged == 5 and report.duplicates == []
    with db.session() as s:
        assert _every_state(s) == before


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_r05_one_edited_abstract_proposes_one_revision_awaiting_review(db, world, tmp_path, suffix):
    """The exported file with one abstract edited: the published entry gets one revision awaiting the
    authority's review and stays as it was meanwhile; nothing else changes. Editing a draft's row edits the
    draft (it stays a draft)."""
    from govshare.catalog.models import EntryRevision
    from govshare.catalog.vocab import EntryStatus

    with db.session() as s:
        _seed_every_status(s, world)
    with db.session() as s:
        [path, *_] = exporter.export_file(s, SYSTEM, tmp_path / f"catalog{suffix}")
        published = s.scalars(select(CatalogEntry).where(CatalogEntry.status == "published")).one()
        old_abstract, code = published.abstract, published.resource_code
    table = importer.read_source(path).entries
    rows = [dict(raw) for _number, raw in table.rows]
    header = m.standard_headers("entry")
    for row in rows:
        if row[header["resource_code"]] == code:
            row[header["abstract"]] = "全省户籍人口的基本信息（导入时修改）"
        if row[header["name"]] == "社会组织名录":
            row[header["abstract"]] = "草稿的摘要（导入时修改）"
    edited = tmp_path / f"edited{suffix}"
    _write_table(edited, table.headers, rows, path, suffix)
    with db.session() as s:
        report = importer.import_file(s, world.actors["police_manager"], edited)
    assert (report.created, report.revisions, report.updated) == (0, 1, 0)
    assert [r["rule"] for r in report.rejected] == ["只能导入本部门目录"] * 2  # the civil rows: not the police's
    with db.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == code)).one()
        assert (entry.abstract, entry.status) == (old_abstract, EntryStatus.PUBLISHED)
        [revision] = s.scalars(select(EntryRevision)).all()
        assert (revision.entry_id, revision.status, revision.payload["abstract"]) == (
            entry.id, "submitted", "全省户籍人口的基本信息（导入时修改）")
    with db.session() as s:  # the civil manager's own rows: the draft is edited and stays a draft
        report = importer.import_file(s, world.actors["city_civil_manager"], edited)
        draft = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "社会组织名录")).one()
        assert (draft.abstract, draft.status) == ("草稿的摘要（导入时修改）", EntryStatus.DRAFT)
    assert report.updated == 1 and report.created == 0


def _write_table(path: Path, headers: list[str], rows: list[dict], exported: Path, suffix: str) -> None:
    """The rows written back as the export wrote them: XLSX with its items sheet, or CSV with NAME.items.csv."""
    import shutil

    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=headers)
            writer.writeheader()
            writer.writerows(rows)
        shutil.copy(exporter.items_csv_path(exported), exporter.items_csv_path(path))
        return
    from openpyxl import load_workbook

    workbook = load_workbook(exported)
    sheet = workbook[exporter.ENTRY_SHEET]
    sheet.delete_rows(2, sheet.max_row)
    for row in rows:
        sheet.append([row.get(h) for h in headers])
    workbook.save(path)


def test_r03_a_row_that_says_it_is_a_draft_is_never_published_by_an_import(db, world, tmp_path):
    """Into another node, --publish creates published entries only from rows the file says are published."""
    with db.session() as s:
        _seed_every_status(s, world)
        [path] = exporter.export_file(s, SYSTEM, tmp_path / "catalog.xlsx")
    _empty_tables(db)
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, publish=True, region_code="340000")
        assert report.created == 5 and report.rejected == []
        statuses = {e.name: e.status for e in s.scalars(select(CatalogEntry))}
    assert statuses == {"人口基本信息": "published", "低保对象名册": "draft", "社会组织名录": "draft",
                        "户籍迁移登记": "draft", "暂住人口登记": "draft"}


def test_r17_an_item_named_like_personal_information_but_declared_otherwise_is_reported(db, tmp_path):
    """法人代表 declared 非个人信息: the row is imported (the provider decides) and the report says it."""
    row = {"目录名称": "企业登记信息", "提供部门": "省市场监管局", "共享类型": "有条件共享",
           "共享条件": "仅限市场监管执法使用",
           "信息项": [{"name": "fddbr", "chinese_name": "法人代表", "personal_info": "非个人信息"},
                   {"name": "qymc", "chinese_name": "企业名称"}]}
    path = _write_json(tmp_path / "c.json", [row])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="340000")
    assert report.created == 1 and report.rejected == []
    assert [n["note"] for n in report.defaults if n["column"] == "信息项"] == [
        "信息项“法人代表”名称像个人信息，但申报为非个人信息"]


def test_r03_a_rule_a_library_states_reaches_the_report_in_chinese(db, tmp_path):
    path = _write_json(tmp_path / "c.json", [{"目录名称": "x" * 301, "提供部门": "省市场监管局"},
                                             {"目录名称": "企业", "提供部门": "省市场监管局",
                                              "发布日期": "2025-13-45"}])
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, path, region_code="340000")
    rules = [problem["rule"] for problem in report.rejected]
    assert len(rules) == 2 and not any("Input should" in rule or "Value error" in rule for rule in rules), rules
