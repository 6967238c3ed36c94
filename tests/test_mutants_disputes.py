"""Disputes (R08): what mutation testing of `govshare.sharing.disputes` found untested (docs/testing.md).

Each test names the mutants it kills (`mutmut show NAME` prints one). Every refusal names the field and the
rule in Chinese (R18's contract of every error); every step of a dispute is on the request's record under its
own name, with its reason and level, and is told to the parties that must act on it (and to no one else) with
a title and body that say what happened."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from govshare.config import settings_of
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.notify.models import Notification
from govshare.orgs.models import Role, User
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import DisputeStep
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import DisputeStatus, GrantStatus, RequestStatus
from govshare.workdays import service as workdays
from tests.factories import consumer_system, published_entry, submitted_request
from tests.security.test_dispute_parties import _authority_asks_civil
from tests.security.test_dispute_parties import _user as _registered_user
from tests.test_disputes import _city_entry, _decide, _partly_approved, _refused, _user
from tests.test_service_changes import _propose, _travel

S = RequestStatus
DELETE_PLEASE = "请需求部门删除已获取的数据并在平台确认删除。"


def _raised(error_type, call, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        call(*args, **kwargs)
    return raised.value.field, raised.value.message


def _told(session, world, event: str) -> dict[str, list[tuple[str, str]]]:
    """The (title, body) of each notification of `event`, by the username it was sent to."""
    told: dict[str, list[tuple[str, str]]] = {}
    for note in session.scalars(select(Notification).where(Notification.event == event).order_by(Notification.id)):
        told.setdefault(session.get(User, note.user_id).username, []).append((note.title, note.body))
    return told


def _events(session, world, request) -> list[tuple]:
    """The request's record: action, from and to status, reason, detail and who acted."""
    return [(e.action, e.from_status, e.to_status, e.reason, e.detail, e.actor.username if e.actor else "system")
            for e in sharing.history(session, world.actors["civil_requester"], request.id)]


def _deadline(session, level_days: int):
    return workdays.deadline(session, workdays.local_today(session), level_days)


# ---------------------------------------------------------------- escalating


def test_r08_an_escalation_is_refused_naming_the_field_and_the_rule(session, world):
    """Kills x_escalate__mutmut_7/10/11 (the action left out of the role refusal), 14/17/18 (of the department
    refusal), 21 (an empty reason accepted) and 22/24/26 (the message of the missing reason)."""
    request = _refused(session, world)
    other = _user(session, world, "city_civil_requester", "city_civil", Role.REQUESTER)
    reason = "低保审核为法定职责"
    assert _raised(Forbidden, disputes.escalate, session, world.actors["police_reviewer"], request.id, reason) == \
        ("role", "当前角色无权提起争议（需要角色：requester）")
    assert _raised(Forbidden, disputes.escalate, session, other, request.id, reason) == \
        ("department_id", "不能提起争议其他部门的数据")
    for blank in ("", " ", None):
        assert _raised(ValidationFailed, disputes.escalate, session, world.actors["civil_requester"], request.id,
                       blank) == ("reason", "提起争议必须说明理由")
    assert request.status == S.REFUSED and disputes.steps(session, world.actors["civil_requester"], request.id) == []


def test_r08_only_a_refused_partly_approved_or_overdue_request_can_be_escalated(session, world):
    """An approved request that the job had once marked overdue is not overdue any more. Kills
    x__next_level__mutmut_8 (a request ever marked overdue taken as overdue whatever its state) and 21/22/23/25
    (the refusal's message)."""
    pending = submitted_request(session, world)
    requester = world.actors["civil_requester"]
    with pytest.raises(Conflict) as refused:
        disputes.escalate(session, requester, pending.id, "迟迟未答复")
    assert (refused.value.field, refused.value.message, refused.value.extra["current_status"]) == \
        ("status", "只有不予同意、部分同意或逾期未答复的申请可以提起争议，当前状态：待答复", "submitted")

    assert sharing.mark_overdue(session, pending.reply_due + timedelta(days=1)) == 1
    sharing.reply(session, world.actors["police_reviewer"], pending.id, ReplyIn(decision="approve"))
    assert pending.overdue_at is not None
    assert _raised(Conflict, disputes.escalate, session, requester, pending.id, "答复太迟") == \
        ("status", "只有不予同意、部分同意或逾期未答复的申请可以提起争议，当前状态：已同意")
    assert pending.status == S.APPROVED and disputes.steps(session, requester, pending.id) == []


