"""Requests and replies (R07), grants (R09, R10): the rules of one-stop sharing.

A request moves only through `TRANSITIONS` (sharing.vocab); anything else is a 409 naming the current
state. Every move is written to the request's history and told to the parties (notify.emit) in the same
transaction. Deciding locks the request row, so two reviewers deciding at once give exactly one decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, region_prefix, require_own_department, require_role
from govshare.catalog import grades
from govshare.catalog.models import CatalogEntry
from govshare.catalog.vocab import EntryStatus, ShareMethod, ShareType
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed, found, required_reason
from govshare.notify.service import Audience, emit
from govshare.orgs.models import ConsumerSystem, Department, Role
from govshare.sharing.models import Grant, RequestEvent, ServiceChange, ShareRequest
from govshare.sharing.schemas import ReplyIn, RequestIn, RowScope
from govshare.sharing.vocab import (
    DECISION_OUTCOME,
    GRANTED,
    TRANSITIONS,
    Decision,
    GrantEndReason,
    GrantStatus,
    RequestStatus,
    ServiceChangeKind,
    ServiceChangeStatus,
)
from govshare.workdays import service as workdays

S = RequestStatus
READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)
REQUEST_ROLES = (Role.REQUESTER,)
REPLY_ROLES = (Role.DEPT_REVIEWER,)
PROVIDER_ROLES = (Role.DEPT_REVIEWER, Role.CATALOG_MANAGER)


# ---------------------------------------------------------------- reading


def readable_requests(actor: Actor) -> Select:
    """Requests the actor may read: all of the own department's (drafts included) as requester; those
    addressed to the own department once submitted; for the competent authority, the submitted requests
    of its area's providers (it supervises and settles disputes); everything for admins and auditors."""
    query = select(ShareRequest)
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return query
    not_draft = ShareRequest.status != S.DRAFT
    visible = [ShareRequest.requester_id == actor.department_id,
               and_(ShareRequest.provider_id == actor.department_id, not_draft)]
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        prefix = region_prefix(actor.region_code)
        visible.append(and_(not_draft, ShareRequest.provider.has(Department.region_code.startswith(prefix))))
    return query.where(or_(*visible))


def get_request(session: Session, actor: Actor, request_id: int) -> ShareRequest:
    return found(session.scalars(readable_requests(actor).where(ShareRequest.id == request_id)).first(),
                 f"共享申请不存在或无权查看：{request_id}", "request_id")


def list_requests(session: Session, actor: Actor, *, box: str | None = None, status: str | None = None,
                  overdue: bool | None = None, limit: int = 100, offset: int = 0) -> list[ShareRequest]:
    """`box`: "outgoing" (the own department asked), "incoming" (asked of the own department), or all readable."""
    query = readable_requests(actor)
    if box == "outgoing":
        query = query.where(ShareRequest.requester_id == actor.department_id)
    elif box == "incoming":
        query = query.where(ShareRequest.provider_id == actor.department_id, ShareRequest.status != S.DRAFT)
    if status:
        query = query.where(ShareRequest.status == status)
    if overdue is not None:
        late = and_(ShareRequest.status == S.SUBMITTED, or_(
            ShareRequest.overdue_at.is_not(None), ShareRequest.reply_due < workdays.local_today(session)))
        query = query.where(late if overdue else ~late)
    return list(session.scalars(query.order_by(ShareRequest.id.desc()).limit(limit).offset(offset)))


def history(session: Session, actor: Actor, request_id: int) -> list[RequestEvent]:
    get_request(session, actor, request_id)
    return list(session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id)))


def grant_of(session: Session, request_id: int) -> Grant | None:
    return session.scalars(select(Grant).where(Grant.request_id == request_id)).first()


# ---------------------------------------------------------------- the state machine


def illegal_transition(message: str, current: str, label: str = "") -> Conflict:
    """The 409 of a move the state machine does not allow; the body names the current state."""
    extra = {"current_status": current} | ({"current_status_label": label} if label else {})
    return Conflict(message, field="status", code="illegal_transition", extra=extra)


def move(session: Session, request: ShareRequest, to: RequestStatus, actor: Actor, action: str, *,
         reason: str = "", detail: dict | None = None) -> None:
    """The one way a request changes state: legal moves only, each kept in the history."""
    current = S(request.status)
    if to not in TRANSITIONS[current]:
        raise illegal_transition(f"申请当前状态为“{current.label}”，不能变为“{to.label}”", current.value, current.label)
    request.status = to.value
    record(session, request, actor, action, reason=reason, detail=detail, from_status=current.value)


