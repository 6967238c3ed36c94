"""The schema is created only by migrations; the models must agree with them."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from govshare.models import Base


def test_models_match_migrations(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ, add a migration: {diff}"


def test_migrations_created_every_table(db):
    from sqlalchemy import inspect

    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_savepoint_rolls_back_with_its_outer_transaction(db):
    """Imports keep good rows with one SAVEPOINT per row; those must still belong to the outer
    transaction (pysqlite's legacy mode let RELEASE commit them on its own)."""
    from sqlalchemy import func, select

    from govshare.orgs.models import Department

    session = db.sessionmaker()
    try:
        with session.begin_nested():
            session.add(Department(name="临时部门", level="provincial", region_code="340000"))
        session.rollback()
    finally:
        session.close()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Department)) == 0


def test_a_failed_commit_is_an_error_not_a_success(app, db, world):
    """The session dependency ends before the response is sent: if the commit fails, the client gets a
    500 and no success for data that was not stored."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event, func, select

    from govshare.catalog.models import CatalogEntry
    from tests.factories import population_entry

    def refuse(_session):
        raise RuntimeError("commit refused")

    event.listen(db.sessionmaker, "before_commit", refuse)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/api/v1/catalog/entries", json=population_entry().model_dump(mode="json"),
                                   headers=world.headers("police_manager"))
    finally:
        event.remove(db.sessionmaker, "before_commit", refuse)
    assert response.status_code == 500
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogEntry)) == 0


def test_sqlite_reads_do_not_wait_for_an_open_writer(db):
    """A read-only unit of work (every GET) begins DEFERRED: under WAL it reads while a writer holds the
    lock (a write unit begins IMMEDIATE and would wait)."""
    import pytest
    from sqlalchemy import func, select

    from govshare.orgs.models import Department

    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking only")
    writer = db.sessionmaker()
    try:
        writer.add(Department(name="写入中", level="provincial", region_code="340000"))
        writer.flush()  # holds the write lock
        with db.session(read_only=True) as reader:
            assert reader.scalar(select(func.count()).select_from(Department)) == 0
    finally:
        writer.rollback()
        writer.close()