def test_r08_an_escalation_is_recorded_and_told_to_the_provider_and_the_requester(session, world):
    """The negotiation is opened on the request's record with its reason and level, and the provider's
    reviewers and the requesters are told its deadline. Kills x_escalate__mutmut_51/58/61/62 (the event
    renamed), 52/59 (its reason), 53/60/63/64 (its level), 82/91 (the step's reason), 84 (the deadline's
    estimate), 85 (who opened it), 115/121/125/126 (the notification renamed), 116/122 (its title) and
    117/118/123/124 (its body)."""
    request = _refused(session, world)
    reason = "低保审核为法定职责，所需信息项均为必要"
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, reason)
    due = _deadline(session, settings_of(session).negotiation_working_days)
    assert (step.reason, step.due, step.due_estimated, step.opened_by_id) == \
        (reason, due.due, due.estimated, world.ids["user:civil_requester"])
    assert _events(session, world, request)[-1] == \
        ("escalated", "refused", "escalated", reason, {"level": "negotiation"}, "civil_requester")
    told = (f"共享争议（双方协商）：{request.entry.name}", f"{reason}。办理期限：{due.due}。{due.warning}")
    assert _told(session, world, "dispute.opened") == {"police_reviewer": [told], "civil_requester": [told]}


def test_r08_a_deadline_in_a_year_without_a_holiday_notice_is_marked_estimated(session, world, monkeypatch):
    """A negotiation opened on 28 December 2026 ends in 2027, a year whose holidays the node does not know: the
    step keeps the mark and the notice carries the warning. Kills x_escalate__mutmut_84 and 93 (the mark
    dropped)."""
    request = _refused(session, world)
    _travel(monkeypatch, date(2026, 12, 28))
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    assert step.due.year == 2027 and step.due_estimated is True
    assert _told(session, world, "dispute.opened")["police_reviewer"][0][1] == \
        f"申请协商。办理期限：{step.due}。{workdays.ESTIMATE_WARNING}"


def test_r08_a_withdrawn_dispute_over_a_partly_approved_request_cannot_be_taken_up_again(session, world):
    """The requester accepted the part granted: the request is partly approved again, but its dispute is over.
    Kills x__next_level__mutmut_42 (a withdrawn step taken as decided, so the dispute reopens a level up) and
    47/48 (the refusal's message or current state)."""
    request = _partly_approved(session, world)
    requester = world.actors["civil_requester"]
    disputes.escalate(session, requester, request.id, "要求全部信息项")
    sharing.withdraw_request(session, requester, request.id, "接受部分同意")
    with pytest.raises(Conflict) as refused:
        disputes.escalate(session, requester, request.id, "重新提起")
    assert (refused.value.field, refused.value.message, refused.value.extra["current_status"]) == \
        ("status", "申请当前状态为“部分同意”，不能再提起争议", "partly_approved")
    assert request.status == S.PARTLY_APPROVED and len(disputes.steps(session, requester, request.id)) == 1


def test_r08_the_next_level_falls_back_to_what_the_last_decision_granted(session, world):
    """A refusal negotiated into a partial approval and then taken to the authority: withdrawing there keeps the
    part the negotiation granted (the step's prior state is the request's state when it was opened, not the
    first step's). Kills x__next_level__mutmut_68."""
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    first = disputes.escalate(session, requester, request.id, "申请协商")
    _decide(session, world.actors["police_reviewer"], first, decision="approve_in_part",
            item_ids=request.item_ids[:2], reason="协商同意提供部分信息项")
    second = disputes.escalate(session, requester, request.id, "要求全部信息项")
    assert (first.prior_status, second.prior_status) == ("refused", "partly_approved")
    sharing.withdraw_request(session, requester, request.id, "接受部分同意")
    grant = sharing.grant_of(session, request.id)
    assert request.status == S.PARTLY_APPROVED and grant.status == GrantStatus.ACTIVE
    assert grant.item_ids == request.item_ids[:2]


