"""Row scope means the same everywhere (R09, R12; issue 12, hole 5): a grant scoped to the prefix `AB` covers
exactly the rows whose scope item starts with the bytes `AB`, on a SQL table (on SQLite, whose LIKE ignores
ASCII case, and on PostgreSQL) and on a managed file (DuckDB), through pages, exports, previews, key lookups
and verification alike. Tricks in filter values and lookup keys (empty, `%`, `_`, `*`, full-width
characters, spaces, NUL, zero-width characters, SQL fragments) are refused, or served only in scope; every
refusal is on the usage record.

The SQL sources are a provider's own SQLite file and a PostgreSQL database of its own on the test server (when
GOVSHARE_TEST_DATABASE_URL is set; never the node's database, which the gateway refuses to serve)."""

from __future__ import annotations

import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, select, text

from govshare.audit.models import UsageRecord
from govshare.config import Settings
from govshare.errors import ValidationFailed
from govshare.gateway import connect, tokens
from govshare.gateway import service as gateway
from govshare.gateway.service import Call, Caller, Mode
from govshare.search.index import registry
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database
from tests.gateway_factories import COLUMN_MAP, people, served_population, sql_table, token_headers

# the scope item's value (xzqhdm, source column XZQH) of each test row, by the row's position
SCOPE_VALUES = [
    "AB001",        # 0  in scope of AB
    "ab004",        # 1  lower case: outside
    "Ab005",        # 2  mixed case: outside
    "ABX",          # 3  in
    "A%B06",        # 4  a LIKE wildcard after A: outside AB, inside A%
    "A_B07",        # 5  outside AB, inside A_
    "AB%08",        # 6  in
    "AB_09",        # 7  in
    "ＡＢ010",       # 8  full-width letters: outside
    "AB\u200b11",   # 9  zero-width space after AB: in (it starts with the bytes AB)
    "\u200bAB12",   # 10 zero-width space first: outside
    " AB13",        # 11 a leading space: outside
    "aB14",         # 12 outside
    "AB",           # 13 the prefix itself: in
    None,           # 14 no value: outside
    "a_b17",        # 15 outside AB; outside A_ (case)
    "a%b18",        # 16 outside A% (case)
    "AB００１9",     # 17 full-width digits after AB: in
]
SCOPES = {"AB": ("AB",), "wildcards": ("A%", "A_")}
SOURCES = ["sqlite", "postgresql", "file"]
# the scope column declared case-insensitive by the provider: SQLite NOCASE, a nondeterministic ICU collation
# on PostgreSQL (on which LIKE fails outright unless the gateway compares under an exact collation)
CASE_INSENSITIVE = ["sqlite-nocase", "postgresql-nocase"]


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    """Out-of-scope attempts are the point of these tests: the grant must not be suspended midway."""
    return Settings(database_url=db_url, data_dir=tmp_path / "var", suspend_after_refusals=10_000)


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing the test entry need not build a search index (as in tests/test_gateway.py)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


@pytest.fixture(scope="module")
def postgresql_source():
    """A PostgreSQL database of the provider's (one per module; each test makes its own table in it)."""
    if not PG_URL:
        pytest.skip("GOVSHARE_TEST_DATABASE_URL is unset: no PostgreSQL source")
    url, name = _create_pg_database()
    yield url
    _drop_pg_database(name)


@pytest.fixture
def source_url(request, tmp_path):
    """Where the provider's table is made: a SQLite file of its own, or its PostgreSQL database."""
    def made(source: str) -> str:
        if source == "postgresql":
            return request.getfixturevalue("postgresql_source")
        return f"sqlite:///{tmp_path / f'provider-{uuid.uuid4().hex[:8]}.db'}"

    return made


def _rows() -> list[dict]:
    rows = people(len(SCOPE_VALUES), seed=12)
    for row, value in zip(rows, SCOPE_VALUES, strict=True):
        row["XZQH"] = value
    return rows


def _parquet(rows: list[dict]) -> bytes:
    columns = list(COLUMN_MAP.values())
    buffer = io.BytesIO()
    pq.write_table(pa.table({c: pa.array([r[c] for r in rows], type=pa.string()) for c in columns}), buffer)
    return buffer.getvalue()


