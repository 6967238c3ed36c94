"""The holiday table an administrator keeps: it takes precedence over chinese-calendar (R07)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from govshare.db import Base, utcnow


class CalendarDay(Base):
    """One day whose status differs from a plain Monday–Friday week, or that the admin confirms:
    an official holiday (放假) or a make-up working day (调休上班), e.g. from the State Council's notice."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(60), default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
