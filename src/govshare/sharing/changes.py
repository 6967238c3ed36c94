"""Service changes (R11): a provider may stop or change a published sharing service only with the
competent authority's approval; the requesters of the affected grants are told before it takes effect."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, region_prefix, require_authority_over, require_own_department, require_role
from govshare.catalog.models import CatalogEntry
from govshare.catalog.vocab import EntryStatus
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed, found, raise_invalid
from govshare.notify.service import Audience, emit
from govshare.orgs.models import Department, Role
from govshare.sharing import service
from govshare.sharing.models import Grant, ServiceChange
from govshare.sharing.vocab import GrantEndReason, GrantStatus, ServiceChangeKind, ServiceChangeStatus
from govshare.workdays import service as workdays

C = ServiceChangeStatus


def readable_changes(actor: Actor) -> Select:
    query = select(ServiceChange)
    if actor.is_system or actor.has(*service.READ_ALL_ROLES):
        return query
    visible = [ServiceChange.provider_id == actor.department_id,
               ServiceChange.entry_id.in_(select(Grant.entry_id).where(Grant.requester_id == actor.department_id))]
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        prefix = region_prefix(actor.region_code)
        visible.append(ServiceChange.entry.has(CatalogEntry.provider.has(Department.region_code.startswith(prefix))))
    return query.where(or_(*visible))


def list_changes(session: Session, actor: Actor, status: str | None = None) -> list[ServiceChange]:
    query = readable_changes(actor)
    if status:
        query = query.where(ServiceChange.status == status)
    return list(session.scalars(query.order_by(ServiceChange.id.desc())))


def earliest_effective_date(session: Session, today: date) -> date:
    """Requesters must hear of a change `service_change_notice_days` working days before it takes effect."""
    return workdays.deadline(session, today, settings_of(session).service_change_notice_days).due


def propose(session: Session, actor: Actor, entry_id: int, kind: ServiceChangeKind | None, description: str,
            effective_date: date | None) -> ServiceChange:
    """The provider asks its competent authority to stop or change the sharing service of a published entry
    (R11). Every missing or invalid field is reported at once (a kind or date the form could not read is None)."""
    entry = session.get(CatalogEntry, entry_id)
    if entry is None or entry.status != EntryStatus.PUBLISHED:
        raise NotFound(f"只有已发布目录的共享服务可以变更：{entry_id}", field="entry_id")
    require_role(actor, *service.PROVIDER_ROLES, action="申请变更共享服务")
    require_own_department(actor, entry.provider_id, action="变更")
    errors = {}
    if kind is None:
        errors["kind"] = f"请选择变更类型（{ServiceChangeKind.choices()}）"
    if not (description or "").strip():
        errors["description"] = "必须说明变更或停止的内容"
    earliest = earliest_effective_date(session, workdays.local_today(session))
    if effective_date is None:
        errors["effective_date"] = f"请填写生效日期（不早于 {earliest}）"
    elif effective_date < earliest:
        errors["effective_date"] = f"生效日期不得早于 {earliest}（须提前告知受影响的需求部门）"
    raise_invalid(errors)
    change = ServiceChange(entry_id=entry.id, provider_id=entry.provider_id, kind=kind.value,
                           description=description.strip(), effective_date=effective_date,
                           status=C.SUBMITTED.value, requested_by_id=actor.user_id)
    session.add(change)
    session.flush()
    authorities = [a.id for a in _authorities(session, entry)]
    emit(session, "service_change.submitted", f"共享服务{kind.label}待审批：{entry.name}",
         audiences=[Audience(a, roles=(Role.AUTHORITY_REVIEWER,)) for a in authorities],
         body=f"{change.description}（拟于 {effective_date} 生效）", link=f"/sharing/changes/{change.id}",
         data={"service_change_id": change.id, "entry_id": entry.id})
    return change


def _authorities(session: Session, entry: CatalogEntry) -> list[Department]:
    from govshare.sharing.disputes import settling_authorities

    return settling_authorities(session, entry.provider)[:1]


def affected_grants(session: Session, entry_id: int) -> list[Grant]:
    return list(session.scalars(select(Grant).where(
        Grant.entry_id == entry_id, Grant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED]))))


def decide(session: Session, actor: Actor, change_id: int, approve: bool, reason: str = "") -> ServiceChange:
    """The competent authority over the provider approves or rejects; on approval every affected grant's
    requester is told at once, before the effective date."""
    change = found(session.get(ServiceChange, change_id, with_for_update=True), f"变更申请不存在：{change_id}",
                   "change_id")
    require_authority_over(actor, change.entry.provider.region_code, action="审批共享服务变更")
    if actor.department_id == change.provider_id:
        raise Forbidden("不能审批本部门提出的共享服务变更", field="change_id")
    if change.status != C.SUBMITTED:
        raise Conflict(f"变更申请状态为“{C(change.status).label}”，不能再审批", field="status",
                       extra={"current_status": change.status})
    if not approve and not (reason or "").strip():
        raise ValidationFailed("不予批准必须说明理由", field="reason")
    today = workdays.local_today(session)
    if approve and change.effective_date <= today:
        raise ValidationFailed("生效日期已到，无法提前告知需求部门，请提供单位重新申请", field="effective_date")
    change.status = (C.APPROVED if approve else C.REJECTED).value
    change.decision_reason, change.decided_by_id, change.decided_at = reason or "", actor.user_id, utcnow()
    kind = ServiceChangeKind(change.kind)
    link = f"/sharing/changes/{change.id}"
    data = {"service_change_id": change.id, "entry_id": change.entry_id}
    verdict = "已批准" if approve else "不予批准"
    emit(session, "service_change.decided", f"共享服务{kind.label}{verdict}：{change.entry.name}",
         audiences=[Audience(change.provider_id, roles=service.PROVIDER_ROLES)], body=reason, link=link, data=data)
    if approve:
        grants = affected_grants(session, change.entry_id)
        change.notified_grant_ids = [g.id for g in grants]
        title = f"您使用的共享服务将于 {change.effective_date} {kind.label}：{change.entry.name}"
        emit(session, "service_change.notice", title,
             audiences=[service.requester_audience(g.request) for g in grants], body=change.description,
             link=link, data=data)
    return change


def apply_due(session: Session, today: date) -> int:
    """On the effective date an approved stop ends the entry's grants; a change only becomes effective."""
    due = list(session.scalars(select(ServiceChange).where(
        ServiceChange.status == C.APPROVED, ServiceChange.effective_date <= today)))
    for change in due:
        change.status = C.EFFECTIVE.value
        if change.kind == ServiceChangeKind.STOP:
            for grant in affected_grants(session, change.entry_id):
                service.end_grant(session, Actor.system(), grant, GrantEndReason.SERVICE_STOPPED,
                                  f"经主管部门批准，共享服务自 {change.effective_date} 起停止")
    return len(due)