def _scoped(db, world, tmp_path, source_url, source: str, prefixes: tuple[str, ...]):
    """The population entry on `source` (a table of a SQLite file or of a PostgreSQL database, or a managed
    Parquet file), a grant scoped to `prefixes` of xzqhdm, and the key shown as stored (to tell rows apart)."""
    rows = _rows()
    table = f"rk_scope_{uuid.uuid4().hex[:8]}"
    database = source_url("sqlite" if source == "file" else source.removesuffix("-nocase"))
    url = (_case_insensitive_table if source.endswith("-nocase") else sql_table)(database, rows, table=table)
    with db.session() as s:
        served = served_population(s, world, tmp_path, rows=rows, source_url=url, table=table, rate_limit=10_000,
                                   scope={"item": "xzqhdm", "prefixes": list(prefixes)})
    if source == "file":
        with db.session() as s:
            connect.connect_file(s, world.actors["police_manager"], served.entry_id, _parquet(rows), "people.parquet",
                                 key_item="gmsfhm", column_map=COLUMN_MAP)
    with db.session() as s:
        gateway.set_masking(s, world.actors["police_reviewer"], served.grant_id, {"gmsfhm": "none"})
    return served


def _case_insensitive_table(url: str, rows: list[dict], table: str) -> str:
    """sql_table's table with the scope column (XZQH) declared case-insensitive."""
    engine = create_engine(url)
    with engine.begin() as conn:
        collation = "NOCASE"
        if engine.dialect.name == "postgresql":
            conn.execute(text("CREATE COLLATION IF NOT EXISTS case_insensitive "
                              "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"))
            collation = "case_insensitive"
        conn.execute(text(f'CREATE TABLE "{table}" ("GMSFHM" TEXT PRIMARY KEY, "XM" TEXT, "CSRQ" TEXT, "HJDZ" TEXT, '
                          f'"XZQH" TEXT COLLATE {collation})'))
        conn.execute(text(f'INSERT INTO "{table}" VALUES (:GMSFHM, :XM, :CSRQ, :HJDZ, :XZQH)'), rows)
    engine.dispose()
    return url


def _in_scope(served, prefixes) -> dict[str, str]:
    """Key -> scope value of the rows the grant covers: those whose value starts with a prefix, byte for byte."""
    return {r["GMSFHM"]: r["XZQH"] for r in served.rows if r["XZQH"] is not None and r["XZQH"].startswith(prefixes)}


def _last_record(db) -> UsageRecord:
    with db.session() as s:
        return s.scalars(select(UsageRecord).order_by(UsageRecord.seq.desc()).limit(1)).one()


def _record_count(db) -> int:
    with db.session() as s:
        return len(s.scalars(select(UsageRecord.seq)).all())


def _token(db, served) -> str:
    with db.session() as s:
        return tokens.issue_token(s, served.client_id, served.secret)[0]


def _refused_by_gateway(db, token: str, call: Call, field: str) -> None:
    """The gateway function refuses the call as bad input naming `field`, and the refusal is on the record."""
    before = _record_count(db)
    with pytest.raises(ValidationFailed) as refused:
        gateway.access(db, Caller(token=token), call)
    assert refused.value.field == field, (call, refused.value.message)
    assert _record_count(db) == before + 1
    record = _last_record(db)
    assert (record.result, record.reason, record.row_count, record.grant_id) == (
        "refused", "validation_failed", 0, call.grant_id)


