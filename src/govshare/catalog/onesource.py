"""一数一源 (R06): find data items that several departments catalog, possibly under different names,
and let the competent authority name the lead source department (牵头数源部门).

Decisions, so that the behaviour is predictable:

* **Normalized name.** An item's Chinese name is NFKC-normalized (full-width → half-width), bracketed
  remarks are removed (``公民身份号码（18位）`` → ``公民身份号码``; 《》 are kept because they name documents),
  then every space, punctuation mark and symbol is dropped and Latin letters are lower-cased.
* **Suffixes.** ``信息`` is dropped from the end when at least two characters remain (``户籍地址信息`` means
  ``户籍地址``). ``代码``/``编码``/``编号`` change meaning (``统一社会信用代码``), so they are dropped only
  when what remains is a term of the synonym list (data/synonyms.txt).
* **Canonical name.** The normalized name is mapped through ``govshare.synonyms.canonical``; the key
  of a cluster is ``province|canonical name|item type``: the same name with another ItemType is a
  different item.
* **Generic items never cluster.** Bookkeeping columns (备注, 序号, 更新时间 …), attributes whose meaning
  depends on the entry (地址, 发证日期 …) and descriptive attributes of a person or organization (姓名, 性别,
  出生日期, 成立日期, 联系电话 …) are not one fact collected by several departments; two departments that share
  only such items would be noise. They are listed in data/generic_items.txt (data, not code), compared by
  canonical name, so a line covers its synonym group. Identifying items (身份证号, 统一社会信用代码, 户籍地址
  …) are not listed and cluster as before.
* **Scope.** Clusters are formed per province (first two digits of the provider's region code): one
  source is decided by the province's competent authority for the departments of its area (1+32+N).
* **Which entries.** Only *published* entries count: they are the catalog of record that requesters
  are pointed to; drafts and entries under review may still change and are not visible to others.
* **A cluster** is a key used by items of at least two distinct provider departments.
* **Who names the lead.** An authority reviewer of a competent authority whose area covers *every*
  member department (the decision binds all of them); the lead must be one of the member departments.
  The node operator (CLI, system actor) may do it as well.
* **Re-detection** keeps a cluster's row, and therefore its lead, by key; a lead whose department is
  no longer a member is cleared and reported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from govshare import synonyms
from govshare.authz import Actor, require_authority_over, require_role
from govshare.catalog.models import CatalogEntry, DataItem, SourceCluster, SourceClusterMember
from govshare.catalog.vocab import EntryStatus, ItemType
from govshare.db import utcnow
from govshare.errors import Forbidden, NotFound, ValidationFailed, found, required_reason
from govshare.orgs.models import Department, Role

# Bracketed remarks: (…) [...] {…} 【…】 〔…〕 〈…〉 after NFKC (which turns （） into ()).
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}|【[^【】]*】|〔[^〔〕]*〕|〈[^〈〉]*〉")
_ALWAYS_DROPPED_SUFFIXES = ("信息",)
_KNOWN_TERM_SUFFIXES = ("代码", "编码", "编号")
GENERIC_ITEMS_FILE = Path(__file__).resolve().parent.parent / "data" / "generic_items.txt"


def normalize_name(name: str) -> str:
    """The comparable form of an item name (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name or "")
    without_brackets = text
    while True:
        stripped = _BRACKETED.sub("", without_brackets)
        if stripped == without_brackets:
            break
        without_brackets = stripped
    if any(_is_word(c) for c in without_brackets):
        text = without_brackets
    return "".join(c for c in text if _is_word(c)).lower()


def _is_word(char: str) -> bool:
    return unicodedata.category(char)[0] in ("L", "N")


def _known(term: str) -> bool:
    return len(synonyms.expansions(term)) > 1


def canonical_item_name(name: str) -> str:
    """The canonical name an item is compared by: normalized, safe suffixes dropped, synonyms mapped."""
    text = normalize_name(name)
    candidates = [text]
    for suffix in _ALWAYS_DROPPED_SUFFIXES:
        if text.endswith(suffix) and len(text) - len(suffix) >= 2:
            text = text[: -len(suffix)]
            candidates.append(text)
    for suffix in _KNOWN_TERM_SUFFIXES:
        if text.endswith(suffix) and len(text) - len(suffix) >= 2:
            candidates.append(text[: -len(suffix)])
    for candidate in candidates:
        if _known(candidate):
            return synonyms.canonical(candidate)
    return text


@lru_cache
def generic_items(path: Path = GENERIC_ITEMS_FILE) -> frozenset[str]:
    """The canonical names of the items that never form clusters (data/generic_items.txt)."""
    names = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(canonical_item_name(name) for name in names if name and not name.startswith("#"))


