"""Tell every party of every step: in-app notifications per user, and webhook deliveries written to the
outbox in the same transaction as the step itself (so a step never happens without its messages).

Also the rules of reading one's notifications and of managing a department's webhooks; the delivery of
outbox messages is in notify.delivery."""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.orm import Session

from govshare import sealing
from govshare.authz import Actor, require_own_department, require_role
from govshare.db import utcnow
from govshare.errors import Conflict, NotFound, ValidationFailed, found
from govshare.notify.models import Notification, OutboxMessage, Webhook
from govshare.orgs.models import Department, Role, User

# Who may manage a department's webhooks: the platform admin for any department, these roles for their own.
WEBHOOK_MANAGER_ROLES = (Role.DEPT_REVIEWER, Role.CATALOG_MANAGER, Role.REQUESTER)
# Who may see every department's webhooks (never their secrets): admins, and auditors who read everything.
WEBHOOK_READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)
MAX_EVENT_LENGTH = 60  # OutboxMessage.event
MAX_URL_LENGTH = 500  # Webhook.url


class DeliveryStatus(enum.StrEnum):
    """Life of an outbox message: pending until a 2xx answer (delivered) or until it gives up (dead)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


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
    _enqueue_webhooks(session, event, {"title": title, "body": body, "link": link, "data": _json_safe(data or {})},
                      {a.department_id for a in audiences})
    return notifications


def _json_safe(data: dict) -> dict:
    """`data` as plain JSON (dates and decimals as text): a value the JSON column cannot store would otherwise
    fail the caller's whole step at commit time."""
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


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
        session.add(OutboxMessage(webhook_id=hook.id, event=event, payload=payload, status=DeliveryStatus.PENDING,
                                  next_attempt_at=now))


# --- in-app notifications -------------------------------------------------------------------------------


def readable_notifications(actor: Actor) -> Select:
    """The actor's own notifications: nobody, not even an admin, reads another person's inbox."""
    if actor.user_id is None:  # the node operator has no inbox
        return select(Notification).where(false())
    return select(Notification).where(Notification.user_id == actor.user_id)


def list_notifications(
    session: Session, actor: Actor, *, unread_only: bool = False, limit: int = 50, offset: int = 0
) -> list[Notification]:
    query = readable_notifications(actor)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def unread_count(session: Session, actor: Actor) -> int:
    unread = readable_notifications(actor).where(Notification.read_at.is_(None)).subquery()
    return session.scalar(select(func.count()).select_from(unread)) or 0


def mark_read(session: Session, actor: Actor, notification_id: int) -> Notification:
    """Marks one of the actor's notifications read; another user's id is "not found", so that ids of other
    people's notifications cannot even be probed."""
    notification = session.scalars(
        readable_notifications(actor).where(Notification.id == notification_id)
    ).first()
    notification = found(notification, f"通知不存在：{notification_id}", "notification_id")
    if notification.read_at is None:
        notification.read_at = utcnow()
    return notification


def mark_all_read(session: Session, actor: Actor) -> int:
    """Marks every unread notification of the actor read; returns how many."""
    if actor.user_id is None:
        return 0
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# --- webhooks ---------------------------------------------------------------------------------------------


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def validate_url(url: str) -> str:
    """Only http(s) URLs with a host: anything else (file:, javascript:, a bare path) could never be posted
    to, or would make the worker touch something other than a web server."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(f"Webhook 地址必须是带主机名的 http(s) 地址：{url}", field="url")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(f"Webhook 地址不能超过 {MAX_URL_LENGTH} 个字符", field="url")
    return url


def validate_events(events: Iterable[str] | None) -> list[str]:
    """Event names, trimmed and without repeats, in the given order; empty means every event."""
    cleaned: list[str] = []
    for event in events or ():
        name = (event or "").strip()
        if not name or len(name) > MAX_EVENT_LENGTH:
            raise ValidationFailed(f"事件名称须为 1–{MAX_EVENT_LENGTH} 个字符：{event!r}", field="events")
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


def require_webhook_manager(actor: Actor, department_id: int) -> None:
    """A platform admin manages any department's hooks; the department's own people manage only theirs."""
    require_role(actor, Role.PLATFORM_ADMIN, *WEBHOOK_MANAGER_ROLES, action="管理 Webhook")
    if not actor.has(Role.PLATFORM_ADMIN):
        require_own_department(actor, department_id, action="管理")


def readable_webhooks(actor: Actor) -> Select:
    """Hooks the actor may see: every hook for admins and auditors, the own department's for its managers."""
    query = select(Webhook)
    if actor.is_system or actor.has(*WEBHOOK_READ_ALL_ROLES):
        return query
    if actor.has(*WEBHOOK_MANAGER_ROLES):
        return query.where(Webhook.department_id == actor.department_id)
    return query.where(false())


