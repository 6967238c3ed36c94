"""Scheduled work of objections (govshare worker): remind providers before the due day, mark late objections and
tell the competent authority (R13). Each kind runs in its own unit of work."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database
from govshare.jobs import run_daily
from govshare.objections import service

JOBS = {"objections_reminded": service.remind_due, "objections_overdue": service.mark_overdue}


def run(db: Database, now: datetime) -> dict[str, int]:
    return run_daily(db, now, JOBS)