def record(session: Session, request: ShareRequest, actor: Actor, action: str, *, reason: str = "",
           detail: dict | None = None, from_status: str | None = None) -> None:
    session.add(RequestEvent(
        request_id=request.id, action=action, from_status=from_status, to_status=request.status,
        reason=reason or "", detail=detail or {}, actor_id=actor.user_id,
    ))


def locked_request(session: Session, request_id: int) -> ShareRequest:
    """The request row locked for this transaction (PostgreSQL FOR UPDATE; SQLite serializes writers), read
    fresh, so a second decider waits and then sees the first one's decision."""
    query = (select(ShareRequest).where(ShareRequest.id == request_id).with_for_update(of=ShareRequest)
             .execution_options(populate_existing=True))
    return found(session.scalars(query).first(), f"共享申请不存在：{request_id}", "request_id")


def requester_audience(request: ShareRequest) -> Audience:
    creator = (request.created_by_id,) if request.created_by_id else ()
    return Audience(request.requester_id, roles=REQUEST_ROLES, user_ids=creator)


def provider_audience(request: ShareRequest) -> Audience:
    return Audience(request.provider_id, roles=REPLY_ROLES)


def tell(session: Session, request: ShareRequest, event: str, title: str, audiences: list[Audience],
         body: str = "") -> None:
    emit(session, event, title, audiences=audiences, body=body, link=f"/sharing/requests/{request.id}",
         data={"request_id": request.id, "status": request.status, "entry_id": request.entry_id})


# ---------------------------------------------------------------- requesting


def _published_entry(session: Session, entry_id: int) -> CatalogEntry:
    entry = session.get(CatalogEntry, entry_id)
    if entry is None or entry.status != EntryStatus.PUBLISHED:
        raise NotFound(f"只能申请已发布的目录：{entry_id}", field="entry_id")
    if entry.share_type == ShareType.NONE:
        raise ValidationFailed(
            f"“{entry.name}”为不予共享目录，不能申请。依据：{entry.legal_basis}", field="entry_id", code="not_shared")
    return entry


def stopped_service(session: Session, entry_id: int, today: date) -> ServiceChange | None:
    """An approved stop of the entry's sharing service that has taken effect (R11)."""
    return session.scalars(select(ServiceChange).where(
        ServiceChange.entry_id == entry_id, ServiceChange.kind == ServiceChangeKind.STOP,
        ServiceChange.status.in_([ServiceChangeStatus.APPROVED, ServiceChangeStatus.EFFECTIVE]),
        ServiceChange.effective_date <= today,
    )).first()


def _validate_items(entry: CatalogEntry, item_ids: list[int], field: str = "item_ids") -> list[int]:
    known = {item.id for item in entry.items}
    if not item_ids:
        raise ValidationFailed("必须列明所需的信息项（最小必要原则）", field=field)
    unknown = sorted(set(item_ids) - known)
    if unknown:
        raise ValidationFailed(f"信息项不属于该目录：{unknown}", field=field)
    order = {item.id: item.position for item in entry.items}
    return sorted(set(item_ids), key=order.__getitem__)


def _validate_scope(entry: CatalogEntry, scope: RowScope | None, field: str = "row_scope") -> dict:
    if scope is None:
        return {}
    if scope.item not in {item.name for item in entry.items}:
        raise ValidationFailed(f"范围字段不是该目录的信息项：{scope.item}", field=f"{field}.item")
    return scope.model_dump()


def _validate_period(session: Session, start: date, end: date, today: date) -> None:
    if end < start:
        raise ValidationFailed("使用期限的结束日期不能早于开始日期", field="period_end")
    if end < today:
        raise ValidationFailed("使用期限的结束日期不能早于今天", field="period_end")
    longest = settings_of(session).max_grant_days
    if (end - start).days > longest:
        raise ValidationFailed(f"使用期限不能超过 {longest} 天", field="period_end")


