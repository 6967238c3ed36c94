"""API shapes of the gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from govshare.fields import Id


class TokenIn(BaseModel):
    client_id: str = Field(min_length=1, max_length=40)
    client_secret: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class VerifyIn(BaseModel):
    grant: Id = Field(description="使用的共享授权编号")
    fields: dict[str, str] = Field(min_length=1, description="信息项名 → 要核验的值；须含主键信息项或另给 key")
    key: str | None = None


class ExportIn(BaseModel):
    grant: Id = Field(description="使用的共享授权编号")
    format: Literal["csv", "parquet"] = "csv"
    items: list[str] | None = None
    filters: dict[str, str] = Field(default_factory=dict)
    headers: Literal["chinese", "field"] = Field(
        "chinese", description="CSV 表头：chinese 用信息项中文名称（Excel、WPS 可直接读），field 用字段名（程序读取）")


class DataOut(BaseModel):
    resource_code: str
    grant_id: int | None
    mode: Literal["lookup", "page", "preview"]
    items: list[str]
    rows: list[dict]
    masking: dict[str, str]
    next_cursor: str | None = Field(None, description=(
        "下一页的游标（cursor 参数）；为空表示已是最后一页。游标由平台签发，只对签发它的资源和共享授权有效"))
    usage_record: int | None = None
    under_verification: bool = Field(False, description=(
        "返回的记录中有正在校核中的（R13）：记录照常返回，业务不因此拒绝办理"))
    objections: list[int] = Field(default_factory=list, description="返回的记录所涉的未答复核实请求编号")
    row_objections: list[int | None] = Field(default_factory=list, description=(
        "与 rows 一一对应：该行所涉的核实请求编号，null 为未在校核中；该目录没有校核中的记录时为空列表"))


class VerifyOut(BaseModel):
    resource_code: str
    grant_id: int
    result: Literal["match", "no_match", "not_found"]
    usage_record: int | None = None
    under_verification: bool = Field(False, description="被核验的记录正在校核中（R13）：核验结论照常给出")
    objections: list[int] = Field(default_factory=list, description="该记录未答复的核实请求编号")


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
