"""Posting outbox messages to webhooks: signed with HMAC-SHA256, retried with exponential backoff, and
never posted by two workers at once.

A round works in three steps so that no database lock is held while a receiver is slow:
1. claim a batch in one short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite serializes writers)
   by moving each message's next_attempt_at past the time the posts can take (a lease: a worker that dies
   mid-batch leaves its messages to be picked up again when the lease ends, so none is lost);
2. post them, outside any transaction;
3. record the results in another short transaction.
Delivery is therefore at least once: a receiver uses X-Govshare-Delivery to drop repeats."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from govshare import __version__, sealing
from govshare.config import Settings, settings_of
from govshare.db import Database
from govshare.notify.models import OutboxMessage
from govshare.notify.service import DeliveryStatus

BATCH_SIZE = 20
BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
JITTER = 0.1  # up to +10 %, so that messages that failed together do not all come back in the same second
LEASE_MARGIN = timedelta(minutes=2)
ERROR_SNIPPET_BYTES = 300  # how much of a failing receiver's answer is kept in last_error
USER_AGENT = f"govshare-webhook/{__version__}"


@dataclass(frozen=True)
class Claimed:
    """What the post needs, copied out of the claiming transaction (no ORM object crosses it)."""

    id: int
    event: str
    url: str
    secret: str
    payload: dict


@dataclass(frozen=True)
class Outcome:
    message_id: int
    ok: bool
    error: str = ""


# --- signatures -------------------------------------------------------------------------------------------


def body_of(payload: dict) -> bytes:
    """The exact bytes posted (and signed): compact UTF-8 JSON with sorted keys."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`; the timestamp is signed too, so that a
    captured delivery cannot be replayed later under a fresh timestamp."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str | None,
    *,
    tolerance_seconds: int | None = None,
    now: float | None = None,
) -> bool:
    """True when `signature` (the X-Govshare-Signature header) signs exactly this timestamp and body.
    With `tolerance_seconds`, a timestamp further than that from `now` (default: the clock) is refused."""
    raw = body.encode() if isinstance(body, str) else body
    if tolerance_seconds is not None:
        try:
            age = abs((time.time() if now is None else now) - int(timestamp))
        except (TypeError, ValueError):
            return False
        if age > tolerance_seconds:
            return False
    expected = sign(secret, timestamp, raw).encode()
    return hmac.compare_digest(expected, (signature or "").encode())


def headers_for(message: Claimed, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Govshare-Event": message.event,
        "X-Govshare-Delivery": str(message.id),
        "X-Govshare-Timestamp": str(timestamp),
        "X-Govshare-Signature": sign(message.secret, timestamp, body),
    }


def backoff(attempts: int, *, jitter: bool = True) -> timedelta:
    """Wait before the next try after `attempts` failed ones: 30 s, 1 min, 2 min … at most 1 hour."""
    seconds = min(BASE_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    if jitter:
        seconds *= 1 + random.uniform(0, JITTER)
    return timedelta(seconds=seconds)


# --- one round --------------------------------------------------------------------------------------------


def deliver_due(db: Database, now: datetime, *, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Posts every message due at `now`, batch by batch; returns counts of delivered, retried and dead.
    Ends because every claimed message leaves the due set (delivered, dead, or pushed past `now`)."""
    counts = {"delivered": 0, "retried": 0, "dead": 0}
    while True:
        with db.session() as session:
            settings = settings_of(session)
            batch, counts_dead = claim(session, now, settings, batch_size)
        counts["dead"] += counts_dead
        if not batch:
            return counts
        outcomes = post_all(batch, settings.webhook_timeout_seconds)
        with db.session() as session:
            for what, n in record(session, outcomes, now, settings.webhook_max_attempts).items():
                counts[what] += n


def lease(settings: Settings, size: int) -> timedelta:
    """How long a claim holds: enough for every post of the batch to time out (connect, send, answer)."""
    return LEASE_MARGIN + timedelta(seconds=3 * settings.webhook_timeout_seconds * size)


def claim(session: Session, now: datetime, settings: Settings, batch_size: int) -> tuple[list[Claimed], int]:
    """Claims up to `batch_size` due messages; those of a deactivated hook become dead instead (nothing is
    sent to a hook its department stopped). Returns the claimed messages and the count made dead."""
    ids = list(session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == DeliveryStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)  # PostgreSQL: rows another worker holds are skipped, not waited on
    ))
    if not ids:
        return [], 0
    messages = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).all()
    until = now + lease(settings, len(messages))
    claimed, dead = [], 0
    for message in messages:
        if not message.webhook.is_active:
            message.status, message.last_error = DeliveryStatus.DEAD, "Webhook 已停用，未投递"
            dead += 1
            continue
        message.next_attempt_at = until
        claimed.append(Claimed(id=message.id, event=message.event, url=message.webhook.url,
                               secret=sealing.unseal(session, message.webhook.secret),
                               payload=message.payload))
    return claimed, dead


def post_all(batch: list[Claimed], timeout: float) -> list[Outcome]:
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return [post_one(client, message) for message in batch]


def post_one(client: httpx.Client, message: Claimed) -> Outcome:
    """Posts one message. A redirect counts as a failure: the receiver must give its real address.
    Only the start of the answer is read, so a receiver cannot make the worker load a huge body."""
    body = body_of(message.payload)
    timestamp = int(time.time())  # the receiver compares it with its own clock
    try:
        with client.stream("POST", message.url, content=body, headers=headers_for(message, timestamp, body)) as r:
            if 200 <= r.status_code < 300:
                return Outcome(message.id, ok=True)
            return Outcome(message.id, ok=False, error=f"HTTP {r.status_code}：{_snippet(r)}".rstrip("："))
    except Exception as exc:  # any failure of one post (refused, timeout, bad URL) must not stop the batch
        return Outcome(message.id, ok=False, error=f"连接失败（{type(exc).__name__}）：{exc}"[:1000])


def _snippet(response: httpx.Response) -> str:
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= ERROR_SNIPPET_BYTES:
            break
    return data[:ERROR_SNIPPET_BYTES].decode("utf-8", errors="replace").strip()


def record(session: Session, outcomes: list[Outcome], now: datetime, max_attempts: int) -> dict[str, int]:
    """Stores the results. A message changed meanwhile (its hook deleted, or no longer pending) is left alone."""
    counts = {"delivered": 0, "retried": 0, "dead": 0}
    for outcome in outcomes:
        message = session.get(OutboxMessage, outcome.message_id)
        if message is None or message.status != DeliveryStatus.PENDING:
            continue
        counts[_apply(message, outcome, now, max_attempts)] += 1
    return counts


def _apply(message: OutboxMessage, outcome: Outcome, now: datetime, max_attempts: int) -> str:
    message.attempts += 1
    if outcome.ok:
        message.status, message.delivered_at, message.last_error = DeliveryStatus.DELIVERED, now, ""
        return "delivered"
    message.last_error = outcome.error
    if message.attempts >= max_attempts:
        message.status = DeliveryStatus.DEAD
        return "dead"
    message.next_attempt_at = now + backoff(message.attempts)
    return "retried"
