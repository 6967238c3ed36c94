"""Shapes of API values that every domain shares: ids, pages and timestamps. Declared once, so the ranges
and formats the server enforces are the ones the OpenAPI schema states (out of range is a 422 naming the
field, never a driver's OverflowError or PostgreSQL's "integer out of range")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field

MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32-bit on PostgreSQL (SQLite's would hold 64 bits)
MAX_OFFSET = 1_000_000_000  # far beyond any list, and offset + limit still fits a 64-bit integer

Id = Annotated[int, Field(ge=1, le=MAX_ID, description="编号（正整数）")]
"""An id in a request body (entry_id, consumer_system_id, …); use `list[Id]` for lists of ids."""

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="编号（正整数）")]
"""An id in the path: `/requests/{request_id}` → `request_id: IdPath`."""

IdQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="编号（正整数）")]
"""An id in the query string: `grant: IdQuery` (required) or `provider: IdQuery | None = None`."""

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="跳过的条数（分页）")]
"""`offset: Offset = 0`."""


def limit_query(maximum: int, description: str = "每页条数") -> Query:
    """A page size: `limit: int = limit_query(500)` with its default given by the route
    (`Annotated[int, limit_query(500)] = 100`)."""
    return Query(ge=1, le=maximum, description=f"{description}（1–{maximum}）")


def as_utc(value: datetime) -> datetime:
    """Times are stored in UTC without a zone (db.utcnow); the API states the offset."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
"""A timestamp of an API response: ISO 8601 with its offset (`2026-12-06T19:33:00Z`). Stored values are
naive UTC; this type states it."""


def is_digits(text: str) -> bool:
    """ASCII digits only: `str.isdigit()` also accepts "²" and "٣", on which `int()` fails or reads a number
    nobody typed."""
    return text.isascii() and text.isdigit()


def id_from(text: str) -> int | None:
    """The record id a form or query value names, or None: not a number, or beyond any id."""
    text = text.strip()
    return int(text) if is_digits(text) and 1 <= int(text) <= MAX_ID else None
