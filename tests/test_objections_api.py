"""R13 through the objections API (/api/v1/objections): filing on a granted record, the incoming and outgoing
boxes, the provider's one answer with its record, the evidence file (type by content, size limit, one per
objection, nothing kept of a refused upload), lateness found by the scheduled jobs and told to the competent
authority, and the handling counts the evaluation reads. Every refusal is asserted by its status and the field
its error names."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from govshare import jobs
from govshare.notify.models import Notification
from govshare.objections import service as objections
from govshare.objections.models import Objection
from govshare.orgs.models import User
from govshare.search.index import registry
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from tests.authz_cases_issue3 import more_users
from tests.factories import submitted_request
from tests.objection_factories import PNG, lead_source

URL = "/api/v1/objections"
KEY = "340104194912310021"
EVIDENCE = "民政部门掌握的死亡证明编号 G340104202600123"


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing the test entry need not build a search index (as in tests/test_gateway.py)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


# ---------------------------------------------------------------- helpers




def _grant(db, world) -> int:
    """省民政厅's approved grant for 省公安厅's 人口基本信息 (all items), and the extra users of issue 3."""
    with db.session() as s:
        more_users(s, world)
        request = submitted_request(s, world)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        return sharing.grant_of(s, request.id).id


def _body(grant_id: int, **overrides) -> dict:
    return {"grant_id": grant_id, "key": KEY, "items": ["csrq"], "claimed": {"csrq": "1949-12-30"},
            "evidence": EVIDENCE} | overrides


def _file(client, world, grant_id: int, **overrides) -> dict:
    response = client.post(URL, json=_body(grant_id, **overrides), headers=world.headers("civil_requester"))
    assert response.status_code == 201, response.text
    return response.json()


def _refused(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    return error


def _answer(client, world, objection_id: int, who: str = "police_reviewer", **body):
    data = {"answer": "corrected", "reason": "已在人口信息系统更正出生日期"} | body
    return client.post(f"{URL}/{objection_id}/answer", json=data, headers=world.headers(who))


def _upload(client, world, objection_id: int, name: str, content: bytes, who: str = "civil_requester",
            media_type: str = "application/octet-stream"):
    return client.post(f"{URL}/{objection_id}/evidence", files={"file": (name, content, media_type)},
                       headers=world.headers(who))


def _detail(client, world, objection_id: int, who: str = "civil_requester") -> dict:
    response = client.get(f"{URL}/{objection_id}", headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def _stored_files(settings) -> set[str]:
    folder = settings.data_dir / "objections"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def _told(db, event: str) -> dict[str, list[str]]:
    told: dict[str, list[str]] = {}
    with db.session() as s:
        for note in s.scalars(select(Notification).where(Notification.event == event).order_by(Notification.id)):
            told.setdefault(s.get(User, note.user_id).username, []).append(note.title)
    return told


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()]


# ---------------------------------------------------------------- the happy path


def test_r13_api_file_list_read_answer_once_with_its_history(client, db, world):
    grant_id = _grant(db, world)
    filed = _file(client, world, grant_id)
    objection_id = filed["id"]
    assert (filed["status"], filed["record_key"], filed["items"], filed["claimed"], filed["evidence"]) == (
        "open", KEY, ["csrq"], {"csrq": "1949-12-30"}, EVIDENCE)
    assert (filed["grant_id"], filed["requester_id"], filed["provider_id"]) == (
        grant_id, world.ids["civil"], world.ids["police"])
    assert filed["evidence_file"] is None and filed["overdue"] is False and filed["due"]

    incoming = client.get(URL, params={"box": "incoming"}, headers=world.headers("police_reviewer"))
    assert _ids(incoming) == [objection_id]
    assert _ids(client.get(URL, params={"box": "outgoing"}, headers=world.headers("police_reviewer"))) == []
    assert _ids(client.get(URL, params={"box": "outgoing"}, headers=world.headers("civil_requester"))) == [
        objection_id]
    assert _ids(client.get(URL, params={"box": "incoming"}, headers=world.headers("civil_requester"))) == []
    assert _ids(client.get(URL, headers=world.headers("city_civil_manager"))) == []  # party to nothing
    _refused(client.get(URL, params={"box": "sideways"}, headers=world.headers("civil_requester")), 422, "box")

    detail = _detail(client, world, objection_id, "police_reviewer")
    assert [(e["action"], e["to_status"], e["reason"]) for e in detail["history"]] == [("filed", "open", EVIDENCE)]

    answered = _answer(client, world, objection_id)
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["answer"]) == ("corrected", "已在人口信息系统更正出生日期")
    assert answered.json()["answered_at"] is not None

    again = _answer(client, world, objection_id, answer="confirmed", reason="再答复一次")
    error = _refused(again, 409, "status")
    assert error["current_status"] == "corrected"
    detail = _detail(client, world, objection_id)
    assert detail["status"] == "corrected"
    assert [(e["action"], e["from_status"], e["to_status"]) for e in detail["history"]] == [
        ("filed", None, "open"), ("corrected", "open", "corrected")]
    assert _ids(client.get(URL, params={"box": "incoming", "status": "open"},
                           headers=world.headers("police_reviewer"))) == []
    assert _ids(client.get(URL, params={"box": "incoming", "status": "corrected"},
                           headers=world.headers("police_reviewer"))) == [objection_id]


def test_r13_api_a_forwarded_answer_names_a_department_other_than_the_provider(client, db, world):
    grant_id = _grant(db, world)
    objection_id = _file(client, world, grant_id)["id"]
    reason = "出生日期以卫健委出生医学证明为准"
    # none, the provider itself, nobody, and a department not named lead source of 出生日期 (R06)
    for forward_to in (None, world.ids["police"], 999_999, world.ids["civil"]):
        body = {"answer": "forwarded", "reason": reason} | ({"forward_to": forward_to} if forward_to else {})
        _refused(_answer(client, world, objection_id, **body), 422, "forward_to")
    assert _detail(client, world, objection_id)["status"] == "open"
    with db.session() as s:
        lead_source(s, _detail(client, world, objection_id)["entry_id"], ("csrq",), world.ids["civil"])

    forwarded = _answer(client, world, objection_id, answer="forwarded", reason=reason, forward_to=world.ids["civil"])
    assert forwarded.status_code == 200, forwarded.text
    assert (forwarded.json()["status"], forwarded.json()["forwarded_to_id"]) == ("forwarded", world.ids["civil"])
    assert forwarded.json()["forwarded_to"] == "省民政厅"


# ---------------------------------------------------------------- who may do what


def test_r13_api_only_the_grant_holder_files_only_the_provider_answers_and_others_see_nothing(client, db, world):
    grant_id = _grant(db, world)
    # a department without the grant: another department's requester does not see the grant at all; the
    # provider's own requester sees it but does not hold it
    _refused(client.post(URL, json=_body(grant_id), headers=world.headers("city_civil_requester")), 404, "grant_id")
    _refused(client.post(URL, json=_body(grant_id), headers=world.headers("police_requester")), 403,
             "department_id")
    _refused(client.post(URL, json=_body(grant_id), headers=world.headers("police_reviewer")), 403, "role")
    with db.session() as s:
        assert s.scalars(select(Objection)).all() == []

    objection_id = _file(client, world, grant_id)["id"]
    _refused(_answer(client, world, objection_id, "civil_requester"), 403, "role")  # its own objection
    _refused(_answer(client, world, objection_id, "civil_reviewer"), 403, "department_id")  # the filer's reviewer
    _refused(_answer(client, world, objection_id, "city_civil_manager"), 404, "objection_id")  # party to nothing
    _refused(_answer(client, world, objection_id, "other_reviewer"), 404, "objection_id")  # another province
    assert _detail(client, world, objection_id)["status"] == "open"

    assert _upload(client, world, objection_id, "x.png", PNG).status_code == 200
    for who in ("city_civil_manager", "city_civil_requester", "other_reviewer"):
        _refused(client.get(f"{URL}/{objection_id}", headers=world.headers(who)), 404, "objection_id")
        evidence = client.get(f"{URL}/{objection_id}/evidence", headers=world.headers(who))
        _refused(evidence, 404, "objection_id")
        assert PNG not in evidence.content
    # the competent authority of the provider's area reads it (it is told of lateness)
    assert _detail(client, world, objection_id, "reviewer")["id"] == objection_id
    assert client.get(f"{URL}/{objection_id}").status_code == 401


# ---------------------------------------------------------------- the evidence file


def test_r13_api_evidence_png_is_stored_once_and_downloaded_as_uploaded(client, db, world, settings):
    grant_id = _grant(db, world)
    objection_id = _file(client, world, grant_id)["id"]
    _refused(client.get(f"{URL}/{objection_id}/evidence", headers=world.headers("civil_requester")), 404,
             "evidence_file")

    uploaded = _upload(client, world, objection_id, "x.png", PNG)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["evidence_file"] == {"filename": "x.png", "media_type": "image/png", "size": len(PNG),
                                                "sha256": hashlib.sha256(PNG).hexdigest()}
    assert len(_stored_files(settings)) == 1
    for who in ("civil_requester", "police_reviewer"):
        download = client.get(f"{URL}/{objection_id}/evidence", headers=world.headers(who))
        assert download.status_code == 200, download.text
        assert download.content == PNG
        assert download.headers["content-type"] == "image/png"
        # served as checked: never sniffed into HTML, never run as a page of the platform
        assert (download.headers["x-content-type-options"], download.headers["content-security-policy"]) == (
            "nosniff", "sandbox")
        assert "x.png" in download.headers["content-disposition"]
    assert [e["action"] for e in _detail(client, world, objection_id)["history"]] == ["filed", "evidence"]

    second = _upload(client, world, objection_id, "y.png", PNG)
    _refused(second, 409, "evidence_file")
    assert len(_stored_files(settings)) == 1
    assert _detail(client, world, objection_id)["evidence_file"]["filename"] == "x.png"


def test_r13_api_evidence_over_the_size_limit_is_413_and_nothing_is_kept(client, db, world, settings):
    settings.objection_evidence_max_mb = 1
    grant_id = _grant(db, world)
    objection_id = _file(client, world, grant_id)["id"]
    before = _stored_files(settings)
    big = PNG + b"\x00" * (1024 * 1024)
    error = _refused(_upload(client, world, objection_id, "x.png", big), 413, "evidence_file")
    assert error["code"] == "payload_too_large" and "1 MB" in error["message"]
    assert _stored_files(settings) == before  # not even a partial file
    detail = _detail(client, world, objection_id)
    assert detail["evidence_file"] is None and [e["action"] for e in detail["history"]] == ["filed"]
    # just under the limit is taken
    fits = PNG + b"\x00" * (1024 * 1024 - len(PNG))
    assert _upload(client, world, objection_id, "x.png", fits).status_code == 200


def test_r13_api_evidence_is_refused_by_content_name_emptiness_uploader_and_state(client, db, world, settings):
    grant_id = _grant(db, world)
    objection_id = _file(client, world, grant_id)["id"]
    refusals = [
        (("x.pdf", b"this is plain text, not a PDF at all\n"), "civil_requester", 415),
        (("x.pdf", PNG), "civil_requester", 415),  # a real PNG whose name says PDF
        (("x", PNG), "civil_requester", 415),  # no extension to agree with the content
        (("x.png", b""), "civil_requester", 422),
        (("x.png", PNG), "police_reviewer", 403),  # the provider's user
    ]
    for (name, content), who, status in refusals:
        error = _refused(_upload(client, world, objection_id, name, content, who=who), status,
                         "role" if status == 403 else "evidence_file")
        if status == 415:
            assert error["code"] == "unsupported_media_type"
    _refused(_upload(client, world, objection_id, "x.png", PNG, who="city_civil_requester"), 404, "objection_id")
    assert _stored_files(settings) == set()
    assert _detail(client, world, objection_id)["evidence_file"] is None

    assert _answer(client, world, objection_id).status_code == 200
    _refused(_upload(client, world, objection_id, "x.png", PNG), 409, "status")
    assert _stored_files(settings) == set()
    assert _detail(client, world, objection_id)["evidence_file"] is None


# ---------------------------------------------------------------- lateness and evaluation


def test_r13_jobs_mark_a_late_objection_once_and_tell_the_competent_authority(client, db, world):
    grant_id = _grant(db, world)
    filed = _file(client, world, grant_id)
    due = datetime.fromisoformat(filed["due"]).date()
    on_due_day = jobs.run_all(db, datetime.combine(due, time(6)))
    assert "objections_overdue" not in on_due_day["objections"]  # due today: not yet late
    after = datetime.combine(due + timedelta(days=1), time(6))  # naive UTC, 14:00 in Shanghai
    assert jobs.run_all(db, after)["objections"] == {"objections_overdue": 1}
    assert jobs.run_all(db, after)["objections"] == {}
    told = _told(db, "objection.overdue")
    assert "reviewer" in told  # 省数据局, the competent authority whose area covers 省公安厅
    assert {"police_reviewer", "civil_requester"} <= set(told)
    assert not {"city_reviewer", "other_reviewer"} & set(told)
    assert all(len(titles) == 1 for titles in told.values())  # told once
    detail = _detail(client, world, filed["id"], "reviewer")
    assert (detail["overdue"], detail["status"], detail["history"][-1]["action"]) == (True, "open", "overdue")


def test_r13_handling_counts_received_answered_on_time_corrected_and_overdue(client, db, world):
    grant_id = _grant(db, world)
    corrected = _file(client, world, grant_id)
    late = _file(client, world, grant_id, key="340104195001010012")
    assert _answer(client, world, corrected["id"]).status_code == 200
    today = datetime.fromisoformat(late["due"]).date() + timedelta(days=1)
    police, civil = world.ids["police"], world.ids["civil"]
    with db.session() as s:
        counts = objections.handling(s, [police, civil], today)
    assert set(counts) == {police}  # 省民政厅 received none
    got = counts[police]
    assert (got.received, got.answered, got.on_time, got.corrected, got.overdue) == (2, 1, 1, 1, 1)
