"""Catalog rules: validation (R01, R03, R04, R17), life cycle draft → submitted → published or
returned, versioned revisions of published entries (R05), staleness, and who may read what."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from govshare.authz import (
    Actor,
    require_authority_over,
    require_own_department,
    require_role,
)
from govshare.catalog import grades, law_change
from govshare.catalog.models import CatalogEntry, CodeSequence, DataItem, EntryEvent, EntryRevision
from govshare.catalog.schemas import EntryIn, ItemIn
from govshare.catalog.vocab import (
    GRADE_RANK,
    STALE_AFTER_DAYS,
    EntryStatus,
    Grade,
    RevisionStatus,
    ShareType,
    UpdateCycle,
)
from govshare.db import utcnow
from govshare.errors import Conflict, NotFound, ValidationFailed, found, required_reason
from govshare.orgs.models import Department, Role
from govshare.workdays import service as workdays

CLASSIFICATION_CODE = re.compile(r"^[123](\d{2}(\d{3}(\d{3})?)?)?$")
RESOURCE_CODE = re.compile(r"^[123]\d{0,8}/\d{6}$")
# a source page is shown as a link: only web addresses, never javascript: or data: (the page escapes the rest)
SOURCE_URL = re.compile(r"^https?://[^\s<>\"]+$", re.IGNORECASE)
NOT_SECRET = {"", "非涉密", "否", "无", "不涉密", "公开"}
# Words that do not make a condition concrete (R04): a condition must say what is required.
VAGUE_CONDITIONS = {"有条件", "有条件共享", "依申请", "申请", "需申请", "按规定", "视情况", "无", "其他"}
MIN_LEGAL_BASIS_CHARS = 6
LAW_CITATION = re.compile(r"《[^》]+》|法|条例|规定|办法|决定|国发|国办发")

READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)
WRITE_ROLES = (Role.CATALOG_MANAGER,)
# Besides the catalog managers (own department only), who may import catalog files for any department.
IMPORT_ANY_ROLES = (Role.PLATFORM_ADMIN,)


# ---------------------------------------------------------------- validation


def validate_entry(data: EntryIn) -> None:
    """The rules of R01, R03 and R04 that no entry may break, whichever way it arrives."""
    secrecy = (data.secrecy or "").strip()
    if secrecy not in NOT_SECRET:
        raise ValidationFailed(
            f"涉及国家秘密或工作秘密的数据（{secrecy}）不得纳入共享目录（条例第三条）", field="secrecy"
        )
    if not CLASSIFICATION_CODE.match(data.classification_code):
        raise ValidationFailed(
            "分类代码应为 类(1位:1基础/2主题/3部门)+项(2位)+目(3位)+细目(3位)，如 101 或 201001："
            f"{data.classification_code}",
            field="classification_code",
        )
    _validate_share_type(data)
    for code in data.related_codes:
        if not RESOURCE_CODE.match(code):
            raise ValidationFailed(f"关联资源代码格式应为 分类代码/6位顺序码：{code}", field="related_codes")
    if data.source_url and not SOURCE_URL.match(data.source_url):
        raise ValidationFailed(f"来源页面应为 http:// 或 https:// 开头的网址：{data.source_url[:80]}",
                               field="source_url")
    _validate_grades(data)
    require_condition_for_grade(data.share_type, data.grade, data.items)
    names = [item.name for item in data.items]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValidationFailed(f"信息项名称重复：{'、'.join(sorted(duplicates))}", field="items")


def _validate_grades(data: EntryIn) -> None:
    """R17: an entry is graded at least as high as its most sensitive item (the grade drives masking and
    approval, so an entry must not look less sensitive than what it contains)."""
    if not data.items:
        return
    highest = max(data.items, key=lambda item: GRADE_RANK[item.grade])
    if GRADE_RANK[data.grade] < GRADE_RANK[highest.grade]:
        raise ValidationFailed(
            f"目录分级（{data.grade.label}）不得低于其信息项的最高分级（{highest.chinese_name}：{highest.grade.label}）",
            field="grade",
        )


def require_condition_for_grade(share_type: str, grade: str, items: Iterable) -> None:
    """R17: data graded 重要 or 核心 is never shared unconditionally (catalog.grades). `items` are the entry's
    items (ItemIn or DataItem); the message names the most sensitive one, else the entry's own grade."""
    if share_type != ShareType.UNCONDITIONAL:
        return
    graded = [item for item in items if grades.needs_reply(item.grade)]
    if graded:
        item = max(graded, key=lambda i: GRADE_RANK[Grade(i.grade)])
        held = f"含{Grade(item.grade).label}数据（信息项“{item.chinese_name}”分级为{Grade(item.grade).label}）"
    elif grades.needs_reply(grade):
        held = f"目录分级为{Grade(grade).label}"
    else:
        return
    raise ValidationFailed(
        f"{held}，不得无条件共享：重要和核心数据须经提供部门审核同意后共享，"
        "请将共享类型改为有条件共享并写明共享条件（分级分类管理，GB/T 43697）",
        field="share_type", code="grade_requires_condition",
    )


