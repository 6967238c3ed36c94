"""API shapes of the working-day calendar."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from govshare.fields import UtcDateTime
from govshare.workdays.service import MAX_YEAR, MIN_YEAR


class DayIn(BaseModel):
    is_workday: bool = Field(description="true: 上班（调休上班）; false: 放假")
    name: str = Field("", max_length=60, description="e.g. 国庆节")
    source: str = Field("", max_length=200, description="e.g. the notice's title")


class DayOut(BaseModel):
    day: date
    is_workday: bool
    kind: str = Field(description="放假 or 上班")
    name: str
    source: str
    created_by: str = Field(description="who set the value in force")
    created_at: UtcDateTime


class ParsedDayOut(BaseModel):
    day: date
    is_workday: bool
    name: str


class ImportIn(BaseModel):
    text: str = Field(min_length=1, max_length=200_000,
                      description="the notice's text (with its title), or CSV rows date,type,name")
    year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR,
                             description="the notice's year when its title is not included")
    format: Literal["notice", "csv"] = "notice"
    source: str = Field("", max_length=200, description="recorded on each day; default: the notice's title")


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    source: str
    days: list[ParsedDayOut]


class DeadlineOut(BaseModel):
    start: date
    working_days: int
    due: date
    estimated: bool = Field(description="some day was counted Monday–Friday because no calendar knows its year")
    warning: str


class YearStatusOut(BaseModel):
    year: int
    known_by: Literal["admin", "package", "none"]
    label: str
    admin_days: int = Field(description="days of this year in the admin table")
    package_known: bool = Field(description="chinese-calendar knows this year")
    estimated: bool
    warning: str