def _validate_system(session: Session, actor_department: int, system_id: int | None, method: ShareMethod) -> None:
    if system_id is None:
        if method in (ShareMethod.API, ShareMethod.VERIFY):
            raise ValidationFailed(f"{method.label}方式的申请必须指定调用数据的应用系统", field="consumer_system_id")
        return
    system = session.get(ConsumerSystem, system_id)
    if system is None or system.department_id != actor_department:
        raise ValidationFailed(f"应用系统不属于本部门：{system_id}", field="consumer_system_id")
    if system.revoked_at:
        raise ValidationFailed(f"应用系统已吊销：{system.name}", field="consumer_system_id")


# A stated purpose, scenario or duty basis holds at least this many letters, digits or Chinese characters:
# blanks and punctuation state nothing (R07: the requester states them, even for unconditional data).
STATED_MIN_CHARS = 2


def stated(text: str, field: str, rule: str) -> str:
    """`text` stripped, or a 422 naming `field` when it states nothing (blank, or punctuation only)."""
    text = (text or "").strip()
    if sum(character.isalnum() for character in text) < STATED_MIN_CHARS:
        raise ValidationFailed(f"{rule}（至少 {STATED_MIN_CHARS} 个文字，不能只有空格或标点）", field=field)
    return text


def _stated_reasons(entry: CatalogEntry, data: RequestIn) -> tuple[str, str, str]:
    """Purpose and scenario of every request, and the duty basis of a conditional one (R07), stripped."""
    purpose = stated(data.purpose, "purpose", "共享申请必须写明共享目的")
    scenario = stated(data.scenario, "scenario", "共享申请必须写明使用场景")
    duty_basis = data.duty_basis.strip()
    if entry.share_type == ShareType.CONDITIONAL:
        duty_basis = stated(duty_basis, "duty_basis", "有条件共享的申请必须写明履职依据（法律法规或“三定”职责）")
    return purpose, scenario, duty_basis


def create_request(session: Session, actor: Actor, data: RequestIn, *, submit: bool = False,
                   renews: ShareRequest | None = None) -> ShareRequest:
    """A requester department asks for a published entry (R07); `submit` sends it at once."""
    require_role(actor, *REQUEST_ROLES, action="提出共享申请")
    if actor.department_id is None:
        raise ValidationFailed("申请必须以一个部门的名义提出", field="requester")
    entry = _published_entry(session, data.entry_id)
    if entry.provider_id == actor.department_id:
        raise ValidationFailed("不能申请本部门自己的目录", field="entry_id")
    today = workdays.local_today(session)
    if stopped_service(session, entry.id, today):
        raise ValidationFailed(f"“{entry.name}”的共享服务已经主管部门批准停止", field="entry_id")
    purpose, scenario, duty_basis = _stated_reasons(entry, data)
    method = data.share_method or ShareMethod(entry.share_method)
    if method != entry.share_method:
        raise ValidationFailed(f"该目录的共享方式为“{ShareMethod(entry.share_method).label}”", field="share_method")
    if method == ShareMethod.VERIFY and not data.verify_only:
        raise ValidationFailed(f"“{entry.name}”仅提供核验服务（返回一致/不一致/无记录，不提供数据）：请按“仅核验”申请",
                               field="verify_only")
    start = data.period_start or today
    _validate_period(session, start, data.period_end, today)
    _validate_system(session, actor.department_id, data.consumer_system_id, method)
    request = ShareRequest(
        entry_id=entry.id, entry_version=entry.version, requester_id=actor.department_id,
        provider_id=entry.provider_id, consumer_system_id=data.consumer_system_id, purpose=purpose,
        scenario=scenario, duty_basis=duty_basis,
        item_ids=_validate_items(entry, data.item_ids), row_scope=_validate_scope(entry, data.row_scope),
        share_method=method.value, verify_only=data.verify_only, period_start=start, period_end=data.period_end,
        status=S.DRAFT.value, renews_id=renews.id if renews else None, created_by_id=actor.user_id,
    )
    session.add(request)
    session.flush()
    record(session, request, actor, "renewal_created" if renews else "created",
           detail={"renews": renews.id} if renews else None)
    if submit:
        submit_request(session, actor, request.id)
    return request


def _own_request(session: Session, actor: Actor, request_id: int) -> ShareRequest:
    request = locked_request(session, request_id)
    require_role(actor, *REQUEST_ROLES, action="办理共享申请")
    require_own_department(actor, request.requester_id, action="办理")
    return request


