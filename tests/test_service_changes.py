"""Service changes (R11): a provider stops or changes a sharing service only with the competent authority's
approval; the requesters of the affected grants are told at once, before the change takes effect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.notify.models import Notification
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import GrantStatus, RequestStatus, ServiceChangeKind, ServiceChangeStatus
from govshare.workdays import service as workdays
from tests.factories import consumer_system, published_entry, request_in, submitted_request

S = RequestStatus
C = ServiceChangeStatus
STOP = ServiceChangeKind.STOP


def _notified(session, user_id: int, event: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.event == event))


def _granted(session, world, entry=None, **overrides):
    request = submitted_request(session, world, entry=entry, **overrides)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    return request, sharing.grant_of(session, request.id)


def _earliest(session):
    return changes.earliest_effective_date(session, workdays.local_today(session))


def _propose(session, world, entry, kind=STOP, when=None, who="police_manager"):
    return changes.propose(session, world.actors[who], entry.id, kind, "人口信息管理系统整合，原接口停止服务",
                           when or _earliest(session))


def _travel(monkeypatch, day):
    """The node's calendar says `day` (the services read today through workdays.local_today)."""
    monkeypatch.setattr(workdays, "local_today", lambda session: day)


# ---------------------------------------------------------------- proposing


def test_r11_provider_proposes_a_stop_no_earlier_than_the_notice_period(session, world):
    entry = published_entry(session, world)
    earliest = _earliest(session)
    assert earliest > workdays.local_today(session)
    with pytest.raises(ValidationFailed) as error:
        _propose(session, world, entry, when=earliest - timedelta(days=1))
    assert error.value.field == "effective_date"

    change = _propose(session, world, entry, when=earliest)
    assert (change.status, change.kind, change.provider_id) == (C.SUBMITTED, "stop", world.ids["police"])
    assert change.requested_by_id == world.ids["user:police_manager"]
    assert _propose(session, world, entry, kind=ServiceChangeKind.CHANGE, who="police_reviewer").status == C.SUBMITTED
    # the same-level competent authority is asked to decide
    assert _notified(session, world.ids["user:reviewer"], "service_change.submitted") == 2
    assert _notified(session, world.ids["user:city_reviewer"], "service_change.submitted") == 0


def test_r11_only_the_provider_proposes_a_change_of_its_own_service(session, world):
    entry = published_entry(session, world)
    for who in ("civil_manager", "civil_requester", "reviewer", "city_civil_manager"):
        with pytest.raises(Forbidden):
            _propose(session, world, entry, who=who)
    draft_entry = published_entry(session, world, name="出入境证件信息")
    draft_entry.status = "draft"
    with pytest.raises(NotFound) as error:
        _propose(session, world, draft_entry)
    assert error.value.field == "entry_id"
    assert changes.list_changes(session, world.actors["admin"]) == []


# ---------------------------------------------------------------- deciding


def test_r11_only_the_competent_authority_over_the_provider_decides(session, world):
    entry = published_entry(session, world)
    change = _propose(session, world, entry)
    for who in ("police_manager", "police_reviewer", "other_reviewer", "city_reviewer", "civil_requester"):
        with pytest.raises(Forbidden):
            changes.decide(session, world.actors[who], change.id, True)
    assert change.status == C.SUBMITTED and change.decided_by_id is None


