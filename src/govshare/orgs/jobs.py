"""Scheduled work of the orgs domain: prune login attempts past their retention (orgs.throttle)."""

from __future__ import annotations

from datetime import datetime

from govshare.config import settings_of
from govshare.db import Database
from govshare.orgs import throttle


def run(db: Database, now: datetime) -> dict[str, int]:
    with db.session() as session:
        pruned = throttle.prune(session, now, settings_of(session))
    return {"login_attempts_pruned": pruned}