def submit_request(session: Session, actor: Actor, request_id: int) -> ShareRequest:
    """Sends a draft. 无条件 entries are granted at once (R07), still with purpose and scenario kept, unless
    what is asked is graded 重要 or 核心 (R17); everything else waits for the provider's reply, due in
    `reply_working_days` working days."""
    request = _own_request(session, actor, request_id)
    now = utcnow()
    at_once = granted_on_request(request)
    graded = request.entry.share_type == ShareType.UNCONDITIONAL and not at_once
    move(session, request, S.SUBMITTED, actor, "submitted", reason=GRADED_REPLY_NOTE if graded else "")
    request.submitted_at = now
    if at_once:
        _decide(session, request, Actor.system(), Decision.APPROVE, "无条件共享，依申请直接获取（条例第四章）",
                Terms.of(request), settings_of(session).default_rate_limit, action="auto_approved")
        return request
    due = workdays.deadline(session, workdays.local_date(session, now), settings_of(session).reply_working_days)
    request.reply_due, request.reply_due_estimated = due.due, due.estimated
    tell(session, request, "request.submitted", f"收到共享申请：{request.entry.name}",
         [provider_audience(request)], body=f"{request.requester.name}申请使用，请于 {due.due} 前答复。{due.warning}")
    return request


GRADED_REPLY_NOTE = "申请的数据含重要或核心分级，无条件共享目录也须经提供部门答复（分级分类管理）"


def granted_on_request(request: ShareRequest) -> bool:
    """Whether the request is granted on submission (R07): an unconditional entry, and nothing asked of it
    graded 重要 or 核心, which always waits for the provider's reply (R17, catalog.grades)."""
    entry = request.entry
    if entry.share_type != ShareType.UNCONDITIONAL or grades.needs_reply(entry.grade):
        return False
    asked = set(request.item_ids)
    return not any(grades.needs_reply(item.grade) for item in entry.items if item.id in asked)


def withdraw_request(session: Session, actor: Actor, request_id: int, reason: str) -> ShareRequest:
    """The requester withdraws a draft, a pending request or its dispute, saying why (it ends the request, and
    the provider reads the reason). A dispute over a partly approved request falls back to the part granted."""
    request = _own_request(session, actor, request_id)
    reason = required_reason(reason, "撤回申请必须说明理由")
    from govshare.sharing import disputes

    if request.status == S.ESCALATED:
        return disputes.withdraw(session, actor, request, reason)
    move(session, request, S.WITHDRAWN, actor, "withdrawn", reason=reason)
    if request.submitted_at:
        tell(session, request, "request.withdrawn", f"共享申请已撤回：{request.entry.name}",
             [provider_audience(request)], body=reason)
    return request


def renew_request(session: Session, actor: Actor, request_id: int, period_end: date,
                  period_start: date | None = None) -> ShareRequest:
    """A new request for the same terms as the grant that ended: it needs a new reply like any other
    (an expired grant is never extended in place)."""
    old = get_request(session, actor, request_id)
    require_role(actor, *REQUEST_ROLES, action="申请续期")
    require_own_department(actor, old.requester_id, action="续期")
    if old.status not in (S.EXPIRED, S.APPROVED, S.PARTLY_APPROVED):
        raise Conflict(f"只有已获同意或已到期的申请可以续期申请，当前状态：{S(old.status).label}", field="status",
                       extra={"current_status": old.status})
    grant = grant_of(session, old.id)
    scope = (grant.row_scope if grant else old.row_scope) or None
    data = RequestIn(
        entry_id=old.entry_id, purpose=old.purpose, scenario=old.scenario, duty_basis=old.duty_basis,
        item_ids=grant.item_ids if grant else old.item_ids, row_scope=RowScope(**scope) if scope else None,
        share_method=ShareMethod(old.share_method), verify_only=old.verify_only, period_start=period_start,
        period_end=period_end, consumer_system_id=old.consumer_system_id,
    )
    return create_request(session, actor, data, submit=True, renews=old)


# ---------------------------------------------------------------- replying


@dataclass(frozen=True)
class Terms:
    """What a grant covers."""

    item_ids: list[int]
    row_scope: dict
    period_start: date
    period_end: date

    @classmethod
    def of(cls, request: ShareRequest) -> Terms:
        return cls(list(request.item_ids), dict(request.row_scope or {}), request.period_start, request.period_end)


