"""Disputes (R08): a refused, partly approved or overdue request is escalated step by step: negotiation
with the provider, then the same-level competent authority, then the higher-level one. Each step has its
own deadline (settings) and a recorded decision, which binds the request and its grant.

A party never settles its own dispute: an authority that is the requester or the provider is skipped when
the authority of a level is chosen, and refused when it tries to decide. When the parties leave no authority
of this node for a level, the step is referred to the higher node (R16): it has no handler here, nobody on
this node decides it, and it is never overdue here."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, region_prefix, require_own_department, require_role
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, Forbidden, ValidationFailed, found
from govshare.notify.service import Audience
from govshare.orgs.models import Department, Role
from govshare.sharing import service
from govshare.sharing.models import DisputeStep, ShareRequest
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import (
    DECISION_OUTCOME,
    DISPUTE_ORDER,
    GRANTED,
    DisputeLevel,
    DisputeStatus,
    GrantEndReason,
    GrantStatus,
    RequestStatus,
)
from govshare.workdays import service as workdays

S = RequestStatus
ESCALATABLE = {S.REFUSED, S.PARTLY_APPROVED}


def steps(session: Session, actor: Actor, request_id: int) -> list[DisputeStep]:
    service.get_request(session, actor, request_id)
    return _steps(session, request_id)


def _steps(session: Session, request_id: int) -> list[DisputeStep]:
    return list(session.scalars(select(DisputeStep).where(DisputeStep.request_id == request_id)
                                .order_by(DisputeStep.id)))


def get_step(session: Session, actor: Actor, step_id: int) -> DisputeStep:
    step = found(session.get(DisputeStep, step_id), f"争议不存在：{step_id}", "step_id")
    service.get_request(session, actor, step.request_id)  # readable only with its request
    return step


# who decides a step of each level (R08): the provider's reviewer negotiates, authority reviewers settle
DECIDED_BY = {
    DisputeLevel.NEGOTIATION: Role.DEPT_REVIEWER,
    DisputeLevel.AUTHORITY: Role.AUTHORITY_REVIEWER,
    DisputeLevel.HIGHER_AUTHORITY: Role.AUTHORITY_REVIEWER,
}


def list_open_steps(session: Session, actor: Actor) -> list[DisputeStep]:
    """The open steps the actor must decide: of its department, at the levels its role decides (a department
    reviewer of a competent authority is not shown the authority's settlements), never a settlement of a
    dispute its department is a party of (which `decide` refuses). A step referred to the higher node is not
    open and has no handler here."""
    levels = [level.value for level, role in DECIDED_BY.items() if actor.is_system or actor.has(role)]
    party = or_(ShareRequest.requester_id == actor.department_id, ShareRequest.provider_id == actor.department_id)
    return list(session.scalars(_open_in_dispute().where(DisputeStep.handler_id == actor.department_id,
                                                         DisputeStep.level.in_(levels),
                                                         or_(DisputeStep.level == DisputeLevel.NEGOTIATION, ~party))
                                .order_by(DisputeStep.due)))


def _open_in_dispute():
    """Open steps of requests still in dispute (a request that left it, e.g. its grant revoked or expired
    meanwhile, leaves nothing for the handler to decide)."""
    return (select(DisputeStep).join(ShareRequest, ShareRequest.id == DisputeStep.request_id)
            .where(DisputeStep.status == DisputeStatus.OPEN, ShareRequest.status == S.ESCALATED))


def settling_authorities(session: Session, provider: Department) -> list[Department]:
    """The competent authorities whose area covers the provider, nearest first: the same-level one, then
    the higher level (e.g. 合肥市数据资源局, then 省数据局)."""
    authorities = session.scalars(select(Department).where(Department.is_competent_authority.is_(True)))
    covering = [a for a in authorities if provider.region_code.startswith(region_prefix(a.region_code))]
    return sorted(covering, key=lambda a: len(region_prefix(a.region_code)), reverse=True)


def parties(request: ShareRequest) -> set[int]:
    """The departments of the dispute: the requester and the provider. Neither settles it."""
    return {request.requester_id, request.provider_id}


def _handler(session: Session, request: ShareRequest, level: DisputeLevel) -> Department | None:
    """Who settles a step of `level`: the provider negotiates; the authority level goes to the nearest covering
    authority that is not a party, the higher level to the next one above it (not a party either). None: the
    parties leave no authority of this node for the level, the step goes to the higher node (R16). A node that
    simply has no authority at that level (a provincial provider's higher level) refuses the escalation."""
    if level == DisputeLevel.NEGOTIATION:
        return request.provider
    covering = settling_authorities(session, request.provider)
    neutral = [a for a in covering if a.id not in parties(request)]
    index = 0 if level == DisputeLevel.AUTHORITY else 1
    if len(neutral) > index:
        return neutral[index]
    if len(neutral) < len(covering):  # an authority of the chain was skipped as a party
        return None
    raise ValidationFailed(f"没有可受理“{level.label}”的主管部门", field="level")


def working_days_for(session: Session, level: DisputeLevel) -> int:
    settings = settings_of(session)
    return {
        DisputeLevel.NEGOTIATION: settings.negotiation_working_days,
        DisputeLevel.AUTHORITY: settings.authority_working_days,
        DisputeLevel.HIGHER_AUTHORITY: settings.higher_authority_working_days,
    }[level]


def _next_level(session: Session, request: ShareRequest, today) -> tuple[DisputeLevel, str, DisputeStep | None]:
    """The level the next step goes to, the status to fall back to, and an open step it replaces."""
    history = _steps(session, request.id)
    if not history:
        # past its reply deadline today, or already marked overdue by the job (which told the requester so)
        marked = request.status == S.SUBMITTED and request.overdue_at is not None
        overdue = service.is_overdue(request, today) or marked
        if S(request.status) not in ESCALATABLE and not overdue:
            raise service.illegal_transition(
                f"只有不予同意、部分同意或逾期未答复的申请可以提起争议，当前状态：{S(request.status).label}",
                request.status)
        return DisputeLevel.NEGOTIATION, request.status, None
    last = history[-1]
    level = DisputeLevel(last.level)
    if last.status == DisputeStatus.OPEN and request.status == S.ESCALATED:
        if today <= last.due:
            raise Conflict(f"“{level.label}”尚在办理期限内（{last.due}），期满未决方可上提", field="status")
        replaced = last
    elif last.status == DisputeStatus.DECIDED and S(request.status) in ESCALATABLE:
        replaced = None
    elif last.status == DisputeStatus.REFERRED and request.status == S.ESCALATED:
        raise Conflict(f"“{level.label}”已报上级节点处理，本节点不能再上提", field="status")
    else:
        raise service.illegal_transition(f"申请当前状态为“{S(request.status).label}”，不能再提起争议", request.status)
    position = DISPUTE_ORDER.index(level)
    if position + 1 >= len(DISPUTE_ORDER):
        raise Conflict("上级主管部门的裁决为最终决定，不能再上提", field="level")
    return DISPUTE_ORDER[position + 1], last.prior_status if replaced else request.status, replaced


def escalate(session: Session, actor: Actor, request_id: int, reason: str) -> DisputeStep:
    """The requester takes the request to the next dispute step (R08)."""
    request = service.locked_request(session, request_id)
    require_role(actor, *service.REQUEST_ROLES, action="提起争议")
    require_own_department(actor, request.requester_id, action="提起争议")
    if not (reason or "").strip():
        raise ValidationFailed("提起争议必须说明理由", field="reason")
    today = workdays.local_today(session)
    level, prior, replaced = _next_level(session, request, today)
    handler = _handler(session, request, level)
    if replaced is not None:
        replaced.status = DisputeStatus.LAPSED.value
    else:
        service.move(session, request, S.ESCALATED, actor, "escalated", reason=reason, detail={"level": level.value})
    due = workdays.deadline(session, today, working_days_for(session, level))
    status = DisputeStatus.OPEN if handler is not None else DisputeStatus.REFERRED
    step = DisputeStep(request_id=request.id, level=level.value, handler_id=handler.id if handler else None,
                       status=status.value, prior_status=prior, reason=reason, due=due.due,
                       due_estimated=due.estimated, opened_by_id=actor.user_id)
    session.add(step)
    session.flush()
    if replaced is not None:
        service.record(session, request, actor, "escalated", reason=reason, detail={"level": level.value})
    if handler is None:
        _refer(session, actor, request, step)
        return step
    service.tell(session, request, "dispute.opened", f"共享争议（{level.label}）：{request.entry.name}",
                 [_handler_audience(step), service.provider_audience(request), service.requester_audience(request)],
                 body=f"{reason}。办理期限：{due.due}。{due.warning}")
    return step


def _refer(session: Session, actor: Actor, request: ShareRequest, step: DisputeStep) -> None:
    """The step goes to the higher node (R16): on the request's record and told to both parties."""
    level = DisputeLevel(step.level)
    why = (f"本节点除争议双方外没有可受理“{level.label}”的主管部门，争议一方不能办理本方的争议，"
           f"该环节报上级节点处理（R16），本节点不作决定")
    service.record(session, request, actor, "dispute_referred", reason=why, detail={"level": level.value})
    service.tell(session, request, "dispute.referred",
                 f"共享争议报上级节点处理（{level.label}）：{request.entry.name}",
                 [service.provider_audience(request), service.requester_audience(request)],
                 body=f"{step.reason}。{why}。")


def _handler_audience(step: DisputeStep) -> Audience:
    roles = (Role.DEPT_REVIEWER,) if step.level == DisputeLevel.NEGOTIATION else (Role.AUTHORITY_REVIEWER,)
    return Audience(step.handler_id, roles=roles)


def _require_handler(actor: Actor, step: DisputeStep, request: ShareRequest) -> None:
    if actor.is_system:
        return
    action = "办理争议协商" if step.level == DisputeLevel.NEGOTIATION else "协调裁决共享争议"
    require_role(actor, DECIDED_BY[DisputeLevel(step.level)], action=action)
    if step.level != DisputeLevel.NEGOTIATION and actor.department_id in parties(request):
        # whoever the step names (old data may name a party): a party never settles its own dispute
        raise Forbidden("本部门是该争议的当事方（需求部门或提供部门），不能协调裁决本方的争议", field="step_id")
    if actor.department_id != step.handler_id:
        raise Forbidden(f"该争议由{step.handler.name}办理", field="step_id")


def decide(session: Session, actor: Actor, step_id: int, data: ReplyIn) -> DisputeStep:
    """The handler of a step decides; the decision binds the request and its grant."""
    step = found(session.get(DisputeStep, step_id), f"争议不存在：{step_id}", "step_id")
    request = service.locked_request(session, step.request_id)
    # OF: the handler is outer-joined (a referred step has none), and PostgreSQL locks no outer join's nullable side
    session.refresh(step, with_for_update={"of": DisputeStep})
    if step.status == DisputeStatus.REFERRED:
        raise service.illegal_transition(
            f"“{DisputeLevel(step.level).label}”已报上级节点处理，本节点任何部门都不能作出决定", step.status,
            DisputeStatus.REFERRED.label)
    _require_handler(actor, step, request)
    if step.status != DisputeStatus.OPEN:
        raise service.illegal_transition(f"争议状态为“{DisputeStatus(step.status).label}”，不能再作决定", step.status)
    if request.status != S.ESCALATED:
        raise service.illegal_transition(
            f"申请当前状态为“{S(request.status).label}”，争议已终结，不能再作决定", request.status)
    if not data.reason.strip():
        raise ValidationFailed("争议决定必须说明理由", field="reason")
    terms = service.terms_for(session, request, data)
    service.check_decision(data.decision, data.reason, terms, service.Terms.of(request))
    outcome = DECISION_OUTCOME[data.decision]
    if outcome in GRANTED and service.stopped_service(session, request.entry_id, workdays.local_today(session)):
        raise ValidationFailed(f"“{request.entry.name}”的共享服务已经主管部门批准停止，不能再予同意", field="entry_id")
    step.status, step.decision, step.decision_reason = DisputeStatus.DECIDED.value, data.decision.value, data.reason
    step.decision_terms = service._terms_detail(data.decision, terms)
    step.decided_by_id, step.decided_at = actor.user_id, utcnow()
    service.move(session, request, outcome, actor, "dispute_decided", reason=data.reason,
                 detail={"level": step.level, **step.decision_terms})
    request.decision, request.decision_reason = data.decision.value, data.reason
    request.decided_by_id, request.decided_at = step.decided_by_id, step.decided_at
    _bind(session, actor, request, outcome, terms, data.rate_limit)
    service.tell(session, request, "dispute.decided", f"争议已决定（{outcome.label}）：{request.entry.name}",
                 [service.requester_audience(request), service.provider_audience(request)], body=data.reason)
    return step


def _bind(session: Session, actor: Actor, request: ShareRequest, outcome: RequestStatus, terms, rate_limit) -> None:
    grant = service.grant_of(session, request.id)
    if outcome in GRANTED:
        rate = rate_limit or (grant.rate_limit if grant else settings_of(session).default_rate_limit)
        service.bind_grant(session, request, terms, rate)
    elif grant is not None and grant.status != GrantStatus.ENDED:
        # the request already moved to refused; the grant ends with it, on the record and told
        grant.status, grant.end_reason, grant.ended_at = GrantStatus.ENDED.value, GrantEndReason.REVOKED.value, utcnow()
        service.record(session, request, actor, "grant_revoked", reason="争议决定不予同意",
                       detail={"grant_id": grant.id})
        service.tell(session, request, "grant.ended", f"共享授权已终止（争议决定不予同意）：{request.entry.name}",
                     [service.requester_audience(request), service.provider_audience(request)],
                     body="请需求部门删除已获取的数据并在平台确认删除。")


def withdraw(session: Session, actor: Actor, request: ShareRequest, reason: str) -> ShareRequest:
    """The requester drops its dispute: a partly approved request keeps what was granted; otherwise the
    request is withdrawn."""
    pending = (DisputeStatus.OPEN, DisputeStatus.REFERRED)
    open_steps = [s for s in _steps(session, request.id) if s.status in pending]
    for step in open_steps:
        step.status = DisputeStatus.WITHDRAWN.value
    prior = S(open_steps[-1].prior_status) if open_steps else S.REFUSED
    target = prior if prior in GRANTED else S.WITHDRAWN
    service.move(session, request, target, actor, "dispute_withdrawn", reason=reason)
    service.tell(session, request, "dispute.withdrawn", f"共享争议已撤回：{request.entry.name}",
                 [service.provider_audience(request)]
                 + [_handler_audience(s) for s in open_steps if s.handler_id is not None], body=reason)
    return request


def mark_overdue_steps(session: Session, today) -> int:
    """Marks open steps past their deadline and tells the parties; the requester may then go up a level."""
    late = list(session.scalars(_open_in_dispute().where(DisputeStep.overdue_at.is_(None), DisputeStep.due < today)))
    count = 0
    for step in late:
        step.overdue_at = utcnow()
        request = session.get(ShareRequest, step.request_id)
        service.record(session, request, Actor.system(), "dispute_overdue", detail={"level": step.level})
        service.tell(session, request, "dispute.overdue",
                     f"共享争议逾期未决（{DisputeLevel(step.level).label}）：{request.entry.name}",
                     [_handler_audience(step), service.requester_audience(request)],
                     body=f"办理期限为 {step.due}，需求部门可以提请上一级处理。")
        count += 1
    return count

