"""API shapes of notifications and webhooks. A webhook's secret appears only in the answer that creates
or rotates it (WebhookSecretOut), never in a listing."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event: str
    title: str
    body: str
    link: str
    created_at: datetime
    read_at: datetime | None


class UnreadCountOut(BaseModel):
    unread: int


class MarkedOut(BaseModel):
    marked: int = Field(description="how many notifications were marked read")


class WebhookIn(BaseModel):
    url: str = Field(max_length=500, description="http(s) URL the platform POSTs each event to")
    department_id: int | None = Field(None, description="default: the caller's department")
    events: list[str] = Field(default_factory=list, description="event names to receive; empty: every event")


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    department_id: int
    department_name: str
    url: str
    events: list[str]
    is_active: bool
    created_at: datetime


class WebhookSecretOut(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 signing secret; shown only in this answer, keep it safe")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="also sent as X-Govshare-Delivery")
    webhook_id: int
    event: str
    status: str = Field(description="pending / delivered / dead")
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
