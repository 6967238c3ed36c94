"""Scheduled work of the audit domain: sign the chain's head when it advanced (R12).

Run by `govshare worker` every round, so records are covered by a signature within one worker interval."""

from __future__ import annotations

from datetime import datetime

from govshare.audit import chain
from govshare.db import Database


def run(db: Database, now: datetime) -> dict[str, int]:
    with db.session() as session:
        checkpoint = chain.sign_checkpoint(session, kind="interval", note="定时签名")
    return {"checkpoints": 1 if checkpoint is not None else 0}
