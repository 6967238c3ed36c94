"""Each role's work, as panels (workbench.panels). Every query starts from the owning service's `readable_*`
query or list function, so a workbench shows nothing its user could not open anyway: there is no second
path to the data. Which panels a user sees follows the role (authz.Role) and, for the competent authority,
its area (region prefix)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from govshare.audit import service as audit
from govshare.audit.models import ChainHead, Checkpoint
from govshare.authz import Actor, region_prefix
from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, DataItem, EntryEvent, EntryRevision
from govshare.catalog.vocab import EntryStatus, ItemType, RevisionStatus, UpdateCycle
from govshare.db import utcnow
from govshare.demands import service as demands
from govshare.demands.vocab import DemandStatus
from govshare.gateway.models import DataConnection, DataSource
from govshare.objections import service as objections
from govshare.objections.models import Objection
from govshare.orgs import systems
from govshare.orgs.models import LEVEL_LABELS, Department, Level, Role, User
from govshare.quality import service as quality
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant, ShareRequest
from govshare.sharing.vocab import (
    DisputeLevel,
    GrantStatus,
    RequestStatus,
    ServiceChangeKind,
    ServiceChangeStatus,
)
from govshare.workbench.panels import DUE_SOON, MARK_LABELS, MAX_ROWS, OVERDUE, Context, Panel, Row
from govshare.workdays import service as workdays

S = RequestStatus
EXPIRY_NOTICE_DAYS = 30  # a grant ending within this many days is shown as 即将到期
RECENT_REPLY_DAYS = 30  # replies received in the last days


# ---------------------------------------------------------------- who sees what


def is_reviewer(actor: Actor) -> bool:
    return actor.has(Role.DEPT_REVIEWER)


def is_authority(actor: Actor) -> bool:
    return actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority


def is_requester(actor: Actor) -> bool:
    return actor.has(Role.REQUESTER)


def is_manager(actor: Actor) -> bool:
    return actor.has(Role.CATALOG_MANAGER)


def reads_node(actor: Actor) -> bool:
    """Platform admins and auditors read the whole node (README: 审计员 reads everything, changes nothing)."""
    return actor.has(Role.PLATFORM_ADMIN, Role.AUDITOR)


def decides_disputes(actor: Actor) -> bool:
    return is_reviewer(actor) or is_authority(actor)


def oversees(actor: Actor) -> bool:
    return is_authority(actor) or reads_node(actor)


# ---------------------------------------------------------------- small readers


def _request_cells(request: ShareRequest) -> tuple[str, str]:
    return f"#{request.id}", request.entry.name


def _status(value: str) -> str:
    return S(value).label


def _overdue_request(context: Context, request: ShareRequest) -> tuple[str, str | None]:
    if request.status != S.SUBMITTED:
        return (str(request.reply_due) if request.reply_due else "—"), None
    return context.deadline(request.reply_due, late=request.overdue_at is not None)


# ---------------------------------------------------------------- department reviewer (部门审核员)


def replies_due(context: Context) -> list[Row]:
    """Requests waiting for the own department's reply, the nearest deadline first."""
    query = (sharing.readable_requests(context.actor)
             .where(ShareRequest.provider_id == context.actor.department_id, ShareRequest.status == S.SUBMITTED)
             .order_by(ShareRequest.reply_due, ShareRequest.id))
    rows = []
    for request in context.session.scalars(query.limit(MAX_ROWS)):
        left, mark = context.deadline(request.reply_due, late=request.overdue_at is not None)
        rows.append(Row((*_request_cells(request), request.requester.name, context.time(request.submitted_at),
                         str(request.reply_due or "—"), left, "仅核验" if request.verify_only else "数据"),
                        url=f"/sharing/requests/{request.id}", mark=mark, facet=_mark_facet(mark)))
    return rows


def _mark_facet(mark: str | None) -> str:
    return MARK_LABELS.get(mark or "", "未到期")


