"""The gateway's behaviour through the real API (R09, R10, R12, R17, R18): every access mode, every refusal
with its usage record, suspension after repeated out-of-grant attempts, and the routes consumer systems use.

Every refusal test asserts three things: the HTTP status and error code, that no data came back, and that
the refusal is on the record (a usage record with result `refused` and the reason). Calls that must fall in
the same second (the rate limit) or after a grant's period go through `gateway.service.access` with a fixed
`now`, the same function the routes call."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, date, timedelta

import duckdb
import jwt
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from govshare.audit import chain
from govshare.audit.models import UsageRecord
from govshare.catalog.models import CatalogEntry
from govshare.db import utcnow
from govshare.gateway import connect, masking, tokens
from govshare.gateway import service as gateway
from govshare.gateway.models import GrantUsageDay
from govshare.gateway.service import Call, Caller, Mode, RateLimited, Refused
from govshare.notify.models import Notification
from govshare.orgs import systems
from govshare.search.index import registry
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant
from govshare.sharing.schemas import ReplyIn
from tests.authz_cases_issue3 import more_users
from tests.factories import consumer_system, published_entry, request_in
from tests.gateway_factories import (
    COLUMN_MAP,
    drop_table,
    grant_for,
    provider_database,
    served_population,
    sql_table,
    token_headers,
)

SCOPE = {"item": "xzqhdm", "prefixes": ["340104"]}


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """The gateway never searches the catalog: publishing the test entry need not build a search index
    (that is most of a test's setup time). The app attaches the index, so it is detached after."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


# ---------------------------------------------------------------- helpers


def _served(db, world, tmp_path, **options):
    with db.session() as s:
        return served_population(s, world, tmp_path, **options)


def _headers(client, served) -> dict:
    return token_headers(client, served.client_id, served.secret)


def _records(db) -> list[UsageRecord]:
    with db.session() as s:
        return list(s.scalars(select(UsageRecord).order_by(UsageRecord.seq)))


def _last_record(db) -> UsageRecord:
    return _records(db)[-1]


def _refused(db, response, status: int, code: str, *, reason: str | None = None) -> UsageRecord:
    """The response is the refusal (status, code, no data) and the last usage record says so."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body  # no rows, no verdict, nothing else
    assert body["error"]["code"] == code, body
    record = _last_record(db)
    assert (record.result, record.reason, record.row_count) == ("refused", reason or code, 0)
    return record


def _set_masking(db, world, grant_id: int, rules: dict) -> None:
    with db.session() as s:
        gateway.set_masking(s, world.actors["police_reviewer"], grant_id, rules)


def _lookup(client, served, headers, key, **params):
    return client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                      params={"grant": served.grant_id, "key": key, **params})


def _inside(served, prefix="340104"):
    return [r for r in served.rows if r["XZQH"].startswith(prefix)]


def _walk(client, served, headers, **params) -> list[list[dict]]:
    """Every page from the first to the one without a next cursor."""
    pages, cursor = [], None
    while True:
        query = {"grant": served.grant_id, **params, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers, params=query)
        assert response.status_code == 200, response.text
        pages.append(response.json()["rows"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the pages never end"


# ---------------------------------------------------------------- access modes


def test_r09_r17_key_lookup_serves_granted_items_masked_by_grade(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    person = served.rows[4]
    found = _lookup(client, served, headers, person["GMSFHM"])
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["items"] == ["gmsfhm", "xm", "csrq", "hjdz", "xzqhdm"]
    id_number, name = person["GMSFHM"], person["XM"]
    assert body["rows"] == [{
        "gmsfhm": id_number[:6] + "*" * 8 + id_number[-4:],  # 公民身份号码: keep 6 and 4
        "xm": name[0] + "*" * (len(name) - 1),  # 姓名: keep the surname
        "csrq": person["CSRQ"][:4],  # 出生日期: the year
        "hjdz": person["HJDZ"][:6] + "*" * (len(person["HJDZ"]) - 6),  # 户籍地址: keep the province and city
        "xzqhdm": person["XZQH"],  # 行政区划代码: general, not personal: as stored
    }]
    assert body["masking"]["gmsfhm"] == "只显示前6位和后4位，其余以*遮盖" and body["masking"]["xzqhdm"] == "不脱敏"
    record = _last_record(db)
    assert (record.seq, record.result, record.row_count, record.mode) == (body["usage_record"], "ok", 1, "lookup")

    projected = _lookup(client, served, headers, person["GMSFHM"], items="xzqhdm,xm")
    assert projected.status_code == 200, projected.text
    assert projected.json()["items"] == ["xzqhdm", "xm"]
    assert list(projected.json()["rows"][0]) == ["xzqhdm", "xm"]
    assert _last_record(db).items == "xzqhdm,xm"


def test_r12_lookup_of_an_unknown_key_is_404_and_on_the_record(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    response = _lookup(client, served, _headers(client, served), "110101190001010000")
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "not_found" and error["field"] == "key"
    record = _last_record(db)
    assert (record.result, record.row_count, record.grant_id) == ("not_found", 0, served.grant_id)
    assert error["usage_record"] == record.seq


def test_r09_pages_walk_every_scoped_row_once_with_filters_and_projection(client, db, world, tmp_path):
    served = _served(db, world, tmp_path, count=60, scope=SCOPE, rate_limit=1000)
    _set_masking(db, world, served.grant_id, {"gmsfhm": "none"})  # the key shown as stored, to tell rows apart
    headers = _headers(client, served)
    pages = _walk(client, served, headers, limit=3)
    walked = [row["gmsfhm"] for page in pages for row in page]
    expected = sorted(r["GMSFHM"] for r in _inside(served))
    assert len(expected) == 20
    assert walked == expected  # in key order, none twice, none missing
    assert all(len(page) == 3 for page in pages[:-1]) and len(pages) == 7
    assert {row["xzqhdm"] for page in pages for row in page} == {"340104"}
    records = [r for r in _records(db) if r.mode == "page"]
    assert [r.row_count for r in records] == [len(page) for page in pages]

    # filters on granted items served as stored (a masked item is no filter: tests/security/test_masked_filters.py)
    # and a projection of two items
    person = _inside(served)[3]
    filtered = client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers, params={
        "grant": served.grant_id, "filter": [f"gmsfhm:{person['GMSFHM']}", "xzqhdm:340104"],
        "items": "gmsfhm,csrq"})
    assert filtered.status_code == 200, filtered.text
    expected_rows = [{"gmsfhm": r["GMSFHM"], "csrq": r["CSRQ"][:4]} for r in _inside(served)
                     if r["GMSFHM"] == person["GMSFHM"]]
    assert filtered.json()["rows"] == expected_rows and filtered.json()["next_cursor"] is None

    bad = client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers,
                     params={"grant": served.grant_id, "cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_r09_pages_of_a_non_unique_integer_key_neither_skip_nor_repeat(client, db, world, tmp_path):
    """The key column is an INTEGER that repeats (runs longer than a page too), in a database of the
    platform's own engine: the cursor keeps the integer type (10 comes after 9) and runs are never split."""
    keys = [1, 2, 2, 3, 4, 4, 4, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11, 12, 12, 12, 13, 20, 100]
    rows = [{"GMSFHM": key, "XM": f"人{n:02d}", "CSRQ": "1990-01-01", "HJDZ": "某地", "XZQH": "340104"}
            for n, key in enumerate(keys)]
    table = f"rk_int_{uuid.uuid4().hex[:8]}"
    with provider_database(db) as database:
        url = sql_table(database, rows, table=table, key_type="INTEGER")
        _walk_integer_keys(client, db, world, tmp_path, rows, keys, url, table)


def _walk_integer_keys(client, db, world, tmp_path, rows, keys, url, table) -> None:
    try:
        served = _served(db, world, tmp_path, rows=rows, source_url=url, table=table, rate_limit=1000)
        _set_masking(db, world, served.grant_id, {"xm": "none", "gmsfhm": "none"})
        headers = _headers(client, served)
        pages = _walk(client, served, headers, limit=3)
        walked = [row["xm"] for page in pages for row in page]
        assert sorted(walked) == sorted(r["XM"] for r in rows) and len(set(walked)) == len(rows)
        served_keys = [int(row["gmsfhm"]) for page in pages for row in page]
        assert served_keys == sorted(keys)
        assert max(len(page) for page in pages) == 5  # the run of five 4s is one page
        many = _lookup(client, served, headers, "4")
        assert many.status_code == 200, many.text
        assert len(many.json()["rows"]) == 5
    finally:
        drop_table(url, table)


def test_r09_verify_only_grant_answers_match_no_match_not_found_and_nothing_else(client, db, world, tmp_path):
    served = _served(db, world, tmp_path, verify_only=True, items=["gmsfhm", "xm", "csrq"])
    headers = _headers(client, served)
    person = served.rows[2]
    url = f"/api/v1/data/{served.resource_code}/verify"

    def verify(fields: dict, key: str | None = None):
        return client.post(url, headers=headers, json={"grant": served.grant_id, "fields": fields,
                                                         **({"key": key} if key else {})})

    match = verify({"gmsfhm": person["GMSFHM"], "xm": person["XM"], "csrq": person["CSRQ"]})
    assert match.status_code == 200, match.text
    assert set(match.json()) == {"resource_code", "grant_id", "result", "usage_record", "under_verification",
                                 "objections"}  # no data
    assert match.json()["under_verification"] is False
    assert match.json()["result"] == "match"
    assert _last_record(db).result == "ok"
    assert verify({"gmsfhm": person["GMSFHM"], "xm": "李某某"}).json()["result"] == "no_match"
    assert verify({"xm": person["XM"]}, key=person["GMSFHM"]).json()["result"] == "match"
    missing = verify({"gmsfhm": "110101190001010000", "xm": person["XM"]})
    assert missing.status_code == 200 and missing.json()["result"] == "not_found"
    assert _last_record(db).result == "not_found"
    assert verify({"hjdz": person["HJDZ"]}, key=person["GMSFHM"]).json()["error"]["code"] == "item_not_granted"

    code, grant = served.resource_code, served.grant_id
    _refused(db, _lookup(client, served, headers, person["GMSFHM"]), 403, "verify_only")
    _refused(db, client.get(f"/api/v1/data/{code}/rows", headers=headers, params={"grant": grant}), 403,
             "verify_only")
    _refused(db, client.post(f"/api/v1/data/{code}/export", headers=headers, json={"grant": grant}), 403,
             "verify_only")
    preview = client.get(f"/api/v1/data/{code}/preview", params={"grant": grant},
                         headers=world.headers("civil_requester"))
    _refused(db, preview, 403, "verify_only")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_r09_r17_export_has_granted_items_scoped_rows_masked_as_lookups_mask(client, db, world, tmp_path, fmt,
                                                                           settings):
    served = _served(db, world, tmp_path, count=45, scope=SCOPE, items=["gmsfhm", "xm", "csrq", "hjdz", "xzqhdm"],
                     rate_limit=1000)
    # one item per rule: keep (default of 公民身份号码), hash, year, null, none
    _set_masking(db, world, served.grant_id, {"xm": "hash", "hjdz": "null"})
    headers = _headers(client, served)
    response = client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                           json={"grant": served.grant_id, "format": fmt, "items": ["gmsfhm", "xm", "csrq", "hjdz",
                                                                                     "xzqhdm"]})
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Row-Count"]) == len(_inside(served)) == 15
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(response.content))
        columns, exported = table.column_names, [tuple(row.values()) for row in table.to_pylist()]
    else:  # UTF-8 with a BOM and the items' Chinese names, as Excel and WPS open it; field names on request
        assert response.content.startswith("\ufeff".encode())
        path = tmp_path / "export.csv"
        path.write_bytes(response.content)
        relation = duckdb.sql(f"SELECT * FROM read_csv('{path}', all_varchar = true, header = true)")
        with db.session() as s:
            titles = {i.name: i.chinese_name for i in s.get(CatalogEntry, served.entry_id).items}
        assert relation.columns == [titles[n] for n in ["gmsfhm", "xm", "csrq", "hjdz", "xzqhdm"]]
        columns, exported = ["gmsfhm", "xm", "csrq", "hjdz", "xzqhdm"], relation.fetchall()
        by_field = client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                               json={"grant": served.grant_id, "format": "csv", "headers": "field",
                                     "items": ["gmsfhm", "xm"]})
        assert by_field.content.decode("utf-8-sig").splitlines()[0] == "gmsfhm,xm"
    assert columns == ["gmsfhm", "xm", "csrq", "hjdz", "xzqhdm"]
    # the export (DuckDB SQL) holds exactly the rows the Python masker serves: one page of them all, and
    # key lookups of a few people
    page = client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers,
                      params={"grant": served.grant_id, "limit": 1000}).json()["rows"]
    assert sorted(exported, key=str) == sorted((tuple(row[c] for c in columns) for row in page), key=str)
    for person in _inside(served)[:3]:
        row = _lookup(client, served, headers, person["GMSFHM"]).json()["rows"][0]
        assert tuple(row[c] for c in columns) in exported
    assert all(row[3] is None and row[4] == "340104" for row in exported)
    assert all(len(row[1]) == 64 and row[1] not in {p["XM"] for p in served.rows} for row in exported)
    record = next(r for r in _records(db) if r.mode == "export")  # the first export's
    assert (record.result, record.row_count, str(record.seq)) == ("ok", 15, response.headers["X-Usage-Record"])
    assert not any((settings.data_dir / "exports").iterdir())  # the file is deleted once sent


