"""Catalog tables: entries, their data items, history and revisions, code sequences, one-source clusters."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govshare.db import Base, utcnow
from govshare.orgs.models import Department, User


class CatalogEntry(Base):
    __tablename__ = "catalog_entries"
    # an import's idempotency key is unique per provider: one department's rows reveal nothing of another's
    __table_args__ = (UniqueConstraint("provider_id", "external_key", name="uq_catalog_entries_provider_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(40), unique=True)
    classification_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(300))
    provider_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    abstract: Mapped[str] = mapped_column(Text, default="")
    data_format: Mapped[str] = mapped_column(String(20))
    share_type: Mapped[str] = mapped_column(String(20), index=True)
    share_condition: Mapped[str] = mapped_column(Text, default="")
    share_method: Mapped[str] = mapped_column(String(20))
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    open_attribute: Mapped[str] = mapped_column(String(20))
    open_condition: Mapped[str] = mapped_column(Text, default="")
    update_cycle: Mapped[str] = mapped_column(String(20))
    publish_date: Mapped[date | None] = mapped_column(Date)
    related_codes: Mapped[list] = mapped_column(JSON, default=list)
    source_system: Mapped[str] = mapped_column(String(200), default="")
    grade: Mapped[str] = mapped_column(String(20))
    theme: Mapped[str] = mapped_column(String(60), default="", index=True)
    tags: Mapped[str] = mapped_column(String(500), default="", server_default="")  # 标签, 行业分类 of a portal
    source_url: Mapped[str] = mapped_column(String(500), default="", server_default="")  # the portal's page
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    data_updated_at: Mapped[datetime | None] = mapped_column(DateTime)  # None: unknown (an import without a date)
    external_key: Mapped[str | None] = mapped_column(String(64))
    return_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    provider: Mapped[Department] = relationship(lazy="joined", innerjoin=True)
    items: Mapped[list[DataItem]] = relationship(
        back_populates="entry", cascade="all, delete-orphan", order_by="DataItem.position"
    )


class DataItem(Base):
    """信息项: one column of a catalog entry."""

    __tablename__ = "data_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(120))
    chinese_name: Mapped[str] = mapped_column(String(200))
    data_type: Mapped[str] = mapped_column(String(20))
    length: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    grade: Mapped[str] = mapped_column(String(20))
    personal_info: Mapped[str] = mapped_column(String(10), default="none")

    entry: Mapped[CatalogEntry] = relationship(back_populates="items")


class EntryEvent(Base):
    """Every change of an entry: who, when, what and why (R05). Publications carry the version
    number and a full snapshot, so every published version can be read back."""

    __tablename__ = "entry_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    version: Mapped[int | None] = mapped_column(Integer)
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")


class EntryRevision(Base):
    """A proposed change to a published entry; it becomes the next version when the authority approves.

    A revision caused by a change of law or of duties (R05) states what changed and when it took effect;
    it must be published within `law_change_working_days` working days of that date (`due_date`, counted
    once and `due_estimated` when a year's holidays were unknown). The worker reminds before the due date
    and marks an unpublished revision overdue once; approval records whether the deadline was met."""

    __tablename__ = "entry_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id", ondelete="CASCADE"), index=True)
    base_version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    due_to_law_change: Mapped[bool] = mapped_column(Boolean, default=False)
    law_change_basis: Mapped[str] = mapped_column(Text, default="")  # the law, policy or duty that changed
    law_effective_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime)
    deadline_met: Mapped[bool | None] = mapped_column(Boolean)  # set when published: by the due date or not
    status: Mapped[str] = mapped_column(String(20), index=True)
    return_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)


class CodeSequence(Base):
    """Last sequence number used per classification code, for `classification/sequence` resource codes."""

    __tablename__ = "code_sequences"

    classification_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class SourceCluster(Base):
    """一数一源: a data item that several departments catalog, possibly under different names."""

    __tablename__ = "source_clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(250), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    data_type: Mapped[str] = mapped_column(String(20))
    lead_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    named_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    named_at: Mapped[datetime | None] = mapped_column(DateTime)
    lead_reason: Mapped[str] = mapped_column(Text, default="")
    detected_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    lead_department: Mapped[Department | None] = relationship(lazy="joined")
    members: Mapped[list[SourceClusterMember]] = relationship(cascade="all, delete-orphan")


class SourceClusterMember(Base):
    __tablename__ = "source_cluster_members"
    __table_args__ = (UniqueConstraint("cluster_id", "data_item_id", name="uq_cluster_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("source_clusters.id", ondelete="CASCADE"), index=True)
    data_item_id: Mapped[int] = mapped_column(ForeignKey("data_items.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)

    data_item: Mapped[DataItem] = relationship(lazy="joined")
