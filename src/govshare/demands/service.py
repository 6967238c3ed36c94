"""Demand list rules (需求清单, R20): a requester posts a need in plain Chinese; the platform suggests published
entries that may meet it (catalog search, ranked) or routes it to the likely provider, who answers with a date
(and then catalogs within `demand_working_days`) or a reason; the provider links the new published entry.

Matching runs the catalog search once per meaningful word of the demand (a sentence as one query would
require every word in one entry and find nothing) and adds up the scores. Routing by the platform follows the
top suggestion to its provider; only when nothing is suggested does it go to the department whose related entries
score highest in total. When the node has no search index attached, or it is empty, a plain SQL LIKE over
published names, abstracts and item names stands in."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Select, false, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from govshare import synonyms
from govshare.authz import Actor, region_prefix, require_role
from govshare.catalog.models import CatalogEntry, DataItem
from govshare.catalog.service import readable_entries
from govshare.catalog.vocab import EntryStatus
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.demands.models import Demand
from govshare.demands.vocab import DemandStatus
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed, found, required_reason
from govshare.notify.service import Audience, emit
from govshare.orgs.models import Department, Role
from govshare.search import index as search_index
from govshare.search import service as search
from govshare.search.tokenize import Concept, normalize, query_concepts
from govshare.workdays import service as workdays

REQUESTER_ROLES = (Role.REQUESTER, Role.CATALOG_MANAGER)
ANSWER_ROLES = (Role.CATALOG_MANAGER, Role.DEPT_REVIEWER)
LINK_ROLES = (Role.CATALOG_MANAGER,)
READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)

# Words that say what the requester wants to do, not which data: they would match much of the catalog.
FILLER_WORDS = frozenset((
    "需要", "需求", "希望", "要求", "是否", "能否", "可否", "请求", "提供", "获取", "查询", "查验", "核验", "核查",
    "核实", "核对", "验证", "比对", "办理", "相关", "有关", "数据", "信息", "情况", "资料", "申请", "申请人", "用于",
    "以便", "进行",
))
SUGGESTION_LIMIT = 5
# An entry is suggested when its name is about one of the demand's words and it covers at least this share
# of them; weaker hits still count towards the likely provider.
SUGGESTION_COVERAGE = 0.5
HITS_PER_WORD = 50
# The SQL fallback scores like the index weighs fields: a word in the name counts more than in the text.
SQL_NAME_SCORE = 3.0
SQL_TEXT_SCORE = 1.0
LINK = "/demands/{id}"


# ---------------------------------------------------------------- matching


def demand_words(text: str) -> list[Concept]:
    """The words of a demand that name data (fillers dropped; single characters only when nothing else is left)."""
    concepts = [c for c in query_concepts(text) if c.text not in FILLER_WORDS]
    longer = [c for c in concepts if not c.single_char]
    return longer or concepts


def _terms(word: Concept) -> tuple[str, ...]:
    """The word and its synonyms: a name that says 最低生活保障 is about 低保."""
    return tuple(dict.fromkeys(normalize(t) for t in (word.text, *synonyms.expansions(word.canonical or word.text))))


@dataclass
class Match:
    entry_id: int
    provider_id: int
    score: float = 0.0
    words: set[str] = field(default_factory=set)
    name_hit: bool = False

    def add(self, word: Concept, score: float, name: str) -> None:
        self.score += score
        self.words.add(word.text)
        self.name_hit = self.name_hit or any(t in normalize(name) for t in _terms(word))


@dataclass
class MatchResult:
    suggestions: list[Match]
    # where routing goes: the provider of the top suggestion; without suggestions the likely provider, when any
    # department has related published entries
    provider_id: int | None
    source: str  # "index" or "sql"


def search_index_dir(session: Session) -> Path | None:
    """The search index of the session's database; None when none is attached or it holds nothing."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    path = search_index.registry.lookup(engine)
    if path is None:
        return None
    searcher = search_index.get_index(path).searcher()
    return path if searcher is not None and searcher.num_docs > 0 else None


def _index_matches(index_dir: Path, words: list[Concept], exclude: set[int]) -> dict[int, Match]:
    matches: dict[int, Match] = {}
    for word in words:
        for hit in search.search(index_dir, word.text, limit=HITS_PER_WORD, facets=False)["hits"]:
            if hit["provider_id"] in exclude:
                continue
            matches.setdefault(hit["id"], Match(hit["id"], hit["provider_id"])).add(word, hit["score"], hit["name"])
    return matches


