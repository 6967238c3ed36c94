"""Objections as the API and the pages show them: with the departments' names, the evidence file's facts and,
for one objection, its record with who acted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govshare.catalog.models import DataItem
from govshare.objections.models import Objection, ObjectionEvent
from govshare.objections.schemas import EventOut, EvidenceFileOut, ObjectionOut
from govshare.objections.service import ObjectionStatus
from govshare.orgs.models import Department, User

ACTIONS = {"filed": "提出核实", "evidence": "上传依据文件", "corrected": "答复：已更正", "confirmed": "答复：核实无误",
           "forwarded": "答复：转牵头数源部门", "overdue": "逾期未答复"}


def _names(session: Session, model, ids: set[int | None], column) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    return dict(session.execute(select(model.id, column).where(model.id.in_(wanted))).all()) if wanted else {}


def views(session: Session, objections: list[Objection]) -> list[ObjectionOut]:
    departments = _names(session, Department, {d for o in objections for d in
                                                (o.requester_id, o.provider_id, o.forwarded_to_id)}, Department.name)
    titles = _item_titles(session, {o.entry_id for o in objections})
    return [_out(objection, departments, titles.get(objection.entry_id, {})) for objection in objections]


def _item_titles(session: Session, entry_ids: set[int]) -> dict[int, dict[str, str]]:
    """entry -> item name -> its Chinese name (what a clerk reads)."""
    titles: dict[int, dict[str, str]] = {}
    if entry_ids:
        for entry_id, name, chinese_name in session.execute(select(
                DataItem.entry_id, DataItem.name, DataItem.chinese_name).where(DataItem.entry_id.in_(entry_ids))):
            titles.setdefault(entry_id, {})[name] = chinese_name
    return titles


def view(session: Session, objection: Objection, history: list[ObjectionEvent] | None = None) -> ObjectionOut:
    out = views(session, [objection])[0]
    if history:
        actors = _names(session, User, {event.actor_id for event in history}, User.display_name)
        out.history = [EventOut(action=event.action, from_status=event.from_status, to_status=event.to_status,
                                reason=event.reason, actor=actors.get(event.actor_id), created_at=event.created_at)
                       for event in history]
    return out


def _out(objection: Objection, departments: dict[int, str], titles: dict[str, str]) -> ObjectionOut:
    evidence_file = EvidenceFileOut(
        filename=objection.evidence_filename, media_type=objection.evidence_media_type,
        size=objection.evidence_size, sha256=objection.evidence_sha256) if objection.evidence_stored else None
    return ObjectionOut(
        id=objection.id, entry_id=objection.entry_id, resource_code=objection.entry.resource_code,
        entry_name=objection.entry.name, grant_id=objection.grant_id, requester_id=objection.requester_id,
        requester=departments.get(objection.requester_id, ""), provider_id=objection.provider_id,
        provider=departments.get(objection.provider_id, ""), record_key=objection.record_key,
        items=list(objection.items or []), item_names={i: titles.get(i, i) for i in objection.items or []},
        claimed=dict(objection.claimed or {}), evidence=objection.evidence,
        evidence_file=evidence_file, status=objection.status, status_label=ObjectionStatus(objection.status).label,
        due=objection.due, due_estimated=objection.due_estimated, overdue=objection.overdue_at is not None,
        answer=objection.answer or "", answered_at=objection.answered_at, forwarded_to_id=objection.forwarded_to_id,
        forwarded_to=departments.get(objection.forwarded_to_id) if objection.forwarded_to_id else None,
        created_at=objection.created_at)