def create_webhook(
    session: Session, actor: Actor, *, department_id: int | None, url: str, events: Iterable[str] | None = None
) -> tuple[Webhook, str]:
    """Registers a hook; returns it with its secret, which is shown only this once."""
    department_id = department_id or actor.department_id
    if department_id is None:
        raise ValidationFailed("请指定部门", field="department_id")
    require_webhook_manager(actor, department_id)
    found(session.get(Department, department_id), f"部门不存在：{department_id}", "department_id")
    secret = new_secret()
    hook = Webhook(department_id=department_id, url=validate_url(url), secret=sealing.seal(session, secret),
                   events=validate_events(events), is_active=True, created_by_id=actor.user_id)
    session.add(hook)
    session.flush()
    return hook, secret


def list_webhooks(session: Session, actor: Actor, *, department_id: int | None = None) -> list[Webhook]:
    query = readable_webhooks(actor)
    if department_id is not None:
        query = query.where(Webhook.department_id == department_id)
    return list(session.scalars(query.order_by(Webhook.id)))


def get_webhook(session: Session, actor: Actor, webhook_id: int) -> Webhook:
    hook = session.scalars(readable_webhooks(actor).where(Webhook.id == webhook_id)).first()
    return found(hook, f"Webhook 不存在或无权查看：{webhook_id}", "webhook_id")


def _managed_webhook(session: Session, actor: Actor, webhook_id: int) -> Webhook:
    """A hook the actor may change: visible (else 404) and of a department it manages (else 403, which an
    auditor, who sees every hook, gets)."""
    hook = get_webhook(session, actor, webhook_id)
    require_webhook_manager(actor, hook.department_id)
    return hook


def set_webhook_active(session: Session, actor: Actor, webhook_id: int, *, active: bool) -> Webhook:
    """Stops (or resumes) deliveries; messages still pending for a stopped hook become dead, not lost."""
    hook = _managed_webhook(session, actor, webhook_id)
    hook.is_active = active
    return hook


def delete_webhook(session: Session, actor: Actor, webhook_id: int) -> None:
    """Deletes the hook and its delivery log (deleted here rather than left to ON DELETE CASCADE, so the
    result does not depend on the database enforcing foreign keys)."""
    hook = _managed_webhook(session, actor, webhook_id)
    session.execute(OutboxMessage.__table__.delete().where(OutboxMessage.webhook_id == hook.id))
    session.delete(hook)
    session.flush()


def rotate_secret(session: Session, actor: Actor, webhook_id: int) -> tuple[Webhook, str]:
    """A new secret at once (the old one stops signing); returned only this once."""
    hook = _managed_webhook(session, actor, webhook_id)
    secret = new_secret()
    hook.secret = sealing.seal(session, secret)
    return hook, secret


def list_deliveries(
    session: Session, actor: Actor, webhook_id: int, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[OutboxMessage]:
    """The latest deliveries of a hook, newest first (status, attempts, last error)."""
    hook = get_webhook(session, actor, webhook_id)
    query = select(OutboxMessage).where(OutboxMessage.webhook_id == hook.id)
    if status:
        query = query.where(OutboxMessage.status == status)
    query = query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def retry_delivery(session: Session, actor: Actor, message_id: int) -> OutboxMessage:
    """Puts a dead delivery back in the queue with a fresh count of attempts (e.g. once the receiver is
    fixed); the last error stays visible until the next attempt."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"投递记录不存在：{message_id}", field="message_id")
    _managed_webhook(session, actor, message.webhook_id)
    if message.status != DeliveryStatus.DEAD:
        raise Conflict(f"只能重新投递失败（dead）的消息，当前状态：{message.status}", field="status")
    if not message.webhook.is_active:
        raise Conflict("Webhook 已停用，请先启用再重新投递", field="webhook_id")
    message.status, message.attempts, message.next_attempt_at = DeliveryStatus.PENDING, 0, utcnow()
    return message
