"""Scheduled work of sharing (run by govshare.jobs)."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database


def run(db: Database, now: datetime) -> dict[str, int]:
    return {}
