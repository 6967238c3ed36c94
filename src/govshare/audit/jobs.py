"""Scheduled work of the audit domain (being built: see issue 4)."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database


def run(db: Database, now: datetime) -> dict[str, int]:
    return {}
