"""Builders for gateway tests: a provider's SQL table with synthetic 人口基本信息, connected to the
published entry, and an approved grant for 省民政厅's 低保审核系统."""

from __future__ import annotations

import hashlib
import random
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from stdnum.cn import ric

from govshare.gateway.models import DataSource
from govshare.sealing import seal
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from tests.factories import consumer_system, published_entry, request_in

# districts of 合肥 (340102 瑶海, 340103 庐阳, 340104 蜀山)
DISTRICTS = ("340102", "340103", "340104")
SURNAMES = "王李张刘陈杨黄赵吴周"


def id_number(region: str, born: date, serial: int) -> str:
    body = f"{region}{born:%Y%m%d}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character


def people(count: int, seed: int = 7) -> list[dict]:
    """`count` residents with valid ID numbers, spread over DISTRICTS; the columns are the source's own
    names (upper case), not the catalog's item names."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        region = DISTRICTS[n % len(DISTRICTS)]
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(25_000))
        rows.append({"GMSFHM": id_number(region, born, n % 1000), "XM": rng.choice(SURNAMES) + "某" + str(n % 97),
                     "CSRQ": born.isoformat(), "HJDZ": f"安徽省合肥市{region}区某路{n}号", "XZQH": region})
    return rows


COLUMN_MAP = {"gmsfhm": "GMSFHM", "xm": "XM", "csrq": "CSRQ", "hjdz": "HJDZ", "xzqhdm": "XZQH"}


def population_items():
    from tests.factories import population_entry

    items = list(population_entry().items)
    from govshare.catalog.schemas import ItemIn

    items.append(ItemIn(name="xzqhdm", chinese_name="行政区划代码", data_type="string", length=6, grade="一般1",
                        personal_info="none"))
    return items


def source_table(path: Path, rows: list[dict]) -> str:
    """A provider's own database (a separate SQLite file) holding table RK_JBXX; returns its URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return sql_table(f"sqlite:///{path}", rows)


def sql_table(url: str, rows: list[dict], table: str = "RK_JBXX", key_type: str = "TEXT PRIMARY KEY") -> str:
    """Table `table` with the population columns in the database at `url` (key GMSFHM of `key_type`, e.g.
    "INTEGER" for a non-unique integer key); returns the URL."""
    engine = create_engine(url)
    with engine.begin() as conn:
        # quoted: PostgreSQL keeps the upper-case names the column map uses
        conn.execute(text(f'CREATE TABLE "{table}" ("GMSFHM" {key_type}, "XM" TEXT, "CSRQ" TEXT, "HJDZ" TEXT, '
                          '"XZQH" TEXT)'))
        conn.execute(text(f'INSERT INTO "{table}" VALUES (:GMSFHM, :XM, :CSRQ, :HJDZ, :XZQH)'), rows)
    engine.dispose()
    return url


def drop_table(url: str, table: str) -> None:
    from govshare.gateway.sources import _engine

    _engine(url).dispose()  # the gateway's pooled connections to the source
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()


@dataclass
class Served:
    entry_id: int
    resource_code: str
    grant_id: int
    request_id: int
    system_id: int
    client_id: str
    secret: str
    rows: list[dict]


def served_population(session, world, folder: Path, *, count: int = 30, scope: dict | None = None,
                      verify_only: bool = False, items: list[str] | None = None, rate_limit: int | None = None,
                      source_url: str | None = None, rows: list[dict] | None = None,
                      table: str = "RK_JBXX") -> Served:
    """The published population entry connected to a SQL table, and 省民政厅's approved grant. `rows` and
    `source_url` (a database already holding `table`) replace the synthetic residents' SQLite file."""
    rows = people(count) if rows is None else rows
    entry = published_entry(session, world, items=population_items())
    url = source_url or source_table(folder / "police_source.db", rows)
    session.add(DataSource(entry_id=entry.id, kind="sql", location=seal(session, url), table_name=table,
                           key_item="gmsfhm", column_map=COLUMN_MAP, status="connected", row_count=len(rows)))
    system, secret = consumer_system(session, world)
    wanted = [i.id for i in entry.items if items is None or i.name in items]
    request = sharing.create_request(session, world.actors["civil_requester"], request_in(
        entry, consumer_system_id=system.id, item_ids=wanted, row_scope=scope, verify_only=verify_only),
        submit=True)
    sharing.reply(session, world.actors["police_reviewer"], request.id,
                  ReplyIn(decision="approve", reason="", rate_limit=rate_limit))
    grant = sharing.grant_of(session, request.id)
    session.flush()
    return Served(entry.id, entry.resource_code, grant.id, request.id, system.id, system.client_id, secret, rows)


@dataclass
class Granted:
    """Another department's (or system's) approved grant for the served entry."""

    grant_id: int
    system_id: int
    client_id: str
    secret: str


def grant_for(session, world, served: Served, who: str, *, system_name: str = "核查系统", scope: dict | None = None,
              items: list[str] | None = None, verify_only: bool = False, rate_limit: int | None = None) -> Granted:
    """`who` (a requester; see tests.authz_cases_issue3.more_users for other departments' requesters)
    registers a system and gets an approved grant for the served entry."""
    from govshare.catalog.models import CatalogEntry

    entry = session.get(CatalogEntry, served.entry_id)
    system, secret = consumer_system(session, world, who, system_name)
    wanted = [i.id for i in entry.items if items is None or i.name in items]
    request = sharing.create_request(session, world.actors[who], request_in(
        entry, consumer_system_id=system.id, item_ids=wanted, row_scope=scope, verify_only=verify_only),
        submit=True)
    sharing.reply(session, world.actors["police_reviewer"], request.id,
                  ReplyIn(decision="approve", reason="", rate_limit=rate_limit))
    grant = sharing.grant_of(session, request.id)
    session.flush()
    return Granted(grant.id, system.id, system.client_id, secret)


def token_headers(client, client_id: str, secret: str) -> dict:
    """A consumer system's access token from the gateway, as request headers."""
    response = client.post("/api/v1/gateway/token", json={"client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def sql_connection(session, world, url: str, *, department: str = "police", allowed: list[str] | None = None,
                   kind: str = "sql", internal: bool = False) -> str:
    """Registers `url` as one of the department's data connections, as the platform admin does (issue 12),
    and returns its name (the same name for the same department and URL, so a test may ask twice)."""
    from sqlalchemy import select as select_

    from govshare.authz import Actor
    from govshare.gateway import connections
    from govshare.gateway.models import DataConnection

    name = f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"
    department_id = world.ids[department]
    if session.scalar(select_(DataConnection.id).where(DataConnection.department_id == department_id,
                                                       DataConnection.name == name)) is None:
        connections.register(session, Actor.system(), department_id, name, kind, url, allowed or [], internal)
    return name


@contextmanager
def provider_database(db):
    """An empty database of the node's engine that is not the node's own (issue 12: the node's database is never
    a source): a SQLite file in the managed store, or a database of its own on the test PostgreSQL server,
    dropped afterwards."""
    if db.engine.dialect.name == "sqlite":
        db.settings.data_dir.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{db.settings.data_dir / f'provider_{uuid.uuid4().hex[:8]}.db'}"
        return
    from govshare.gateway import sources

    name = f"provider_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(db.url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        sources.engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
