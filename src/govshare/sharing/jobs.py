"""Scheduled work of sharing: reminders before reply deadlines, overdue marks (requests and dispute steps),
grant expiry, service changes taking effect. Each kind runs in its own unit of work."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database
from govshare.jobs import run_daily
from govshare.sharing import changes, disputes, service

JOBS = {
    "deadlines_recounted": service.refresh_estimated_deadlines,
    "reminded": service.remind_due,
    "overdue": service.mark_overdue,
    "dispute_overdue": disputes.mark_overdue_steps,
    "grants_expired": service.expire_grants,
    "service_changes_effective": changes.apply_due,
}


def run(db: Database, now: datetime) -> dict[str, int]:
    return run_daily(db, now, JOBS)
