"""Objections and correction (校核纠错, R13).

A requester holding a grant objects to specific records of the granted entry: the record's key, the items it
believes wrong, the values it believes right, and evidence. The provider's reviewers and catalog managers verify
within `objection_working_days` working days and answer: corrected (in the source, by the platform or upstream),
confirmed right (with reasons), or forwarded to the lead source department (R06) when they are not the source of
that fact. While an objection is open its record is flagged 校核中 (`under_verification`), never hidden, and no
lookup is refused on its account. Late objections are marked and told to the competent authority of the provider's
area; every step is on the objection's record and told to the parties."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, region_prefix, require_own_department, require_role
from govshare.catalog.models import DataItem, SourceCluster, SourceClusterMember
from govshare.catalog.vocab import LabelledEnum
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed, found, raise_invalid, required_reason
from govshare.gateway import corrections, profiling
from govshare.gateway.connect import cleanup_after
from govshare.gateway.models import DataSource
from govshare.notify.service import Audience, emit
from govshare.objections import evidence as evidence_store
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
# an ID number (GB 11643) or a unified social credit code (GB 32100), ASCII only
IDENTIFIER = re.compile(r"[0-9]{17}[0-9X]|[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}", re.ASCII)
KEY_CHUNK = 500
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# open objections one grant may have at once: objections are about records, not a way to flag a whole entry
MAX_OPEN_PER_GRANT = 100


class ObjectionStatus(LabelledEnum):
    OPEN = "open", "待核实"
    CORRECTED = "corrected", "已更正"
    CONFIRMED = "confirmed", "核实无误"
    FORWARDED = "forwarded", "已转牵头数源部门"


ANSWERS = (ObjectionStatus.CORRECTED, ObjectionStatus.CONFIRMED, ObjectionStatus.FORWARDED)
LINK = "/objections/{objection_id}"


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


def list_objections(session: Session, actor: Actor, *, status: str | None = None, box: str | None = None,
                    entry_id: int | None = None, limit: int = 100, offset: int = 0) -> list[Objection]:
    """The readable objections, newest first; `box` incoming: the own department must answer them (provider, or
    forwarded to it); outgoing: the own department filed them."""
    return list(session.scalars(filtered(actor, status=status, box=box, entry_id=entry_id)
                                .order_by(Objection.id.desc()).limit(limit).offset(offset)))


def filtered(actor: Actor, *, status: str | None = None, box: str | None = None,
             entry_id: int | None = None) -> Select:
    query = readable_objections(actor)
    if status:
        query = query.where(Objection.status == ObjectionStatus.parse(status).value)
    if box == "incoming":
        query = query.where(or_(Objection.provider_id == actor.department_id,
                                Objection.forwarded_to_id == actor.department_id))
    elif box == "outgoing":
        query = query.where(Objection.requester_id == actor.department_id)
    elif box:
        raise_invalid({"box": "box 只能是 incoming（待本部门核实）或 outgoing（本部门提出）"})
    if entry_id is not None:
        query = query.where(Objection.entry_id == entry_id)
    return query


def history(session: Session, actor: Actor, objection_id: int) -> list[ObjectionEvent]:
    objection = get_objection(session, actor, objection_id)
    return list(session.scalars(select(ObjectionEvent).where(ObjectionEvent.objection_id == objection.id)
                                .order_by(ObjectionEvent.id)))


# ---------------------------------------------------------------- filing


def granted_names(session: Session, grant: Grant) -> dict[str, str]:
    """code -> Chinese name of the items the grant covers."""
    return dict(session.execute(select(DataItem.name, DataItem.chinese_name)
                                .where(DataItem.id.in_(grant.item_ids or []))).all())


def _filing_errors(key: str, items: list, claimed: dict, evidence: str, granted: dict[str, str]) -> dict[str, str]:
    errors = {}
    if not key:
        errors["key"] = "必须给出有误记录的主键值"
    elif len(key) > MAX_KEY_LENGTH:
        errors["key"] = f"主键值最多 {MAX_KEY_LENGTH} 个字符"
    elif CONTROL.search(key):
        errors["key"] = "主键值不能含控制字符"
    if not items:
        errors["items"] = "必须指出有误的信息项"
    elif unknown := [i for i in items if i not in granted]:
        errors["items"] = f"只能对授权范围内的信息项提出核实：{'、'.join(map(str, unknown))}"
    if not isinstance(claimed, dict) or any(k not in items for k in claimed):
        errors["claimed"] = "认为正确的取值只能针对所指出的信息项"
    elif any(len(str(v)) > MAX_VALUE_LENGTH for v in claimed.values()):
        errors["claimed"] = f"每个取值最多 {MAX_VALUE_LENGTH} 个字符"
    elif any(CONTROL.search(str(v)) for v in claimed.values()):
        errors["claimed"] = "认为正确的取值不能含控制字符"
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
    key, items = record_key(key), list(dict.fromkeys(items or []))
    raise_invalid(_filing_errors(key, items, claimed or {}, evidence, granted_names(session, grant)))
    evidence = required_reason(evidence, "必须提供依据", field="evidence")
    _check_scope(session, grant, key)
    _check_open_count(session, grant)
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


def attach_evidence(session: Session, actor: Actor, objection_id: int, filename: str,
                    stream: BinaryIO | None) -> Objection:
    """The filer's department adds the evidence file (one per objection) while the objection is open. `stream`
    None: no file was chosen (refused after the checks of who may attach, so a stranger learns nothing)."""
    objection = get_objection(session, actor, objection_id)
    require_role(actor, *FILE_ROLES, action="上传核实依据")
    require_own_department(actor, objection.requester_id, action="补充依据")
    if objection.status != ObjectionStatus.OPEN:
        raise Conflict("核实请求已答复，不能再补充依据", field="status")
    if objection.evidence_stored:
        raise Conflict(f"已上传依据文件（{objection.evidence_filename}），每个核实请求一个文件", field="evidence_file")
    if stream is None:
        raise ValidationFailed(f"请选择依据文件（{evidence_store.ACCEPTED_LABEL}）", field=evidence_store.FIELD)
    settings = settings_of(session)
    folder = evidence_store.folder_of(settings.data_dir)
    stored = evidence_store.store(folder, stream, filename, settings.objection_evidence_max_mb * 1024 * 1024)
    cleanup_after(session, None, folder / stored.stored)  # a unit of work that fails leaves no file behind
    objection.evidence_stored, objection.evidence_filename = stored.stored, stored.filename
    objection.evidence_media_type, objection.evidence_size = stored.media_type, stored.size
    objection.evidence_sha256 = stored.sha256
    _record(session, objection, actor, "evidence", objection.status,
            f"上传依据文件：{stored.filename}（{stored.size} 字节，SHA-256 {stored.sha256[:16]}…）")
    return objection


def evidence_file(session: Session, actor: Actor, objection_id: int) -> tuple[Objection, Path]:
    """The evidence file of an objection the actor may read, and where it lies in the store."""
    objection = get_objection(session, actor, objection_id)
    path = evidence_store.folder_of(settings_of(session).data_dir) / (objection.evidence_stored or "")
    if not objection.evidence_stored or not path.is_file():
        raise NotFound("该核实请求没有依据文件", field="evidence_file")
    return objection, path


def _check_scope(session: Session, grant: Grant, key: str) -> None:
    """A record outside the grant's row scope is not the requester's to object to (when the scope is on the key
    item, as it is for ID numbers by region; a scope on another item is checked by the gateway when the record is
    read, not here)."""
    scope = grant.row_scope or {}
    key_item = session.scalar(select(DataSource.key_item).where(DataSource.entry_id == grant.entry_id))
    on_key = scope.get("item") and scope.get("item") == key_item and scope.get("prefixes")
    if on_key and not key.startswith(tuple(str(p) for p in scope["prefixes"])):
        raise Forbidden("该记录超出共享授权的数据范围，不能提出核实", field="key", code="row_out_of_scope")


def _check_open_count(session: Session, grant: Grant) -> None:
    open_count = session.scalar(select(func.count()).select_from(Objection).where(
        Objection.grant_id == grant.id, Objection.status == ObjectionStatus.OPEN))
    if open_count >= MAX_OPEN_PER_GRANT:
        raise Conflict(f"该共享授权已有 {open_count} 个未答复的核实请求，请等待提供部门答复后再提出", field="grant_id")


# ---------------------------------------------------------------- answering


def answer_objection(session: Session, actor: Actor, objection_id: int, answer: str, reason: str,
                     forward_to: int | None = None, apply_correction: bool = False) -> Objection:
    """The provider answers: corrected, confirmed right, or forwarded to the lead source department. A correction
    of data the platform manages (a file source) may be applied here, with the values the objection claims
    (`apply_correction`); otherwise the answer says it was made upstream."""
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
        leads = lead_sources(session, objection)
        if forward_to is None or forward_to not in leads:
            named = "、".join(leads.values()) or "无（这些信息项没有认定其他牵头数源部门）"
            errors["forward_to"] = f"只能转交这些信息项认定的牵头数源部门（一数一源）：{named}"
    if apply_correction and outcome != ObjectionStatus.CORRECTED:
        errors["apply_correction"] = "只有答复“已更正”时才能在托管数据中更正"
    raise_invalid(errors)
    reason = required_reason(reason, "答复必须说明核实情况", field="reason")
    if apply_correction:
        applied = corrections.apply(session, objection.entry_id, objection.record_key, dict(objection.claimed or {}))
        reason = f"{reason}（已在平台托管数据中更正 {applied.rows} 行：{'、'.join(applied.items)}）"
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


def lead_sources(session: Session, objection: Objection) -> dict[int, str]:
    """The lead source departments (R06, 一数一源) named for the objection's items, other than the provider: the
    departments an objection may be forwarded to (they then read it, evidence included)."""
    items = select(DataItem.id).where(DataItem.entry_id == objection.entry_id, DataItem.name.in_(objection.items))
    clusters = select(SourceClusterMember.cluster_id).where(SourceClusterMember.data_item_id.in_(items))
    rows = session.execute(select(Department.id, Department.name).join(
        SourceCluster, SourceCluster.lead_department_id == Department.id).where(
        SourceCluster.id.in_(clusters), Department.id != objection.provider_id).distinct().order_by(Department.id))
    return dict(rows.all())


# ---------------------------------------------------------------- the flag


def record_key(key) -> str:
    """A record's key as objections store and compare it: stripped text; a key that is an ID number or a unified
    credit code once written as its code defines it (half-width, no blanks, upper case) is kept so, as the gateway
    normalizes the keys it finds rows by (`３４０…ｘ` and `340… x` are the record `340…X`)."""
    text = str(key if key is not None else "").strip()
    identifier = profiling.normalize_identifier(text, "id_number")
    return identifier if IDENTIFIER.fullmatch(identifier) else text


def under_verification(session: Session, entry_id: int, keys: list) -> dict[str, int]:
    """key -> the open objection on it (the oldest), for the records of `entry_id` among `keys`: the gateway flags
    them. One indexed query, in chunks for a long page."""
    wanted = list(dict.fromkeys(record_key(k) for k in keys))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), KEY_CHUNK):
        rows = session.execute(select(Objection.record_key, Objection.id).where(
            Objection.entry_id == entry_id, Objection.status == ObjectionStatus.OPEN,
            Objection.record_key.in_(wanted[start:start + KEY_CHUNK])).order_by(Objection.id.desc()))
        found.update(dict(rows.all()))  # newest first, so the oldest of a key is kept
    return found


def open_on_entry(session: Session, entry_id: int, limit: int) -> dict[str, int]:
    """key -> open objection, of the entry's oldest `limit` open objections (an export is checked against them)."""
    rows = session.execute(select(Objection.record_key, Objection.id).where(
        Objection.entry_id == entry_id, Objection.status == ObjectionStatus.OPEN).order_by(Objection.id).limit(limit))
    found: dict[str, int] = {}
    for key, objection_id in rows:
        found.setdefault(key, objection_id)
    return found