def test_r09_r17_managed_file_source_pages_and_export_match_lookups(client, db, world, tmp_path):
    """The same entry connected to an uploaded CSV (the managed Parquet store, read by DuckDB): pages walk
    every scoped row once by the file's row order, and the Parquet export equals the pages, row for row."""
    served = _served(db, world, tmp_path, count=40, scope=SCOPE, rate_limit=1000)
    header = ",".join(COLUMN_MAP.values())
    csv = "\n".join([header, *(",".join(r[c] for c in COLUMN_MAP.values()) for r in reversed(served.rows))])
    with db.session() as s:
        connect.connect_file(s, world.actors["police_manager"], served.entry_id, csv.encode(), "people.csv",
                             key_item="gmsfhm", column_map=COLUMN_MAP)
    _set_masking(db, world, served.grant_id, {"xm": "hash", "hjdz": "null"})
    headers = _headers(client, served)
    pages = _walk(client, served, headers, limit=4)
    paged = [tuple(row.values()) for page in pages for row in page]
    assert len(paged) == len(set(paged)) == len(_inside(served)) == 13
    assert [row[4] for row in paged] == ["340104"] * 13
    # the file's order (reversed residents), not the key's: the cursor is the row number
    assert [row[0][-4:] for row in paged] == [r["GMSFHM"][-4:] for r in reversed(_inside(served))]
    export = client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                         json={"grant": served.grant_id, "format": "parquet"})
    assert export.status_code == 200, export.text
    exported = [tuple(row.values()) for row in pq.read_table(io.BytesIO(export.content)).to_pylist()]
    assert sorted(exported, key=str) == sorted(paged, key=str)
    person = _inside(served)[0]
    looked_up = _lookup(client, served, headers, person["GMSFHM"]).json()["rows"][0]
    assert tuple(looked_up.values()) in paged


