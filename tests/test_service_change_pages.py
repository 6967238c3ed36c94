"""Stopping or changing a sharing service through the pages (R11, issue 14): the provider proposes it from its
entry, the competent authority approves it on the page its notification links to, the affected grants are
listed; other departments cannot propose for an entry that is not theirs."""

from __future__ import annotations

import re

from sqlalchemy import select

from govshare.notify.models import Notification
from govshare.sharing import changes
from govshare.sharing import service as sharing
from govshare.sharing.models import ServiceChange
from govshare.sharing.schemas import ReplyIn
from govshare.workdays.service import local_today
from tests.factories import published_entry, submitted_request
from tests.web_helpers import token, visible_text


def _granted_entry(db, world) -> int:
    with db.session() as s:
        entry = published_entry(s, world)
        request = submitted_request(s, world, entry=entry)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        return entry.id


def test_r11_provider_proposes_a_stop_and_the_authority_approves_it_from_its_notification(db, world, as_user):
    entry_id = _granted_entry(db, world)
    manager = as_user("police_manager")
    assert f'href="/sharing/changes/new?entry_id={entry_id}"' in manager.get(f"/catalog/{entry_id}").text
    form = manager.get(f"/sharing/changes/new?entry_id={entry_id}")
    assert form.status_code == 200 and "目前有 1 项有效或暂停的授权" in visible_text(form)
    with db.session() as s:
        earliest = changes.earliest_effective_date(s, local_today(s))
    posted = manager.post("/sharing/changes/new", data={
        "csrf_token": token(manager), "entry_id": str(entry_id), "kind": "stop",
        "description": "该系统年底下线，数据迁移至新平台", "effective_date": earliest.isoformat()},
        follow_redirects=False)
    assert posted.status_code == 303, posted.text
    change_id = int(re.match(r"/sharing/changes/(\d+)\?notice=change_proposed", posted.headers["location"]).group(1))
    with db.session() as s:
        stored = s.get(ServiceChange, change_id)
        assert (stored.kind, stored.status, stored.effective_date) == ("stop", "submitted", earliest)
        link = s.scalars(select(Notification.link).where(Notification.link == f"/sharing/changes/{change_id}")).first()
    assert link == f"/sharing/changes/{change_id}"
    reviewer = as_user("reviewer")
    page = reviewer.get(link)
    text = visible_text(page)
    assert page.status_code == 200 and "受影响的授权 1 项" in text and "省民政厅" in text and "主管部门审批" in text
    assert f"#{change_id}" in visible_text(reviewer.get("/sharing/changes?status=submitted"))
    decided = reviewer.post(f"/sharing/changes/{change_id}/decide", data={
        "csrf_token": token(reviewer), "decision": "approve", "reason": "同意按期停止"}, follow_redirects=False)
    assert decided.status_code == 303
    with db.session() as s:
        assert s.get(ServiceChange, change_id).status == "approved"


def test_r11_every_invalid_field_is_named_and_nothing_is_stored(db, world, as_user):
    entry_id = _granted_entry(db, world)
    manager = as_user("police_manager")
    early = manager.post("/sharing/changes/new", data={
        "csrf_token": token(manager), "entry_id": str(entry_id), "kind": "stop", "description": "下线",
        "effective_date": local_today_iso(db)})
    assert early.status_code == 422 and "生效日期不得早于" in visible_text(early)
    assert "下线</textarea>" in early.text  # what was typed is kept
    bad_date = manager.post("/sharing/changes/new", data={
        "csrf_token": token(manager), "entry_id": str(entry_id), "kind": "stop", "description": "下线",
        "effective_date": "明年"})
    assert bad_date.status_code == 422 and "生效日期的格式应为" in visible_text(bad_date)
    bad_kind = manager.post("/sharing/changes/new", data={
        "csrf_token": token(manager), "entry_id": str(entry_id), "kind": "pause", "description": "下线",
        "effective_date": "2099-01-01"})
    assert bad_kind.status_code == 422 and "变更类型无效" in visible_text(bad_kind)
    # every field at once, each next to its field: a kind the page cannot read, no content, a date too early
    everything = manager.post("/sharing/changes/new", data={
        "csrf_token": token(manager), "entry_id": str(entry_id), "kind": "pause", "description": "  ",
        "effective_date": local_today_iso(db)})
    assert everything.status_code == 422
    errors = re.findall(r'<span class="field-error" role="alert">([^<]+)</span>', everything.text)
    assert len(errors) == 3, errors
    assert [part in error for part, error in zip(("变更类型无效", "必须说明变更或停止的内容", "生效日期不得早于"),
                                                 errors, strict=True)] == [True] * 3, errors
    nothing = manager.post("/sharing/changes/new", data={
        "csrf_token": token(manager), "entry_id": str(entry_id), "description": "", "effective_date": ""})
    named = re.findall(r'<span class="field-error" role="alert">(请选择变更类型|必须说明|请填写生效日期)', nothing.text)
    assert named == ["请选择变更类型", "必须说明", "请填写生效日期"]
    with db.session() as s:
        assert s.scalars(select(ServiceChange)).first() is None


def local_today_iso(db) -> str:
    with db.session() as s:
        return local_today(s).isoformat()


def test_r11_only_the_providers_roles_may_propose_for_their_own_entry(db, world, as_user, client):
    entry_id = _granted_entry(db, world)
    for username in ("civil_requester", "civil_manager", "reviewer", "auditor"):
        other = as_user(username)
        assert f"/sharing/changes/new?entry_id={entry_id}" not in other.get(f"/catalog/{entry_id}").text
        assert other.get(f"/sharing/changes/new?entry_id={entry_id}").status_code in (403, 404), username
        refused = other.post("/sharing/changes/new", data={
            "csrf_token": token(other), "entry_id": str(entry_id), "kind": "stop", "description": "越权停止",
            "effective_date": "2099-01-01"})
        assert refused.status_code in (403, 404), username
    client.cookies.clear()
    anonymous = client.post("/sharing/changes/new", data={"entry_id": str(entry_id)}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    with db.session() as s:
        assert s.scalars(select(ServiceChange)).first() is None