def province_of(region_code: str) -> str:
    return (region_code or "")[:2] or "00"


def cluster_key(name: str, data_type: str, region_code: str) -> str | None:
    """`province|canonical name|item type`, or None for items that never form clusters."""
    canonical = canonical_item_name(name)
    if not canonical or canonical in generic_items():
        return None
    return f"{province_of(region_code)}|{canonical}|{data_type}"


# ---------------------------------------------------------------- detection


@dataclass
class DetectionResult:
    clusters: int = 0
    created: int = 0
    removed: int = 0
    leads_kept: int = 0
    leads_cleared: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "clusters": self.clusters, "created": self.created, "removed": self.removed,
            "leads_kept": self.leads_kept, "leads_cleared": self.leads_cleared,
        }


def _require_detector(actor: Actor) -> None:
    require_role(actor, Role.AUTHORITY_REVIEWER, Role.PLATFORM_ADMIN, action="检测一数一源")
    if actor.has(Role.AUTHORITY_REVIEWER) and not actor.is_system and not actor.is_competent_authority:
        raise Forbidden("只有政务数据共享主管部门的审核员可以检测一数一源", field="role")


def _lead_entry_ids(session: Session) -> set[int]:
    """Entries whose items belong to a cluster with a lead: their search ranking depends on it."""
    rows = session.execute(
        select(DataItem.entry_id)
        .join(SourceClusterMember, SourceClusterMember.data_item_id == DataItem.id)
        .join(SourceCluster, SourceCluster.id == SourceClusterMember.cluster_id)
        .where(SourceCluster.lead_department_id.is_not(None))
    )
    return {row[0] for row in rows}


def detect_clusters(session: Session, actor: Actor) -> DetectionResult:
    """Rebuilds the clusters from the published catalog, keeping lead assignments by key."""
    _require_detector(actor)
    before = _lead_entry_ids(session)
    rows = session.execute(
        select(DataItem.id, DataItem.chinese_name, DataItem.data_type, CatalogEntry.provider_id,
               Department.region_code)
        .join(CatalogEntry, CatalogEntry.id == DataItem.entry_id)
        .join(Department, Department.id == CatalogEntry.provider_id)
        .where(CatalogEntry.status == EntryStatus.PUBLISHED.value)
        .order_by(DataItem.id)
    )
    found: dict[str, dict[int, int]] = {}  # key -> {data_item_id: department_id}
    for item_id, name, data_type, department_id, region_code in rows:
        key = cluster_key(name, data_type, region_code)
        if key is not None:
            found.setdefault(key, {})[item_id] = department_id
    found = {k: items for k, items in found.items() if len(set(items.values())) >= 2}

    result = DetectionResult()
    existing = {c.key: c for c in session.scalars(select(SourceCluster).options(selectinload(SourceCluster.members)))}
    now = utcnow()
    for key, cluster in existing.items():
        if key not in found:
            session.delete(cluster)
            result.removed += 1
            if cluster.lead_department_id is not None:
                result.leads_cleared.append(cluster.label)
    session.flush()
    for key, items in sorted(found.items()):
        _scope, label, data_type = key.split("|", 2)
        cluster = existing.get(key)
        if cluster is None:
            cluster = SourceCluster(key=key, label=label, data_type=data_type)
            session.add(cluster)
            result.created += 1
        cluster.label, cluster.data_type, cluster.detected_at = label, data_type, now
        current = {m.data_item_id: m for m in cluster.members}
        for item_id, member in current.items():
            if item_id not in items:
                cluster.members.remove(member)
        for item_id, department_id in items.items():
            if item_id in current:
                current[item_id].department_id = department_id
            else:
                cluster.members.append(SourceClusterMember(data_item_id=item_id, department_id=department_id))
        if cluster.lead_department_id is not None:
            if cluster.lead_department_id in set(items.values()):
                result.leads_kept += 1
            else:
                result.leads_cleared.append(label)
                cluster.lead_department_id = cluster.named_by_id = cluster.named_at = None
                cluster.lead_reason = ""
    session.flush()
    result.clusters = len(found)
    _mark_changed(session, before | _lead_entry_ids(session))
    return result


def _mark_changed(session: Session, entry_ids: set[int]) -> None:
    if entry_ids:
        session.info.setdefault("catalog_changed", set()).update(entry_ids)


# ---------------------------------------------------------------- reading


def list_clusters(session: Session, actor: Actor, *, department_id: int | None = None) -> list[SourceCluster]:
    """Every cluster with its members. Members are items of published entries, which every user may
    read, so the list is not narrowed by role; `department_id` keeps clusters that involve it."""
    query = select(SourceCluster).options(
        selectinload(SourceCluster.members).selectinload(SourceClusterMember.data_item)
        .selectinload(DataItem.entry)
    )
    if department_id is not None:
        query = query.where(SourceCluster.members.any(SourceClusterMember.department_id == department_id))
    clusters = list(session.scalars(query))
    clusters.sort(key=lambda c: (-len({m.department_id for m in c.members}), c.label, c.key))
    return clusters