def test_r09_preview_for_the_requesters_user_and_the_providers_own_data_only(client, db, world, tmp_path):
    served = _served(db, world, tmp_path, scope=SCOPE)
    code, url = served.resource_code, f"/api/v1/data/{served.resource_code}/preview"
    requester = client.get(url, params={"grant": served.grant_id}, headers=world.headers("civil_requester"))
    assert requester.status_code == 200, requester.text
    rows = requester.json()["rows"]
    assert len(rows) == 10 and {r["xzqhdm"] for r in rows} == {"340104"}
    assert {r["gmsfhm"] for r in rows}.isdisjoint(r["GMSFHM"] for r in served.rows)  # masked
    record = _last_record(db)
    assert (record.mode, record.user_id, record.grant_id, record.department_id, record.consumer_system_id,
            record.entry_id, record.resource_code) == (
        "preview", world.ids["user:civil_requester"], served.grant_id, world.ids["civil"], None, served.entry_id,
        code)

    own = client.get(url, headers=world.headers("police_manager"))
    assert own.status_code == 200, own.text
    assert [r["gmsfhm"] for r in own.json()["rows"]] == sorted(r["GMSFHM"] for r in served.rows)[:20]
    record = _last_record(db)
    assert (record.mode, record.user_id, record.grant_id, record.department_id, record.resource_code) == (
        "preview", world.ids["user:police_manager"], None, world.ids["police"], code)

    for who, params in (("city_civil_manager", {"grant": served.grant_id}), ("city_civil_manager", {}),
                        ("police_manager", {"grant": served.grant_id}), ("civil_requester", {})):
        refused = _refused(db, client.get(url, params=params, headers=world.headers(who)), 403, "no_grant")
        assert (refused.mode, refused.user_id, refused.grant_id, refused.resource_code) == (
            "preview", world.ids[f"user:{who}"], None, code)
    anonymous = client.get(url, params={"grant": served.grant_id})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    with db.session() as s:  # the code every record names is the entry's resource code
        assert code == s.get(CatalogEntry, served.entry_id).resource_code


