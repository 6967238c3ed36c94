"""Test fixtures: every database test runs on SQLite and, when GOVSHARE_TEST_DATABASE_URL is set,
on PostgreSQL too. Each backend gets a fresh database built by the migrations; tables are emptied
after every test.

Nothing is left out silently: the run ends with one line naming what did not run and why, and in CI
(CI=true) a missing PostgreSQL or Chromium stops the run instead of skipping its tests."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import argon2
import chinese_calendar
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


def _shared_folder() -> Path:
    """The project's shared data folder, `shared/` beside the repository. mutmut runs the tests from a copy in
    `mutants/`, one folder deeper, so it is the nearest `shared/` beside the repository or one of its ancestors."""
    root = Path(__file__).resolve().parents[1]
    return next((folder.parent / "shared" for folder in (root, *root.parents) if (folder.parent / "shared").is_dir()),
                root.parent / "shared")


SHARED = _shared_folder()
REAL = SHARED / "data" / "real"
CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"


# ---------------------------------------------------------------- nothing left out silently


def _postgresql_answers() -> bool:
    try:
        engine = create_engine(make_url(PG_URL))
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # any reason it cannot be reached is the same answer: no
        return False


def pytest_configure(config):
    """In CI both databases and the browser are required: what cannot run there is a failure."""
    if not IN_CI or hasattr(config, "workerinput"):  # checked once, by the controller
        return
    missing = []
    if not PG_URL:
        missing.append("GOVSHARE_TEST_DATABASE_URL is unset (the suite must also run on PostgreSQL)")
    elif not _postgresql_answers():
        missing.append(f"PostgreSQL does not answer at {make_url(PG_URL).render_as_string(hide_password=True)}")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} is missing (apt-get install -y chromium) for the browser tests")
    if missing:
        raise pytest.UsageError("CI=true, and " + "; ".join(missing))


SQLITE_INSTANCE = re.compile(r"[\[-]sqlite[\]-]")
POSTGRESQL_INSTANCE = re.compile(r"[\[-]postgresql[\]-]")


def pytest_collection_modifyitems(config, items):
    """A browser test checks what a person sees and does in Chromium; the database work behind every page runs on
    both databases in the page tests (the test client), so a browser test's PostgreSQL instance is left out (the
    summary counts them)."""
    left_out = {item for item in items
                if item.get_closest_marker("browser") and POSTGRESQL_INSTANCE.search(item.nodeid)}
    if left_out:
        config.hook.pytest_deselected(items=list(left_out))
        items[:] = [item for item in items if item not in left_out]


def _skip_reason(report) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line: what did not run, and why."""
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
               if getattr(r, "when", "call") == "call"]
    not_run = []
    sqlite_only = 0 if PG_URL else sum(1 for r in reports if SQLITE_INSTANCE.search(r.nodeid))
    if sqlite_only:
        not_run.append(f"PostgreSQL: {sqlite_only} database test instances ran on SQLite only "
                       "(GOVSHARE_TEST_DATABASE_URL is unset)")
    browser_sqlite_only = sum(1 for r in reports if "browser" in r.keywords and SQLITE_INSTANCE.search(r.nodeid))
    if PG_URL and browser_sqlite_only:
        not_run.append(f"PostgreSQL: {browser_sqlite_only} browser tests ran on SQLite only, by design (their pages "
                       "run on both databases in the page tests)")
    skipped = Counter(_skip_reason(r) for r in terminalreporter.stats.get("skipped", []))
    not_run += [f"{count} × {reason}" for reason, count in skipped.most_common()]
    terminalreporter.write_line("Not run: " + ("; ".join(not_run) if not_run else "nothing (every test ran)"),
                                yellow=bool(not_run), green=not not_run)


# ---------------------------------------------------------------- the calendar years the suite assumes

PACKAGE_CALENDAR_THROUGH = 2026
REAL_IS_WORKDAY = chinese_calendar.is_workday


def _is_workday_known_through(last_year: int):
    def is_workday(day: date) -> bool:
        if day.year > last_year:
            raise NotImplementedError(f"no holiday data for {day.year}")
        return REAL_IS_WORKDAY(day)

    return is_workday


@pytest.fixture(autouse=True)
def calendar_known_through_2026(monkeypatch):
    """The suite's dates are written for a chinese-calendar that knows the years up to 2026 (1.11). A release
    that adds 2027 must not change their answers, so every test sees exactly that; tests/test_workdays.py
    checks the installed release's own last year + 1 separately."""
    monkeypatch.setattr(chinese_calendar, "is_workday", _is_workday_known_through(PACKAGE_CALENDAR_THROUGH))


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
    """Deletes every row, children first. On PostgreSQL a DELETE of a few rows is far cheaper than a TRUNCATE,
    which makes new files for every table and index (it was most of a PostgreSQL test's time); the sequences
    start again at 1 as after a TRUNCATE … RESTART IDENTITY."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))
        if database.engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(c.oid, 1, false) FROM pg_class c WHERE c.relkind = 'S'"))
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
