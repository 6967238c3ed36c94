"""Values as real files write them (issue 13): the real enterprise register's 法人代表 column is `N/A` in every
good row, yet it is a column of personal information by its name (R17); its placeholders count as missing
(R14) and are served as they are, not masked into `N**` (R17); a credit code or ID number typed in lower case,
in full-width characters or with spaces finds its row (R09)."""

from __future__ import annotations

import csv
import io

import pytest

from govshare.catalog.schemas import ItemIn
from govshare.gateway import connect
from govshare.search.index import registry
from tests.factories import published_entry
from tests.gateway_factories import served_population, token_headers
from tests.test_sources import REGISTER, REGISTER_ITEMS, grant_all_items
from tests.test_sources import token_headers as register_headers

PERSONAL = {"fddbr": ("一般3", "pi")}  # 法人代表 declared as what it is: a person's name


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """The gateway never searches the catalog: publishing needs no search index (as in tests/test_gateway.py)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


def full_width(text: str) -> str:
    """ASCII digits and letters as their full-width forms (０-９, Ａ-Ｚ, ａ-ｚ), as Chinese input methods type them."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def register_rows() -> list[list[str]]:
    with REGISTER.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:-38]  # the last 38 rows are garbled (not loaded)


def connected_register(db, world, declared: dict[str, tuple[str, str]] | None = None):
    """The real register connected to 企业登记信息 (items named by its headers, 一般1 and not personal unless
    `declared` says otherwise), and 省民政厅's grant for every item."""
    declared = declared or {}
    items = [ItemIn(name=name, chinese_name=chinese, data_type="string", grade=declared.get(name, ("一般1",))[0],
                    personal_info=declared.get(name, ("", "none"))[1]) for name, chinese in REGISTER_ITEMS]
    with db.session() as s:
        entry = published_entry(s, world, name="企业登记信息", classification_code="102",
                                abstract="上海市 2002 年企业登记注册信息", share_type="有条件共享",
                                share_condition="仅限市场监管协同使用", open_attribute="不予开放", grade="一般3",
                                items=items)
        source = connect.connect_file(s, world.actors["police_manager"], entry.id, REGISTER, REGISTER.name,
                                      "统一社会信用代码")
        granted = grant_all_items(s, world, entry)
        return source.profile["items"], entry.resource_code, granted


# ---------------------------------------------------------------- R17, R14: profiling the real register


def test_r17_r14_real_register_legal_representative_is_personal_by_its_name_and_its_na_is_missing(db, world):
    profiled, _code, _granted = connected_register(db, world)
    legal = profiled["fddbr"]
    # every one of the 4,318 good rows says N/A: all missing, no value to find a kind in
    assert legal["nulls"] == 4318 and legal["sampled_values"] == 0
    # ... and still a column of names by its name: personal, 一般3, masked keeping the surname
    assert legal["kind"] == "person_name" and legal["named_kind"] == "person_name"
    assert (legal["suggested_grade"], legal["suggested_personal_info"], legal["suggested_masking"]) == (
        "general_3", "pi", "keep:1:0")
    # 企业类型 is N/A in most rows too (not personal), 注册资金 in 374
    assert profiled["qylx"]["nulls"] == 4272 and profiled["qylx"]["suggested_personal_info"] == "none"
    assert profiled["zczj"]["nulls"] == 374
    # an enterprise's registered address stays an organization's, not personal information
    assert profiled["zcdz"]["kind"] == "address" and profiled["zcdz"]["suggested_personal_info"] == "none"


# ---------------------------------------------------------------- R17: placeholders are not masked


