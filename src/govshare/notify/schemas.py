"""API shapes of notifications and webhooks. A webhook's secret appears only in the answer that creates
or rotates it (WebhookSecretOut), never in a listing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from govshare.fields import Id, UtcDateTime
from govshare.notify.service import DeliveryStatus


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event: str
    title: str
    body: str
    link: str
    created_at: UtcDateTime
    read_at: UtcDateTime | None


class UnreadCountOut(BaseModel):
    unread: int


class MarkedOut(BaseModel):
    marked: int = Field(description="how many notifications were marked read")


class WebhookIn(BaseModel):
    url: str = Field(max_length=500, description="http(s) URL the platform POSTs each event to")
    department_id: Id | None = Field(None, description="default: the caller's department")
    events: list[str] = Field(default_factory=list, description="event names to receive; empty: every event")


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    department_id: int
    department_name: str
    url: str
    events: list[str]
    is_active: bool
    created_at: UtcDateTime


class WebhookSecretOut(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 signing secret; shown only in this answer, keep it safe")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="also sent as X-Govshare-Delivery")
    webhook_id: int
    event: str
    status: DeliveryStatus = Field(description="pending 待投递 / delivered 已送达 / dead 已放弃")
    attempts: int
    next_attempt_at: UtcDateTime
    last_error: str
    created_at: UtcDateTime
    delivered_at: UtcDateTime | None
