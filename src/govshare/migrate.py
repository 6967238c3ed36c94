"""The schema is created only by Alembic migrations; this wraps them for the CLI, the app and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    _ensure_sqlite_folder(url)
    command.upgrade(alembic_config(url), revision)


def _ensure_sqlite_folder(url: str) -> None:
    """A fresh checkout has no ./var yet; SQLite cannot create the folder of its file."""
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)


def revision(url: str, message: str) -> None:
    """Autogenerate a migration from the models (developer use: `govshare db revision -m ...`)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
