"""Scheduled quality runs (R14, run by govshare.jobs): each due entry's confirmed rules run again over its source,
one entry per unit of work, at most `MAX_PER_ROUND` entries per round (a round never runs for hours)."""

from __future__ import annotations

import logging
from datetime import datetime

from govshare.db import Database
from govshare.quality import service

MAX_PER_ROUND = 20
log = logging.getLogger(__name__)


def run(db: Database, now: datetime) -> dict[str, int]:
    with db.session() as session:
        due = service.due_entries(session, now)[:MAX_PER_ROUND]
    done = failed = 0
    for entry_id, trigger in due:
        try:
            with db.session() as session:
                outcome = service.run_scheduled(session, entry_id, trigger)
                done, failed = done + (outcome.status == "done"), failed + (outcome.status == "failed")
        except Exception:  # one entry's unexpected failure must not stop the others' runs
            log.exception("quality run of entry %s failed", entry_id)
            failed += 1
    return {name: count for name, count in (("quality_runs", done), ("quality_runs_failed", failed)) if count}