def dispute_steps(context: Context) -> list[Row]:
    """Dispute steps the user's department must decide (sharing.disputes.list_open_steps)."""
    steps = disputes.list_open_steps(context.session, context.actor)
    ids = {step.request_id for step in steps}
    requests = {r.id: r for r in context.session.scalars(
        sharing.readable_requests(context.actor).where(ShareRequest.id.in_(ids)))} if ids else {}
    rows = []
    for step in steps:
        request = requests.get(step.request_id)
        if request is None:
            continue
        left, mark = context.deadline(step.due, late=step.overdue_at is not None)
        level = DisputeLevel(step.level).label
        rows.append(Row((*_request_cells(request), request.requester.name, request.provider.name, level,
                         step.reason, str(step.due), left),
                        url=f"/sharing/requests/{request.id}", mark=mark, facet=level))
    return rows


def suspended_grants(context: Context) -> list[Row]:
    """Grants of the own department's data suspended (R09: used against the rules), awaiting review."""
    query = (sharing.readable_grants(context.actor)
             .where(Grant.provider_id == context.actor.department_id, Grant.status == GrantStatus.SUSPENDED)
             .order_by(Grant.suspended_at, Grant.id))
    rows = []
    for grant in context.session.scalars(query.limit(MAX_ROWS)):
        rows.append(Row((f"#{grant.id}", grant.entry.name, grant.request.requester.name,
                         context.time(grant.suspended_at), grant.suspend_reason or "—"),
                        url=f"/sharing/grants?box=incoming#grant-{grant.id}", facet="已暂停"))
    return rows


def objections_due(context: Context) -> list[Row]:
    """Objections to the own department's data (or forwarded to it) awaiting its answer, the nearest due first."""
    query = (objections.filtered(context.actor, status="open", box="incoming")
             .order_by(Objection.due, Objection.id))
    rows = []
    for objection in context.session.scalars(query.limit(MAX_ROWS)):
        left, mark = context.deadline(objection.due, late=objection.overdue_at is not None)
        rows.append(Row((f"#{objection.id}", objection.entry.name, objection.record_key, "、".join(objection.items),
                         _department_name(context, objection.requester_id), str(objection.due), left),
                        url=f"/objections/{objection.id}", mark=mark, facet=_mark_facet(mark)))
    return rows


def _department_name(context: Context, department_id: int | None) -> str:
    department = context.session.get(Department, department_id) if department_id else None
    return department.name if department else "—"


def answers_objections(actor: Actor) -> bool:
    return actor.has(*objections.ANSWER_ROLES)


# ---------------------------------------------------------------- requester (数据需求人员)


def my_requests(context: Context) -> list[Row]:
    query = (sharing.readable_requests(context.actor)
             .where(ShareRequest.requester_id == context.actor.department_id)
             .order_by(ShareRequest.updated_at.desc(), ShareRequest.id.desc()))
    rows = []
    for request in context.session.scalars(query.limit(MAX_ROWS)):
        due, mark = _overdue_request(context, request)
        rows.append(Row((*_request_cells(request), request.provider.name, _status(request.status), due,
                         context.time(request.updated_at)),
                        url=f"/sharing/requests/{request.id}", mark=mark, facet=_status(request.status)))
    return rows


def replies_received(context: Context) -> list[Row]:
    since = utcnow() - timedelta(days=RECENT_REPLY_DAYS)
    query = (sharing.readable_requests(context.actor)
             .where(ShareRequest.requester_id == context.actor.department_id, ShareRequest.decided_at >= since)
             .order_by(ShareRequest.decided_at.desc(), ShareRequest.id.desc()))
    return [Row((*_request_cells(r), r.provider.name, _status(r.status), context.time(r.decided_at),
                 r.decision_reason or "—"), url=f"/sharing/requests/{r.id}", facet=_status(r.status))
            for r in context.session.scalars(query.limit(MAX_ROWS))]


