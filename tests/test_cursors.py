"""Page cursors are the server's own (R09, R12): `GET /api/v1/data/{code}/rows?cursor=…` takes only a cursor the
server issued for that resource and that grant. Anything else (random text, a hand-made value, a cursor cut
short or altered, one issued for another grant or another resource) is a 422 naming `cursor`, refused
before the source is read; a genuine cursor resumes exactly after the last row of its page.

Every test runs on a SQL table and on a managed (Parquet) file, and on both platform databases."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from govshare.gateway import connect
from govshare.gateway.models import DataSource
from govshare.gateway.service import CURSOR_TAG_BYTES
from govshare.gateway.sources import FileSource, SqlSource
from govshare.search.index import registry
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from tests.authz_cases_issue3 import more_users
from tests.factories import published_entry, request_in
from tests.gateway_factories import (
    COLUMN_MAP,
    Served,
    grant_for,
    population_items,
    served_population,
    token_headers,
)

FAST = 1000  # calls per second: the tests call faster than a grant's default rate
PAGE = 4


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing the test entries need not build a search index (the gateway never searches)."""
    request.getfixturevalue("app")
    registry.detach(db.url)


@dataclass
class Paging:
    """One resource paged under two grants (of two departments), and a second resource of the same
    provider granted to the first department's system."""

    served: Served
    headers: dict
    other_grant: int
    other_grant_headers: dict
    other_code: str
    other_code_grant: int

    def page(self, client, cursor: str | None = None, *, code: str | None = None, grant: int | None = None,
             headers: dict | None = None, limit: int = PAGE):
        params = {"grant": grant or self.served.grant_id, "limit": limit, **({"cursor": cursor} if cursor else {})}
        return client.get(f"/api/v1/data/{code or self.served.resource_code}/rows", params=params,
                          headers=headers or self.headers)


def _csv(rows: list[dict]) -> bytes:
    lines = [",".join(COLUMN_MAP.values()), *(",".join(row[c] for c in COLUMN_MAP.values()) for row in rows)]
    return "\n".join(lines).encode()


def _second_resource(session, world, served: Served, kind: str) -> tuple[str, int]:
    """Another published entry of the same provider on the same rows, granted to the first system."""
    entry = published_entry(session, world, items=population_items(), name="人口基本信息（历史库）")
    if kind == "sql":
        source = session.scalars(select(DataSource).where(DataSource.entry_id == served.entry_id)).one()
        session.add(DataSource(entry_id=entry.id, kind="sql", location=source.location, table_name=source.table_name,
                               key_item="gmsfhm", column_map=COLUMN_MAP, status="connected",
                               row_count=len(served.rows)))
        session.flush()
    else:
        connect.connect_file(session, world.actors["police_manager"], entry.id, _csv(served.rows), "people.csv",
                             key_item="gmsfhm", column_map=COLUMN_MAP)
    request = sharing.create_request(session, world.actors["civil_requester"],
                                     request_in(entry, consumer_system_id=served.system_id), submit=True)
    sharing.reply(session, world.actors["police_reviewer"], request.id,
                  ReplyIn(decision="approve", reason="", rate_limit=FAST))
    return entry.resource_code, sharing.grant_of(session, request.id).id


@pytest.fixture(params=["sql", "file"])
def paging(request, client, db, world, tmp_path) -> Paging:
    kind = request.param
    with db.session() as s:
        served = served_population(s, world, tmp_path, count=15, rate_limit=FAST)
        if kind == "file":
            connect.connect_file(s, world.actors["police_manager"], served.entry_id, _csv(served.rows),
                                 "people.csv", key_item="gmsfhm", column_map=COLUMN_MAP)
        more_users(s, world)
        city = grant_for(s, world, served, "city_civil_requester", rate_limit=FAST)
        other_code, other_code_grant = _second_resource(s, world, served, kind)
    return Paging(served, token_headers(client, served.client_id, served.secret), city.grant_id,
                  token_headers(client, city.client_id, city.secret), other_code, other_code_grant)


def _rows(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def _walk(client, paging: Paging) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        response = paging.page(client, cursor)
        pages.append(_rows(response))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the pages never end"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_r09_a_genuine_cursor_resumes_right_after_its_page(client, paging):
    """Walking page by page gives every row once, in the order of one read of them all."""
    everything = _rows(paging.page(client, limit=100))
    assert len(everything) == len(paging.served.rows)
    pages = _walk(client, paging)
    assert [len(page) for page in pages[:-1]] == [PAGE] * (len(pages) - 1)
    assert [row for page in pages for row in page] == everything
    second = paging.page(client, paging.page(client).json()["next_cursor"])
    assert _rows(second) == everything[PAGE:2 * PAGE]


def _forgeries(client, paging: Paging) -> dict[str, str]:
    """Cursors the server did not issue for this resource and grant, by what is wrong with them."""
    genuine = paging.page(client).json()["next_cursor"]
    sealed = base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4))
    tag = sealed[:CURSOR_TAG_BYTES]
    huge = json.dumps(["i", 10**30]).encode()
    for_other_grant = paging.page(client, grant=paging.other_grant, headers=paging.other_grant_headers)
    for_other_resource = paging.page(client, code=paging.other_code, grant=paging.other_code_grant)
    return {
        "random base64": _b64(os.urandom(24)),
        "unsigned JSON with a huge integer": _b64(huge),
        "a huge integer behind a made-up tag": _b64(os.urandom(CURSOR_TAG_BYTES) + huge),
        "a genuine tag over another value": _b64(tag + huge),
        "a genuine cursor cut short": genuine[:-3],
        "a genuine cursor with a character changed": genuine[:-1] + ("A" if genuine[-1] != "A" else "B"),
        "not base64 at all": "%%%not-a-cursor%%%",
        "issued for another grant of this resource": for_other_grant.json()["next_cursor"],
        "issued for another resource": for_other_resource.json()["next_cursor"],
    }


def test_r09_cursors_the_server_did_not_issue_are_422_before_the_source_is_read(client, paging, monkeypatch):
    forged = _forgeries(client, paging)
    assert all(forged.values()), forged  # the other grant and resource did issue cursors
    reads = []
    for source in (SqlSource, FileSource):
        monkeypatch.setattr(source, "rows", lambda self, query, _read=source.rows: reads.append(query) or
                            _read(self, query))
    for what, cursor in forged.items():
        response = paging.page(client, cursor)
        assert response.status_code == 422, (what, response.text)
        error = response.json()["error"]
        assert error["field"] == "cursor" and error["code"] == "validation_failed", (what, error)
        assert "rows" not in response.json()
    assert reads == []  # refused before the source was read
    assert paging.page(client, forged["issued for another grant of this resource"],
                       grant=paging.other_grant, headers=paging.other_grant_headers).status_code == 200
    assert len(reads) == 1  # the same cursor still serves the grant it was issued for


def test_r09_a_cursor_stays_compact(client, paging):
    cursor = paging.page(client).json()["next_cursor"]
    assert len(cursor) <= 80, cursor  # an 18-character ID number or a row number, and a 128-bit tag
