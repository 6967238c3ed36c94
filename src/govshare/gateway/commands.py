"""(being built: see issue 4)"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this domain's command group to `govshare`."""
