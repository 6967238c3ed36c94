"""Scheduled work of objections (govshare worker): remind providers before the due day, mark late objections and
tell the competent authority (R13). Each kind runs in its own unit of work."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database
from govshare.objections import service
from govshare.workdays import service as workdays

JOBS = {"objections_reminded": service.remind_due, "objections_overdue": service.mark_overdue}


def run(db: Database, now: datetime) -> dict[str, int]:
    results = {}
    for name, job in JOBS.items():
        with db.session() as session:
            results[name] = job(session, workdays.local_date(session, now))
    return {name: count for name, count in results.items() if count}