def get_cluster(session: Session, cluster_id: int) -> SourceCluster:
    return found(session.get(SourceCluster, cluster_id), f"一数一源数据项不存在：{cluster_id}", "cluster_id")


def cluster_view(cluster: SourceCluster) -> dict:
    """The API and CLI view of a cluster (ClusterOut)."""
    type_member = ItemType.parse(cluster.data_type)
    members = sorted(cluster.members, key=lambda m: (m.department_id, m.data_item.entry.resource_code, m.id))
    departments = sorted({m.department_id for m in members})
    return {
        "id": cluster.id,
        "key": cluster.key,
        "label": cluster.label,
        "data_type": cluster.data_type,
        "data_type_label": type_member.label if type_member else cluster.data_type,
        "department_count": len(departments),
        "lead_department_id": cluster.lead_department_id,
        "lead_department_name": cluster.lead_department.name if cluster.lead_department else None,
        "lead_reason": cluster.lead_reason,
        "named_by_id": cluster.named_by_id,
        "named_at": cluster.named_at,
        "detected_at": cluster.detected_at,
        "members": [
            {
                "department_id": m.department_id,
                "department_name": m.data_item.entry.provider.name,
                "entry_id": m.data_item.entry_id,
                "resource_code": m.data_item.entry.resource_code,
                "entry_name": m.data_item.entry.name,
                "item_id": m.data_item_id,
                "item_name": m.data_item.chinese_name,
                "field_name": m.data_item.name,
                "is_lead": m.department_id == cluster.lead_department_id,
            }
            for m in members
        ],
    }


# ---------------------------------------------------------------- naming the lead source department


def name_lead_source(
    session: Session, actor: Actor, cluster_id: int, department_id: int, reason: str
) -> SourceCluster:
    """The competent authority names the lead source department of a cluster (R06)."""
    # Lock the cluster row only: PostgreSQL refuses FOR UPDATE on the outer-joined lead department.
    cluster = session.scalars(
        select(SourceCluster).where(SourceCluster.id == cluster_id).with_for_update(of=SourceCluster)
    ).first()
    if cluster is None:
        raise NotFound(f"一数一源数据项不存在：{cluster_id}", field="cluster_id")
    require_role(actor, Role.AUTHORITY_REVIEWER, action="认定牵头数源部门")
    member_departments = {m.department_id for m in cluster.members}
    regions = set(session.scalars(select(Department.region_code).where(Department.id.in_(member_departments))))
    for region_code in sorted(regions):
        require_authority_over(actor, region_code, action="认定牵头数源部门")
    if department_id not in member_departments:
        raise ValidationFailed(
            f"牵头数源部门必须是采集该数据项的部门之一（{cluster.label}）：{department_id}", field="department_id"
        )
    reason = required_reason(reason, "认定牵头数源部门必须说明理由")
    cluster.lead_department_id = department_id
    cluster.lead_reason = reason
    cluster.named_by_id = actor.user_id
    cluster.named_at = utcnow()
    session.flush()
    session.expire(cluster, ["lead_department"])
    entry_ids = {row[0] for row in session.execute(
        select(DataItem.entry_id).where(DataItem.id.in_([m.data_item_id for m in cluster.members]))
    )}
    _mark_changed(session, entry_ids)
    return cluster


def lead_terms_by_entry(session: Session, entry_ids: list[int]) -> dict[int, list[str]]:
    """For each entry: the canonical item names of the clusters whose lead source department is the
    entry's provider and which contain one of the entry's items. Search ranks these entries first.
    Every requested id is a key; entries without such clusters map to an empty list."""
    result: dict[int, list[str]] = {entry_id: [] for entry_id in entry_ids}
    if not entry_ids:
        return result
    rows = session.execute(
        select(CatalogEntry.id, SourceCluster.label)
        .join(DataItem, DataItem.entry_id == CatalogEntry.id)
        .join(SourceClusterMember, SourceClusterMember.data_item_id == DataItem.id)
        .join(SourceCluster, SourceCluster.id == SourceClusterMember.cluster_id)
        .where(
            CatalogEntry.id.in_(list(entry_ids)),
            SourceCluster.lead_department_id == CatalogEntry.provider_id,
        )
        .distinct()
    )
    for entry_id, label in rows:
        if label not in result[entry_id]:
            result[entry_id].append(label)
    for terms in result.values():
        terms.sort()
    return result
