"""API and service shapes of the catalog. Enumerated fields accept the code or the Chinese label."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

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
from govshare.fields import UtcDateTime


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
    """Everything R03 asks of an entry. `secrecy` is how an entry declares state or work secrets (R01).
    Enumerated fields accept the code or its Chinese label (e.g. `conditional` or `有条件共享`)."""

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
    tags: str = Field("", max_length=500, description="标签与行业分类，以“、”分隔（可检索）")
    source_url: str = Field("", max_length=500, description="来源页面：数据开放门户上的页面地址（http/https）")
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
    tags: str
    source_url: str
    status: str
    version: int
    stale: bool
    data_updated_at: UtcDateTime | None = Field(
        description="数据最近更新时间（据此判断是否过期，R05）；null：未知（导入的文件未给出），按发布日期判断是否过期")
    return_reason: str
    items: list[ItemOut]


class ItemsIn(BaseModel):
    """Items to add to an entry, or to edit (an item with the field name of an existing one replaces it)."""

    items: list[ItemIn] = Field(min_length=1, max_length=500)
    reason: str = Field("", max_length=500, description="修改原因（已发布目录的修订必须说明，默认“补充或修改信息项”）")


class ItemsChangeOut(BaseModel):
    applied: Literal["updated", "revision"] = Field(description="updated: 草稿已修改；revision: 已发布目录的修订待审核")
    entry_id: int
    revision_id: int | None = None
    items: list[ItemOut] = Field(description="目录当前的信息项（修订待审核时仍为发布版本的信息项）")


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, description="why: required for returns and revisions")


class RevisionIn(BaseModel):
    """A change to a published entry (R05). When it is caused by a change of law or of duties, say what changed
    and when it took effect: the revision must be published within `GOVSHARE_LAW_CHANGE_WORKING_DAYS` working
    days of that date."""

    entry: EntryIn
    reason: str = Field(min_length=1)
    due_to_law_change: bool = Field(False, description="因法律法规或职责变化（R05：须在生效后规定的工作日内发布）")
    law_change_basis: str = Field("", max_length=500,
                                  description="变化的法律法规、政策或职责（due_to_law_change 时必填）")
    law_effective_date: date | None = Field(
        None, description="变化的生效日期（due_to_law_change 时必填，最晚为今天起一年内）；修订期限由此按工作日计算")


class RevisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    entry_id: int
    base_version: int
    reason: str
    due_to_law_change: bool
    status: str
    return_reason: str
    created_at: UtcDateTime
    law_change_basis: str = Field(description="变化的法律法规、政策或职责")
    law_effective_date: date | None = Field(description="变化的生效日期")
    due_date: date | None = Field(
        description="修订发布期限：生效日期后规定的工作日（R05）；非因法律或职责变化的修订为空")
    due_estimated: bool = Field(description="期限所在年份尚无官方节假日安排，按周一至周五估算")
    deadline_warning: str = Field(description="估算期限的提示（非估算时为空）")
    remaining_working_days: int | None = Field(
        description="距期限的剩余工作日（尚未发布且未逾期时；否则为空）")
    overdue: bool = Field(description="已过期限仍未发布")
    overdue_at: UtcDateTime | None = Field(description="标记逾期的时间")
    deadline_met: bool | None = Field(description="发布时是否在期限内（尚未发布或无期限时为空）")


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action: str
    version: int | None
    reason: str
    actor: str | None
    created_at: UtcDateTime
    snapshot: dict | None = None


class ImportProblemOut(BaseModel):
    row: int = Field(description="文件中的行号（按表格软件的行号计）")
    column: str = Field(description="出错的列")
    rule: str = Field(description="违反的规则（中文）")
    value: str = Field(description="该单元格的值")
    sheet: str | None = Field(None, description="工作表（信息项表的问题才给出）")


class ImportDuplicateOut(BaseModel):
    row: int
    duplicate_of: int = Field(description="与之重复的前一行")


class ImportDefaultOut(BaseModel):
    column: str
    note: str = Field(description="导入时推定或补全了什么")
    rows: int = Field(description="涉及的行数")
    first_rows: list[int] = Field(description="最先涉及的几行")


class ImportReportOut(BaseModel):
    """The report of a catalog import: what was created, what was already there, each rejected row with its
    column and rule, and what the import derived."""

    file: str
    total_rows: int
    created: int = Field(description="新建的目录数（草稿，或节点运维导入的已发布目录）")
    unchanged: int = Field(description="此前已导入、本次未变的行数")
    updated: int = Field(0, description="本节点已有的草稿或退回目录（资源代码、名称、提供部门一致）按本行修改的数目")
    revisions: int = Field(0, description="本节点已发布的目录按本行提出修订（待主管部门审核）的数目")
    rejected: list[ImportProblemOut]
    duplicates: list[ImportDuplicateOut]
    mapping: dict[str, str] = Field(description="{目标字段: 文件中的列名}")
    ignored_columns: list[str]
    defaults: list[ImportDefaultOut]
    departments_created: list[str]
    seconds: float
    published: bool
