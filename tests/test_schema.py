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