def my_grants(context: Context) -> list[Row]:
    """Grants the own department holds and may still use, the nearest end first."""
    query = (sharing.readable_grants(context.actor)
             .where(Grant.requester_id == context.actor.department_id,
                    Grant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED]))
             .order_by(Grant.period_end, Grant.id))
    rows = []
    for grant in context.session.scalars(query.limit(MAX_ROWS)):
        days = (grant.period_end - context.today).days
        mark = DUE_SOON if days <= EXPIRY_NOTICE_DAYS else None
        status = GrantStatus(grant.status).label
        rows.append(Row((f"#{grant.id}", grant.entry.name, grant.request.provider.name, str(grant.period_end),
                         f"{days} 天" if days >= 0 else "已到期", status,
                         grant.consumer_system.name if grant.consumer_system else "—"),
                        url=f"/sharing/requests/{grant.request_id}", mark=mark,
                        facet="即将到期" if mark else status))
    return rows


def my_demands(context: Context) -> list[Row]:
    found = demands.list_demands(context.session, context.actor, box="mine", limit=5000)
    rows = []
    for demand in found:
        status = DemandStatus(demand.status).label
        rows.append(Row((f"#{demand.id}", demand.title, status, demand.provider.name if demand.provider else "—",
                         str(demand.answer_due or "—"), demand.answer or "—"),
                        url=f"/demands/{demand.id}", mark=OVERDUE if demand.overdue_at else None, facet=status))
    return rows


def my_objections(context: Context) -> list[Row]:
    """Objections the own department filed, the open ones (校核中) first."""
    query = (objections.filtered(context.actor, box="outgoing")
             .order_by((Objection.status != "open"), Objection.id.desc()))
    rows = []
    for objection in context.session.scalars(query.limit(MAX_ROWS)):
        status = objections.ObjectionStatus(objection.status).label
        rows.append(Row((f"#{objection.id}", objection.entry.name, objection.record_key,
                         _department_name(context, objection.provider_id), status, str(objection.due),
                         objection.answer or "—"),
                        url=f"/objections/{objection.id}", mark=OVERDUE if objection.overdue_at else None,
                        facet=status))
    return rows


def my_systems(context: Context) -> list[Row]:
    rows = []
    for system in systems.list_systems(context.session, context.actor):
        state = "已停用" if system.revoked_at else "有效"
        rows.append(Row((system.name, system.client_id, state, context.time(system.created_at)),
                        url="/sharing/systems", facet=state))
    return rows


# ---------------------------------------------------------------- catalog manager (部门目录管理员)


def _own_entries(context: Context):
    return catalog.readable_entries(context.actor).where(CatalogEntry.provider_id == context.actor.department_id)


def drafts(context: Context) -> list[Row]:
    query = (_own_entries(context).where(CatalogEntry.status == EntryStatus.DRAFT)
             .options(selectinload(CatalogEntry.items)).order_by(CatalogEntry.updated_at.desc()))
    return [Row((e.resource_code, e.name, str(len(e.items)), context.time(e.updated_at)),
                url=f"/my/catalog/{e.id}/edit", facet="草稿") for e in context.session.scalars(query.limit(MAX_ROWS))]


def returned(context: Context) -> list[Row]:
    """Entries and revisions the authority returned, with its reason: the manager edits and submits again."""
    rows = [Row((e.resource_code, e.name, "目录", e.return_reason or "—", context.time(e.updated_at)),
                url=f"/my/catalog/{e.id}/edit", facet="目录")
            for e in context.session.scalars(_own_entries(context).where(CatalogEntry.status == EntryStatus.RETURNED)
                                             .order_by(CatalogEntry.updated_at.desc()))]
    revisions = (select(EntryRevision, CatalogEntry)
                 .join(CatalogEntry, CatalogEntry.id == EntryRevision.entry_id)
                 .where(EntryRevision.status == RevisionStatus.RETURNED,
                        CatalogEntry.id.in_(_own_entries(context).with_only_columns(CatalogEntry.id)))
                 .order_by(EntryRevision.decided_at.desc()))
    for revision, entry in context.session.execute(revisions):
        rows.append(Row((entry.resource_code, entry.name, f"修订（第 {revision.base_version + 1} 版）",
                         revision.return_reason or "—", context.time(revision.decided_at)),
                        url=f"/my/catalog/{entry.id}/revise", facet="修订"))
    return rows


