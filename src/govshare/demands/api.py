"""Routes of demands (thin: every rule is in demands.service)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from govshare.apidoc import errors
from govshare.authz import Actor
from govshare.catalog.vocab import code_or_label
from govshare.demands import service
from govshare.demands.schemas import AnswerIn, DemandIn, DemandOut, EntryRefIn, RouteIn
from govshare.demands.vocab import DemandStatus
from govshare.deps import SESSION, current_actor
from govshare.fields import IdPath, Offset, limit_query
from govshare.sharing.schemas import ReasonIn

router = APIRouter(prefix="/api/v1/demands", tags=["demands"])

StatusCodeOrLabel = code_or_label(DemandStatus)


@router.post("", response_model=DemandOut, status_code=201, summary="提出数据需求", responses=errors(404),
             description="需求部门用一句话说明需要的数据（R20 需求清单）：平台推荐可能满足的已发布目录；"
                         "没有匹配的目录时转交最可能的提供部门。指定的提供部门不存在答 404。")
def post_demand(body: DemandIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    demand = service.post_demand(session, actor, body.title, body.description, provider_id=body.provider_id)
    return service.view(session, actor, demand)


@router.get("", response_model=list[DemandOut], summary="数据需求列表",
            description="调用者可读的需求：本部门提出的、转交本部门的；主管部门看辖区内的。最新的在前。")
def list_demands(
    status: StatusCodeOrLabel | None = Query(None, description=f"状态：{DemandStatus.choices()}（代码或中文均可）"),
    box: Literal["mine", "incoming"] | None = Query(None, description="mine 本部门提出的；incoming 转交本部门的"),
    limit: Annotated[int, limit_query(500)] = 50,
    offset: Offset = 0,
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    demands = service.list_demands(session, actor, status=status, box=box, limit=limit, offset=offset)
    return service.views(session, actor, demands)


@router.get("/{demand_id}", response_model=DemandOut, summary="查看数据需求")
def get_demand(demand_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.view(session, actor, service.get_demand(session, actor, demand_id))


@router.post("/{demand_id}/accept-suggestion", response_model=DemandOut, summary="确认推荐目录满足需求",
             responses=errors(409),
             description="需求部门确认一条已发布目录满足需求（R20），之后通过共享申请使用它；"
                         "需求已不在待匹配或已转交状态答 409。")
def accept_suggestion(demand_id: IdPath, body: EntryRefIn, actor: Actor = Depends(current_actor),
                      session: Session = SESSION):
    return service.view(session, actor, service.accept_suggestion(session, actor, demand_id, body.entry_id))


@router.post("/{demand_id}/route", response_model=DemandOut, summary="转交提供部门", responses=errors(409),
             description="推荐的目录都不满足时，需求部门把需求转交指定的或平台推定的提供部门（R20），"
                         "提供部门须在答复期限内答复。")
def route_demand(demand_id: IdPath, body: RouteIn | None = None, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    provider_id = body.provider_id if body else None
    return service.view(session, actor, service.route_demand(session, actor, demand_id, provider_id))


@router.post("/{demand_id}/answer", response_model=DemandOut, summary="答复数据需求", responses=errors(409),
             description="提供部门答复转交的需求（R20）：承诺提供须给出计划日期，且在 GOVSHARE_DEMAND_WORKING_DAYS "
                         "个工作日内；不能提供须说明理由。")
def answer_demand(demand_id: IdPath, body: AnswerIn, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    demand = service.answer_demand(session, actor, demand_id, body.accept, body.planned_date, body.reason)
    return service.view(session, actor, demand)


@router.post("/{demand_id}/link", response_model=DemandOut, summary="关联满足需求的目录", responses=errors(409),
             description="提供部门把本部门已发布的目录关联到需求，需求即完成（R20）。")
def link_entry(demand_id: IdPath, body: EntryRefIn, actor: Actor = Depends(current_actor),
               session: Session = SESSION):
    return service.view(session, actor, service.link_entry(session, actor, demand_id, body.entry_id))


@router.post("/{demand_id}/withdraw", response_model=DemandOut, summary="撤回数据需求", responses=errors(409),
             description="需求部门撤回待匹配或已转交的需求（R20），须说明理由（已转交的提供部门会看到）。")
def withdraw_demand(demand_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                    session: Session = SESSION):
    return service.view(session, actor, service.withdraw_demand(session, actor, demand_id, body.reason))
