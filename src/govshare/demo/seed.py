"""Seeds the demo province (`govshare demo`): departments at three levels with valid unified social
credit codes, users of every role, about fifty catalog entries taken through the real life cycle,
one-source clusters with named lead source departments, and the search index.

Every entry goes through the catalog service as a department would: the catalog manager creates and
submits it, the competent authority of the area publishes or returns it. Only one thing is set
directly, because the demo cannot wait for time to pass: `data_updated_at` of the entries meant to be
stale. Seeding is idempotent: when the demo's competent authority exists, nothing is added.

A demo whose search index cannot be built is broken (目录检索 would show nothing): the seed raises
`SearchIndexFailed`, a domain error that `govshare demo` prints, after the data itself is committed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import uscc

from govshare.authz import Actor, region_prefix
from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, SourceCluster
from govshare.catalog.schemas import EntryIn
from govshare.config import Settings
from govshare.db import Database, utcnow
from govshare.demo import gateway_seed, objection_seed, sharing_seed
from govshare.demo.data import DEPARTMENTS, ENTRIES, LEADS, PROVINCE, DemoDepartment, DemoEntry
from govshare.errors import DomainError
from govshare.orgs import service as orgs
from govshare.orgs.models import ROLE_LABELS, Department, Role, User

log = logging.getLogger(__name__)

DEMO_PASSWORD = "govshare-demo"
SYSTEM = Actor.system()
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def organization_code(body: str) -> str:
    """组织机构代码 (GB 11714): eight characters and their check character."""
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def organ_uscc(region_code: str, serial: int) -> str:
    """统一社会信用代码 of a government organ: registration authority 1 (机构编制) + type 1 (机关),
    the six-digit region code, the organization code, and the check character (python-stdnum)."""
    body = "11" + region_code + organization_code(f"00{region_code[:2]}{serial:04d}")
    return body + uscc.calc_check_digit(body)


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    department: str  # key in DEPARTMENTS

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


def demo_users() -> list[DemoUser]:
    """A platform admin and an auditor at the provincial authority; an authority reviewer per competent
    authority; a catalog manager, a department reviewer and a requester in every department."""
    users = [DemoUser("admin", Role.PLATFORM_ADMIN, "data"), DemoUser("auditor", Role.AUDITOR, "data")]
    for department in DEPARTMENTS:
        if department.competent_authority:
            users.append(DemoUser(f"{department.key}_authority", Role.AUTHORITY_REVIEWER, department.key))
        users += [
            DemoUser(f"{department.key}_manager", Role.CATALOG_MANAGER, department.key),
            DemoUser(f"{department.key}_reviewer", Role.DEPT_REVIEWER, department.key),
            DemoUser(f"{department.key}_requester", Role.REQUESTER, department.key),
        ]
    return users


def total_steps() -> int:
    """The number of progress steps `seed_demo` reports."""
    return (len(DEPARTMENTS) + len(demo_users()) + len(ENTRIES) + 2 + sharing_seed.total_steps()
            + gateway_seed.total_steps() + objection_seed.total_steps())


@dataclass
class SeedReport:
    created: bool
    departments: int = 0
    entries: int = 0
    entries_by_status: dict[str, int] = field(default_factory=dict)
    clusters: int = 0
    leads: int = 0
    search_indexed: int | None = None  # published entries in the rebuilt index (None: not rebuilt, demo existed)
    search_note: str = ""  # why the index could not be built (set on the report of SearchIndexFailed)
    users: list[tuple[str, str, str]] = field(default_factory=list)  # username, 角色, 部门
    password: str = DEMO_PASSWORD
    sharing: dict = field(default_factory=dict)  # sharing_seed.describe: requests by status, grants, ...

    @property
    def sharing_summary(self) -> str:
        return sharing_seed.summary(self.sharing)


class SearchIndexFailed(DomainError):
    """The demo's data is stored, but its search index could not be built: the demo must not be served as if
    it worked. `report` says what was stored; its `search_note` names the failure."""

    status_code = 500
    code = "search_index_failed"

    def __init__(self, report: SeedReport) -> None:
        super().__init__(report.search_note)
        self.report = report


def _authority_department() -> DemoDepartment:
    return next(d for d in DEPARTMENTS if d.competent_authority and d.region_code == PROVINCE[0])


def is_seeded(session: Session) -> bool:
    authority = _authority_department()
    return session.scalars(
        select(Department).where(Department.name == authority.name, Department.region_code == authority.region_code)
    ).first() is not None


def seed_demo(
    database: Database,
    settings: Settings | None = None,
    *,
    password: str = DEMO_PASSWORD,
    progress: Callable[[str], None] | None = None,
) -> SeedReport:
    """Seeds the demo into `database` (already migrated) unless it is there, then rebuilds the search
    index in `settings.resolved_index_dir`. Returns what exists afterwards; raises SearchIndexFailed when the
    data was stored but the index could not be built."""
    step = progress or (lambda _description: None)
    with database.session() as session:
        if is_seeded(session):
            report = SeedReport(created=False, password=password)
        else:
            report = SeedReport(created=True, password=password)
            _seed(session, password, step)
            # The index is rebuilt below in one go; the per-commit sync would only repeat the work.
            session.info.pop("catalog_changed", None)
    with database.session() as session:
        _describe(session, report)
    if report.created and settings is not None:
        _rebuild_search_index(database, settings, report)
    return report


def _seed(session: Session, password: str, step: Callable[[str], None]) -> None:
    departments: dict[str, Department] = {}
    for serial, spec in enumerate(DEPARTMENTS, start=1):
        step(f"部门：{spec.name}")
        departments[spec.key] = orgs.create_department(
            session, SYSTEM, name=spec.name, level=spec.level, region_code=spec.region_code,
            uscc_code=organ_uscc(spec.region_code, serial),
            parent_id=departments[spec.parent].id if spec.parent else None,
            is_competent_authority=spec.competent_authority,
        )
    actors: dict[str, Actor] = {}
    short_names = {d.key: d.short for d in DEPARTMENTS}
    for user in demo_users():
        step(f"用户：{user.username}")
        created = orgs.create_user(
            session, SYSTEM, username=user.username, password=password, role=user.role.value,
            department_id=departments[user.department].id,
            display_name=f"{short_names[user.department]}{user.role_label}",
        )
        actors[user.username] = Actor.from_user(created)
    specs = {d.key: d for d in DEPARTMENTS}
    for entry in ENTRIES:
        step(f"目录：{specs[entry.department].short}·{entry.name}")
        _catalog(session, entry, departments[entry.department], actors)
    step("一数一源检测")
    authority = actors[f"{_authority_department().key}_authority"]
    onesource.detect_clusters(session, authority)
    step("认定牵头数源部门")
    for label, data_type, department_key, reason in LEADS:
        cluster = session.scalars(
            select(SourceCluster).where(SourceCluster.key == f"{PROVINCE[0][:2]}|{label}|{data_type}")
        ).first()
        if cluster is not None:
            onesource.name_lead_source(session, authority, cluster.id, departments[department_key].id, reason)
    sharing_seed.seed_sharing(session, departments, actors, step)
    gateway_seed.seed_sources(session, departments, actors, step)
    objection_seed.seed_objections(session, departments, actors, step)


def _reviewer_for(department: Department, actors: dict[str, Actor]) -> Actor:
    """The competent authority closest to the department (the city's for city and district departments)."""
    candidates = [
        a for a in actors.values()
        if a.role == Role.AUTHORITY_REVIEWER and a.covers_region(department.region_code)
    ]
    return max(candidates, key=lambda a: len(region_prefix(a.region_code)))


def _catalog(session: Session, spec: DemoEntry, department: Department, actors: dict[str, Actor]) -> CatalogEntry:
    manager = actors[f"{spec.department}_manager"]
    reviewer = _reviewer_for(department, actors)
    entry = catalog.create_entry(session, manager, EntryIn.model_validate(spec.payload()))
    if spec.state == "draft":
        return entry
    catalog.submit_entry(session, manager, entry.id)
    if spec.state == "submitted":
        return entry
    if spec.state == "returned":
        catalog.return_entry(session, reviewer, entry.id, spec.return_reason)
        return entry
    catalog.publish_entry(session, reviewer, entry.id, "审核通过")
    if spec.revision:
        reason, extra_items = spec.revision
        payload = spec.payload()
        payload["items"] = [*payload["items"], *extra_items]
        payload["publish_date"] = entry.publish_date  # a revision carries the whole entry, publish date included
        revision = catalog.propose_revision(
            session, manager, entry.id, EntryIn.model_validate(payload), reason, due_to_law_change=True,
            law_change_basis=reason, law_effective_date=utcnow().date() - timedelta(days=7),  # took effect last week
        )
        catalog.approve_revision(session, reviewer, revision.id, reason)
    if spec.stale_days:
        entry.data_updated_at = utcnow() - timedelta(days=spec.stale_days)
    session.flush()
    return entry


def _describe(session: Session, report: SeedReport) -> None:
    report.departments = len(session.scalars(select(Department.id)).all())
    statuses = session.scalars(select(CatalogEntry.status)).all()
    report.entries = len(statuses)
    report.entries_by_status = {s: statuses.count(s) for s in sorted(set(statuses))}
    clusters = session.scalars(select(SourceCluster)).all()
    report.clusters = len(clusters)
    report.leads = sum(1 for c in clusters if c.lead_department_id is not None)
    wanted = {u.username for u in demo_users()}
    users = session.scalars(select(User).where(User.username.in_(wanted)).order_by(User.id)).all()
    report.users = [(u.username, ROLE_LABELS[Role(u.role)], u.department.name) for u in users]
    report.sharing = sharing_seed.describe(session)


def _rebuild_search_index(database: Database, settings: Settings, report: SeedReport) -> None:
    from govshare.search import index as search_index

    try:
        with database.session() as session:
            report.search_indexed = search_index.rebuild(session, settings.resolved_index_dir, workers=1)
    except Exception as exc:  # the demo data is committed; say so, and what to run once the cause is fixed
        log.exception("search index rebuild failed")
        report.search_note = (f"演示数据已写入，但搜索索引重建失败：{type(exc).__name__}: {exc}"
                              f"（索引目录 {settings.resolved_index_dir}；排除原因后运行 govshare index rebuild）")
        raise SearchIndexFailed(report) from exc
