"""Holes 1–3 of issue 12: sources are reached only through data connections the platform admin registered.

1. The node's own database (platform tables, password hashes) cannot be registered or served, whatever the
   URL looks like: recognised by identity (same file after links, same server and database), not by name.
2. A department cannot reach another department's database: it chooses only its own connections, and never
   types a URL.
3. Connections are no probe of the server: HTTP addresses on loopback, private, link-local and multicast
   networks are refused unless the admin registered them as internal (checked again on every call), a path
   cannot leave its base address, and failures to connect do not say what exists (R09, R12, R18)."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from govshare.audit.models import UsageRecord
from govshare.authz import Actor
from govshare.errors import Forbidden, NotFound, ValidationFailed
from govshare.gateway import connect, connections
from govshare.gateway.connections import ConnectionFailed
from govshare.gateway.models import DataSource
from govshare.gateway.service import Call, Caller, Mode, Refused, access
from govshare.sealing import seal
from tests.factories import published_entry
from tests.gateway_factories import COLUMN_MAP, people, population_items, source_table, sql_connection
from tests.test_sources import HTTP_MAP, grant_all_items, token_headers, upstream

ADMIN = Actor.system()


def _register(db, world, url: str, kind: str = "sql", **options):
    with db.session() as s:
        return connections.register(s, ADMIN, world.ids["police"], f"连接{abs(hash((url, kind))) % 10**8}", kind, url,
                                    **options)


def _node_database_spellings(db) -> list[str]:
    """The node's own database written every way a user might: same path, relative, via `..`, a link, a
    `file:` URI, with parameters; on PostgreSQL localhost for 127.0.0.1, the default port, upper case."""
    own = make_url(db.url)
    if own.get_backend_name() == "sqlite":
        path = db.settings.data_dir.parent / "alias_of_node.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.symlink_to(own.database)
        real = own.database
        return [db.url, f"sqlite:///{path}", f"sqlite:///{real.replace('/', '//')}",
                f"sqlite:///{real.rsplit('/', 1)[0]}/../{real.rsplit('/', 2)[-2]}/{real.rsplit('/', 1)[1]}",
                f"sqlite:///file:{real}?mode=ro&uri=true"]
    host = "localhost" if own.host in ("127.0.0.1", None) else own.host
    return [db.url, own.set(host=host).render_as_string(hide_password=False),
            own.set(port=None).render_as_string(hide_password=False),
            own.set(database=own.database.upper()).render_as_string(hide_password=False)]


def test_r18_the_node_database_is_refused_however_its_url_is_written(db, world):
    """Hole 1: `MAIN.users` through the node's own SQLite database served argon2 hashes. The database itself
    is refused now, for every spelling, so no schema or table name matters."""
    for url in _node_database_spellings(db):
        with pytest.raises((Forbidden, ValidationFailed)) as refused:
            _register(db, world, url)
        assert refused.value.field == "url", url
    with db.session() as s:
        assert connections.visible(s, ADMIN) == []


def test_r18_a_source_made_before_connections_that_opens_the_node_database_is_not_served(db, world):
    """A source row left by the old typed-URL form, pointing at the node's database (`MAIN.users`): the gateway
    refuses to serve it and records the refusal."""
    with db.session() as s:
        entry = published_entry(s, world, items=population_items())
        s.add(DataSource(entry_id=entry.id, kind="sql", location=seal(s, db.url), table_name="MAIN.users",
                         key_item="gmsfhm", column_map={n: "username" for n in COLUMN_MAP}, status="connected"))
        code = entry.resource_code
    with pytest.raises(Refused) as refused:
        access(db, Caller(actor=world.actors["police_manager"]), Call(Mode.PREVIEW, code))
    assert refused.value.code == "source_refused"
    with db.session() as s:
        record = s.scalars(select(UsageRecord).order_by(UsageRecord.seq.desc())).first()
        assert record.result == "refused" and record.resource_code == code


def test_r18_department_users_cannot_register_connections_or_type_urls(client, db, world):
    url = source_table(db.settings.data_dir / "police.db", people(3))
    for who in ("police_manager", "police_reviewer", "civil_manager", "reviewer", "auditor"):
        response = client.post("/api/v1/connections", headers=world.headers(who), json={
            "department_id": world.ids["police"], "name": "自建", "kind": "sql", "url": url})
        assert response.status_code == 403, (who, response.text)
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
    for body in ({"url": url}, {"url": url, "connection": "x"}):
        typed = client.post("/api/v1/sources/sql", headers=world.headers("police_manager"), json={
            "entry_id": entry_id, "table": "RK_JBXX", "key_item": "gmsfhm", **body})
        assert typed.status_code == 422, typed.text
    assert typed.json()["error"]["field"] == "url"  # a URL is not read: it is refused as such
    with db.session() as s:
        assert connections.visible(s, ADMIN) == [] and s.scalar(select(DataSource.id)) is None


def test_r09_another_departments_connection_cannot_be_chosen(client, db, world):
    """Hole 2: 省民政厅's manager tried 省公安厅's database. Its connection is not found for them, by number or
    name, through the service, the API and the list."""
    url = source_table(db.settings.data_dir / "police.db", people(4))
    with db.session() as s:
        name = sql_connection(s, world, url)
        police_id = connections.usable(s, ADMIN, world.ids["police"], name, "sql").id
        entry_id = published_entry(s, world, "civil_manager", items=population_items()).id
    for chosen in (name, police_id, str(police_id)):
        with db.session() as s, pytest.raises(NotFound) as refused:
            connect.connect_sql(s, world.actors["civil_manager"], entry_id, chosen, "RK_JBXX", "gmsfhm", COLUMN_MAP)
        assert refused.value.field == "connection"
    response = client.post("/api/v1/sources/sql", headers=world.headers("civil_manager"), json={
        "entry_id": entry_id, "connection": str(police_id), "table": "RK_JBXX", "key_item": "gmsfhm",
        "column_map": COLUMN_MAP})
    assert response.status_code == 404 and response.json()["error"]["field"] == "connection"
    listed = client.get("/api/v1/connections", headers=world.headers("civil_manager")).json()
    assert listed == []
    police = client.get("/api/v1/connections", headers=world.headers("police_manager")).json()
    assert [c["name"] for c in police] == [name] and "password" not in str(police)


def test_r09_a_table_outside_the_connections_allowed_list_is_refused(db, world):
    url = source_table(db.settings.data_dir / "police.db", people(4))
    with db.session() as s:
        from tests.gateway_factories import sql_table

        sql_table(url, people(2), table="RK_SECRET")
        name = sql_connection(s, world, url, allowed=["RK_JBXX"])
        entry_id = published_entry(s, world, items=population_items()).id
    with db.session() as s, pytest.raises(Forbidden) as refused:
        connect.connect_sql(s, world.actors["police_manager"], entry_id, name, "RK_SECRET", "gmsfhm", COLUMN_MAP)
    assert refused.value.field == "table"
    with db.session() as s:
        connect.connect_sql(s, world.actors["police_manager"], entry_id, name, "rk_jbxx", "gmsfhm", COLUMN_MAP)


def test_r18_sqlite_files_outside_the_managed_store_are_refused_without_saying_whether_they_exist(db, world,
                                                                                                  tmp_path):
    """Hole 3: `sqlite:////etc/passwd` answered differently from a missing file. Outside the store both get
    the same refusal; inside it a missing file and a file that is no database fail alike, and nothing is
    created."""
    outside = [(tmp_path / "missing.db"), ]
    messages = set()
    for url in ("sqlite:////etc/passwd", f"sqlite:///{outside[0]}", "sqlite:////nonexistent/x.db"):
        with pytest.raises(ValidationFailed) as refused:
            _register(db, world, url)
        messages.add(refused.value.message)
    assert len(messages) == 1 and "托管存储" in messages.pop()
    store = db.settings.data_dir
    store.mkdir(parents=True, exist_ok=True)
    (store / "notes.db").write_text("not a database")
    failures = set()
    for path in (store / "notes.db", store / "missing.db"):
        with pytest.raises(ConnectionFailed) as refused:
            _register(db, world, f"sqlite:///{path}")
        failures.add(refused.value.message.split("“")[0])
    assert len(failures) == 1 and not (store / "missing.db").exists()


BLOCKED_ADDRESSES = ["http://127.0.0.1:8080/", "http://[::1]/", "http://10.1.2.3/", "http://192.168.1.1/",
                     "http://172.16.0.9/", "http://169.254.169.254/latest/", "http://224.0.0.1/", "http://0.0.0.0/",
                     "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/", "http://localhost:5432/"]


@pytest.mark.parametrize("url", BLOCKED_ADDRESSES)
def test_r18_http_connections_to_the_nodes_networks_are_refused_unless_registered_internal(db, world, url):
    with pytest.raises(Forbidden) as refused:
        _register(db, world, url, kind="http")
    assert refused.value.code == "address_refused" and refused.value.field == "url"
    assert _register(db, world, url, kind="http", internal=True).internal is True


PATH_TRICKS = ["../admin", "a/../../x", "//evil.example/x", "@evil.example", "http://evil.example/",
               "person?x=1", "person#f", "%2e%2e/x", "a%2fb", "per son", "a\\b", "x\x00y", "..%2f"]


@pytest.mark.parametrize("path", PATH_TRICKS)
def test_r18_a_path_cannot_leave_the_connections_base_address(db, world, path):
    with db.session() as s:
        api = sql_connection(s, world, "http://127.0.0.1:9/api/", kind="http", internal=True)
        entry_id = published_entry(s, world, items=population_items()).id
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_http(s, world.actors["police_manager"], entry_id, api, path, "gmsfhm", "sfzh", HTTP_MAP)
    assert refused.value.field == "path"


def test_r18_an_allowed_path_list_confines_the_paths(db, world):
    with db.session() as s:
        api = sql_connection(s, world, "http://127.0.0.1:9/api/", kind="http", internal=True, allowed=["hukou"])
        entry_id = published_entry(s, world, items=population_items()).id
    with db.session() as s, pytest.raises(Forbidden) as refused:
        connect.connect_http(s, world.actors["police_manager"], entry_id, api, "hukouX", "gmsfhm", "sfzh", HTTP_MAP)
    assert refused.value.field == "path"
    with db.session() as s:
        source = connect.connect_http(s, world.actors["police_manager"], entry_id, api, "hukou/person", "gmsfhm",
                                      "sfzh", HTTP_MAP)
        assert source.connection_id is not None


def test_r18_every_call_checks_the_address_again(client, db, world, monkeypatch):
    """A public host name at registration that later resolves to the node's network (DNS rebinding): the call
    is refused before any request leaves, and recorded."""
    rows = people(3)
    records = {r["GMSFHM"]: {"SFZH": r["GMSFHM"], "XM": r["XM"], "CSRQ": r["CSRQ"], "HJDZ": r["HJDZ"],
                             "XZQH": r["XZQH"]} for r in rows}
    answers = {"ip": "93.184.216.34"}  # a public address at registration

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "api.police.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers["ip"], 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(connections.socket, "getaddrinfo", resolve)
    with upstream(records):
        with db.session() as s:
            api = sql_connection(s, world, "http://api.police.example/", kind="http")
            entry = published_entry(s, world, items=population_items())
            connect.connect_http(s, world.actors["police_manager"], entry.id, api, "person", "gmsfhm", "sfzh",
                                 HTTP_MAP)
            granted = grant_all_items(s, world, entry)
            code = entry.resource_code
        answers["ip"] = "127.0.0.1"
        response = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": rows[0]["GMSFHM"]},
                              headers=token_headers(client, granted))
    assert response.status_code == 403 and response.json()["error"]["code"] == "address_refused"
    with db.session() as s:
        record = s.scalars(select(UsageRecord).order_by(UsageRecord.seq.desc())).first()
        assert record.result == "refused" and record.resource_code == code


def test_r18_connection_failures_have_one_shape(db, world):
    """An unreachable server and a wrong password answer alike, naming the connection, not the cause."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a database server's refusals (its PostgreSQL instance runs when GOVSHARE_TEST_DATABASE_URL "
                    "is set)")
    own = make_url(db.url)
    messages = set()
    for url in (own.set(port=1, database="other").render_as_string(hide_password=False),
                own.set(database="no_such_database_x").render_as_string(hide_password=False)):
        with pytest.raises(ConnectionFailed) as refused:
            _register(db, world, url)
        messages.add(refused.value.message.split("“")[0] + refused.value.message.split("”")[1])
    assert len(messages) == 1
