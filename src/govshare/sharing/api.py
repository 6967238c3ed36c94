"""Routes of one-stop sharing (thin: every rule is in sharing.service, .disputes, .changes, orgs.systems)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from govshare.apidoc import errors
from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.fields import IdPath, Offset, limit_query
from govshare.orgs import systems
from govshare.sharing import changes, disputes, service, views
from govshare.sharing.schemas import (
    DisputeStepOut,
    EventOut,
    GrantOut,
    ReasonIn,
    RenewIn,
    ReplyIn,
    RequestIn,
    RequestOut,
    ServiceChangeDecisionIn,
    ServiceChangeIn,
    ServiceChangeOut,
    SystemIn,
    SystemOut,
    SystemSecretOut,
)
from govshare.sharing.vocab import GrantStatus, RequestStatus, ServiceChangeStatus
from govshare.workdays.service import local_today

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])

Box = Literal["outgoing", "incoming"]
"""outgoing: what the own department asked for; incoming: what was asked of it."""


def _request(session: Session, request) -> dict:
    return views.request_out(session, request, local_today(session))


# ---------------------------------------------------------------- requests


@router.get("/requests", response_model=list[RequestOut], summary="列出共享申请")
def list_requests(box: Box | None = None, status: RequestStatus | None = None, overdue: bool | None = None,
                  limit: Annotated[int, limit_query(500)] = 100, offset: Offset = 0,
                  actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The requests the caller may read, newest first: `box=outgoing` those the own department made,
    `box=incoming` those addressed to it; `overdue` those past their reply deadline (or not)."""
    found = service.list_requests(session, actor, box=box, status=status, overdue=overdue, limit=limit, offset=offset)
    return [_request(session, r) for r in found]


@router.post("/requests", response_model=RequestOut, status_code=201, summary="提出共享申请",
             description="需求部门写明目的、场景、履职依据、所需信息项和期限，提出共享申请（R07）；"
                         "`submit=true` 时立即提交，无条件共享的目录随即直接获得授权。",
             responses=errors(404))
def create_request(body: RequestIn, submit: bool = False, actor: Actor = Depends(current_actor),
                   session: Session = SESSION):
    return _request(session, service.create_request(session, actor, body, submit=submit))


