"""Requests and grants (R07, R09, R10): what mutation testing of `govshare.sharing.service` found untested
(docs/testing.md).

Each test names the mutants it kills (`mutmut show NAME` prints one). The lists keep exactly the rows their filter
names, newest first and a page at a time; every refusal names the field and the rule in Chinese (R18's contract of
every error); the jobs act once on each request that is due, count what they did, and what they did is on the
request's record and told to the parties that must act, with a title, body and link that say what happened.
Deadlines are working days, and only those counted Monday–Friday for want of a holiday notice are counted again."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from govshare.catalog import service as catalog
from govshare.config import settings_of
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.notify.models import Notification
from govshare.orgs.models import Role, User
from govshare.sharing import disputes
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn, RowScope
from govshare.sharing.vocab import DisputeStatus, GrantStatus, RequestStatus
from govshare.workdays import service as workdays
from tests.factories import consumer_system, population_entry, published_entry, request_in, submitted_request
from tests.security.test_dispute_parties import _user as _registered_user
from tests.test_disputes import _refused, _user
from tests.test_service_changes import _travel

S = RequestStatus
DELETE_PLEASE = "请需求部门删除已获取的数据并在平台确认删除。"
SUSPENDED_WHY = "一日内多次请求授权之外的信息项"
# 24 December 2026, 10:00 in Beijing: ten working days later falls in 2027, a year the suite's calendar does not
# know, so the deadline is counted Monday–Friday (7 January) until the admin enters 1 and 4 January as holidays
# (then 11 January).
ON_24_DECEMBER = datetime(2026, 12, 24, 2, 0)


def _raised(error_type, call, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        call(*args, **kwargs)
    return raised.value.field, raised.value.message


def _told(session, event: str) -> dict[str, list[tuple[str, str, str]]]:
    """The (title, body, link) of each notification of `event`, by the username it was sent to."""
    told: dict[str, list[tuple[str, str, str]]] = {}
    for note in session.scalars(select(Notification).where(Notification.event == event).order_by(Notification.id)):
        told.setdefault(session.get(User, note.user_id).username, []).append((note.title, note.body, note.link))
    return told


def _events(session, world, request) -> list[tuple]:
    """The request's record: action, from and to status, reason, detail and who acted."""
    return [(e.action, e.from_status, e.to_status, e.reason, e.detail, e.actor.username if e.actor else "system")
            for e in sharing.history(session, world.actors["civil_requester"], request.id)]


def _ids(rows) -> list[int]:
    return [row.id for row in rows]


def _approved(session, world, **overrides):
    """(request, grant): a request of 省民政厅 approved by 省公安厅 as asked."""
    request = submitted_request(session, world, **overrides)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    return request, sharing.grant_of(session, request.id)


def _new_year_notice(session, world) -> None:
    """The admin enters 2027's New Year holidays (1 and 4 January): 2027 is known from then on."""
    for day in (date(2027, 1, 1), date(2027, 1, 4)):
        workdays.set_day(session, world.actors["admin"], day, False, "元旦")


def _as_submitted_on_24_december(request) -> None:
    """The request as submit_request left it on 24 December 2026: due 7 January 2027, counted Monday–Friday."""
    request.submitted_at = ON_24_DECEMBER
    request.reply_due, request.reply_due_estimated = date(2027, 1, 7), True


# ---------------------------------------------------------------- listing requests


def test_r07_the_boxes_list_what_the_department_asked_and_what_was_asked_of_it(session, world):
    """省数据局 both asks (of 省公安厅) and is asked (by 省民政厅): its outgoing box holds what it asked, its incoming
    box what was sent to it (not a draft 省民政厅 has not sent yet, even to the admin, who reads every request), and
    no box holds everything it may read. Kills x_list_requests__mutmut_6/7 (the outgoing box not filtered),
    11 (the incoming filter applied to every list but the incoming box), 12/13 (the incoming box not filtered), 17
    (every department's requests in the incoming box) and 18 (drafts in it)."""
    _registered_user(session, world, "authority_manager", "authority", Role.CATALOG_MANAGER)
    asker = _registered_user(session, world, "authority_requester", "authority", Role.REQUESTER)
    own = published_entry(session, world, manager="authority_manager", name="公共数据目录运行信息")
    police = published_entry(session, world)
    civil_system = consumer_system(session, world)[0]
    asked = submitted_request(session, world, entry=police, who="authority_requester")
    asked_of = submitted_request(session, world, entry=own, system=civil_system)
    draft = sharing.create_request(session, world.actors["civil_requester"],
                                   request_in(own, consumer_system_id=civil_system.id))
    between_others = submitted_request(session, world, entry=police, system=civil_system)
    assert draft.status == S.DRAFT

    admin = world.actors["admin"]
    for actor in (asker, admin):
        assert _ids(sharing.list_requests(session, actor, box="outgoing")) == [asked.id]
        assert _ids(sharing.list_requests(session, actor, box="incoming")) == [asked_of.id]
    assert _ids(sharing.list_requests(session, asker)) == [asked_of.id, asked.id]
    assert _ids(sharing.list_requests(session, admin)) == [between_others.id, draft.id, asked_of.id, asked.id]


