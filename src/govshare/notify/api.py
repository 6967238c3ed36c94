"""Routes of notify (thin: every rule is in notify.service)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.notify import service
from govshare.notify.models import Webhook
from govshare.notify.schemas import (
    DeliveryOut,
    MarkedOut,
    NotificationOut,
    UnreadCountOut,
    WebhookIn,
    WebhookOut,
    WebhookSecretOut,
)

router = APIRouter(tags=["notify"])


def webhook_out(hook: Webhook, secret: str | None = None) -> WebhookOut:
    fields = dict(id=hook.id, department_id=hook.department_id, department_name=hook.department.name, url=hook.url,
                  events=list(hook.events or []), is_active=hook.is_active, created_at=hook.created_at)
    return WebhookSecretOut(**fields, secret=secret) if secret is not None else WebhookOut(**fields)


# --- notifications ----------------------------------------------------------------------------------------


@router.get("/api/v1/notifications", response_model=list[NotificationOut])
def list_notifications(
    unread_only: bool = False,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    return service.list_notifications(session, actor, unread_only=unread_only, limit=limit, offset=offset)


@router.get("/api/v1/notifications/unread-count", response_model=UnreadCountOut)
def unread_count(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return UnreadCountOut(unread=service.unread_count(session, actor))


@router.post("/api/v1/notifications/read-all", response_model=MarkedOut)
def mark_all_read(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return MarkedOut(marked=service.mark_all_read(session, actor))


@router.post("/api/v1/notifications/{notification_id}/read", response_model=NotificationOut)
def mark_read(notification_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.mark_read(session, actor, notification_id)


# --- webhooks ---------------------------------------------------------------------------------------------


@router.get("/api/v1/webhooks", response_model=list[WebhookOut])
def list_webhooks(department_id: int | None = None, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    return [webhook_out(h) for h in service.list_webhooks(session, actor, department_id=department_id)]


@router.post("/api/v1/webhooks", response_model=WebhookSecretOut, status_code=201)
def create_webhook(body: WebhookIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    hook, secret = service.create_webhook(session, actor, department_id=body.department_id, url=body.url,
                                          events=body.events)
    return webhook_out(hook, secret)


@router.get("/api/v1/webhooks/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return webhook_out(service.get_webhook(session, actor, webhook_id))


@router.post("/api/v1/webhooks/{webhook_id}/deactivate", response_model=WebhookOut)
def deactivate_webhook(webhook_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return webhook_out(service.set_webhook_active(session, actor, webhook_id, active=False))


@router.post("/api/v1/webhooks/{webhook_id}/activate", response_model=WebhookOut)
def activate_webhook(webhook_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return webhook_out(service.set_webhook_active(session, actor, webhook_id, active=True))


@router.delete("/api/v1/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    service.delete_webhook(session, actor, webhook_id)
    return Response(status_code=204)


@router.post("/api/v1/webhooks/{webhook_id}/rotate-secret", response_model=WebhookSecretOut)
def rotate_secret(webhook_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    hook, secret = service.rotate_secret(session, actor, webhook_id)
    return webhook_out(hook, secret)


@router.get("/api/v1/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    webhook_id: int,
    status: str | None = Query(None, pattern="^(pending|delivered|dead)$"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    return service.list_deliveries(session, actor, webhook_id, status=status, limit=limit, offset=offset)


@router.post("/api/v1/webhooks/deliveries/{message_id}/retry", response_model=DeliveryOut)
def retry_delivery(message_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.retry_delivery(session, actor, message_id)
