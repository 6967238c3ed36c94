"""What every CLI command shares: the consoles, the node's database and one unit of work per command. Each
domain's `commands.py` imports these from here; `cli.py` only assembles the command groups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.config import get_settings
from govshare.db import Database
from govshare.errors import DomainError

console = Console()
err_console = Console(stderr=True)
SYSTEM = Actor.system()


def database() -> Database:
    """The node's database, migrated to the latest schema."""
    from govshare import migrate

    settings = get_settings()
    url = settings.resolved_database_url
    migrate.upgrade(url)
    return Database(url, settings)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session for one command; domain errors become a clear message and exit code 2."""
    db = database()
    try:
        with db.session() as session:
            yield session
    except DomainError as exc:
        field = f"（字段：{exc.field}）" if exc.field else ""
        err_console.print(f"[red]错误：{exc.message}{field}[/red]")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