def test_r07_the_overdue_filter_lists_requests_past_their_deadline_or_marked_overdue(session, world, monkeypatch):
    """On 11 January 2027: a pending request due on the 8th is overdue although the job has not marked it; one
    the job marked overdue stays so after its estimated deadline is recounted to the 11th; one due that day or later
    is not, nor one answered after it was marked. Kills x_list_requests__mutmut_24 (the filter applied when none is
    asked), 25/26/27/29 (what is late), 28/30 (the request's state not read or read the wrong way), 31/33 (the
    job's mark not read), 32/34 (the deadline not read) and 37/38/39/40/41 (the filter dropped or one side
    applied to both)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    ahead, due_today, past, recounted, answered = (
        submitted_request(session, world, entry=entry, system=system) for _ in range(5))
    for request, due in ((ahead, date(2027, 1, 12)), (due_today, date(2027, 1, 11)), (past, date(2027, 1, 8))):
        request.reply_due, request.reply_due_estimated = due, False
    for request in (recounted, answered):
        _as_submitted_on_24_december(request)
    assert sharing.mark_overdue(session, date(2027, 1, 8)) == 2
    sharing.reply(session, world.actors["police_reviewer"], answered.id, ReplyIn(decision="approve"))
    _new_year_notice(session, world)
    assert sharing.refresh_estimated_deadlines(session, date(2027, 1, 8)) == 1
    assert (recounted.reply_due, recounted.overdue_at is not None) == (date(2027, 1, 11), True)

    _travel(monkeypatch, date(2027, 1, 11))
    requester = world.actors["civil_requester"]
    assert _ids(sharing.list_requests(session, requester, overdue=True)) == [recounted.id, past.id]
    assert _ids(sharing.list_requests(session, requester, overdue=False)) == [answered.id, due_today.id, ahead.id]
    assert len(sharing.list_requests(session, requester)) == 5


def test_r07_a_request_due_today_is_not_overdue_until_tomorrow(session, world):
    """Counted on the node's own calendar day. Kills x_list_requests__mutmut_35 (due today taken as overdue) and
    36 (today not read from the node)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    today = workdays.local_today(session)
    due_yesterday, due_today = (submitted_request(session, world, entry=entry, system=system) for _ in range(2))
    due_yesterday.reply_due, due_today.reply_due = today - timedelta(days=1), today
    reviewer = world.actors["police_reviewer"]
    assert _ids(sharing.list_requests(session, reviewer, box="incoming", overdue=True)) == [due_yesterday.id]
    assert _ids(sharing.list_requests(session, reviewer, box="incoming", overdue=False)) == [due_today.id]


def test_r07_requests_are_listed_newest_first_a_page_at_a_time(session, world):
    """Kills x_list_requests__mutmut_44 (the offset ignored), 45 (the page size ignored) and 46 (the order
    dropped)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    first, second, third = (submitted_request(session, world, entry=entry, system=system) for _ in range(3))
    requester = world.actors["civil_requester"]
    assert _ids(sharing.list_requests(session, requester, limit=2)) == [third.id, second.id]
    assert _ids(sharing.list_requests(session, requester, limit=2, offset=1)) == [second.id, first.id]
    assert _ids(sharing.list_requests(session, requester, limit=2, offset=2)) == [first.id]


# ---------------------------------------------------------------- reading grants


def test_r09_a_missing_or_unreadable_grant_is_refused_naming_the_grant(session, world):
    """The same answer for a grant that does not exist and for one of other departments (its existence is not
    told). Kills x_get_grant__mutmut_2 (the message dropped) and 3/11/12 (the field `grant_id` dropped or
    renamed)."""
    _request, grant = _approved(session, world)
    assert sharing.get_grant(session, world.actors["civil_requester"], grant.id) is grant
    assert sharing.get_grant(session, world.actors["police_reviewer"], grant.id) is grant
    assert _raised(NotFound, sharing.get_grant, session, world.actors["city_civil_manager"], grant.id) == \
        ("grant_id", f"共享授权不存在或无权查看：{grant.id}")
    assert _raised(NotFound, sharing.get_grant, session, world.actors["police_reviewer"], 987654) == \
        ("grant_id", "共享授权不存在或无权查看：987654")


def test_r09_grants_are_listed_by_state_and_box_newest_first_a_page_at_a_time(session, world):
    """省公安厅 provides and 省民政厅 asks: each box holds its side's grants only; the state filter keeps its state
    only. Kills x_list_grants__mutmut_6/7 (the state filter dropped or inverted), 9/10 (the outgoing box not
    filtered), 15/16 (the incoming box not filtered) and 22/23/24 (the offset, the page size or the order
    dropped)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    (_, active), (_, suspended), (_, ended) = (_approved(session, world, entry=entry, system=system) for _ in range(3))
    requester, provider = world.actors["civil_requester"], world.actors["police_reviewer"]
    sharing.suspend_grant(session, suspended, SUSPENDED_WHY)
    sharing.declare_purpose_achieved(session, requester, ended.id, "低保年审已完成")
    newest_first = [ended.id, suspended.id, active.id]

    assert _ids(sharing.list_grants(session, provider, status="active")) == [active.id]
    assert _ids(sharing.list_grants(session, requester, status="suspended")) == [suspended.id]
    assert _ids(sharing.list_grants(session, requester, status="ended")) == [ended.id]
    assert _ids(sharing.list_grants(session, provider, box="incoming")) == newest_first
    assert _ids(sharing.list_grants(session, provider, box="outgoing")) == []
    assert _ids(sharing.list_grants(session, requester, box="outgoing")) == newest_first
    assert _ids(sharing.list_grants(session, requester, box="incoming")) == []
    assert _ids(sharing.list_grants(session, requester, limit=2)) == newest_first[:2]
    assert _ids(sharing.list_grants(session, requester, limit=2, offset=1)) == newest_first[1:]


def test_r09_the_competent_authority_reads_its_areas_grants_through_its_reviewers_only(session, world):
    """省数据局 supervises the province's providers: its authority reviewers read the grant 省公安厅 gave 省民政厅;
    its catalog manager does not (being in the authority is not the role), nor 合肥's authority (its area is the
    city). Kills x_readable_grants__mutmut_7 (every user of a competent authority reading its area's grants) and
    8/11 (its reviewers not reading them)."""
    _request, grant = _approved(session, world)
    catalog_manager = _user(session, world, "authority_manager", "authority", Role.CATALOG_MANAGER)
    reviewer = world.actors["reviewer"]
    assert sharing.get_grant(session, reviewer, grant.id) is grant
    assert _ids(sharing.list_grants(session, reviewer)) == [grant.id]
    for outsider in (catalog_manager, world.actors["city_reviewer"]):
        assert sharing.list_grants(session, outsider) == []
        assert _raised(NotFound, sharing.get_grant, session, outsider, grant.id) == \
            ("grant_id", f"共享授权不存在或无权查看：{grant.id}")


# ---------------------------------------------------------------- using a grant


def _refusal(grant, system_id, today) -> tuple[str, str, str] | None:
    problem = sharing.grant_refusal(grant, system_id, today)
    return problem and (problem.field, problem.message, problem.code)