def test_r08_a_step_in_its_time_cannot_be_skipped_and_a_lapsed_one_is_replaced_on_the_record(session, world):
    """Up to and including its due day a step stands; after it the requester goes up a level, the lapsed step
    is marked so, and the new step is on the record and told to the authority. Kills x__next_level__mutmut_34
    (the due day itself let go), 35–40 (the refusal's message or field), x_escalate__mutmut_46 (the replaced
    step left open) and 100/101/102/106/107/108/109/110/111/112 (the event of the new step: its name, reason
    or level)."""
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    first = disputes.escalate(session, requester, request.id, "申请协商")
    first.due = workdays.local_today(session)
    assert _raised(Conflict, disputes.escalate, session, requester, request.id, "直接提请主管部门") == \
        ("status", f"“双方协商”尚在办理期限内（{first.due}），期满未决方可上提")

    first.due = workdays.local_today(session) - timedelta(days=1)
    second = disputes.escalate(session, requester, request.id, "协商逾期未决")
    assert (first.status, second.status, second.prior_status) == (DisputeStatus.LAPSED, DisputeStatus.OPEN, "refused")
    assert _events(session, world, request)[-2:] == [
        ("escalated", "refused", "escalated", "申请协商", {"level": "negotiation"}, "civil_requester"),
        ("escalated", None, "escalated", "协商逾期未决", {"level": "authority"}, "civil_requester")]
    due = _deadline(session, settings_of(session).authority_working_days)
    assert _told(session, world, "dispute.opened")["reviewer"] == [
        (f"共享争议（本级主管部门协调）：{request.entry.name}", f"协商逾期未决。办理期限：{due.due}。{due.warning}")]


def test_r08_no_higher_authority_and_the_final_decision_are_refused_naming_the_level(session, world):
    """A provincial provider has no higher-level authority on this node; the higher level's decision is final.
    Kills x__handler__mutmut_14/16 (the message of the missing authority) and x__next_level__mutmut_58/60/62
    (the message of the final decision)."""
    requester = world.actors["civil_requester"]
    provincial = _refused(session, world)
    _decide(session, world.actors["police_reviewer"], disputes.escalate(session, requester, provincial.id, "协商"))
    _decide(session, world.actors["reviewer"], disputes.escalate(session, requester, provincial.id, "协调"))
    assert _raised(ValidationFailed, disputes.escalate, session, requester, provincial.id, "提请上级裁决") == \
        ("level", "没有可受理“上级主管部门裁决”的主管部门")

    entry, city_provider = _city_entry(session, world)
    city = _refused(session, world, entry=entry, reviewer=city_provider,
                    system=consumer_system(session, world, name="救助核对系统")[0])
    _decide(session, city_provider, disputes.escalate(session, requester, city.id, "协商"))
    _decide(session, world.actors["city_reviewer"], disputes.escalate(session, requester, city.id, "协调"))
    _decide(session, world.actors["reviewer"], disputes.escalate(session, requester, city.id, "裁决"))
    assert _raised(Conflict, disputes.escalate, session, requester, city.id, "仍不服") == \
        ("level", "上级主管部门的裁决为最终决定，不能再上提")


# ---------------------------------------------------------------- deciding


def test_r08_a_decision_is_refused_naming_the_field_and_the_rule(session, world):
    """Kills x_decide__mutmut_3/4/7/12/13 (the missing step's message or field), x__require_handler__mutmut_1–6,
    9 and 12 (the action named in the role refusal, at each level), 15–20 (the refusal of another authority:
    its message or field), x_decide__mutmut_41/43/45 (the missing reason's message), 55 (the decision's kind
    not checked against its terms: an approval that narrows them, a partial one that does not) and 29/31/33
    (the message of a step already decided)."""
    reviewer = world.actors["police_reviewer"]
    assert _raised(NotFound, disputes.decide, session, reviewer, 987654, ReplyIn(decision="approve", reason="同意")) \
        == ("step_id", "争议不存在：987654")
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    step = disputes.escalate(session, requester, request.id, "申请协商")
    assert _raised(Forbidden, _decide, session, world.actors["police_manager"], step) == \
        ("role", "当前角色无权办理争议协商（需要角色：dept_reviewer）")
    assert _raised(ValidationFailed, _decide, session, reviewer, step, reason=" ") == ("reason", "争议决定必须说明理由")
    fewer = request.item_ids[:2]
    assert _raised(ValidationFailed, _decide, session, reviewer, step, decision="approve", item_ids=fewer) == \
        ("decision", "减少信息项、缩小范围或缩短期限属于“部分同意”，须选择部分同意并说明理由")
    assert _raised(ValidationFailed, _decide, session, reviewer, step, decision="approve_in_part") == \
        ("decision", "部分同意须减少信息项、缩小数据范围或缩短期限")
    _decide(session, reviewer, step)
    with pytest.raises(Conflict) as refused:
        _decide(session, reviewer, step, decision="approve", reason="改判")
    assert (refused.value.field, refused.value.message, refused.value.extra["current_status"]) == \
        ("status", "争议状态为“已决定”，不能再作决定", "decided")

    upper = disputes.escalate(session, requester, request.id, "提请协调")
    assert _raised(Forbidden, _decide, session, reviewer, upper) == \
        ("role", "当前角色无权协调裁决共享争议（需要角色：authority_reviewer）")
    assert _raised(Forbidden, _decide, session, world.actors["other_reviewer"], upper) == \
        ("step_id", "该争议由省数据局办理")
    assert upper.status == DisputeStatus.OPEN and request.status == S.ESCALATED


