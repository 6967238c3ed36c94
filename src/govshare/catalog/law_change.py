"""Deadline of a catalog revision caused by a change of law or of duties (R05): the change is published
within `law_change_working_days` working days of the date the law, policy or duty took effect.

The catalog manager states what changed (`law_change_basis`) and when it took effect (`law_effective_date`);
the due date is counted once from that date (workdays service; `due_estimated` when a year's holidays were
unknown, counted again by the job once they are known). The rule is met when the competent authority
publishes the revision by the due date (`deadline_met`, recorded at approval). The worker reminds the
provider's catalog managers `reminder_working_days` before the due date (and the competent authority while
the revision awaits its review), and marks a revision still unpublished after its due date overdue once,
telling the managers and the authority.

A returned revision still owes the change: it stays pending until the manager proposes again, and the next
revision of the entry inherits its law change and due date (the law's date, not the new proposal, sets it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from govshare.authz import region_prefix
from govshare.catalog.models import CatalogEntry, EntryRevision
from govshare.catalog.vocab import RevisionStatus
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import ValidationFailed
from govshare.notify.service import Audience, emit
from govshare.orgs.models import Department, Role
from govshare.workdays import service as workdays

MAX_DAYS_AHEAD = 366  # a law is promulgated weeks or months before it takes effect; beyond a year is a typo
MAX_BASIS_CHARS = 500
LABEL = "因法律法规或职责变化"


@dataclass(frozen=True)
class LawChange:
    """What changed (the law, policy or duty) and the date it took effect."""

    basis: str
    effective_date: date


# ---------------------------------------------------------------- proposing and publishing


def checked(session: Session, due_to_law_change: bool, basis: str, effective_date: date | None) -> LawChange | None:
    """The law change a proposal states, or None for a revision not caused by law; a 422 naming the field
    when the statement is incomplete or its date beyond reason."""
    basis = (basis or "").strip()
    if not due_to_law_change:
        if basis or effective_date is not None:
            raise ValidationFailed(f"填写了变化的法律法规或职责及生效日期，请同时勾选“{LABEL}”，或清空这两项",
                                   field="due_to_law_change")
        return None
    days = settings_of(session).law_change_working_days
    if not basis:
        raise ValidationFailed(f"{LABEL}的修订须说明哪项法律法规、政策或职责发生了变化", field="law_change_basis")
    if len(basis) > MAX_BASIS_CHARS:
        raise ValidationFailed(f"变化的法律法规或职责不能超过{MAX_BASIS_CHARS}个字符", field="law_change_basis")
    if effective_date is None:
        raise ValidationFailed(f"{LABEL}的修订须填写变化的生效日期（修订须在其后 {days} 个工作日内发布）",
                               field="law_effective_date")
    _check_effective_date(session, effective_date)
    return LawChange(basis, effective_date)


def _check_effective_date(session: Session, effective_date: date) -> None:
    latest = workdays.local_today(session) + timedelta(days=MAX_DAYS_AHEAD)
    if effective_date > latest:
        raise ValidationFailed(f"生效日期不得晚于 {latest}（今天起一年内）：{effective_date}",
                               field="law_effective_date")
    if effective_date.year < workdays.MIN_YEAR:
        raise ValidationFailed(f"生效日期不得早于 {workdays.MIN_YEAR} 年：{effective_date}", field="law_effective_date")


def owed(session: Session, entry_id: int) -> EntryRevision | None:
    """The entry's latest revision when it was returned while owing a law change: the next proposal inherits it."""
    latest = session.scalars(select(EntryRevision).where(EntryRevision.entry_id == entry_id)
                             .order_by(EntryRevision.id.desc()).limit(1)).first()
    if latest and latest.status == RevisionStatus.RETURNED and latest.due_date is not None:
        return latest
    return None


def apply(session: Session, revision: EntryRevision, change: LawChange | None, inherited: EntryRevision | None) -> None:
    """Sets the revision's law change and due date: stated now, else inherited from a returned revision."""
    if change is not None:
        due = workdays.deadline(session, change.effective_date, settings_of(session).law_change_working_days)
        revision.due_to_law_change = True
        revision.law_change_basis, revision.law_effective_date = change.basis, change.effective_date
        revision.due_date, revision.due_estimated = due.due, due.estimated
    elif inherited is not None:
        revision.due_to_law_change = True
        for column in ("law_change_basis", "law_effective_date", "due_date", "due_estimated", "reminded_at",
                       "overdue_at"):
            setattr(revision, column, getattr(inherited, column))


def settle(session: Session, revision: EntryRevision) -> None:
    """At publication: the rule is met when the revision is published by its due date."""
    if revision.due_date is not None:
        revision.deadline_met = workdays.local_date(session, revision.decided_at) <= revision.due_date


# ---------------------------------------------------------------- what pages and the API show


def is_pending(session: Session, revision: EntryRevision) -> bool:
    """The change is still owed: awaiting review, or returned and not yet proposed again."""
    if revision.due_date is None:
        return False
    if revision.status == RevisionStatus.SUBMITTED:
        return True
    latest = session.scalar(select(func.max(EntryRevision.id)).where(EntryRevision.entry_id == revision.entry_id))
    return revision.status == RevisionStatus.RETURNED and latest == revision.id


