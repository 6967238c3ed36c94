"""API shapes of demands (需求清单, R20)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from govshare.fields import Id, UtcDateTime


class DemandIn(BaseModel):
    title: str = Field(min_length=1, max_length=200, description="需求概述，如：需要核验申请人是否为低保对象")
    description: str = Field("", max_length=5000, description="用途、所需信息项、范围等说明")
    provider_id: Id | None = Field(None, description="已知提供部门时直接转交；不填则由平台匹配目录或推定提供部门")


class RouteIn(BaseModel):
    provider_id: Id | None = Field(None, description="转交的提供部门；不填则转交平台推定的提供部门")


class AnswerIn(BaseModel):
    accept: bool = Field(description="true 承诺提供（须填计划日期），false 说明无法提供（须填理由）")
    planned_date: date | None = Field(None, description="计划完成编目并共享的日期，不晚于答复后的编目期限")
    reason: str = Field("", max_length=2000, description="理由或说明；无法提供时必填")


class EntryRefIn(BaseModel):
    entry_id: Id = Field(description="目录编号")


class SuggestionOut(BaseModel):
    rank: int = Field(description="推荐顺序，1 为最匹配")
    entry_id: int
    resource_code: str
    name: str
    provider_id: int
    provider: str = Field(description="提供部门名称")
    share_type: str
    score: float | None = Field(None, description="匹配得分（仅在刚完成匹配的响应中给出）")


class DemandOut(BaseModel):
    id: int
    title: str
    description: str
    status: str
    status_label: str
    requester_id: int
    requester: str = Field(description="需求部门名称")
    provider_id: int | None
    provider: str | None = Field(description="提供部门名称")
    suggestions: list[SuggestionOut] = Field(description="平台推荐的已发布目录，最匹配的在前")
    routed_at: UtcDateTime | None
    routed_automatically: bool
    answer_due: date | None = Field(description="提供部门答复期限")
    answer_due_estimated: bool
    answer_due_warning: str | None = Field(description="期限按周一至周五估算时的提示")
    accepted: bool | None
    planned_date: date | None
    answer: str
    answered_at: UtcDateTime | None
    withdraw_reason: str = Field(description="需求部门撤回需求的理由")
    fulfil_due: date | None = Field(description="承诺后完成编目并共享的期限")
    fulfil_due_estimated: bool
    fulfil_due_warning: str | None
    entry_id: int | None = Field(description="满足需求的目录")
    entry_code: str | None
    entry_name: str | None
    fulfilled_at: UtcDateTime | None
    overdue_at: UtcDateTime | None
    created_at: UtcDateTime