def test_r08_a_decision_is_recorded_and_told_to_both_parties(session, world):
    """Kills x_decide__mutmut_91/98/101/102 (the event renamed), 92/99 (its reason), 93/100/103/104 (its level
    and terms), 121/127/131/132 (the notification renamed), 122/128 (its title) and 124/129/130 (its body)."""
    request = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    _decide(session, world.actors["police_reviewer"], step, decision="approve", reason="协商一致，同意提供")
    terms = {"decision": "approve", "item_ids": request.item_ids, "row_scope": request.row_scope,
             "period_end": request.period_end.isoformat()}
    assert step.decision_terms == terms
    assert _events(session, world, request)[-1] == ("dispute_decided", "escalated", "approved", "协商一致，同意提供",
                                                    {"level": "negotiation", **terms}, "police_reviewer")
    told = [(f"争议已决定（已同意）：{request.entry.name}", "协商一致，同意提供")]
    assert _told(session, world, "dispute.decided") == {"civil_requester": told, "police_reviewer": told}


def test_r08_a_dispute_does_not_grant_a_stopped_service_and_says_so(session, world, monkeypatch):
    """Kills x_decide__mutmut_74/76 (the message of the refusal)."""
    entry = published_entry(session, world)
    request = _refused(session, world, entry=entry)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    change = _propose(session, world, entry)
    changes.decide(session, world.actors["reviewer"], change.id, True)
    _travel(monkeypatch, change.effective_date)
    changes.apply_due(session, change.effective_date)
    assert _raised(ValidationFailed, _decide, session, world.actors["police_reviewer"], step, decision="approve",
                   reason="同意") == ("entry_id", f"“{entry.name}”的共享服务已经主管部门批准停止，不能再予同意")


def test_r08_a_refusal_in_the_dispute_ends_the_grant_on_the_record_and_tells_both_parties(session, world):
    """Kills x__bind__mutmut_27/28/29/33/34/35/36/37/38/39/40 (the ending of the grant: its event's name,
    reason or grant) and 43/44/45/46/49/50/51/52/53/54/57 (its notification: event, title or body)."""
    request = _partly_approved(session, world)
    grant = sharing.grant_of(session, request.id)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "要求全部信息项")
    _decide(session, world.actors["police_reviewer"], step, reason="复核后认为该用途不应共享")
    assert (grant.status, grant.end_reason) == (GrantStatus.ENDED, "revoked")
    assert _events(session, world, request)[-1] == ("grant_revoked", None, "refused", "争议决定不予同意",
                                                    {"grant_id": grant.id}, "police_reviewer")
    told = [(f"共享授权已终止（争议决定不予同意）：{request.entry.name}", DELETE_PLEASE)]
    assert _told(session, world, "grant.ended") == {"civil_requester": told, "police_reviewer": told}


def test_r08_a_grant_won_in_a_dispute_gets_the_nodes_default_rate(session, world):
    """Kills x__bind__mutmut_8 (no rate given: the grant made without one)."""
    request = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    _decide(session, world.actors["police_reviewer"], step, decision="approve", reason="同意提供")
    assert sharing.grant_of(session, request.id).rate_limit == settings_of(session).default_rate_limit


# ---------------------------------------------------------------- overdue steps