def scope_within(narrow: dict, wide: dict) -> bool:
    """Every row `narrow` allows, `wide` allows too ({} allows every row)."""
    if not wide:
        return True
    if not narrow or narrow.get("item") != wide.get("item"):
        return False
    return all(any(p.startswith(w) for w in wide["prefixes"]) for p in narrow["prefixes"])


def terms_for(session: Session, request: ShareRequest, reply: ReplyIn) -> Terms:
    """The terms of an approval: the request's, narrowed by the reply. A reply may narrow (fewer items,
    fewer rows, a shorter period), never widen."""
    asked = Terms.of(request)
    entry = request.entry
    items = _validate_items(entry, reply.item_ids) if reply.item_ids is not None else asked.item_ids
    if not set(items) <= set(asked.item_ids):
        raise ValidationFailed("答复不能增加申请之外的信息项", field="item_ids")
    scope = _validate_scope(entry, reply.row_scope) if reply.row_scope is not None else asked.row_scope
    if not scope_within(scope, asked.row_scope):
        raise ValidationFailed("答复的数据范围不能超出申请的范围", field="row_scope")
    end = reply.period_end or asked.period_end
    if end > asked.period_end or end < asked.period_start:
        raise ValidationFailed("答复的期限应在申请的期限之内", field="period_end")
    return Terms(items, scope, asked.period_start, end)


def is_narrower(terms: Terms, asked: Terms) -> bool:
    return (set(terms.item_ids) < set(asked.item_ids) or terms.period_end < asked.period_end
            or (terms.row_scope != asked.row_scope and scope_within(terms.row_scope, asked.row_scope)))


def check_decision(decision: Decision, reason: str, terms: Terms, asked: Terms) -> None:
    if decision != Decision.APPROVE:
        required_reason(reason, f"“{decision.label}”必须说明理由")
    if decision == Decision.APPROVE_IN_PART and not is_narrower(terms, asked):
        raise ValidationFailed("部分同意须减少信息项、缩小数据范围或缩短期限", field="decision")
    if decision == Decision.APPROVE and is_narrower(terms, asked):
        raise ValidationFailed("减少信息项、缩小范围或缩短期限属于“部分同意”，须选择部分同意并说明理由",
                               field="decision")


def reply(session: Session, actor: Actor, request_id: int, data: ReplyIn) -> ShareRequest:
    """The provider's reviewer replies: approve, approve in part (reasons), or refuse (reasons) (R07)."""
    request = locked_request(session, request_id)
    require_role(actor, *REPLY_ROLES, action="答复共享申请")
    require_own_department(actor, request.provider_id, action="答复")
    if request.status != S.SUBMITTED:
        current = S(request.status)
        raise illegal_transition(f"申请当前状态为“{current.label}”，不能答复", current.value, current.label)
    terms = terms_for(session, request, data)
    check_decision(data.decision, data.reason, terms, Terms.of(request))
    if data.decision != Decision.REFUSE and stopped_service(session, request.entry_id, workdays.local_today(session)):
        raise ValidationFailed("该目录的共享服务已经主管部门批准停止，只能不予同意", field="decision")
    rate = data.rate_limit or settings_of(session).default_rate_limit
    _decide(session, request, actor, data.decision, data.reason, terms, rate, action="replied")
    return request


def _decide(session: Session, request: ShareRequest, actor: Actor, decision: Decision, reason: str, terms: Terms,
            rate_limit: int, *, action: str) -> None:
    outcome = DECISION_OUTCOME[decision]
    move(session, request, outcome, actor, action, reason=reason, detail=_terms_detail(decision, terms))
    request.decision, request.decision_reason = decision.value, reason
    request.decided_by_id, request.decided_at = actor.user_id, utcnow()
    if outcome in GRANTED:
        bind_grant(session, request, terms, rate_limit)
    tell(session, request, "request.decided", f"共享申请{outcome.label}：{request.entry.name}",
         [requester_audience(request), provider_audience(request)], body=reason)


def _terms_detail(decision: Decision, terms: Terms) -> dict:
    return {"decision": decision.value, "item_ids": terms.item_ids, "row_scope": terms.row_scope,
            "period_end": terms.period_end.isoformat()}


# ---------------------------------------------------------------- grants


