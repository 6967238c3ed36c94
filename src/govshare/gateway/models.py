"""Gateway tables: the data connections the platform admin registers per department, the source a published
entry is served from, and per-grant daily usage counters."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govshare.catalog.models import CatalogEntry
from govshare.db import Base, utcnow


class DataConnection(Base):
    """数据连接: a database or an upstream API base address that the platform admin registered for one
    department. The department's users connect entries to tables (or paths) of their own connections only:
    nobody but the admin types a database URL or an address. `location` is sealed (it may hold a password);
    `allowed` lists the tables (`schema.table`, `schema.*`) or path prefixes the department may use (empty:
    all of them); `internal` is the admin's confirmation that an HTTP base address on a private network is
    meant (else such addresses are refused, at registration and on every call)."""

    __tablename__ = "data_connections"
    __table_args__ = (UniqueConstraint("department_id", "name", name="uq_data_connections_department_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    location: Mapped[str] = mapped_column(Text)
    allowed: Mapped[list] = mapped_column(JSON, default=list)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class DataSource(Base):
    """数据源: where the gateway reads a published entry's data. `kind` is sql (a table reached by a
    SQLAlchemy URL, stored sealed because it may hold a password), file (CSV/XLSX/Parquet loaded into the
    managed Parquet store; `location` is the store path relative to data_dir) or http (an upstream API
    called on the requester's behalf; `location` is its URL, sealed). `column_map` maps item names to
    source columns; `key_item` is the item a key lookup searches."""

    __tablename__ = "data_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    location: Mapped[str] = mapped_column(Text)
    # the admin's connection a sql or http source was made through (its sealed location copied here, with
    # the path for http); none for files
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("data_connections.id"))
    table_name: Mapped[str] = mapped_column(String(200), default="")
    key_item: Mapped[str] = mapped_column(String(120))
    column_map: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="connected")
    row_count: Mapped[int | None] = mapped_column(Integer)
    loaded_at: Mapped[datetime | None] = mapped_column(DateTime)
    profile: Mapped[dict] = mapped_column(JSON, default=dict)
    load_report: Mapped[dict] = mapped_column(JSON, default=dict)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    entry: Mapped[CatalogEntry] = relationship(lazy="joined", innerjoin=True)
    connection: Mapped[DataConnection | None] = relationship()


class GrantUsageDay(Base):
    """Calls, rows and refusals of one grant on one (local) day: the daily quota and the volume anomaly
    read this instead of counting usage records."""

    __tablename__ = "grant_usage_days"
    __table_args__ = (UniqueConstraint("grant_id", "day", name="uq_grant_usage_days_grant_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(Integer, index=True)
    day: Mapped[date] = mapped_column(Date)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    refusals: Mapped[int] = mapped_column(Integer, default=0)
    # the grant's answered calls in one clock second (seconds since the epoch): the rate limit's counter
    second: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    second_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
