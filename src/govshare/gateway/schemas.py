"""API shapes of the gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TokenIn(BaseModel):
    client_id: str = Field(min_length=1, max_length=40)
    client_secret: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class VerifyIn(BaseModel):
    grant: int
    fields: dict[str, str] = Field(min_length=1, description="信息项名 → 要核验的值；须含主键信息项或另给 key")
    key: str | None = None


class ExportIn(BaseModel):
    grant: int
    format: Literal["csv", "parquet"] = "csv"
    items: list[str] | None = None
    filters: dict[str, str] = Field(default_factory=dict)


class DataOut(BaseModel):
    resource_code: str
    grant_id: int | None
    mode: str
    items: list[str]
    rows: list[dict]
    masking: dict[str, str]
    next_cursor: str | None = None
    usage_record: int | None = None


class VerifyOut(BaseModel):
    resource_code: str
    grant_id: int
    result: Literal["match", "no_match", "not_found"]
    usage_record: int | None = None


class MaskingIn(BaseModel):
    rules: dict[str, str] = Field(default_factory=dict, description=(
        "信息项名 → 脱敏规则：none、keep:前位数:后位数、hash、year、null；未列出的信息项按分级默认"))


class ItemMaskingOut(BaseModel):
    rule: str
    label: str
    source: Literal["grant", "default"]


class MaskingOut(BaseModel):
    grant_id: int
    rules: dict[str, str]
    effective: dict[str, ItemMaskingOut]