def stale(context: Context) -> list[Row]:
    """Published entries whose data was not updated within the update cycle (R05)."""
    query = _own_entries(context).where(catalog.stale_condition(utcnow())).order_by(CatalogEntry.id)
    rows = []
    for entry in context.session.scalars(query.limit(MAX_ROWS)):
        deadline = catalog.stale_deadline(entry)
        cycle = UpdateCycle(entry.update_cycle).label
        rows.append(Row((entry.resource_code, entry.name, cycle, context.time(entry.data_updated_at),
                         context.time(deadline)), url=f"/catalog/{entry.id}", mark=OVERDUE, facet=cycle))
    return rows


def pending_revisions(context: Context) -> list[Row]:
    rows = []
    for revision, entry in catalog.submitted_revisions(context.session, context.actor):
        if entry.provider_id != context.actor.department_id:
            continue
        left, mark = _revision_deadline(context, revision)
        kind = "法律或职责变化" if revision.due_to_law_change else "一般修订"
        rows.append(Row((entry.resource_code, entry.name, revision.reason, context.time(revision.created_at),
                         str(revision.due_date or "—"), left), url=f"/catalog/{entry.id}", mark=mark, facet=kind))
    return rows


def _revision_deadline(context: Context, revision: EntryRevision) -> tuple[str, str | None]:
    """Only a revision caused by a change of law or of duties has a publication deadline (R05)."""
    if not revision.due_to_law_change:
        return "—", None
    return context.deadline(revision.due_date, late=revision.overdue_at is not None)


def incomplete(context: Context) -> list[Row]:
    """Entries without data items, and published entries without a connected data source: the gateway cannot
    serve them."""
    item_counts = (select(DataItem.entry_id, func.count().label("item_count")).group_by(DataItem.entry_id).subquery())
    query = (_own_entries(context).with_only_columns(CatalogEntry, item_counts.c.item_count, DataSource.status)
             .outerjoin(item_counts, item_counts.c.entry_id == CatalogEntry.id)
             .outerjoin(DataSource, DataSource.entry_id == CatalogEntry.id)
             .order_by(CatalogEntry.id))
    rows = []
    for entry, items, source_status in context.session.execute(query.limit(MAX_ROWS)):
        missing = []
        if not items:
            missing.append("信息项")
        if entry.status == EntryStatus.PUBLISHED and source_status != "connected":
            missing.append("数据源")
        if missing:
            url = f"/sources/{entry.id}" if missing == ["数据源"] else f"/catalog/{entry.id}"
            rows.append(Row((entry.resource_code, entry.name, EntryStatus(entry.status).label, "、".join(missing)),
                            url=url, facet="、".join(missing)))
    return rows


# ---------------------------------------------------------------- competent authority (主管部门)


def _in_area(actor: Actor):
    """Departments the actor oversees: the authority's area, or the whole node for admins and auditors."""
    if reads_node(actor) or actor.is_system:
        return Department.id.is_not(None)
    return Department.region_code.startswith(region_prefix(actor.region_code))


def _submitters(context: Context, entry_ids: list[int]) -> dict[int, tuple[str, object]]:
    """Who submitted each entry last, and when (its latest 提交审核 event)."""
    if not entry_ids:
        return {}
    latest = (select(EntryEvent.entry_id, func.max(EntryEvent.id).label("id"))
              .where(EntryEvent.entry_id.in_(entry_ids), EntryEvent.action == "submitted")
              .group_by(EntryEvent.entry_id).subquery())
    query = (select(EntryEvent.entry_id, User.display_name, EntryEvent.created_at)
             .join(latest, latest.c.id == EntryEvent.id).outerjoin(User, User.id == EntryEvent.actor_id))
    return {entry_id: (name or "—", at) for entry_id, name, at in context.session.execute(query)}


