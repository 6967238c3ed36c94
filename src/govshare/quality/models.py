"""Quality tables (R14): the rules declared for an entry's items, the reference tables rules compare with, and
the result of each run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govshare.catalog.models import CatalogEntry
from govshare.db import Base, utcnow


class QualityRule(Base):
    """One rule of an entry (`quality.rules.RuleSpec` stored). A rule the platform proposed (from the items'
    types and the source's profile) counts only once the provider confirmed it (`confirmed_at`)."""

    __tablename__ = "quality_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    item: Mapped[str | None] = mapped_column(String(120))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(String(20))  # proposed | declared
    basis: Mapped[str] = mapped_column(String(300), default="")  # why the platform proposed it
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReferenceTable(Base):
    """A code list rules compare values with (行政区划代码, …), imported by the platform admin."""

    __tablename__ = "quality_reference_tables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500), default="")  # where the codes come from, as of when
    codes: Mapped[list] = mapped_column(JSON, default=list)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class QualityRun(Base):
    """One run of an entry's confirmed rules over its source: the scores (columns, for sorting and filtering),
    the rows checked, and per rule the checked and failed counts with a few masked failing keys."""

    __tablename__ = "quality_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(20))  # connect | schedule | demand
    status: Mapped[str] = mapped_column(String(20))  # done | failed
    error: Mapped[str] = mapped_column(Text, default="")
    rows_checked: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    sampled: Mapped[bool] = mapped_column(Boolean, default=False)
    sample_method: Mapped[str] = mapped_column(String(200), default="")
    completeness: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    consistency: Mapped[float | None] = mapped_column(Float)
    timeliness: Mapped[float | None] = mapped_column(Float)
    overall: Mapped[float | None] = mapped_column(Float, index=True)
    results: Mapped[list] = mapped_column(JSON, default=list)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    entry: Mapped[CatalogEntry] = relationship(lazy="joined", innerjoin=True)