def _sql_matches(session: Session, words: list[Concept], exclude: set[int]) -> dict[int, Match]:
    matches: dict[int, Match] = {}
    for word in words:
        terms = _terms(word)
        in_text = or_(
            *(CatalogEntry.name.contains(t, autoescape=True) for t in terms),
            *(CatalogEntry.abstract.contains(t, autoescape=True) for t in terms),
            CatalogEntry.items.any(or_(*(DataItem.chinese_name.contains(t, autoescape=True) for t in terms))),
        )
        rows = session.execute(
            select(CatalogEntry.id, CatalogEntry.provider_id, CatalogEntry.name)
            .where(CatalogEntry.status == EntryStatus.PUBLISHED, CatalogEntry.provider_id.not_in(exclude), in_text)
            .order_by(CatalogEntry.id).limit(HITS_PER_WORD)
        )
        for entry_id, provider_id, name in rows:
            in_name = any(t in normalize(name) for t in terms)
            score = SQL_NAME_SCORE if in_name else SQL_TEXT_SCORE
            matches.setdefault(entry_id, Match(entry_id, provider_id)).add(word, score, name)
    return matches


def _still_published(session: Session, matches: dict[int, Match]) -> dict[int, Match]:
    """The index may lag behind the database by a commit: keep only entries that are published now."""
    if not matches:
        return matches
    ids = set(session.scalars(
        select(CatalogEntry.id).where(CatalogEntry.id.in_(list(matches)), CatalogEntry.status == EntryStatus.PUBLISHED)
    ))
    return {entry_id: m for entry_id, m in matches.items() if entry_id in ids}


def likely_provider(matches: list[Match]) -> int | None:
    """The department whose published entries score highest in total for the demand's words."""
    totals: dict[int, float] = defaultdict(float)
    for m in matches:
        totals[m.provider_id] += m.score
    if not totals:
        return None
    return max(totals, key=lambda dept: (totals[dept], -dept))


def match_demand(session: Session, text: str, exclude: set[int]) -> MatchResult:
    """Suggestions (best first) and where routing goes (MatchResult.provider_id) for a demand's text, leaving out
    `exclude`'s entries."""
    words = demand_words(text)
    index_dir = search_index_dir(session)
    if not words:
        return MatchResult([], None, "index" if index_dir else "sql")
    if index_dir is not None:
        found_ = _still_published(session, _index_matches(index_dir, words, exclude))
    else:
        found_ = _sql_matches(session, words, exclude)
    ranked = sorted(found_.values(), key=lambda m: (-len(m.words), -m.score, m.entry_id))
    needed = SUGGESTION_COVERAGE * len(words)
    suggestions = [m for m in ranked if m.name_hit and len(m.words) >= needed][:SUGGESTION_LIMIT]
    # A demand routed because of a suggested entry goes to the department that catalogs the top suggestion, not
    # to one whose many weaker hits add up to more (a city bureau of the same kind that a provincial requester's
    # demand was never about): the totals only decide when nothing is suggested.
    provider_id = suggestions[0].provider_id if suggestions else likely_provider(ranked)
    return MatchResult(suggestions, provider_id, "index" if index_dir else "sql")


# ---------------------------------------------------------------- reading


def readable_demands(actor: Actor) -> Select:
    """Demands the actor may read: its department's own and those routed to it; for a competent authority's
    reviewer, those of departments in its area; everything for admins and auditors."""
    query = select(Demand)
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return query
    if actor.department_id is None:  # `provider_id == None` would otherwise match every unrouted demand
        return query.where(false())
    visible = [Demand.requester_id == actor.department_id, Demand.provider_id == actor.department_id]
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        prefix = region_prefix(actor.region_code)
        visible.append(Demand.requester.has(Department.region_code.startswith(prefix)))
        visible.append(Demand.provider.has(Department.region_code.startswith(prefix)))
    return query.where(or_(*visible))


def get_demand(session: Session, actor: Actor, demand_id: int) -> Demand:
    demand = session.scalars(readable_demands(actor).where(Demand.id == demand_id)).first()
    if demand is None:
        raise NotFound(f"需求不存在或无权查看：{demand_id}", field="demand_id")
    return demand