# ---------------------------------------------------------------- refusals


def _other_entry_grant(db, world, served) -> int:
    """The same system's approved grant for another entry."""
    with db.session() as s:
        other = published_entry(s, world, name="流动人口信息")
        request = sharing.create_request(s, world.actors["civil_requester"],
                                         request_in(other, consumer_system_id=served.system_id), submit=True)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve", reason=""))
        return sharing.grant_of(s, request.id).id


def test_r09_no_grant_for_the_resource_is_refused(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    key = served.rows[0]["GMSFHM"]
    other_grant = _other_entry_grant(db, world, served)
    for grant in (other_grant, 999_999):
        response = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                              params={"grant": grant, "key": key})
        record = _refused(db, response, 403, "no_grant")
        assert (record.consumer_system_id, record.department_id, record.grant_id, record.entry_id) == (
            served.system_id, world.ids["civil"], None, served.entry_id)
    unknown = client.get("/api/v1/data/NO-SUCH-CODE", headers=headers, params={"grant": served.grant_id, "key": key})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "no_resource"
    assert (_last_record(db).result, _last_record(db).reason) == ("not_found", "no_resource")


def test_r10_grant_after_its_period_is_refused(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    key = served.rows[0]["GMSFHM"]
    with db.session() as s:
        token, _ = tokens.issue_token(s, served.client_id, served.secret)
        period_end = s.get(Grant, served.grant_id).period_end
    after = utcnow().replace(year=period_end.year + 1)
    with pytest.raises(Refused) as refused:
        gateway.access(db, Caller(token=token), Call(Mode.LOOKUP, served.resource_code, served.grant_id, key=key),
                       now=after)
    assert refused.value.code == "grant_period"
    assert (_last_record(db).result, _last_record(db).reason, _last_record(db).at) == ("refused", "grant_period",
                                                                                       after)
    with db.session() as s:  # the period is over for the API too
        grant = s.get(Grant, served.grant_id)
        grant.period_start, grant.period_end = date.today() - timedelta(days=30), date.today() - timedelta(days=2)
    _refused(db, _lookup(client, served, headers, key), 403, "grant_period")


@pytest.mark.parametrize("end", ["revoked", "purpose_achieved", "suspended"])
def test_r09_r10_ended_or_suspended_grant_is_refused(client, db, world, tmp_path, end):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    key = served.rows[0]["GMSFHM"]
    assert _lookup(client, served, headers, key).status_code == 200
    with db.session() as s:
        if end == "revoked":
            sharing.revoke_grant(s, world.actors["police_reviewer"], served.grant_id, "发现超范围使用")
        elif end == "purpose_achieved":
            sharing.declare_purpose_achieved(s, world.actors["civil_requester"], served.grant_id, "审核已完成")
        else:
            sharing.suspend_grant(s, s.get(Grant, served.grant_id), "复核中")
    code = "grant_suspended" if end == "suspended" else "grant_ended"
    record = _refused(db, _lookup(client, served, headers, key), 403, code)
    assert record.grant_id == served.grant_id and record.department_id == world.ids["civil"]
    page = client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers, params={"grant": served.grant_id})
    _refused(db, page, 403, code)


