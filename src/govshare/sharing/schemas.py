"""API and service shapes of sharing. Enumerated fields accept the code or the Chinese label."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, field_validator

from govshare.catalog.schemas import _labelled
from govshare.catalog.vocab import ShareMethod
from govshare.fields import Id, UtcDateTime
from govshare.sharing.vocab import Decision, ServiceChangeKind


class RowScope(BaseModel):
    """Rows a grant covers: those whose `item` starts with one of `prefixes` (e.g. the district's region
    code 340104). No scope means every row."""

    item: str = Field(min_length=1, description="data item (field name) that decides the rows, e.g. xzqhdm")
    prefixes: list[str] = Field(min_length=1, description="allowed values or prefixes, e.g. ['340104']")

    @field_validator("prefixes")
    @classmethod
    def _not_blank(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values]
        if any(not v for v in cleaned):
            raise ValueError("范围取值不能为空")
        return sorted(set(cleaned))


class RequestIn(BaseModel):
    entry_id: Id
    purpose: str = Field(min_length=2, max_length=500, description="共享目的")
    scenario: str = Field(min_length=2, max_length=1000, description="使用场景")
    duty_basis: str = Field("", max_length=1000, description="履职依据 (required for 有条件共享)")
    item_ids: list[Id] = Field(default_factory=list, description="data items needed (ids of the entry's items)")
    row_scope: RowScope | None = None
    share_method: _labelled(ShareMethod) | None = None
    verify_only: bool = Field(False, description="核验 only: yes/no answers, no raw data (R09)")
    period_start: date | None = None
    period_end: date
    consumer_system_id: Id | None = None


class ReplyIn(BaseModel):
    """A provider's reply, or a dispute decision. Terms narrow the request for 部分同意."""

    decision: _labelled(Decision)
    reason: str = Field("", max_length=2000)
    item_ids: list[Id] | None = None
    row_scope: RowScope | None = None
    period_end: date | None = None
    rate_limit: int | None = Field(None, ge=1, le=10000, description="calls per second")


class ReasonIn(BaseModel):
    reason: str = Field("", max_length=2000)


class RenewIn(BaseModel):
    period_start: date | None = None
    period_end: date


class ServiceChangeIn(BaseModel):
    entry_id: Id
    kind: _labelled(ServiceChangeKind)
    description: str = Field(min_length=2, max_length=2000)
    effective_date: date


class ServiceChangeDecisionIn(BaseModel):
    approve: bool
    reason: str = Field("", max_length=2000)


class ItemRef(BaseModel):
    id: int
    name: str
    chinese_name: str


class RequestOut(BaseModel):
    id: int
    entry_id: int
    entry_name: str
    resource_code: str
    share_type: str
    requester_id: int
    requester_name: str
    provider_id: int
    provider_name: str
    consumer_system_id: int | None
    consumer_system_name: str | None
    purpose: str
    scenario: str
    duty_basis: str
    items: list[ItemRef]
    row_scope: dict
    share_method: str
    verify_only: bool
    period_start: date
    period_end: date
    status: str
    status_label: str
    renews_id: int | None
    submitted_at: UtcDateTime | None
    reply_due: date | None
    reply_due_estimated: bool
    deadline_warning: str
    overdue: bool
    decision: str | None
    decision_reason: str
    decided_at: UtcDateTime | None
    grant_id: int | None
    created_at: UtcDateTime


class EventOut(BaseModel):
    id: int
    action: str
    from_status: str | None
    to_status: str | None
    reason: str
    detail: dict
    actor: str
    created_at: UtcDateTime


class GrantOut(BaseModel):
    id: int
    request_id: int
    entry_id: int
    entry_name: str
    resource_code: str
    requester_id: int
    provider_id: int
    consumer_system_id: int | None
    consumer_system_name: str | None
    items: list[ItemRef]
    row_scope: dict
    purpose: str
    scenario: str
    share_method: str
    verify_only: bool
    period_start: date
    period_end: date
    rate_limit: int
    daily_quota: int | None = None
    masking: dict[str, str] = {}
    status: str
    status_label: str
    suspended_at: UtcDateTime | None = None
    suspend_reason: str = ""
    end_reason: str | None
    ended_at: UtcDateTime | None
    deletion_confirmed_at: UtcDateTime | None


class DisputeStepOut(BaseModel):
    id: int
    request_id: int
    level: str
    level_label: str
    handler_id: int | None = Field(
        description="办理部门；报上级节点处理（status=referred，R16）的环节在本节点没有办理部门")
    handler_name: str = Field(description="办理部门名称；报上级节点处理的环节为“上级节点”")
    status: str
    prior_status: str
    reason: str
    due: date
    due_estimated: bool
    deadline_warning: str
    overdue: bool
    decision: str | None
    decision_reason: str
    decision_terms: dict
    opened_at: UtcDateTime
    decided_at: UtcDateTime | None


class ServiceChangeOut(BaseModel):
    id: int
    entry_id: int
    entry_name: str
    provider_id: int
    kind: str
    description: str
    effective_date: date
    status: str
    status_label: str
    decision_reason: str
    requested_at: UtcDateTime
    decided_at: UtcDateTime | None
    notified_grant_ids: list[int]


class SystemIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=500)


class SystemOut(BaseModel):
    id: int
    department_id: int
    name: str
    description: str
    client_id: str
    secret_rotated_at: UtcDateTime
    revoked_at: UtcDateTime | None
    created_at: UtcDateTime


class SystemSecretOut(SystemOut):
    client_secret: str = Field(description="shown once; only its hash is kept")