def list_demands(session: Session, actor: Actor, *, status: str | None = None, box: str | None = None,
                 limit: int = 50, offset: int = 0) -> list[Demand]:
    """`box`: "mine" (posted by the actor's department) or "incoming" (routed to it)."""
    query = readable_demands(actor)
    if status:
        member = DemandStatus.parse(status)
        if member is None:
            allowed = "、".join(f"{m.value}（{m.label}）" for m in DemandStatus)
            raise ValidationFailed(f"需求状态取值无效：{status}；可选：{allowed}", field="status")
        query = query.where(Demand.status == member.value)
    if box == "mine":
        query = query.where(Demand.requester_id == actor.department_id)
    elif box == "incoming":
        query = query.where(Demand.provider_id == actor.department_id)
    elif box:
        raise ValidationFailed(f"范围取值无效：{box}；可选：mine（本部门提出）、incoming（转交本部门）", field="box")
    query = query.order_by(Demand.created_at.desc(), Demand.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


# ---------------------------------------------------------------- checks and notices


def _require_status(demand: Demand, *allowed: DemandStatus, action: str) -> None:
    if demand.status not in allowed:
        label = DemandStatus(demand.status).label
        raise Conflict(f"需求当前状态为“{label}”，不能{action}", field="status")


def _require_requester(actor: Actor, demand: Demand, *, action: str) -> None:
    require_role(actor, *REQUESTER_ROLES, action=action)
    if not actor.is_system and actor.department_id != demand.requester_id:
        raise Forbidden(f"只有提出需求的部门才能{action}", field="requester_id")


def _require_provider(actor: Actor, demand: Demand, roles: tuple[Role, ...], *, action: str) -> None:
    require_role(actor, *roles, action=action)
    if not actor.is_system and actor.department_id != demand.provider_id:
        raise Forbidden(f"只有需求转交的提供部门才能{action}", field="provider_id")


def _requester_audience(demand: Demand) -> Audience:
    """The person who posted the demand and the requesters of the department."""
    people = (demand.created_by_id,) if demand.created_by_id else ()
    return Audience(demand.requester_id, roles=(Role.REQUESTER,), user_ids=people)


def _provider_audience(department_id: int) -> Audience:
    return Audience(department_id, roles=ANSWER_ROLES)


def _notify(session: Session, demand: Demand, event: str, title: str, audiences: list[Audience],
            body: str = "") -> None:
    emit(session, f"demand.{event}", title, audiences=audiences, body=body, link=LINK.format(id=demand.id),
         data={"demand_id": demand.id, "status": demand.status, "requester_id": demand.requester_id,
               "provider_id": demand.provider_id, "entry_id": demand.entry_id})


# ---------------------------------------------------------------- posting and routing


def _text(demand: Demand) -> str:
    return f"{demand.title} {demand.description}".strip()


def post_demand(session: Session, actor: Actor, title: str, description: str = "",
                provider_id: int | None = None) -> Demand:
    """Posts a demand: with matching entries it stays open for the requester to look at them; without any it
    is routed at once to the likely provider. A `provider_id` given by the requester routes it there."""
    require_role(actor, *REQUESTER_ROLES, action="提出数据需求")
    if actor.department_id is None:
        raise ValidationFailed("需求须以需求部门用户的身份提出（命令行请用 --user 指定用户）", field="user")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise ValidationFailed("请用一句话（200 字以内）说明需要什么数据，如“需要核验申请人是否为低保对象”",
                               field="title")
    demand = Demand(requester_id=actor.department_id, title=title, description=(description or "").strip(),
                    status=DemandStatus.OPEN.value, created_by_id=actor.user_id, suggested_entry_ids=[])
    session.add(demand)
    result = match_demand(session, _text(demand), {actor.department_id})
    demand.suggested_entry_ids = [m.entry_id for m in result.suggestions]
    # not stored: scores are only meaningful at the moment of matching; the response shows them once
    demand.match_scores = {m.entry_id: round(m.score, 4) for m in result.suggestions}
    session.flush()
    if provider_id is not None:
        _route(session, demand, provider_id, automatic=False)
    elif result.suggestions:
        _notify(session, demand, "suggested", f"需求“{title}”匹配到 {len(result.suggestions)} 条现有目录",
                [_requester_audience(demand)], body="请查看推荐目录；都不满足时可转交提供部门")
    elif result.provider_id is not None:
        _route(session, demand, result.provider_id, automatic=True)
    else:
        _notify(session, demand, "unmatched", f"需求“{title}”未匹配到目录，也未找到可能的提供部门",
                [_requester_audience(demand)], body="请指定提供部门后转交")
    return demand


def _route(session: Session, demand: Demand, provider_id: int, *, automatic: bool) -> None:
    provider = found(session.get(Department, provider_id), f"提供部门不存在：{provider_id}", "provider_id")
    if provider.id == demand.requester_id:
        raise ValidationFailed("不能把需求转交给本部门", field="provider_id")
    now = utcnow()
    due = workdays.deadline(session, workdays.local_date(session, now), settings_of(session).reply_working_days)
    demand.provider_id, demand.provider = provider.id, provider
    demand.status = DemandStatus.ROUTED.value
    demand.routed_at, demand.routed_automatically = now, automatic
    demand.answer_due, demand.answer_due_estimated = due.due, due.estimated
    # a demand routed again after a refusal starts a fresh answer
    demand.accepted = demand.planned_date = demand.fulfil_due = None
    demand.answer, demand.answered_by_id, demand.answered_at, demand.overdue_at = "", None, None, None
    session.flush()
    how = "平台按目录匹配自动转交" if automatic else "需求部门转交"
    _notify(session, demand, "routed", f"收到数据需求“{demand.title}”（{demand.requester.name}，{how}）",
            [_provider_audience(provider.id)],
            body=f"请于 {due.due} 前答复：承诺编目日期或不能提供的理由。{due.warning}")
    _notify(session, demand, "routed", f"需求“{demand.title}”已转交{provider.name}",
            [_requester_audience(demand)], body=f"答复期限 {due.due}。{due.warning}")


def route_demand(session: Session, actor: Actor, demand_id: int, provider_id: int | None = None) -> Demand:
    """The requester found no suggestion fitting: routes to `provider_id`, or to the provider of the top suggestion
    (re-matched now, leaving out a department that refused), or without suggestions to the likely provider."""
    demand = get_demand(session, actor, demand_id)
    _require_requester(actor, demand, action="转交需求")
    _require_status(demand, DemandStatus.OPEN, DemandStatus.DECLINED, action="转交")
    automatic = provider_id is None
    if automatic:
        # after a refusal, the department that refused is not the likely provider any more
        exclude = {demand.requester_id, *([demand.provider_id] if demand.provider_id else [])}
        provider_id = match_demand(session, _text(demand), exclude).provider_id
        if provider_id is None:
            raise ValidationFailed("未找到发布过相关目录的部门，请选择需求转交的提供部门", field="provider_id")
    _route(session, demand, provider_id, automatic=automatic)
    return demand


def accept_suggestion(session: Session, actor: Actor, demand_id: int, entry_id: int) -> Demand:
    """The requester says a published entry meets the need (it then asks for it through a sharing request)."""
    demand = get_demand(session, actor, demand_id)
    _require_requester(actor, demand, action="确认匹配目录")
    _require_status(demand, DemandStatus.OPEN, DemandStatus.ROUTED, action="确认匹配目录")
    entry = session.scalars(readable_entries(actor).where(CatalogEntry.id == entry_id)).first()
    entry = found(entry, f"目录不存在或无权查看：{entry_id}", "entry_id")
    if entry.status != EntryStatus.PUBLISHED:
        raise ValidationFailed("只能确认已发布的目录满足需求", field="entry_id")
    routed_to = demand.provider_id if demand.status == DemandStatus.ROUTED else None
    demand.status, demand.entry_id, demand.entry = DemandStatus.MATCHED.value, entry.id, entry
    session.flush()
    audiences = [_requester_audience(demand), Audience(entry.provider_id, roles=LINK_ROLES)]
    if routed_to and routed_to != entry.provider_id:
        audiences.append(_provider_audience(routed_to))  # the routed provider no longer has to answer
    _notify(session, demand, "matched", f"需求“{demand.title}”已由目录“{entry.name}”（{entry.provider.name}）满足",
            audiences, body="需求部门将通过共享申请使用该目录")
    return demand


def withdraw_demand(session: Session, actor: Actor, demand_id: int, reason: str) -> Demand:
    """The requester withdraws an open or routed demand, saying why (the provider it was routed to reads it)."""
    demand = get_demand(session, actor, demand_id)
    _require_requester(actor, demand, action="撤回需求")
    _require_status(demand, DemandStatus.OPEN, DemandStatus.ROUTED, action="撤回")
    reason = required_reason(reason, "撤回需求必须说明理由")
    was_routed = demand.status == DemandStatus.ROUTED
    demand.status, demand.withdraw_reason = DemandStatus.WITHDRAWN.value, reason
    session.flush()
    audiences = [_requester_audience(demand)] + ([_provider_audience(demand.provider_id)] if was_routed else [])
    _notify(session, demand, "withdrawn", f"需求“{demand.title}”已撤回", audiences, body=reason)
    return demand


# ---------------------------------------------------------------- the provider's answer and the new entry


def _check_planned_date(session: Session, planned_date: date | None, today: date) -> workdays.Deadline:
    """R20: an accepted demand is cataloged and shared within `demand_working_days` working days."""
    days = settings_of(session).demand_working_days
    limit = workdays.deadline(session, today, days)
    if planned_date is None:
        raise ValidationFailed("承诺提供时必须填写计划完成编目的日期", field="planned_date")
    if planned_date < today:
        raise ValidationFailed(f"计划日期不能早于今天（{today}）", field="planned_date")
    if planned_date > limit.due:
        raise ValidationFailed(
            f"计划日期 {planned_date} 超出期限：承诺提供的需求应在 {days} 个工作日内（{limit.due} 前）完成编目并共享"
            f"（R20，参照《上海市数据条例》第三十九条）。{limit.warning}".strip(),
            field="planned_date",
        )
    return limit


def answer_demand(session: Session, actor: Actor, demand_id: int, accept: bool,
                  planned_date: date | None = None, reason: str = "") -> Demand:
    """The routed provider's catalog manager or reviewer answers: a planned date, or a reason it cannot."""
    demand = get_demand(session, actor, demand_id)
    _require_provider(actor, demand, ANSWER_ROLES, action="答复数据需求")
    _require_status(demand, DemandStatus.ROUTED, action="答复")
    reason = (reason or "").strip()
    now = utcnow()
    if accept:
        limit = _check_planned_date(session, planned_date, workdays.local_date(session, now))
        demand.status, demand.accepted = DemandStatus.ACCEPTED.value, True
        demand.planned_date, demand.fulfil_due, demand.fulfil_due_estimated = planned_date, limit.due, limit.estimated
        # a late answer is still on record (answered_at > answer_due); clearing the mark lets the job flag a
        # late cataloging too
        demand.overdue_at = None
    else:
        reason = required_reason(reason, "不能提供时必须说明理由（如数据不存在、法律法规不允许共享）")
        demand.status, demand.accepted = DemandStatus.DECLINED.value, False
    demand.answer, demand.answered_by_id, demand.answered_at = reason, actor.user_id, now
    session.flush()
    if accept:
        title, body = f"{demand.provider.name}承诺于 {planned_date} 前提供“{demand.title}”", reason
    else:
        title, body = f"{demand.provider.name}说明无法提供“{demand.title}”", f"理由：{reason}"
    _notify(session, demand, "answered", title, [_requester_audience(demand)], body=body)
    return demand


def link_entry(session: Session, actor: Actor, demand_id: int, entry_id: int) -> Demand:
    """The provider's catalog manager links its published entry that meets the demand: fulfilled."""
    demand = get_demand(session, actor, demand_id)
    _require_provider(actor, demand, LINK_ROLES, action="关联需求目录")
    _require_status(demand, DemandStatus.ACCEPTED, DemandStatus.ROUTED, action="关联目录")
    entry = found(session.get(CatalogEntry, entry_id), f"目录不存在：{entry_id}", "entry_id")
    if entry.provider_id != demand.provider_id:
        raise Forbidden("只能关联本部门的目录", field="entry_id")
    if entry.status != EntryStatus.PUBLISHED:
        raise ValidationFailed(f"目录“{entry.name}”尚未发布，须经审核发布后才能关联到需求", field="entry_id")
    demand.status, demand.entry_id, demand.entry = DemandStatus.FULFILLED.value, entry.id, entry
    demand.fulfilled_at = utcnow()
    session.flush()
    _notify(session, demand, "fulfilled", f"需求“{demand.title}”已编目发布：{entry.name}（{entry.resource_code}）",
            [_requester_audience(demand)], body="可通过共享申请使用该目录")
    return demand


# ---------------------------------------------------------------- deadlines (run by demands.jobs)


def mark_overdue(session: Session, now: datetime) -> dict[str, int]:
    """Marks routed demands past their answer deadline and accepted ones past their cataloging deadline, and
    tells both parties once (overdue_at is set only here, so a demand is flagged once per deadline)."""
    today = workdays.local_date(session, now)
    late = {
        "answer_overdue": (DemandStatus.ROUTED, Demand.answer_due, "答复"),
        "fulfil_overdue": (DemandStatus.ACCEPTED, Demand.fulfil_due, "编目"),
    }
    counts = {}
    for name, (status, due, what) in late.items():
        # FOR UPDATE SKIP LOCKED: two workers never flag (and notify) the same demand twice
        demands = session.scalars(
            select(Demand).where(Demand.status == status.value, due < today, Demand.overdue_at.is_(None))
            .order_by(Demand.id).with_for_update(skip_locked=True, of=Demand)
        ).all()
        for demand in demands:
            demand.overdue_at = now
            deadline_ = demand.answer_due if status == DemandStatus.ROUTED else demand.fulfil_due
            _notify(session, demand, "overdue", f"需求“{demand.title}”{what}已逾期（期限 {deadline_}）",
                    [_provider_audience(demand.provider_id), _requester_audience(demand)])
        counts[name] = len(demands)
    session.flush()
    return counts


# ---------------------------------------------------------------- views


def _suggestion_views(session: Session, actor: Actor, demands: list[Demand]) -> dict[int, dict]:
    """The suggested entries the actor may still read, by id (one query for a whole list)."""
    ids = {entry_id for d in demands for entry_id in (d.suggested_entry_ids or [])}
    if not ids:
        return {}
    entries = session.scalars(
        readable_entries(actor).where(CatalogEntry.id.in_(ids), CatalogEntry.status == EntryStatus.PUBLISHED)
    ).unique()
    return {e.id: {"entry_id": e.id, "resource_code": e.resource_code, "name": e.name, "provider_id": e.provider_id,
                   "provider": e.provider.name, "share_type": e.share_type} for e in entries}


def to_out(demand: Demand, entries: dict[int, dict]) -> dict:
    """The API view of a demand (DemandOut); `entries` from _suggestion_views."""
    scores = getattr(demand, "match_scores", {})
    suggestions = [
        {**entries[entry_id], "rank": rank, "score": scores.get(entry_id)}
        for rank, entry_id in enumerate((i for i in demand.suggested_entry_ids or [] if i in entries), start=1)
    ]
    return {
        "id": demand.id, "title": demand.title, "description": demand.description, "status": demand.status,
        "status_label": DemandStatus(demand.status).label,
        "requester_id": demand.requester_id, "requester": demand.requester.name,
        "provider_id": demand.provider_id, "provider": demand.provider.name if demand.provider else None,
        "suggestions": suggestions,
        "routed_at": demand.routed_at, "routed_automatically": demand.routed_automatically,
        "answer_due": demand.answer_due, "answer_due_estimated": demand.answer_due_estimated,
        "answer_due_warning": workdays.ESTIMATE_WARNING if demand.answer_due_estimated else None,
        "accepted": demand.accepted, "planned_date": demand.planned_date, "answer": demand.answer,
        "answered_at": demand.answered_at, "withdraw_reason": demand.withdraw_reason,
        "fulfil_due": demand.fulfil_due, "fulfil_due_estimated": demand.fulfil_due_estimated,
        "fulfil_due_warning": workdays.ESTIMATE_WARNING if demand.fulfil_due_estimated else None,
        "entry_id": demand.entry_id, "entry_code": demand.entry.resource_code if demand.entry else None,
        "entry_name": demand.entry.name if demand.entry else None,
        "fulfilled_at": demand.fulfilled_at, "overdue_at": demand.overdue_at, "created_at": demand.created_at,
    }


def views(session: Session, actor: Actor, demands: list[Demand]) -> list[dict]:
    entries = _suggestion_views(session, actor, demands)
    return [to_out(d, entries) for d in demands]


def view(session: Session, actor: Actor, demand: Demand) -> dict:
    return views(session, actor, [demand])[0]
