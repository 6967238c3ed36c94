"""Scheduled work of the catalog (run by govshare.jobs): the deadline of revisions caused by a change of law
or of duties (R05): due dates counted again once a year's holidays are known, reminders before the due date,
overdue marks. Each kind runs in its own unit of work."""

from __future__ import annotations

from datetime import datetime

from govshare.catalog import law_change
from govshare.db import Database
from govshare.jobs import run_daily

JOBS = {
    "law_change_deadlines_recounted": law_change.recount_estimated,
    "law_change_reminded": law_change.remind_due,
    "law_change_overdue": law_change.mark_overdue,
}


def run(db: Database, now: datetime) -> dict[str, int]:
    return run_daily(db, now, JOBS)
