"""Read views of sharing records (dicts matching the API schemas), shared by the API and the pages."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from govshare.catalog import grades
from govshare.catalog.models import DataItem
from govshare.sharing.models import DisputeStep, Grant, RequestEvent, ServiceChange, ShareRequest
from govshare.sharing.vocab import (
    DisputeLevel,
    DisputeStatus,
    GrantStatus,
    RequestStatus,
    ServiceChangeStatus,
)
from govshare.workdays.service import ESTIMATE_WARNING


def items_of(session: Session, item_ids: list[int]) -> list[dict]:
    if not item_ids:
        return []
    rows = {i.id: i for i in session.scalars(select(DataItem).where(DataItem.id.in_(item_ids)))}
    return [{"id": i, "name": rows[i].name, "chinese_name": rows[i].chinese_name, "grade": rows[i].grade,
             "verify_only": grades.verify_only(rows[i].grade)} for i in item_ids if i in rows]


def request_out(session: Session, request: ShareRequest, today: date) -> dict:
    grant_id = session.scalar(select(Grant.id).where(Grant.request_id == request.id))
    status = RequestStatus(request.status)
    late = request.overdue_at is not None or (request.reply_due is not None and request.reply_due < today)
    return {
        "id": request.id, "entry_id": request.entry_id, "entry_name": request.entry.name,
        "resource_code": request.entry.resource_code, "share_type": request.entry.share_type,
        "requester_id": request.requester_id, "requester_name": request.requester.name,
        "provider_id": request.provider_id, "provider_name": request.provider.name,
        "consumer_system_id": request.consumer_system_id,
        "consumer_system_name": request.consumer_system.name if request.consumer_system else None,
        "purpose": request.purpose, "scenario": request.scenario, "duty_basis": request.duty_basis,
        "items": items_of(session, request.item_ids), "row_scope": request.row_scope or {},
        "share_method": request.share_method, "verify_only": request.verify_only,
        "period_start": request.period_start, "period_end": request.period_end,
        "status": status.value, "status_label": status.label, "renews_id": request.renews_id,
        "submitted_at": request.submitted_at, "reply_due": request.reply_due,
        "reply_due_estimated": request.reply_due_estimated,
        "deadline_warning": ESTIMATE_WARNING if request.reply_due_estimated else "",
        "overdue": status == RequestStatus.SUBMITTED and late,
        "decision": request.decision, "decision_reason": request.decision_reason, "decided_at": request.decided_at,
        "grant_id": grant_id, "created_at": request.created_at,
    }


def event_out(event: RequestEvent) -> dict:
    return {"id": event.id, "action": event.action, "from_status": event.from_status, "to_status": event.to_status,
            "reason": event.reason, "detail": event.detail or {},
            "actor": event.actor.username if event.actor else "system", "created_at": event.created_at}


def grant_out(session: Session, grant: Grant) -> dict:
    status = GrantStatus(grant.status)
    return {
        "id": grant.id, "request_id": grant.request_id, "entry_id": grant.entry_id, "entry_name": grant.entry.name,
        "resource_code": grant.entry.resource_code, "requester_id": grant.requester_id,
        "provider_id": grant.provider_id, "consumer_system_id": grant.consumer_system_id,
        "consumer_system_name": grant.consumer_system.name if grant.consumer_system else None,
        "items": items_of(session, grant.item_ids), "row_scope": grant.row_scope or {}, "purpose": grant.purpose,
        "scenario": grant.scenario, "share_method": grant.share_method, "verify_only": grant.verify_only,
        "period_start": grant.period_start, "period_end": grant.period_end, "rate_limit": grant.rate_limit,
        "daily_quota": grant.daily_quota, "masking": grant.masking or {}, "suspended_at": grant.suspended_at,
        "suspend_reason": grant.suspend_reason or "", "status": status.value, "status_label": status.label,
        "end_reason": grant.end_reason,
        "ended_at": grant.ended_at, "deletion_confirmed_at": grant.deletion_confirmed_at,
    }


# who a step referred to the higher node (R16) is with: no department of this node
REFERRED_HANDLER = "上级节点"


def step_out(step: DisputeStep, today: date) -> dict:
    return {
        "id": step.id, "request_id": step.request_id, "level": step.level,
        "level_label": DisputeLevel(step.level).label, "handler_id": step.handler_id,
        "handler_name": step.handler.name if step.handler else REFERRED_HANDLER,
        "status": step.status, "prior_status": step.prior_status,
        "reason": step.reason, "due": step.due, "due_estimated": step.due_estimated,
        "deadline_warning": ESTIMATE_WARNING if step.due_estimated else "",
        "overdue": step.status == DisputeStatus.OPEN and step.due < today,
        "decision": step.decision, "decision_reason": step.decision_reason,
        "decision_terms": step.decision_terms or {}, "opened_at": step.opened_at, "decided_at": step.decided_at,
    }


def change_out(change: ServiceChange) -> dict:
    status = ServiceChangeStatus(change.status)
    return {
        "id": change.id, "entry_id": change.entry_id, "entry_name": change.entry.name,
        "provider_id": change.provider_id, "kind": change.kind, "description": change.description,
        "effective_date": change.effective_date, "status": status.value, "status_label": status.label,
        "decision_reason": change.decision_reason, "requested_at": change.requested_at,
        "decided_at": change.decided_at, "notified_grant_ids": list(change.notified_grant_ids or []),
    }