def test_r08_an_overdue_step_is_recorded_and_told_to_its_handler_and_the_requester(session, world):
    """Kills x_mark_overdue_steps__mutmut_20/25/27/28 (the event renamed), 21/26/29/30 (its level),
    33/39/43/44 (the notification renamed), 34/40 (its title), 35/36/41/42 (its body) and 48 (two steps
    counted as one)."""
    request = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    other = _refused(session, world, system=consumer_system(session, world, name="救助核对系统")[0])
    disputes.escalate(session, world.actors["civil_requester"], other.id, "申请协商")
    assert disputes.mark_overdue_steps(session, step.due + timedelta(days=1)) == 2
    assert _events(session, world, request)[-1] == \
        ("dispute_overdue", None, "escalated", "", {"level": "negotiation"}, "system")
    told = [(f"共享争议逾期未决（双方协商）：{request.entry.name}",
             f"办理期限为 {step.due}，需求部门可以提请上一级处理。")]
    assert other.entry.name == request.entry.name  # two requests for the same data: told twice alike
    assert _told(session, world, "dispute.overdue") == {"police_reviewer": told * 2, "civil_requester": told * 2}


# ---------------------------------------------------------------- reading and withdrawing


def test_r08_a_missing_step_is_refused_naming_the_step(session, world):
    """Kills x_get_step__mutmut_3 (the message dropped) and 4/12/13 (the field `step_id` dropped or renamed)."""
    assert _raised(NotFound, disputes.get_step, session, world.actors["police_reviewer"], 987654) == \
        ("step_id", "争议不存在：987654")


def test_r08_a_withdrawn_dispute_is_recorded_with_its_reason_and_told_to_the_provider(session, world):
    """Kills x_withdraw__mutmut_23 and 29 (the reason dropped from the event), 30/31 (the event renamed),
    37/43 (the reason dropped from the notification) and 44/45 (the notification's event renamed)."""
    request = _refused(session, world)
    disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    sharing.withdraw_request(session, world.actors["civil_requester"], request.id, "已通过其他途径解决")
    assert request.status == S.WITHDRAWN
    assert _events(session, world, request)[-1] == \
        ("dispute_withdrawn", "escalated", "withdrawn", "已通过其他途径解决", {}, "civil_requester")
    assert _told(session, world, "dispute.withdrawn") == {
        "police_reviewer": [(f"共享争议已撤回：{request.entry.name}", "已通过其他途径解决")]}


def test_r08_a_dispute_withdrawn_at_the_authority_is_told_to_its_handler_and_reviewers_only(session, world):
    """The step's handler (here 省数据局's authority reviewer) is told, not only the provider, and only the
    reviewers of each department, not its other users; the partly approved request falls back to what was
    granted. Kills x__handler_audience__mutmut_1/6/8 (every user of the handler's department told)."""
    request = _partly_approved(session, world)
    requester = world.actors["civil_requester"]
    first = disputes.escalate(session, requester, request.id, "要求全部信息项")
    first.due = workdays.local_today(session) - timedelta(days=1)
    second = disputes.escalate(session, requester, request.id, "协商逾期未决")
    sharing.withdraw_request(session, requester, request.id, "接受部分同意")
    assert (request.status, second.status) == (S.PARTLY_APPROVED, DisputeStatus.WITHDRAWN)
    assert _events(session, world, request)[-1] == \
        ("dispute_withdrawn", "escalated", "partly_approved", "接受部分同意", {}, "civil_requester")
    told = [(f"共享争议已撤回：{request.entry.name}", "接受部分同意")]
    assert _told(session, world, "dispute.withdrawn") == {"police_reviewer": told, "reviewer": told}


# ---------------------------------------------------------------- referred to the higher node (R16)


def _referred_events(session, world, request) -> list[tuple]:
    """The request's record as its requester (省数据局, a party) reads it."""
    return [(e.action, e.from_status, e.to_status, e.reason, e.detail, e.actor.username if e.actor else "system")
            for e in sharing.history(session, world.actors["authority_requester"], request.id)]


REFERRED_WHY = ("本节点除争议双方外没有可受理“本级主管部门协调”的主管部门，争议一方不能办理本方的争议，"
                "该环节报上级节点处理（R16），本节点不作决定")