NO_GRANT = ("grant", "该应用系统没有此目录的共享授权（申请未获同意或未申请）", "no_grant")


def test_r09_a_grant_serves_only_its_own_system(session, world):
    """Another system of the same department holds no grant of its own and is told so; this grant is not its.
    Kills grant_refusal mutants that drop the other-system check or its message, field or code."""
    system = consumer_system(session, world)[0]
    other_system = consumer_system(session, world, name="救助对象管理系统")[0]
    _, grant = _approved(session, world, system=system)
    today = grant.period_start
    assert _refusal(grant, system.id, today) is None
    assert _refusal(grant, None, today) is None  # a person's page preview names no system
    assert _refusal(grant, other_system.id, today) == ("grant", "该共享授权不属于此应用系统", "wrong_system")
    assert _refusal(None, other_system.id, today) == NO_GRANT


def test_r09_an_ended_or_suspended_grant_is_refused_naming_its_state(session, world):
    """A request approved and renewed before it ends: the renewal's grant serves. Once the first grant has ended
    (共享目的已实现) it is refused naming that state, and the suspended renewal naming the suspension."""
    system = consumer_system(session, world)[0]
    requester = world.actors["civil_requester"]
    first, first_grant = _approved(session, world, system=system)
    renewal = sharing.renew_request(session, requester, first.id, period_end=first.period_end + timedelta(days=200))
    sharing.reply(session, world.actors["police_reviewer"], renewal.id, ReplyIn(decision="approve"))
    renewed = sharing.grant_of(session, renewal.id)
    assert (renewal.renews_id, renewed.consumer_system_id) == (first.id, system.id)
    today = first_grant.period_start
    assert _refusal(renewed, system.id, today) is None

    sharing.declare_purpose_achieved(session, requester, first_grant.id, "首期年审已完成")
    sharing.suspend_grant(session, renewed, SUSPENDED_WHY)
    assert _refusal(first_grant, system.id, today) == \
        ("grant", f"共享授权不可用：{GrantStatus(first_grant.status).label}", "grant_ended")
    assert _refusal(renewed, system.id, today) == \
        ("grant", "共享授权已暂停（多次越权访问），待提供部门复核", "grant_suspended")


def test_r09_a_grant_past_its_period_is_refused_naming_the_period_before_the_job_ends_it(session, world):
    """The day after the period the grant is still active until the nightly job ends it; it is refused already,
    naming its period. The days of the period themselves serve, first and last."""
    system = consumer_system(session, world)[0]
    _, grant = _approved(session, world, system=system, days=10)
    assert _refusal(grant, system.id, grant.period_start) is None
    assert _refusal(grant, system.id, grant.period_end) is None
    for outside in (grant.period_start - timedelta(days=1), grant.period_end + timedelta(days=1)):
        assert _refusal(grant, system.id, outside) == \
            ("grant", f"共享授权不在有效期内（{grant.period_start} 至 {grant.period_end}）", "grant_period")
    assert grant.status == GrantStatus.ACTIVE


# ---------------------------------------------------------------- revoking a grant


def test_r09_revoking_a_grant_is_refused_naming_the_rule_and_needs_a_reason(session, world):
    """Who may revoke, and why each other one may not; a missing, empty or blank reason is refused naming the
    field; 省数据局, the competent authority over the provider, revokes it. Kills x_revoke_grant__mutmut_7 (the
    authority's branch never taken), 9 (the provider's region lost), 10/14 (the authority refusal's action lost or
    changed), 16/20 (the role refusal's action), 23 (a reason of None taken as given), 27/30–37 (the blank-reason
    refusal's message and field) and the department refusal's action."""
    _, grant = _approved(session, world)
    civil_reviewer = _user(session, world, "civil_reviewer", "civil", Role.DEPT_REVIEWER)
    refusals = [(world.actors["civil_requester"], ("role", "当前角色无权撤销共享授权（需要角色：dept_reviewer）")),
                (civil_reviewer, ("department_id", "不能撤销其他部门的数据")),
                (world.actors["city_reviewer"], ("provider", "不在本主管部门管辖范围内，无权撤销共享授权")),
                (world.actors["other_reviewer"], ("provider", "不在本主管部门管辖范围内，无权撤销共享授权"))]
    for actor, expected in refusals:
        with pytest.raises(Forbidden) as refused:
            sharing.revoke_grant(session, actor, grant.id, "越权撤销")
        assert (refused.value.field, refused.value.message) == expected, actor.username
    for blank in (None, "", "  "):
        with pytest.raises(ValidationFailed) as unexplained:
            sharing.revoke_grant(session, world.actors["police_reviewer"], grant.id, blank)
        assert (unexplained.value.field, unexplained.value.message) == ("reason", "撤销授权必须说明理由")
    assert grant.status == GrantStatus.ACTIVE
    sharing.revoke_grant(session, world.actors["reviewer"], grant.id, "用途超出履职范围")
    assert (grant.status, grant.end_reason) == (GrantStatus.ENDED, "revoked")


def test_r10_an_ended_grant_cannot_end_again_and_says_how_it_ended(session, world):
    """A second ending (共享目的已实现 twice, or revoked after the purpose was achieved) is a conflict naming the state
    and how it ended. Kills x_end_grant__mutmut_3–13 (the message, its end reason, the field or the current state
    dropped or renamed; 8 and 9 were timeouts of the paused run, checked by hand)."""
    _, grant = _approved(session, world)
    sharing.declare_purpose_achieved(session, world.actors["civil_requester"], grant.id, "年审完成")
    for again in (lambda: sharing.declare_purpose_achieved(session, world.actors["civil_requester"], grant.id, "再次"),
                  lambda: sharing.revoke_grant(session, world.actors["police_reviewer"], grant.id, "撤销")):
        with pytest.raises(Conflict) as conflict:
            again()
        assert (conflict.value.field, conflict.value.message, conflict.value.extra) == (
            "status", "共享授权已终止（共享目的已实现）", {"current_status": "ended"})


