"""One-stop sharing: requests, replies, grants, the state machine (R07, R09, R10)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from govshare.authz import Actor
from govshare.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from govshare.notify.models import Notification
from govshare.orgs import systems
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant, RequestEvent, ShareRequest
from govshare.sharing.schemas import ReplyIn, RowScope
from govshare.sharing.vocab import GrantStatus, RequestStatus
from tests.factories import (
    consumer_system,
    published_entry,
    request_in,
    submitted_request,
)

S = RequestStatus


def _notified(session, username_id: int) -> list[str]:
    return list(session.scalars(select(Notification.event).where(Notification.user_id == username_id)))


def test_r07_conditional_request_waits_for_the_providers_reply_within_the_deadline(session, world):
    request = submitted_request(session, world)
    assert request.status == S.SUBMITTED
    assert request.reply_due is not None and request.reply_due > date.today()
    assert sharing.grant_of(session, request.id) is None
    # the provider's reviewer is told
    assert "request.submitted" in _notified(session, world.ids["user:police_reviewer"])


def test_r07_unconditional_request_is_granted_at_once_with_purpose_and_scenario_kept(session, world):
    entry = published_entry(session, world, share_type="无条件共享", share_condition="", name="企业登记信息",
                            share_method="库表")
    request = sharing.create_request(session, world.actors["civil_requester"],
                                     request_in(entry, duty_basis=""), submit=True)
    assert request.status == S.APPROVED
    grant = sharing.grant_of(session, request.id)
    assert grant.status == GrantStatus.ACTIVE
    assert (grant.purpose, grant.scenario) == (request.purpose, request.scenario)
    actions = [e.action for e in sharing.history(session, world.actors["civil_requester"], request.id)]
    assert actions == ["created", "submitted", "auto_approved"]


def test_r07_not_shared_entry_cannot_be_requested_and_the_error_cites_its_legal_basis(session, world):
    basis = "《中华人民共和国统计法》第二十八条"
    entry = published_entry(session, world, share_type="不予共享", share_condition="", legal_basis=basis,
                            name="经济普查单位原始调查资料")
    with pytest.raises(ValidationFailed) as error:
        sharing.create_request(session, world.actors["civil_requester"], request_in(entry), submit=True)
    assert basis in error.value.message and error.value.field == "entry_id"
    assert session.scalar(select(func.count()).select_from(ShareRequest)) == 0


def test_r07_conditional_request_needs_a_duty_basis_and_listed_items(session, world):
    entry = published_entry(session, world)
    system, _ = consumer_system(session, world)
    with pytest.raises(ValidationFailed) as error:
        sharing.create_request(session, world.actors["civil_requester"],
                               request_in(entry, duty_basis="", consumer_system_id=system.id))
    assert error.value.field == "duty_basis"
    with pytest.raises(ValidationFailed) as error:
        sharing.create_request(session, world.actors["civil_requester"],
                               request_in(entry, item_ids=[], consumer_system_id=system.id))
    assert error.value.field == "item_ids"


def test_r07_approval_creates_a_grant_with_exactly_the_requested_terms(session, world):
    request = submitted_request(session, world, items=2,
                                row_scope=RowScope(item="hjdz", prefixes=["340100"]))
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve", rate_limit=20))
    grant = sharing.grant_of(session, request.id)
    assert request.status == S.APPROVED
    assert grant.item_ids == request.item_ids and len(grant.item_ids) == 2
    assert grant.row_scope == {"item": "hjdz", "prefixes": ["340100"]}
    assert grant.consumer_system_id == request.consumer_system_id and grant.rate_limit == 20
    assert "request.decided" in _notified(session, world.ids["user:civil_requester"])


def test_r07_partial_approval_narrows_and_needs_a_reason(session, world):
    request = submitted_request(session, world)
    reviewer = world.actors["police_reviewer"]
    fewer = request.item_ids[:2]
    with pytest.raises(ValidationFailed) as error:
        sharing.reply(session, reviewer, request.id, ReplyIn(decision="approve_in_part", item_ids=fewer))
    assert error.value.field == "reason"
    with pytest.raises(ValidationFailed) as error:  # nothing narrower: not a partial approval
        sharing.reply(session, reviewer, request.id, ReplyIn(decision="approve_in_part", reason="部分同意"))
    assert error.value.field == "decision"
    with pytest.raises(ValidationFailed) as error:  # a reply never widens the request
        sharing.reply(session, reviewer, request.id, ReplyIn(
            decision="approve_in_part", reason="x", period_end=request.period_end + timedelta(days=1)))
    assert error.value.field == "period_end"
    sharing.reply(session, reviewer, request.id, ReplyIn(decision="approve_in_part", item_ids=fewer,
                                                         reason="户籍地址不属于低保审核的必要信息"))
    assert request.status == S.PARTLY_APPROVED
    assert sharing.grant_of(session, request.id).item_ids == fewer


def test_r07_refusal_needs_reasons_and_gives_no_grant(session, world):
    request = submitted_request(session, world)
    with pytest.raises(ValidationFailed) as error:
        sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="refuse"))
    assert error.value.field == "reason"
    sharing.reply(session, world.actors["police_reviewer"], request.id,
                  ReplyIn(decision="refuse", reason="申请用途与所需信息项不符"))
    assert request.status == S.REFUSED and sharing.grant_of(session, request.id) is None


def test_r09_a_refused_request_cannot_be_used(session, world):
    system, secret = consumer_system(session, world)
    request = submitted_request(session, world, system=system)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="refuse", reason="不符合条件"))
    assert systems.authenticate_system(session, system.client_id, secret) is system
    assert sharing.grant_of(session, request.id) is None


def test_r07_a_requester_cannot_decide_its_own_request(db, world, client):
    with db.session() as s:
        request_id = submitted_request(s, world).id
    with pytest.raises(Forbidden), db.session() as s:
        sharing.reply(s, world.actors["civil_requester"], request_id, ReplyIn(decision="approve"))
    response = client.post(f"/api/v1/sharing/requests/{request_id}/reply", json={"decision": "approve"},
                           headers=world.headers("civil_requester"))
    assert response.status_code == 403
    assert client.get(f"/api/v1/sharing/requests/{request_id}",
                      headers=world.headers("civil_requester")).json()["status"] == "submitted"


def test_only_the_providers_reviewer_replies(session, world):
    request = submitted_request(session, world)
    for who in ("police_manager", "reviewer", "auditor", "city_civil_manager"):
        with pytest.raises(Forbidden):
            sharing.reply(session, world.actors[who], request.id, ReplyIn(decision="approve"))
    assert request.status == S.SUBMITTED


def test_a_department_cannot_see_another_departments_drafts(db, world, client):
    with db.session() as session:
        entry = published_entry(session, world)
        system, _ = consumer_system(session, world)
        draft = sharing.create_request(session, world.actors["civil_requester"],
                                       request_in(entry, consumer_system_id=system.id))
    assert draft.status == S.DRAFT
    for who in ("police_reviewer", "city_civil_manager", "reviewer"):
        with pytest.raises(NotFound), db.session(read_only=True) as session:
            sharing.get_request(session, world.actors[who], draft.id)
        response = client.get(f"/api/v1/sharing/requests/{draft.id}", headers=world.headers(who))
        assert response.status_code == 404
        listed = client.get("/api/v1/sharing/requests", headers=world.headers(who)).json()
        assert draft.id not in [r["id"] for r in listed]
    assert client.get(f"/api/v1/sharing/requests/{draft.id}",
                      headers=world.headers("civil_requester")).status_code == 200


def test_illegal_transition_is_409_with_the_current_state(db, world, client):
    with db.session() as session:
        request = submitted_request(session, world)
        sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="refuse", reason="不符合"))
    response = client.post(f"/api/v1/sharing/requests/{request.id}/reply", json={"decision": "approve"},
                           headers=world.headers("police_reviewer"))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["current_status"] == "refused" and "不予同意" in error["message"]
    response = client.post(f"/api/v1/sharing/requests/{request.id}/withdraw", json={"reason": "x"},
                           headers=world.headers("civil_requester"))
    assert response.status_code == 409 and response.json()["error"]["current_status"] == "refused"


def test_every_move_is_kept_in_the_history(session, world):
    request = submitted_request(session, world)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    events = sharing.history(session, world.actors["civil_requester"], request.id)
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("created", None, "draft"), ("submitted", "draft", "submitted"), ("replied", "submitted", "approved")]
    assert events[-1].actor_id == world.ids["user:police_reviewer"]


@pytest.mark.parametrize("blank", ["", "   "])
def test_r10_withdrawing_a_request_or_ending_a_grant_needs_a_reason_and_changes_nothing_without_one(session, world,
                                                                                                    blank):
    """Issue 14: an action that ends something the other department relies on says why; a blank reason is refused
    naming the field, and the request and the grant stay as they were."""
    requester, system = world.actors["civil_requester"], consumer_system(session, world)[0]
    pending = submitted_request(session, world, system=system)
    with pytest.raises(ValidationFailed) as unexplained:
        sharing.withdraw_request(session, requester, pending.id, blank)
    assert (unexplained.value.field, unexplained.value.message) == ("reason", "撤回申请必须说明理由")
    assert pending.status == S.SUBMITTED
    granted = submitted_request(session, world, published_entry(session, world, name="出入境证件信息"), system=system)
    sharing.reply(session, world.actors["police_reviewer"], granted.id, ReplyIn(decision="approve"))
    grant = sharing.grant_of(session, granted.id)
    with pytest.raises(ValidationFailed) as unexplained:
        sharing.declare_purpose_achieved(session, requester, grant.id, blank)
    assert (unexplained.value.field, unexplained.value.message) == ("reason", "声明共享目的已实现必须说明实现情况")
    assert (grant.status, granted.status) == (GrantStatus.ACTIVE, S.APPROVED)


def test_r10_purpose_achieved_ends_the_grant_then_the_requester_confirms_deletion(session, world):
    request = submitted_request(session, world)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    grant = sharing.grant_of(session, request.id)
    requester = world.actors["civil_requester"]
    with pytest.raises(Conflict):
        sharing.confirm_deletion(session, requester, grant.id, "")  # still active
    sharing.declare_purpose_achieved(session, requester, grant.id, "低保年审已完成")
    assert grant.status == GrantStatus.ENDED and grant.end_reason == "purpose_achieved"
    assert request.status == S.EXPIRED
    sharing.confirm_deletion(session, requester, grant.id, "已删除本地缓存")
    assert grant.deletion_confirmed_at is not None
    assert "grant.deletion_confirmed" in _notified(session, world.ids["user:police_reviewer"])
    with pytest.raises(Forbidden):
        sharing.declare_purpose_achieved(session, world.actors["police_reviewer"], grant.id, "越权终止")


def test_r10_grant_ends_when_its_period_ends(session, world):
    request = submitted_request(session, world, days=10)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    grant = sharing.grant_of(session, request.id)
    assert sharing.expire_grants(session, request.period_end) == 0
    assert sharing.expire_grants(session, request.period_end + timedelta(days=1)) == 1
    assert grant.status == GrantStatus.ENDED and request.status == S.EXPIRED


def test_an_expired_grant_cannot_be_renewed_without_a_new_reply(db, world, client):
    with db.session() as session:
        system, _ = consumer_system(session, world)
        request = submitted_request(session, world, days=10, system=system)
        sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        sharing.expire_grants(session, request.period_end + timedelta(days=1))
    # the old request and grant cannot come back to life
    for path, body in (("reply", {"decision": "approve"}), ("submit", None)):
        who = "police_reviewer" if path == "reply" else "civil_requester"
        response = client.post(f"/api/v1/sharing/requests/{request.id}/{path}", json=body, headers=world.headers(who))
        assert response.status_code == 409, path
    response = client.post(f"/api/v1/sharing/requests/{request.id}/renew",
                           json={"period_end": (date.today() + timedelta(days=200)).isoformat()},
                           headers=world.headers("civil_requester"))
    assert response.status_code == 201
    renewal = response.json()
    assert renewal["status"] == "submitted" and renewal["renews_id"] == request.id and renewal["grant_id"] is None
    with db.session() as session:
        old_grant = sharing.grant_of(session, request.id)
        assert sharing.grant_refusal(old_grant, system.id, old_grant.period_start).code == "grant_ended"


def test_r09_grant_is_bound_to_its_consumer_system(session, world):
    system, secret = consumer_system(session, world)
    other, _ = consumer_system(session, world, name="救助对象管理系统")
    request = submitted_request(session, world, system=system)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    grant = sharing.grant_of(session, request.id)
    assert grant.consumer_system_id == system.id
    assert sharing.grant_refusal(grant, system.id, grant.period_start) is None
    assert sharing.grant_refusal(grant, other.id, grant.period_start).code == "wrong_system"
    systems.revoke_system(session, world.actors["civil_requester"], system.id)
    with pytest.raises(NotAuthenticated):
        systems.authenticate_system(session, system.client_id, secret)


def test_consumer_system_secret_is_shown_once_stored_hashed_and_rotation_is_immediate(world, client):
    response = client.post("/api/v1/sharing/systems", json={"name": "低保审核系统"},
                           headers=world.headers("civil_requester"))
    assert response.status_code == 201
    created = response.json()
    secret = created["client_secret"]
    listed = client.get("/api/v1/sharing/systems", headers=world.headers("civil_requester")).json()
    assert "client_secret" not in listed[0]
    from govshare.orgs.models import ConsumerSystem

    with client.app.state.db.session() as s:
        stored = s.get(ConsumerSystem, created["id"])
        assert secret not in stored.secret_hash
        assert systems.authenticate_system(s, created["client_id"], secret).id == created["id"]
    rotated = client.post(f"/api/v1/sharing/systems/{created['id']}/rotate",
                          headers=world.headers("civil_requester")).json()["client_secret"]
    with client.app.state.db.session() as s:
        from govshare.errors import NotAuthenticated

        with pytest.raises(NotAuthenticated):
            systems.authenticate_system(s, created["client_id"], secret)
        assert systems.authenticate_system(s, created["client_id"], rotated)
    # another department cannot rotate or revoke it
    response = client.post(f"/api/v1/sharing/systems/{created['id']}/revoke", headers=world.headers("police_reviewer"))
    assert response.status_code == 403


def test_r07_jobs_remind_then_mark_overdue(session, world):
    request = submitted_request(session, world)
    due = request.reply_due
    assert sharing.remind_due(session, due - timedelta(days=30)) == 0
    assert sharing.remind_due(session, due) == 1
    assert sharing.remind_due(session, due) == 0  # once
    assert sharing.mark_overdue(session, due) == 0
    assert sharing.mark_overdue(session, due + timedelta(days=1)) == 1
    assert request.overdue_at is not None
    assert "request.overdue" in _notified(session, world.ids["user:civil_requester"])
    assert [e.action for e in session.scalars(select(RequestEvent).where(
        RequestEvent.request_id == request.id))][-1] == "overdue"


def test_r07_two_reviewers_deciding_at_once_give_exactly_one_decision(db, world):
    """Two transactions decide the same request at the same moment; the row lock lets one win."""
    with db.session() as s:
        reviewer2 = _second_reviewer(s, world)
        request_id = submitted_request(s, world).id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(actor: Actor, decision: ReplyIn) -> None:
        try:
            with db.session() as s:
                barrier.wait()
                sharing.reply(s, actor, request_id, decision)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(world.actors["police_reviewer"], ReplyIn(decision="approve"))),
               threading.Thread(target=decide, args=(reviewer2, ReplyIn(decision="refuse", reason="不符合条件")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "ok"]
    with db.session() as s:
        request = s.get(ShareRequest, request_id)
        decided = [e for e in s.scalars(select(RequestEvent).where(RequestEvent.request_id == request_id))
                   if e.action == "replied"]
        assert len(decided) == 1 and decided[0].to_status == request.status
        grants = s.scalar(select(func.count()).select_from(Grant).where(Grant.request_id == request_id))
        assert grants == (1 if request.status == "approved" else 0)


def _second_reviewer(session, world) -> Actor:
    from govshare.orgs import service as orgs

    user = orgs.create_user(session, Actor.system(), username="police_reviewer2", password="correct-horse-9",
                            role="dept_reviewer", department_id=world.ids["police"])
    return Actor.from_user(user)


def test_r07_estimated_deadline_is_recounted_once_the_year_is_known(session, world):
    """A reply due in a year no calendar knows is counted Monday–Friday and flagged; after the admin enters
    that year's holidays, the job counts it again with them."""
    from datetime import datetime

    from govshare.workdays import service as workdays

    request = submitted_request(session, world)
    request.submitted_at = datetime(2026, 12, 24, 2, 0)  # 10:00 in Beijing
    request.reply_due = date(2000, 1, 1)
    request.reply_due_estimated = True
    assert sharing.refresh_estimated_deadlines(session, date(2026, 12, 24)) == 1
    assert (request.reply_due, request.reply_due_estimated) == (date(2027, 1, 7), True)
    admin = world.actors["admin"]
    workdays.set_day(session, admin, date(2027, 1, 1), False, "元旦")
    workdays.set_day(session, admin, date(2027, 1, 4), False, "元旦")
    assert sharing.refresh_estimated_deadlines(session, date(2026, 12, 24)) == 1
    assert (request.reply_due, request.reply_due_estimated) == (date(2027, 1, 11), False)
    assert sharing.refresh_estimated_deadlines(session, date(2026, 12, 24)) == 0
