"""R13 through the real gateway API: while a record is under an open objection (校核中), every gateway response
that serves it says so (`under_verification`, `objections`, `row_objections`, the export's X-Under-Verification
header), the record is served unchanged, the call is neither refused nor unrecorded on its account, and the
grant's row scope still decides what is served. Answering the objection lifts the flag."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from govshare.audit.models import UsageRecord
from govshare.gateway import service as gateway
from govshare.search.index import registry
from tests.gateway_factories import served_population, token_headers

SCOPE = {"item": "xzqhdm", "prefixes": ["340104"]}
EVIDENCE = "民政部门掌握的死亡证明编号 G340104202600123"


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """As in tests/test_gateway.py: publishing the test entry need not build a search index."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


# ---------------------------------------------------------------- helpers


def _served(db, world, tmp_path, *, key_shown: bool = True, **options):
    with db.session() as s:
        served = served_population(s, world, tmp_path, rate_limit=1000, **options)
    if key_shown:  # the key as stored, so that served rows can be told apart
        with db.session() as s:
            gateway.set_masking(s, world.actors["police_reviewer"], served.grant_id, {"gmsfhm": "none"})
    return served


def _headers(client, served) -> dict:
    return token_headers(client, served.client_id, served.secret)


def _file(client, world, served, key: str) -> int:
    response = client.post("/api/v1/objections", headers=world.headers("civil_requester"), json={
        "grant_id": served.grant_id, "key": key, "items": ["csrq"], "claimed": {"csrq": "1949-12-30"},
        "evidence": EVIDENCE})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    return response.json()["id"]


def _answer(client, world, objection_id: int, answer: str = "corrected") -> None:
    response = client.post(f"/api/v1/objections/{objection_id}/answer", headers=world.headers("police_reviewer"),
                           json={"answer": answer, "reason": "已在人口信息系统更正出生日期"})
    assert response.status_code == 200, response.text


def _lookup(client, served, headers, key):
    return client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                      params={"grant": served.grant_id, "key": key})


def _rows(client, served, headers, **params):
    return client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers,
                      params={"grant": served.grant_id, "limit": 1000, **params})


def _export(client, served, headers, **body):
    return client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                       json={"grant": served.grant_id, "format": "csv", "headers": "field", **body})


def _last_record(db) -> UsageRecord:
    with db.session() as s:
        return s.scalars(select(UsageRecord).order_by(UsageRecord.seq.desc())).first()