def test_r10_only_the_requesting_departments_requester_acts_on_its_grant(session, world):
    """The provider's reviewer and a requester of another department are refused, each told why. Kills
    x__requester_grant__mutmut_7/11 (the role refusal's action lost or changed) and 14/18 (the department refusal's
    action)."""
    _, grant = _approved(session, world)
    city_requester = _user(session, world, "city_civil_requester", "city_civil", Role.REQUESTER)
    refusals = [(world.actors["police_reviewer"], ("role", "当前角色无权办理共享授权（需要角色：requester）")),
                (city_requester, ("department_id", "不能办理其他部门的数据"))]
    for actor, expected in refusals:
        for act in (sharing.declare_purpose_achieved, sharing.confirm_deletion):
            with pytest.raises(Forbidden) as refused:
                act(session, actor, grant.id, "越权办理")
            assert (refused.value.field, refused.value.message) == expected, actor.username
    assert grant.status == GrantStatus.ACTIVE


def test_r07_a_request_or_grant_that_is_not_there_is_named_by_its_field(session, world):
    """Kills x_get_request__mutmut_3/11/12 and x__locked_grant__mutmut_9/10/15/16 (the field or message of the
    not-found answer dropped or renamed)."""
    with pytest.raises(NotFound) as missing:
        sharing.get_request(session, world.actors["civil_requester"], 987654)
    assert (missing.value.field, missing.value.message) == ("request_id", "共享申请不存在或无权查看：987654")
    with pytest.raises(NotFound) as missing:
        sharing.revoke_grant(session, world.actors["police_reviewer"], 987654, "撤销")
    assert (missing.value.field, missing.value.message) == ("grant_id", "共享授权不存在：987654")


def test_r08_a_grant_that_ends_closes_only_the_open_steps_of_its_dispute(session, world):
    """A step already decided keeps its decision when the grant later ends. Kills x__close_open_disputes__mutmut_5
    (every step of the request withdrawn, decided ones too)."""
    from tests.test_disputes import _partly_approved

    request = _partly_approved(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "户籍地址为必要信息")
    disputes.decide(session, world.actors["police_reviewer"], step.id,
                    ReplyIn(decision="approve", reason="经协商同意提供户籍地址"))
    assert step.status == DisputeStatus.DECIDED
    sharing.declare_purpose_achieved(session, world.actors["civil_requester"], sharing.grant_of(session, request.id).id,
                                     "年审完成")
    assert step.status == DisputeStatus.DECIDED


def test_r07_a_request_is_overdue_only_after_its_due_day(session, world):
    """Kills x_is_overdue__mutmut_5 (overdue on the due day itself)."""
    request = submitted_request(session, world)
    assert not sharing.is_overdue(request, request.reply_due)
    assert sharing.is_overdue(request, request.reply_due + timedelta(days=1))


# ---------------------------------------------------------------- suspending and reinstating a grant


def test_r09_a_suspended_grant_is_refused_on_the_record_and_told_to_both_parties_with_the_reason(session, world):
    """Kills x_suspend_grant__mutmut_7/13 (the reason left off the record), 8/14/17/18 (the grant left off it),
    15/16 (the event renamed) and 24/30 (the reason left out of the notice)."""
    system = consumer_system(session, world)[0]
    request, grant = _approved(session, world, system=system)
    sharing.suspend_grant(session, grant, SUSPENDED_WHY)
    assert (grant.status, grant.suspend_reason, grant.suspended_at is not None) == \
        (GrantStatus.SUSPENDED, SUSPENDED_WHY, True)
    assert _refusal(grant, system.id, grant.period_start) == \
        ("grant", "共享授权已暂停（多次越权访问），待提供部门复核", "grant_suspended")
    assert _events(session, world, request)[-1] == \
        ("grant_suspended", None, "approved", SUSPENDED_WHY, {"grant_id": grant.id}, "system")
    told = [(f"共享授权已暂停：{request.entry.name}", SUSPENDED_WHY, f"/sharing/requests/{request.id}")]
    assert _told(session, "grant.suspended") == {"police_reviewer": told, "civil_requester": told}


def test_r09_reinstating_a_grant_is_refused_naming_the_field_and_the_rule(session, world):
    """Only the provider's own reviewer reinstates, only a suspended grant, and only with the conclusion of the
    review. Kills x_reinstate_grant__mutmut_7/11 (the action left out of the role refusal), 14/18 (of the
    department refusal), 20/23/26 (the message of a grant not suspended), 21/24/27/28 (its field), 22/25/29/30 (its
    current state), 33 (no reason accepted) and 34–40 (the message or field of the missing reason)."""
    _request, grant = _approved(session, world)
    other_reviewer = _user(session, world, "city_civil_reviewer", "city_civil", Role.DEPT_REVIEWER)
    reviewer = world.actors["police_reviewer"]
    with pytest.raises(Conflict) as refused:
        sharing.reinstate_grant(session, reviewer, grant.id, "复核无异常")
    assert (refused.value.field, refused.value.message, refused.value.extra) == \
        ("status", "只有已暂停的授权可以恢复（当前：有效）", {"current_status": "active"})

    sharing.suspend_grant(session, grant, SUSPENDED_WHY)
    conclusion = "经复核，越权请求系配置错误，已整改"
    assert _raised(Forbidden, sharing.reinstate_grant, session, world.actors["police_manager"], grant.id,
                   conclusion) == ("role", "当前角色无权恢复共享授权（需要角色：dept_reviewer）")
    assert _raised(Forbidden, sharing.reinstate_grant, session, other_reviewer, grant.id, conclusion) == \
        ("department_id", "不能恢复其他部门的数据")
    for blank in ("", " ", None):
        assert _raised(ValidationFailed, sharing.reinstate_grant, session, reviewer, grant.id, blank) == \
            ("reason", "恢复授权必须说明复核结论")
    assert (grant.status, grant.suspend_reason) == (GrantStatus.SUSPENDED, SUSPENDED_WHY)


