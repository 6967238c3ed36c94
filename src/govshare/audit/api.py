"""Routes of the usage records (R12), thin over audit.service: every reader sees what `record_scope` lets it see.
Consumer systems hold gateway tokens, not login tokens: these routes refuse them (401) like any stranger."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from govshare.audit import service
from govshare.authz import Actor
from govshare.deps import SESSION, current_actor

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class RecordOut(BaseModel):
    seq: int
    at: datetime  # local time (settings.timezone)
    at_utc: datetime
    department_id: int | None
    department_name: str
    provider_id: int | None
    provider_name: str
    consumer_system_id: int | None
    system_name: str
    user_id: int | None
    username: str
    grant_id: int | None
    entry_id: int | None
    entry_name: str
    resource_code: str
    mode: str
    mode_label: str
    items: list[str]
    row_count: int
    result: str
    result_label: str
    reason: str
    reason_label: str
    request_hash: str
    hash: str


class TotalOut(BaseModel):
    key: date | int | str | None
    label: str
    calls: int
    served: int
    refused: int
    errors: int
    rows: int


class AnomalyOut(BaseModel):
    kind: str
    label: str
    grant_id: int
    day: date
    count: int
    threshold: float
    usual: float | None
    message: str
    entry_name: str = ""
    resource_code: str = ""
    requester_name: str = ""
    provider_name: str = ""


class ProblemOut(BaseModel):
    seq: int
    kind: str
    label: str
    message: str


class VerifyOut(BaseModel):
    ok: bool
    records: int
    first_seq: int | None
    last_seq: int | None
    head_seq: int | None
    checkpoints: int
    last_signed_seq: int | None
    last_signed_at: datetime | None
    unsigned_tail: int
    key_id: str | None
    seconds: float
    workers: int
    rechecked: int
    first_problem: ProblemOut | None
    problems: list[ProblemOut]


class CheckpointOut(BaseModel):
    signed: bool
    id: int | None = None
    seq: int | None = None
    hash: str | None = None
    kind: str | None = None
    signed_at: datetime | None = None
    key_id: str | None = None


def _filters(grant: int | None = None, resource: str | None = None, system: int | None = None,
             result: str | None = None, mode: str | None = None, since: date | None = None,
             until: date | None = None) -> service.Filters:
    return service.Filters(grant, resource, system, result, mode, since, until)


FILTERS = Depends(_filters)


@router.get("/records", response_model=list[RecordOut])
def list_records(filters: service.Filters = FILTERS, limit: int = Query(100, ge=1, le=service.MAX_LIMIT),
                 offset: int = Query(0, ge=0), actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The records the caller may see, newest first (filters: grant, resource, system, result, mode, since, until)."""
    return service.list_records(session, actor, filters, limit=limit, offset=offset)


@router.get("/totals", response_model=list[TotalOut])
def totals(by: str = "day", filters: service.Filters = FILTERS, actor: Actor = Depends(current_actor),
           session: Session = SESSION):
    """Calls, answered, refused, errors and rows per local day, resource, consumer system or result."""
    return service.totals(session, actor, by, filters)


@router.get("/anomalies", response_model=list[AnomalyOut])
def anomalies(since: date | None = None, until: date | None = None, actor: Actor = Depends(current_actor),
              session: Session = SESSION):
    return service.anomalies(session, actor, since, until)


@router.get("/verify", response_model=VerifyOut)
def verify(request: Request, actor: Actor = Depends(current_actor)):
    """Proves the whole chain and the signed checkpoints now (auditors, administrators, competent authorities)."""
    return service.verify(request.app.state.db, actor).to_dict()


@router.post("/checkpoint", response_model=CheckpointOut)
def checkpoint(actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Signs the chain's head now (platform administrators); `signed` is false when it already is signed."""
    signed = service.checkpoint(session, actor)
    if signed is None:
        return CheckpointOut(signed=False)
    return CheckpointOut(signed=True, id=signed.id, seq=signed.seq, hash=signed.hash, kind=signed.kind,
                         signed_at=signed.signed_at, key_id=signed.key_id)