def test_r09_item_outside_the_grant_is_refused(client, db, world, tmp_path):
    served = _served(db, world, tmp_path, items=["gmsfhm", "xm", "xzqhdm"])
    headers = _headers(client, served)
    key, code, grant = served.rows[0]["GMSFHM"], served.resource_code, served.grant_id
    record = _refused(db, _lookup(client, served, headers, key, items="xm,hjdz"), 403, "item_not_granted")
    assert record.items == "xm,hjdz" and record.grant_id == grant
    _refused(db, client.get(f"/api/v1/data/{code}/rows", headers=headers, params={"grant": grant, "items": "csrq"}),
             403, "item_not_granted")
    _refused(db, client.get(f"/api/v1/data/{code}/rows", headers=headers,
                            params={"grant": grant, "filter": "csrq:1990-01-01"}), 403, "item_not_granted")
    _refused(db, client.post(f"/api/v1/data/{code}/export", headers=headers, json={"grant": grant, "items": ["hjdz"]}),
             403, "item_not_granted")
    granted = _lookup(client, served, headers, key)
    assert granted.status_code == 200 and granted.json()["items"] == ["gmsfhm", "xm", "xzqhdm"]


def test_r09_row_outside_the_scope_is_refused(client, db, world, tmp_path):
    served = _served(db, world, tmp_path, scope=SCOPE)
    headers = _headers(client, served)
    outside = next(r for r in served.rows if r["XZQH"] == "340102")
    code, grant = served.resource_code, served.grant_id
    _refused(db, _lookup(client, served, headers, outside["GMSFHM"]), 403, "row_out_of_scope")
    _refused(db, client.get(f"/api/v1/data/{code}/rows", headers=headers,
                            params={"grant": grant, "filter": "xzqhdm:340102"}), 403, "row_out_of_scope")
    _refused(db, client.post(f"/api/v1/data/{code}/verify", headers=headers,
                             json={"grant": grant, "fields": {"gmsfhm": outside["GMSFHM"], "xm": outside["XM"]}}),
             403, "row_out_of_scope")
    _refused(db, client.post(f"/api/v1/data/{code}/export", headers=headers,
                             json={"grant": grant, "filters": {"xzqhdm": "340103"}}), 403, "row_out_of_scope")


def test_r09_rate_limit_counts_the_calls_of_the_clock_second(db, world, tmp_path):
    served = _served(db, world, tmp_path, rate_limit=2)
    with db.session() as s:
        token, _ = tokens.issue_token(s, served.client_id, served.secret)
    caller, now = Caller(token=token), utcnow().replace(microsecond=50_000)
    call = Call(Mode.LOOKUP, served.resource_code, served.grant_id, key=served.rows[0]["GMSFHM"])
    unknown = Call(Mode.LOOKUP, served.resource_code, served.grant_id, key="110101190001010000")
    assert len(gateway.access(db, caller, call, now=now).rows) == 1
    assert gateway.access(db, caller, unknown, now=now).rows == []  # a miss is an answer: it counts
    with pytest.raises(RateLimited) as limited:
        gateway.access(db, caller, call, now=now)
    assert limited.value.code == "rate_limited" and limited.value.status_code == 429
    assert (_last_record(db).result, _last_record(db).reason) == ("refused", "rate_limited")
    with pytest.raises(RateLimited):  # refusals do not count, but they do not reset the window either
        gateway.access(db, caller, call, now=now + timedelta(milliseconds=900))
    assert len(gateway.access(db, caller, call, now=now + timedelta(milliseconds=960)).rows) == 1  # next second
    assert gateway.access(db, caller, unknown, now=now + timedelta(milliseconds=970)).rows == []
    with pytest.raises(RateLimited):  # ... which fills up like the first
        gateway.access(db, caller, call, now=now + timedelta(milliseconds=980))
    with db.session() as s:  # the counters the check reads: the day's answered calls, the second's
        day = s.scalars(select(GrantUsageDay).where(GrantUsageDay.grant_id == served.grant_id)).one()
        assert (day.calls, day.refusals, day.second_calls) == (4, 3, 2)
        assert day.second == int((now + timedelta(seconds=1)).replace(tzinfo=UTC, microsecond=0).timestamp())
    assert [r.result for r in _records(db)] == ["ok", "not_found", "refused", "refused", "ok", "not_found", "refused"]


def test_r09_daily_quota_is_enforced(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    with db.session() as s:
        s.get(Grant, served.grant_id).daily_quota = 2
    headers = _headers(client, served)
    key = served.rows[0]["GMSFHM"]
    assert _lookup(client, served, headers, key).status_code == 200
    assert _lookup(client, served, headers, "110101190001010000").status_code == 404
    _refused(db, _lookup(client, served, headers, key), 429, "quota_exceeded")


def test_r09_another_system_cannot_use_the_grant(client, db, world, tmp_path):
    """A second system of the same department, and a system of another department, name the grant."""
    served = _served(db, world, tmp_path)
    with db.session() as s:
        same_department, same_secret = consumer_system(s, world, "civil_requester", "救助核对系统")
        other_department, other_secret = consumer_system(s, world, "police_reviewer", "治安核查系统")
    key = served.rows[0]["GMSFHM"]
    for system, secret, department in ((same_department, same_secret, "civil"),
                                       (other_department, other_secret, "police")):
        headers = token_headers(client, system.client_id, secret)
        record = _refused(db, _lookup(client, served, headers, key), 403, "wrong_system")
        assert (record.consumer_system_id, record.department_id, record.grant_id) == (
            system.id, world.ids[department], None)  # named, but not theirs: not recorded against the grant
        verify = client.post(f"/api/v1/data/{served.resource_code}/verify", headers=headers,
                             json={"grant": served.grant_id, "fields": {"gmsfhm": key}})
        _refused(db, verify, 403, "wrong_system")
        export = client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                             json={"grant": served.grant_id})
        _refused(db, export, 403, "wrong_system")


