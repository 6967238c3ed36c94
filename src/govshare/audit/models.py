"""Usage records (R12) and the chain that makes them tamper-evident.

Records carry no foreign keys on purpose: a record outlives the grant, system or user it names, and the
chain, not the schema, is what proves it was not changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govshare.db import Base

GENESIS_HASH = "0" * 64


class UsageRecord(Base):
    """使用记录: one access through the gateway, served or refused. `seq` is the record's position in the
    chain (1, 2, 3, … with no gaps); `hash` = SHA-256(prev_hash ‖ canonical fields), see audit.chain."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_grant_at", "grant_id", "at"),
        Index("ix_usage_records_department_at", "department_id", "at"),
        Index("ix_usage_records_provider_at", "provider_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    department_id: Mapped[int | None] = mapped_column(Integer)
    provider_id: Mapped[int | None] = mapped_column(Integer)
    consumer_system_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    entry_id: Mapped[int | None] = mapped_column(Integer)
    resource_code: Mapped[str] = mapped_column(String(40), default="")
    mode: Mapped[str] = mapped_column(String(12))
    items: Mapped[str] = mapped_column(Text, default="")
    row_count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    result: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(40), default="")
    request_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainHead(Base):
    """The last link of the chain (one row, id 1). Appending locks it, so links are made one at a time."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class Checkpoint(Base):
    """The node's Ed25519 signature over (seq, hash, at): rewriting the chain after it needs the node key.
    `kind` is 'interval' (the worker's), 'manual', or 'prune' (the anchor left before old records are
    deleted after archiving, whose hash is the prev_hash of the first record kept) or 'archive' (signed
    when records are exported, so an archive file ends on a signature)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12), default="interval")
    signed_at: Mapped[datetime] = mapped_column(DateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    # SHA-256 of the previous checkpoint's message and signature: the checkpoints' own chain ("" for the first)
    prev: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
