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
