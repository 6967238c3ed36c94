"""The API contract of the catalog side (orgs, catalog, one-source, search, demands, workdays): the API says what
it does and does what it says (R18: a client can rely on the contract).

- Every integer parameter of these routes has a range, and a value outside it (also one beyond 64 bits, which
  the SQLite driver cannot bind) answers 422 naming the parameter, never a 500. The cases are built from the
  app's OpenAPI document, so a new route of these domains is covered without a line here.
- Enumerations the server enforces are listed in the schema; the filters that take a code or a Chinese label
  still take both.
- Timestamps in responses are ISO 8601 with their offset, the stored UTC instant.
- A catalog file upload that cannot be read (R03 import) is a 4xx naming the field with a Chinese rule, through
  the API, the UI page and the CLI alike, and nothing stored changes.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from govshare.catalog import importer, onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry
from govshare.demands import service as demands
from govshare.errors import ValidationFailed
from govshare.orgs.models import Department
from govshare.workdays import service as workdays
from tests.factories import population_entry, published_entry
from tests.openapi_document import openapi_document as openapi
from tests.openapi_document import resolve
from tests.web_helpers import token

CATALOG_SIDE_TAGS = {"orgs", "catalog", "one-source", "search", "demands", "workdays"}
CHINESE = re.compile(r"[\u4e00-\u9fff]")
BEYOND_64_BITS = 2**64


# ---------------------------------------------------------------- the OpenAPI document


def without_null(schema: dict) -> dict:
    """`X | None` is anyOf [X, null] in the schema: X."""
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    return resolve(options[0]) if len(options) == 1 else resolve(schema)


def catalog_side_operations():
    for path, methods in openapi()["paths"].items():
        for method, operation in methods.items():
            if CATALOG_SIDE_TAGS & set(operation.get("tags", [])):
                yield method, path, operation


def integer_parameters() -> list:
    return [
        pytest.param(method, path, parameter, id=f"{method.upper()} {path} {parameter['name']}")
        for method, path, operation in catalog_side_operations()
        for parameter in operation.get("parameters", [])
        if without_null(parameter["schema"]).get("type") == "integer"
    ]


def sample(parameter: dict) -> str:
    """A value the parameter accepts."""
    schema = without_null(parameter["schema"])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    if schema.get("format") == "date":
        return "2026-06-01"
    if "enum" in schema:
        return str(schema["enum"][0])
    return "true" if schema.get("type") == "boolean" else "x"


def request_with(method: str, path: str, operation: dict, name: str, value: int) -> tuple[str, str, dict]:
    """(method, url, query) with `name` set to `value` and every other required parameter valid."""
    query = {}
    for parameter in operation.get("parameters", []):
        given = str(value) if parameter["name"] == name else sample(parameter)
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", given)
        elif parameter["name"] == name or parameter.get("required"):
            query[parameter["name"]] = given
    return method.upper(), path, query


def out_of_range(schema: dict) -> list[int]:
    assert "minimum" in schema and "maximum" in schema, f"an integer parameter without a declared range: {schema}"
    return sorted({schema["minimum"] - 1, schema["maximum"] + 1, BEYOND_64_BITS})


# ---------------------------------------------------------------- integer ranges (422 naming the field)


def test_r18_the_cases_cover_ids_offsets_and_other_integers():
    """The case list is built from the OpenAPI document: it holds every kind of integer parameter."""
    names = {(case.values[1], case.values[2]["name"]) for case in integer_parameters()}
    assert {("/api/v1/catalog/entries/{entry_id}", "entry_id"), ("/api/v1/catalog/entries", "offset"),
            ("/api/v1/catalog/entries", "limit"), ("/api/v1/demands", "offset"), ("/api/v1/auth/tokens", "user_id"),
            ("/api/v1/catalog/one-source/clusters", "department_id"), ("/api/v1/calendar/deadline", "days"),
            ("/api/v1/calendar/years/{year}", "year"),
            ("/api/v1/catalog/entries/{entry_id}/versions/{version}", "version")} <= names


@pytest.mark.parametrize(("method", "path", "parameter"), integer_parameters())
def test_r18_integer_parameter_out_of_range_is_422_naming_it(client, world, method, path, parameter):
    """Below the minimum, above the maximum and beyond 64 bits: 422 naming the parameter (it was a 500 when
    an id or offset did not fit SQLite's INTEGER)."""
    schema = without_null(parameter["schema"])
    operation = openapi()["paths"][path][method]
    for value in out_of_range(schema):
        verb, url, query = request_with(method, path, operation, parameter["name"], value)
        response = client.request(verb, url, params=query, headers=world.headers("admin"))
        assert response.status_code == 422, (value, response.text)
        error = response.json()["error"]
        assert error["field"] == parameter["name"] and error["code"] == "validation_failed", (value, error)


def test_r18_integer_fields_of_request_bodies_have_ranges_too(client, world):
    """An id in a body beyond 64 bits is a 422 naming the field, not a driver's OverflowError."""
    huge = BEYOND_64_BITS
    cases = [
        ("POST", "/api/v1/demands", "civil_requester", {"title": "需要核验户籍", "provider_id": huge}, "provider_id"),
        ("POST", "/api/v1/users", "admin", {"username": "someone", "password": "long-enough-1", "role": "requester",
                                            "department_id": huge}, "department_id"),
        ("POST", "/api/v1/departments", "admin", {"name": "省教育厅", "level": "provincial", "region_code": "340000",
                                                  "parent_id": huge}, "parent_id"),
        ("POST", "/api/v1/auth/tokens", "admin", {"name": "程序", "hours": huge}, "hours"),
        ("POST", "/api/v1/calendar/import", "admin", {"text": "2027-01-01,放假,元旦", "format": "csv", "year": huge},
         "year"),
    ]
    for method, url, who, body, field in cases:
        response = client.request(method, url, json=body, headers=world.headers(who))
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["field"] == field


def test_r18_search_department_filter_beyond_64_bits_is_422(client, world):
    """The department filter is text (several ids, comma-separated), checked by the search service."""
    for value in (str(BEYOND_64_BITS), "0", "²"):
        response = client.get("/api/v1/catalog/search", params={"department": value},
                              headers=world.headers("civil_requester"))
        assert response.status_code == 422, (value, response.text)
        assert response.json()["error"]["field"] == "department"


# ---------------------------------------------------------------- enumerations


def parameter_schema(path: str, method: str, name: str) -> dict:
    operation = openapi()["paths"][path][method]
    return without_null(next(p for p in operation["parameters"] if p["name"] == name)["schema"])


def body_property(path: str, method: str, name: str) -> dict:
    body = openapi()["paths"][path][method]["requestBody"]["content"]
    schema = resolve(next(iter(body.values()))["schema"])
    return without_null(schema["properties"][name])


def test_r02_enumerations_the_server_enforces_are_listed_in_the_schema():
    assert set(parameter_schema("/api/v1/catalog/entries", "get", "status")["enum"]) == {
        "draft", "submitted", "published", "returned"}
    assert parameter_schema("/api/v1/catalog/export", "get", "format")["enum"] == ["xlsx", "csv"]
    assert parameter_schema("/api/v1/catalog/export", "get", "part")["enum"] == ["entries", "items"]
    assert {"published", "已发布"} <= set(parameter_schema("/api/v1/catalog/export", "get", "status")["enum"])
    assert parameter_schema("/api/v1/demands", "get", "box")["enum"] == ["mine", "incoming"]
    assert {"routed", "已转提供部门"} <= set(parameter_schema("/api/v1/demands", "get", "status")["enum"])
    assert "provincial" in body_property("/api/v1/departments", "post", "level")["enum"]
    assert "catalog_manager" in body_property("/api/v1/users", "post", "role")["enum"]
    assert "county" in body_property("/api/v1/catalog/import", "post", "level")["enum"]
    search = openapi()["paths"]["/api/v1/catalog/search"]["get"]["parameters"]
    described = {p["name"]: p["description"] for p in search}
    assert "conditional（有条件共享）" in described["share_type"] and "中文" in described["share_type"]
    assert "provincial（省级）" in described["level"]


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/catalog/entries?status=whatever", "status"),
    ("/api/v1/catalog/export?format=pdf", "format"),
    ("/api/v1/catalog/export?status=whatever", "status"),
    ("/api/v1/demands?box=theirs", "box"),
    ("/api/v1/demands?status=whatever", "status"),
    ("/api/v1/catalog/search?share_type=whatever", "share_type"),
])
def test_r02_a_value_outside_an_enumeration_is_422_naming_it(client, world, url, field):
    response = client.get(url, headers=world.headers("civil_requester"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field and CHINESE.search(response.json()["error"]["message"])


def test_r20_demand_and_export_status_filters_take_the_code_or_the_chinese_label(client, db, world):
    with db.session() as s:
        published_entry(s, world)
        demands.post_demand(s, world.actors["civil_requester"], "需要核验出生医学证明", provider_id=world.ids["police"])
    headers = world.headers("civil_requester")
    by_code = client.get("/api/v1/demands", params={"status": "routed"}, headers=headers).json()
    by_label = client.get("/api/v1/demands", params={"status": "已转提供部门"}, headers=headers).json()
    assert len(by_code) == 1 and by_label == by_code
    assert client.get("/api/v1/demands", params={"status": "已撤回"}, headers=headers).json() == []
    export = client.get("/api/v1/catalog/export", params={"format": "csv", "status": "已发布"}, headers=headers)
    assert export.status_code == 200 and "人口基本信息" in export.content.decode("utf-8-sig")


# ---------------------------------------------------------------- timestamps carry their offset


def timestamps(schema: dict, data, owner: str = ""):
    """(model, value) of every date-time the response schema declares, as found in `data`."""
    if data is None:
        return
    if "$ref" in schema:
        owner = schema["$ref"].rsplit("/", 1)[-1]
    schema = without_null(schema)
    if schema.get("format") == "date-time":
        yield owner, data
    elif schema.get("type") == "array":
        for item in data:
            yield from timestamps(schema.get("items", {}), item, owner)
    else:
        for name, prop in schema.get("properties", {}).items():
            if isinstance(data, dict) and name in data:
                yield from timestamps(prop, data[name], owner)


def models_with_timestamps() -> set[str]:
    """Response models of the catalog side with a date-time field of their own."""
    found, todo, seen = set(), [], set()
    for _method, _path, operation in catalog_side_operations():
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                todo.extend(c["schema"] for c in response.get("content", {}).values() if "schema" in c)
    while todo:
        schema = todo.pop()
        ref = schema.get("$ref")
        if ref in seen:
            continue
        if ref:
            seen.add(ref)
        resolved = resolve(schema)
        for prop in resolved.get("properties", {}).values():
            if without_null(prop).get("format") == "date-time" and ref:
                found.add(ref.rsplit("/", 1)[-1])
            todo.append(prop)
        todo.extend([*resolved.get("anyOf", []), *([resolved["items"]] if "items" in resolved else [])])
    return found


@pytest.fixture
def catalog_side_state(db, world):
    """Something behind every timestamp: a published entry with a revision, a one-source lead, a routed
    demand, a holiday, and a deactivated user whose tokens were revoked."""
    with db.session() as s:
        entry = published_entry(s, world, "police_manager")
        published_entry(s, world, "civil_manager")  # the same items in another department: a one-source cluster
        onesource.detect_clusters(s, world.actors["reviewer"])
        cluster = onesource.list_clusters(s, world.actors["reviewer"])[0]
        onesource.name_lead_source(s, world.actors["reviewer"], cluster.id, world.ids["police"], "户籍登记机关")
        catalog.propose_revision(s, world.actors["police_manager"], entry.id, population_entry(abstract="新摘要"),
                                 "依新规修订")
        demands.post_demand(s, world.actors["civil_requester"], "需要核验人口信息", provider_id=world.ids["police"])
        workdays.set_day(s, world.actors["admin"], date(2027, 1, 4), False, "补假")
        stored = entry.data_updated_at
    return {"entry_id": entry.id, "data_updated_at": stored}


def test_r18_every_timestamp_of_a_response_carries_its_offset(client, world, catalog_side_state):
    entry_id = catalog_side_state["entry_id"]
    deactivated = world.ids["user:city_civil_manager"]
    assert client.post(f"/api/v1/users/{deactivated}/deactivate", headers=world.headers("admin")).status_code == 200
    reads = [
        ("/api/v1/auth/tokens", "/api/v1/auth/tokens", "admin", {}),
        ("/api/v1/auth/tokens", "/api/v1/auth/tokens", "admin", {"user_id": deactivated}),
        ("/api/v1/users", "/api/v1/users", "admin", {}),
        ("/api/v1/catalog/entries", "/api/v1/catalog/entries", "police_manager", {}),
        ("/api/v1/catalog/entries/{entry_id}/history", f"/api/v1/catalog/entries/{entry_id}/history", "police_manager",
         {}),
        ("/api/v1/catalog/entries/{entry_id}/revisions", f"/api/v1/catalog/entries/{entry_id}/revisions",
         "police_manager", {}),
        ("/api/v1/catalog/one-source/clusters", "/api/v1/catalog/one-source/clusters", "reviewer", {}),
        ("/api/v1/demands", "/api/v1/demands", "civil_requester", {}),
        ("/api/v1/calendar/days", "/api/v1/calendar/days", "admin", {}),
        ("/api/v1/admin/events", "/api/v1/admin/events", "auditor", {}),  # the deactivation above is one
    ]
    checked: dict[str, int] = {}
    for template, url, who, params in reads:
        response = client.get(url, params=params, headers=world.headers(who))
        assert response.status_code == 200, (url, response.text)
        schema = openapi()["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        for model, value in timestamps(schema, response.json()):
            assert datetime.fromisoformat(value).utcoffset() == timedelta(0), (url, model, value)
            checked[model] = checked.get(model, 0) + 1
    assert set(checked) >= models_with_timestamps(), "a response model with timestamps went unchecked"


def test_r05_the_offset_states_the_stored_utc_instant(client, world, catalog_side_state):
    """data_updated_at (staleness, R05) is the stored naive UTC value, stated as UTC, not shifted."""
    entry = client.get(f"/api/v1/catalog/entries/{catalog_side_state['entry_id']}",
                       headers=world.headers("police_manager")).json()
    assert datetime.fromisoformat(entry["data_updated_at"]) == catalog_side_state["data_updated_at"].replace(
        tzinfo=UTC)


# ---------------------------------------------------------------- hostile catalog uploads


def xlsx_without_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return buffer.getvalue()


def xlsx_with_columns(count: int) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "目录"
    workbook.active.append(["目录名称", *(f"列{i}" for i in range(count))])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


GOOD_CSV = "目录名称,共享类型,共享方式,数据格式,更新周期\n出生医学证明信息,无条件共享,接口,数据库,每日\n".encode()
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
HOSTILE_FILES = {
    # name: (file name, content, field, words of the rule)
    "dot": (".", GOOD_CSV, "file", "文件名无效"),
    "dot-dot": ("..", GOOD_CSV, "file", "文件名无效"),
    "slash": ("/", GOOD_CSV, "file", "文件名无效"),
    "name of 300 characters": ("目" * 296 + ".csv", GOOD_CSV, "file", "文件名过长"),
    "100,000 nested brackets": ("deep.json", DEEP_JSON, "file", "嵌套过深"),
    "nested just below the parser's limit": ("deep.json", b'[{"a": ' + b"[" * 990 + b"]" * 990 + b"}]", "file",
                                             "嵌套过深"),
    "integer of 5,000 digits": ("big.json", b'[{"name": ' + b"1" * 5000 + b"}]", "file", "数字位数过多"),
    "empty file": ("catalog.csv", b"", "file", "文件为空"),
    "binary junk as .xlsx": ("catalog.xlsx", b"\x00\x01junk" * 100, "file", "无法读取 Excel 文件"),
    "zip that is no workbook": ("catalog.xlsx", xlsx_without_workbook(), "file", "无法读取 Excel 文件"),
    "header of 200,000 columns": ("wide.csv", ",".join(f"列{i}" for i in range(200_000)).encode() + b"\n", "file",
                                  "列数过多"),
    "sheet header of 2,000 columns": ("wide.xlsx", xlsx_with_columns(2000), "file", "列数过多"),
    "cell longer than the CSV limit": ("long.csv", "目录名称\n".encode() + b"x" * 200_000 + b"\n", "file",
                                       "单元格过长"),
    "text file": ("catalog.txt", GOOD_CSV, "file", "不支持的文件类型"),
}


def stored_counts(db) -> tuple[int, int]:
    with db.session(read_only=True) as s:
        return (s.scalar(select(func.count()).select_from(CatalogEntry)),
                s.scalar(select(func.count()).select_from(Department)))


def upload(client, world, name: str, content: bytes, **data):
    return client.post("/api/v1/catalog/import", files={"file": (name, content, "application/octet-stream")},
                       data=data, headers=world.headers("police_manager"))


@pytest.mark.parametrize("case", list(HOSTILE_FILES), ids=list(HOSTILE_FILES))
def test_r03_a_file_the_import_cannot_read_is_422_and_stores_nothing(client, db, world, case):
    name, content, field, rule = HOSTILE_FILES[case]
    before = stored_counts(db)
    response = upload(client, world, name, content)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and rule in error["message"] and CHINESE.search(error["message"])
    assert stored_counts(db) == before


def test_r03_the_same_content_under_a_proper_name_is_imported(client, db, world):
    """The control of the cases above: the file is refused for its name, not its content."""
    response = upload(client, world, "dir/出生医学证明.csv", GOOD_CSV)
    assert response.status_code == 200, response.text
    assert response.json()["file"] == "出生医学证明.csv" and response.json()["created"] == 1


def test_r03_a_mapping_nested_100000_deep_is_422_naming_the_mapping(client, db, world):
    before = stored_counts(db)
    response = upload(client, world, "catalog.csv", GOOD_CSV, mapping="[" * 100_000)
    assert response.status_code == 422 and response.json()["error"]["field"] == "mapping"
    assert stored_counts(db) == before


def test_r03_an_upload_over_the_size_limit_is_413(client, db, world, monkeypatch):
    monkeypatch.setattr(importer, "MAX_UPLOAD_BYTES", 1000)
    before = stored_counts(db)
    response = upload(client, world, "big.csv", GOOD_CSV + b"x" * 1000)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["field"] == "file" and "不能超过" in response.json()["error"]["message"]
    assert stored_counts(db) == before


def test_r03_a_row_with_a_nul_character_is_rejected_alike_on_every_database(client, db, world):
    """PostgreSQL cannot store NUL; the import rejects the row (with its column) instead of failing the
    write, and keeps the other rows."""
    content = GOOD_CSV + "人口\x00信息,无条件共享,接口,数据库,每日\n".encode()
    report = upload(client, world, "nul.csv", content).json()
    assert report["created"] == 1
    assert [(p["row"], p["column"]) for p in report["rejected"]] == [(3, "目录名称")]
    assert "空字符" in report["rejected"][0]["rule"]


def test_r03_the_import_page_shows_the_same_refusals(db, world, as_user):
    """The UI page calls the same importer: a refused file is an error page with the Chinese rule."""
    client = as_user("police_manager")
    before = stored_counts(db)
    for case in ("dot-dot", "100,000 nested brackets", "binary junk as .xlsx"):
        name, content, _field, rule = HOSTILE_FILES[case]
        response = client.post("/catalog/import", data={"csrf_token": token(client)},
                               files={"file": (name, content, "application/octet-stream")})
        assert response.status_code == 422, (case, response.text[:300])
        assert rule in response.text
    assert stored_counts(db) == before


@pytest.fixture
def cli(settings, db, monkeypatch):
    from typer.testing import CliRunner

    from govshare import cli as cli_module
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(cli_module.err_console, "width", 240)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_module.app, [str(a) for a in args])
    get_settings.cache_clear()


def test_r03_the_cli_refuses_the_same_files(cli, db, tmp_path):
    before = stored_counts(db)
    for case in ("100,000 nested brackets", "empty file", "header of 200,000 columns"):
        name, content, _field, rule = HOSTILE_FILES[case]
        path = tmp_path / name
        path.write_bytes(content)
        result = cli("catalog", "import", path, "--region-code", "340000")
        assert result.exit_code != 0 and rule in result.output, (case, result.output)
    assert "不是普通文件" in cli("catalog", "import", tmp_path, "--region-code", "340000").output
    assert stored_counts(db) == before


def test_r03_file_names_follow_one_rule():
    assert importer.file_name("C:\\Users\\me\\目录.XLSX") == "目录.XLSX"
    assert importer.file_name("dir/sub/catalog.json") == "catalog.json"
    assert importer.file_name("目" * 195 + ".json") == "目" * 195 + ".json"  # 200 characters: the limit
    for bad in (None, "", ".", "..", "/", "dir/", "a\x00.csv", "目" * 196 + ".json", "catalog"):
        with pytest.raises(ValidationFailed) as refused:
            importer.file_name(bad)
        assert refused.value.field == "file" and CHINESE.search(refused.value.message)


def test_r03_import_report_is_documented(client, world):
    """The import answers its report in the documented shape (ImportReportOut)."""
    report = upload(client, world, "ok.json", json.dumps([{"目录名称": "出生医学证明信息"}], ensure_ascii=False)
                    .encode()).json()
    documented = resolve(openapi()["paths"]["/api/v1/catalog/import"]["post"]["responses"]["200"]["content"]
                         ["application/json"]["schema"])
    assert set(report) == set(documented["properties"])
