"""Scheduled work: `govshare jobs run` runs every domain's jobs once; `govshare worker` repeats them.

Each domain's `jobs.run(db, now)` does its own work in its own units of work and returns counts, so one
failing domain does not stop the others and a crash never leaves a half-done step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.orm import Session

from govshare.db import Database, utcnow


def run_daily(db: Database, now: datetime, jobs: dict[str, Callable[[Session, date], int]]) -> dict[str, int]:
    """Runs each of a domain's jobs `job(session, local today)` in its own unit of work; the non-zero counts."""
    from govshare.workdays import service as workdays

    results = {}
    for name, job in jobs.items():
        with db.session() as session:
            results[name] = job(session, workdays.local_date(session, now))
    return {name: count for name, count in results.items() if count}


def run_all(db: Database, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Runs each domain's jobs once; returns {domain: {what: count}}."""
    from govshare.audit import jobs as audit_jobs
    from govshare.catalog import jobs as catalog_jobs
    from govshare.demands import jobs as demand_jobs
    from govshare.notify import jobs as notify_jobs
    from govshare.objections import jobs as objection_jobs
    from govshare.orgs import jobs as orgs_jobs
    from govshare.quality import jobs as quality_jobs
    from govshare.sharing import jobs as sharing_jobs

    now = now or utcnow()
    results = {}
    for name, module in (("catalog", catalog_jobs), ("sharing", sharing_jobs), ("demands", demand_jobs),
                         ("notify", notify_jobs), ("audit", audit_jobs), ("orgs", orgs_jobs),
                         ("quality", quality_jobs), ("objections", objection_jobs)):
        results[name] = module.run(db, now)
    return results