def test_r09_a_grant_ended_while_suspended_cannot_be_reinstated_and_says_it_ended(session, world):
    """Kills x_reinstate_grant__mutmut_20/26 (the state named in the refusal)."""
    _request, grant = _approved(session, world)
    sharing.suspend_grant(session, grant, SUSPENDED_WHY)
    sharing.revoke_grant(session, world.actors["police_reviewer"], grant.id, "多次越权，撤销授权")
    with pytest.raises(Conflict) as refused:
        sharing.reinstate_grant(session, world.actors["police_reviewer"], grant.id, "复核无异常")
    assert (refused.value.field, refused.value.message, refused.value.extra) == \
        ("status", "只有已暂停的授权可以恢复（当前：已终止）", {"current_status": "ended"})


def test_r09_a_reinstated_grant_is_usable_recorded_and_told_to_the_requester(session, world):
    """The grant is active again and its page no longer shows why it was suspended; the review's conclusion is on
    the request's record and told to the requester. Kills x_reinstate_grant__mutmut_42 (the suspension's reason
    left on the grant), 47/53 (the conclusion left off the record), 48/54/57/58 (the grant left off it), 55/56
    (the event renamed), 64/70 (the conclusion left out of the notice) and 71/72 (the notice renamed)."""
    system = consumer_system(session, world)[0]
    request, grant = _approved(session, world, system=system)
    sharing.suspend_grant(session, grant, SUSPENDED_WHY)
    conclusion = "经复核，越权请求系配置错误，已整改"
    sharing.reinstate_grant(session, world.actors["police_reviewer"], grant.id, conclusion)
    assert (grant.status, grant.suspend_reason) == (GrantStatus.ACTIVE, "")
    assert _refusal(grant, system.id, grant.period_start) is None
    assert _events(session, world, request)[-1] == \
        ("grant_reinstated", None, "approved", conclusion, {"grant_id": grant.id}, "police_reviewer")
    assert _told(session, "grant.reinstated") == {
        "civil_requester": [(f"共享授权已恢复：{request.entry.name}", conclusion, f"/sharing/requests/{request.id}")]}


# ---------------------------------------------------------------- withdrawing