def _validate_share_type(data: EntryIn) -> None:
    condition = data.share_condition.strip()
    if data.share_type == ShareType.NONE:
        basis = data.legal_basis.strip()
        if len(basis) < MIN_LEGAL_BASIS_CHARS or not LAW_CITATION.search(basis):
            raise ValidationFailed(
                "不予共享的目录必须注明所依据的法律、行政法规或国务院政策文件（如《中华人民共和国统计法》第二十八条）",
                field="legal_basis",
            )
    elif data.share_type == ShareType.CONDITIONAL:
        if not condition or condition in VAGUE_CONDITIONS:
            raise ValidationFailed(
                "有条件共享的目录必须写明具体的共享条件（如：仅限社会救助审核使用，按行政区划核验）",
                field="share_condition",
            )
    elif condition not in ("", "无条件", "无条件共享"):
        raise ValidationFailed("无条件共享的目录不得附加共享条件，共享条件应为“无条件”", field="share_condition")


# ---------------------------------------------------------------- reading


def readable_entries(actor: Actor) -> Select:
    """Entries the actor may read: published ones for everybody; drafts only in the own department;
    submitted and returned ones also for the competent authority of the area; everything for admins
    and auditors."""
    query = select(CatalogEntry)
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return query
    visible = [CatalogEntry.status == EntryStatus.PUBLISHED, CatalogEntry.provider_id == actor.department_id]
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        from govshare.authz import region_prefix

        prefix = region_prefix(actor.region_code)
        visible.append(
            and_(
                CatalogEntry.status != EntryStatus.DRAFT,
                CatalogEntry.provider.has(Department.region_code.startswith(prefix)),
            )
        )
    return query.where(or_(*visible))


def get_entry(session: Session, actor: Actor, entry_id: int) -> CatalogEntry:
    entry = session.scalars(
        readable_entries(actor).where(CatalogEntry.id == entry_id).options(selectinload(CatalogEntry.items))
    ).first()
    if entry is None:
        raise NotFound(f"目录不存在或无权查看：{entry_id}", field="entry_id")
    return entry


def get_entry_by_code(session: Session, actor: Actor, resource_code: str) -> CatalogEntry:
    return found(
        session.scalars(readable_entries(actor).where(CatalogEntry.resource_code == resource_code)).first(),
        f"目录不存在或无权查看：{resource_code}", "resource_code",
    )