def _user_names(context: Context, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(context.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())


def review_queue(context: Context) -> list[Row]:
    """Entries and revisions submitted for review in the authority's area, the longest waiting first."""
    in_area = (catalog.readable_entries(context.actor)
               .where(CatalogEntry.provider_id.in_(select(Department.id).where(_in_area(context.actor)))))
    entries = list(context.session.scalars(in_area.where(CatalogEntry.status == EntryStatus.SUBMITTED)))
    submitted = _submitters(context, [e.id for e in entries])
    waiting = []
    for entry in entries:
        who, at = submitted.get(entry.id, ("—", entry.updated_at))
        waiting.append((at, Row(("目录", entry.resource_code, entry.name, entry.provider.name, who, context.time(at),
                                 context.waited(at), "—"), url="/review", facet="目录")))
    revisions = [(revision, entry) for revision, entry in catalog.submitted_revisions(context.session, context.actor)
                 if context.actor.covers_region(entry.provider.region_code)]
    names = _user_names(context, {revision.created_by_id for revision, _entry in revisions})
    for revision, entry in revisions:
        left, mark = _revision_deadline(context, revision)
        at = revision.created_at
        waiting.append((at, Row(("修订", entry.resource_code, entry.name, entry.provider.name,
                                 names.get(revision.created_by_id, "—"), context.time(at), context.waited(at), left),
                                url="/review", mark=mark, facet="修订")))
    return [row for _at, row in sorted(waiting, key=lambda pair: pair[0])]


def clusters_without_lead(context: Context) -> list[Row]:
    """一数一源: items several departments catalog and no lead source is named for yet."""
    rows = []
    for cluster in onesource.list_clusters(context.session, context.actor):
        if cluster.lead_department_id is not None:
            continue
        departments = sorted({m.data_item.entry.provider.name for m in cluster.members})
        kind = ItemType(cluster.data_type).label if cluster.data_type in ItemType.labels() else cluster.data_type
        rows.append(Row((cluster.label, kind, str(len(departments)), "、".join(departments),
                         context.time(cluster.detected_at)), url=f"/one-source#cluster-{cluster.id}", facet=kind))
    return rows


def late_objections(context: Context) -> list[Row]:
    """Objections in the area left unanswered past their due day: escalated to the competent authority (R13)."""
    area = select(Department.id).where(_in_area(context.actor))
    query = (objections.filtered(context.actor, status="open")
             .where(Objection.provider_id.in_(area), Objection.overdue_at.is_not(None))
             .order_by(Objection.due, Objection.id))
    rows = []
    for objection in context.session.scalars(query.limit(MAX_ROWS)):
        left, mark = context.deadline(objection.due, late=True)
        provider = _department_name(context, objection.provider_id)
        rows.append(Row((f"#{objection.id}", objection.entry.name, provider,
                         _department_name(context, objection.requester_id), str(objection.due), left),
                        url=f"/objections/{objection.id}", mark=mark, facet=provider))
    return rows


def service_changes(context: Context) -> list[Row]:
    """Stops and changes of sharing services awaiting the authority's approval (R11)."""
    found = changes.list_changes(context.session, context.actor, status=ServiceChangeStatus.SUBMITTED)
    affected = Counter(context.session.scalars(select(Grant.entry_id).where(
        Grant.entry_id.in_({c.entry_id for c in found}),
        Grant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED])))) if found else Counter()
    rows = []
    for change in found:
        kind = ServiceChangeKind(change.kind).label
        rows.append(Row((f"#{change.id}", change.entry.name, change.entry.provider.name, kind, change.description,
                         str(change.effective_date), str(affected[change.entry_id])),
                        url=f"/sharing/changes/{change.id}", facet=kind))
    return rows


