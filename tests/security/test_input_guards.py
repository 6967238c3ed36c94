"""Input no database can store is refused at the door as a 422 naming the field (govshare.nul_guard,
orgs.systems), never a 500 and never a half-written record, on SQLite and on PostgreSQL alike.

Already proved elsewhere, not repeated: tests/test_errors.py — a NUL in a JSON body, a query string and a page
form, and an escaped backslash before u0000 being text; tests/security/test_row_scope.py — the gateway itself
refusing NUL and surrogate filters and keys from in-process callers, on the record.

Here: a lone UTF-16 surrogate (as a `\\ud800` escape or as the raw UTF-8 bytes json.loads reads with
surrogatepass) in the bodies and query strings of the data routes — it made the usage record's hash fail, a 500
with no record — and in a page form; a body sent as application/…+json, which FastAPI reads as JSON too; valid
surrogate pairs and escaped backslashes, which are text and pass; a consumer system's name and description over their
columns' lengths (a 500 on PostgreSQL, stored on SQLite), through the API, the page and the service."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from govshare.audit.models import UsageRecord
from govshare.errors import ValidationFailed
from govshare.nul_guard import unpaired_surrogate_escape
from govshare.orgs import systems
from govshare.orgs.models import ConsumerSystem
from govshare.search.index import registry
from tests.gateway_factories import served_population, token_headers
from tests.web_helpers import token


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing the test entry need not build a search index (most of a test's setup time otherwise)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


@pytest.fixture
def served(db, world, tmp_path):
    with db.session() as s:
        return served_population(s, world, tmp_path, count=6, rate_limit=1000)


def _record_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(UsageRecord))


def _raw_json(client, url: str, body: str | bytes, headers: dict, content_type: str = "application/json"):
    """A JSON body sent as it is written: the test client would fail to encode a lone surrogate itself."""
    content = body.encode() if isinstance(body, str) else body
    return client.post(url, content=content, headers={**headers, "Content-Type": content_type})


def _unstorable(response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_failed", field), error
    assert "无法存储的字符" in error["message"] and field in error["message"]


# ---------------------------------------------------------------- lone surrogates


def test_r12_a_lone_surrogate_in_a_data_call_body_is_a_422_not_a_500_without_a_record(client, db, served):
    """`"x\\ud800"` decodes to a lone surrogate, which cannot be encoded as UTF-8: the usage record's hash
    failed on it (a 500, no record). Refused at the door: no data read, nothing recorded, and the record chain
    goes on with the next call."""
    headers = token_headers(client, served.client_id, served.secret)
    code, grant = served.resource_code, served.grant_id
    export, verify = f"/api/v1/data/{code}/export", f"/api/v1/data/{code}/verify"
    before = _record_count(db)
    cases = [
        (export, f'{{"grant": {grant}, "format": "csv", "items": ["x\\ud800"]}}', "items.0"),
        (export, f'{{"grant": {grant}, "format": "csv", "items": ["gmsfhm", "\\uDFFF"]}}', "items.1"),
        (export, f'{{"grant": {grant}, "format": "csv", "items": ["\\ud83d\\ud83d\\ude00"]}}', "items.0"),
        (export, f'{{"grant": {grant}, "format": "csv", "filters": {{"xm": "王\\udc00"}}}}', "filters.xm"),
        (export, f'{{"grant": {grant}, "format": "csv", "filters": {{"x\\ud800": "王"}}}}', "filters"),
        (verify, f'{{"grant": {grant}, "fields": {{"gmsfhm": "\\ud800"}}}}', "fields.gmsfhm"),
        (verify, f'{{"grant": {grant}, "key": "\\ud800abc", "fields": {{"xm": "王"}}}}', "key"),
    ]
    for url, body, field in cases:
        _unstorable(_raw_json(client, url, body, headers), field)
    # the UTF-8 bytes of a surrogate (json.loads reads them with surrogatepass), and a body in UTF-16
    raw = f'{{"grant": {grant}, "format": "csv", "items": ["x'.encode() + b"\xed\xa0\x80" + b'"]}'
    _unstorable(_raw_json(client, export, raw, headers), "items.0")
    utf16 = json.dumps({"grant": grant, "format": "csv", "items": ["x\ud800"]}).encode("utf-16")
    _unstorable(_raw_json(client, export, utf16, headers), "items.0")
    # application/…+json is read as JSON by FastAPI: the door reads it too
    body = f'{{"grant": {grant}, "format": "csv", "items": ["x\\ud800"]}}'
    _unstorable(_raw_json(client, export, body, headers, "application/vnd.govshare+json"), "items.0")
    assert _record_count(db) == before
    ok = client.post(export, headers=headers, json={"grant": grant, "format": "csv", "items": ["gmsfhm"]})
    assert ok.status_code == 200 and int(ok.headers["X-Usage-Record"]) > 0, ok.text
    assert _record_count(db) == before + 1
    # not refused at the door: a valid pair is one character (an emoji, a rare name character of CJK Extension
    # B) and `\\ud800` is a backslash and text; the gateway judges them as any unknown item, on the record
    for item in ("\\ud840\\udc00", "x\\\\ud800", "\\ud83d\\ude00"):
        before = _record_count(db)
        response = _raw_json(client, export, f'{{"grant": {grant}, "format": "csv", "items": ["{item}"]}}', headers)
        assert 400 <= response.status_code < 500 and "无法存储" not in response.text, (item, response.text)
        assert _record_count(db) == before + 1, item


def test_r12_a_surrogate_in_a_data_query_string_is_refused_or_harmless(client, db, served):
    """A query string is decoded as UTF-8 with replacement: percent-encoded surrogate bytes become U+FFFD and
    reach the gateway as text (judged and recorded). An unpaired `\\ud800`-style escape in a value is refused
    at the door like one in a JSON body, since some values are JSON a route decodes later."""
    headers = token_headers(client, served.client_id, served.secret)
    rows = f"/api/v1/data/{served.resource_code}/rows"
    lookup = f"/api/v1/data/{served.resource_code}"
    before = _record_count(db)
    for url, params, field in (
        (rows, {"grant": served.grant_id, "items": "gmsfhm,x\\ud800"}, "items"),
        (rows, {"grant": served.grant_id, "filter": "xm:\\udfff"}, "filter"),
        (lookup, {"grant": served.grant_id, "key": "\\ud800"}, "key"),
    ):
        _unstorable(client.get(url, headers=headers, params=params), field)
    encoded_u = client.get(f"{rows}?grant={served.grant_id}&items=gmsfhm,x%5C%75d800", headers=headers)
    _unstorable(encoded_u, "items")  # any character may be percent-encoded: the decoded value is judged
    assert _record_count(db) == before
    replaced = client.get(f"{rows}?grant={served.grant_id}&items=gmsfhm,x%ED%A0%80", headers=headers)
    assert 400 <= replaced.status_code < 500 and "无法存储" not in replaced.text, replaced.text
    assert _record_count(db) == before + 1


def test_r12_a_lone_surrogate_escape_in_a_page_form_is_a_chinese_error_page(client, db, world, as_user):
    page = as_user("civil_requester")
    response = page.post("/sharing/systems", data={"csrf_token": token(page), "name": "低保\\ud800系统"})
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert "无法存储的字符" in response.text and "name" in response.text and "Traceback" not in response.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ConsumerSystem)) == 0


@pytest.mark.parametrize("text, lone", [
    ("x\\ud800", True), ("\\udc00", True), ("\\ud83d x\\ude00", True), ("\\ud83d\\ud83d\\ude00", True),
    ("\\uD800", True), ("\\ud83d\\ude00", False), ("\\\\ud800", False), ("\\\\\\ud800", True),
    ("\\u4e2d\\u6587", False), ("C:\\new\\u", False), ("普通文字", False),
])
def test_r12_unpaired_surrogate_escapes_are_told_from_pairs_and_text(text, lone):
    assert unpaired_surrogate_escape(text) is lone


# ---------------------------------------------------------------- lengths of a consumer system


def _system_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ConsumerSystem))


def test_r09_a_system_name_or_description_over_the_column_is_a_422_on_every_database(client, db, world, as_user):
    """VARCHAR(120) and VARCHAR(500): PostgreSQL refused a longer value as a 500, SQLite stored it. The API's
    schema had the limits, the page and the CLI had none; the service now checks them for every caller."""
    assert (systems.NAME_LENGTH, systems.DESCRIPTION_LENGTH) == (120, 500)
    long_name, long_description = "低" * 121, "用" * 501
    api = client.post("/api/v1/sharing/systems", json={"name": long_name}, headers=world.headers("civil_requester"))
    assert api.status_code == 422 and api.json()["error"]["field"] == "name", api.text
    page = as_user("civil_requester")
    for data, field, words in (({"name": long_name}, "name", "最多 120 个字符"),
                               ({"name": f"  {long_name}  "}, "name", "当前 121 个"),
                               ({"name": "低保审核系统", "description": long_description}, "description",
                                "最多 500 个字符")):
        response = page.post("/sharing/systems", data={"csrf_token": token(page), **data})
        assert response.status_code == 422, (field, response.text[:300])
        assert words in response.text and "Traceback" not in response.text, field
    assert _system_count(db) == 0
    with db.session() as s:
        for name, description, field in ((long_name, "", "name"), ("低保审核系统", long_description, "description")):
            with pytest.raises(ValidationFailed) as refused:
                systems.register_system(s, world.actors["civil_requester"], name, description)
            assert refused.value.field == field
    # exactly at the limits: stored on both databases (PostgreSQL would refuse one more character)
    full = page.post("/sharing/systems", data={"csrf_token": token(page), "name": "低" * 120,
                                               "description": "用" * 500})
    assert full.status_code == 201, full.text[:300]
    with db.session() as s:
        stored = s.scalars(select(ConsumerSystem)).one()
        assert (len(stored.name), len(stored.description)) == (120, 500)


def test_r09_a_lone_surrogate_in_an_uploads_column_map_is_a_422_not_a_500(client, db, world):
    """Multipart uploads are not read by the edge guard (they may be a gigabyte): the column map they carry
    is checked where it is used, so a lone surrogate is a 422 naming column_map, not a 500."""
    from tests.factories import published_entry
    from tests.gateway_factories import population_items

    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
    response = client.post("/api/v1/sources/file", headers=world.headers("police_manager"),
                           files={"file": ("a.csv", "GMSFHM,XM\n1,张三\n".encode(), "text/csv")},
                           data={"entry_id": str(entry_id), "key_item": "gmsfhm",
                                 "column_map": '{"gmsfhm": "\\ud800"}'})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "column_map"