def test_r08_a_referred_step_is_recorded_told_and_neither_pushed_up_nor_decided_on_this_node(session, world):
    """省数据局 asks 省民政厅; the authority level has no authority here but 省数据局 itself, so it is referred. The
    referral is on the record with its level and told to both parties with the requester's reason and why; pushing
    it up again and deciding it are refused, each naming the rule and the step's state. Kills x__refer__mutmut_9/15
    (the level dropped from the event), 18/19 (its key renamed), 25/31 (the notice's body dropped),
    x__next_level__mutmut_31 (a referred step taken as an open one still in its time), 48/49 (taken as none of
    open, decided or referred), 50 (the refusal's message dropped) and x_decide__mutmut_27/28/30/31 (the refused
    decision's current state or its label dropped or swapped)."""
    request = _authority_asks_civil(session, world)
    requester = world.actors["authority_requester"]
    step = disputes.escalate(session, requester, request.id, "请求主管部门协调")
    assert (step.level, step.status, step.handler_id) == ("authority", DisputeStatus.REFERRED, None)
    assert _referred_events(session, world, request)[-2:] == [
        ("escalated", "refused", "escalated", "请求主管部门协调", {"level": "authority"}, "authority_requester"),
        ("dispute_referred", None, "escalated", REFERRED_WHY, {"level": "authority"}, "authority_requester")]
    told = [(f"共享争议报上级节点处理（本级主管部门协调）：{request.entry.name}",
             f"请求主管部门协调。{REFERRED_WHY}。")]
    assert _told(session, world, "dispute.referred") == {"civil_reviewer": told, "authority_requester": told}

    with pytest.raises(Conflict) as pushed:
        disputes.escalate(session, requester, request.id, "再次上提")
    assert (pushed.value.field, pushed.value.message, pushed.value.extra) == \
        ("status", "“本级主管部门协调”已报上级节点处理，本节点不能再上提", {})
    for actor in (world.actors["reviewer"], world.actors["other_reviewer"]):
        with pytest.raises(Conflict) as decided:
            _decide(session, actor, step, decision="approve", reason="同意共享")
        assert (decided.value.field, decided.value.message, decided.value.code, decided.value.extra) == (
            "status", "“本级主管部门协调”已报上级节点处理，本节点任何部门都不能作出决定", "illegal_transition",
            {"current_status": "referred", "current_status_label": "报上级节点处理"})
    assert (step.status, request.status, len(disputes.steps(session, requester, request.id))) == \
        (DisputeStatus.REFERRED, S.ESCALATED, 2)


def _referred_after_a_partial_agreement(session, world):
    """(requester, the provider's reviewer, request, step): the negotiation granted part of the data, and the
    authority level, with no authority here other than the parties, was referred to the higher node."""
    requester = _registered_user(session, world, "authority_requester", "authority", Role.REQUESTER)
    civil_reviewer = _registered_user(session, world, "civil_reviewer", "civil", Role.DEPT_REVIEWER)
    entry = published_entry(session, world, manager="civil_manager", name="社会救助对象信息")
    request = _refused(session, world, entry=entry, reviewer=civil_reviewer, who="authority_requester")
    negotiation = disputes.escalate(session, requester, request.id, "数据治理确需该数据")
    _decide(session, civil_reviewer, negotiation, decision="approve_in_part",
            item_ids=request.item_ids[:2], reason="协商同意提供部分信息项")
    step = disputes.escalate(session, requester, request.id, "请求主管部门协调全部信息项")
    return requester, civil_reviewer, request, step


def test_r08_a_referred_dispute_whose_grant_ended_is_refused_as_over_not_as_referred(session, world):
    """The negotiation granted part of the data; the authority level was referred; then the provider revoked the
    grant, so the request left the dispute. A referred step left on its record (ending a grant closes the open
    steps) does not make the refusal say the dispute is with the higher node: it is over. Kills
    x__next_level__mutmut_47 (a referred last step refused as referred whatever the request's state)."""
    requester, civil_reviewer, request, step = _referred_after_a_partial_agreement(session, world)
    assert (step.status, request.status) == (DisputeStatus.REFERRED, S.ESCALATED)
    sharing.revoke_grant(session, civil_reviewer, sharing.grant_of(session, request.id).id, "该系统存在越权调用")
    assert request.status == S.REVOKED
    step.status = DisputeStatus.REFERRED.value  # the referral stays on the record whatever ending the grant did
    session.flush()
    with pytest.raises(Conflict) as refused:
        disputes.escalate(session, requester, request.id, "继续上提")
    assert (refused.value.field, refused.value.message, refused.value.extra) == \
        ("status", "申请当前状态为“已撤销”，不能再提起争议", {"current_status": "revoked"})