def _full_width(text: str) -> str:
    """ASCII digits and letters as an input method types them full-width (３４０…ｘ)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def _flags(body: dict) -> tuple:
    return body["under_verification"], body["objections"], body["row_objections"]


def _unflagged(body: dict) -> bool:
    """Nothing served is under verification: row_objections is empty (the entry has no open objection) or
    aligned with the rows and all null (it has, on other records)."""
    rows = body["row_objections"]
    return (body["under_verification"] is False and body["objections"] == []
            and len(rows) in (0, len(body["rows"])) and not any(rows))


# ---------------------------------------------------------------- lookup


def test_r13_a_lookup_of_a_record_under_verification_serves_it_unchanged_flagged_and_recorded(client, db, world,
                                                                                            tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    person, other = served.rows[4], served.rows[5]
    before = _lookup(client, served, headers, person["GMSFHM"])
    assert before.status_code == 200, before.text
    assert _flags(before.json()) == (False, [], [])

    objection_id = _file(client, world, served, person["GMSFHM"])
    flagged = _lookup(client, served, headers, person["GMSFHM"])
    assert flagged.status_code == 200, flagged.text
    body = flagged.json()
    assert body["rows"] == before.json()["rows"] and body["rows"][0]["gmsfhm"] == person["GMSFHM"]  # not hidden
    assert _flags(body) == (True, [objection_id], [objection_id])
    # the flagged call is on the record as any other
    assert isinstance(body["usage_record"], int) and not isinstance(body["usage_record"], bool)
    record = _last_record(db)
    assert (record.seq, record.mode, record.result, record.row_count, record.grant_id) == (
        body["usage_record"], "lookup", "ok", 1, served.grant_id)

    unrelated = _lookup(client, served, headers, other["GMSFHM"])
    assert unrelated.status_code == 200, unrelated.text
    assert _unflagged(unrelated.json()) and unrelated.json()["rows"][0]["gmsfhm"] == other["GMSFHM"]

    _answer(client, world, objection_id)
    after = _lookup(client, served, headers, person["GMSFHM"])
    assert after.status_code == 200, after.text
    assert after.json()["rows"] == before.json()["rows"]
    assert _flags(after.json()) == (False, [], [])


def test_r13_an_objection_filed_with_a_lower_case_x_flags_the_record_whose_key_ends_in_upper_x(client, db, world,
                                                                                             tmp_path):
    served = _served(db, world, tmp_path)
    person = next(r for r in served.rows if r["GMSFHM"].endswith("X"))  # people(30) holds one (34010420010321020X)
    objection_id = _file(client, world, served, " " + person["GMSFHM"].lower() + " ")
    shown = client.get(f"/api/v1/objections/{objection_id}", headers=world.headers("civil_requester"))
    assert shown.json()["record_key"] == person["GMSFHM"]  # stored as the gateway normalizes keys

    headers = _headers(client, served)
    found = _lookup(client, served, headers, person["GMSFHM"])
    assert found.status_code == 200, found.text
    assert _flags(found.json()) == (True, [objection_id], [objection_id])
    page = _rows(client, served, headers).json()
    flagged = [row["gmsfhm"] for row, flag in zip(page["rows"], page["row_objections"], strict=True) if flag]
    assert flagged == [person["GMSFHM"]] and page["objections"] == [objection_id]


def test_r13_a_lookup_typed_with_a_lower_case_x_is_flagged_like_the_record_it_finds(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    person = next(r for r in served.rows if r["GMSFHM"].endswith("X"))
    objection_id = _file(client, world, served, person["GMSFHM"])
    headers = _headers(client, served)
    found = _lookup(client, served, headers, person["GMSFHM"].lower())
    assert found.status_code == 200, found.text
    assert found.json()["rows"][0]["gmsfhm"] == person["GMSFHM"]  # the gateway found the 'X' record
    assert _flags(found.json()) == (True, [objection_id], [objection_id])


def test_r13_a_verification_typed_with_a_lower_case_x_is_flagged_like_the_record_it_finds(client, db, world,
                                                                                        tmp_path):
    served = _served(db, world, tmp_path)
    person = next(r for r in served.rows if r["GMSFHM"].endswith("X"))
    objection_id = _file(client, world, served, person["GMSFHM"])
    response = client.post(f"/api/v1/data/{served.resource_code}/verify", headers=_headers(client, served),
                           json={"grant": served.grant_id, "key": person["GMSFHM"].lower(),
                                 "fields": {"xm": person["XM"]}})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "match"  # the gateway found the 'X' record
    assert (response.json()["under_verification"], response.json()["objections"]) == (True, [objection_id])


def test_r13_an_objection_filed_with_a_full_width_id_number_flags_its_record(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    person = next(r for r in served.rows if r["GMSFHM"].endswith("X"))
    objection_id = _file(client, world, served, _full_width(person["GMSFHM"].lower()))
    headers = _headers(client, served)
    found = _lookup(client, served, headers, person["GMSFHM"])
    assert found.status_code == 200, found.text
    assert _flags(found.json()) == (True, [objection_id], [objection_id])


def test_r13_a_lookup_typed_full_width_is_flagged_like_the_record_it_finds(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    person = next(r for r in served.rows if r["GMSFHM"].endswith("X"))
    objection_id = _file(client, world, served, person["GMSFHM"])
    found = _lookup(client, served, _headers(client, served), _full_width(person["GMSFHM"].lower()))
    assert found.status_code == 200, found.text
    assert found.json()["rows"][0]["gmsfhm"] == person["GMSFHM"]  # the gateway found the half-width record
    assert _flags(found.json()) == (True, [objection_id], [objection_id])


# ---------------------------------------------------------------- pages and preview


def test_r13_a_page_flags_exactly_the_row_under_verification(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    ordered = sorted(r["GMSFHM"] for r in served.rows)
    clean = _rows(client, served, headers)
    assert clean.status_code == 200, clean.text
    assert _flags(clean.json()) == (False, [], [])  # no open objection: an empty list, not a list of nulls

    target = ordered[2]  # among the preview's first rows too
    objection_id = _file(client, world, served, target)
    page = _rows(client, served, headers)
    assert page.status_code == 200, page.text
    body = page.json()
    assert [row["gmsfhm"] for row in body["rows"]] == ordered  # every row served, the flagged one included
    assert body["rows"] == clean.json()["rows"]
    assert body["row_objections"] == [objection_id if key == target else None for key in ordered]
    assert (body["under_verification"], body["objections"]) == (True, [objection_id])
    assert isinstance(body["usage_record"], int) and _last_record(db).seq == body["usage_record"]

    # a page without the record: nothing flagged
    beyond = _rows(client, served, headers, filter=[f"gmsfhm:{ordered[5]}"]).json()
    assert [row["gmsfhm"] for row in beyond["rows"]] == [ordered[5]]
    assert _unflagged(beyond)

    preview = client.get(f"/api/v1/data/{served.resource_code}/preview", params={"grant": served.grant_id},
                         headers=world.headers("civil_requester"))
    assert preview.status_code == 200, preview.text
    shown = [row["gmsfhm"] for row in preview.json()["rows"]]
    assert shown == ordered[:len(shown)] and target in shown
    assert preview.json()["row_objections"] == [objection_id if key == target else None for key in shown]
    assert preview.json()["under_verification"] is True


# ---------------------------------------------------------------- verify


def test_r13_verify_by_key_flags_the_record_and_still_gives_the_verdict(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    person, other = served.rows[7], served.rows[8]
    objection_id = _file(client, world, served, person["GMSFHM"])
    url = f"/api/v1/data/{served.resource_code}/verify"

    def verify(fields: dict, key: str | None = None):
        response = client.post(url, headers=headers, json={"grant": served.grant_id, "fields": fields,
                                                           **({"key": key} if key else {})})
        assert response.status_code == 200, response.text
        return response.json()

    match = verify({"xm": person["XM"], "csrq": person["CSRQ"]}, key=person["GMSFHM"])
    assert (match["result"], match["under_verification"], match["objections"]) == ("match", True, [objection_id])
    assert "rows" not in match and "row_objections" not in match  # a verification returns no data
    assert isinstance(match["usage_record"], int) and _last_record(db).seq == match["usage_record"]
    no_match = verify({"xm": "李某某"}, key=person["GMSFHM"])
    assert (no_match["result"], no_match["under_verification"], no_match["objections"]) == (
        "no_match", True, [objection_id])
    by_field = verify({"gmsfhm": person["GMSFHM"], "xm": person["XM"]})  # the key among the fields
    assert (by_field["result"], by_field["objections"]) == ("match", [objection_id])

    unflagged = verify({"xm": other["XM"]}, key=other["GMSFHM"])
    assert (unflagged["result"], unflagged["under_verification"], unflagged["objections"]) == ("match", False, [])
    missing = verify({"xm": person["XM"]}, key="110101190001010000")
    assert (missing["result"], missing["under_verification"]) == ("not_found", False)


# ---------------------------------------------------------------- export


def test_r13_export_names_the_objections_of_the_exported_records_only(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = _headers(client, served)
    inside = next(r for r in served.rows if r["XZQH"] == "340104")
    elsewhere = next(r for r in served.rows if r["XZQH"] == "340102")
    clean = _export(client, served, headers)
    assert clean.status_code == 200, clean.text
    assert clean.headers["X-Under-Verification"] == ""

    first = _file(client, world, served, inside["GMSFHM"])
    everything = _export(client, served, headers)
    assert everything.status_code == 200, everything.text
    assert everything.headers["X-Under-Verification"] == str(first)
    lines = everything.content.decode("utf-8-sig").splitlines()
    assert len(lines) - 1 == int(everything.headers["X-Row-Count"]) == len(served.rows)  # nothing hidden
    assert any(line.startswith(inside["GMSFHM"] + ",") for line in lines[1:])
    record = _last_record(db)
    assert (str(record.seq), record.mode, record.result) == (everything.headers["X-Usage-Record"], "export", "ok")

    second = _file(client, world, served, elsewhere["GMSFHM"])
    both = _export(client, served, headers)
    assert both.headers["X-Under-Verification"] == f"{first},{second}"
    only_inside = _export(client, served, headers, filters={"xzqhdm": "340104"})
    assert only_inside.status_code == 200, only_inside.text
    assert only_inside.headers["X-Under-Verification"] == str(first)
    assert int(only_inside.headers["X-Row-Count"]) == sum(r["XZQH"] == "340104" for r in served.rows)

    _answer(client, world, first, "confirmed")
    excluded = _export(client, served, headers, filters={"xzqhdm": "340104"})  # its only objection answered
    assert excluded.status_code == 200, excluded.text
    assert excluded.headers["X-Under-Verification"] == ""
    assert int(excluded.headers["X-Row-Count"]) > 0
    assert _export(client, served, headers, filters={"xzqhdm": "340102"}).headers["X-Under-Verification"] == str(
        second)
    assert _export(client, served, headers, filters={"gmsfhm": inside["GMSFHM"]}).headers[
        "X-Under-Verification"] == ""


# ---------------------------------------------------------------- the row scope still decides


def test_r13_an_objection_outside_the_row_scope_makes_nothing_visible(client, db, world, tmp_path):
    served = _served(db, world, tmp_path, scope=SCOPE)
    headers = _headers(client, served)
    outside = next(r for r in served.rows if not r["XZQH"].startswith("340104"))
    inside = next(r for r in served.rows if r["XZQH"].startswith("340104"))
    outside_id = _file(client, world, served, outside["GMSFHM"])

    refused = _lookup(client, served, headers, outside["GMSFHM"])
    assert refused.status_code == 403, refused.text
    assert set(refused.json()) == {"error"}  # no rows and no flag of the record
    assert refused.json()["error"]["code"] == "row_out_of_scope"
    record = _last_record(db)
    assert (record.result, record.reason, record.row_count) == ("refused", "row_out_of_scope", 0)

    page = _rows(client, served, headers).json()
    keys = [row["gmsfhm"] for row in page["rows"]]
    assert outside["GMSFHM"] not in keys and keys
    assert all(key[:6] == "340104" for key in keys)
    assert _unflagged(page)
    export = _export(client, served, headers)
    assert export.status_code == 200, export.text
    assert export.headers["X-Under-Verification"] == ""  # the export does not hold it, so does not name it
    assert outside["GMSFHM"] not in export.text

    inside_id = _file(client, world, served, inside["GMSFHM"])
    flagged = _lookup(client, served, headers, inside["GMSFHM"])
    assert _flags(flagged.json()) == (True, [inside_id], [inside_id])
    assert _export(client, served, headers).headers["X-Under-Verification"] == str(inside_id)
    assert outside_id not in _rows(client, served, headers).json()["objections"]
