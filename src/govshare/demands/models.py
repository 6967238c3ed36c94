"""Demands (需求清单, R20)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govshare.catalog.models import CatalogEntry
from govshare.db import Base, utcnow
from govshare.orgs.models import Department


class Demand(Base):
    """A need posted in plain Chinese. Suggestions come from catalog search; an unmet demand is routed
    to the likely provider, who answers with a date (then catalogs within the deadline) or a reason."""

    __tablename__ = "demands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    suggested_entry_ids: Mapped[list] = mapped_column(JSON, default=list)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    routed_at: Mapped[datetime | None] = mapped_column(DateTime)
    routed_automatically: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_due: Mapped[date | None] = mapped_column(Date)
    answer_due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted: Mapped[bool | None] = mapped_column(Boolean)
    planned_date: Mapped[date | None] = mapped_column(Date)
    fulfil_due: Mapped[date | None] = mapped_column(Date)
    fulfil_due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_entries.id"))
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdraw_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    requester: Mapped[Department] = relationship(foreign_keys=[requester_id], lazy="joined", innerjoin=True)
    provider: Mapped[Department | None] = relationship(foreign_keys=[provider_id], lazy="joined")
    entry: Mapped[CatalogEntry | None] = relationship(lazy="joined")