def departments(context: Context) -> list[Row]:
    """Per department of the area: entries, published share, requests received, replies on time, overdue now, the
    mean quality score of its checked entries (R14), and the objections to its data: received, answered on time,
    corrected, overdue now (R13, counted for evaluation R19).
    A reply is on time when it was made by the reply deadline (the local day of the decision)."""
    session, today = context.session, context.today
    found = list(session.scalars(select(Department).where(_in_area(context.actor)).order_by(Department.id)))
    ids = [d.id for d in found]
    if not ids:
        return []
    entries = defaultdict(Counter)
    for provider_id, status, count in session.execute(
            select(CatalogEntry.provider_id, CatalogEntry.status, func.count())
            .where(CatalogEntry.provider_id.in_(ids), CatalogEntry.status != EntryStatus.DRAFT)
            .group_by(CatalogEntry.provider_id, CatalogEntry.status)):
        entries[provider_id][status] += count
    received, replied, on_time, overdue = Counter(), Counter(), Counter(), Counter()
    for provider_id, status, due, decided_at, overdue_at in session.execute(
            select(ShareRequest.provider_id, ShareRequest.status, ShareRequest.reply_due, ShareRequest.decided_at,
                   ShareRequest.overdue_at)
            .where(ShareRequest.provider_id.in_(ids), ShareRequest.status != S.DRAFT)):
        received[provider_id] += 1
        if decided_at is not None:
            replied[provider_id] += 1
            on_time[provider_id] += due is None or context.local_date(decided_at) <= due
        elif status == S.SUBMITTED and (overdue_at is not None or (due is not None and due < today)):
            overdue[provider_id] += 1
    scores = quality.provider_scores(session, ids)
    handled = objections.handling(session, ids, today)
    rows = []
    for department in found:
        counts = entries[department.id]
        score = scores.get(department.id)
        objection = handled.get(department.id, objections.Handling())
        total, published = sum(counts.values()), counts[EntryStatus.PUBLISHED]
        level = LEVEL_LABELS.get(Level(department.level), department.level) \
            if department.level in {lv.value for lv in Level} else department.level
        rows.append(Row((department.name, level, str(total), str(published), _percent(published, total),
                         str(received[department.id]), str(replied[department.id]),
                         _percent(on_time[department.id], replied[department.id]), str(overdue[department.id]),
                         f"{score[0]:.1f}（{score[1]}）" if score else "—", str(objection.received),
                         _percent(objection.on_time, objection.answered), str(objection.corrected),
                         str(objection.overdue)),
                        url=f"/catalog?department={department.id}",
                        mark=OVERDUE if overdue[department.id] or objection.overdue else None,
                        facet=level))
    return rows


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def departments_chart(rows: list[Row]) -> dict:
    """Bars of entries and published entries, a line of the on-time reply rate, per department."""
    shown = rows[:30]
    return {"names": [row.cells[0] for row in shown],
            "entries": [int(row.cells[2]) for row in shown],
            "published": [int(row.cells[3]) for row in shown],
            "on_time": [None if row.cells[7] == "—" else int(row.cells[7].rstrip("%")) for row in shown]}


# ---------------------------------------------------------------- auditor and platform admin


def anomalies(context: Context) -> list[Row]:
    """Usage the anomaly rules flagged in the last 30 days (R12)."""
    rows = []
    for flag in audit.anomalies(context.session, context.actor):
        rows.append(Row((str(flag["day"]), flag["label"], flag.get("entry_name", "—"), flag.get("requester_name", "—"),
                         flag.get("provider_name", "—"), flag["message"]),
                        url=f"/audit?grant={flag['grant_id']}&since={flag['day']}&until={flag['day']}",
                        mark=OVERDUE, facet=flag["label"]))
    return rows


def connections(context: Context) -> list[Row]:
    sources = Counter(context.session.scalars(select(DataSource.connection_id)
                                              .where(DataSource.connection_id.is_not(None))))
    query = select(DataConnection).where(DataConnection.retired_at.is_(None)).order_by(DataConnection.id)
    names = dict(context.session.execute(select(Department.id, Department.name)).all())
    rows = []
    for connection in context.session.scalars(query):
        kind = {"sql": "数据库", "http": "接口"}.get(connection.kind, connection.kind)
        rows.append(Row((connection.name, names.get(connection.department_id, "—"), kind,
                         str(sources[connection.id]), context.time(connection.updated_at)),
                        url="/admin/connections", facet=kind))
    return rows


def calendar_years(context: Context) -> list[Row]:
    """Who knows the holidays of last year, this year and the next two: a year nobody knows makes every
    working-day deadline in it an estimate."""
    rows = []
    for year in range(context.today.year - 1, context.today.year + 3):
        status = workdays.year_status(context.session, year)
        mark = OVERDUE if status.estimated and year <= context.today.year else None  # deadlines now are guesses
        rows.append(Row((str(year), status.label, str(status.admin_days)), url="/admin/calendar", mark=mark,
                        facet=status.label))
    return rows