def test_r18_forged_expired_missing_and_user_tokens_are_refused(client, db, world, tmp_path, settings):
    served = _served(db, world, tmp_path)
    key = served.rows[0]["GMSFHM"]
    genuine = _headers(client, served)["Authorization"][7:]
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = {
        "wrong key": jwt.encode(claims, b"not-the-node-key-not-the-node-key", algorithm="HS256"),
        "other system": jwt.encode({**claims, "sub": "999"}, b"x" * 32, algorithm="HS256"),
        "no signature": jwt.encode(claims, None, algorithm="none"),
        "garbage": "not.a.token",
        "login token": world.tokens["civil_requester"],
    }
    for _name, token in forged.items():
        response = _lookup(client, served, {"Authorization": f"Bearer {token}"}, key)
        record = _refused(db, response, 401, "token_invalid")
        assert (record.consumer_system_id, record.department_id, record.grant_id) == (None, None, None)
        assert record.resource_code == served.resource_code
    with db.session() as s:
        expired, _ = tokens.issue_token(s, served.client_id, served.secret, now=utcnow() - timedelta(hours=1))
    _refused(db, _lookup(client, served, {"Authorization": f"Bearer {expired}"}, key), 401, "token_expired")
    _refused(db, _lookup(client, served, {}, key), 401, "not_authenticated")
    page = client.get(f"/api/v1/data/{served.resource_code}/rows", params={"grant": served.grant_id})
    _refused(db, page, 401, "not_authenticated")
    assert _lookup(client, served, {"Authorization": f"Bearer {genuine}"}, key).status_code == 200


@pytest.mark.parametrize("change", ["rotate", "revoke"])
def test_r18_token_dies_at_once_on_secret_rotation_or_system_revocation(client, db, world, tmp_path, change):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    key = served.rows[0]["GMSFHM"]
    assert _lookup(client, served, headers, key).status_code == 200
    with db.session() as s:
        if change == "rotate":
            _, new_secret = systems.rotate_secret(s, world.actors["civil_requester"], served.system_id)
        else:
            systems.revoke_system(s, world.actors["civil_requester"], served.system_id)
    record = _refused(db, _lookup(client, served, headers, key), 401, "token_revoked")
    assert record.consumer_system_id == served.system_id and record.department_id == world.ids["civil"]
    old = client.post("/api/v1/gateway/token", json={"client_id": served.client_id, "client_secret": served.secret})
    assert old.status_code == 401
    if change == "rotate":
        fresh = token_headers(client, served.client_id, new_secret)
        assert _lookup(client, served, fresh, key).status_code == 200


