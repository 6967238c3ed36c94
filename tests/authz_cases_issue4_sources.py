"""Negative authorization cases for the write routes of issue 4's sources (gateway.sources_api): connecting
a SQL table, a file or an upstream API to a published entry, confirming its profile, disconnecting it.
tests/test_authz_api.py runs each case: no token is 401, the auditor 403, every intruder 403 or 404 with
nothing changed, then the rightful user succeeds with the very same request.

Intruders: the same roles in other departments (province and city), a requester of the provider department
itself, the competent authorities (this province's and another's) and the platform administrator: only the
provider's catalog managers and department reviewers manage its sources."""

from __future__ import annotations

import csv
import io
import json
import uuid

from sqlalchemy import select

from govshare.catalog.models import DataItem
from govshare.config import settings_of
from govshare.gateway import connect
from govshare.gateway.models import DataConnection, DataSource
from tests.authz_case import Case
from tests.authz_cases_issue3 import more_users
from tests.factories import published_entry
from tests.gateway_factories import COLUMN_MAP, people, population_items, source_table, sql_connection

INTRUDERS = ("civil_manager", "city_civil_manager", "civil_requester", "police_requester", "reviewer",
             "other_reviewer", "admin")


def _entry(session, world) -> dict:
    """A published 人口基本信息 of 省公安厅 and its own database (a SQLite file holding RK_JBXX)."""
    more_users(session, world)
    entry = published_entry(session, world, items=population_items())
    folder = settings_of(session).data_dir / "provider_databases"
    folder.mkdir(parents=True, exist_ok=True)
    url = source_table(folder / f"police-{uuid.uuid4().hex[:8]}.db", people(6))
    return {"entry_id": entry.id, "url": url, "connection": sql_connection(session, world, url),
            "api": sql_connection(session, world, "http://127.0.0.1:9/", kind="http", internal=True)}


def _connected(session, world) -> dict:
    params = _entry(session, world)
    connect.connect_sql(session, world.actors["police_manager"], params["entry_id"], params["connection"],
                        "RK_JBXX", "gmsfhm", COLUMN_MAP)
    session.flush()
    return params


def _source_state(session, params) -> tuple | None:
    """The source row (its sealed location changes on every connect) and the entry's item grades."""
    source = session.scalars(select(DataSource).where(DataSource.entry_id == params["entry_id"])).first()
    grades = [(i.name, i.grade, i.personal_info) for i in session.scalars(
        select(DataItem).where(DataItem.entry_id == params["entry_id"]).order_by(DataItem.position))]
    if source is None:
        return None, grades
    return (source.kind, source.location, source.status, source.row_count, source.confirmed_at), grades


def _sql_body(params: dict) -> dict:
    return {"entry_id": params["entry_id"], "connection": params["connection"], "table": "RK_JBXX",
            "key_item": "gmsfhm", "column_map": COLUMN_MAP}


def _file_body(params: dict) -> dict:
    rows = people(4)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return {"files": {"file": ("rk_jbxx.csv", out.getvalue().encode(), "text/csv")},
            "data": {"entry_id": str(params["entry_id"]), "key_item": "gmsfhm",
                     "column_map": json.dumps({"xzqhdm": "XZQH"})}}


def _http_body(params: dict) -> dict:
    # no probe key: the upstream is not called when connecting, so it need not exist for this case
    return {"entry_id": params["entry_id"], "connection": params["api"], "path": "person", "key_item": "gmsfhm",
            "key_param": "sfzh", "column_map": COLUMN_MAP}


# Data connections (issue 12): only the platform administrator registers or retires them, for any department.
CONNECTION_INTRUDERS = ("police_manager", "police_reviewer", "civil_manager", "civil_requester", "reviewer",
                        "other_reviewer", "city_civil_manager")


def _connection_target(session, world) -> dict:
    more_users(session, world)
    folder = settings_of(session).data_dir / "provider_databases"
    folder.mkdir(parents=True, exist_ok=True)
    url = source_table(folder / f"police-{uuid.uuid4().hex[:8]}.db", people(3))
    name = sql_connection(session, world, url)
    existing = session.scalar(select(DataConnection.id).where(DataConnection.name == name))
    return {"department_id": world.ids["police"], "url": url, "connection_id": existing}


def _connection_body(params: dict) -> dict:
    return {"department_id": params["department_id"], "name": "新登记的数据库", "kind": "sql", "url": params["url"],
            "allowed": ["RK_JBXX"]}


def _connections_state(session, params) -> list:
    return [(c.id, c.name, c.retired_at) for c in session.scalars(select(DataConnection).order_by(DataConnection.id))]


ISSUE4_SOURCE_CASES = [
    Case("POST", "/api/v1/sources/sql", _entry, _sql_body, INTRUDERS, "police_manager", _source_state),
    Case("POST", "/api/v1/sources/file", _entry, _file_body, INTRUDERS, "police_reviewer", _source_state,
         multipart=True),
    Case("POST", "/api/v1/sources/http", _entry, _http_body, INTRUDERS, "police_manager", _source_state),
    Case("POST", "/api/v1/sources/{entry_id}/confirm", _connected, lambda _p: {"accept_all": True}, INTRUDERS,
         "police_reviewer", _source_state),
    Case("DELETE", "/api/v1/sources/{entry_id}", _connected, lambda _p: None, INTRUDERS, "police_manager",
         _source_state, extra={"query": {"reason": "数据源迁移"}}),
    Case("POST", "/api/v1/connections", _connection_target, _connection_body, CONNECTION_INTRUDERS, "admin",
         _connections_state, owner_status=201),
    Case("DELETE", "/api/v1/connections/{connection_id}", _connection_target, lambda _p: None, CONNECTION_INTRUDERS,
         "admin", _connections_state),
]
