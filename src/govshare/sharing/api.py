"""Routes of one-stop sharing (thin: every rule is in sharing.service, .disputes, .changes, orgs.systems)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
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
from govshare.workdays.service import local_today

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])


def _request(session: Session, request) -> dict:
    return views.request_out(session, request, local_today(session))


# ---------------------------------------------------------------- requests


@router.get("/requests", response_model=list[RequestOut])
def list_requests(box: str | None = Query(None, pattern="^(outgoing|incoming)$"), status: str | None = None,
                  overdue: bool | None = None, limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0),
                  actor: Actor = Depends(current_actor), session: Session = SESSION):
    found = service.list_requests(session, actor, box=box, status=status, overdue=overdue, limit=limit, offset=offset)
    return [_request(session, r) for r in found]


@router.post("/requests", response_model=RequestOut, status_code=201)
def create_request(body: RequestIn, submit: bool = False, actor: Actor = Depends(current_actor),
                   session: Session = SESSION):
    """Creates a draft; `submit=true` sends it at once (无条件共享 entries are then granted directly)."""
    return _request(session, service.create_request(session, actor, body, submit=submit))


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(request_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _request(session, service.get_request(session, actor, request_id))


@router.get("/requests/{request_id}/history", response_model=list[EventOut])
def request_history(request_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [views.event_out(e) for e in service.history(session, actor, request_id)]


@router.post("/requests/{request_id}/submit", response_model=RequestOut)
def submit_request(request_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _request(session, service.submit_request(session, actor, request_id))


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut)
def withdraw_request(request_id: int, body: ReasonIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return _request(session, service.withdraw_request(session, actor, request_id, body.reason))


@router.post("/requests/{request_id}/reply", response_model=RequestOut)
def reply(request_id: int, body: ReplyIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The provider's reply: approve, approve_in_part (narrower terms + reason) or refuse (reason)."""
    return _request(session, service.reply(session, actor, request_id, body))


@router.post("/requests/{request_id}/renew", response_model=RequestOut, status_code=201)
def renew_request(request_id: int, body: RenewIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """A new request for the same terms; it needs a new reply (an expired grant is never extended)."""
    renewal = service.renew_request(session, actor, request_id, body.period_end, body.period_start)
    return _request(session, renewal)


@router.post("/requests/{request_id}/escalate", response_model=DisputeStepOut, status_code=201)
def escalate(request_id: int, body: ReasonIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Opens the next dispute step (R08): negotiation, then the same-level authority, then the higher one."""
    return views.step_out(disputes.escalate(session, actor, request_id, body.reason), local_today(session))


@router.get("/requests/{request_id}/disputes", response_model=list[DisputeStepOut])
def request_disputes(request_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    today = local_today(session)
    return [views.step_out(s, today) for s in disputes.steps(session, actor, request_id)]


# ---------------------------------------------------------------- disputes


@router.get("/disputes", response_model=list[DisputeStepOut])
def open_disputes(actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The open dispute steps the actor's department must decide."""
    today = local_today(session)
    return [views.step_out(s, today) for s in disputes.list_open_steps(session, actor)]


@router.post("/disputes/{step_id}/decide", response_model=DisputeStepOut)
def decide_dispute(step_id: int, body: ReplyIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return views.step_out(disputes.decide(session, actor, step_id, body), local_today(session))


# ---------------------------------------------------------------- grants


@router.get("/grants", response_model=list[GrantOut])
def list_grants(status: str | None = None, box: str | None = Query(None, pattern="^(outgoing|incoming)$"),
                actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [views.grant_out(session, g) for g in service.list_grants(session, actor, status=status, box=box)]


@router.get("/grants/{grant_id}", response_model=GrantOut)
def get_grant(grant_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return views.grant_out(session, service.get_grant(session, actor, grant_id))


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut)
def revoke_grant(grant_id: int, body: ReasonIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return views.grant_out(session, service.revoke_grant(session, actor, grant_id, body.reason))


@router.post("/grants/{grant_id}/reinstate", response_model=GrantOut)
def reinstate_grant(grant_id: int, body: ReasonIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The provider's reviewer lets a grant suspended for out-of-grant attempts be used again (R09)."""
    return views.grant_out(session, service.reinstate_grant(session, actor, grant_id, body.reason))


@router.post("/grants/{grant_id}/purpose-achieved", response_model=GrantOut)
def purpose_achieved(grant_id: int, body: ReasonIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    """共享目的已实现 (R10): the requester ends the grant."""
    return views.grant_out(session, service.declare_purpose_achieved(session, actor, grant_id, body.reason))


@router.post("/grants/{grant_id}/confirm-deletion", response_model=GrantOut)
def confirm_deletion(grant_id: int, body: ReasonIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return views.grant_out(session, service.confirm_deletion(session, actor, grant_id, body.reason))


# ---------------------------------------------------------------- service changes (R11)


@router.get("/service-changes", response_model=list[ServiceChangeOut])
def list_changes(status: str | None = None, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [views.change_out(c) for c in changes.list_changes(session, actor, status)]


@router.post("/service-changes", response_model=ServiceChangeOut, status_code=201)
def propose_change(body: ServiceChangeIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    change = changes.propose(session, actor, body.entry_id, body.kind, body.description, body.effective_date)
    return views.change_out(change)


@router.post("/service-changes/{change_id}/decide", response_model=ServiceChangeOut)
def decide_change(change_id: int, body: ServiceChangeDecisionIn, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    return views.change_out(changes.decide(session, actor, change_id, body.approve, body.reason))


# ---------------------------------------------------------------- consumer systems


@router.get("/systems", response_model=list[SystemOut])
def list_systems(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return systems.list_systems(session, actor)


@router.post("/systems", response_model=SystemSecretOut, status_code=201)
def register_system(body: SystemIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The client secret is in this response only; the platform keeps its hash."""
    system, secret = systems.register_system(session, actor, body.name, body.description)
    return SystemSecretOut.model_validate({**SystemOut.model_validate(system, from_attributes=True).model_dump(),
                                           "client_secret": secret})


@router.post("/systems/{system_id}/rotate", response_model=SystemSecretOut)
def rotate_secret(system_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    system, secret = systems.rotate_secret(session, actor, system_id)
    return SystemSecretOut.model_validate({**SystemOut.model_validate(system, from_attributes=True).model_dump(),
                                           "client_secret": secret})


@router.post("/systems/{system_id}/revoke", response_model=SystemOut)
def revoke_system(system_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return systems.revoke_system(session, actor, system_id)