def test_r11_approval_notifies_the_requesters_of_active_grants_at_once(session, world):
    entry = published_entry(session, world)
    request, grant = _granted(session, world, entry=entry)
    system, _ = consumer_system(session, world, name="养老服务系统")
    _, finished_grant = _granted(session, world, entry=entry, system=system)
    sharing.declare_purpose_achieved(session, world.actors["civil_requester"], finished_grant.id, "年审结束")
    other_entry = published_entry(session, world, name="出入境证件信息")
    _, unrelated = _granted(session, world, entry=other_entry, system=consumer_system(session, world, name="x系统")[0])
    before = _notified(session, world.ids["user:civil_requester"], "service_change.notice")
    assert before == 0

    change = _propose(session, world, entry)
    changes.decide(session, world.actors["reviewer"], change.id, True, "同意停止")
    assert change.status == C.APPROVED and change.decided_by_id == world.ids["user:reviewer"]
    assert change.notified_grant_ids == [grant.id]  # not the ended grant, not another entry's
    assert _notified(session, world.ids["user:civil_requester"], "service_change.notice") == 1
    assert _notified(session, world.ids["user:police_manager"], "service_change.decided") == 1
    # notice only: nothing changes before the effective date
    assert grant.status == GrantStatus.ACTIVE and request.status == S.APPROVED
    assert unrelated.status == GrantStatus.ACTIVE
    with pytest.raises(Conflict) as error:
        changes.decide(session, world.actors["reviewer"], change.id, False, "改变主意")
    assert error.value.extra["current_status"] == "approved"


def test_r11_rejection_needs_a_reason_and_tells_no_requester(session, world):
    entry = published_entry(session, world)
    _, grant = _granted(session, world, entry=entry)
    change = _propose(session, world, entry)
    with pytest.raises(ValidationFailed) as error:
        changes.decide(session, world.actors["reviewer"], change.id, False, "  ")
    assert error.value.field == "reason"
    assert change.status == C.SUBMITTED
    changes.decide(session, world.actors["reviewer"], change.id, False, "仍有部门依赖该服务办理低保审核")
    assert change.status == C.REJECTED and change.decision_reason == "仍有部门依赖该服务办理低保审核"
    assert change.notified_grant_ids == []
    assert _notified(session, world.ids["user:civil_requester"], "service_change.notice") == 0
    assert changes.apply_due(session, change.effective_date + timedelta(days=30)) == 0
    assert grant.status == GrantStatus.ACTIVE


def test_r11_an_approval_too_late_to_give_notice_is_refused(session, world, monkeypatch):
    entry = published_entry(session, world)
    change = _propose(session, world, entry)
    _travel(monkeypatch, change.effective_date)
    with pytest.raises(ValidationFailed) as error:
        changes.decide(session, world.actors["reviewer"], change.id, True)
    assert error.value.field == "effective_date" and change.status == C.SUBMITTED


# ---------------------------------------------------------------- taking effect


def test_r11_an_approved_stop_ends_the_grants_on_its_effective_date(session, world, monkeypatch):
    entry = published_entry(session, world)
    request, grant = _granted(session, world, entry=entry)
    change = _propose(session, world, entry)
    changes.decide(session, world.actors["reviewer"], change.id, True)
    day = change.effective_date

    assert changes.apply_due(session, day - timedelta(days=1)) == 0
    assert change.status == C.APPROVED and grant.status == GrantStatus.ACTIVE and request.status == S.APPROVED

    assert changes.apply_due(session, day) == 1
    assert change.status == C.EFFECTIVE
    assert (grant.status, grant.end_reason) == (GrantStatus.ENDED, "service_stopped")
    assert request.status == S.REVOKED
    assert _notified(session, world.ids["user:civil_requester"], "grant.ended") == 1
    assert changes.apply_due(session, day + timedelta(days=1)) == 0  # once

    _travel(monkeypatch, day)
    system, _ = consumer_system(session, world, name="新低保系统")
    with pytest.raises(ValidationFailed) as error:
        sharing.create_request(session, world.actors["civil_requester"],
                               request_in(entry, consumer_system_id=system.id), submit=True)
    assert error.value.field == "entry_id"


def test_r11_new_requests_are_accepted_until_the_stop_takes_effect(session, world, monkeypatch):
    entry = published_entry(session, world)
    change = _propose(session, world, entry)
    changes.decide(session, world.actors["reviewer"], change.id, True)
    _travel(monkeypatch, change.effective_date - timedelta(days=1))
    request = submitted_request(session, world, entry=entry)
    assert request.status == S.SUBMITTED


