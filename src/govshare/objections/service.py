"""Objections and correction (校核纠错, R13).

A requester holding a grant objects to specific records of the granted entry: the record's key, the items it
believes wrong, the values it believes right, and evidence. The provider's reviewers and catalog managers verify
within `objection_working_days` working days and answer: corrected (in the source, by the platform or upstream),
confirmed right (with reasons), or forwarded to the lead source department (R06) when they are not the source of
that fact. While an objection is open its record is flagged 校核中 (`under_verification`), never hidden, and no
lookup is refused on its account. Late objections are marked and told to the competent authority of the provider's
area; every step is on the objection's record and told to the parties."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, region_prefix, require_own_department, require_role
from govshare.catalog.models import DataItem
from govshare.catalog.vocab import LabelledEnum
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, found, raise_invalid, required_reason
from govshare.notify.service import Audience, emit
from govshare.objections.models import Objection, ObjectionEvent
from govshare.orgs.models import Department, Role
from govshare.sharing import service as sharing
from govshare.sharing.disputes import settling_authorities
from govshare.sharing.models import Grant
from govshare.sharing.vocab import GrantStatus
from govshare.workdays import service as workdays

FILE_ROLES = sharing.REQUEST_ROLES
ANSWER_ROLES = (Role.DEPT_REVIEWER, Role.CATALOG_MANAGER)
READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)
MAX_KEY_LENGTH, MAX_VALUE_LENGTH = 200, 500


class ObjectionStatus(LabelledEnum):
    OPEN = "open", "待核实"
    CORRECTED = "corrected", "已更正"
    CONFIRMED = "confirmed", "核实无误"
    FORWARDED = "forwarded", "已转牵头数源部门"


ANSWERS = (ObjectionStatus.CORRECTED, ObjectionStatus.CONFIRMED, ObjectionStatus.FORWARDED)
LINK = "/catalog/{entry_id}"  # the entry's page, until objections have pages of their own


# ---------------------------------------------------------------- who sees what


def readable_objections(actor: Actor) -> Select:
    """The requester's and the provider's own, those forwarded to the department, and the area's for its
    competent authority; all for the administrator and the auditor."""
    query = select(Objection)
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return query
    visible = [Objection.requester_id == actor.department_id, Objection.provider_id == actor.department_id,
               Objection.forwarded_to_id == actor.department_id]
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        area = select(Department.id).where(Department.region_code.startswith(region_prefix(actor.region_code)))
        visible.append(Objection.provider_id.in_(area))
    return query.where(or_(*visible))


def get_objection(session: Session, actor: Actor, objection_id: int) -> Objection:
    return found(session.scalars(readable_objections(actor).where(Objection.id == objection_id)).first(),
                 f"核实请求不存在或无权查看：{objection_id}", "objection_id")


def list_objections(session: Session, actor: Actor, *, status: str | None = None, limit: int = 100,
                    offset: int = 0) -> list[Objection]:
    query = readable_objections(actor)
    if status:
        query = query.where(Objection.status == status)
    return list(session.scalars(query.order_by(Objection.id.desc()).limit(limit).offset(offset)))


def history(session: Session, actor: Actor, objection_id: int) -> list[ObjectionEvent]:
    objection = get_objection(session, actor, objection_id)
    return list(session.scalars(select(ObjectionEvent).where(ObjectionEvent.objection_id == objection.id)
                                .order_by(ObjectionEvent.id)))


# ---------------------------------------------------------------- filing


def _granted_names(session: Session, grant: Grant) -> dict[str, str]:
    """code -> Chinese name of the items the grant covers."""
    return dict(session.execute(select(DataItem.name, DataItem.chinese_name)
                                .where(DataItem.id.in_(grant.item_ids or []))).all())


def _filing_errors(key: str, items: list, claimed: dict, evidence: str, granted: dict[str, str]) -> dict[str, str]:
    errors = {}
    if not key:
        errors["key"] = "必须给出有误记录的主键值"
    elif len(key) > MAX_KEY_LENGTH:
        errors["key"] = f"主键值最多 {MAX_KEY_LENGTH} 个字符"
    if not items:
        errors["items"] = "必须指出有误的信息项"
    elif unknown := [i for i in items if i not in granted]:
        errors["items"] = f"只能对授权范围内的信息项提出核实：{'、'.join(map(str, unknown))}"
    if not isinstance(claimed, dict) or any(k not in items for k in claimed):
        errors["claimed"] = "认为正确的取值只能针对所指出的信息项"
    elif any(len(str(v)) > MAX_VALUE_LENGTH for v in claimed.values()):
        errors["claimed"] = f"每个取值最多 {MAX_VALUE_LENGTH} 个字符"
    if not (evidence or "").strip():
        errors["evidence"] = "必须提供依据（如死亡证明编号、办理记录）"
    return errors


def file_objection(session: Session, actor: Actor, grant_id: int, key: str, items: list[str], claimed: dict,
                   evidence: str) -> Objection:
    """The requester objects to a record of the data its grant covers; the provider has the deadline to verify."""
    grant = sharing.get_grant(session, actor, grant_id)
    require_role(actor, *FILE_ROLES, action="提出数据核实")
    require_own_department(actor, grant.requester_id, action="使用")
    if grant.status not in (GrantStatus.ACTIVE, GrantStatus.SUSPENDED):
        raise Conflict("共享授权已终止，不能再对其数据提出核实", field="grant_id")
    key, items = (key or "").strip(), list(dict.fromkeys(items or []))
    raise_invalid(_filing_errors(key, items, claimed or {}, evidence, _granted_names(session, grant)))
    evidence = required_reason(evidence, "必须提供依据", field="evidence")
    due = workdays.deadline(session, workdays.local_today(session), settings_of(session).objection_working_days)
    objection = Objection(entry_id=grant.entry_id, grant_id=grant.id, requester_id=grant.requester_id,
                          provider_id=grant.provider_id, record_key=key, items=items,
                          claimed={k: str(v) for k, v in (claimed or {}).items()}, evidence=evidence,
                          status=ObjectionStatus.OPEN.value, due=due.due, due_estimated=due.estimated,
                          created_by_id=actor.user_id)
    session.add(objection)
    session.flush()
    _record(session, objection, actor, "filed", None, evidence)
    _tell(session, objection, "objection.filed", f"数据核实请求：{objection.entry.name}",
          [Audience(objection.provider_id, roles=ANSWER_ROLES)], body=f"{evidence}（请于 {due.due} 前核实答复）")
    return objection


# ---------------------------------------------------------------- answering


def answer_objection(session: Session, actor: Actor, objection_id: int, answer: str, reason: str,
                     forward_to: int | None = None) -> Objection:
    """The provider answers: corrected, confirmed right, or forwarded to the lead source department."""
    objection = get_objection(session, actor, objection_id)
    require_role(actor, *ANSWER_ROLES, action="答复数据核实")
    require_own_department(actor, objection.provider_id, action="答复")
    if objection.status != ObjectionStatus.OPEN:
        current = ObjectionStatus(objection.status)
        raise Conflict(f"该核实请求已答复（{current.label}）", field="status", extra={"current_status": current.value})
    outcome = ObjectionStatus.parse(answer)
    errors = {} if outcome in ANSWERS else {"answer": "答复应为：corrected（已更正）、confirmed（核实无误）或 "
                                                       "forwarded（转牵头数源部门）"}
    if outcome == ObjectionStatus.FORWARDED:
        target = session.get(Department, forward_to) if forward_to else None
        if target is None or target.id == objection.provider_id:
            errors["forward_to"] = "转交时必须选择本部门以外的牵头数源部门"
    raise_invalid(errors)
    reason = required_reason(reason, "答复必须说明核实情况", field="reason")
    before = objection.status
    objection.status, objection.answer = outcome.value, reason
    objection.answered_by_id, objection.answered_at = actor.user_id, utcnow()
    objection.forwarded_to_id = forward_to if outcome == ObjectionStatus.FORWARDED else None
    _record(session, objection, actor, outcome.value, before, reason)
    audiences = [_requester_audience(objection)]
    if objection.forwarded_to_id:
        audiences.append(Audience(objection.forwarded_to_id, roles=ANSWER_ROLES))
    _tell(session, objection, "objection.answered", f"数据核实已答复（{outcome.label}）：{objection.entry.name}",
          audiences, body=reason)
    return objection


# ---------------------------------------------------------------- the flag


def under_verification(session: Session, entry_id: int, keys: list[str]) -> dict[str, int]:
    """key -> the open objection on it, for the records of `entry_id` among `keys` (the gateway flags them)."""
    if not keys:
        return {}
    rows = session.execute(select(Objection.record_key, Objection.id).where(
        Objection.entry_id == entry_id, Objection.status == ObjectionStatus.OPEN,
        Objection.record_key.in_([str(k).strip() for k in keys])).order_by(Objection.id))
    return {key: objection_id for key, objection_id in rows}


# ---------------------------------------------------------------- jobs


def remind_due(session: Session, today: date) -> int:
    """Reminds the provider once of each open objection due within `reminder_working_days` working days."""
    days = settings_of(session).reminder_working_days
    horizon = workdays.deadline(session, today, days).due
    due = list(session.scalars(select(Objection).where(
        Objection.status == ObjectionStatus.OPEN, Objection.reminded_at.is_(None),
        Objection.due >= today, Objection.due <= horizon)))
    for objection in due:
        objection.reminded_at = utcnow()
        _tell(session, objection, "objection.due_soon", f"数据核实即将到期（{objection.due}）：{objection.entry.name}",
              [Audience(objection.provider_id, roles=ANSWER_ROLES)])
    return len(due)


def mark_overdue(session: Session, today: date) -> int:
    """Marks each open objection past its due day once, on its record, and tells the provider, the requester and
    the competent authority of the provider's area (it is counted in evaluation, R19)."""
    late = list(session.scalars(select(Objection).where(
        Objection.status == ObjectionStatus.OPEN, Objection.overdue_at.is_(None), Objection.due < today)))
    for objection in late:
        objection.overdue_at = utcnow()
        _record(session, objection, Actor.system(), "overdue", objection.status, f"答复期限 {objection.due} 已过")
        provider = session.get(Department, objection.provider_id)
        authorities = [Audience(a.id, roles=(Role.AUTHORITY_REVIEWER,))
                       for a in settling_authorities(session, provider)[:1]]
        _tell(session, objection, "objection.overdue", f"数据核实逾期未答复：{objection.entry.name}",
              [Audience(objection.provider_id, roles=ANSWER_ROLES), _requester_audience(objection), *authorities],
              body=f"答复期限 {objection.due}")
    return len(late)


# ---------------------------------------------------------------- the record and the notices


def _record(session: Session, objection: Objection, actor: Actor, action: str, before: str | None,
            reason: str) -> None:
    session.add(ObjectionEvent(objection_id=objection.id, action=action, from_status=before,
                               to_status=objection.status, reason=reason, actor_id=actor.user_id))
    session.flush()


def _requester_audience(objection: Objection) -> Audience:
    filer = (objection.created_by_id,) if objection.created_by_id else ()
    return Audience(objection.requester_id, roles=FILE_ROLES, user_ids=filer)


def _tell(session: Session, objection: Objection, event: str, title: str, audiences: list[Audience],
          body: str = "") -> None:
    emit(session, event, title, audiences=audiences, body=body, link=LINK.format(entry_id=objection.entry_id),
         data={"objection_id": objection.id, "entry_id": objection.entry_id, "status": objection.status})