@router.get("/requests/{request_id}", response_model=RequestOut, summary="查看共享申请")
def get_request(request_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _request(session, service.get_request(session, actor, request_id))


@router.get("/requests/{request_id}/history", response_model=list[EventOut], summary="查看申请的办理记录")
def request_history(request_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Every step of the request: who, when, from which status to which, and why."""
    return [views.event_out(e) for e in service.history(session, actor, request_id)]


@router.post("/requests/{request_id}/submit", response_model=RequestOut, summary="提交共享申请",
             description="提交草稿申请（R07）：有条件共享的申请等待提供部门在答复期限内答复，"
                         "无条件共享的申请直接获得授权。",
             responses=errors(409))
def submit_request(request_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _request(session, service.submit_request(session, actor, request_id))


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut, summary="撤回共享申请",
             description="需求部门撤回草稿、待答复的申请或其争议（R07、R08），须说明理由（reason，必填，"
                         "提供部门可见）；撤回部分同意申请的争议时，已同意的部分继续有效。",
             responses=errors(409, 422))
def withdraw_request(request_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return _request(session, service.withdraw_request(session, actor, request_id, body.reason))


@router.post("/requests/{request_id}/reply", response_model=RequestOut, summary="答复共享申请",
             description="提供部门答复申请（R07）：同意、部分同意（减少信息项、缩小范围或缩短期限，须说明理由，"
                         "R09）或不予同意（须说明理由）；同意即生成共享授权。",
             responses=errors(409))
def reply(request_id: IdPath, body: ReplyIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _request(session, service.reply(session, actor, request_id, body))


@router.post("/requests/{request_id}/renew", response_model=RequestOut, status_code=201, summary="申请续期",
             description="按原条件提出新的申请（R10）：授权期满即终止，续期须重新答复，不会原地延长。",
             responses=errors(409))
def renew_request(request_id: IdPath, body: RenewIn, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    renewal = service.renew_request(session, actor, request_id, body.period_end, body.period_start)
    return _request(session, renewal)


@router.post("/requests/{request_id}/escalate", response_model=DisputeStepOut, status_code=201,
             summary="提起共享争议",
             description="对不予同意、部分同意或逾期未答复的申请提起下一级争议处理（R08）：先双方协商，"
                         "再由本级主管部门协调，最后由上级主管部门裁决。",
             responses=errors(409))
def escalate(request_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return views.step_out(disputes.escalate(session, actor, request_id, body.reason), local_today(session))


@router.get("/requests/{request_id}/disputes", response_model=list[DisputeStepOut], summary="查看申请的争议处理")
def request_disputes(request_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    today = local_today(session)
    return [views.step_out(s, today) for s in disputes.steps(session, actor, request_id)]


# ---------------------------------------------------------------- disputes


@router.get("/disputes", response_model=list[DisputeStepOut], summary="待本部门办理的争议")
def open_disputes(actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The open dispute steps the actor's department must decide."""
    today = local_today(session)
    return [views.step_out(s, today) for s in disputes.list_open_steps(session, actor)]


@router.post("/disputes/{step_id}/decide", response_model=DisputeStepOut, summary="作出争议决定",
             description="办理部门对争议作出决定（R08）：同意、部分同意或不予同意，须说明理由；"
                         "决定对申请和共享授权具有约束力。",
             responses=errors(409))
def decide_dispute(step_id: IdPath, body: ReplyIn, actor: Actor = Depends(current_actor),
                   session: Session = SESSION):
    return views.step_out(disputes.decide(session, actor, step_id, body), local_today(session))


# ---------------------------------------------------------------- grants


@router.get("/grants", response_model=list[GrantOut], summary="列出共享授权")
def list_grants(status: GrantStatus | None = None, box: Box | None = None,
                limit: Annotated[int, limit_query(500)] = 100, offset: Offset = 0,
                actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The grants the caller may read, newest first (`box`: outgoing as requester, incoming as provider)."""
    found = service.list_grants(session, actor, status=status, box=box, limit=limit, offset=offset)
    return [views.grant_out(session, g) for g in found]


@router.get("/grants/{grant_id}", response_model=GrantOut, summary="查看共享授权")
def get_grant(grant_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return views.grant_out(session, service.get_grant(session, actor, grant_id))


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut, summary="撤销共享授权",
             description="提供部门说明理由后撤销授权（R10），授权立即终止，需求部门收到通知。",
             responses=errors(409))
def revoke_grant(grant_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return views.grant_out(session, service.revoke_grant(session, actor, grant_id, body.reason))


@router.post("/grants/{grant_id}/reinstate", response_model=GrantOut, summary="恢复已暂停的授权",
             description="因多次越权访问被自动暂停的授权，由提供部门审核人员复核后恢复使用（R09），须说明复核结论。",
             responses=errors(409))
def reinstate_grant(grant_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                    session: Session = SESSION):
    return views.grant_out(session, service.reinstate_grant(session, actor, grant_id, body.reason))


@router.post("/grants/{grant_id}/purpose-achieved", response_model=GrantOut, summary="声明共享目的已实现",
             description="需求部门声明共享目的已实现（R10），须说明实现情况（reason，必填，提供部门可见），"
                         "授权随即终止。",
             responses=errors(409, 422))
def purpose_achieved(grant_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return views.grant_out(session, service.declare_purpose_achieved(session, actor, grant_id, body.reason))


@router.post("/grants/{grant_id}/confirm-deletion", response_model=GrantOut, summary="确认已删除共享数据",
             description="授权终止后，需求部门确认已删除获取的数据（R10）；只能确认一次。",
             responses=errors(409))
def confirm_deletion(grant_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return views.grant_out(session, service.confirm_deletion(session, actor, grant_id, body.reason))


# ---------------------------------------------------------------- service changes (R11)


@router.get("/service-changes", response_model=list[ServiceChangeOut], summary="列出共享服务变更")
def list_changes(status: ServiceChangeStatus | None = None, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return [views.change_out(c) for c in changes.list_changes(session, actor, status)]


@router.post("/service-changes", response_model=ServiceChangeOut, status_code=201, summary="申请变更或停止共享服务",
             description="提供部门申请变更或停止某一目录的共享服务（R11），须经主管部门批准；"
                         "生效日期须留出提前告知受影响需求部门的时间。",
             responses=errors(404))
def propose_change(body: ServiceChangeIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    change = changes.propose(session, actor, body.entry_id, body.kind, body.description, body.effective_date)
    return views.change_out(change)


@router.post("/service-changes/{change_id}/decide", response_model=ServiceChangeOut, summary="审批共享服务变更",
             description="主管部门批准或不予批准共享服务变更（R11）；批准后受影响授权的需求部门在生效前收到通知。",
             responses=errors(409))
def decide_change(change_id: IdPath, body: ServiceChangeDecisionIn, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    return views.change_out(changes.decide(session, actor, change_id, body.approve, body.reason))


# ---------------------------------------------------------------- consumer systems


def _with_secret(system, secret: str) -> SystemSecretOut:
    shown = SystemOut.model_validate(system, from_attributes=True).model_dump()
    return SystemSecretOut.model_validate({**shown, "client_secret": secret})


@router.get("/systems", response_model=list[SystemOut], summary="列出应用系统")
def list_systems(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return systems.list_systems(session, actor)


@router.post("/systems", response_model=SystemSecretOut, status_code=201, summary="登记应用系统",
             description="登记调用数据的应用系统并发放客户端凭据（R18）；密钥只在本次响应中出现，平台只保存其哈希。",
             responses=errors(409))
def register_system(body: SystemIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    system, secret = systems.register_system(session, actor, body.name, body.description)
    return _with_secret(system, secret)


@router.post("/systems/{system_id}/rotate", response_model=SystemSecretOut, summary="更换应用系统密钥",
             description="立即更换应用系统的客户端密钥（R18），旧密钥和据此换取的访问令牌随即失效；"
                         "新密钥只在本次响应中出现。",
             responses=errors(409))
def rotate_secret(system_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    system, secret = systems.rotate_secret(session, actor, system_id)
    return _with_secret(system, secret)


@router.post("/systems/{system_id}/revoke", response_model=SystemOut, summary="吊销应用系统",
             description="立即吊销应用系统（R18）：其凭据和访问令牌失效，其共享授权不能再使用。")
def revoke_system(system_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return systems.revoke_system(session, actor, system_id)
