"""CLI commands of sharing; registered on the main typer app by govshare.cli."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this domain's commands to `govshare`."""