def _walk(client, served, headers, **params) -> list[dict]:
    rows, cursor = [], None
    for _ in range(50):
        query = {"grant": served.grant_id, **params, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/data/{served.resource_code}/rows", headers=headers, params=query)
        assert response.status_code == 200, response.text
        rows += response.json()["rows"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("the pages never end")


def _exported(client, served, headers, **body) -> list[dict]:
    response = client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                           json={"grant": served.grant_id, "format": "parquet", **body})
    assert response.status_code == 200, response.text
    exported = pq.read_table(io.BytesIO(response.content)).to_pylist()
    assert int(response.headers["X-Row-Count"]) == len(exported)
    return exported


def _refused(db, response, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert "rows" not in response.json()
    record = _last_record(db)
    assert (record.result, record.reason, record.row_count) == ("refused", code, 0)


# ---------------------------------------------------------------- the scope itself


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("source", SOURCES + CASE_INSENSITIVE)
def test_r09_row_scope_is_byte_exact_in_pages_exports_previews_and_lookups(client, db, world, tmp_path,
                                                                           source_url, source, scope):
    prefixes = SCOPES[scope]
    served = _scoped(db, world, tmp_path, source_url, source, prefixes)
    headers = token_headers(client, served.client_id, served.secret)
    inside = _in_scope(served, prefixes)
    assert len(inside) == (7 if scope == "AB" else 2)

    paged = _walk(client, served, headers, limit=2, items="gmsfhm,xzqhdm")
    assert sorted(r["gmsfhm"] for r in paged) == sorted(inside)  # each once, none outside
    assert {r["gmsfhm"]: r["xzqhdm"] for r in paged} == inside

    exported = _exported(client, served, headers, items=["gmsfhm", "xzqhdm"])
    assert {r["gmsfhm"]: r["xzqhdm"] for r in exported} == inside and len(exported) == len(inside)
    assert _last_record(db).row_count == len(inside)

    preview = client.get(f"/api/v1/data/{served.resource_code}/preview", params={"grant": served.grant_id},
                         headers=world.headers("civil_requester"))
    assert preview.status_code == 200, preview.text
    assert {r["gmsfhm"]: r["xzqhdm"] for r in preview.json()["rows"]} == inside

    for row in served.rows:
        key = row["GMSFHM"]
        response = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                              params={"grant": served.grant_id, "key": key, "items": "gmsfhm,xzqhdm"})
        if key in inside:
            assert response.status_code == 200, (row["XZQH"], response.text)
            assert response.json()["rows"] == [{"gmsfhm": key, "xzqhdm": row["XZQH"]}]
        else:
            _refused(db, response, 403, "row_out_of_scope", "key")

    outside = next(r for r in served.rows if r["GMSFHM"] not in inside and r["XZQH"] is not None)
    verified = client.post(f"/api/v1/data/{served.resource_code}/verify", headers=headers, json={
        "grant": served.grant_id, "fields": {"gmsfhm": outside["GMSFHM"], "xzqhdm": outside["XZQH"]}})
    _refused(db, verified, 403, "row_out_of_scope", "key")


# ---------------------------------------------------------------- tricks in filters and keys

# a filter value on the scope item -> what it gets: "refused" (outside the scope: row_out_of_scope), or the
# positions of the rows served (exact equality, within the scope)
SCOPE_ITEM_FILTERS = {
    "": "refused", "%": "refused", "_": "refused", "*": "refused", "A%": "refused", "A_": "refused",
    "ab004": "refused", "Ab005": "refused", "ＡＢ010": "refused", "ＡＢ": "refused", " AB001": "refused",
    "\u200bAB12": "refused", "' OR '1'='1": "refused", "%' OR 1=1 --": "refused",
    "AB": [13], "AB%": [], "AB_": [], "AB%08": [6], "AB_09": [7], "AB001 ": [], "AB\u200b11": [9],
    "AB００１9": [17], "AB001' OR '1'='1": [], "AB' || '": [], "AB001;DROP TABLE x": [],
}
# values no source can hold: refused at the HTTP door (govshare.nul_guard) and, for any other caller of the
# gateway, by the gateway itself, on the record
UNSTORABLE = ["\x00", "AB001\x00", "AB\x00%", "AB\ud800"]


@pytest.mark.parametrize("source", SOURCES)
def test_r09_r12_scope_tricks_in_filters_are_refused_or_served_only_in_scope(client, db, world, tmp_path,
                                                                            source_url, source):
    served = _scoped(db, world, tmp_path, source_url, source, ("AB",))
    headers = token_headers(client, served.client_id, served.secret)
    inside = _in_scope(served, ("AB",))
    code, grant = served.resource_code, served.grant_id

    def page(filters: dict):
        return client.get(f"/api/v1/data/{code}/rows", headers=headers, params={
            "grant": grant, "items": "gmsfhm,xzqhdm", "filter": [f"{n}:{v}" for n, v in filters.items()]})

    def export(filters: dict):
        return client.post(f"/api/v1/data/{code}/export", headers=headers, json={
            "grant": grant, "format": "parquet", "items": ["gmsfhm", "xzqhdm"], "filters": filters})

    def served_rows(response) -> list[dict]:
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("application/json"):
            return response.json()["rows"]
        return pq.read_table(io.BytesIO(response.content)).to_pylist()

    for value, expected in SCOPE_ITEM_FILTERS.items():
        for send in (page, export):
            response = send({"xzqhdm": value})
            if expected == "refused":
                _refused(db, response, 403, "row_out_of_scope", "filter")
            else:
                rows = served_rows(response)
                assert sorted(r["gmsfhm"] for r in rows) == sorted(served.rows[n]["GMSFHM"] for n in expected), value
                assert all(r["xzqhdm"] in inside.values() for r in rows)
                assert (_last_record(db).result, _last_record(db).row_count) == ("ok", len(rows))

    # a filter on another (plain) item naming a row outside the scope selects nothing: the scope still holds
    for row in served.rows:
        for send in (page, export):
            rows = served_rows(send({"gmsfhm": row["GMSFHM"]}))
            assert rows == ([{"gmsfhm": row["GMSFHM"], "xzqhdm": row["XZQH"]}] if row["GMSFHM"] in inside else [])

    before = _record_count(db)
    door = page({"xzqhdm": "AB001\x00"})
    assert door.status_code == 422 and door.json()["error"]["field"] == "filter", door.text
    assert _record_count(db) == before  # refused before the gateway: nothing read
    token = _token(db, served)
    for value in UNSTORABLE:
        for mode, name in ((Mode.PAGE, "xzqhdm"), (Mode.EXPORT, "xzqhdm"), (Mode.PAGE, "gmsfhm")):
            _refused_by_gateway(db, token, Call(mode, code, grant, filters=((name, value),)), "filter")


@pytest.mark.parametrize("source", SOURCES)
def test_r09_r12_scope_tricks_in_lookup_keys_are_refused_or_served_only_in_scope(client, db, world, tmp_path,
                                                                                source_url, source):
    served = _scoped(db, world, tmp_path, source_url, source, ("AB",))
    headers = token_headers(client, served.client_id, served.secret)
    inside_key = served.rows[0]["GMSFHM"]  # AB001
    outside_key = served.rows[1]["GMSFHM"]  # ab004
    assert inside_key in _in_scope(served, ("AB",)) and outside_key not in _in_scope(served, ("AB",))

    def lookup(key: str):
        return client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                          params={"grant": served.grant_id, "key": key, "items": "gmsfhm,xzqhdm"})

    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    not_found = ["%", "_", "*", inside_key[:-1] + "%", inside_key[:-1] + "_", inside_key.lower() + "x",
                 "\u200b" + inside_key, inside_key + "\u200b", inside_key + "' OR '1'='1", "' OR 1=1 --",
                 f"{inside_key}'; DROP TABLE \"RK_JBXX\"; --", "AB", "AB%"]
    for key in not_found:
        response = lookup(key)
        assert response.status_code == 404, (key, response.text)
        assert (_last_record(db).result, _last_record(db).row_count) == ("not_found", 0)
    # surrounding spaces are trimmed from a key; an ID number typed in full-width digits is the same number
    # (issue 13: keys are normalized by their declared type), and its scope is checked after that
    for key in (f"  {inside_key}  ", inside_key, inside_key.translate(full_width)):
        response = lookup(key)
        assert response.status_code == 200 and response.json()["rows"] == [{"gmsfhm": inside_key, "xzqhdm": "AB001"}]
    for key in (outside_key, f" {outside_key} ", outside_key.translate(full_width)):
        _refused(db, lookup(key), 403, "row_out_of_scope", "key")

    # an empty key and a NUL are refused at the route, before the gateway (tests/test_gateway.py,
    # govshare.nul_guard); the gateway function itself refuses them, and the refusal is on the record
    before = _record_count(db)
    door = lookup(outside_key + "\x00")
    assert door.status_code == 422 and door.json()["error"]["field"] == "key", door.text
    assert _record_count(db) == before
    token = _token(db, served)
    for key in ("", "   ", "\u3000", *(k + "\x00" for k in (inside_key, outside_key)), *UNSTORABLE):
        for mode in (Mode.LOOKUP, Mode.VERIFY):
            fields = (("gmsfhm", key),) if mode == Mode.VERIFY else ()
            _refused_by_gateway(db, token, Call(mode, served.resource_code, served.grant_id, key=key, fields=fields),
                                "key")
