"""Filters never touch masked or withheld items (R09, R12, R17; issue 12, hole 6). An equality filter on an
item the grant serves masked would confirm its hidden value row by row: a birth date masked to the year, a
withheld address, the masked digits of an ID number, a hashed name. A filter may name only items the grant
serves as stored; the others are refused (`filter_on_masked_item`, naming the items) and recorded, through
the API's pages and exports and through the gateway function alike. Key lookups and verification, the ways
of reading a record whose key or values the caller already knows, are unchanged."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from govshare.audit import service as audit
from govshare.audit.models import UsageRecord
from govshare.gateway import service as gateway
from govshare.gateway import tokens
from govshare.gateway.service import Call, Caller, Mode, Refused
from govshare.search.index import registry
from govshare.sharing.models import Grant
from tests.gateway_factories import served_population, token_headers

# item -> (the grant's rule for it in these tests, the source column whose value the filter would confirm)
HIDDEN = {
    "csrq": ("year", "CSRQ"),          # 出生日期 masked to the year (the default of a birth date)
    "hjdz": ("null", "HJDZ"),          # 户籍地址 withheld by the grant
    "gmsfhm": ("keep:6:4", "GMSFHM"),  # 公民身份号码 with its middle digits starred (the default of an ID number)
    "xm": ("hash", "XM"),              # 姓名 hashed
}
LABELS = {"year": "只显示年份", "null": "不提供", "keep:6:4": "只显示前6位和后4位，其余以*遮盖",
          "hash": "替换为不可还原的编码"}


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing the test entry need not build a search index (as in tests/test_gateway.py)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


def _served(db, world, tmp_path, **options):
    with db.session() as s:
        served = served_population(s, world, tmp_path, count=30, rate_limit=1000, **options)
    with db.session() as s:
        gateway.set_masking(s, world.actors["police_reviewer"], served.grant_id, {"hjdz": "null", "xm": "hash"})
    return served


def _last_record(db) -> UsageRecord:
    with db.session() as s:
        return s.scalars(select(UsageRecord).order_by(UsageRecord.seq.desc()).limit(1)).one()


def _page(client, served, headers, *filters: str, **params):
    return client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers,
                      params={"grant": served.grant_id, "filter": list(filters), **params})


def _export(client, served, headers, filters: dict):
    return client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                       json={"grant": served.grant_id, "format": "parquet", "filters": filters})


def _assert_recorded(db, grant_id: int) -> None:
    record = _last_record(db)
    assert (record.result, record.reason, record.row_count, record.grant_id) == (
        "refused", "filter_on_masked_item", 0, grant_id)


@pytest.mark.parametrize("route", ["page", "export", "gateway"])
@pytest.mark.parametrize("item", list(HIDDEN))
def test_r17_r12_filter_on_a_masked_or_withheld_item_is_refused_and_recorded(client, db, world, tmp_path, item,
                                                                             route):
    served = _served(db, world, tmp_path)
    rule, column = HIDDEN[item]
    person = served.rows[7]
    value = person[column]  # the true value: a filter would confirm it
    if route == "gateway":
        with db.session() as s:
            token, _ = tokens.issue_token(s, served.client_id, served.secret)
        with pytest.raises(Refused) as refused:
            gateway.access(db, Caller(token=token), Call(Mode.PAGE, served.resource_code, served.grant_id,
                                                         filters=((item, value),)))
        error = {"code": refused.value.code, "field": refused.value.field, "message": refused.value.message}
    else:
        headers = token_headers(client, served.client_id, served.secret)
        response = (_page(client, served, headers, f"{item}:{value}") if route == "page"
                    else _export(client, served, headers, {item: value}))
        assert response.status_code == 403, response.text
        assert set(response.json()) == {"error"}  # no rows, no file
        error = response.json()["error"]
    assert (error["code"], error["field"]) == ("filter_on_masked_item", "filter"), error
    assert f"{item}（{LABELS[rule]}）" in error["message"], error["message"]
    assert value not in error["message"]
    _assert_recorded(db, served.grant_id)


def test_r17_filters_on_items_served_as_stored_still_work(client, db, world, tmp_path):
    served = _served(db, world, tmp_path)
    headers = token_headers(client, served.client_id, served.secret)
    district = [r for r in served.rows if r["XZQH"] == "340104"]
    page = _page(client, served, headers, "xzqhdm:340104", limit=1000)
    assert page.status_code == 200, page.text
    assert len(page.json()["rows"]) == len(district) == 10
    assert {r["xzqhdm"] for r in page.json()["rows"]} == {"340104"}
    exported = _export(client, served, headers, {"xzqhdm": "340104"})
    assert exported.status_code == 200, exported.text
    assert len(pq.read_table(io.BytesIO(exported.content))) == 10
    assert (_last_record(db).result, _last_record(db).row_count) == ("ok", 10)

    # a plain item among masked ones: the masked ones are named, the plain one is not
    person = district[0]
    mixed = _page(client, served, headers, "xzqhdm:340104", f"csrq:{person['CSRQ']}", f"hjdz:{person['HJDZ']}")
    message = mixed.json()["error"]["message"]
    assert mixed.status_code == 403 and "csrq（只显示年份）、hjdz（不提供）" in message and "xzqhdm" not in message

    # a grant that serves the ID number as stored may filter by it
    with db.session() as s:
        gateway.set_masking(s, world.actors["police_reviewer"], served.grant_id, {"gmsfhm": "none"})
    person = district[2]
    by_id = _page(client, served, headers, f"gmsfhm:{person['GMSFHM']}", items="gmsfhm,csrq")
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["rows"] == [{"gmsfhm": person["GMSFHM"], "csrq": person["CSRQ"][:4]}]


def test_r09_r17_lookups_and_verification_by_masked_items_are_unchanged(client, db, world, tmp_path):
    """The key item is masked (公民身份号码 keep:6:4) and the birth date too: looking a record up by its key,
    or verifying a birth date, is how a caller who knows them reads or checks the record."""
    served = _served(db, world, tmp_path)
    headers = token_headers(client, served.client_id, served.secret)
    person = served.rows[3]
    found = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                       params={"grant": served.grant_id, "key": person["GMSFHM"], "items": "gmsfhm,csrq"})
    assert found.status_code == 200, found.text
    assert found.json()["rows"] == [{"gmsfhm": person["GMSFHM"][:6] + "*" * 8 + person["GMSFHM"][-4:],
                                     "csrq": person["CSRQ"][:4]}]
    for birth, verdict in ((person["CSRQ"], "match"), ("1900-01-01", "no_match")):
        checked = client.post(f"/api/v1/data/{served.resource_code}/verify", headers=headers, json={
            "grant": served.grant_id, "fields": {"gmsfhm": person["GMSFHM"], "csrq": birth}})
        assert checked.status_code == 200 and checked.json()["result"] == verdict, checked.text


def test_r09_r17_a_masked_scope_item_is_no_filter_and_out_of_scope_values_still_count(client, db, world, tmp_path,
                                                                                       settings):
    """The scope item masked by the grant (xzqhdm kept to its first 4 digits): a value inside the scope is
    refused as a filter on a masked item (it would confirm the hidden digits); a value outside the scope is
    first an attempt outside the grant (row_out_of_scope, counting toward suspension)."""
    served = _served(db, world, tmp_path, scope={"item": "xzqhdm", "prefixes": ["340104"]})
    with db.session() as s:
        gateway.set_masking(s, world.actors["police_reviewer"], served.grant_id, {"xzqhdm": "keep:4:0"})
    headers = token_headers(client, served.client_id, served.secret)
    inside = _page(client, served, headers, "xzqhdm:340104")
    assert inside.status_code == 403 and inside.json()["error"]["code"] == "filter_on_masked_item", inside.text
    _assert_recorded(db, served.grant_id)
    outside = _page(client, served, headers, "xzqhdm:340102")
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "row_out_of_scope", outside.text
    assert (_last_record(db).result, _last_record(db).reason) == ("refused", "row_out_of_scope")
    unfiltered = _page(client, served, headers, limit=1000)
    assert unfiltered.status_code == 200 and len(unfiltered.json()["rows"]) == 10
    assert {r["xzqhdm"] for r in unfiltered.json()["rows"]} == {"3401**"}


def test_r09_filters_on_masked_items_are_refused_each_time_without_suspending(client, db, world, tmp_path, settings):
    """Like selecting by a 核心 item, filtering by a masked item is a wrong way of using the grant, refused
    before any read (nothing is confirmed, whatever the value): each attempt is on the record, and the
    grant stays active."""
    served = _served(db, world, tmp_path)
    headers = token_headers(client, served.client_id, served.secret)
    person = served.rows[0]
    for n in range(settings.suspend_after_refusals + 2):
        response = _page(client, served, headers, f"csrq:{person['CSRQ']}" if n % 2 else f"hjdz:{person['HJDZ']}")
        assert response.status_code == 403, response.text
        _assert_recorded(db, served.grant_id)
    with db.session() as s:
        assert s.get(Grant, served.grant_id).status == "active"
        # the provider sees the refusals on its usage records, with their reason in Chinese
        shown = audit.list_records(s, world.actors["police_reviewer"], audit.Filters(grant_id=served.grant_id))
    assert [r["reason_label"] for r in shown] == ["按脱敏信息项筛选"] * (settings.suspend_after_refusals + 2)
    assert _page(client, served, headers, "xzqhdm:340104").status_code == 200
