"""Disputes (R08): negotiation with the provider, then the same-level competent authority, then the higher
level; each step has its own deadline and its decision binds the request and its grant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from govshare.authz import Actor
from govshare.config import settings_of
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.notify.models import Notification
from govshare.orgs import service as orgs
from govshare.orgs import systems
from govshare.orgs.models import Role
from govshare.sharing import disputes
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import DisputeLevel, DisputeStatus, GrantStatus, RequestStatus
from govshare.workdays import service as workdays
from tests.factories import PASSWORD, SYSTEM, consumer_system, published_entry, submitted_request

S = RequestStatus


def _notified(session, user_id: int, event: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.event == event))


def _refused(session, world, entry=None, reviewer: Actor | None = None, **overrides):
    request = submitted_request(session, world, entry=entry, **overrides)
    sharing.reply(session, reviewer or world.actors["police_reviewer"], request.id,
                  ReplyIn(decision="refuse", reason="申请用途与所需信息项不符"))
    assert request.status == S.REFUSED
    return request


def _partly_approved(session, world, **overrides):
    request = submitted_request(session, world, **overrides)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(
        decision="approve_in_part", item_ids=request.item_ids[:2], reason="户籍地址不属于低保审核的必要信息",
        rate_limit=7))
    assert request.status == S.PARTLY_APPROVED
    return request


def _user(session, world, username: str, department: str, role: Role) -> Actor:
    user = orgs.create_user(session, SYSTEM, username=username, password=PASSWORD, role=role.value,
                            department_id=world.ids[department])
    session.flush()
    return Actor.from_user(user)


def _city_entry(session, world):
    """An entry of 合肥市民政局 (a city provider), with a reviewer of that department to reply."""
    reviewer = _user(session, world, "city_civil_reviewer", "city_civil", Role.DEPT_REVIEWER)
    entry = published_entry(session, world, manager="city_civil_manager", name="最低生活保障对象信息")
    return entry, reviewer


def _due(session, level_days: int):
    return workdays.deadline(session, workdays.local_today(session), level_days).due


def _decide(session, actor: Actor, step, decision="refuse", reason="经协商，维持原答复", **terms):
    return disputes.decide(session, actor, step.id, ReplyIn(decision=decision, reason=reason, **terms))


# ---------------------------------------------------------------- the path of a dispute


def test_r08_refused_request_goes_to_negotiation_then_the_same_level_authority(session, world):
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    settings = settings_of(session)

    step = disputes.escalate(session, requester, request.id, "低保审核为法定职责，所需信息项均为必要")
    assert request.status == S.ESCALATED
    assert (step.level, step.status, step.prior_status) == (DisputeLevel.NEGOTIATION, DisputeStatus.OPEN, "refused")
    assert step.handler_id == world.ids["police"]
    assert step.due == _due(session, settings.negotiation_working_days)
    assert _notified(session, world.ids["user:police_reviewer"], "dispute.opened") == 1

    # only the provider's reviewer decides the negotiation
    for who in ("police_manager", "reviewer", "civil_requester"):
        with pytest.raises(Forbidden):
            disputes.decide(session, world.actors[who], step.id, ReplyIn(decision="approve", reason="同意"))
    assert step.status == DisputeStatus.OPEN

    disputes.decide(session, world.actors["police_reviewer"], step.id,
                    ReplyIn(decision="refuse", reason="经协商，仍认为户籍地址非必要"))
    assert step.status == DisputeStatus.DECIDED and step.decided_by_id == world.ids["user:police_reviewer"]
    assert request.status == S.REFUSED and sharing.grant_of(session, request.id) is None

    # the same-level competent authority of a provincial department is 省数据局
    second = disputes.escalate(session, requester, request.id, "协商未果，提请主管部门协调")
    assert request.status == S.ESCALATED
    assert (second.level, second.handler_id) == (DisputeLevel.AUTHORITY, world.ids["authority"])
    assert second.due == _due(session, settings.authority_working_days)
    assert _notified(session, world.ids["user:reviewer"], "dispute.opened") == 1
    for who in ("police_reviewer", "city_reviewer", "other_reviewer"):
        with pytest.raises(Forbidden):
            disputes.decide(session, world.actors[who], second.id, ReplyIn(decision="approve", reason="同意"))

    disputes.decide(session, world.actors["reviewer"], second.id,
                    ReplyIn(decision="approve", reason="低保审核确需户籍信息", rate_limit=5))
    assert request.status == S.APPROVED
    grant = sharing.grant_of(session, request.id)
    assert grant.status == GrantStatus.ACTIVE and grant.item_ids == request.item_ids and grant.rate_limit == 5
    assert second.decision_terms["item_ids"] == request.item_ids
    assert _notified(session, world.ids["user:civil_requester"], "dispute.decided") == 2

    # an approved request is no longer in dispute
    with pytest.raises(Conflict) as error:
        disputes.escalate(session, requester, request.id, "再议")
    assert error.value.extra["current_status"] == "approved"
    actions = [e.action for e in sharing.history(session, requester, request.id)]
    assert actions[-4:] == ["escalated", "dispute_decided", "escalated", "dispute_decided"]


def test_r08_a_refusal_decided_by_the_authority_refuses_the_request(session, world):
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    _decide(session, world.actors["police_reviewer"], disputes.escalate(session, requester, request.id, "申请复议"))
    step = disputes.escalate(session, requester, request.id, "提请协调")
    with pytest.raises(ValidationFailed) as error:
        disputes.decide(session, world.actors["reviewer"], step.id, ReplyIn(decision="refuse", reason=" "))
    assert error.value.field == "reason"
    disputes.decide(session, world.actors["reviewer"], step.id, ReplyIn(decision="refuse", reason="用途超出履职范围"))
    assert request.status == S.REFUSED and request.decision_reason == "用途超出履职范围"
    assert sharing.grant_of(session, request.id) is None
    # a provincial provider has no higher-level authority on this node: the escalation is refused, no step opened
    with pytest.raises(ValidationFailed) as error:
        disputes.escalate(session, requester, request.id, "提请上级裁决")
    assert error.value.field == "level"
    assert request.status == S.REFUSED and len(disputes.steps(session, requester, request.id)) == 2


def test_r08_a_dispute_decided_for_a_verification_only_entry_grants_verification_only(session, world):
    """Issue 14: an entry shared by 核验 gives only verify-only grants; an authority approving in a dispute (all
    items, or some) does not open the data itself."""
    entry = published_entry(session, world, name="婚姻登记信息", share_method="核验")
    request = _refused(session, world, entry=entry, verify_only=True)
    requester = world.actors["civil_requester"]
    _decide(session, world.actors["police_reviewer"], disputes.escalate(session, requester, request.id, "申请复议"))
    step = disputes.escalate(session, requester, request.id, "提请协调")
    _decide(session, world.actors["reviewer"], step, decision="approve_in_part", reason="核验婚姻状况属履职所需",
            item_ids=request.item_ids[:2])
    grant = sharing.grant_of(session, request.id)
    assert request.status == S.PARTLY_APPROVED and request.verify_only
    assert (grant.verify_only, grant.share_method, grant.item_ids) == (True, "verify", request.item_ids[:2])


def test_r08_city_provider_dispute_goes_to_the_city_authority_then_the_province(session, world):
    entry, city_provider = _city_entry(session, world)
    request = _refused(session, world, entry=entry, reviewer=city_provider)
    requester = world.actors["civil_requester"]
    settings = settings_of(session)

    negotiation = disputes.escalate(session, requester, request.id, "申请协商")
    assert negotiation.handler_id == world.ids["city_civil"]
    with pytest.raises(Forbidden):  # another department's reviewer
        disputes.decide(session, world.actors["police_reviewer"], negotiation.id,
                        ReplyIn(decision="approve", reason="同意"))
    _decide(session, city_provider, negotiation)

    same_level = disputes.escalate(session, requester, request.id, "提请本级主管部门协调")
    assert (same_level.level, same_level.handler_id) == (DisputeLevel.AUTHORITY, world.ids["city_authority"])
    with pytest.raises(Forbidden):  # the province is the higher level, not this step's handler
        disputes.decide(session, world.actors["reviewer"], same_level.id, ReplyIn(decision="approve", reason="同意"))
    _decide(session, world.actors["city_reviewer"], same_level, reason="维持原答复")
    assert request.status == S.REFUSED

    higher = disputes.escalate(session, requester, request.id, "提请上级主管部门裁决")
    assert (higher.level, higher.handler_id) == (DisputeLevel.HIGHER_AUTHORITY, world.ids["authority"])
    assert higher.due == _due(session, settings.higher_authority_working_days)
    for who in ("city_reviewer", "other_reviewer"):
        with pytest.raises(Forbidden):
            disputes.decide(session, world.actors[who], higher.id, ReplyIn(decision="approve", reason="同意"))
    fewer = request.item_ids[:2]
    disputes.decide(session, world.actors["reviewer"], higher.id,
                    ReplyIn(decision="approve_in_part", item_ids=fewer, reason="仅姓名和身份号码为必要信息"))
    assert request.status == S.PARTLY_APPROVED
    assert sharing.grant_of(session, request.id).item_ids == fewer

    # the higher level's decision is final
    with pytest.raises(Conflict) as error:
        disputes.escalate(session, requester, request.id, "仍不服")
    assert error.value.status_code == 409
    assert request.status == S.PARTLY_APPROVED and len(disputes.steps(session, requester, request.id)) == 3


# ---------------------------------------------------------------- unanswered requests


def test_r08_an_unanswered_request_can_be_escalated_only_once_overdue(session, world):
    request = submitted_request(session, world)
    requester = world.actors["civil_requester"]
    with pytest.raises(Conflict) as error:
        disputes.escalate(session, requester, request.id, "迟迟未答复")
    assert error.value.extra["current_status"] == "submitted"
    assert request.status == S.SUBMITTED and disputes.steps(session, requester, request.id) == []

    request.reply_due = workdays.local_today(session) - timedelta(days=1)
    step = disputes.escalate(session, requester, request.id, "逾期未答复")
    assert request.status == S.ESCALATED and step.prior_status == "submitted"
    assert step.handler_id == world.ids["police"]

    disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="approve", reason="同意提供"))
    assert request.status == S.APPROVED
    assert sharing.grant_of(session, request.id).item_ids == request.item_ids


def test_r08_a_request_marked_overdue_by_the_job_can_be_escalated(session, world):
    request = submitted_request(session, world)
    assert sharing.mark_overdue(session, request.reply_due + timedelta(days=1)) == 1
    assert _notified(session, world.ids["user:civil_requester"], "request.overdue") == 1
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "逾期未答复")
    assert request.status == S.ESCALATED and step.level == DisputeLevel.NEGOTIATION


def test_r08_withdrawing_a_dispute_over_an_unanswered_request_withdraws_it(session, world):
    request = submitted_request(session, world)
    request.reply_due = workdays.local_today(session) - timedelta(days=1)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "逾期未答复")
    sharing.withdraw_request(session, world.actors["civil_requester"], request.id, "已通过其他途径解决")
    assert request.status == S.WITHDRAWN and step.status == DisputeStatus.WITHDRAWN
    assert disputes.list_open_steps(session, world.actors["police_reviewer"]) == []


# ---------------------------------------------------------------- partly approved: the grant during a dispute


def test_r08_partly_approved_request_keeps_its_grant_and_the_decision_updates_it(session, world):
    system, secret = consumer_system(session, world)
    request = _partly_approved(session, world, system=system)
    grant = sharing.grant_of(session, request.id)
    caller = systems.authenticate_system(session, system.client_id, secret)

    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "户籍地址为核对户籍所必需")
    assert request.status == S.ESCALATED and step.prior_status == "partly_approved"
    assert grant.status == GrantStatus.ACTIVE
    assert sharing.grant_refusal(grant, caller.id, grant.period_start) is None  # still usable while in dispute

    disputes.decide(session, world.actors["police_reviewer"], step.id,
                    ReplyIn(decision="approve", reason="经协商同意提供户籍地址"))
    assert request.status == S.APPROVED
    bound = sharing.grant_of(session, request.id)
    assert bound.id == grant.id and bound.item_ids == request.item_ids
    assert bound.status == GrantStatus.ACTIVE and bound.rate_limit == 7  # terms of the same grant, rate kept


def test_r08_a_refusal_in_the_dispute_ends_the_partly_approved_grant(session, world):
    request = _partly_approved(session, world)
    grant = sharing.grant_of(session, request.id)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "要求全部信息项")
    _decide(session, world.actors["police_reviewer"], step, reason="复核后认为该用途不应共享")
    assert request.status == S.REFUSED
    assert grant.status == GrantStatus.ENDED and grant.end_reason == "revoked"


def test_r08_withdrawing_the_dispute_restores_partly_approved_with_its_grant(session, world):
    request = _partly_approved(session, world)
    grant = sharing.grant_of(session, request.id)
    requester = world.actors["civil_requester"]
    first = disputes.escalate(session, requester, request.id, "要求全部信息项")
    first.due = workdays.local_today(session) - timedelta(days=1)  # negotiation lapsed: go up a level
    second = disputes.escalate(session, requester, request.id, "协商逾期未决")
    assert second.prior_status == "partly_approved"

    sharing.withdraw_request(session, requester, request.id, "接受部分同意")
    assert request.status == S.PARTLY_APPROVED
    assert second.status == DisputeStatus.WITHDRAWN and first.status == DisputeStatus.LAPSED
    assert sharing.grant_of(session, request.id).id == grant.id and grant.status == GrantStatus.ACTIVE
    assert grant.item_ids == request.item_ids[:2]
    assert disputes.list_open_steps(session, world.actors["reviewer"]) == []


# ---------------------------------------------------------------- deadlines of the steps


def test_r08_an_open_step_cannot_be_skipped_before_its_due_date(session, world):
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    step = disputes.escalate(session, requester, request.id, "申请协商")
    with pytest.raises(Conflict) as error:
        disputes.escalate(session, requester, request.id, "直接提请主管部门")
    assert error.value.status_code == 409 and str(step.due) in error.value.message
    assert step.status == DisputeStatus.OPEN and len(disputes.steps(session, requester, request.id)) == 1

    step.due = workdays.local_today(session) - timedelta(days=1)
    upper = disputes.escalate(session, requester, request.id, "协商逾期未决")
    assert step.status == DisputeStatus.LAPSED
    assert (upper.level, upper.status, upper.prior_status) == (DisputeLevel.AUTHORITY, DisputeStatus.OPEN, "refused")
    assert request.status == S.ESCALATED
    # the lapsed step can no longer be decided by the provider
    with pytest.raises(Conflict):
        disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="approve", reason="同意"))
    assert [s.id for s in disputes.list_open_steps(session, world.actors["reviewer"])] == [upper.id]


def test_r08_a_department_reviewer_of_an_authority_is_not_listed_the_authoritys_settlements(session, world):
    """The 争议处理 list showed 合肥市数据资源局's own department reviewer the steps its authority reviewers
    settle; opening one answered 404. Each role is listed the levels it decides, and nothing else."""
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    step = disputes.escalate(session, requester, request.id, "申请协商")
    step.due = workdays.local_today(session) - timedelta(days=1)
    upper = disputes.escalate(session, requester, request.id, "协商逾期未决")
    own_reviewer = Actor.from_user(orgs.create_user(
        session, SYSTEM, username="authority_dept_reviewer", password=PASSWORD, role=Role.DEPT_REVIEWER.value,
        department_id=world.ids["authority"]))
    assert upper.handler_id == own_reviewer.department_id  # the same department handles the step …
    assert disputes.list_open_steps(session, own_reviewer) == []  # … but not this role
    assert [s.id for s in disputes.list_open_steps(session, world.actors["reviewer"])] == [upper.id]
    with pytest.raises(Forbidden):
        disputes.decide(session, own_reviewer, upper.id, ReplyIn(decision="approve", reason="同意"))


def test_r08_overdue_steps_are_marked_and_the_parties_told_once(session, world):
    request = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    assert disputes.mark_overdue_steps(session, step.due) == 0  # due today: not late yet
    assert step.overdue_at is None
    assert disputes.mark_overdue_steps(session, step.due + timedelta(days=1)) == 1
    assert step.overdue_at is not None
    assert disputes.mark_overdue_steps(session, step.due + timedelta(days=2)) == 0
    assert _notified(session, world.ids["user:civil_requester"], "dispute.overdue") == 1
    assert _notified(session, world.ids["user:police_reviewer"], "dispute.overdue") == 1
    assert "dispute_overdue" in [e.action for e in sharing.history(session, world.actors["civil_requester"],
                                                                     request.id)]


# ---------------------------------------------------------------- who may do what


def test_r08_only_the_requester_escalates_and_with_a_reason(session, world):
    request = _refused(session, world)
    other_requester = _user(session, world, "city_civil_requester", "city_civil", Role.REQUESTER)
    for actor in (world.actors["police_reviewer"], world.actors["reviewer"], other_requester):
        with pytest.raises(Forbidden):
            disputes.escalate(session, actor, request.id, "代为提起争议")
    with pytest.raises(ValidationFailed) as error:
        disputes.escalate(session, world.actors["civil_requester"], request.id, "  ")
    assert error.value.field == "reason"
    assert request.status == S.REFUSED


def test_r08_a_decided_step_cannot_be_decided_again(session, world):
    request = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    with pytest.raises(ValidationFailed) as error:  # even an approval needs its reason
        disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="approve"))
    assert error.value.field == "reason"
    with pytest.raises(Forbidden):
        disputes.decide(session, world.actors["civil_requester"], step.id, ReplyIn(decision="approve", reason="同意"))
    _decide(session, world.actors["police_reviewer"], step)
    with pytest.raises(Conflict) as error:
        disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="approve", reason="改判"))
    assert error.value.extra["current_status"] == "decided"
    assert request.status == S.REFUSED and sharing.grant_of(session, request.id) is None


def test_r08_steps_are_read_only_with_their_request(session, world):
    request = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    assert disputes.get_step(session, world.actors["police_reviewer"], step.id).id == step.id
    for who in ("city_civil_manager", "other_reviewer"):
        with pytest.raises(NotFound):
            disputes.get_step(session, world.actors[who], step.id)


# ---------------------------------------------------------------- the API


def test_r08_dispute_through_the_api(db, world, client):
    with db.session() as s:
        refused = _refused(s, world).id
        entry = published_entry(s, world, name="居民户籍变动信息")
        system, _ = consumer_system(s, world, name="救助核对系统")
        pending = submitted_request(s, world, entry=entry, system=system).id
    requester, provider, authority = (world.headers(k) for k in ("civil_requester", "police_reviewer", "reviewer"))

    response = client.post(f"/api/v1/sharing/requests/{pending}/escalate", json={"reason": "未答复"}, headers=requester)
    assert response.status_code == 409 and response.json()["error"]["current_status"] == "submitted"

    response = client.post(f"/api/v1/sharing/requests/{refused}/escalate", json={"reason": "申请协商"},
                           headers=provider)
    assert response.status_code == 403
    response = client.post(f"/api/v1/sharing/requests/{refused}/escalate", json={"reason": "申请协商"},
                           headers=requester)
    assert response.status_code == 201
    step = response.json()
    assert step["level"] == "negotiation" and step["status"] == "open" and step["handler_name"] == "省公安厅"

    assert [s["id"] for s in client.get("/api/v1/sharing/disputes", headers=provider).json()] == [step["id"]]
    assert client.get("/api/v1/sharing/disputes", headers=authority).json() == []
    assert client.get(f"/api/v1/sharing/requests/{refused}", headers=requester).json()["status"] == "escalated"

    decide = f"/api/v1/sharing/disputes/{step['id']}/decide"
    assert client.post(decide, json={"decision": "approve", "reason": "同意"}, headers=requester).status_code == 403
    response = client.post(decide, json={"decision": "refuse"}, headers=provider)
    assert response.status_code == 422 and response.json()["error"]["field"] == "reason"
    response = client.post(decide, json={"decision": "refuse", "reason": "维持原答复"}, headers=provider)
    assert response.status_code == 200 and response.json()["status"] == "decided"
    response = client.post(decide, json={"decision": "approve", "reason": "改判"}, headers=provider)
    assert response.status_code == 409

    response = client.post(f"/api/v1/sharing/requests/{refused}/escalate", json={"reason": "提请协调"},
                           headers=requester)
    assert response.status_code == 201 and response.json()["level"] == "authority"
    second = response.json()["id"]
    assert [s["id"] for s in client.get("/api/v1/sharing/disputes", headers=authority).json()] == [second]
    assert client.get("/api/v1/sharing/disputes", headers=provider).json() == []
    assert client.post(f"/api/v1/sharing/disputes/{second}/decide", json={"decision": "approve", "reason": "同意"},
                       headers=world.headers("other_reviewer")).status_code == 403
    response = client.post(f"/api/v1/sharing/disputes/{second}/decide",
                           json={"decision": "approve", "reason": "属法定职责所需"}, headers=authority)
    assert response.status_code == 200

    body = client.get(f"/api/v1/sharing/requests/{refused}", headers=requester).json()
    assert body["status"] == "approved" and body["grant_id"] is not None
    history = client.get(f"/api/v1/sharing/requests/{refused}/disputes", headers=requester).json()
    assert [(s["level"], s["status"]) for s in history] == [("negotiation", "decided"), ("authority", "decided")]


def test_r08_a_dispute_closed_by_the_grant_ending_leaves_no_open_work(session, world):
    """The provider revokes the partly approved grant while it is in dispute: the request is revoked, the
    handler no longer sees the step, the job does not nag about it and it cannot be taken further."""
    request = _partly_approved(session, world)
    requester = world.actors["civil_requester"]
    step = disputes.escalate(session, requester, request.id, "要求全部信息项")
    sharing.revoke_grant(session, world.actors["police_reviewer"], sharing.grant_of(session, request.id).id,
                         "该系统存在越权调用")
    assert request.status == S.REVOKED
    assert disputes.list_open_steps(session, world.actors["police_reviewer"]) == []
    assert disputes.mark_overdue_steps(session, step.due + timedelta(days=1)) == 0
    step.due = workdays.local_today(session) - timedelta(days=1)
    with pytest.raises(Conflict) as error:
        disputes.escalate(session, requester, request.id, "协商逾期")
    assert error.value.extra["current_status"] == "revoked"
    with pytest.raises(Conflict) as error:
        disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="approve", reason="同意"))
    assert error.value.extra["current_status"] == "withdrawn"  # ending the grant closed the step
    assert request.status == S.REVOKED and len(disputes.steps(session, requester, request.id)) == 1


def test_r08_the_dispute_decision_is_recorded_on_the_request(session, world):
    request = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="approve", reason="协商一致"))
    assert (request.decision, request.decision_reason) == ("approve", "协商一致")
    assert request.decided_by_id == world.ids["user:police_reviewer"] and request.decided_at == step.decided_at
