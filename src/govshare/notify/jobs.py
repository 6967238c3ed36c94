"""Scheduled work of notify (run by govshare.jobs): post the webhook deliveries that are due."""

from __future__ import annotations

from datetime import datetime

from govshare.db import Database
from govshare.notify import delivery


def run(db: Database, now: datetime) -> dict[str, int]:
    """{"delivered": n, "retried": n, "dead": n} of the deliveries due at `now` (see notify.delivery)."""
    return delivery.deliver_due(db, now)