def test_r08_ending_a_grant_closes_a_step_referred_to_the_higher_node_too(session, world):
    """The grant of a partly agreed negotiation is revoked while the authority level is referred to the higher
    node: the referral is closed with the dispute (as withdrawing it would), not left waiting there."""
    _requester, civil_reviewer, request, step = _referred_after_a_partial_agreement(session, world)
    assert step.status == DisputeStatus.REFERRED
    sharing.revoke_grant(session, civil_reviewer, sharing.grant_of(session, request.id).id, "该系统存在越权调用")
    session.flush()
    assert (request.status, step.status) == (S.REVOKED, DisputeStatus.WITHDRAWN)


# ---------------------------------------------------------------- a party never settles its own dispute


def test_r08_the_provider_that_is_an_authority_is_refused_as_a_party_and_not_listed_its_dispute(session, world):
    """合肥市数据资源局 provides the data: its authority reviewer is refused as a party (the message says why, not
    merely who handles the step), also when a step of old data names it the handler, and such a step is not in
    its list. Kills x__require_handler__mutmut_22 (the party refusal's message) and x_list_open_steps__mutmut_8
    (the provider not taken as a party of the dispute)."""
    _registered_user(session, world, "city_authority_manager", "city_authority", Role.CATALOG_MANAGER)
    provider = _registered_user(session, world, "city_authority_dept_reviewer", "city_authority", Role.DEPT_REVIEWER)
    entry = published_entry(session, world, manager="city_authority_manager", name="公共数据目录运行信息")
    request = submitted_request(session, world, entry=entry)
    requester = world.actors["civil_requester"]
    sharing.reply(session, provider, request.id, ReplyIn(decision="refuse", reason="不属于共享范围"))
    _decide(session, provider, disputes.escalate(session, requester, request.id, "申请协商"))
    step = disputes.escalate(session, requester, request.id, "请求主管部门协调")
    assert step.handler_id == world.ids["authority"]
    party = ("step_id", "本部门是该争议的当事方（需求部门或提供部门），不能协调裁决本方的争议")
    city_reviewer = world.actors["city_reviewer"]
    assert _raised(Forbidden, _decide, session, city_reviewer, step, decision="approve", reason="同意") == party

    step.handler_id = world.ids["city_authority"]  # as the old code wrote it: the provider settles its own dispute
    session.flush()
    assert disputes.list_open_steps(session, city_reviewer) == []
    assert _raised(Forbidden, _decide, session, city_reviewer, step, decision="approve", reason="同意") == party
    assert (step.status, request.status) == (DisputeStatus.OPEN, S.ESCALATED)


# ---------------------------------------------------------------- the handler's list


def test_r08_a_step_is_listed_to_its_handler_only(session, world):
    """The negotiation is listed to the provider's reviewers, not to another department's; the authority level to
    省数据局's authority reviewers, not to the other authorities' (neither is a party). Kills
    x_list_open_steps__mutmut_17 (every department listed every step of the levels its role decides)."""
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    city_civil_reviewer = _user(session, world, "city_civil_reviewer", "city_civil", Role.DEPT_REVIEWER)
    negotiation = disputes.escalate(session, requester, request.id, "申请协商")
    assert [s.id for s in disputes.list_open_steps(session, world.actors["police_reviewer"])] == [negotiation.id]
    assert disputes.list_open_steps(session, city_civil_reviewer) == []

    _decide(session, world.actors["police_reviewer"], negotiation)
    step = disputes.escalate(session, requester, request.id, "请求主管部门协调")
    assert [s.id for s in disputes.list_open_steps(session, world.actors["reviewer"])] == [step.id]
    for other in ("city_reviewer", "other_reviewer"):
        assert disputes.list_open_steps(session, world.actors[other]) == []


def test_r08_the_open_steps_are_listed_most_urgent_first(session, world):
    """The node shortens the negotiation after a first dispute was opened: the second one opened is due first and
    comes first. Kills x_list_open_steps__mutmut_13 (the list in the order the steps were opened)."""
    requester = world.actors["civil_requester"]
    first = disputes.escalate(session, requester, _refused(session, world).id, "申请协商")
    session.info["settings"] = settings_of(session).model_copy(update={"negotiation_working_days": 2})
    other = _refused(session, world, system=consumer_system(session, world, name="救助核对系统")[0])
    second = disputes.escalate(session, requester, other.id, "申请协商")
    assert second.due == _deadline(session, 2).due < first.due
    assert [s.id for s in disputes.list_open_steps(session, world.actors["police_reviewer"])] == [second.id, first.id]