def bind_grant(session: Session, request: ShareRequest, terms: Terms, rate_limit: int) -> Grant:
    """Creates the request's grant, or sets the terms of the existing one (a dispute decision binds it)."""
    grant = grant_of(session, request.id)
    if grant is None:
        grant = Grant(request_id=request.id, entry_id=request.entry_id, requester_id=request.requester_id,
                      provider_id=request.provider_id, purpose=request.purpose, scenario=request.scenario,
                      share_method=request.share_method, verify_only=request.verify_only,
                      consumer_system_id=request.consumer_system_id,
                      daily_quota=settings_of(session).default_daily_quota or None)
        session.add(grant)
    grant.item_ids, grant.row_scope = list(terms.item_ids), dict(terms.row_scope)
    grant.period_start, grant.period_end, grant.rate_limit = terms.period_start, terms.period_end, rate_limit
    grant.status, grant.end_reason, grant.ended_at = GrantStatus.ACTIVE.value, None, None
    session.flush()
    return grant


def readable_grants(actor: Actor) -> Select:
    """Grants of the own department as requester or provider; the area's for its competent authority."""
    query = select(Grant)
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return query
    visible = [Grant.requester_id == actor.department_id, Grant.provider_id == actor.department_id]
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        prefix = region_prefix(actor.region_code)
        visible.append(Grant.request.has(ShareRequest.provider.has(Department.region_code.startswith(prefix))))
    return query.where(or_(*visible))


def get_grant(session: Session, actor: Actor, grant_id: int) -> Grant:
    return found(session.scalars(readable_grants(actor).where(Grant.id == grant_id)).first(),
                 f"共享授权不存在或无权查看：{grant_id}", "grant_id")


def list_grants(session: Session, actor: Actor, *, status: str | None = None, box: str | None = None,
                limit: int = 100, offset: int = 0) -> list[Grant]:
    query = readable_grants(actor)
    if status:
        query = query.where(Grant.status == status)
    if box == "outgoing":
        query = query.where(Grant.requester_id == actor.department_id)
    elif box == "incoming":
        query = query.where(Grant.provider_id == actor.department_id)
    return list(session.scalars(query.order_by(Grant.id.desc()).limit(limit).offset(offset)))


def _locked_grant(session: Session, grant_id: int) -> Grant:
    query = (select(Grant).where(Grant.id == grant_id).with_for_update(of=Grant)
             .execution_options(populate_existing=True))
    return found(session.scalars(query).first(), f"共享授权不存在：{grant_id}", "grant_id")


REQUEST_AFTER_END = {
    GrantEndReason.PERIOD_ENDED: S.EXPIRED,
    GrantEndReason.PURPOSE_ACHIEVED: S.EXPIRED,
    GrantEndReason.REVOKED: S.REVOKED,
    GrantEndReason.SERVICE_STOPPED: S.REVOKED,
}


def end_grant(session: Session, actor: Actor, grant: Grant, reason: GrantEndReason, note: str) -> Grant:
    """Ends a grant for good; its request follows (expired or revoked). The requester is asked to
    confirm that the data it received has been deleted (R10)."""
    if grant.status == GrantStatus.ENDED:
        raise Conflict(f"共享授权已终止（{GrantEndReason(grant.end_reason).label}）", field="status",
                       extra={"current_status": grant.status})
    grant.status, grant.end_reason, grant.ended_at = GrantStatus.ENDED.value, reason.value, utcnow()
    request = locked_request(session, grant.request_id)
    _close_open_disputes(session, request)
    move(session, request, REQUEST_AFTER_END[reason], actor, f"grant_{reason.value}", reason=note,
         detail={"grant_id": grant.id})
    tell(session, request, "grant.ended", f"共享授权已终止（{reason.label}）：{request.entry.name}",
         [requester_audience(request), provider_audience(request)],
         body=(note + "。" if note else "") + "请需求部门删除已获取的数据并在平台确认删除。")
    return grant


def _close_open_disputes(session: Session, request: ShareRequest) -> None:
    """A grant that ends ends the dispute about it too: nothing is left to decide, here or at the higher node a
    step was referred to (withdrawing a dispute closes both kinds alike)."""
    from govshare.sharing.models import DisputeStep
    from govshare.sharing.vocab import DisputeStatus

    for step in session.scalars(select(DisputeStep).where(
            DisputeStep.request_id == request.id,
            DisputeStep.status.in_([DisputeStatus.OPEN.value, DisputeStatus.REFERRED.value]))):
        step.status = DisputeStatus.WITHDRAWN.value


