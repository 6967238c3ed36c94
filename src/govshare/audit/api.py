"""Routes of the usage records (R12), thin over audit.service: every reader sees what `record_scope` lets it see.
Consumer systems hold gateway tokens, not login tokens: these routes refuse them (401) like any stranger."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from govshare.audit import service
from govshare.authz import Actor
from govshare.config import settings_of
from govshare.deps import SESSION, current_actor
from govshare.fields import IdQuery, Offset, UtcDateTime, as_utc, limit_query
from govshare.gateway.service import Mode

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Result = Literal[tuple(service.RESULT_LABELS)]  # ok, not_found, refused, error
TotalsBy = Literal[tuple(service.TOTALS_BY)]  # day, resource, system, result


class RecordOut(BaseModel):
    seq: int
    at: AwareDatetime = Field(description="调用时间，平台所在时区的本地时间（GOVSHARE_TIMEZONE），带时差，"
                                          "如 2026-12-07T03:33:00+08:00")
    at_utc: UtcDateTime = Field(description="调用时间（UTC）")
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
    last_signed_at: UtcDateTime | None
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
    signed_at: UtcDateTime | None = None
    key_id: str | None = None


def _filters(grant: IdQuery | None = None, resource: str | None = None, system: IdQuery | None = None,
             result: Result | None = None, mode: Mode | None = None,
             since: Annotated[date | None, Query(description="开始日期（本地日，含）")] = None,
             until: Annotated[date | None, Query(description="结束日期（本地日，含）")] = None) -> service.Filters:
    return service.Filters(grant, resource, system, result, mode, since, until)


FILTERS = Depends(_filters)


def _with_offset(view: dict, zone: ZoneInfo) -> dict:
    """The record view with its local time stated with the zone's offset (the view's `at` is naive local)."""
    return {**view, "at": as_utc(view["at_utc"]).astimezone(zone)}


@router.get("/records", response_model=list[RecordOut], summary="查询使用记录")
def list_records(filters: service.Filters = FILTERS, limit: Annotated[int, limit_query(service.MAX_LIMIT)] = 100,
                 offset: Offset = 0, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """The records the caller may see, newest first (filters: grant, resource, system, result, mode, since, until)."""
    zone = ZoneInfo(settings_of(session).timezone)
    return [_with_offset(view, zone) for view in service.list_records(session, actor, filters, limit=limit,
                                                                       offset=offset)]


@router.get("/totals", response_model=list[TotalOut], summary="使用记录汇总")
def totals(by: TotalsBy = "day", filters: service.Filters = FILTERS, actor: Actor = Depends(current_actor),
           session: Session = SESSION):
    """Calls, answered, refused, errors and rows per local day, resource, consumer system or result."""
    return service.totals(session, actor, by, filters)


@router.get("/anomalies", response_model=list[AnomalyOut], summary="异常访问")
def anomalies(since: date | None = None, until: date | None = None, actor: Actor = Depends(current_actor),
              session: Session = SESSION):
    return service.anomalies(session, actor, since, until)


@router.get("/verify", response_model=VerifyOut, summary="校验使用记录的完整性")
def verify(request: Request, actor: Actor = Depends(current_actor)):
    """Proves the whole chain and the signed checkpoints now (auditors, administrators, competent authorities)."""
    return service.verify(request.app.state.db, actor).to_dict()


@router.post("/checkpoint", response_model=CheckpointOut, summary="签署检查点",
             description="平台管理员立即用节点的签名密钥签署使用记录链的当前链头（R12），"
                         "此后对已签署记录的任何改写都能被校验发现；链头已签署时 signed 为 false。")
def checkpoint(actor: Actor = Depends(current_actor), session: Session = SESSION):
    signed = service.checkpoint(session, actor)
    if signed is None:
        return CheckpointOut(signed=False)
    return CheckpointOut(signed=True, id=signed.id, seq=signed.seq, hash=signed.hash, kind=signed.kind,
                         signed_at=signed.signed_at, key_id=signed.key_id)
