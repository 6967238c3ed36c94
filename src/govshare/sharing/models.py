"""Sharing tables: requests and their history, grants, dispute steps, service changes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govshare.catalog.models import CatalogEntry
from govshare.db import Base, utcnow
from govshare.orgs.models import ConsumerSystem, Department, User


class ShareRequest(Base):
    """申请: a requester department asks for a published entry (R07). Items are data-item ids (stable
    across revisions of the entry); the row scope is {"item": name, "prefixes": [...]} or {} for all rows."""

    __tablename__ = "share_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id"), index=True)
    entry_version: Mapped[int] = mapped_column(Integer)
    requester_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    consumer_system_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_systems.id"))
    purpose: Mapped[str] = mapped_column(Text)
    scenario: Mapped[str] = mapped_column(Text)
    duty_basis: Mapped[str] = mapped_column(Text, default="")
    item_ids: Mapped[list] = mapped_column(JSON, default=list)
    row_scope: Mapped[dict] = mapped_column(JSON, default=dict)
    share_method: Mapped[str] = mapped_column(String(20))
    verify_only: Mapped[bool] = mapped_column(Boolean, default=False)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), index=True)
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("share_requests.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    reply_due: Mapped[date | None] = mapped_column(Date)
    reply_due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    entry: Mapped[CatalogEntry] = relationship(lazy="joined", innerjoin=True)
    requester: Mapped[Department] = relationship(foreign_keys=[requester_id], lazy="joined", innerjoin=True)
    provider: Mapped[Department] = relationship(foreign_keys=[provider_id], lazy="joined", innerjoin=True)
    consumer_system: Mapped[ConsumerSystem | None] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")


class RequestEvent(Base):
    """Every state change and step of a request: who, when, what, why."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_requests.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")


class Grant(Base):
    """共享授权 (R09–R10): exactly what an approved request gives, bound to one consumer system."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_requests.id"), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    consumer_system_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_systems.id"), index=True)
    item_ids: Mapped[list] = mapped_column(JSON, default=list)
    row_scope: Mapped[dict] = mapped_column(JSON, default=dict)
    purpose: Mapped[str] = mapped_column(Text)
    scenario: Mapped[str] = mapped_column(Text)
    share_method: Mapped[str] = mapped_column(String(20))
    verify_only: Mapped[bool] = mapped_column(Boolean, default=False)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date, index=True)
    rate_limit: Mapped[int] = mapped_column(Integer)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    # item name -> masking rule (see gateway.masking); items not named are masked by their grade
    masking: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime)
    suspend_reason: Mapped[str] = mapped_column(Text, default="")
    end_reason: Mapped[str | None] = mapped_column(String(30))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    deletion_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    deletion_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    request: Mapped[ShareRequest] = relationship(lazy="joined", innerjoin=True)
    entry: Mapped[CatalogEntry] = relationship(lazy="joined", innerjoin=True)
    consumer_system: Mapped[ConsumerSystem | None] = relationship(lazy="joined")


class DisputeStep(Base):
    """One step of a dispute (R08): negotiation, then the same-level authority, then the higher level.
    `handler_id` is the department that decides the step; its decision binds the grant. A step that no
    authority of this node other than the parties may settle is referred to the higher node (status
    `referred`, R16): it has no handler here (NULL) and nobody on this node decides it."""

    __tablename__ = "dispute_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_requests.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(20))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    prior_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    due: Mapped[date] = mapped_column(Date)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decision_terms: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    handler: Mapped[Department | None] = relationship(lazy="joined")


class ServiceChange(Base):
    """R11: a provider asks to stop or change a published sharing service; the competent authority
    decides; the affected grants' requesters are told before `effective_date`."""

    __tablename__ = "service_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    effective_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), index=True)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    notified_grant_ids: Mapped[list] = mapped_column(JSON, default=list)

    entry: Mapped[CatalogEntry] = relationship(lazy="joined", innerjoin=True)
