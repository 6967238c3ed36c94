"""API and service shapes of the catalog. Enumerated fields accept the code or the Chinese label."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from govshare.catalog.vocab import (
    DataFormat,
    Grade,
    ItemType,
    LabelledEnum,
    OpenAttribute,
    PersonalInfo,
    ShareMethod,
    ShareType,
    UpdateCycle,
)


def _labelled(enum_cls: type[LabelledEnum]):
    def parse(value):
        if isinstance(value, str):
            member = enum_cls.parse(value)
            if member is not None:
                return member
        return value

    return Annotated[enum_cls, BeforeValidator(parse)]


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=120, description="field name, e.g. gmsfhm")
    chinese_name: str = Field(min_length=1, max_length=200, description="信息项名称")
    data_type: _labelled(ItemType) = ItemType.STRING
    length: int | None = Field(None, ge=1, le=100000)
    description: str = ""
    grade: _labelled(Grade) = Grade.GENERAL_1
    personal_info: _labelled(PersonalInfo) = PersonalInfo.NONE


class EntryIn(BaseModel):
    """Everything R03 asks of an entry. `secrecy` is how an entry declares state or work secrets (R01)."""

    classification_code: str = Field(description="类/项/目/细目, e.g. 101 or 201001 (1 基础, 2 主题, 3 部门)")
    name: str = Field(min_length=1, max_length=300)
    abstract: str = ""
    data_format: _labelled(DataFormat)
    items: list[ItemIn] = Field(default_factory=list)
    share_type: _labelled(ShareType)
    share_condition: str = ""
    share_method: _labelled(ShareMethod)
    legal_basis: str = Field("", description="不予共享 must cite the law, regulation or policy")
    open_attribute: _labelled(OpenAttribute) = OpenAttribute.CLOSED
    open_condition: str = ""
    update_cycle: _labelled(UpdateCycle)
    publish_date: date | None = None
    related_codes: list[str] = Field(default_factory=list)
    source_system: str = ""
    grade: _labelled(Grade) = Grade.GENERAL_1
    theme: str = ""
    secrecy: str = Field("", description="涉密情况; anything but empty/非涉密 is refused (R01)")


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    chinese_name: str
    data_type: str
    length: int | None
    description: str
    grade: str
    personal_info: str


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    resource_code: str
    classification_code: str
    name: str
    provider_id: int
    provider_name: str
    abstract: str
    data_format: str
    share_type: str
    share_condition: str
    share_method: str
    legal_basis: str
    open_attribute: str
    open_condition: str
    update_cycle: str
    publish_date: date | None
    related_codes: list[str]
    source_system: str
    grade: str
    theme: str
    status: str
    version: int
    stale: bool
    data_updated_at: datetime
    return_reason: str
    items: list[ItemOut]


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, description="why: required for returns and revisions")


class RevisionIn(BaseModel):
    entry: EntryIn
    reason: str = Field(min_length=1)
    due_to_law_change: bool = False


class RevisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    entry_id: int
    base_version: int
    reason: str
    due_to_law_change: bool
    status: str
    return_reason: str
    created_at: datetime


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action: str
    version: int | None
    reason: str
    actor: str | None
    created_at: datetime
    snapshot: dict | None = None