def test_r18_token_route_is_public_but_refuses_bad_credentials(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    good = client.post("/api/v1/gateway/token", json={"client_id": served.client_id, "client_secret": served.secret})
    assert good.status_code == 200 and good.json()["token_type"] == "bearer"
    assert good.json()["expires_in"] == 15 * 60
    for body in ({"client_id": served.client_id, "client_secret": "wrong"},
                 {"client_id": "gs_unknown", "client_secret": served.secret}):
        response = client.post("/api/v1/gateway/token", json=body)
        assert response.status_code == 401, response.text
        assert set(response.json()["error"]) == {"code", "message", "field"}
        assert "access_token" not in response.text
    with_login = client.post("/api/v1/gateway/token", headers=world.headers("civil_requester"),
                             json={"client_id": served.client_id, "client_secret": "wrong"})
    assert with_login.status_code == 401  # a user's login does not stand in for the system's secret


# ---------------------------------------------------------------- R09 suspension


def test_r09_repeated_out_of_grant_attempts_suspend_until_the_provider_reinstates(client, db, world, tmp_path,
                                                                                 settings):
    served = _served(db, world, tmp_path, scope=SCOPE, items=["gmsfhm", "xm", "xzqhdm"])
    headers = _headers(client, served)
    inside = _inside(served)[0]["GMSFHM"]
    outside = next(r for r in served.rows if r["XZQH"] == "340102")["GMSFHM"]
    limit = settings.suspend_after_refusals
    for n in range(limit):
        attempt = (_lookup(client, served, headers, inside, items="hjdz") if n % 2 == 0
                   else _lookup(client, served, headers, outside))
        assert attempt.status_code == 403
        with db.session() as s:
            status = s.get(Grant, served.grant_id).status
        assert status == ("suspended" if n == limit - 1 else "active"), n
    with db.session() as s:
        grant = s.get(Grant, served.grant_id)
        assert f"{limit} 次越权访问" in grant.suspend_reason
        told = s.scalars(select(Notification).where(Notification.event == "grant.suspended")).all()
        assert world.ids["user:police_reviewer"] in {n.user_id for n in told}
    _refused(db, _lookup(client, served, headers, inside), 403, "grant_suspended")

    url = f"/api/v1/sharing/grants/{served.grant_id}/reinstate"
    for who in ("civil_requester", "reviewer", "police_manager"):
        assert client.post(url, json={"reason": "越权恢复"}, headers=world.headers(who)).status_code == 403
    assert _refused(db, _lookup(client, served, headers, inside), 403, "grant_suspended").grant_id == served.grant_id
    reinstated = client.post(url, json={"reason": "已核实为调试错误，已整改"}, headers=world.headers("police_reviewer"))
    assert reinstated.status_code == 200, reinstated.text
    assert _lookup(client, served, headers, inside).status_code == 200
    # the attempts before the suspension were reviewed: one more does not suspend again
    assert _lookup(client, served, headers, outside).status_code == 403
    with db.session() as s:
        assert s.get(Grant, served.grant_id).status == "active"


def test_r09_refusals_other_than_out_of_grant_do_not_suspend(client, db, world, tmp_path, settings):
    served = _served(db, world, tmp_path)
    key = served.rows[0]["GMSFHM"]
    with db.session() as s:
        intruder, secret = consumer_system(s, world, "civil_requester", "救助核对系统")
    headers = token_headers(client, intruder.client_id, secret)
    for _ in range(settings.suspend_after_refusals + 1):
        assert _lookup(client, served, headers, key, items="hjdz").status_code == 403  # wrong system first
    with db.session() as s:
        assert s.get(Grant, served.grant_id).status == "active"


# ---------------------------------------------------------------- usage records (R12)


def test_r12_one_record_per_access_with_who_what_how_many_and_result(client, db, world, tmp_path):
    served = _served(db, world, tmp_path, scope=SCOPE, rate_limit=1000)
    headers = _headers(client, served)
    person = _inside(served)[0]
    code, grant = served.resource_code, served.grant_id
    calls = [
        lambda: _lookup(client, served, headers, person["GMSFHM"], items="xm,csrq"),
        lambda: client.get(f"/api/v1/data/{code}/rows", headers=headers, params={"grant": grant, "limit": 4}),
        lambda: client.post(f"/api/v1/data/{code}/verify", headers=headers,
                            json={"grant": grant, "fields": {"gmsfhm": person["GMSFHM"], "xm": person["XM"]}}),
        lambda: client.post(f"/api/v1/data/{code}/export", headers=headers, json={"grant": grant}),
        lambda: client.get(f"/api/v1/data/{code}/preview", params={"grant": grant},
                           headers=world.headers("civil_requester")),
        lambda: _lookup(client, served, headers, person["GMSFHM"], items="hjdz,xm"),
    ]
    started = utcnow()
    statuses = [call().status_code for call in calls]
    assert statuses == [200, 200, 200, 200, 200, 200]  # hjdz is granted here: every item is
    refused = _lookup(client, served, {}, person["GMSFHM"])
    assert refused.status_code == 401
    records = _records(db)
    assert len(records) == len(calls) + 1
    expected = [("lookup", "xm,csrq", 1, "ok"), ("page", "gmsfhm,xm,csrq,hjdz,xzqhdm", 4, "ok"),
                ("verify", "gmsfhm,xm", 0, "ok"), ("export", "gmsfhm,xm,csrq,hjdz,xzqhdm", 10, "ok"),
                ("preview", "gmsfhm,xm,csrq,hjdz,xzqhdm", 10, "ok"), ("lookup", "hjdz,xm", 1, "ok"),
                ("lookup", "", 0, "refused")]
    assert [(r.mode, r.items, r.row_count, r.result) for r in records] == expected
    for record in records[:-1]:
        assert record.at >= started.replace(microsecond=0) - timedelta(seconds=1)
        assert (record.department_id, record.provider_id, record.grant_id, record.entry_id, record.resource_code) == (
            world.ids["civil"], world.ids["police"], grant, served.entry_id, code)
        assert re.fullmatch(r"[0-9a-f]{64}", record.request_hash), record.request_hash
    assert {r.consumer_system_id for r in records[:4]} == {served.system_id}
    assert (records[4].consumer_system_id, records[4].user_id) == (None, world.ids["user:civil_requester"])
    assert records[0].request_hash != records[5].request_hash  # a different question, a different hash
    assert records[-1].reason == "not_authenticated"
    report = chain.verify(db)
    assert report.ok and report.records == len(records), report.problems


def test_r12_failing_source_is_recorded_as_an_error_and_nothing_is_served(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    (tmp_path / "police_source.db").unlink()  # the provider's database is gone
    (tmp_path / "police_source.db").mkdir()  # and its path is not a database
    response = _lookup(client, served, headers, served.rows[0]["GMSFHM"])
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "source_unavailable"
    record = _last_record(db)
    assert (record.result, record.reason, record.grant_id) == ("error", "source_unavailable", served.grant_id)


def test_r09_masking_of_a_grant_is_shown_and_set_by_the_provider(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    url = f"/api/v1/gateway/grants/{served.grant_id}/masking"
    shown = client.get(url, headers=world.headers("civil_requester"))
    assert shown.status_code == 200, shown.text
    assert shown.json()["effective"]["gmsfhm"] == {"rule": "keep:6:4", "label": "只显示前6位和后4位，其余以*遮盖",
                                                   "source": "default"}
    changed = client.put(url, json={"rules": {"gmsfhm": "keep:3:0", "xm": " hash"}},
                         headers=world.headers("police_reviewer"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["rules"] == {"gmsfhm": "keep:3:0", "xm": "hash"}
    assert changed.json()["effective"]["gmsfhm"]["source"] == "grant"
    person = served.rows[0]
    row = _lookup(client, served, _headers(client, served), person["GMSFHM"]).json()["rows"][0]
    assert row["gmsfhm"] == person["GMSFHM"][:3] + "*" * 15
    salt = masking.requester_salt(tokens.node_secret(client.app.state.settings), world.ids["civil"])
    assert row["xm"] == masking.python_masker(masking.parse_rule("hash"), salt)(person["XM"])
    with db.session() as s:
        assert any(n.event == "grant.masking_changed" for n in s.scalars(select(Notification)))
    for rules, field in (({"xm": "keep:a"}, "masking.xm"), ({"xm": "shuffle"}, "masking.xm"),
                         ({"nosuch": "hash"}, "masking.nosuch")):
        bad = client.put(url, json={"rules": rules}, headers=world.headers("police_reviewer"))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    assert client.get(url, headers=world.headers("police_reviewer")).json()["rules"] == {"gmsfhm": "keep:3:0",
                                                                                         "xm": "hash"}
    assert client.get(url, headers=world.headers("city_civil_manager")).status_code == 404


def test_r17_a_second_requester_department_gets_other_hashes(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    with db.session() as s:
        more_users(s, world)
        city = grant_for(s, world, served, "city_civil_requester")
    for grant in (served.grant_id, city.grant_id):
        _set_masking(db, world, grant, {"xm": "hash"})
    key = served.rows[0]["GMSFHM"]
    province = [_lookup(client, served, _headers(client, served), key).json()["rows"][0]["xm"] for _ in range(2)]
    city_headers = token_headers(client, city.client_id, city.secret)
    city_row = client.get(f"/api/v1/data/{served.resource_code}", headers=city_headers,
                          params={"grant": city.grant_id, "key": key})
    assert city_row.status_code == 200, city_row.text
    assert province[0] == province[1]  # stable for one requester
    assert city_row.json()["rows"][0]["xm"] != province[0]  # unlinkable between two


# ---------------------------------------------------------------- the routes of consumer systems (R18)


def test_r18_system_token_routes_refuse_every_wrong_caller(client, db, world, tmp_path):
    """Lookups, pages, verification and export take a consumer system's token only: no token is 401, a
    person's login token (even the requester's own) is 401, another system's token is 403; every one is
    on the record, and the grant's own system is served."""
    served = _served(db, world, tmp_path, rate_limit=1000)
    with db.session() as s:
        other, other_secret = consumer_system(s, world, "police_reviewer", "治安核查系统")
    code, grant, key = served.resource_code, served.grant_id, served.rows[0]["GMSFHM"]
    routes = {
        "lookup": lambda h: client.get(f"/api/v1/data/{code}", headers=h, params={"grant": grant, "key": key}),
        "page": lambda h: client.get(f"/api/v1/data/{code}/rows", headers=h, params={"grant": grant}),
        "verify": lambda h: client.post(f"/api/v1/data/{code}/verify", headers=h,
                                        json={"grant": grant, "fields": {"gmsfhm": key}}),
        "export": lambda h: client.post(f"/api/v1/data/{code}/export", headers=h, json={"grant": grant}),
    }
    for mode, send in routes.items():
        _refused(db, send({}), 401, "not_authenticated")
        for who in ("civil_requester", "police_reviewer", "admin", "auditor"):
            _refused(db, send(world.headers(who)), 401, "token_invalid")
        _refused(db, send(token_headers(client, other.client_id, other_secret)), 403, "wrong_system")
        allowed = send(_headers(client, served))
        assert allowed.status_code == 200, (mode, allowed.text)
        assert _last_record(db).result == "ok" and _last_record(db).mode == mode
    assert chain.verify(db).ok


def test_r09_lookup_parameters_are_checked_before_any_access(client, db, world, tmp_path):
    """The lookup route reads grant, key and items itself: a missing or malformed parameter is a 422 naming
    it, nothing is read and nothing is recorded; the API docs still list the three parameters."""
    served = _served(db, world, tmp_path)
    headers, url = _headers(client, served), f"/api/v1/data/{served.resource_code}"
    key = served.rows[0]["GMSFHM"]
    for params, field in (({"key": key}, "grant"), ({"grant": "abc", "key": key}, "grant"),
                          ({"grant": "1.5", "key": key}, "grant"), ({"grant": served.grant_id}, "key"),
                          ({"grant": served.grant_id, "key": ""}, "key")):
        bad = client.get(url, headers=headers, params=params)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, (params, bad.text)
    assert _records(db) == []
    ok = client.get(url, headers=headers, params={"grant": served.grant_id, "key": key, "items": "gmsfhm,xm"})
    assert ok.status_code == 200 and ok.json()["items"] == ["gmsfhm", "xm"]
    documented = client.get("/openapi.json").json()["paths"]["/api/v1/data/{code}"]["get"]["parameters"]
    assert {"grant", "key", "items"} <= {p["name"] for p in documented}