def test_r07_a_withdrawn_request_is_recorded_and_told_to_the_provider_with_the_reason(session, world):
    """A pending request withdrawn is on the record with its reason and the provider's reviewers are told why; a
    draft withdrawn was never sent, so no one is told. Kills x_withdraw_request__mutmut_37/43 (the reason left out
    of the notice) and 44/45 (the notice renamed)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    requester = world.actors["civil_requester"]
    pending = submitted_request(session, world, entry=entry, system=system)
    draft = sharing.create_request(session, requester, request_in(entry, consumer_system_id=system.id))
    sharing.withdraw_request(session, requester, pending.id, "已通过其他途径取得")
    sharing.withdraw_request(session, requester, draft.id, "填写有误")
    assert _events(session, world, pending)[-1] == \
        ("withdrawn", "submitted", "withdrawn", "已通过其他途径取得", {}, "civil_requester")
    assert _events(session, world, draft)[-1] == ("withdrawn", "draft", "withdrawn", "填写有误", {}, "civil_requester")
    assert _told(session, "request.withdrawn") == {"police_reviewer": [
        (f"共享申请已撤回：{entry.name}", "已通过其他途径取得", f"/sharing/requests/{pending.id}")]}


# ---------------------------------------------------------------- renewing


def test_r10_a_renewal_is_refused_naming_the_field_and_the_rule(session, world):
    """Only a requester of the department that asked renews, and only a request approved or expired. Kills
    x_renew_request__mutmut_9/13 (the action left out of the role refusal), 16/20 (of the department refusal),
    22/25/28 (the message of a request that cannot be renewed), 23/26/29/30 (its field) and 24/27/31/32 (its
    current state)."""
    request, _grant = _approved(session, world)
    pending = submitted_request(session, world, entry=request.entry, system=request.consumer_system)
    police_requester = _user(session, world, "police_requester", "police", Role.REQUESTER)
    period_end = request.period_end + timedelta(days=365)
    assert _raised(Forbidden, sharing.renew_request, session, world.actors["police_reviewer"], request.id,
                   period_end) == ("role", "当前角色无权申请续期（需要角色：requester）")
    assert _raised(Forbidden, sharing.renew_request, session, police_requester, request.id, period_end) == \
        ("department_id", "不能续期其他部门的数据")
    with pytest.raises(Conflict) as refused:
        sharing.renew_request(session, world.actors["civil_requester"], pending.id, period_end)
    assert (refused.value.field, refused.value.message, refused.value.extra) == \
        ("status", "只有已获同意或已到期的申请可以续期申请，当前状态：待答复", {"current_status": "submitted"})


def test_r10_a_renewal_asks_for_what_was_granted_from_the_day_asked(session, world):
    """A verify-only request partly approved (fewer items, a narrower area) is renewed for what the grant gave, not
    for what was first asked, still verify-only, through the same system, from the day after the grant ends. Kills
    x_renew_request__mutmut_33/35/65 (the first request's items and area asked again), 38/39/40/48/59/67 (the area
    dropped or the first request's), 61 (verify-only dropped) and 51/62 (the period's start dropped)."""
    request = submitted_request(session, world, row_scope=RowScope(item="hjdz", prefixes=["34"]), verify_only=True)
    gmsfhm, xm, _csrq, hjdz = request.item_ids
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(
        decision="approve_in_part", item_ids=[gmsfhm, xm, hjdz], row_scope=RowScope(item="hjdz", prefixes=["340100"]),
        reason="出生日期非必要，范围限于合肥市"))
    grant = sharing.grant_of(session, request.id)
    start, end = request.period_end + timedelta(days=1), request.period_end + timedelta(days=365)
    renewal = sharing.renew_request(session, world.actors["civil_requester"], request.id, end, period_start=start)
    assert (renewal.status, renewal.renews_id, renewal.consumer_system_id) == \
        (S.SUBMITTED, request.id, request.consumer_system_id)
    assert (renewal.item_ids, renewal.row_scope, renewal.verify_only) == \
        ([gmsfhm, xm, hjdz], {"item": "hjdz", "prefixes": ["340100"]}, True)
    assert (renewal.item_ids, renewal.row_scope) == (grant.item_ids, grant.row_scope)
    assert (renewal.period_start, renewal.period_end) == (start, end)


def test_r10_a_renewal_keeps_the_share_method_and_is_refused_once_the_entry_changed_it(session, world):
    """The provider's revision now shares the entry as 库表 rather than through the interface: a renewal asks for
    the same terms, so it is refused naming the method (the requester makes a new request). Kills
    x_renew_request__mutmut_49/60 (the renewal taking whatever method the entry has now)."""
    request, _grant = _approved(session, world)
    revision = catalog.propose_revision(session, world.actors["police_manager"], request.entry_id,
                                        population_entry(share_method="库表"), "改为库表交换")
    catalog.approve_revision(session, world.actors["reviewer"], revision.id)
    assert request.entry.share_method == "table"
    assert _raised(ValidationFailed, sharing.renew_request, session, world.actors["civil_requester"], request.id,
                   request.period_end + timedelta(days=365)) == ("share_method", "该目录的共享方式为“库表”")
    assert _ids(sharing.list_requests(session, world.actors["civil_requester"])) == [request.id]


# ---------------------------------------------------------------- ending a grant


def test_r10_the_requester_ends_its_grant_with_a_note_then_confirms_deletion_once_it_has_ended(session, world):
    """While the grant is active, deletion cannot be confirmed; the requester declares the purpose achieved with a
    note, which is on the record and in the notice asking it to delete the data; then it confirms the deletion and
    the provider is told. Kills x_declare_purpose_achieved__mutmut_13/18 (the note dropped) and
    x_confirm_deletion__mutmut_10/16 (the refusal's message), 11/14/17/18 (its field), 12/15/19/20 (its current
    state), 29 (the note not kept) and 37/43/46/47 (the grant left off the record)."""
    request, grant = _approved(session, world)
    requester = world.actors["civil_requester"]
    with pytest.raises(Conflict) as refused:
        sharing.confirm_deletion(session, requester, grant.id, "已删除本地缓存")
    assert (refused.value.field, refused.value.message, refused.value.extra) == \
        ("status", "授权仍然有效，终止后才能确认删除", {"current_status": "active"})

    sharing.declare_purpose_achieved(session, requester, grant.id, "低保年审已完成")
    link = f"/sharing/requests/{request.id}"
    assert (grant.status, grant.end_reason, request.status) == (GrantStatus.ENDED, "purpose_achieved", S.EXPIRED)
    assert _events(session, world, request)[-1] == \
        ("grant_purpose_achieved", "approved", "expired", "低保年审已完成", {"grant_id": grant.id}, "civil_requester")
    told = [(f"共享授权已终止（共享目的已实现）：{request.entry.name}", f"低保年审已完成。{DELETE_PLEASE}", link)]
    assert _told(session, "grant.ended") == {"civil_requester": told, "police_reviewer": told}

    sharing.confirm_deletion(session, requester, grant.id, "已删除本地缓存")
    assert (grant.deletion_confirmed_at is not None, grant.deletion_note) == (True, "已删除本地缓存")
    assert _events(session, world, request)[-1] == \
        ("deletion_confirmed", None, "expired", "已删除本地缓存", {"grant_id": grant.id}, "civil_requester")
    assert _told(session, "grant.deletion_confirmed") == {
        "police_reviewer": [(f"需求部门已确认删除数据：{request.entry.name}", "已删除本地缓存", link)]}


def test_r10_deletion_is_confirmed_once_and_without_a_note_none_is_stored(session, world):
    """The grant ended with its period; the requester confirms the deletion without a note (none is stored, on the
    grant or the record), and a second confirmation is refused naming the rule. Kills x_confirm_deletion__mutmut_30
    (a note made up) and 21/23/25 (the message of the second confirmation), 22/24/26/27 (its field)."""
    request, grant = _approved(session, world, days=10)
    sharing.expire_grants(session, grant.period_end + timedelta(days=1))
    requester = world.actors["civil_requester"]
    sharing.confirm_deletion(session, requester, grant.id, "")
    assert (grant.deletion_confirmed_at is not None, grant.deletion_note) == (True, "")
    assert _events(session, world, request)[-1] == \
        ("deletion_confirmed", None, "expired", "", {"grant_id": grant.id}, "civil_requester")
    confirmed_at = grant.deletion_confirmed_at
    assert _raised(Conflict, sharing.confirm_deletion, session, requester, grant.id, "再次确认") == \
        ("deletion_confirmed_at", "已确认删除")
    assert (grant.deletion_confirmed_at, grant.deletion_note) == (confirmed_at, "")


# ---------------------------------------------------------------- the jobs


def _working_days_before(session, due: date, count: int) -> date:
    """The last day from which `due` is `count` working days away."""
    calendar, day = workdays.WorkCalendar(session), due
    while calendar.working_days_between(day, due) < count:
        day -= timedelta(days=1)
    return day


def test_r07_the_provider_is_reminded_once_of_each_request_due_within_the_reminder_days(session, world):
    """With the node's two working days, a request three working days from its deadline is not yet reminded, one
    two days from it is; an answered request is not; the provider's reviewers are told the deadline, once. Kills
    x_remind_due__mutmut_10 (an answered request reminded), 22 (the last reminder day left out), 29/35 (the deadline
    left out of the reminder), 36/37 (the reminder renamed) and 39 (two reminders counted as one)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    first, second, answered = (submitted_request(session, world, entry=entry, system=system) for _ in range(3))
    sharing.reply(session, world.actors["police_reviewer"], answered.id, ReplyIn(decision="approve"))
    due = first.reply_due
    days = settings_of(session).reminder_working_days
    assert days == 2 and second.reply_due == answered.reply_due == due

    assert sharing.remind_due(session, _working_days_before(session, due, days + 1)) == 0
    assert sharing.remind_due(session, _working_days_before(session, due, days)) == 2
    assert sharing.remind_due(session, due) == 0
    assert (first.reminded_at is not None, second.reminded_at is not None, answered.reminded_at) == (True, True, None)
    assert _told(session, "request.reminder") == {"police_reviewer": [
        (f"共享申请即将到期：{entry.name}", f"请于 {due} 前答复。", f"/sharing/requests/{request.id}")
        for request in (first, second)]}


