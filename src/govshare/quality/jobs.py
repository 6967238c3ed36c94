"""Scheduled quality runs (R14, run by govshare.jobs): each due entry's confirmed rules run again over its source,
one entry per unit of work, at most `MAX_PER_ROUND` entries per round (a round never runs for hours)."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database
from govshare.quality import service

MAX_PER_ROUND = 20


def run(db: Database, now: datetime) -> dict[str, int]:
    with db.session() as session:
        due = service.due_entries(session, now)[:MAX_PER_ROUND]
    done = failed = 0
    for entry_id in due:
        with db.session() as session:
            outcome = service.run_scheduled(session, entry_id)
            done, failed = done + (outcome.status == "done"), failed + (outcome.status == "failed")
    return {name: count for name, count in (("quality_runs", done), ("quality_runs_failed", failed)) if count}
