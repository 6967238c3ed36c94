"""Routes of demands (thin: every rule is in demands.service)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.demands import service
from govshare.demands.schemas import AnswerIn, DemandIn, DemandOut, EntryRefIn, RouteIn
from govshare.deps import SESSION, current_actor

router = APIRouter(prefix="/api/v1/demands", tags=["demands"])


@router.post("", response_model=DemandOut, status_code=201)
def post_demand(body: DemandIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    demand = service.post_demand(session, actor, body.title, body.description, provider_id=body.provider_id)
    return service.view(session, actor, demand)


@router.get("", response_model=list[DemandOut])
def list_demands(
    status: str | None = Query(None, description="状态：open/matched/routed/accepted/declined/fulfilled/withdrawn"),
    box: str | None = Query(None, description="mine 本部门提出的；incoming 转交本部门的"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    demands = service.list_demands(session, actor, status=status, box=box, limit=limit, offset=offset)
    return service.views(session, actor, demands)


@router.get("/{demand_id}", response_model=DemandOut)
def get_demand(demand_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.view(session, actor, service.get_demand(session, actor, demand_id))


@router.post("/{demand_id}/accept-suggestion", response_model=DemandOut)
def accept_suggestion(demand_id: int, body: EntryRefIn, actor: Actor = Depends(current_actor),
                      session: Session = SESSION):
    return service.view(session, actor, service.accept_suggestion(session, actor, demand_id, body.entry_id))


@router.post("/{demand_id}/route", response_model=DemandOut)
def route_demand(demand_id: int, body: RouteIn | None = None, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    provider_id = body.provider_id if body else None
    return service.view(session, actor, service.route_demand(session, actor, demand_id, provider_id))


@router.post("/{demand_id}/answer", response_model=DemandOut)
def answer_demand(demand_id: int, body: AnswerIn, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    demand = service.answer_demand(session, actor, demand_id, body.accept, body.planned_date, body.reason)
    return service.view(session, actor, demand)


@router.post("/{demand_id}/link", response_model=DemandOut)
def link_entry(demand_id: int, body: EntryRefIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.view(session, actor, service.link_entry(session, actor, demand_id, body.entry_id))


@router.post("/{demand_id}/withdraw", response_model=DemandOut)
def withdraw_demand(demand_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.view(session, actor, service.withdraw_demand(session, actor, demand_id))