def deadline_view(session: Session, revision: EntryRevision, today: date) -> dict:
    """Due date, remaining working days and the overdue flag of a revision (none without a law change)."""
    pending = is_pending(session, revision)
    due = revision.due_date
    remaining = None
    if pending and due >= today:
        remaining = workdays.WorkCalendar(session).working_days_between(today, due)
    return {
        "law_change_basis": revision.law_change_basis or "", "law_effective_date": revision.law_effective_date,
        "due_date": due, "due_estimated": bool(revision.due_estimated),
        "deadline_warning": workdays.ESTIMATE_WARNING if due and revision.due_estimated else "",
        "remaining_working_days": remaining, "overdue": pending and due < today,
        "overdue_at": revision.overdue_at, "deadline_met": revision.deadline_met,
    }


# ---------------------------------------------------------------- jobs


def _pending() -> Select:
    later = aliased(EntryRevision)
    superseded = exists().where(later.entry_id == EntryRevision.entry_id, later.id > EntryRevision.id)
    return select(EntryRevision).where(
        EntryRevision.due_date.is_not(None),
        or_(EntryRevision.status == RevisionStatus.SUBMITTED.value,
            and_(EntryRevision.status == RevisionStatus.RETURNED.value, ~superseded)),
    ).order_by(EntryRevision.id)


def recount_estimated(session: Session, today: date) -> int:
    """Due dates counted Monday–Friday are counted again, so that once the admin enters that year's holidays
    the pending revisions show the official date."""
    calendar = workdays.WorkCalendar(session)
    days = settings_of(session).law_change_working_days
    count = 0
    for revision in session.scalars(_pending().where(EntryRevision.due_estimated.is_(True))):
        due = calendar.add_working_days(revision.law_effective_date, days)
        count += (revision.due_date, revision.due_estimated) != (due.due, due.estimated)
        revision.due_date, revision.due_estimated = due.due, due.estimated
    return count


def remind_due(session: Session, today: date) -> int:
    """Reminds once of pending revisions due within `reminder_working_days` working days."""
    days = settings_of(session).reminder_working_days
    calendar = workdays.WorkCalendar(session)
    count = 0
    for revision in session.scalars(_pending().where(EntryRevision.reminded_at.is_(None),
                                                     EntryRevision.due_date >= today)):
        if calendar.working_days_between(today, revision.due_date) <= days:
            revision.reminded_at = utcnow()
            entry = session.get(CatalogEntry, revision.entry_id)
            audiences = _audiences(session, entry, authority=revision.status == RevisionStatus.SUBMITTED)
            _tell(session, revision, entry, "catalog.law_change_reminder",
                  f"{LABEL}的目录修订即将到期：{entry.name}", audiences)
            count += 1
    return count


def mark_overdue(session: Session, today: date) -> int:
    """Marks pending revisions past their due date, once, and tells the managers and the authority."""
    count = 0
    for revision in session.scalars(_pending().where(EntryRevision.overdue_at.is_(None),
                                                     EntryRevision.due_date < today)):
        revision.overdue_at = utcnow()
        entry = session.get(CatalogEntry, revision.entry_id)
        _tell(session, revision, entry, "catalog.law_change_overdue", f"{LABEL}的目录修订已逾期：{entry.name}",
              _audiences(session, entry, authority=True))
        count += 1
    return count


def _audiences(session: Session, entry: CatalogEntry, *, authority: bool) -> list[Audience]:
    audiences = [Audience(entry.provider_id, roles=(Role.CATALOG_MANAGER,))]
    nearest = _nearest_authority(session, entry.provider) if authority else None
    if nearest is not None:
        audiences.append(Audience(nearest.id, roles=(Role.AUTHORITY_REVIEWER,)))
    return audiences


def _nearest_authority(session: Session, provider: Department) -> Department | None:
    """The competent authority whose area covers the provider most closely (the one that reviews it)."""
    authorities = list(session.scalars(select(Department).where(Department.is_competent_authority.is_(True))))
    prefixes = {a.id: region_prefix(a.region_code) for a in authorities}
    covering = [a for a in authorities if prefixes[a.id] and provider.region_code.startswith(prefixes[a.id])]
    return max(covering, key=lambda a: len(prefixes[a.id]), default=None)


def _tell(session: Session, revision: EntryRevision, entry: CatalogEntry, event: str, title: str,
          audiences: list[Audience]) -> None:
    state = "已被退回，请修改后重新提交" if revision.status == RevisionStatus.RETURNED else "待主管部门审核发布"
    warning = workdays.ESTIMATE_WARNING if revision.due_estimated else ""
    body = (f"因“{revision.law_change_basis}”（{revision.law_effective_date} 生效）提出的修订"
            f"须于 {revision.due_date} 前发布；修订{state}。{warning}")
    emit(session, event, title, audiences=audiences, body=body, link=f"/catalog/{entry.id}",
         data={"revision_id": revision.id, "entry_id": entry.id, "due_date": revision.due_date})
