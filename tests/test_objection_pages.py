"""数据核实 pages (校核纠错, R13): the requester files an objection from its grant with the evidence text and a scanned
file, or adds the file later; the provider's reviewer or catalog manager answers on the objection's page; each post
is the browser's (the page's own form, its CSRF token, multipart where the form is) and its stored change is checked.
The auditor, a logged-out visitor, the other side of the objection and an unrelated department are refused and
change nothing."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from govshare.notify.models import Notification
from govshare.objections.models import Objection, ObjectionEvent
from govshare.web.objection_pages import NOTICES
from tests.authz_cases_issue3 import more_users
from tests.objection_factories import EVIDENCE, KEY, PDF, PNG, filed, granted, lead_source
from tests.test_page_actions import page_form
from tests.web_helpers import token, visible_text

# Enumerated in tests/test_web.py's check of every page write route; the auditor's and a logged-out visitor's
# refusals are proved below.
OBJECTION_PAGE_WRITE_ROUTES = {("POST", "/objections"), ("POST", "/objections/{objection_id}/answer"),
                               ("POST", "/objections/{objection_id}/evidence")}
NO_FILE = ("", b"", "application/octet-stream")  # what a browser sends for a file input left empty


def _post(client, page_url: str, action: str, files: dict | None = None, **typed):
    """Opens `page_url`, fills in its form posting to `action` (typed values replace the form's; lists are checkbox
    choices), posts it as the browser does (multipart when it carries a file input) and follows the redirect."""
    page = client.get(page_url)
    assert page.status_code == 200, (page_url, page.text[:500])
    fields = page_form(page.text, action)
    assert fields.get("csrf_token") == [token(client)], "the form carries the session's CSRF token"
    for name, value in typed.items():
        fields[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return client.post(action, data=fields, files=files)


def _done(response, location: str, notice: str) -> str:
    assert [r.status_code for r in response.history] == [303], (response.status_code, visible_text(response)[:800])
    assert response.history[0].headers["location"] == location
    text = visible_text(response)
    assert NOTICES[notice] in text, text[:800]
    return text


def _objections(db) -> list[Objection]:
    with db.session() as s:
        found = list(s.scalars(select(Objection).order_by(Objection.id)))
        s.expunge_all()
        return found


def _events(db, objection_id: int) -> list[tuple]:
    with db.session() as s:
        return [(e.action, e.to_status, e.actor_id) for e in s.scalars(
            select(ObjectionEvent).where(ObjectionEvent.objection_id == objection_id).order_by(ObjectionEvent.id))]


def _stored(settings) -> list[str]:
    folder = settings.data_dir / "objections"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _state(db, settings) -> tuple:
    with db.session() as s:
        rows = [(o.id, o.status, o.answer, o.evidence_stored, o.forwarded_to_id)
                for o in s.scalars(select(Objection).order_by(Objection.id))]
        events = s.scalars(select(ObjectionEvent.id).order_by(ObjectionEvent.id)).all()
    return rows, events, _stored(settings)


def test_r13_requester_files_with_a_scan_attaches_later_and_the_provider_answers_on_the_pages(db, world, settings,
                                                                                              as_user):
    with db.session() as s:
        more_users(s, world)
        grant_id = granted(s, world)
    requester = as_user("civil_requester")
    grants = requester.get("/sharing/grants").text
    new_url = f"/objections/new?grant={grant_id}"
    assert f'href="{new_url}"' in grants  # the grant offers the form

    # filed with the items believed wrong, the value believed right, the evidence and its scan (one multipart post)
    response = _post(requester, new_url, "/objections", files={"evidence_file": ("出生医学证明.png", PNG, "image/png")},
                     key=KEY, items=["csrq", "xm"], claimed_csrq="1949-12-30", evidence=EVIDENCE)
    [first] = _objections(db)
    text = _done(response, f"/objections/{first.id}?notice=filed", "filed")
    assert (first.grant_id, first.requester_id, first.provider_id, first.record_key) == (
        grant_id, world.ids["civil"], world.ids["police"], KEY)
    assert (first.items, first.claimed, first.evidence, first.status) == (["csrq", "xm"], {"csrq": "1949-12-30"},
                                                                          EVIDENCE, "open")
    assert (first.evidence_filename, first.evidence_media_type, first.evidence_size, first.evidence_sha256) == (
        "出生医学证明.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest())
    assert _stored(settings) == [first.evidence_stored]
    assert "校核中" in text and "出生医学证明.png" in text and str(first.due) in text
    assert _events(db, first.id) == [("filed", "open", world.ids["user:civil_requester"]),
                                     ("evidence", "open", world.ids["user:civil_requester"])]
    assert requester.get(f"/objections/{first.id}/evidence").content == PNG

    # filed without a file (the browser sends the empty file input), then the scan added on its page
    response = _post(requester, new_url, "/objections", files={"evidence_file": NO_FILE}, key="340104198001010021",
                     items=["hjdz"], evidence="户籍地址已迁至合肥市蜀山区")
    second = _objections(db)[-1]
    _done(response, f"/objections/{second.id}?notice=filed", "filed")
    assert (second.items, second.claimed, second.evidence_stored) == (["hjdz"], {}, None)
    url = f"/objections/{second.id}"
    response = _post(requester, url, f"{url}/evidence",
                     files={"evidence_file": ("迁移证明.pdf", PDF, "application/pdf")})
    _done(response, f"{url}?notice=attached", "attached")
    second = _objections(db)[-1]
    assert (second.evidence_filename, second.evidence_media_type, second.evidence_size) == (
        "迁移证明.pdf", "application/pdf", len(PDF))
    assert f'action="{url}/evidence"' not in requester.get(url).text  # one file per objection: the form is gone
    assert requester.get(f"{url}/evidence").content == PDF

    # the provider's reviewer answers the first (corrected); its catalog manager forwards the second to the lead
    # source department; the requester is told
    reviewer = as_user("police_reviewer")
    url = f"/objections/{first.id}"
    response = _post(reviewer, url, f"{url}/answer", answer="corrected", reason="已在人口信息系统更正出生日期")
    text = _done(response, f"{url}?notice=answered", "answered")
    first = _objections(db)[0]
    assert (first.status, first.answer, first.answered_by_id, first.forwarded_to_id) == (
        "corrected", "已在人口信息系统更正出生日期", world.ids["user:police_reviewer"], None)
    assert _events(db, first.id)[-1] == ("corrected", "corrected", world.ids["user:police_reviewer"])
    assert "已更正" in text and f'action="{url}/answer"' not in reviewer.get(url).text  # answered once
    with db.session() as s:
        lead_source(s, second.entry_id, tuple(second.items), world.ids["city_civil"])
    manager = as_user("police_manager")
    url = f"/objections/{second.id}"
    response = _post(manager, url, f"{url}/answer", answer="forwarded", forward_to=world.ids["city_civil"],
                     reason="户籍迁移以迁入地登记为准")
    _done(response, f"{url}?notice=answered", "answered")
    second = _objections(db)[-1]
    assert (second.status, second.forwarded_to_id, second.answered_by_id) == (
        "forwarded", world.ids["city_civil"], world.ids["user:police_manager"])
    with db.session() as s:
        told = s.scalars(select(Notification.link).where(Notification.user_id == world.ids["user:civil_requester"],
                                                         Notification.event == "objection.answered")).all()
    assert sorted(told) == sorted([f"/objections/{first.id}", f"/objections/{second.id}"])
    # forwarded: the lead source department reads it now
    assert as_user("city_civil_manager").get(url).status_code == 200


def test_r13_a_refused_filing_keeps_what_was_typed_and_stores_nothing(db, world, settings, as_user):
    with db.session() as s:
        grant_id = granted(s, world)
    client = as_user("civil_requester")
    new_url = f"/objections/new?grant={grant_id}"
    unnamed = _post(client, new_url, "/objections", files={"evidence_file": NO_FILE}, key=KEY, evidence=EVIDENCE)
    assert unnamed.status_code == 422 and "必须指出有误的信息项" in visible_text(unnamed)
    assert KEY in unnamed.text and EVIDENCE in unnamed.text  # typed values kept
    fake = _post(client, new_url, "/objections", files={"evidence_file": ("证明.png", b"not an image", "image/png")},
                 key=KEY, items=["csrq"], evidence=EVIDENCE)
    assert fake.status_code == 415 and "PDF、JPEG 或 PNG" in visible_text(fake)
    assert _objections(db) == [] and _stored(settings) == []  # the objection whose file is refused is not filed


def test_r13_other_users_are_refused_on_the_objection_pages_and_change_nothing(db, world, settings, as_user, client):
    """The auditor writes nothing; the requester does not answer and the provider does not upload evidence (and
    neither is shown the other's form); an unrelated department finds nothing; a logged-out visitor is sent to the
    login form. Nothing changes."""
    with db.session() as s:
        more_users(s, world)
        grant_id = granted(s, world)
        objection_id = filed(s, world, grant_id)
        with_file = filed(s, world, grant_id, key="340104198001010021", evidence_file=PNG)
    url = f"/objections/{objection_id}"
    before = _state(db, settings)
    answer = {"answer": "corrected", "reason": "越权答复"}
    upload = {"evidence_file": ("越权上传.png", PNG, "image/png")}
    filing = {"grant": str(grant_id), "key": KEY, "items": "xm", "evidence": "越权提出"}

    def csrf(page_client) -> dict:
        return {"csrf_token": page_form(page_client.get("/objections").text, "/logout")["csrf_token"][0]}

    auditor = as_user("auditor")
    assert auditor.get(url).status_code == 200  # the auditor reads every objection, and is offered no form
    assert f'action="{url}/answer"' not in auditor.get(url).text and f'action="{url}/evidence"' not in auditor.get(
        url).text
    token_ = csrf(auditor)
    assert auditor.post("/objections", data=filing | token_).status_code in (403, 404)
    assert auditor.post(f"{url}/answer", data=answer | token_).status_code == 403
    assert auditor.post(f"{url}/evidence", data=token_, files=upload).status_code == 403

    requester = as_user("civil_requester")
    page = requester.get(url).text
    assert f'action="{url}/answer"' not in page and f'action="{url}/evidence"' in page
    refused = requester.post(f"{url}/answer", data=answer | csrf(requester))
    assert refused.status_code == 403 and "无权" in visible_text(refused)

    provider = as_user("police_reviewer")
    page = provider.get(url).text
    assert f'action="{url}/answer"' in page and f'action="{url}/evidence"' not in page
    refused = provider.post(f"{url}/evidence", data=csrf(provider), files=upload)
    assert refused.status_code == 403 and "无权" in visible_text(refused)
    refused = provider.post("/objections", data=filing | csrf(provider))  # not its grant to object on
    assert refused.status_code in (403, 404)

    outsider = as_user("city_civil_requester")
    for path in (url, f"/objections/{with_file}/evidence", f"/objections/new?grant={grant_id}"):
        response = outsider.get(path)
        assert response.status_code == 404 and PNG not in response.content, path
    listed = visible_text(outsider.get("/objections?box=all"))
    assert KEY not in listed and "没有数据核实请求" in listed
    token_ = csrf(outsider)
    for action, data, files in (("/objections", filing, None), (f"{url}/answer", answer, None),
                                (f"{url}/evidence", {}, upload)):
        response = outsider.post(action, data=data | token_, files=files)
        assert response.status_code == 404, (action, response.status_code)

    client.cookies.clear()
    for _method, path in sorted(OBJECTION_PAGE_WRITE_ROUTES):
        action = path.format(objection_id=objection_id)
        response = client.post(action, data={"grant": str(grant_id)}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), action
    assert client.get(url, follow_redirects=False).headers["location"].startswith("/login")
    assert _state(db, settings) == before


def test_r13_the_list_shows_each_department_its_own_objections_by_box(db, world, as_user):
    with db.session() as s:
        grant_id = granted(s, world)
        objection_id = filed(s, world, grant_id)
    row = re.compile(rf'href="/objections/{objection_id}"')
    requester = as_user("civil_requester")
    assert row.search(requester.get("/objections?box=outgoing").text)
    assert not row.search(requester.get("/objections?box=incoming").text)
    provider = as_user("police_reviewer")
    assert row.search(provider.get("/objections").text)  # a department's default box: incoming
    assert not row.search(provider.get("/objections?box=outgoing").text)
    assert row.search(as_user("reviewer").get("/objections?box=all").text)  # the competent authority of the area