def revoke_grant(session: Session, actor: Actor, grant_id: int, reason: str) -> Grant:
    """The provider's reviewer, or the competent authority over the provider, revokes a grant (reasons)."""
    grant = _locked_grant(session, grant_id)
    if not actor.is_system:
        from govshare.authz import require_authority_over

        if actor.has(Role.AUTHORITY_REVIEWER):
            require_authority_over(actor, grant.request.provider.region_code, action="撤销共享授权")
        else:
            require_role(actor, *REPLY_ROLES, action="撤销共享授权")
            require_own_department(actor, grant.provider_id, action="撤销")
    reason = required_reason(reason, "撤销授权必须说明理由")
    return end_grant(session, actor, grant, GrantEndReason.REVOKED, reason)


def _requester_grant(session: Session, actor: Actor, grant_id: int) -> Grant:
    grant = _locked_grant(session, grant_id)
    require_role(actor, *REQUEST_ROLES, action="办理共享授权")
    require_own_department(actor, grant.requester_id, action="办理")
    return grant


def declare_purpose_achieved(session: Session, actor: Actor, grant_id: int, note: str) -> Grant:
    """共享目的已实现 (R10): the requester ends its grant, saying how the purpose was achieved (the provider
    reads it); then it confirms deletion."""
    grant = _requester_grant(session, actor, grant_id)
    note = required_reason(note, "声明共享目的已实现必须说明实现情况")
    return end_grant(session, actor, grant, GrantEndReason.PURPOSE_ACHIEVED, note)


def confirm_deletion(session: Session, actor: Actor, grant_id: int, note: str) -> Grant:
    grant = _requester_grant(session, actor, grant_id)
    if grant.status != GrantStatus.ENDED:
        raise Conflict("授权仍然有效，终止后才能确认删除", field="status", extra={"current_status": grant.status})
    if grant.deletion_confirmed_at:
        raise Conflict("已确认删除", field="deletion_confirmed_at")
    grant.deletion_confirmed_at, grant.deletion_note = utcnow(), note or ""
    request = grant.request
    record(session, request, actor, "deletion_confirmed", reason=note, detail={"grant_id": grant.id})
    tell(session, request, "grant.deletion_confirmed", f"需求部门已确认删除数据：{request.entry.name}",
         [provider_audience(request)], body=note)
    return grant


def grant_refusal(grant: Grant | None, system_id: int | None, today: date) -> Forbidden | None:
    """Why `grant` may not be used by `system_id` today (a Forbidden carrying a reason code), or None.
    The one rule of grant use: the gateway asks it for every call, the grants page for its 使用 links."""
    if grant is None:
        return Forbidden("该应用系统没有此目录的共享授权（申请未获同意或未申请）", field="grant", code="no_grant")
    if system_id is not None and grant.consumer_system_id != system_id:
        return Forbidden("该共享授权不属于此应用系统", field="grant", code="wrong_system")
    if grant.status == GrantStatus.SUSPENDED:
        return Forbidden("共享授权已暂停（多次越权访问），待提供部门复核", field="grant", code="grant_suspended")
    if grant.status != GrantStatus.ACTIVE:
        return Forbidden(f"共享授权不可用：{GrantStatus(grant.status).label}", field="grant", code="grant_ended")
    if not grant.period_start <= today <= grant.period_end:
        return Forbidden(f"共享授权不在有效期内（{grant.period_start} 至 {grant.period_end}）", field="grant",
                         code="grant_period")
    return None


def suspend_grant(session: Session, grant: Grant, reason: str) -> Grant:
    """R09: repeated access outside the grant stops it at once, until the provider reviews it."""
    if grant.status != GrantStatus.ACTIVE:
        return grant
    grant.status, grant.suspended_at, grant.suspend_reason = GrantStatus.SUSPENDED.value, utcnow(), reason
    record(session, grant.request, Actor.system(), "grant_suspended", reason=reason, detail={"grant_id": grant.id})
    tell(session, grant.request, "grant.suspended", f"共享授权已暂停：{grant.entry.name}",
         [provider_audience(grant.request), requester_audience(grant.request)], body=reason)
    return grant


