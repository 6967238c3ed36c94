"""Tell every party of every step: in-app notifications per user, and webhook deliveries written to the
outbox in the same transaction as the step itself (so a step never happens without its messages)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govshare.db import utcnow
from govshare.notify.models import Notification, OutboxMessage, Webhook
from govshare.orgs.models import Role, User


@dataclass(frozen=True)
class Audience:
    """The users of one department who should hear of an event: those with one of `roles`, or every
    active user of the department when `roles` is empty. `user_ids` adds named people (e.g. the
    requester who filed the request) whatever their role."""

    department_id: int
    roles: tuple[Role, ...] = ()
    user_ids: tuple[int, ...] = ()


def emit(
    session: Session,
    event: str,
    title: str,
    *,
    audiences: Iterable[Audience],
    body: str = "",
    link: str = "",
    data: dict | None = None,
) -> list[Notification]:
    audiences = list(audiences)
    notifications = [
        Notification(user_id=user_id, event=event, title=title, body=body, link=link)
        for user_id in _recipients(session, audiences)
    ]
    session.add_all(notifications)
    _enqueue_webhooks(session, event, {"title": title, "body": body, "link": link, "data": data or {}},
                      {a.department_id for a in audiences})
    return notifications


def _recipients(session: Session, audiences: list[Audience]) -> list[int]:
    conditions = []
    named: set[int] = set()
    for audience in audiences:
        named.update(audience.user_ids)
        in_department = User.department_id == audience.department_id
        conditions.append(in_department & User.role.in_([r.value for r in audience.roles]) if audience.roles
                          else in_department)
    if not conditions and not named:
        return []
    query = select(User.id).where(User.is_active.is_(True), or_(User.id.in_(named), *conditions))
    return sorted(set(session.scalars(query)))


def _enqueue_webhooks(session: Session, event: str, content: dict, department_ids: set[int]) -> None:
    if not department_ids:
        return
    hooks = session.scalars(
        select(Webhook).where(Webhook.department_id.in_(department_ids), Webhook.is_active.is_(True))
    )
    now = utcnow()
    for hook in hooks:
        if hook.events and event not in hook.events:
            continue
        payload = {"event": event, "occurred_at": now.isoformat() + "Z", "department_id": hook.department_id,
                   **content}
        session.add(OutboxMessage(webhook_id=hook.id, event=event, payload=payload, status="pending",
                                  next_attempt_at=now))