def chain_status(context: Context) -> dict:
    """The record chain at a glance: its length, the last signed checkpoint, and the last 30 days' calls."""
    head = context.session.get(ChainHead, 1)
    last = context.session.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()
    days = audit.totals(context.session, context.actor, by="day")
    return {
        "records": head.seq if head else 0,
        "checkpoint_seq": last.seq if last else None,
        "checkpoint_at": context.time(last.signed_at) if last else "—",
        "unsigned": (head.seq if head else 0) - (last.seq if last else 0),
        "calls": sum(t["calls"] for t in days),
        "refused": sum(t["refused"] for t in days),
        "rows": sum(t["rows"] for t in days),
    }


# ---------------------------------------------------------------- the panels, in the order a workbench shows them

PANELS: tuple[Panel, ...] = (
    Panel("replies-due", "待本部门答复的共享申请",
          ("申请", "申请目录", "需求部门", "提交时间", "答复期限", "剩余时间", "方式"),
          "没有待本部门答复的共享申请。", is_reviewer, replies_due, facet_label="期限",
          more_url="/sharing/requests?box=incoming&status=submitted"),
    Panel("dispute-steps", "待本部门处理的争议",
          ("申请", "申请目录", "需求部门", "提供部门", "环节", "争议理由", "处理期限", "剩余时间"),
          "没有待本部门处理的争议。", decides_disputes, dispute_steps, facet_label="环节",
          more_url="/sharing/disputes"),
    Panel("objections-due", "待本部门核实的数据核实（校核纠错）",
          ("核实", "目录", "记录主键", "有误的信息项", "提出部门", "答复期限", "剩余时间"),
          "没有待本部门核实的数据核实请求。", answers_objections, objections_due, facet_label="期限",
          more_url="/objections?box=incoming&status=open"),
    Panel("suspended-grants", "已暂停的授权（本部门提供的数据）",
          ("授权", "目录", "需求部门", "暂停时间", "暂停原因"),
          "没有已暂停的授权。", is_reviewer, suspended_grants, facet_label="状态",
          more_url="/sharing/grants?box=incoming"),
    Panel("review-queue", "待审核的目录与修订",
          ("类型", "资源代码", "资源名称", "提供部门", "提交人", "提交时间", "已等待", "发布期限"),
          "没有待审核的目录或修订。", is_authority, review_queue, facet_label="类型", more_url="/review"),
    Panel("service-changes", "待审批的共享服务变更",
          ("变更", "目录", "提供部门", "类型", "说明", "生效日期", "受影响授权"),
          "没有待审批的共享服务变更。", is_authority, service_changes, facet_label="类型"),
    Panel("late-objections", "逾期未答复的数据核实（辖区）",
          ("核实", "目录", "提供部门", "提出部门", "答复期限", "逾期"),
          "辖区内没有逾期未答复的数据核实。", is_authority, late_objections, facet_label="提供部门",
          more_url="/objections?status=open"),
    Panel("one-source", "尚未确定数源部门的一数一源数据项",
          ("数据项", "类型", "部门数", "涉及部门", "发现时间"),
          "所有一数一源数据项都已确定数源部门。", is_authority, clusters_without_lead, facet_label="数据类型",
          more_url="/one-source"),
    Panel("my-requests", "本部门的共享申请",
          ("申请", "申请目录", "提供部门", "状态", "答复期限", "更新时间"),
          "本部门还没有共享申请。可在“目录检索”中找到目录后申请。", is_requester, my_requests,
          facet_label="状态", more_url="/sharing/requests?box=outgoing"),
    Panel("replies-received", f"近 {RECENT_REPLY_DAYS} 天收到的答复",
          ("申请", "申请目录", "提供部门", "答复", "答复时间", "答复理由"),
          "近期没有收到答复。", is_requester, replies_received, facet_label="答复"),
    Panel("my-grants", "本部门获得的授权（先到期的在前）",
          ("授权", "目录", "提供部门", "到期日", "剩余", "状态", "应用系统"),
          "本部门还没有可用的授权。", is_requester, my_grants, facet_label="状态",
          more_url="/sharing/grants?box=outgoing"),
    Panel("my-demands", "本部门提出的数据需求",
          ("需求", "标题", "状态", "转至部门", "答复期限", "答复"),
          "本部门还没有提出数据需求。", is_requester, my_demands, facet_label="状态", more_url="/demands?box=mine"),
    Panel("my-objections", "本部门提出的数据核实",
          ("核实", "目录", "记录主键", "提供部门", "状态", "答复期限", "答复"),
          "本部门还没有提出数据核实。发现获取的数据有误时，可在数据预览、核验或共享授权页面提出。", is_requester,
          my_objections, facet_label="状态", more_url="/objections?box=outgoing"),
    Panel("my-systems", "本部门的应用系统",
          ("应用系统", "客户端标识", "状态", "登记时间"),
          "本部门还没有登记应用系统：申请数据前先在“应用系统”中登记调用数据的系统。", is_requester, my_systems,
          facet_label="状态", more_url="/sharing/systems"),
    Panel("drafts", "目录草稿", ("资源代码", "资源名称", "信息项", "最近修改"),
          "没有目录草稿。", is_manager, drafts, more_url="/my/catalog"),
    Panel("returned", "被退回的目录与修订", ("资源代码", "资源名称", "类型", "退回理由", "退回时间"),
          "没有被退回的目录或修订。", is_manager, returned, facet_label="类型"),
    Panel("stale", "数据未按更新周期更新的目录（R05）",
          ("资源代码", "资源名称", "更新周期", "数据更新时间", "应更新于"),
          "所有已发布目录的数据都在更新周期内。", is_manager, stale, facet_label="更新周期"),
    Panel("pending-revisions", "待主管部门审核的修订",
          ("资源代码", "资源名称", "修订原因", "提交时间", "发布期限", "剩余时间"),
          "没有待审核的修订。", is_manager, pending_revisions, facet_label="类型"),
    Panel("incomplete", "缺少信息项或数据源的目录", ("资源代码", "资源名称", "目录状态", "缺少"),
          "所有目录都有信息项，已发布目录都已接入数据源。", is_manager, incomplete, facet_label="缺少",
          more_url="/sources"),
    Panel("anomalies", "近 30 天的异常使用",
          ("日期", "类型", "目录", "需求部门", "提供部门", "说明"),
          "近 30 天没有异常使用。", lambda a: reads_node(a) or is_authority(a), anomalies, facet_label="类型",
          more_url="/audit"),
    Panel("departments", "部门概况", ("部门", "层级", "目录", "已发布", "发布率", "收到申请", "已答复",
                                  "按时答复率", "当前逾期", "数据质量", "收到核实", "核实按时率", "已更正",
                                  "核实逾期"),
          "没有部门。", oversees, departments, facet_label="层级", chart=departments_chart),
    Panel("connections", "数据连接", ("连接", "部门", "类型", "接入目录数", "更新时间"),
          "还没有登记数据连接。", lambda a: a.has(Role.PLATFORM_ADMIN), connections, facet_label="类型",
          more_url="/admin/connections"),
    Panel("calendar", "节假日日历", ("年份", "节假日来源", "管理员登记天数"),
          "", lambda a: a.has(Role.PLATFORM_ADMIN), calendar_years, facet_label="来源", more_url="/admin/calendar"),
)
BY_KEY = {panel.key: panel for panel in PANELS}


def panels_for(actor: Actor) -> list[Panel]:
    return [panel for panel in PANELS if panel.shown_to(actor)]


def panel_for(actor: Actor, key: str) -> Panel | None:
    """The panel of that key if the actor's workbench shows it (else None: the page answers 404)."""
    panel = BY_KEY.get(key)
    return panel if panel is not None and panel.shown_to(actor) else None


def shows_chain(actor: Actor) -> bool:
    return reads_node(actor)