def test_r07_a_request_already_past_its_deadline_is_not_reminded_of_it(session, world):
    """Past its deadline a request is overdue (mark_overdue tells both parties), not due soon. Kills
    x_remind_due__mutmut_12 (requests past their deadline reminded)."""
    request = submitted_request(session, world)
    assert sharing.remind_due(session, request.reply_due + timedelta(days=1)) == 0
    assert request.reminded_at is None and _told(session, "request.reminder") == {}


def test_r07_an_unanswered_request_is_marked_overdue_once_recorded_and_told_to_both_parties(session, world):
    """An answered request is never overdue; each late one is marked once, with its deadline on its record, and
    both parties are told the deadline and that the requester may escalate. Kills x_mark_overdue__mutmut_6 (an
    answered request marked), 7 (a request marked again each night), 19/24/27/28 (the deadline left off the record),
    34/40 (the notice's body dropped) and 45 (two requests counted as one)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    first, second, answered = (submitted_request(session, world, entry=entry, system=system) for _ in range(3))
    sharing.reply(session, world.actors["police_reviewer"], answered.id, ReplyIn(decision="approve"))
    due = first.reply_due
    assert second.reply_due == answered.reply_due == due

    assert sharing.mark_overdue(session, due) == 0
    assert sharing.mark_overdue(session, due + timedelta(days=1)) == 2
    assert sharing.mark_overdue(session, due + timedelta(days=2)) == 0
    assert (first.overdue_at is not None, second.overdue_at is not None, answered.overdue_at) == (True, True, None)
    marked = ("overdue", None, "submitted", "", {"reply_due": due.isoformat()}, "system")
    for request in (first, second):
        assert [event for event in _events(session, world, request) if event[0] == "overdue"] == [marked]
    told = [(f"共享申请逾期未答复：{entry.name}", f"答复期限为 {due}。需求部门可以提起争议协调。",
             f"/sharing/requests/{request.id}") for request in (first, second)]
    assert _told(session, "request.overdue") == {"police_reviewer": told, "civil_requester": told}


def test_r10_a_grant_whose_period_ended_is_ended_saying_when_and_told_to_both_parties(session, world):
    """Kills x_expire_grants__mutmut_15/20 (the note of the period's end dropped from the record and the
    notice)."""
    request, grant = _approved(session, world, days=10)
    end = grant.period_end
    assert sharing.expire_grants(session, end) == 0
    assert sharing.expire_grants(session, end + timedelta(days=1)) == 1
    ended = f"使用期限已于 {end} 届满"
    assert (grant.status, grant.end_reason, request.status) == (GrantStatus.ENDED, "period_ended", S.EXPIRED)
    assert _events(session, world, request)[-1] == \
        ("grant_period_ended", "approved", "expired", ended, {"grant_id": grant.id}, "system")
    told = [(f"共享授权已终止（期限届满）：{request.entry.name}", f"{ended}。{DELETE_PLEASE}",
             f"/sharing/requests/{request.id}")]
    assert _told(session, "grant.ended") == {"civil_requester": told, "police_reviewer": told}


# ---------------------------------------------------------------- estimated deadlines counted again


def test_r07_only_the_pending_requests_estimated_deadlines_are_counted_again(session, world):
    """Two pending requests counted Monday–Friday get the official dates once the notice is entered, and both are
    counted; a request withdrawn meanwhile keeps the deadline it had, and a pending request whose deadline was
    official when it was told keeps it although the admin has since changed a day of its period. Kills
    x_refresh_estimated_deadlines__mutmut_10 (a withdrawn request recounted), 11 (an official deadline recounted)
    and 25 (two recounts counted as one)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    later, earlier, withdrawn, official = (
        submitted_request(session, world, entry=entry, system=system) for _ in range(4))
    for request in (later, withdrawn):
        _as_submitted_on_24_december(request)
    earlier.submitted_at = datetime(2026, 12, 23, 2, 0)
    earlier.reply_due, earlier.reply_due_estimated = date(2027, 1, 6), True
    official.submitted_at = datetime(2026, 12, 1, 2, 0)
    official.reply_due, official.reply_due_estimated = date(2026, 12, 15), False
    assert workdays.deadline(session, date(2026, 12, 1), 10) == workdays.Deadline(date(2026, 12, 15), False)
    sharing.withdraw_request(session, world.actors["civil_requester"], withdrawn.id, "已通过其他途径取得")

    workdays.set_day(session, world.actors["admin"], date(2026, 12, 11), False, "临时调休")
    _new_year_notice(session, world)
    assert sharing.refresh_estimated_deadlines(session, date(2026, 12, 28)) == 2
    assert (later.reply_due, later.reply_due_estimated) == (date(2027, 1, 11), False)
    assert (earlier.reply_due, earlier.reply_due_estimated) == (date(2027, 1, 8), False)
    assert (withdrawn.status, withdrawn.reply_due, withdrawn.reply_due_estimated) == \
        (S.WITHDRAWN, date(2027, 1, 7), True)
    assert (official.reply_due, official.reply_due_estimated) == (date(2026, 12, 15), False)
    assert sharing.refresh_estimated_deadlines(session, date(2026, 12, 28)) == 0


