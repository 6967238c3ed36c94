"""Test fixtures: every database test runs on SQLite and, when GOVSHARE_TEST_DATABASE_URL is set,
on PostgreSQL too. Each backend gets a fresh database built by the migrations; tables are emptied
after every test."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import argon2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from govshare import migrate
from govshare.config import Settings
from govshare.db import Database
from govshare.models import Base
from govshare.orgs import service as orgs_service

orgs_service.use_password_profile(argon2.profiles.CHEAPEST)

PG_URL = os.environ.get("GOVSHARE_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL = SHARED / "data" / "real"


def _create_pg_database() -> tuple[str, str]:
    base = make_url(PG_URL)
    name = f"govshare_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(name: str) -> None:
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
        migrate.upgrade(url)
        yield url
        return
    url, name = _create_pg_database()
    migrate.upgrade(url)
    yield url
    _drop_pg_database(name)


def _empty_tables(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
        # the usage-record chain starts again from its genesis head (the migration's first row)
        conn.execute(text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, :genesis)"),
                     {"genesis": "0" * 64})


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "var")


@pytest.fixture
def db(settings) -> Database:
    database = Database(settings.resolved_database_url, settings)
    yield database
    _empty_tables(database)
    database.dispose()


@pytest.fixture
def session(db):
    with db.session() as s:
        yield s


@pytest.fixture
def app(settings, db):
    from govshare.app import create_app
    from govshare.search.index import registry

    yield create_app(settings, db)
    registry.detach(db.url)  # later tests of this worker must not index into this test's folder


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def world(db):
    """A province with its competent authority, a city, and users of every role."""
    from tests.factories import build_world

    with db.session() as s:
        return build_world(s)


@pytest.fixture
def as_user(client, world):
    """Logs in through /login (the UI tests); each post then carries the page's CSRF token itself
    (tests/web_helpers.token). tests/test_web.py overrides it to send the token as a header."""
    from govshare.deps import CSRF_HEADER
    from tests.factories import PASSWORD

    def switch(username: str):
        client.cookies.clear()
        client.headers.pop(CSRF_HEADER, None)
        response = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        return client

    return switch


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(app):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