def test_r11_a_change_only_becomes_effective(session, world):
    entry = published_entry(session, world)
    request, grant = _granted(session, world, entry=entry)
    change = _propose(session, world, entry, kind=ServiceChangeKind.CHANGE)
    changes.decide(session, world.actors["reviewer"], change.id, True)
    assert change.notified_grant_ids == [grant.id]
    assert changes.apply_due(session, change.effective_date) == 1
    assert change.status == C.EFFECTIVE
    assert grant.status == GrantStatus.ACTIVE and request.status == S.APPROVED
    assert submitted_request(session, world, entry=entry,
                             system=consumer_system(session, world, name="新低保系统")[0]).status == S.SUBMITTED


def test_r11_a_stopped_service_is_not_granted_through_a_dispute(session, world, monkeypatch):
    entry = published_entry(session, world)
    request = submitted_request(session, world, entry=entry)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="refuse", reason="不符合"))
    step = disputes.escalate(session, world.actors["civil_requester"], request.id, "申请协商")
    change = _propose(session, world, entry)
    changes.decide(session, world.actors["reviewer"], change.id, True)
    _travel(monkeypatch, change.effective_date)
    changes.apply_due(session, change.effective_date)
    with pytest.raises(ValidationFailed) as error:
        disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="approve", reason="同意"))
    assert error.value.field == "entry_id"
    assert request.status == S.ESCALATED and sharing.grant_of(session, request.id) is None
    disputes.decide(session, world.actors["police_reviewer"], step.id, ReplyIn(decision="refuse", reason="服务已停止"))
    assert request.status == S.REFUSED


# ---------------------------------------------------------------- the API


def test_r11_service_changes_through_the_api(db, world, client):
    with db.session() as s:
        entry = published_entry(s, world)
        _, grant = _granted(s, world, entry=entry)
        earliest, entry_id, grant_id = _earliest(s), entry.id, grant.id
    provider, authority, requester = (world.headers(k) for k in ("police_manager", "reviewer", "civil_requester"))
    body = {"entry_id": entry_id, "kind": "stop", "description": "原接口停止服务", "effective_date": str(earliest)}

    too_early = {**body, "effective_date": str(earliest - timedelta(days=1))}
    response = client.post("/api/v1/sharing/service-changes", json=too_early, headers=provider)
    assert response.status_code == 422 and response.json()["error"]["field"] == "effective_date"
    assert client.post("/api/v1/sharing/service-changes", json=body, headers=requester).status_code == 403
    response = client.post("/api/v1/sharing/service-changes", json=body, headers=provider)
    assert response.status_code == 201
    change = response.json()
    assert change["status"] == "submitted" and change["kind"] == "stop"

    decide = f"/api/v1/sharing/service-changes/{change['id']}/decide"
    for who in ("police_reviewer", "other_reviewer", "city_reviewer"):
        assert client.post(decide, json={"approve": True}, headers=world.headers(who)).status_code == 403
    response = client.post(decide, json={"approve": False}, headers=authority)
    assert response.status_code == 422 and response.json()["error"]["field"] == "reason"
    response = client.post(decide, json={"approve": True, "reason": "同意"}, headers=authority)
    assert response.status_code == 200
    assert response.json()["status"] == "approved" and response.json()["notified_grant_ids"] == [grant_id]
    assert client.post(decide, json={"approve": True}, headers=authority).status_code == 409

    listed = client.get("/api/v1/sharing/service-changes", headers=requester).json()
    assert [c["id"] for c in listed] == [change["id"]]
    for who in ("city_civil_manager", "other_reviewer"):
        assert client.get("/api/v1/sharing/service-changes", headers=world.headers(who)).json() == []
    assert [c["id"] for c in client.get("/api/v1/sharing/service-changes?status=approved",
                                        headers=authority).json()] == [change["id"]]
