"""A party never settles its own dispute (issue 12; R08, R16).

Reported: 省数据局 requested 省民政厅's data and was refused; its escalation went to 省数据局 itself and its
own authority reviewer approved it, which created a grant. Now the authority of a level is the nearest covering
competent authority that is neither the requester nor the provider (the higher level: the next one above it);
when the parties leave none on this node the step is referred to the higher node (status `referred`, R16): no
local handler, nobody here decides it, never overdue here, and the parties are told. Deciding an authority
step is refused to a party's department whatever the step names (old data)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from govshare.authz import Actor
from govshare.errors import Conflict, Forbidden, ValidationFailed
from govshare.notify.models import Notification
from govshare.orgs import service as orgs
from govshare.orgs.models import Role
from govshare.sharing import disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import DisputeStep
from govshare.sharing.schemas import ReplyIn
from tests.factories import PASSWORD, SYSTEM, published_entry, submitted_request
from tests.web_helpers import token, visible_text

REFERRED = "referred"  # DisputeStatus.REFERRED, spelled out so that this file also runs (and fails) on old code
REFERRED_LABEL = "报上级节点处理"


def _user(session, world, username: str, department: str, role: Role) -> Actor:
    user = orgs.create_user(session, SYSTEM, username=username, password=PASSWORD, role=role.value,
                            department_id=world.ids[department])
    session.flush()
    world.ids[f"user:{username}"] = user.id
    world.tokens[username] = orgs.login(session, username, PASSWORD, session_hours=1)
    world.actors[username] = Actor.from_user(user)
    return world.actors[username]


def _notified(session, user_id: int, event: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.event == event))


def _decide(session, actor: Actor, step, decision="refuse", reason="维持原答复"):
    return disputes.decide(session, actor, step.id, ReplyIn(decision=decision, reason=reason))


def _raised(error_type, call, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        call(*args, **kwargs)
    return raised.value


def _authority_asks_civil(session, world):
    """省数据局 (the province's competent authority, the top of this node) asks 省民政厅 for its data; 省民政厅
    refuses, then keeps its refusal in negotiation. Returns the request, ready for the authority level."""
    _user(session, world, "authority_requester", "authority", Role.REQUESTER)
    civil_reviewer = _user(session, world, "civil_reviewer", "civil", Role.DEPT_REVIEWER)
    entry = published_entry(session, world, manager="civil_manager", name="社会救助对象信息")
    request = submitted_request(session, world, entry=entry, who="authority_requester")
    sharing.reply(session, civil_reviewer, request.id, ReplyIn(decision="refuse", reason="数据涉及困难群众隐私"))
    negotiation = disputes.escalate(session, world.actors["authority_requester"], request.id, "数据治理确需该数据")
    assert negotiation.handler_id == world.ids["civil"]  # negotiation stays with the provider
    _decide(session, civil_reviewer, negotiation, reason="协商未能达成一致")
    assert request.status == "refused"
    return request


# ---------------------------------------------------------------- the reported case


def test_an_authority_requesters_escalation_does_not_go_to_itself_and_its_reviewer_cannot_decide_it(session, world):
    request = _authority_asks_civil(session, world)
    requester = world.actors["authority_requester"]
    step = disputes.escalate(session, requester, request.id, "请求主管部门协调")

    assert step.handler_id != world.ids["authority"]
    assert (step.level, step.status, step.handler_id) == ("authority", REFERRED, None)
    assert request.status == "escalated"
    # 省数据局's own reviewer — the reported hole — and every other authority or the node operator: refused
    for actor in (world.actors["reviewer"], world.actors["city_reviewer"], world.actors["other_reviewer"], SYSTEM):
        refused = _raised(Conflict, disputes.decide, session, actor, step.id,
                          ReplyIn(decision="approve", reason="同意共享"))
        assert refused.field == "status" and "上级节点" in refused.message
    assert request.status == "escalated" and sharing.grant_of(session, request.id) is None
    assert step.decided_by_id is None

    # nobody here is asked to decide it, and it is never overdue against anyone here
    for who in ("reviewer", "city_reviewer", "civil_reviewer"):
        assert step.id not in [s.id for s in disputes.list_open_steps(session, world.actors[who])]
    assert disputes.mark_overdue_steps(session, step.due + timedelta(days=30)) == 0
    assert step.overdue_at is None
    assert _notified(session, world.ids["user:reviewer"], "dispute.opened") == 0

    # on the record, and the requester (and the provider) told
    history = sharing.history(session, requester, request.id)
    assert [e.action for e in history][-2:] == ["escalated", "dispute_referred"]
    assert "上级节点" in history[-1].reason
    assert _notified(session, world.ids["user:authority_requester"], "dispute.referred") == 1
    assert _notified(session, world.ids["user:civil_reviewer"], "dispute.referred") == 1

    # the requester cannot push it up again on this node, but may still withdraw it
    assert _raised(Conflict, disputes.escalate, session, requester, request.id, "再次上提").field == "status"
    sharing.withdraw_request(session, requester, request.id, "撤回争议")
    assert (request.status, step.status) == ("withdrawn", "withdrawn")


def test_a_party_is_refused_when_an_old_step_names_it_as_handler(session, world):
    """Defence in depth: a step opened by the old code names the party itself; its reviewer still cannot decide
    it, and it is not in that reviewer's list."""
    request = _authority_asks_civil(session, world)
    step = disputes.escalate(session, world.actors["authority_requester"], request.id, "请求主管部门协调")
    step.handler_id, step.status = world.ids["authority"], "open"  # as the old code wrote it
    session.flush()
    session.expire(step)

    refused = _raised(Forbidden, disputes.decide, session, world.actors["reviewer"], step.id,
                      ReplyIn(decision="approve", reason="同意共享"))
    assert refused.field == "step_id" and "当事方" in refused.message
    assert request.status == "escalated" and sharing.grant_of(session, request.id) is None
    assert disputes.list_open_steps(session, world.actors["reviewer"]) == []


# ---------------------------------------------------------------- a provider that is itself the authority


def test_a_provider_that_is_the_authority_is_skipped_and_the_level_above_is_referred(session, world):
    """合肥市数据资源局 provides the data: the same-level step goes to 省数据局 (not to itself); the higher level has
    no authority left on this node and is referred."""
    _user(session, world, "city_authority_manager", "city_authority", Role.CATALOG_MANAGER)
    provider = _user(session, world, "city_authority_dept_reviewer", "city_authority", Role.DEPT_REVIEWER)
    entry = published_entry(session, world, manager="city_authority_manager", name="公共数据目录运行信息")
    request = submitted_request(session, world, entry=entry)
    requester = world.actors["civil_requester"]
    sharing.reply(session, provider, request.id, ReplyIn(decision="refuse", reason="不属于共享范围"))
    _decide(session, provider, disputes.escalate(session, requester, request.id, "申请协商"))

    same_level = disputes.escalate(session, requester, request.id, "请求主管部门协调")
    assert (same_level.level, same_level.status) == ("authority", "open")
    assert same_level.handler_id == world.ids["authority"] != world.ids["city_authority"]
    assert _raised(Forbidden, disputes.decide, session, world.actors["city_reviewer"], same_level.id,
                   ReplyIn(decision="approve", reason="同意")).field == "step_id"
    assert [s.id for s in disputes.list_open_steps(session, world.actors["reviewer"])] == [same_level.id]
    assert disputes.list_open_steps(session, world.actors["city_reviewer"]) == []
    _decide(session, world.actors["reviewer"], same_level, reason="维持不予共享")

    higher = disputes.escalate(session, requester, request.id, "提请上级主管部门裁决")
    assert (higher.level, higher.status, higher.handler_id) == ("higher_authority", REFERRED, None)
    for actor in (world.actors["reviewer"], world.actors["city_reviewer"]):
        assert _raised(Conflict, disputes.decide, session, actor, higher.id,
                       ReplyIn(decision="approve", reason="同意")).field == "status"
    assert request.status == "escalated" and sharing.grant_of(session, request.id) is None


def test_a_provincial_requester_of_a_city_provider_is_not_the_higher_level(session, world):
    """省数据局 asks 合肥市民政局: 合肥市数据资源局 coordinates (it is no party); the higher level would be 省数据局
    itself, so it is referred."""
    _user(session, world, "authority_requester", "authority", Role.REQUESTER)
    provider = _user(session, world, "city_civil_reviewer", "city_civil", Role.DEPT_REVIEWER)
    entry = published_entry(session, world, manager="city_civil_manager", name="最低生活保障对象信息")
    request = submitted_request(session, world, entry=entry, who="authority_requester")
    requester = world.actors["authority_requester"]
    sharing.reply(session, provider, request.id, ReplyIn(decision="refuse", reason="不属于共享范围"))
    _decide(session, provider, disputes.escalate(session, requester, request.id, "申请协商"))
    same_level = disputes.escalate(session, requester, request.id, "请求主管部门协调")
    assert (same_level.status, same_level.handler_id) == ("open", world.ids["city_authority"])
    _decide(session, world.actors["city_reviewer"], same_level)

    higher = disputes.escalate(session, requester, request.id, "提请上级主管部门裁决")
    assert higher.handler_id != world.ids["authority"]
    assert (higher.status, higher.handler_id) == (REFERRED, None)
    assert _raised(Conflict, disputes.decide, session, world.actors["reviewer"], higher.id,
                   ReplyIn(decision="approve", reason="同意")).field == "status"
    assert sharing.grant_of(session, request.id) is None


# ---------------------------------------------------------------- pages and API


def test_a_referred_step_shows_its_chinese_label_and_no_decision_form(db, world, as_user, client):
    with db.session() as s:
        request_id = _authority_asks_civil(s, world).id
    requester = as_user("authority_requester")
    done = requester.post(f"/sharing/requests/{request_id}/escalate",
                          data={"csrf_token": token(requester), "reason": "请求主管部门协调"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?notice=referred")
    page = visible_text(requester.get(done.headers["location"]))
    assert "已报上级节点处理" in page and REFERRED_LABEL in page and "上级节点" in page
    assert "提请上一级处理" not in page  # nothing to push up on this node

    reviewer = as_user("reviewer")
    detail = reviewer.get(f"/sharing/requests/{request_id}")
    assert REFERRED_LABEL in visible_text(detail)
    assert not re.search(r'action="/sharing/disputes/\d+/decide"', detail.text)
    assert f"#{request_id}" not in visible_text(reviewer.get("/sharing/disputes"))

    steps = client.get(f"/api/v1/sharing/requests/{request_id}/disputes", headers=world.headers("reviewer")).json()
    referred = steps[-1]
    assert (referred["status"], referred["handler_id"], referred["handler_name"], referred["overdue"]) == \
        (REFERRED, None, "上级节点", False)
    assert referred["id"] not in [s["id"] for s in client.get("/api/v1/sharing/disputes",
                                                               headers=world.headers("reviewer")).json()]
    refused = client.post(f"/api/v1/sharing/disputes/{referred['id']}/decide", headers=world.headers("reviewer"),
                          json={"decision": "approve", "reason": "同意共享"})
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "status"
    with db.session() as s:
        assert sharing.grant_of(s, request_id) is None
        step = s.get(DisputeStep, referred["id"])
        step.handler_id, step.status = world.ids["authority"], "open"  # as the old code wrote it
    assert not re.search(r'action="/sharing/disputes/\d+/decide"', reviewer.get(f"/sharing/requests/{request_id}").text)


# ---------------------------------------------------------------- ordinary departments: unchanged


def test_ordinary_departments_disputes_go_where_they_always_went(session, world):
    """省民政厅 asks 省公安厅: 省数据局 coordinates and decides; a provincial provider still has no higher level
    on this node (refused, not referred). These pass on the old code too: they pin that nothing else moved."""
    requester = world.actors["civil_requester"]
    request = submitted_request(session, world)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="refuse", reason="数据敏感"))
    _decide(session, world.actors["police_reviewer"], disputes.escalate(session, requester, request.id, "申请协商"))
    step = disputes.escalate(session, requester, request.id, "请求主管部门协调")
    assert (step.level, step.status, step.handler_id) == ("authority", "open", world.ids["authority"])
    assert [s.id for s in disputes.list_open_steps(session, world.actors["reviewer"])] == [step.id]
    _decide(session, world.actors["reviewer"], step, decision="approve", reason="低保审核为法定职责")
    assert request.status == "approved" and sharing.grant_of(session, request.id) is not None

    refused = submitted_request(session, world, system=sharing.grant_of(session, request.id).consumer_system)
    sharing.reply(session, world.actors["police_reviewer"], refused.id, ReplyIn(decision="refuse", reason="数据敏感"))
    _decide(session, world.actors["police_reviewer"], disputes.escalate(session, requester, refused.id, "协商"))
    _decide(session, world.actors["reviewer"], disputes.escalate(session, requester, refused.id, "协调"))
    error = _raised(ValidationFailed, disputes.escalate, session, requester, refused.id, "提请上级裁决")
    assert (error.field, error.message) == ("level", "没有可受理“上级主管部门裁决”的主管部门")


def test_a_city_providers_dispute_still_goes_to_the_city_authority_then_the_province(session, world):
    provider = _user(session, world, "city_civil_reviewer", "city_civil", Role.DEPT_REVIEWER)
    entry = published_entry(session, world, manager="city_civil_manager", name="最低生活保障对象信息")
    request = submitted_request(session, world, entry=entry)
    requester = world.actors["civil_requester"]
    sharing.reply(session, provider, request.id, ReplyIn(decision="refuse", reason="不属于共享范围"))
    _decide(session, provider, disputes.escalate(session, requester, request.id, "申请协商"))
    same_level = disputes.escalate(session, requester, request.id, "协调")
    assert (same_level.status, same_level.handler_id) == ("open", world.ids["city_authority"])
    _decide(session, world.actors["city_reviewer"], same_level)
    higher = disputes.escalate(session, requester, request.id, "裁决")
    assert (higher.status, higher.handler_id) == ("open", world.ids["authority"])
    _decide(session, world.actors["reviewer"], higher, decision="approve", reason="法定职责所需")
    assert request.status == "approved"
