"""Objections (校核纠错, R13): a user of shared data says a record is wrong; the provider verifies and answers
within the deadline. While open, the record is flagged (校核中), never hidden."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govshare.catalog.models import CatalogEntry
from govshare.db import Base, utcnow


class Objection(Base):
    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id"), index=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    record_key: Mapped[str] = mapped_column(String(200), index=True)
    items: Mapped[list] = mapped_column(JSON, default=list)  # the items believed wrong
    claimed: Mapped[dict] = mapped_column(JSON, default=dict)  # item -> the value believed right
    evidence: Mapped[str] = mapped_column(Text)
    # the evidence file (a scan of the death certificate, …) in the managed store: data_dir/objections/<stored>
    evidence_stored: Mapped[str | None] = mapped_column(String(80))
    evidence_filename: Mapped[str | None] = mapped_column(String(200))
    evidence_media_type: Mapped[str | None] = mapped_column(String(60))
    evidence_size: Mapped[int | None] = mapped_column(Integer)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)
    due: Mapped[date] = mapped_column(Date)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    forwarded_to_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    entry: Mapped[CatalogEntry] = relationship(lazy="joined", innerjoin=True)

    # the gateway's question on every call of an entry with open objections: which of these keys are open
    __table_args__ = (Index("ix_objections_entry_status_key", "entry_id", "status", "record_key"),)


class ObjectionEvent(Base):
    """The objection's record: who did what, when, why."""

    __tablename__ = "objection_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    objection_id: Mapped[int] = mapped_column(ForeignKey("objections.id"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
