"""Scheduled work of demands (run by govshare.jobs): flag answers and catalogings past their deadline (R20)."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database


def run(db: Database, now: datetime) -> dict[str, int]:
    from govshare.demands import service

    with db.session() as session:
        return service.mark_overdue(session, now)
