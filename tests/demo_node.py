"""A demo province on a database of its own (not conftest's shared one, which other tests empty after each
test): `govshare demo`'s seed, the app over it, and the demo password. For tests that walk or fuzz the node
as its users would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from govshare import migrate
from govshare.config import Settings
from govshare.db import Database
from govshare.demo import seed


@dataclass
class DemoNode:
    app: FastAPI
    db: Database
    settings: Settings
    report: seed.SeedReport

    @property
    def password(self) -> str:
        return self.report.password

    @property
    def usernames(self) -> list[str]:
        return [username for username, _role, _department in self.report.users]


@contextmanager
def demo_node(backend: str, tmp_path_factory) -> Iterator[DemoNode]:
    """The seeded node; a seed that fails fails the test (it is never skipped)."""
    from govshare.app import create_app
    from govshare.search.index import registry
    from tests.conftest import _create_pg_database, _drop_pg_database

    folder = tmp_path_factory.mktemp(f"demo-{backend}")
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'govshare.db'}"
    else:
        url, pg_name = _create_pg_database()
    try:
        migrate.upgrade(url)
        settings = Settings(database_url=url, data_dir=folder)
        db = Database(url, settings)
        report = seed.seed_demo(db, settings)
        assert report.created and report.search_indexed, f"the demo seed did not complete: {report}"
        app = create_app(settings, db)
        try:
            yield DemoNode(app, db, settings, report)
        finally:
            registry.detach(db.url)
            db.dispose()
    finally:
        if pg_name:
            _drop_pg_database(pg_name)
