"""Objections and correction (校核纠错, R13), service level: filing on a granted record with evidence, the
provider's answer within the deadline, the open-record flag, reminders and lateness told to the competent
authority; every refusal names its field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from govshare.errors import Conflict, Forbidden, InvalidFields, NotFound, ValidationFailed
from govshare.notify.models import Notification
from govshare.objections import service as objections
from govshare.objections.models import Objection
from govshare.orgs.models import User
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from tests.factories import submitted_request
from tests.objection_factories import lead_source

KEY = "340104194912310021"
EVIDENCE = "民政部门掌握的死亡证明编号 G340104202600123"


def _grant(session, world):
    request = submitted_request(session, world)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    return sharing.grant_of(session, request.id)


def _file(session, world, grant, **overrides) -> Objection:
    data = {"key": KEY, "items": ["csrq"], "claimed": {"csrq": "1949-12-30"}, "evidence": EVIDENCE} | overrides
    return objections.file_objection(session, world.actors["civil_requester"], grant.id, **data)


def _told(session, event: str) -> dict[str, list[str]]:
    told: dict[str, list[str]] = {}
    for note in session.scalars(select(Notification).where(Notification.event == event).order_by(Notification.id)):
        told.setdefault(session.get(User, note.user_id).username, []).append(note.title)
    return told


def test_r13_a_requester_objects_to_a_granted_record_and_the_provider_is_told_the_deadline(session, world):
    grant = _grant(session, world)
    objection = _file(session, world, grant)
    assert (objection.status, objection.record_key, objection.items, objection.claimed) == (
        "open", KEY, ["csrq"], {"csrq": "1949-12-30"})
    assert objection.provider_id == grant.provider_id and objection.due is not None
    assert "police_reviewer" in _told(session, "objection.filed")
    events = objections.history(session, world.actors["police_reviewer"], objection.id)
    assert [(e.action, e.to_status, e.reason) for e in events] == [("filed", "open", EVIDENCE)]
    assert objections.under_verification(session, grant.entry_id, [KEY, "other"]) == {KEY: objection.id}


def test_r13_filing_is_refused_naming_each_wrong_field_and_stores_nothing(session, world):
    grant = _grant(session, world)
    with pytest.raises(InvalidFields) as refused:
        _file(session, world, grant, key=" ", items=["nope"], claimed={"xm": "张三"}, evidence="  ")
    assert set(refused.value.errors) == {"key", "items", "claimed", "evidence"}
    with pytest.raises(InvalidFields) as too_long:
        _file(session, world, grant, key="1" * 201)
    assert set(too_long.value.errors) == {"key"}
    assert session.scalars(select(Objection)).all() == []


def test_r13_only_the_grant_holders_requesters_object_and_only_the_provider_answers(session, world):
    grant = _grant(session, world)
    for who in ("police_reviewer", "civil_manager", "city_civil_manager", "auditor"):
        with pytest.raises((Forbidden, NotFound)):
            objections.file_objection(session, world.actors[who], grant.id, KEY, ["csrq"], {}, EVIDENCE)
    objection = _file(session, world, grant)
    for who in ("civil_requester", "civil_manager", "reviewer", "city_civil_manager", "other_reviewer"):
        with pytest.raises((Forbidden, NotFound)):
            objections.answer_objection(session, world.actors[who], objection.id, "confirmed", "核实无误")
    assert objection.status == "open"
    with pytest.raises(NotFound) as hidden:  # a department party to nothing does not see it
        objections.get_objection(session, world.actors["city_civil_manager"], objection.id)
    assert hidden.value.field == "objection_id"


def test_r13_the_provider_corrects_confirms_or_forwards_saying_why_and_the_flag_goes(session, world):
    grant = _grant(session, world)
    reviewer = world.actors["police_reviewer"]
    corrected = _file(session, world, grant)
    with pytest.raises(InvalidFields) as refused:
        objections.answer_objection(session, reviewer, corrected.id, "maybe", "")
    assert "answer" in refused.value.errors
    with pytest.raises(ValidationFailed) as unexplained:
        objections.answer_objection(session, reviewer, corrected.id, "corrected", "  ")
    assert unexplained.value.field == "reason"
    objections.answer_objection(session, reviewer, corrected.id, "corrected", "已在人口信息系统更正出生日期")
    assert (corrected.status, corrected.answer) == ("corrected", "已在人口信息系统更正出生日期")
    assert objections.under_verification(session, grant.entry_id, [KEY]) == {}  # no longer 校核中
    assert "civil_requester" in _told(session, "objection.answered")
    with pytest.raises(Conflict):
        objections.answer_objection(session, reviewer, corrected.id, "confirmed", "再答复一次")

    forwarded = _file(session, world, grant, key="340104195001010012")
    with pytest.raises(InvalidFields) as nowhere:
        objections.answer_objection(session, reviewer, forwarded.id, "forwarded", "非本部门采集", forward_to=None)
    assert set(nowhere.value.errors) == {"forward_to"}
    with pytest.raises(InvalidFields) as not_lead:  # only the lead source named for the item (R06) may receive it
        objections.answer_objection(session, reviewer, forwarded.id, "forwarded", "非本部门采集",
                                    forward_to=world.ids["civil"])
    assert set(not_lead.value.errors) == {"forward_to"} and forwarded.status == "open"
    lead_source(session, grant.entry_id, ("csrq",), world.ids["civil"])
    objections.answer_objection(session, reviewer, forwarded.id, "forwarded", "出生日期以卫健委出生医学证明为准",
                                forward_to=world.ids["civil"])
    assert (forwarded.status, forwarded.forwarded_to_id) == ("forwarded", world.ids["civil"])


def test_r13_the_provider_is_reminded_once_and_a_late_objection_is_told_to_the_authority_once(session, world):
    grant = _grant(session, world)
    objection = _file(session, world, grant)
    today = objection.due - timedelta(days=1)
    assert objections.remind_due(session, today) == 1 and objections.remind_due(session, today) == 0
    assert objections.mark_overdue(session, objection.due) == 0  # due today: not yet late
    late = objection.due + timedelta(days=1)
    assert objections.mark_overdue(session, late) == 1 and objections.mark_overdue(session, late) == 0
    told = _told(session, "objection.overdue")
    assert {"police_reviewer", "civil_requester", "reviewer"} <= set(told)  # 省数据局 covers 省公安厅
    events = objections.history(session, world.actors["reviewer"], objection.id)
    assert events[-1].action == "overdue" and objection.status == "open"  # still to be answered


def test_r13_a_record_outside_the_grants_row_scope_cannot_be_objected_to(session, world, tmp_path):
    """The scope is on the key item (ID numbers by region): a key of another region is refused, naming the key."""
    from tests.gateway_factories import served_population

    served = served_population(session, world, tmp_path, count=6, scope={"item": "gmsfhm", "prefixes": ["340104"]})
    requester = world.actors["civil_requester"]
    with pytest.raises(Forbidden) as refused:
        objections.file_objection(session, requester, served.grant_id, "340111198001010016", ["xm"], {}, EVIDENCE)
    assert (refused.value.field, refused.value.code) == ("key", "row_out_of_scope")
    inside = next(r["GMSFHM"] for r in served.rows if r["GMSFHM"].startswith("340104"))
    assert objections.file_objection(session, requester, served.grant_id, inside, ["xm"], {}, EVIDENCE).id
    assert len(session.scalars(select(Objection)).all()) == 1


def test_r13_one_grant_holds_a_bounded_number_of_open_objections(session, world, monkeypatch):
    grant = _grant(session, world)
    monkeypatch.setattr(objections, "MAX_OPEN_PER_GRANT", 3)
    for n in range(3):
        _file(session, world, grant, key=f"34010419491231{n:03d}1")
    with pytest.raises(Conflict) as refused:
        _file(session, world, grant, key="340104194912319991")
    assert refused.value.field == "grant_id"
    objections.answer_objection(session, world.actors["police_reviewer"], 1, "confirmed", "核实无误")
    assert _file(session, world, grant, key="340104194912319991").status == "open"  # one answered: room again


def test_r13_control_characters_in_a_key_or_a_claimed_value_are_refused(session, world):
    grant = _grant(session, world)
    with pytest.raises(InvalidFields) as refused:
        _file(session, world, grant, key="3401\x0004", claimed={"csrq": "1949\x00-12-30"})
    assert set(refused.value.errors) == {"key", "claimed"}