# ---------------------------------------------------------------- evaluation (R19)


@dataclass
class Handling:
    """How a provider handled the objections to its data: received, answered, answered by the due day, answered
    with a correction, and open past the due day."""

    received: int = 0
    answered: int = 0
    on_time: int = 0
    corrected: int = 0
    overdue: int = 0


def handling(session: Session, provider_ids: list[int], today: date) -> dict[int, Handling]:
    """Per provider, counted over all objections (the competent authority's evaluation reads it)."""
    zone = settings_of(session).timezone
    by_provider: dict[int, Handling] = {}
    for provider_id, status, due, answered_at, overdue_at in session.execute(
            select(Objection.provider_id, Objection.status, Objection.due, Objection.answered_at,
                   Objection.overdue_at).where(Objection.provider_id.in_(provider_ids))):
        counts = by_provider.setdefault(provider_id, Handling())
        counts.received += 1
        if answered_at is not None:
            counts.answered += 1
            counts.on_time += workdays.day_in_zone(zone, answered_at) <= due
            counts.corrected += status == ObjectionStatus.CORRECTED
        elif overdue_at is not None or due < today:
            counts.overdue += 1
    return by_provider


# ---------------------------------------------------------------- jobs


def remind_due(session: Session, today: date) -> int:
    """Reminds the provider once of each open objection due within `reminder_working_days` working days."""
    days = settings_of(session).reminder_working_days
    horizon = workdays.deadline(session, today, days).due
    due = list(session.scalars(select(Objection).where(
        Objection.status == ObjectionStatus.OPEN, Objection.reminded_at.is_(None),
        Objection.due >= today, Objection.due <= horizon).order_by(Objection.due, Objection.id)))
    for objection in due:
        objection.reminded_at = utcnow()
        _tell(session, objection, "objection.due_soon", f"数据核实即将到期（{objection.due}）：{objection.entry.name}",
              [Audience(objection.provider_id, roles=ANSWER_ROLES)])
    return len(due)


def mark_overdue(session: Session, today: date) -> int:
    """Marks each open objection past its due day once, on its record, and tells the provider, the requester and
    the competent authority of the provider's area (it is counted in evaluation, R19)."""
    late = list(session.scalars(select(Objection).where(
        Objection.status == ObjectionStatus.OPEN, Objection.overdue_at.is_(None), Objection.due < today)
        .order_by(Objection.due, Objection.id)))
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
    emit(session, event, title, audiences=audiences, body=body, link=LINK.format(objection_id=objection.id),
         data={"objection_id": objection.id, "entry_id": objection.entry_id, "status": objection.status})