# ---------------------------------------------------------------- a request that left the dispute


def test_r08_an_open_step_of_a_request_that_left_the_dispute_is_no_work_and_cannot_be_decided(session, world):
    """Ending a grant closes the open steps of its dispute; should a step still be open (data written before, or
    by anything else), the request's state decides: it is listed to nobody, the job does not mark it overdue, and
    deciding it is refused naming the request's state. Kills x__open_in_dispute__mutmut_4 (open steps of requests
    out of the dispute listed and marked) and x_decide__mutmut_46/48 (the refusal's message dropped), 47/49 (its
    current state dropped) and 50 (its state's label not read)."""
    request = _partly_approved(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "要求全部信息项")
    sharing.revoke_grant(session, world.actors["police_reviewer"], sharing.grant_of(session, request.id).id,
                         "该系统存在越权调用")
    assert (request.status, step.status) == (S.REVOKED, DisputeStatus.WITHDRAWN)
    step.status = DisputeStatus.OPEN.value  # a step left open although its request left the dispute
    session.flush()

    assert disputes.list_open_steps(session, world.actors["police_reviewer"]) == []
    assert disputes.mark_overdue_steps(session, step.due + timedelta(days=1)) == 0 and step.overdue_at is None
    with pytest.raises(Conflict) as refused:
        _decide(session, world.actors["police_reviewer"], step, decision="approve", reason="同意")
    assert (refused.value.field, refused.value.message, refused.value.code, refused.value.extra) == (
        "status", "申请当前状态为“已撤销”，争议已终结，不能再作决定", "illegal_transition",
        {"current_status": "revoked"})
    assert (step.status, request.status) == (DisputeStatus.OPEN, S.REVOKED)


def test_r08_a_dispute_with_no_pending_step_is_withdrawn_as_a_refusal(session, world):
    """An escalated request none of whose steps is pending (none says what the request fell back from) is
    withdrawn, as a refused one would be, and the provider told. Kills x_withdraw__mutmut_11 (the last pending
    step read when there is none)."""
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    step = disputes.escalate(session, requester, request.id, "申请协商")
    step.status = DisputeStatus.LAPSED.value  # no step pending, the request still escalated
    session.flush()
    sharing.withdraw_request(session, requester, request.id, "已通过其他途径解决")
    assert (request.status, step.status) == (S.WITHDRAWN, DisputeStatus.LAPSED)
    assert _events(session, world, request)[-1] == \
        ("dispute_withdrawn", "escalated", "withdrawn", "已通过其他途径解决", {}, "civil_requester")
    assert _told(session, world, "dispute.withdrawn") == {
        "police_reviewer": [(f"共享争议已撤回：{request.entry.name}", "已通过其他途径解决")]}


# ---------------------------------------------------------------- the order of the steps


def test_r08_the_steps_of_a_dispute_are_read_in_the_order_they_were_opened(session, world):
    """The dispute goes on from its last step, whatever order the database stores the rows in: after the first
    step's row is rewritten (its state changed and changed back, as a correction by hand would), PostgreSQL
    stores it after the second's, yet the steps read first to last and the step in its time is the one that
    stands. Kills x__steps__mutmut_3 on PostgreSQL (SQLite reads a request's steps in id order anyway, so the
    mutation run cannot: docs/testing.md)."""
    request = _refused(session, world)
    requester = world.actors["civil_requester"]
    first = disputes.escalate(session, requester, request.id, "申请协商")
    first.due = workdays.local_today(session) - timedelta(days=1)
    second = disputes.escalate(session, requester, request.id, "协商逾期未决")
    session.flush()
    for status in (DisputeStatus.WITHDRAWN, DisputeStatus.LAPSED):  # an indexed column: a new row version each time
        session.execute(update(DisputeStep).where(DisputeStep.id == first.id).values(status=status))
    session.expire_all()
    assert [s.id for s in disputes.steps(session, requester, request.id)] == [first.id, second.id]
    assert _raised(Conflict, disputes.escalate, session, requester, request.id, "直接提请上级") == \
        ("status", f"“本级主管部门协调”尚在办理期限内（{second.due}），期满未决方可上提")