def test_r08_an_open_steps_estimated_deadline_is_counted_again_with_its_levels_days(session, world, monkeypatch):
    """A negotiation opened on 28 December 2026 is due five working days later, counted Monday–Friday into 2027
    (4 January); once the notice is entered it is due on 6 January, officially, and counted with the pending request
    recounted beside it. A negotiation withdrawn meanwhile keeps its deadline, and one opened on 1 December with an
    official deadline keeps it although the admin has since changed a day of its period. Kills
    x_refresh_estimated_deadlines__mutmut_30/31/36/37 (which steps are recounted), 32/35 (a closed step recounted or
    the open one not), 33 (an official deadline recounted), 34 and 38–52/56 (the recount of a step broken or not
    stored) and 53/54/55 (the recounted steps not counted, or the others counted)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    requester = world.actors["civil_requester"]
    pending = submitted_request(session, world, entry=entry, system=system)
    _as_submitted_on_24_december(pending)
    official_request, open_request, withdrawn_request = (
        _refused(session, world, entry=entry, system=system) for _ in range(3))

    _travel(monkeypatch, date(2026, 12, 1))
    official = disputes.escalate(session, requester, official_request.id, "申请协商")
    official.opened_at = datetime(2026, 12, 1, 2, 0)
    _travel(monkeypatch, date(2026, 12, 28))
    opened, withdrawn = (disputes.escalate(session, requester, request.id, "申请协商")
                         for request in (open_request, withdrawn_request))
    for step in (opened, withdrawn):
        step.opened_at = datetime(2026, 12, 28, 2, 0)
    sharing.withdraw_request(session, requester, withdrawn_request.id, "已通过其他途径取得")
    assert (official.due, official.due_estimated) == (date(2026, 12, 8), False)
    assert [(s.status, s.due, s.due_estimated) for s in (opened, withdrawn)] == [
        (DisputeStatus.OPEN, date(2027, 1, 4), True), (DisputeStatus.WITHDRAWN, date(2027, 1, 4), True)]

    workdays.set_day(session, world.actors["admin"], date(2026, 12, 4), False, "临时调休")
    _new_year_notice(session, world)
    assert sharing.refresh_estimated_deadlines(session, date(2026, 12, 28)) == 2
    assert (pending.reply_due, pending.reply_due_estimated) == (date(2027, 1, 11), False)
    assert (opened.due, opened.due_estimated) == (date(2027, 1, 6), False)
    assert (withdrawn.due, withdrawn.due_estimated) == (date(2027, 1, 4), True)
    assert (official.status, official.due, official.due_estimated) == (DisputeStatus.OPEN, date(2026, 12, 8), False)
    assert sharing.refresh_estimated_deadlines(session, date(2026, 12, 28)) == 0


# ---------------------------------------------------------------- replies: narrower terms, the record, the quota

PROVINCE, HEFEI = {"item": "hjdz", "prefixes": ["34"]}, {"item": "hjdz", "prefixes": ["340100"]}


def test_r07_a_reply_is_narrower_when_any_one_of_items_period_or_rows_is_narrower():
    """部分同意 needs terms narrower in at least one way, and any one is enough; the same terms, or a different row
    scope that is not inside the asked one, are not narrower. Kills x_is_narrower__mutmut_1 (all three ways needed)
    and 9–12 (the row scope's comparison changed or dropped)."""
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    asked = sharing.Terms([1, 2, 3], PROVINCE, start, end)
    assert not sharing.is_narrower(asked, asked)
    assert sharing.is_narrower(sharing.Terms([1, 2], PROVINCE, start, end), asked)
    assert sharing.is_narrower(sharing.Terms([1, 2, 3], PROVINCE, start, date(2026, 6, 30)), asked)
    assert sharing.is_narrower(sharing.Terms([1, 2, 3], HEFEI, start, end), asked)
    assert sharing.is_narrower(sharing.Terms([1, 2, 3], HEFEI, start, end), sharing.Terms([1, 2, 3], {}, start, end))
    other_item = {"item": "xzqhdm", "prefixes": ["340100"]}
    assert not sharing.is_narrower(sharing.Terms([1, 2, 3], other_item, start, end), asked)


def test_r07_a_reply_narrowed_only_by_period_or_only_by_rows_is_approve_in_part(session, world):
    """A reply that keeps every item but shortens the period, or keeps the period but narrows the rows, must be
    部分同意 with a reason: 同意 is refused naming the decision."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    reviewer = world.actors["police_reviewer"]
    by_period = submitted_request(session, world, entry=entry, system=system, row_scope=RowScope(**PROVINCE))
    shorter = by_period.period_end - timedelta(days=30)
    by_rows = submitted_request(session, world, entry=entry, system=system, row_scope=RowScope(**PROVINCE))
    narrower = {by_period.id: {"period_end": shorter}, by_rows.id: {"row_scope": RowScope(**HEFEI)}}
    for request_id, narrowed in narrower.items():
        field, message = _raised(ValidationFailed, sharing.reply, session, reviewer, request_id,
                                 ReplyIn(decision="approve", **narrowed))
        assert (field, message.startswith("减少信息项、缩小范围或缩短期限属于“部分同意”")) == ("decision", True)
        in_part = ReplyIn(decision="approve_in_part", reason="按辖区限定", **narrowed)
        sharing.reply(session, reviewer, request_id, in_part)
    assert sharing.grant_of(session, by_period.id).period_end == shorter
    assert sharing.grant_of(session, by_rows.id).row_scope == HEFEI


def test_r07_the_decision_and_its_reason_are_on_the_requests_record(session, world):
    """The reply's reason is kept on the request and on its record, beside the terms decided. Kills
    x__decide__mutmut_7 (the reason left out of the record)."""
    request = submitted_request(session, world)
    sharing.reply(session, world.actors["police_reviewer"], request.id,
                  ReplyIn(decision="refuse", reason="申请事项不属于社会救助职责"))
    action, before, after, reason, detail, who = _events(session, world, request)[-1]
    assert (action, before, after, reason, who) == ("replied", "submitted", "refused", "申请事项不属于社会救助职责",
                                                    "police_reviewer")
    assert detail["decision"] == "refuse" and request.decision_reason == "申请事项不属于社会救助职责"


def test_r09_a_new_grant_gets_the_nodes_daily_quota_and_none_when_it_is_0(session, world, monkeypatch):
    """GOVSHARE_DEFAULT_DAILY_QUOTA is the calls per day of every new grant; 0 means no quota (None on the grant).
    Kills x_bind_grant__mutmut_17/27/28 (the quota not set, or not from the node's settings)."""
    entry = published_entry(session, world)
    system = consumer_system(session, world)[0]
    node = settings_of(session).model_copy(update={"default_daily_quota": 7})
    monkeypatch.setitem(session.info, "settings", node)
    assert _approved(session, world, entry=entry, system=system)[1].daily_quota == 7
    monkeypatch.setitem(session.info, "settings", node.model_copy(update={"default_daily_quota": 0}))
    assert _approved(session, world, entry=entry, system=system)[1].daily_quota is None