def reinstate_grant(session: Session, actor: Actor, grant_id: int, reason: str) -> Grant:
    """The provider's reviewer, having reviewed the attempts, lets a suspended grant be used again."""
    grant = _locked_grant(session, grant_id)
    require_role(actor, *REPLY_ROLES, action="恢复共享授权")
    require_own_department(actor, grant.provider_id, action="恢复")
    if grant.status != GrantStatus.SUSPENDED:
        raise Conflict(f"只有已暂停的授权可以恢复（当前：{GrantStatus(grant.status).label}）", field="status",
                       extra={"current_status": grant.status})
    reason = required_reason(reason, "恢复授权必须说明复核结论")
    grant.status, grant.suspend_reason = GrantStatus.ACTIVE.value, ""
    record(session, grant.request, actor, "grant_reinstated", reason=reason, detail={"grant_id": grant.id})
    tell(session, grant.request, "grant.reinstated", f"共享授权已恢复：{grant.entry.name}",
         [requester_audience(grant.request)], body=reason)
    return grant


# ---------------------------------------------------------------- jobs


def remind_due(session: Session, today: date) -> int:
    """Reminds providers of requests due within `reminder_working_days` working days (once per request)."""
    days = settings_of(session).reminder_working_days
    calendar = workdays.WorkCalendar(session)
    pending = session.scalars(select(ShareRequest).where(
        ShareRequest.status == S.SUBMITTED, ShareRequest.reminded_at.is_(None), ShareRequest.reply_due >= today)
        .order_by(ShareRequest.reply_due, ShareRequest.id))  # the notices in the order they are due, on any database
    count = 0
    for request in pending:
        if calendar.working_days_between(today, request.reply_due) <= days:
            request.reminded_at = utcnow()
            tell(session, request, "request.reminder", f"共享申请即将到期：{request.entry.name}",
                 [provider_audience(request)], body=f"请于 {request.reply_due} 前答复。")
            count += 1
    return count


def mark_overdue(session: Session, today: date) -> int:
    """Marks unanswered requests past their reply deadline; the requester may then escalate (R08)."""
    late = session.scalars(select(ShareRequest).where(
        ShareRequest.status == S.SUBMITTED, ShareRequest.overdue_at.is_(None), ShareRequest.reply_due < today)
        .order_by(ShareRequest.reply_due, ShareRequest.id))
    count = 0
    for request in late:
        request.overdue_at = utcnow()
        record(session, request, Actor.system(), "overdue", detail={"reply_due": request.reply_due.isoformat()})
        tell(session, request, "request.overdue", f"共享申请逾期未答复：{request.entry.name}",
             [provider_audience(request), requester_audience(request)],
             body=f"答复期限为 {request.reply_due}。需求部门可以提起争议协调。")
        count += 1
    return count


def expire_grants(session: Session, today: date) -> int:
    """Ends the grants whose period is over."""
    ended = list(session.scalars(select(Grant).where(
        Grant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED]), Grant.period_end < today)))
    for grant in ended:
        end_grant(session, Actor.system(), grant, GrantEndReason.PERIOD_ENDED, f"使用期限已于 {grant.period_end} 届满")
    return len(ended)


def is_overdue(request: ShareRequest, today: date) -> bool:
    return request.status == S.SUBMITTED and request.reply_due is not None and request.reply_due < today



def refresh_estimated_deadlines(session: Session, today: date) -> int:
    """Deadlines counted Monday–Friday because no calendar knew their year are counted again, so that once
    the admin imports that year's notice, open requests and dispute steps show the official date."""
    from govshare.sharing import disputes
    from govshare.sharing.models import DisputeStep
    from govshare.sharing.vocab import DisputeLevel, DisputeStatus

    calendar = workdays.WorkCalendar(session)
    reply_days = settings_of(session).reply_working_days
    count = 0
    for request in session.scalars(select(ShareRequest).where(
            ShareRequest.status == S.SUBMITTED, ShareRequest.reply_due_estimated.is_(True))):
        due = calendar.add_working_days(workdays.local_date(session, request.submitted_at), reply_days)
        count += (request.reply_due, request.reply_due_estimated) != (due.due, due.estimated)
        request.reply_due, request.reply_due_estimated = due.due, due.estimated
    for step in session.scalars(select(DisputeStep).where(
            DisputeStep.status == DisputeStatus.OPEN, DisputeStep.due_estimated.is_(True))):
        days = disputes.working_days_for(session, DisputeLevel(step.level))
        due = calendar.add_working_days(workdays.local_date(session, step.opened_at), days)
        count += (step.due, step.due_estimated) != (due.due, due.estimated)
        step.due, step.due_estimated = due.due, due.estimated
    return count
