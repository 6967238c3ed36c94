"""API shapes of objections (校核纠错, R13)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from govshare.fields import Id, UtcDateTime


class ObjectionIn(BaseModel):
    grant_id: Id = Field(description="本部门获得的共享授权编号（对其数据提出核实）")
    key: str = Field(min_length=1, max_length=200, description="有误记录的主键值（如公民身份号码）")
    items: list[str] = Field(min_length=1, max_length=100, description="认为有误的信息项名（须在授权范围内）")
    claimed: dict[str, str] = Field(default_factory=dict, description="信息项名 → 认为正确的取值（可选）")
    evidence: str = Field(min_length=1, max_length=2000, description="依据说明，如死亡医学证明编号、办理记录")


class AnswerIn(BaseModel):
    answer: Literal["corrected", "confirmed", "forwarded"] = Field(
        description="corrected 已更正（已在数据源更正或说明已在上游更正）；confirmed 核实无误（说明理由）；"
                    "forwarded 转牵头数源部门（R06，须给出 forward_to）")
    reason: str = Field(min_length=1, max_length=2000, description="核实情况说明")
    forward_to: Id | None = Field(None, description="转交的牵头数源部门编号（answer 为 forwarded 时必填）")
    apply_correction: bool = Field(False, description=(
        "answer 为 corrected 且数据在平台托管存储中（文件数据源）时，按核实请求认为正确的取值直接更正该记录；"
        "库表和接口数据源在提供部门自己的系统中更正"))


class EvidenceFileOut(BaseModel):
    filename: str
    media_type: str
    size: int = Field(description="字节数")
    sha256: str


class EventOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    reason: str
    actor: str | None = Field(description="办理人")
    created_at: UtcDateTime


class ObjectionOut(BaseModel):
    id: int
    entry_id: int
    resource_code: str
    entry_name: str
    grant_id: int
    requester_id: int
    requester: str = Field(description="提出核实的部门")
    provider_id: int
    provider: str = Field(description="提供部门")
    record_key: str
    items: list[str]
    item_names: dict[str, str] = Field(description="信息项名 → 中文名称")
    claimed: dict[str, str]
    evidence: str
    evidence_file: EvidenceFileOut | None
    status: str
    status_label: str
    due: date = Field(description="答复期限（GOVSHARE_OBJECTION_WORKING_DAYS 个工作日）")
    due_estimated: bool
    overdue: bool = Field(description="已逾期（逾期时告知提供部门、提出部门和主管部门）")
    answer: str
    answered_at: UtcDateTime | None
    forwarded_to_id: int | None
    forwarded_to: str | None
    created_at: UtcDateTime
    history: list[EventOut] = Field(default_factory=list, description="办理记录（只在查看单个核实请求时给出）")