def test_r17_placeholder_of_a_masked_item_is_served_as_it_is_on_lookup_page_and_export(client, db, world):
    rows = register_rows()
    _profiled, code, granted = connected_register(db, world, PERSONAL)
    headers = register_headers(client, granted)
    found = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": rows[0][1]},
                       headers=headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["masking"]["fddbr"] == "只显示前1位，其余以*遮盖"  # the item is masked ...
    assert body["rows"][0]["fddbr"] == "N/A"  # ... but N/A is not a name: not "N**"
    page = client.get(f"/api/v1/data/{code}/rows", params={"grant": granted.grant_id, "limit": 50},
                      headers=headers)
    assert page.status_code == 200 and {r["fddbr"] for r in page.json()["rows"]} == {"N/A"}
    export = client.post(f"/api/v1/data/{code}/export", headers=headers,
                         json={"grant": granted.grant_id, "headers": "field"})
    assert export.status_code == 200, export.text
    exported = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert len(exported) == 4318 and {r["fddbr"] for r in exported} == {"N/A"}


# ---------------------------------------------------------------- R09: keys as people type them


def test_r09_credit_code_in_lower_case_full_width_or_with_spaces_finds_its_row(client, db, world):
    rows = register_rows()
    _profiled, code, granted = connected_register(db, world)
    headers = register_headers(client, granted)
    record = next(r for r in rows if r[1].endswith("X"))  # 91310120734580606X
    typed = (record[1].lower(), full_width(record[1]), f" {record[1][:8]} {record[1][8:]} ",
             full_width(record[1].lower()))
    for key in typed:
        found = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": key}, headers=headers)
        assert found.status_code == 200, (key, found.text)
        assert found.json()["rows"] == [dict(zip([n for n, _ in REGISTER_ITEMS], record, strict=True))]
    # a filter on the key item is normalized the same way
    page = client.get(f"/api/v1/data/{code}/rows", headers=headers,
                      params={"grant": granted.grant_id, "filter": f"tyshxydm:{record[1].lower()}"})
    assert page.status_code == 200, page.text
    assert [r["tyshxydm"] for r in page.json()["rows"]] == [record[1]]
    # a code that differs in more than its writing is still not found
    other = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": record[1][:-1] + "Y"},
                       headers=headers)
    assert other.status_code == 404


def test_r09_id_number_in_full_width_is_found_verified_and_checked_against_the_scope(client, db, world, tmp_path):
    with db.session() as s:
        served = served_population(s, world, tmp_path, scope={"item": "xzqhdm", "prefixes": ["340104"]})
    headers = token_headers(client, served.client_id, served.secret)
    inside = [r for r in served.rows if r["XZQH"] == "340104"]
    person = next((r for r in inside if r["GMSFHM"].endswith("X")), inside[0])
    typed = full_width(person["GMSFHM"].lower())
    found = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                       params={"grant": served.grant_id, "key": typed, "items": "xzqhdm"})
    assert found.status_code == 200, found.text
    assert found.json()["rows"] == [{"xzqhdm": "340104"}]
    outside = next(r for r in served.rows if r["XZQH"] == "340102")
    refused = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                         params={"grant": served.grant_id, "key": full_width(outside["GMSFHM"])})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "row_out_of_scope"
    verified = client.post(f"/api/v1/data/{served.resource_code}/verify", headers=headers, json={
        "grant": served.grant_id, "fields": {"gmsfhm": f" {typed} ", "xm": person["XM"]}})
    assert verified.status_code == 200 and verified.json()["result"] == "match", verified.text


@pytest.mark.parametrize(("name", "content"), [("broken.parquet", b"PAR1 not a parquet file at all"),
                                              ("truncated.parquet", b"PAR1" + bytes(64) + b"PAR1")])
def test_r18_an_unreadable_data_file_is_refused_in_chinese(db, world, name, content):
    """A file the reader library cannot read is refused naming the field, in Chinese, without the library's
    English (pyarrow's `Parquet magic bytes not found…`, `CSV parse error…`)."""
    from govshare.errors import ValidationFailed

    with db.session() as s:
        entry = published_entry(s, world)
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_file(s, world.actors["police_manager"], entry.id, content, name, "gmsfhm")
    assert refused.value.field == "file"
    assert refused.value.message == connect.PARQUET_UNREADABLE
    assert not any(word in refused.value.message for word in ("magic", "parse error", "Expected", "Invalid"))
