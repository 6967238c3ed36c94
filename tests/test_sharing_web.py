"""The Chinese pages of one-stop sharing (R07, R08, R09, R10, R18, R20): requests and replies through the
forms, refusals, the consumer system's secret shown once, notifications, and the calendar page."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from govshare.demands.models import Demand
from govshare.notify.models import Notification
from govshare.orgs import systems
from govshare.orgs.models import ConsumerSystem
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant, ShareRequest
from govshare.sharing.schemas import ReplyIn
from govshare.workdays import service as workdays
from tests.factories import SYSTEM, consumer_system, published_entry, request_in, submitted_request
from tests.web_helpers import token, visible_text


def field_error(page_html: str, name: str) -> str:
    """The message shown in the label of the named field (the form's field-level error)."""
    label = re.search(rf'<label(?:(?!</label>).)*?<(?:input|select|textarea) name="{name}".*?</label>', page_html, re.S)
    assert label, name
    error = re.search(r'<span class="field-error" role="alert">([^<]*)</span>', label.group(0))
    return error.group(1) if error else ""


def _request_status(db, request_id: int) -> str:
    with db.session() as s:
        return s.get(ShareRequest, request_id).status


def test_r07_request_form_creates_and_submits_a_request_with_its_due_date(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        entry_id, item_ids = entry.id, [i.id for i in entry.items]
        system_id = consumer_system(s, world)[0].id
    client = as_user("civil_requester")
    detail = client.get(f"/catalog/{entry_id}")
    assert f'href="/sharing/requests/new?entry_id={entry_id}"' in detail.text and "申请共享" in detail.text
    form = client.get(f"/sharing/requests/new?entry_id={entry_id}")
    assert form.status_code == 200 and "共享目的" in form.text and "低保审核系统" in form.text
    end = (date.today() + timedelta(days=300)).isoformat()
    response = client.post("/sharing/requests/new", data={
        "csrf_token": token(client), "entry_id": str(entry_id), "purpose": "最低生活保障资格审核",
        "scenario": "低保申请受理时核对申请人户籍信息", "duty_basis": "《社会救助暂行办法》第十一条",
        "item_ids": [str(i) for i in item_ids[:2]], "scope_item": "hjdz", "scope_prefixes": "340104 340111",
        "period_end": end, "consumer_system_id": str(system_id), "action": "submit",
    }, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    request_id = int(re.match(r"/sharing/requests/(\d+)\?notice=submitted", location).group(1))
    with db.session() as s:
        stored = s.get(ShareRequest, request_id)
        assert stored.status == "submitted" and stored.item_ids == item_ids[:2]
        assert stored.row_scope == {"item": "hjdz", "prefixes": ["340104", "340111"]}
        assert stored.consumer_system_id == system_id and stored.period_end.isoformat() == end
        due = stored.reply_due
    assert due is not None
    page = client.get(location)
    text = visible_text(page)
    assert "申请已提交" in text and "待答复" in text and due.isoformat() in text
    assert "公民身份号码" in text and "按户籍地址限定：340104、340111" in text
    listing = visible_text(client.get("/sharing/requests"))
    assert "人口基本信息" in listing and "待答复" in listing and due.isoformat() in listing


def test_r07_request_form_errors_are_shown_next_to_the_field_and_keep_the_input(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        entry_id, first_item = entry.id, entry.items[0].id
        system_id = consumer_system(s, world)[0].id
    client = as_user("civil_requester")
    response = client.post("/sharing/requests/new", data={
        "csrf_token": token(client), "entry_id": str(entry_id), "purpose": "低保资格审核",
        "scenario": "受理时核对户籍", "duty_basis": "", "item_ids": [str(first_item)],
        "period_end": (date.today() + timedelta(days=30)).isoformat(), "consumer_system_id": str(system_id)})
    assert response.status_code == 422
    assert "履职依据" in field_error(response.text, "duty_basis")
    assert 'value="低保资格审核"' not in response.text and "低保资格审核</textarea>" in response.text
    assert f'name="item_ids" value="{first_item}" id="item-{first_item}" checked' in response.text
    with db.session() as s:
        assert s.scalars(select(ShareRequest)).all() == []


def _approve_in_part_form(client, request_id: int, item_ids: list[int], reason: str) -> dict:
    return {"csrf_token": token(client), "decision": "approve_in_part", "item_ids": [str(i) for i in item_ids],
            "period_end": "", "rate_limit": "20", "reason": reason}


def test_r07_provider_reviewer_approves_in_part_with_a_reason(db, world, as_user):
    with db.session() as s:
        request = submitted_request(s, world)
        request_id, items = request.id, list(request.item_ids)
    client = as_user("police_reviewer")
    page = client.get(f"/sharing/requests/{request_id}")
    assert page.status_code == 200 and "答复申请" in page.text
    assert 'name="decision" value="approve_in_part"' in page.text
    response = client.post(f"/sharing/requests/{request_id}/reply",
                           data=_approve_in_part_form(client, request_id, items[:2], "户籍地址超出低保审核所需"),
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("notice=replied")
    with db.session() as s:
        stored = s.get(ShareRequest, request_id)
        assert stored.status == "partly_approved" and stored.decision_reason == "户籍地址超出低保审核所需"
        grant = s.scalars(select(Grant).where(Grant.request_id == request_id)).one()
        assert grant.item_ids == items[:2] and grant.rate_limit == 20
    shown = visible_text(client.get(response.headers["location"]))
    assert "部分同意" in shown and "户籍地址超出低保审核所需" in shown and "答复申请" not in shown


def test_r07_reply_without_a_reason_shows_the_field_error_and_changes_nothing(db, world, as_user):
    with db.session() as s:
        request = submitted_request(s, world)
        request_id, items = request.id, list(request.item_ids)
    client = as_user("police_reviewer")
    response = client.post(f"/sharing/requests/{request_id}/reply",
                           data={**_approve_in_part_form(client, request_id, items[:1], ""), "rate_limit": "7"})
    assert response.status_code == 422
    assert field_error(response.text, "reason") == "“部分同意”必须说明理由"
    assert 'value="approve_in_part" checked' in response.text and 'name="rate_limit" value="7"' in response.text
    kept = re.search(r'id="reply-form".*?</section>', response.text, re.S).group(0)
    assert f'value="{items[0]}" checked' in kept and f'value="{items[1]}" checked' not in kept
    refused = client.post(f"/sharing/requests/{request_id}/reply",
                          data={"csrf_token": token(client), "decision": "refuse", "reason": "  "})
    assert refused.status_code == 422 and field_error(refused.text, "reason") == "“不予同意”必须说明理由"
    with db.session() as s:
        assert s.get(ShareRequest, request_id).status == "submitted"
        assert s.scalars(select(Grant)).all() == []


def test_r07_requester_sees_no_reply_form_and_a_forged_reply_is_refused(db, world, as_user):
    with db.session() as s:
        request_id = submitted_request(s, world).id
    client = as_user("civil_requester")
    page = client.get(f"/sharing/requests/{request_id}")
    assert page.status_code == 200 and "待答复" in page.text
    assert "答复申请" not in page.text and f"/sharing/requests/{request_id}/reply" not in page.text
    assert "撤回申请" in page.text
    forged = client.post(f"/sharing/requests/{request_id}/reply",
                         data={"csrf_token": token(client), "decision": "approve", "reason": "自己同意"})
    assert forged.status_code == 403 and "无权访问" in forged.text
    other = as_user("city_civil_manager")  # neither party: cannot even read the request
    assert other.get(f"/sharing/requests/{request_id}").status_code == 404
    stranger = other.post(f"/sharing/requests/{request_id}/reply",
                          data={"csrf_token": token(other), "decision": "approve", "reason": ""})
    assert stranger.status_code == 403
    assert _request_status(db, request_id) == "submitted"


def test_r18_sharing_posts_without_the_csrf_token_are_refused(db, world, as_user):
    with db.session() as s:
        request_id = submitted_request(s, world).id
        entry_id = s.get(ShareRequest, request_id).entry_id
        systems_before = len(s.scalars(select(ConsumerSystem)).all())
        unread_before = len(s.scalars(select(Notification).where(Notification.read_at.is_(None))).all())
    assert unread_before  # the submission told the provider's reviewer
    client = as_user("police_reviewer")
    for data in ({"decision": "approve"}, {"decision": "approve", "csrf_token": "0" * 64}):
        response = client.post(f"/sharing/requests/{request_id}/reply", data=data)
        assert response.status_code == 403 and "防跨站请求令牌" in response.text
    client = as_user("civil_requester")
    cases = [(f"/sharing/requests/{request_id}/withdraw", {"reason": "不需要了"}),
             ("/sharing/systems", {"name": "伪造的系统"}),
             ("/sharing/requests/new", {"entry_id": str(entry_id), "purpose": "伪造", "scenario": "伪造"}),
             ("/demands", {"title": "需要核验低保对象"}), ("/notifications/read-all", {})]
    for url, data in cases:
        response = client.post(url, data=data)
        assert response.status_code == 403 and "防跨站请求令牌" in response.text, url
    with db.session() as s:
        assert s.get(ShareRequest, request_id).status == "submitted"
        assert len(s.scalars(select(ShareRequest)).all()) == 1
        assert len(s.scalars(select(ConsumerSystem)).all()) == systems_before
        unread = s.scalars(select(Notification).where(Notification.read_at.is_(None))).all()
        assert len(unread) == unread_before  # read-all without the token marked nothing


def test_r07_another_department_cannot_open_a_draft_request(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        system = consumer_system(s, world)[0]
        draft = sharing.create_request(s, world.actors["civil_requester"],
                                       request_in(entry, consumer_system_id=system.id))
        draft_id = draft.id
    provider = as_user("police_reviewer")
    refused = provider.get(f"/sharing/requests/{draft_id}")
    assert refused.status_code == 404 and "最低生活保障资格审核" not in refused.text
    assert provider.post(f"/sharing/requests/{draft_id}/submit",
                         data={"csrf_token": token(provider)}).status_code == 403
    own = as_user("civil_requester")
    page = own.get(f"/sharing/requests/{draft_id}")
    assert page.status_code == 200 and "草稿" in page.text and "提交申请" in page.text
    done = own.post(f"/sharing/requests/{draft_id}/submit", data={"csrf_token": token(own)}, follow_redirects=False)
    assert done.status_code == 303 and _request_status(db, draft_id) == "submitted"


def test_r09_system_page_shows_the_secret_once_and_never_again(db, world, as_user):
    client = as_user("civil_requester")
    response = client.post("/sharing/systems", data={"csrf_token": token(client), "name": "低保审核系统",
                                                     "description": "民政厅低保业务"})
    assert response.status_code == 201
    secret = re.search(r'id="client-secret">([^<]+)<', response.text).group(1)
    assert len(secret) >= 32 and "只显示这一次" in response.text
    with db.session() as s:
        system = s.scalars(select(ConsumerSystem)).one()
        client_id, system_id = system.client_id, system.id
        assert secret not in system.secret_hash
    again = client.get("/sharing/systems")
    assert again.status_code == 200 and client_id in again.text and secret not in again.text
    assert "client-secret" not in again.text
    duplicate = client.post("/sharing/systems", data={"csrf_token": token(client), "name": "低保审核系统"})
    assert duplicate.status_code == 409 and "同名应用系统" in duplicate.text and secret not in duplicate.text
    rotated = client.post(f"/sharing/systems/{system_id}/rotate", data={"csrf_token": token(client)})
    assert rotated.status_code == 200, rotated.text
    new_secret = re.search(r'id="client-secret">([^<]+)<', rotated.text).group(1)
    assert new_secret != secret and new_secret not in client.get("/sharing/systems").text
    police = as_user("police_reviewer")
    assert client_id not in police.get("/sharing/systems").text
    assert police.post(f"/sharing/systems/{system_id}/rotate", data={"csrf_token": token(police)}).status_code == 403
    with db.session() as s:  # the refused rotation left the secret shown last in force
        assert systems.authenticate_system(s, client_id, new_secret).id == system_id


def test_r07_not_shared_entry_shows_the_legal_basis_and_no_request_button(db, world, as_user):
    with db.session() as s:
        entry_id = published_entry(s, world, name="涉密统计资料", share_type="不予共享", share_condition="",
                                   legal_basis="《中华人民共和国统计法》第二十八条").id
    client = as_user("civil_requester")
    page = client.get(f"/catalog/{entry_id}")
    assert page.status_code == 200 and "《中华人民共和国统计法》第二十八条" in page.text
    assert "不接受共享申请" in page.text and "/sharing/requests/new" not in page.text
    form = client.get(f"/sharing/requests/new?entry_id={entry_id}")
    assert "不予共享目录，不能申请" in form.text and 'action="/sharing/requests/new"' not in form.text


def test_notifications_page_lists_the_submitted_request_for_the_provider_reviewer(db, world, as_user):
    with db.session() as s:
        request_id = submitted_request(s, world).id
    client = as_user("police_reviewer")
    home = client.get("/catalog")
    assert re.search(r'href="/notifications"[^>]*>消息通知 <span class="badge[^"]*"[^>]*>1</span>', home.text)
    page = client.get("/notifications")
    assert page.status_code == 200
    assert "收到共享申请：人口基本信息" in page.text and f'href="/sharing/requests/{request_id}"' in page.text
    with db.session() as s:
        notification_id = s.scalars(select(Notification.id).where(
            Notification.user_id == world.ids["user:police_reviewer"])).one()
    requester = as_user("civil_requester")  # somebody else's notification is not found
    assert requester.post(f"/notifications/{notification_id}/read",
                          data={"csrf_token": token(requester)}).status_code == 404
    client = as_user("police_reviewer")
    done = client.post(f"/notifications/{notification_id}/read", data={"csrf_token": token(client)},
                       follow_redirects=False)
    assert done.status_code == 303
    with db.session() as s:
        assert s.get(Notification, notification_id).read_at is not None
    assert "未读 0 条" in client.get("/notifications").text


def test_r08_requester_escalates_a_refusal_and_the_provider_decides_on_the_page(db, world, as_user):
    with db.session() as s:
        request = submitted_request(s, world)
        request_id = request.id
        from govshare.sharing.schemas import ReplyIn

        sharing.reply(s, world.actors["police_reviewer"], request_id, ReplyIn(decision="refuse", reason="数据敏感"))
    client = as_user("civil_requester")
    missing = client.post(f"/sharing/requests/{request_id}/escalate", data={"csrf_token": token(client)})
    assert missing.status_code == 422 and "提起争议必须说明理由" in missing.text
    done = client.post(f"/sharing/requests/{request_id}/escalate",
                       data={"csrf_token": token(client), "reason": "低保审核是法定职责"}, follow_redirects=False)
    assert done.status_code == 303 and _request_status(db, request_id) == "escalated"
    assert "作出决定" not in client.get(f"/sharing/requests/{request_id}").text
    reviewer = as_user("police_reviewer")
    queue = visible_text(reviewer.get("/sharing/disputes"))
    assert "双方协商" in queue and "低保审核是法定职责" in queue
    page = reviewer.get(f"/sharing/requests/{request_id}")
    step_id = int(re.search(r'action="/sharing/disputes/(\d+)/decide"', page.text).group(1))
    result = reviewer.post(f"/sharing/disputes/{step_id}/decide",
                           data={"csrf_token": token(reviewer), "decision": "approve", "reason": "协商一致"},
                           follow_redirects=False)
    assert result.status_code == 303 and _request_status(db, request_id) == "approved"


def test_r10_requester_declares_purpose_achieved_and_confirms_deletion(db, world, as_user):
    with db.session() as s:
        request_id = submitted_request(s, world).id
        from govshare.sharing.schemas import ReplyIn

        sharing.reply(s, world.actors["police_reviewer"], request_id, ReplyIn(decision="approve"))
        grant_id = s.scalars(select(Grant.id).where(Grant.request_id == request_id)).one()
    client = as_user("civil_requester")
    page = client.get("/sharing/grants")
    assert "共享目的已实现" in page.text and f"/sharing/grants/{grant_id}/revoke" not in page.text
    assert 'name="reason" value="" required' in page.text  # the browser asks for the reason before posting
    unexplained = client.post(f"/sharing/grants/{grant_id}/purpose-achieved", data={"csrf_token": token(client)})
    assert unexplained.status_code == 422 and "声明共享目的已实现必须说明实现情况" in unexplained.text
    with db.session() as s:
        assert s.get(Grant, grant_id).status == "active"
    ended = client.post(f"/sharing/grants/{grant_id}/purpose-achieved",
                        data={"csrf_token": token(client), "reason": "低保年审已完成"})
    assert ended.status_code == 200 and "共享目的已实现" in ended.text, ended.text
    page = client.get("/sharing/grants")
    assert "待确认删除数据" in page.text
    with db.session() as s:
        grant = s.get(Grant, grant_id)
        assert (grant.status, grant.end_reason, grant.deletion_confirmed_at) == ("ended", "purpose_achieved", None)
    reviewer = as_user("police_reviewer")  # the provider cannot confirm the deletion for the requester
    refused = reviewer.post(f"/sharing/grants/{grant_id}/confirm-deletion", data={"csrf_token": token(reviewer)})
    assert refused.status_code == 403
    with db.session() as s:
        assert s.get(Grant, grant_id).deletion_confirmed_at is None
    client = as_user("civil_requester")
    client.post(f"/sharing/grants/{grant_id}/confirm-deletion", data={"csrf_token": token(client), "reason": "已删除"})
    with db.session() as s:
        assert s.get(Grant, grant_id).deletion_confirmed_at is not None


def test_r20_demand_posted_on_the_page_is_routed_and_answered(db, world, as_user):
    with db.session() as s:
        published_entry(s, world)
    client = as_user("civil_requester")
    empty = client.post("/demands", data={"csrf_token": token(client), "title": ""})
    assert empty.status_code == 422 and "一句话" in field_error(empty.text, "title")
    posted = client.post("/demands", data={"csrf_token": token(client), "title": "需要核验申请人的婚姻状况",
                                           "provider_id": str(world.ids["police"])}, follow_redirects=False)
    assert posted.status_code == 303
    demand_path = posted.headers["location"].split("?")[0]
    assert "已转提供部门" in client.get(demand_path).text
    manager = as_user("police_manager")
    page = manager.get(demand_path)
    assert "答复需求" in page.text
    late = (date.today() + timedelta(days=400)).isoformat()
    refused = manager.post(f"{demand_path}/answer", data={"csrf_token": token(manager), "accept": "yes",
                                                          "planned_date": late})
    assert refused.status_code == 422 and "超出期限" in refused.text and f'value="{late}"' in refused.text
    with db.session() as s:  # the refused answer stored nothing
        demand = s.scalars(select(Demand)).one()
        assert (demand.status, demand.planned_date) == ("routed", None)
    answered = manager.post(f"{demand_path}/answer", follow_redirects=False, data={
        "csrf_token": token(manager), "accept": "no", "reason": "本部门不掌握婚姻登记数据"})
    assert answered.status_code == 303
    with db.session() as s:
        demand = s.scalars(select(Demand)).one()
        assert (demand.status, demand.accepted, demand.answer) == ("declined", False, "本部门不掌握婚姻登记数据")
    assert "本部门不掌握婚姻登记数据" in client.get(demand_path).text


def test_calendar_page_is_for_the_admin_and_imports_a_notice(db, world, as_user):
    client = as_user("civil_requester")
    assert client.get("/admin/calendar").status_code == 403
    refused = client.post("/admin/calendar/days", data={"csrf_token": token(client), "day": "2031-10-01",
                                                        "is_workday": "0", "name": "国庆节"})
    assert refused.status_code == 403
    with db.session() as s:
        assert workdays.list_days(s, 2031) == []  # the requester's day was not stored
    admin = as_user("admin")
    page = admin.get("/admin/calendar?year=2031")
    assert page.status_code == 200 and "按周一至周五估算" in page.text
    bad = admin.post("/admin/calendar/days", data={"csrf_token": token(admin), "day": "2031-13-01",
                                                   "is_workday": "0", "name": "国庆节"})
    assert bad.status_code == 422 and 'value="2031-13-01"' in bad.text
    both = admin.post("/admin/calendar/days", data={"csrf_token": token(admin), "day": "2031-13-01",
                                                    "is_workday": "", "name": "国庆节"})
    named = re.findall(r'<span class="field-error" role="alert">([^<]+)</span>', both.text)
    assert both.status_code == 422 and len(named) == 2 and "请选择放假或上班" in named[1], named  # both at once
    done = admin.post("/admin/calendar/days", data={"csrf_token": token(admin), "day": "2031-10-01",
                                                    "is_workday": "0", "name": "国庆节"}, follow_redirects=False)
    assert done.status_code == 303
    assert "国庆节" in admin.get("/admin/calendar?year=2031").text
    with db.session() as s:
        assert [d.name for d in workdays.list_days(s, 2031)] == ["国庆节"]
    garbled = admin.post("/admin/calendar/import", data={"csrf_token": token(admin), "text": "2032-99-01,放假",
                                                         "format": "csv"})
    assert garbled.status_code == 422 and "日期无效" in field_error(garbled.text, "text")
    assert "2032-99-01,放假</textarea>" in garbled.text
    imported = admin.post("/admin/calendar/import", data={"csrf_token": token(admin), "text": NOTICE_2032})
    assert imported.status_code == 200 and "新增 11 天" in imported.text
    assert "国务院办公厅关于2032年部分节假日安排的通知" in imported.text and "管理员节假日表" in imported.text
    with db.session() as s:
        assert workdays.year_status(s, 2032).known_by == "admin"


NOTICE_2032 = """国务院办公厅关于2032年部分节假日安排的通知
一、元旦：1月1日（周四）至3日（周六）放假，共3天。
七、国庆节：10月1日（周五）至8日（周五）放假调休，共8天。
"""


SHARING_PAGE_WRITE_ROUTES = {
    ("POST", "/sharing/requests/new"), ("POST", "/sharing/requests/{request_id}/submit"),
    ("POST", "/sharing/requests/{request_id}/withdraw"), ("POST", "/sharing/requests/{request_id}/renew"),
    ("POST", "/sharing/requests/{request_id}/escalate"), ("POST", "/sharing/requests/{request_id}/reply"),
    ("POST", "/sharing/disputes/{step_id}/decide"), ("POST", "/sharing/grants/{grant_id}/revoke"),
    ("POST", "/sharing/grants/{grant_id}/purpose-achieved"), ("POST", "/sharing/grants/{grant_id}/confirm-deletion"),
    ("POST", "/sharing/grants/{grant_id}/reinstate"), ("POST", "/sharing/systems"),
    ("POST", "/sharing/systems/{system_id}/rotate"),
    ("POST", "/sharing/systems/{system_id}/revoke"), ("POST", "/demands"), ("POST", "/demands/{demand_id}/route"),
    ("POST", "/demands/{demand_id}/answer"), ("POST", "/demands/{demand_id}/link"),
    ("POST", "/demands/{demand_id}/accept"), ("POST", "/demands/{demand_id}/withdraw"),
    ("POST", "/notifications/{notification_id}/read"), ("POST", "/notifications/read-all"),
    ("POST", "/admin/calendar/import"), ("POST", "/admin/calendar/days"),
    ("POST", "/sharing/changes/{change_id}/decide"), ("POST", "/sharing/changes/new"),
}


def test_r18_every_sharing_page_write_route_refuses_the_auditor_and_anonymous_users(db, world, as_user, client):
    """Every form of these pages goes through a service that refuses the auditor (403, nothing changes); a
    logged-out visitor is sent to the login form."""
    from govshare.demands import service as demands
    from govshare.sharing import changes, disputes
    from govshare.sharing.models import ServiceChange
    from govshare.sharing.schemas import ReplyIn
    from govshare.sharing.vocab import ServiceChangeKind
    from govshare.web.sharing_pages import router

    found = {(m, r.path) for r in router.routes for m in r.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert found == SHARING_PAGE_WRITE_ROUTES
    with db.session() as s:
        entry = published_entry(s, world)
        system = consumer_system(s, world)[0]
        pending = submitted_request(s, world, entry=entry, system=system).id
        approved = submitted_request(s, world, entry=entry, system=system).id
        sharing.reply(s, world.actors["police_reviewer"], approved, ReplyIn(decision="approve"))
        grant = s.scalars(select(Grant.id).where(Grant.request_id == approved)).one()
        disputed = submitted_request(s, world, entry=entry, system=system).id
        sharing.reply(s, world.actors["police_reviewer"], disputed, ReplyIn(decision="refuse", reason="数据敏感"))
        step = disputes.escalate(s, world.actors["civil_requester"], disputed, "法定职责").id
        demand = demands.post_demand(s, world.actors["civil_requester"], "需要核验婚姻状况",
                                     provider_id=world.ids["police"]).id
        entry_id, system_id, notification = entry.id, system.id, s.scalars(select(Notification.id)).first()
        effective = changes.earliest_effective_date(s, workdays.local_today(s)) + timedelta(days=3)
        change = changes.propose(s, world.actors["police_manager"], entry.id, ServiceChangeKind.STOP, "停止服务",
                                 effective).id
    end = (date.today() + timedelta(days=30)).isoformat()
    form = {"entry_id": str(entry_id), "purpose": "越权申请", "scenario": "越权使用", "duty_basis": "无",
            "period_end": end,
            "decision": "approve", "reason": "越权", "name": "越权系统", "title": "越权需求", "accept": "yes",
            "planned_date": end, "provider_id": str(world.ids["police"]), "day": "2031-10-01", "is_workday": "0",
            "text": "2031-10-01,放假,国庆节", "format": "csv", "kind": "stop", "description": "越权停止",
            "effective_date": "2099-01-01"}
    refused = [f"/sharing/requests/{pending}/submit", f"/sharing/requests/{pending}/withdraw",
               f"/sharing/requests/{approved}/renew", f"/sharing/requests/{approved}/escalate",
               f"/sharing/requests/{pending}/reply", f"/sharing/disputes/{step}/decide",
               f"/sharing/grants/{grant}/revoke", f"/sharing/grants/{grant}/purpose-achieved",
               f"/sharing/grants/{grant}/confirm-deletion", f"/sharing/grants/{grant}/reinstate",
               "/sharing/systems", f"/sharing/systems/{system_id}/rotate",
               f"/sharing/systems/{system_id}/revoke", "/demands", f"/demands/{demand}/route",
               f"/demands/{demand}/answer", f"/demands/{demand}/link", f"/demands/{demand}/accept",
               f"/demands/{demand}/withdraw", "/admin/calendar/import", "/admin/calendar/days",
               "/sharing/requests/new", f"/sharing/changes/{change}/decide", "/sharing/changes/new"]
    own_inbox = [f"/notifications/{notification}/read", "/notifications/read-all"]
    client.cookies.clear()
    for url in refused + own_inbox:
        response = client.post(url, data=form, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), url

    def state():
        with db.session() as s:
            return ([(r.id, r.status) for r in s.scalars(select(ShareRequest).order_by(ShareRequest.id))],
                    [(g.id, g.status) for g in s.scalars(select(Grant))],
                    [(c.id, c.secret_hash, c.revoked_at) for c in s.scalars(select(ConsumerSystem))],
                    [(d.id, d.status) for d in demands.list_demands(s, SYSTEM)],
                    [d.day for d in workdays.list_days(s)],
                    [(c.id, c.status) for c in s.scalars(select(ServiceChange))],
                    s.scalars(select(Notification.read_at).where(Notification.id == notification)).one())

    before = state()
    auditor = as_user("auditor")
    for url in refused:
        response = auditor.post(url, data={**form, "csrf_token": token(auditor)})
        assert response.status_code == 403 and "无权" in response.text, url
    # the auditor's own inbox is its own; somebody else's notification does not exist for it
    assert auditor.post(own_inbox[0], data={"csrf_token": token(auditor)}).status_code == 404
    assert state() == before


def test_every_sharing_page_opens_for_every_role_and_links_only_what_the_role_may_use(db, world, as_user):
    with db.session() as s:
        request_id = submitted_request(s, world).id
    pages = ["/sharing/requests", "/sharing/requests?box=incoming", "/sharing/requests?box=all&status=submitted",
             f"/sharing/requests/{request_id}", "/sharing/grants", "/sharing/grants?box=incoming", "/sharing/systems",
             "/sharing/disputes", "/demands", "/demands?box=incoming", "/notifications", "/notifications?unread=1"]
    for username in ("admin", "reviewer", "police_manager", "police_reviewer", "civil_requester", "auditor"):
        client = as_user(username)
        for path in pages:
            assert client.get(path).status_code == 200, (username, path)
        calendar = client.get("/admin/calendar")
        assert calendar.status_code == (200 if username == "admin" else 403), username
        nav = re.search(r'<nav class="nav".*?</nav>', client.get("/catalog").text, re.S).group(0)
        assert ("节假日日历" in nav) == (username == "admin")
        assert ("争议处理" in nav) == (username in ("reviewer", "police_reviewer"))
        assert ("应用系统" in nav) == (username in ("admin", "police_reviewer", "civil_requester", "auditor"))


def test_r07_request_form_reports_every_invalid_field_at_once_and_stores_nothing(db, world, as_user):
    """Issue 14: a clerk sees all that is wrong in one go, each next to its field, and keeps what was typed."""
    with db.session() as s:
        entry = published_entry(s, world)
        entry_id = entry.id
    client = as_user("civil_requester")
    response = client.post("/sharing/requests/new", data={
        "csrf_token": token(client), "entry_id": str(entry_id), "purpose": "x", "scenario": "低保申请受理时核对户籍",
        "duty_basis": "", "period_end": "明年年底", "scope_prefixes": "340104", "rate_limit": "",
        "consumer_system_id": "abc"})
    assert response.status_code == 422
    errors = {name: field_error(response.text, name)
              for name in ("purpose", "period_end", "consumer_system_id", "scope_item")
              if re.search(rf'name="{name}"', response.text)}
    assert errors["purpose"] and "日期格式" in errors["period_end"] and "整数" in errors["consumer_system_id"], errors
    assert "另有" in visible_text(response) and "低保申请受理时核对户籍" in response.text
    with db.session() as s:
        assert s.scalars(select(ShareRequest)).first() is None


def test_r10_grants_show_the_other_department_scope_masking_and_recent_calls(db, world, as_user):
    """Issue 14: a provider sees who holds its data, under what scope and masking, and how much it is used."""
    from govshare.gateway.models import GrantUsageDay

    with db.session() as s:
        request = submitted_request(s, world, row_scope={"item": "hjdz", "prefixes": ["340104"]})
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        grant = s.scalars(select(Grant).where(Grant.request_id == request.id)).one()
        grant.masking = {"gmsfhm": "keep:6:4"}
        today = workdays.local_today(s)
        s.add_all([GrantUsageDay(grant_id=grant.id, day=today, calls=7),
                   GrantUsageDay(grant_id=grant.id, day=today - timedelta(days=3), calls=5),
                   GrantUsageDay(grant_id=grant.id, day=today - timedelta(days=40), calls=100)])  # too old
        grant_id = grant.id
    provider = visible_text(as_user("police_reviewer").get("/sharing/grants?box=incoming"))
    assert "省民政厅" in provider and "按户籍地址限定：340104" in provider
    assert "公民身份号码：只显示前6位和后4位，其余以*遮盖" in provider and "12 次" in provider
    holder = as_user("civil_requester").get("/sharing/grants?box=outgoing")
    assert "省公安厅" in visible_text(holder) and f'href="/audit?grant={grant_id}"' in holder.text


def test_r07_a_system_registered_in_another_window_joins_the_form_without_losing_it(db, world, as_user):
    """Issue 14: the request form links to 应用系统 in a new window; 刷新应用系统列表 shows the form again as typed,
    with the new system to choose, and stores nothing."""
    with db.session() as s:
        entry_id = published_entry(s, world).id
    client = as_user("civil_requester")
    form = client.get(f"/sharing/requests/new?entry_id={entry_id}")
    assert 'href="/sharing/systems" target="_blank"' in form.text and "本部门尚无应用系统" in form.text
    registered = client.post("/sharing/systems", data={"csrf_token": token(client), "name": "低保审核系统"})
    assert registered.status_code == 201 and "低保审核系统" in registered.text  # its secret is shown once
    refreshed = client.post("/sharing/requests/new", data={
        "csrf_token": token(client), "entry_id": str(entry_id), "purpose": "最低生活保障资格审核",
        "scenario": "低保申请受理时核对户籍", "period_end": "2031-01-01", "action": "refresh"})
    assert refreshed.status_code == 200 and "低保审核系统" in refreshed.text
    assert "最低生活保障资格审核</textarea>" in refreshed.text and 'value="2031-01-01"' in refreshed.text
    with db.session() as s:
        assert s.scalars(select(ShareRequest)).first() is None