def list_entries(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    provider_id: int | None = None,
    stale: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[CatalogEntry]:
    query = readable_entries(actor).options(selectinload(CatalogEntry.items))
    if status:
        query = query.where(CatalogEntry.status == status)
    if provider_id:
        query = query.where(CatalogEntry.provider_id == provider_id)
    if stale is not None:
        query = query.where(stale_condition(utcnow()) if stale else ~stale_condition(utcnow()))
    return list(session.scalars(query.order_by(CatalogEntry.id).limit(limit).offset(offset)))


def stale_condition(now: datetime):
    """SQL form of is_stale: published and not updated within the update cycle (R05), counted like
    stale_deadline: from the data update time, else from the publish date (midnight), else never. Every term
    is false rather than NULL on a missing date, so that the negation (not stale) holds those entries too."""
    overdue = []
    for cycle, days in STALE_AFTER_DAYS.items():
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        # publish_date at midnight < cutoff  <=>  publish_date < the first day whose midnight is not before it
        first_day_not_before = cutoff.date() + timedelta(days=0 if cutoff.time() == time() else 1)
        overdue.append(and_(CatalogEntry.update_cycle == cycle.value, or_(
            and_(CatalogEntry.data_updated_at.is_not(None), CatalogEntry.data_updated_at < cutoff),
            and_(CatalogEntry.data_updated_at.is_(None), CatalogEntry.publish_date.is_not(None),
                 CatalogEntry.publish_date < first_day_not_before),
        )))
    return and_(CatalogEntry.status == EntryStatus.PUBLISHED, or_(*overdue))


def stale_deadline(entry: CatalogEntry) -> datetime | None:
    """When the entry becomes stale (R05): its update cycle counted from the time its data was last updated,
    or, when that is unknown (an import without an update date), from its publish date (at midnight). None:
    never (an irregular cycle, or neither date known). The search index stores it as `stale_after`."""
    days = STALE_AFTER_DAYS.get(UpdateCycle(entry.update_cycle))
    if days is None:
        return None
    if entry.data_updated_at is not None:
        return entry.data_updated_at + timedelta(days=days)
    if entry.publish_date is not None:
        return datetime.combine(entry.publish_date, time()) + timedelta(days=days)
    return None


def is_stale(entry: CatalogEntry, now: datetime | None = None) -> bool:
    """R05: a published entry whose data was not updated within its update cycle."""
    deadline = stale_deadline(entry)
    return entry.status == EntryStatus.PUBLISHED and deadline is not None and deadline < (now or utcnow())


def stale_entries(session: Session, actor: Actor) -> list[CatalogEntry]:
    query = readable_entries(actor).where(stale_condition(utcnow()))
    return list(session.scalars(query.order_by(CatalogEntry.id)))


def history(session: Session, actor: Actor, entry_id: int) -> list[EntryEvent]:
    get_entry(session, actor, entry_id)
    return list(
        session.scalars(select(EntryEvent).where(EntryEvent.entry_id == entry_id).order_by(EntryEvent.id))
    )


def published_version(session: Session, actor: Actor, entry_id: int, version: int) -> dict:
    """The snapshot of one published version (R05: every version is kept)."""
    get_entry(session, actor, entry_id)
    event = session.scalars(
        select(EntryEvent).where(
            EntryEvent.entry_id == entry_id, EntryEvent.version == version, EntryEvent.snapshot.is_not(None)
        )
    ).first()
    if event is None:
        raise NotFound(f"目录版本不存在：{entry_id} v{version}", field="version")
    return event.snapshot


# ---------------------------------------------------------------- writing


def next_resource_code(session: Session, classification_code: str) -> str:
    """`classification/sequence`, sequence unique within the classification."""
    return reserve_resource_codes(session, classification_code, 1)[0]


def reserve_resource_codes(session: Session, classification_code: str, count: int) -> list[str]:
    """`count` consecutive resource codes of one classification."""
    sequence = _locked_sequence(session, classification_code)
    first = sequence.last_value + 1
    sequence.last_value += count
    session.flush()
    return [f"{classification_code}/{value:06d}" for value in range(first, first + count)]


def _locked_sequence(session: Session, classification_code: str) -> CodeSequence:
    """The classification's counter row, created if missing without racing (ON CONFLICT DO NOTHING), then
    locked, so two concurrent creators never take the same number on PostgreSQL; SQLite serializes writers."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(CodeSequence).values(classification_code=classification_code, last_value=0).on_conflict_do_nothing()
    )
    return session.scalars(
        select(CodeSequence).where(CodeSequence.classification_code == classification_code).with_for_update()
    ).one()


def _keep_resource_codes(session: Session, new: list[NewEntry]) -> None:
    """Entries that arrive with their own code (an exported catalog imported elsewhere) keep it; the
    counters move past the kept codes first, so the codes handed out afterwards never collide with them."""
    highest: dict[str, int] = {}
    for n in new:
        if not n.resource_code:
            continue
        classification, _, number = n.resource_code.partition("/")
        if not RESOURCE_CODE.match(n.resource_code) or classification != n.data.classification_code:
            raise ValidationFailed(f"资源代码与分类代码不符：{n.resource_code}", field="resource_code")
        highest[classification] = max(highest.get(classification, 0), int(number))
    for classification, number in highest.items():
        sequence = _locked_sequence(session, classification)
        sequence.last_value = max(sequence.last_value, number)


def _apply(entry: CatalogEntry, data: EntryIn) -> None:
    for field in (
        "name", "abstract", "share_condition", "legal_basis", "open_condition", "source_system", "theme",
        "tags", "source_url", "publish_date", "related_codes",
    ):
        setattr(entry, field, getattr(data, field))
    for field in ("data_format", "share_type", "share_method", "open_attribute", "update_cycle", "grade"):
        setattr(entry, field, getattr(data, field).value)
    if entry.share_type == ShareType.UNCONDITIONAL:
        entry.share_condition = "无条件"
    _apply_items(entry, data)


def _apply_items(entry: CatalogEntry, data: EntryIn) -> None:
    """Items keep their row (and id) when their field name stays: one-source memberships and, later,
    grants refer to items by id. New names are added, missing ones removed."""
    existing = {item.name: item for item in entry.items}
    items = []
    for position, item_in in enumerate(data.items):
        item = existing.get(item_in.name) or DataItem(name=item_in.name)
        item.position = position
        item.chinese_name = item_in.chinese_name
        item.data_type = item_in.data_type.value
        item.length = item_in.length
        item.description = item_in.description
        item.grade = item_in.grade.value
        item.personal_info = item_in.personal_info.value
        items.append(item)
    entry.items = items


def _record(session: Session, entry: CatalogEntry, actor: Actor, action: str, reason: str = "",
            *, with_snapshot: bool = False) -> None:
    session.add(
        EntryEvent(
            entry_id=entry.id,
            action=action,
            version=entry.version if with_snapshot else None,
            snapshot=snapshot(entry) if with_snapshot else None,
            reason=reason,
            actor_id=actor.user_id,
        )
    )


def _changed(session: Session, entry: CatalogEntry) -> None:
    """Marks a published entry for the search index, which is updated after the commit."""
    session.info.setdefault("catalog_changed", set()).add(entry.id)


def _writable(session: Session, actor: Actor, entry_id: int) -> CatalogEntry:
    entry = found(
        session.get(CatalogEntry, entry_id, with_for_update={"of": CatalogEntry}),
        f"目录不存在：{entry_id}", "entry_id",
    )
    require_role(actor, *WRITE_ROLES, action="编制目录")
    require_own_department(actor, entry.provider_id, action="修改")
    return entry


def create_entry(
    session: Session,
    actor: Actor,
    data: EntryIn,
    *,
    provider_id: int | None = None,
    external_key: str | None = None,
    reason: str = "",
    data_updated_at: datetime | None = None,
) -> CatalogEntry:
    """A new draft in the provider's catalog. Catalog managers write only their own department's."""
    new = NewEntry(data=data, provider_id=provider_id or actor.department_id, external_key=external_key,
                   reason=reason, data_updated_at=data_updated_at)
    return create_entries(session, actor, [new])[0]


def _require_writer(actor: Actor, provider_id: int | None, *, imported: bool) -> None:
    admin_import = imported and actor.has(*IMPORT_ANY_ROLES)
    if not admin_import:
        require_role(actor, *WRITE_ROLES, action="编制目录")
    if provider_id is None:
        raise ValidationFailed("必须指定提供部门", field="provider_id")
    if not admin_import:
        require_own_department(actor, provider_id, action="编制")


@dataclass
class NewEntry:
    """One entry of a bulk creation (catalog imports)."""

    data: EntryIn
    provider_id: int
    external_key: str | None = None
    reason: str = ""
    data_updated_at: datetime | None = None
    resource_code: str | None = None  # kept when given (imports of an exported catalog); else generated


def create_entries(
    session: Session, actor: Actor, new: list[NewEntry], *, imported: bool = False, publish: bool = False
) -> list[CatalogEntry]:
    """New entries, all with the same checks: resource codes reserved once per classification, one flush.
    `imported`: a catalog file import, which the platform admin may also run, for any department.
    `publish`: the node operator loads catalogs already published elsewhere; each entry then has a
    created and a published event."""
    if publish:
        require_direct_publish(actor)
    provider_ids = {n.provider_id for n in new}
    for provider_id in provider_ids:
        _require_writer(actor, provider_id, imported=imported)
    known = set(session.scalars(select(Department.id).where(Department.id.in_(provider_ids))))
    for provider_id in provider_ids - known:
        raise ValidationFailed(f"提供部门不存在：{provider_id}", field="provider_id")
    for n in new:
        validate_entry(n.data)
    _keep_resource_codes(session, new)
    counts = Counter(n.data.classification_code for n in new if not n.resource_code)
    codes = {code: iter(reserve_resource_codes(session, code, count)) for code, count in counts.items()}
    now = utcnow()
    entries = []
    for n in new:
        entry = CatalogEntry(
            provider_id=n.provider_id,
            classification_code=n.data.classification_code,
            resource_code=n.resource_code or next(codes[n.data.classification_code]),
            status=(EntryStatus.PUBLISHED if publish else EntryStatus.DRAFT).value,
            version=1 if publish else 0,
            external_key=n.external_key,
            created_by_id=actor.user_id,
            # an import keeps a missing update date unknown; an entry written by hand starts now
            data_updated_at=n.data_updated_at if imported else (n.data_updated_at or now),
        )
        _apply(entry, n.data)
        entries.append(entry)
    session.add_all(entries)
    session.flush()
    for entry, n in zip(entries, new, strict=True):
        _record(session, entry, actor, "created", n.reason)
        if publish:
            _record(session, entry, actor, "published", n.reason, with_snapshot=True)
            _changed(session, entry)
    session.flush()
    return entries


def update_entry(session: Session, actor: Actor, entry_id: int, data: EntryIn, reason: str = "") -> CatalogEntry:
    """Edits a draft or returned entry. Published entries change only through a revision."""
    entry = _writable(session, actor, entry_id)
    if entry.status not in (EntryStatus.DRAFT, EntryStatus.RETURNED):
        raise Conflict(
            f"目录当前状态为“{EntryStatus(entry.status).label}”，已发布目录只能通过新版本修订", field="status"
        )
    if data.classification_code != entry.classification_code:
        raise ValidationFailed("分类代码在创建后不能修改，请新建目录", field="classification_code")
    validate_entry(data)
    _apply(entry, data)
    session.flush()  # the new data items get their ids before the entry is returned
    _record(session, entry, actor, "updated", reason)
    return entry


def submit_entry(session: Session, actor: Actor, entry_id: int) -> CatalogEntry:
    entry = _writable(session, actor, entry_id)
    if entry.status not in (EntryStatus.DRAFT, EntryStatus.RETURNED):
        raise Conflict(f"只有草稿或退回的目录可以提交审核，当前状态：{EntryStatus(entry.status).label}",
                       field="status")
    if not entry.items:
        raise ValidationFailed("提交审核前至少需要一个信息项", field="items")
    entry.status = EntryStatus.SUBMITTED.value
    _record(session, entry, actor, "submitted")
    return entry


def _reviewable(session: Session, actor: Actor, entry_id: int) -> CatalogEntry:
    entry = found(
        session.get(CatalogEntry, entry_id, with_for_update={"of": CatalogEntry}),
        f"目录不存在：{entry_id}", "entry_id",
    )
    require_authority_over(actor, entry.provider.region_code, action="审核目录")
    return entry


def publish_entry(session: Session, actor: Actor, entry_id: int, reason: str = "") -> CatalogEntry:
    """The competent authority approves: the entry becomes version 1 of the published catalog (R02)."""
    entry = _reviewable(session, actor, entry_id)
    if entry.status != EntryStatus.SUBMITTED:
        raise Conflict(f"只有待审核的目录可以发布，当前状态：{EntryStatus(entry.status).label}", field="status")
    entry.status = EntryStatus.PUBLISHED.value
    entry.version = 1
    entry.return_reason = ""
    entry.publish_date = entry.publish_date or utcnow().date()
    session.flush()
    _record(session, entry, actor, "published", reason, with_snapshot=True)
    _changed(session, entry)
    return entry


def return_entry(session: Session, actor: Actor, entry_id: int, reason: str) -> CatalogEntry:
    entry = _reviewable(session, actor, entry_id)
    reason = required_reason(reason, "退回必须说明理由")
    if entry.status != EntryStatus.SUBMITTED:
        raise Conflict(f"只有待审核的目录可以退回，当前状态：{EntryStatus(entry.status).label}", field="status")
    entry.status = EntryStatus.RETURNED.value
    entry.return_reason = reason
    _record(session, entry, actor, "returned", reason)
    return entry


def require_direct_publish(actor: Actor) -> None:
    """Only the node operator (a CLI command on the node) loads catalogs as already published."""
    require_role(actor, Role.PLATFORM_ADMIN, action="直接发布目录")
    if not actor.is_system:
        raise ValidationFailed("只有节点运维命令可以直接发布已审核的目录", field="publish")


def mark_data_updated(session: Session, actor: Actor, entry_id: int, note: str = "") -> CatalogEntry:
    """The provider confirms the data behind the entry was refreshed; this clears the stale flag."""
    entry = _writable(session, actor, entry_id)
    entry.data_updated_at = utcnow()
    _record(session, entry, actor, "data_updated", note)
    _changed(session, entry)
    return entry


# ---------------------------------------------------------------- revisions of published entries


def propose_revision(
    session: Session, actor: Actor, entry_id: int, data: EntryIn, reason: str, *, due_to_law_change: bool = False,
    law_change_basis: str = "", law_effective_date: date | None = None,
) -> EntryRevision:
    """A change to a published entry, proposed for the authority's approval (R05). One caused by a change of
    law or of duties states what changed and when it took effect, and is due `law_change_working_days`
    working days after that date (catalog.law_change)."""
    entry = _writable(session, actor, entry_id)
    _check_revision(entry, data, reason)
    change = law_change.checked(session, due_to_law_change, law_change_basis, law_effective_date)
    _refuse_second_open_revision(session, entry_id)
    revision = EntryRevision(
        entry_id=entry_id,
        base_version=entry.version,
        payload=data.model_dump(mode="json"),
        reason=reason,
        status=RevisionStatus.SUBMITTED.value,
        created_by_id=actor.user_id,
    )
    law_change.apply(session, revision, change, law_change.owed(session, entry_id))
    session.add(revision)
    session.flush()
    _record(session, entry, actor, "revision_submitted", reason)
    return revision


def _check_revision(entry: CatalogEntry, data: EntryIn, reason: str) -> None:
    if entry.status != EntryStatus.PUBLISHED:
        raise Conflict("只有已发布的目录需要通过修订变更；草稿可直接修改", field="status")
    required_reason(reason, "修订必须说明原因")
    if data.classification_code != entry.classification_code:
        raise ValidationFailed("修订不能改变分类代码", field="classification_code")
    validate_entry(data)


def _refuse_second_open_revision(session: Session, entry_id: int) -> None:
    open_revision = session.scalars(
        select(EntryRevision).where(
            EntryRevision.entry_id == entry_id,
            EntryRevision.status.in_([RevisionStatus.DRAFT, RevisionStatus.SUBMITTED]),
        )
    ).first()
    if open_revision:
        raise Conflict(f"该目录已有未完成的修订：{open_revision.id}", field="revision")


def _revision(session: Session, revision_id: int) -> EntryRevision:
    revision = session.get(EntryRevision, revision_id, with_for_update=True)
    return found(revision, f"修订不存在：{revision_id}", "revision_id")


def list_revisions(session: Session, actor: Actor, entry_id: int) -> list[EntryRevision]:
    get_entry(session, actor, entry_id)
    return list(session.scalars(
        select(EntryRevision).where(EntryRevision.entry_id == entry_id).order_by(EntryRevision.id)
    ))


def submitted_revisions(session: Session, actor: Actor) -> list[tuple[EntryRevision, CatalogEntry]]:
    """Revisions awaiting review of the published entries the actor may read, oldest first, in one query
    (the review queue and the workbenches narrow them to an area)."""
    published = readable_entries(actor).where(CatalogEntry.status == EntryStatus.PUBLISHED)
    query = (select(EntryRevision, CatalogEntry).join(CatalogEntry, CatalogEntry.id == EntryRevision.entry_id)
             .where(EntryRevision.status == RevisionStatus.SUBMITTED,
                    CatalogEntry.id.in_(published.with_only_columns(CatalogEntry.id)))
             .options(selectinload(CatalogEntry.items)).order_by(EntryRevision.id))
    return [(revision, entry) for revision, entry in session.execute(query)]


def approve_revision(session: Session, actor: Actor, revision_id: int, reason: str = "") -> CatalogEntry:
    """The authority approves a revision: it becomes the next published version, the old one kept."""
    revision = _revision(session, revision_id)
    entry = _reviewable(session, actor, revision.entry_id)
    if revision.status != RevisionStatus.SUBMITTED:
        raise Conflict(f"修订状态为“{RevisionStatus(revision.status).label}”，不能发布", field="status")
    if revision.base_version != entry.version:
        raise Conflict("目录已有更新的版本，请基于最新版本重新修订", field="base_version")
    first_published = entry.publish_date
    _apply(entry, EntryIn.model_validate(revision.payload))
    entry.publish_date = entry.publish_date or first_published  # a revision need not repeat the date
    entry.version += 1
    revision.status = RevisionStatus.APPROVED.value
    revision.decided_by_id, revision.decided_at = actor.user_id, utcnow()
    law_change.settle(session, revision)
    session.flush()
    _record(session, entry, actor, "published", reason or revision.reason, with_snapshot=True)
    _changed(session, entry)
    return entry


def return_revision(session: Session, actor: Actor, revision_id: int, reason: str) -> EntryRevision:
    revision = _revision(session, revision_id)
    entry = _reviewable(session, actor, revision.entry_id)
    reason = required_reason(reason, "退回必须说明理由")
    if revision.status != RevisionStatus.SUBMITTED:
        raise Conflict(f"修订状态为“{RevisionStatus(revision.status).label}”，不能退回", field="status")
    revision.status = RevisionStatus.RETURNED.value
    revision.return_reason = reason
    revision.decided_by_id, revision.decided_at = actor.user_id, utcnow()
    _record(session, entry, actor, "revision_returned", reason)
    return revision


def revision_out(session: Session, revision: EntryRevision, today: date | None = None) -> dict:
    """The API view of a revision (RevisionOut), with the deadline of a law change as of `today` (R05)."""
    today = today or workdays.local_today(session)
    return {
        "id": revision.id, "entry_id": revision.entry_id, "base_version": revision.base_version,
        "reason": revision.reason, "due_to_law_change": revision.due_to_law_change, "status": revision.status,
        "return_reason": revision.return_reason, "created_at": revision.created_at,
        **law_change.deadline_view(session, revision, today),
    }


def items_referred(entry: CatalogEntry, references: list[str], field: str = "items") -> list[DataItem]:
    """The entry's items a person names: the number shown on the entry (1, 2 …), the field name or the Chinese
    name; never an internal id. A wrong one is refused with the valid choices."""
    items = sorted(entry.items, key=lambda item: item.position)
    by_reference: dict[str, DataItem] = {}
    for number, item in enumerate(items, start=1):
        by_reference.setdefault(str(number), item)
        by_reference.setdefault(item.name, item)
        by_reference.setdefault(item.chinese_name, item)
    unknown = [reference for reference in references if reference not in by_reference]
    if unknown:
        choices = "、".join(f"{n} {i.chinese_name}（{i.name}）" for n, i in enumerate(items, start=1)) or \
            "该目录尚无信息项"
        raise ValidationFailed(f"信息项不属于该目录：{'、'.join(unknown)}；可选（序号、字段名或名称）：{choices}",
                               field=field)
    return [by_reference[reference] for reference in references]


def entry_in_of(entry: CatalogEntry) -> EntryIn:
    """The entry's content as it would be written: the start of an edit that changes a part of it."""
    fields = {key: value for key, value in snapshot(entry).items() if key in EntryIn.model_fields}
    return EntryIn.model_validate(fields)


@dataclass
class ItemsChange:
    """What adding or editing items did: the draft was edited, or a revision of the published entry awaits
    review."""

    entry: CatalogEntry
    revision: EntryRevision | None = None


def put_items(session: Session, actor: Actor, entry_id: int, items: list[ItemIn], reason: str = "") -> ItemsChange:
    """Adds items to an entry, or edits those with the same field name; the other items stay as they are, in
    order. A draft or returned entry is edited; a published one gets a revision awaiting the authority's
    review (R05), as every change of a published entry; an entry under review cannot change."""
    entry = _writable(session, actor, entry_id)
    data = entry_in_of(entry)
    merged = {item.name: item for item in data.items}
    for item in items:
        merged[item.name] = item
    data = data.model_copy(update={"items": list(merged.values())})
    if entry.status == EntryStatus.PUBLISHED:
        revision = propose_revision(session, actor, entry_id, data, reason.strip() or "补充或修改信息项")
        return ItemsChange(entry, revision)
    if entry.status == EntryStatus.SUBMITTED:
        raise Conflict("目录正在审核中，信息项须在审核结束（发布或退回）后修改", field="status")
    return ItemsChange(update_entry(session, actor, entry_id, data, reason))


def same_content(entry: CatalogEntry, data: EntryIn) -> bool:
    """Whether storing `data` would leave the entry as it is (what an import of the node's own export asks)."""
    probe = CatalogEntry(resource_code=entry.resource_code, provider_id=entry.provider_id,
                         classification_code=data.classification_code)
    _apply(probe, data)
    return snapshot(probe) == snapshot(entry)


def snapshot(entry: CatalogEntry) -> dict:
    """The full content of an entry as it is now, for the version history."""
    return {
        "resource_code": entry.resource_code,
        "classification_code": entry.classification_code,
        "name": entry.name,
        "provider_id": entry.provider_id,
        "abstract": entry.abstract,
        "data_format": entry.data_format,
        "share_type": entry.share_type,
        "share_condition": entry.share_condition,
        "share_method": entry.share_method,
        "legal_basis": entry.legal_basis,
        "open_attribute": entry.open_attribute,
        "open_condition": entry.open_condition,
        "update_cycle": entry.update_cycle,
        "publish_date": entry.publish_date.isoformat() if entry.publish_date else None,
        "related_codes": list(entry.related_codes or []),
        "source_system": entry.source_system,
        "grade": entry.grade,
        "theme": entry.theme,
        "tags": entry.tags,
        "source_url": entry.source_url,
        "items": [
            {
                "name": i.name, "chinese_name": i.chinese_name, "data_type": i.data_type, "length": i.length,
                "description": i.description, "grade": i.grade, "personal_info": i.personal_info,
            }
            for i in entry.items
        ],
    }


def to_out(entry: CatalogEntry) -> dict:
    """The API view of an entry (EntryOut)."""
    data = snapshot(entry)
    data.update(
        id=entry.id, provider_name=entry.provider.name, status=entry.status, version=entry.version,
        stale=is_stale(entry), data_updated_at=entry.data_updated_at, return_reason=entry.return_reason,
        publish_date=entry.publish_date,
        items=[{"id": i.id, **item} for i, item in zip(entry.items, data["items"], strict=True)],
    )
    return data
