from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    username: str
    password: str


class TokenOut(BaseModel):
    token: str = Field(description="shown once; send as `Authorization: Bearer <token>`")
    token_type: str = "bearer"


class TokenIn(BaseModel):
    name: str = Field("api", max_length=120)
    hours: int | None = Field(
        None, description="lifetime in hours; default and maximum: GOVSHARE_API_TOKEN_MAX_DAYS days"
    )


class TokenInfoOut(BaseModel):
    """A token as listed: never the token itself, which was shown once."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str = Field(description="session (a login) or api (a program token)")
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class DepartmentIn(BaseModel):
    name: str
    level: str = Field(description="national / provincial / municipal / county")
    region_code: str = Field(description="6-digit 行政区划代码")
    uscc: str | None = Field(None, description="统一社会信用代码 (checked with its check character)")
    parent_id: int | None = None
    is_competent_authority: bool = False


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    level: str
    region_code: str
    uscc: str | None
    parent_id: int | None
    is_competent_authority: bool


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=80)
    password: str
    role: str
    department_id: int
    display_name: str = ""


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    department_id: int
    is_active: bool
    created_at: datetime


class MeOut(BaseModel):
    user_id: int | None
    username: str
    role: str
    department_id: int | None
