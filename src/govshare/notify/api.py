"""Routes of notify (thin: every rule is in notify.service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from govshare.apidoc import errors
from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.fields import IdPath, IdQuery, Offset, limit_query
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
from govshare.notify.service import DeliveryStatus

router = APIRouter(tags=["notify"])

# What every notification is for: each step of a request and its reply (R07), of a dispute (R08), of a
# service change (R11) reaches every party.
NOTIFIES = "通知告知申请与答复（R07）、争议处理（R08）和共享服务变更（R11）的每一步。"
# Webhook secrets sign every delivery and are stored encrypted with the node key (R18).
SIGNS = "Webhook 的密钥用于签名每次投递，平台以节点密钥加密保存（R18）。"


def webhook_out(hook: Webhook, secret: str | None = None) -> WebhookOut:
    fields = dict(id=hook.id, department_id=hook.department_id, department_name=hook.department.name, url=hook.url,
                  events=list(hook.events or []), is_active=hook.is_active, created_at=hook.created_at)
    return WebhookSecretOut(**fields, secret=secret) if secret is not None else WebhookOut(**fields)


# --- notifications ----------------------------------------------------------------------------------------


@router.get("/api/v1/notifications", response_model=list[NotificationOut], summary="我的通知")
def list_notifications(
    unread_only: bool = False,
    limit: Annotated[int, limit_query(500)] = 50,
    offset: Offset = 0,
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    """The caller's own notifications, newest first."""
    return service.list_notifications(session, actor, unread_only=unread_only, limit=limit, offset=offset)


@router.get("/api/v1/notifications/unread-count", response_model=UnreadCountOut, summary="未读通知数")
def unread_count(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return UnreadCountOut(unread=service.unread_count(session, actor))


@router.post("/api/v1/notifications/read-all", response_model=MarkedOut, summary="全部标为已读",
             description="把本人的全部未读通知标为已读，返回标记的条数。" + NOTIFIES)
def mark_all_read(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return MarkedOut(marked=service.mark_all_read(session, actor))


@router.post("/api/v1/notifications/{notification_id}/read", response_model=NotificationOut, summary="标为已读",
             description="把本人的一条通知标为已读（他人的通知视为不存在）。" + NOTIFIES)
def mark_read(notification_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.mark_read(session, actor, notification_id)


# --- webhooks ---------------------------------------------------------------------------------------------


@router.get("/api/v1/webhooks", response_model=list[WebhookOut], summary="列出 Webhook")
def list_webhooks(department_id: IdQuery | None = None, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    return [webhook_out(h) for h in service.list_webhooks(session, actor, department_id=department_id)]


@router.post("/api/v1/webhooks", response_model=WebhookSecretOut, status_code=201, summary="登记 Webhook",
             description="登记部门接收事件的 Webhook 地址（默认为本部门）；密钥只在本次响应中出现。" + SIGNS,
             responses=errors(404))
def create_webhook(body: WebhookIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    hook, secret = service.create_webhook(session, actor, department_id=body.department_id, url=body.url,
                                          events=body.events)
    return webhook_out(hook, secret)


@router.get("/api/v1/webhooks/{webhook_id}", response_model=WebhookOut, summary="查看 Webhook")
def get_webhook(webhook_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return webhook_out(service.get_webhook(session, actor, webhook_id))


@router.post("/api/v1/webhooks/{webhook_id}/deactivate", response_model=WebhookOut, summary="停用 Webhook",
             description="停止向该 Webhook 投递（R18 实时停用）；尚待投递的消息转为已放弃，不会丢失记录。")
def deactivate_webhook(webhook_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return webhook_out(service.set_webhook_active(session, actor, webhook_id, active=False))


@router.post("/api/v1/webhooks/{webhook_id}/activate", response_model=WebhookOut, summary="启用 Webhook",
             description="恢复向该 Webhook 投递之后的事件（R18）。")
def activate_webhook(webhook_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return webhook_out(service.set_webhook_active(session, actor, webhook_id, active=True))


@router.delete("/api/v1/webhooks/{webhook_id}", status_code=204, summary="删除 Webhook",
               description="删除 Webhook 及其投递记录（R18）。")
def delete_webhook(webhook_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    service.delete_webhook(session, actor, webhook_id)
    return Response(status_code=204)


@router.post("/api/v1/webhooks/{webhook_id}/rotate-secret", response_model=WebhookSecretOut,
             summary="更换 Webhook 密钥",
             description="立即更换签名密钥，旧密钥不再用于签名；新密钥只在本次响应中出现。" + SIGNS)
def rotate_secret(webhook_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    hook, secret = service.rotate_secret(session, actor, webhook_id)
    return webhook_out(hook, secret)


@router.get("/api/v1/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut], summary="Webhook 投递记录")
def list_deliveries(
    webhook_id: IdPath,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, limit_query(500)] = 50,
    offset: Offset = 0,
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    """The hook's latest deliveries, newest first: status, attempts and the last error."""
    return service.list_deliveries(session, actor, webhook_id, status=status, limit=limit, offset=offset)


@router.post("/api/v1/webhooks/deliveries/{message_id}/retry", response_model=DeliveryOut, summary="重新投递",
             description="把已放弃（dead）的投递重新放入队列并重置尝试次数（R18），例如接收方修复之后。",
             responses=errors(409))
def retry_delivery(message_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.retry_delivery(session, actor, message_id)
