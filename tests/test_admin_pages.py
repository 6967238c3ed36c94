"""The platform administrator's work in the UI (issue 14, R18): users (create, deactivate and activate, reset a
password, change a role), departments (create, aliases) and the record of every such change (变更记录), on the
pages /admin/users, /admin/departments and /admin/events, through the same services as the API and the CLI.

Each page write is posted as a browser would (the page's own form, its hidden CSRF token, what the admin types)
and the stored change is checked together with its AdminEvent. Then the refusals: anonymous visitors go to the
login form, a department reviewer and a requester see a 403 page and change nothing, the auditor reads
everything and changes nothing, a post without the CSRF token is refused; a reset password ends the user's old
sessions at once and the new password logs in; an unknown role is refused naming the field, and an admin
cannot change their own role."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from govshare.deps import SESSION_COOKIE
from govshare.errors import Conflict, Forbidden, ValidationFailed
from govshare.orgs import service as orgs
from govshare.orgs.models import AdminEvent, ApiToken, Department, DepartmentAlias, User
from govshare.web.admin_pages import DEPARTMENT_NOTICES, USER_NOTICES
from govshare.web.pages import PAGE_SIZE
from tests.factories import PASSWORD, SYSTEM
from tests.security.test_idor import changed_tables, snapshot
from tests.test_page_actions import post_form
from tests.web_helpers import token, visible_text

NEW_PASSWORD = "new-horse-battery-7"
ADMIN_PAGE_WRITE_ROUTES = {
    ("POST", "/admin/users"), ("POST", "/admin/users/{user_id}/deactivate"),
    ("POST", "/admin/users/{user_id}/activate"), ("POST", "/admin/users/{user_id}/password"),
    ("POST", "/admin/users/{user_id}/role"), ("POST", "/admin/departments"),
    ("POST", "/admin/departments/{department_id}/aliases"),
    ("POST", "/admin/departments/{department_id}/aliases/{alias_id}/remove"),
}
READ_PAGES = ("/admin/users", "/admin/departments", "/admin/events")


def test_r18_the_admin_pages_write_routes_are_the_ones_tested_here():
    from govshare.web.admin_pages import router

    found = {(m, r.path) for r in router.routes for m in r.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert found == ADMIN_PAGE_WRITE_ROUTES


# ---------------------------------------------------------------- helpers


def _events(db, action: str | None = None) -> list[tuple]:
    """(actor user id, action, target kind, target id, summary) of the recorded changes, oldest first."""
    with db.session() as s:
        query = select(AdminEvent).order_by(AdminEvent.id)
        if action:
            query = query.where(AdminEvent.action == action)
        return [(e.actor_user_id, e.action, e.target_kind, e.target_id, e.summary) for e in s.scalars(query)]


def _user(db, username: str) -> User:
    with db.session() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        s.expunge(user)
        return user


def _live_sessions(db, user_id: int) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.kind == "session", ApiToken.revoked_at.is_(None)))


def _done(response, notice: str, notices: dict) -> str:
    """The post redirected (303) back to the list, which says `notice`."""
    assert [r.status_code for r in response.history] == [303], response.history
    text = visible_text(response)
    assert notices[notice] in text, text[:800]
    return text


@pytest.fixture
def browser(app):
    """A second browser (its own cookies): the user whose account the admin changes."""
    with TestClient(app) as other:
        yield other


def _login(client, username: str, password: str = PASSWORD) -> int:
    client.cookies.clear()
    return client.post("/login", data={"username": username, "password": password, "next": "/"},
                       follow_redirects=False).status_code


def _as(client, world, who: str):
    """The client as `who`'s browser, with the session the world made (no new login: no new token)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, world.tokens[who])
    return client


def _table(response) -> str:
    """The visible text of the page's list (not its forms' options)."""
    return visible_text_of(re.search(r'<table class="list">.*?</table>', response.text, re.S).group(0))


def visible_text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _admin_menu_html(response) -> str:
    """The navigation's 系统管理 menu."""
    nav = re.search(r'<nav class="nav".*?</nav>', response.text, re.S).group(0)
    return re.search(r'<details[^>]*>\s*<summary>系统管理</summary>.*?</details>', nav, re.S).group(0)


def _admin_menu(response) -> list[str]:
    return re.findall(r">([^<>]+)</a>", _admin_menu_html(response))


def _posting_forms(response) -> list[str]:
    return re.findall(r'<form method="post" action="([^"]+)"', response.text)


def _admin_state(db) -> dict:
    """What the administration changes: users, their tokens, departments, aliases and the record."""
    return snapshot(db, skip=tuple(t for t in _tables(db) if t not in (
        "users", "api_tokens", "departments", "department_aliases", "admin_events")))


def _tables(db) -> list[str]:
    from govshare.models import Base

    return [t.name for t in Base.metadata.sorted_tables]


# ---------------------------------------------------------------- users: every write succeeds through its form


def test_r18_admin_creates_a_user_on_the_users_page_and_the_change_is_recorded(db, world, as_user, browser):
    admin = as_user("admin")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "创建用户" in page.text and 'href="/admin/users"' in page.text
    response = post_form(admin, "/admin/users", "/admin/users", match={"username": ""}, username="zhang_san",
                         display_name="张三", department_id=world.ids["police"], role="dept_reviewer",
                         password=NEW_PASSWORD)
    text = _done(response, "created", USER_NOTICES)
    user = _user(db, "zhang_san")
    assert (user.display_name, user.department_id, user.role, user.is_active) == (
        "张三", world.ids["police"], "dept_reviewer", True)
    assert NEW_PASSWORD not in user.password_hash and "zhang_san" in text
    [event] = _events(db, "user_created")[-1:]
    assert event[:4] == (world.ids["user:admin"], "user_created", "user", user.id)
    assert "zhang_san（张三）" in event[4] and "部门审核员" in event[4] and "省公安厅" in event[4]
    assert NEW_PASSWORD not in event[4] and user.password_hash not in event[4]
    assert _login(browser, "zhang_san", NEW_PASSWORD) == 303  # the new user logs in with that password


def test_r18_admin_deactivates_and_activates_a_user_on_the_page(db, world, as_user, browser):
    assert _login(browser, "civil_manager") == 303
    assert browser.get("/my/catalog", follow_redirects=False).status_code == 200
    target = world.ids["user:civil_manager"]
    admin = as_user("admin")
    page = admin.get("/admin/users?q=civil_manager").text
    form = re.search(rf'<form[^>]*action="/admin/users/{target}/deactivate"[^>]*>', page).group(0)
    assert "onsubmit=\"return confirm('" in form  # ending a user's access asks first
    response = post_form(admin, "/admin/users?q=civil_manager", f"/admin/users/{target}/deactivate")
    _done(response, "deactivated", USER_NOTICES)
    assert response.history[0].headers["location"] == f"/admin/users?q=civil_manager&notice=deactivated#user-{target}"
    assert _user(db, "civil_manager").is_active is False and _live_sessions(db, target) == 0
    ended = browser.get("/my/catalog", follow_redirects=False)  # the old cookie no longer works
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    assert _events(db)[-1][:4] == (world.ids["user:admin"], "user_deactivated", "user", target)

    response = post_form(admin, "/admin/users?q=civil_manager", f"/admin/users/{target}/activate")
    _done(response, "activated", USER_NOTICES)
    assert _user(db, "civil_manager").is_active is True
    assert _events(db)[-1][:4] == (world.ids["user:admin"], "user_activated", "user", target)
    assert "启用用户 civil_manager" in _events(db)[-1][4]
    assert browser.get("/my/catalog", follow_redirects=False).status_code == 303  # old sessions stay ended
    assert _login(browser, "civil_manager") == 303


def test_r18_a_reset_password_ends_the_users_sessions_and_the_new_one_logs_in(db, world, as_user, browser):
    assert _login(browser, "civil_manager") == 303
    old_cookie = browser.cookies[SESSION_COOKIE]
    assert browser.get("/my/catalog", follow_redirects=False).status_code == 200
    with db.session() as s:  # a program token is not a session: it keeps working
        program = orgs.create_api_token(s, world.actors["civil_manager"], name="同步程序", max_days=30)
    target = world.ids["user:civil_manager"]
    admin = as_user("admin")
    response = post_form(admin, "/admin/users", f"/admin/users/{target}/password", password=NEW_PASSWORD)
    _done(response, "password_reset", USER_NOTICES)
    assert NEW_PASSWORD not in response.text
    assert _live_sessions(db, target) == 0
    ended = browser.get("/my/catalog", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    assert browser.cookies.get(SESSION_COOKIE) == old_cookie  # the same cookie, refused
    assert admin.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {program}"}).status_code == 200
    assert _login(browser, "civil_manager", PASSWORD) == 401  # the old password no longer logs in
    assert _login(browser, "civil_manager", NEW_PASSWORD) == 303
    assert browser.get("/my/catalog", follow_redirects=False).status_code == 200
    [event] = _events(db, "password_reset")
    user = _user(db, "civil_manager")
    assert event[:4] == (world.ids["user:admin"], "password_reset", "user", target)
    assert "civil_manager" in event[4] and NEW_PASSWORD not in event[4] and user.password_hash not in event[4]

    too_short = admin.post(f"/admin/users/{target}/password", data={"csrf_token": token(admin), "password": "123"})
    assert too_short.status_code == 422 and "密码长度至少8位" in visible_text(too_short)
    assert "123" not in re.findall(r'name="password" value="([^"]*)"', too_short.text)  # never echoed
    assert _user(db, "civil_manager").password_hash == user.password_hash and len(_events(db, "password_reset")) == 1


def test_r18_admin_changes_a_role_on_the_page_and_the_new_role_applies_at_once(db, world, as_user, browser):
    assert _login(browser, "civil_requester") == 303
    assert browser.get("/sharing/requests", follow_redirects=False).status_code == 200
    with db.session() as s:  # made for the requester's work: it must not act with the new role's rights
        program = orgs.create_api_token(s, world.actors["civil_requester"], name="申请同步程序", max_days=30)
    target = world.ids["user:civil_requester"]
    admin = as_user("admin")
    response = post_form(admin, "/admin/users", f"/admin/users/{target}/role", role="dept_reviewer")
    _done(response, "role_changed", USER_NOTICES)
    assert _user(db, "civil_requester").role == "dept_reviewer" and _live_sessions(db, target) == 0
    ended = browser.get("/sharing/requests", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    [event] = _events(db, "role_changed")
    assert event[:4] == (world.ids["user:admin"], "role_changed", "user", target)
    # the world's and the browser's logins and the program token
    assert "由“数据需求人员”改为“部门审核员”" in event[4] and "吊销其 3 个令牌" in event[4]
    assert browser.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {program}"}).status_code == 401
    assert _login(browser, "civil_requester") == 303
    assert "部门审核员" in browser.get("/sharing/requests").text  # logged in again under the new role


# ---------------------------------------------------------------- departments


def test_r18_admin_creates_a_department_and_adds_and_removes_an_alias_on_the_page(db, world, as_user):
    admin = as_user("admin")
    page = admin.get("/admin/departments")
    assert page.status_code == 200 and "省公安厅" in page.text and "创建部门" in page.text
    response = post_form(admin, "/admin/departments", "/admin/departments", match={"name": ""},
                         name="安徽省统计局", level="provincial", region_code="340000",
                         parent_id=world.ids["authority"])
    _done(response, "created", DEPARTMENT_NOTICES)
    with db.session() as s:
        department = s.scalars(select(Department).where(Department.name == "安徽省统计局")).one()
        department_id = department.id
        assert (department.level, department.region_code, department.parent_id, department.is_competent_authority) == (
            "provincial", "340000", world.ids["authority"], False)
    assert _events(db)[-1][:4] == (world.ids["user:admin"], "department_created", "department", department_id)
    assert _events(db)[-1][4] == "创建部门“安徽省统计局”（省级，行政区划340000）"

    url = "/admin/departments?q=统计"
    response = post_form(admin, url, f"/admin/departments/{department_id}/aliases", alias="省统计局")
    text = _done(response, "alias_added", DEPARTMENT_NOTICES)
    assert "省统计局" in text
    with db.session() as s:
        (alias_id, alias), = s.execute(select(DepartmentAlias.id, DepartmentAlias.alias).where(
            DepartmentAlias.department_id == department_id)).all()
    assert alias == "省统计局"
    assert _events(db)[-1] == (world.ids["user:admin"], "alias_added", "department", department_id,
                               "为部门“安徽省统计局”添加别名“省统计局”")
    page = admin.get(url).text
    remove = f"/admin/departments/{department_id}/aliases/{alias_id}/remove"
    assert re.search(rf'<form[^>]*action="{remove}"[^>]*onsubmit="return confirm\(', page)
    response = post_form(admin, url, remove)
    _done(response, "alias_removed", DEPARTMENT_NOTICES)
    with db.session() as s:
        assert s.scalars(select(DepartmentAlias).where(DepartmentAlias.department_id == department_id)).all() == []
    assert _events(db)[-1] == (world.ids["user:admin"], "alias_removed", "department", department_id,
                               "删除部门“安徽省统计局”的别名“省统计局”")


def test_department_list_filters_by_text_and_level_and_counts_users(db, world, as_user):
    admin = as_user("admin")
    cities = _table(admin.get("/admin/departments?level=municipal"))
    assert "合肥市民政局" in cities and "省公安厅" not in cities
    with db.session() as s:
        orgs.add_alias(s, SYSTEM, world.ids["police"], "安徽省公安厅")
    found = admin.get("/admin/departments?q=安徽省公安")
    assert "省公安厅" in _table(found) and "省民政厅" not in _table(found)  # by its alias
    row = re.search(rf'<tr id="department-{world.ids["police"]}".*?</tr>', found.text, re.S).group(0)
    assert f'<a href="/admin/users?department={world.ids["police"]}">2</a>' in row  # police_manager, police_reviewer
    refused = admin.get("/admin/departments?level=galactic")
    assert refused.status_code == 422 and "层级必须为" in visible_text(refused)


def test_the_department_form_reports_every_invalid_field_at_once_and_keeps_what_was_typed(db, world, as_user):
    admin = as_user("admin")
    before = _admin_state(db)
    response = admin.post("/admin/departments", data={
        "csrf_token": token(admin), "name": "", "level": "", "region_code": "99", "uscc": "91110000600037341N"})
    assert response.status_code == 422
    text = visible_text(response)
    for message in ("部门名称不能为空", "层级必须为", "行政区划代码应为6位数字", "统一社会信用代码"):
        assert message in text, (message, text[:600])
    assert 'value="91110000600037341N"' in response.text and 'value="99"' in response.text
    assert _admin_state(db) == before
    duplicate = admin.post("/admin/departments", data={
        "csrf_token": token(admin), "name": "省公安厅", "level": "provincial", "region_code": "340000"})
    assert duplicate.status_code == 409 and "已有同名部门" in visible_text(duplicate)
    assert _admin_state(db) == before


# ---------------------------------------------------------------- the users list and its forms


def test_the_user_form_reports_every_invalid_field_at_once_and_keeps_what_was_typed(db, world, as_user):
    admin = as_user("admin")
    before = _admin_state(db)
    response = admin.post("/admin/users", data={
        "csrf_token": token(admin), "username": "", "display_name": "李四", "department_id": "", "role": "boss",
        "password": "short"})
    assert response.status_code == 422
    text = visible_text(response)
    for message in ("用户名不能为空", "请选择用户所属部门", "角色（role）必须为以下之一", "密码长度至少8位"):
        assert message in text, (message, text[:800])
    assert "有 4 处需要修改" in text and 'value="李四"' in response.text and "short" not in response.text
    assert _admin_state(db) == before
    taken = admin.post("/admin/users", data={"csrf_token": token(admin), "username": "police_manager",
                                             "department_id": world.ids["police"], "role": "requester",
                                             "password": NEW_PASSWORD})
    assert taken.status_code == 409 and "用户名已存在：police_manager" in visible_text(taken)
    assert _admin_state(db) == before


def test_the_user_list_filters_and_pages(db, world, as_user):
    with db.session() as s:
        for n in range(PAGE_SIZE + 3):
            orgs.create_user(s, SYSTEM, username=f"clerk{n:02d}", password=PASSWORD, role="requester",
                             department_id=world.ids["city_civil"], display_name=f"办事员{n}")
        orgs.set_user_active(s, SYSTEM, world.ids["user:police_reviewer"], active=False)
    admin = as_user("admin")
    first = admin.get(f"/admin/users?department={world.ids['city_civil']}&role=requester")
    text = visible_text(first)
    assert f"共 {PAGE_SIZE + 3} 个" in text and "第 1 / 2 页" in text and "clerk00" in text and "clerk22" not in text
    second = admin.get(f"/admin/users?department={world.ids['city_civil']}&role=requester&page=2")
    assert "clerk22" in visible_text(second) and "clerk00" not in visible_text(second)
    assert 'name="list_page" value="2"' in second.text  # a change made here comes back to this page
    by_name = visible_text(admin.get("/admin/users?q=办事员1"))
    assert "clerk01" in by_name and "clerk10" in by_name and "clerk02" not in by_name
    inactive = visible_text(admin.get("/admin/users?active=0"))
    assert "police_reviewer" in inactive and "police_manager" not in inactive
    bad = admin.get("/admin/users?role=boss")
    assert bad.status_code == 422 and "角色（role）必须为以下之一" in visible_text(bad)


def test_r18_change_role_refuses_an_unknown_role_naming_the_field_and_the_admins_own_role(db, world, client):
    target, own = world.ids["user:civil_requester"], world.ids["user:admin"]
    with db.session() as s:
        with pytest.raises(ValidationFailed) as unknown:
            orgs.change_role(s, world.actors["admin"], target, "superuser")
        assert unknown.value.field == "role" and "platform_admin（平台管理员）" in unknown.value.message
        assert "superuser" in unknown.value.message
        with pytest.raises(Conflict) as itself:
            orgs.change_role(s, world.actors["admin"], own, "requester")
        assert itself.value.field == "user_id"
        with pytest.raises(Forbidden):
            orgs.change_role(s, world.actors["auditor"], target, "platform_admin")
    before = _admin_state(db)
    api = client.post(f"/api/v1/users/{target}/role", json={"role": "superuser"}, headers=world.headers("admin"))
    assert api.status_code == 422 and api.json()["error"]["field"] == "role"
    assert "auditor（审计员）" in api.json()["error"]["message"]
    api_own = client.post(f"/api/v1/users/{own}/role", json={"role": "requester"}, headers=world.headers("admin"))
    assert api_own.status_code == 409 and api_own.json()["error"]["field"] == "user_id"

    admin = _as(client, world, "admin")
    page = admin.post(f"/admin/users/{target}/role", data={"csrf_token": token(admin), "role": "superuser"})
    assert page.status_code == 422 and "角色（role）必须为以下之一" in visible_text(page)
    assert "本人（不能停用或修改自己的角色）" in page.text
    assert f'action="/admin/users/{own}/role"' not in page.text  # the page offers no form for it
    forced = admin.post(f"/admin/users/{own}/role", data={"csrf_token": token(admin), "role": "requester"})
    assert forced.status_code == 409 and "不能修改自己的角色" in visible_text(forced)
    assert _admin_state(db) == before and _user(db, "admin").role == "platform_admin"


def test_r18_reset_password_follows_the_rules_of_a_new_user(db, world):
    target = world.ids["user:civil_manager"]
    with db.session() as s:
        with pytest.raises(ValidationFailed) as short:
            orgs.reset_password(s, world.actors["admin"], target, "1234567")
        assert short.value.field == "password"
        for who in ("auditor", "police_reviewer", "civil_requester", "civil_manager"):
            with pytest.raises(Forbidden):
                orgs.reset_password(s, world.actors[who], target, NEW_PASSWORD)
    assert _events(db, "password_reset") == []


# ---------------------------------------------------------------- the record (变更记录)


def test_r18_the_change_log_lists_every_change_filtered_and_paged_for_admin_and_auditor(db, world, as_user, client):
    with db.session() as s:
        for n in range(PAGE_SIZE + 2):
            orgs.add_alias(s, world.actors["admin"], world.ids["police"], f"公安别名{n:02d}")
        orgs.change_role(s, SYSTEM, world.ids["user:civil_requester"], "dept_reviewer")
    for who in ("admin", "auditor"):
        user = as_user(who)
        first = user.get("/admin/events")
        text = visible_text(first)
        assert first.status_code == 200 and "第 1 / 2 页" in text
        assert "节点运维（命令行）" in text and "修改角色" in text  # newest first: the node operator's change
        filtered = visible_text(user.get("/admin/events?action=role_changed"))
        assert "共 1 条" in filtered and "添加部门别名" not in filtered.split("记录 共")[1]
        last = visible_text(user.get("/admin/events?action=alias_added&page=2"))
        assert "公安别名00" in last and "公安别名21" not in last
    bad = as_user("admin").get("/admin/events?action=dropped_tables")
    assert bad.status_code == 422 and "变更类型（action）必须为以下之一" in visible_text(bad)

    listed = client.get("/api/v1/admin/events", params={"action": "role_changed"}, headers=world.headers("auditor"))
    assert listed.status_code == 200
    [event] = listed.json()
    assert (event["actor"], event["actor_user_id"], event["target_id"]) == (
        "system", None, world.ids["user:civil_requester"])
    assert event["created_at"].endswith("Z")
    for who in ("police_reviewer", "police_manager", "reviewer"):  # civil_requester's sessions ended above
        refused = client.get("/api/v1/admin/events", headers=world.headers(who))
        assert refused.status_code == 403 and refused.json()["error"]["field"] == "role", (who, refused.text)
    client.cookies.clear()
    assert client.get("/api/v1/admin/events").status_code == 401


def test_r18_connection_and_calendar_changes_made_on_their_pages_are_recorded_and_listed(db, world, as_user):
    """Issue 14: the platform administrator's other changes — registering and retiring a data connection, setting a
    day of the holiday calendar, importing a holiday notice — are on the record with who made them and a readable
    summary (never the connection's address); a refused or empty change records nothing."""
    from datetime import date

    from govshare.workdays import service as workdays
    from tests.gateway_factories import people, source_table

    url = source_table(db.settings.data_dir / "police.db", people(2))
    admin = as_user("admin")
    before = len(_events(db))
    added = admin.post("/admin/connections", data={"csrf_token": token(admin), "department_id": world.ids["police"],
                                                   "name": "人口库", "kind": "sql", "url": url},
                       follow_redirects=False)
    assert added.status_code == 303, visible_text(added)
    [(connection_id, *_)] = [e[3:] for e in _events(db, "connection_registered")]
    retired = admin.post(f"/admin/connections/{connection_id}/retire", data={"csrf_token": token(admin)},
                         follow_redirects=False)
    assert retired.status_code == 303
    day_set = admin.post("/admin/calendar/days", data={"csrf_token": token(admin), "day": "2031-10-11",
                                                       "is_workday": "1", "name": "国庆节调休上班"},
                         follow_redirects=False)
    assert day_set.status_code == 303, visible_text(day_set)
    same = admin.post("/admin/calendar/days", data={"csrf_token": token(admin), "day": "2031-10-11",
                                                    "is_workday": "1", "name": "国庆节调休上班"},
                      follow_redirects=False)
    assert same.status_code == 303  # setting the day as it already is changes nothing: recorded once below
    notice = "2031-05-01,放假,劳动节\n2031-05-02,放假,劳动节\n"
    imported = admin.post("/admin/calendar/import", data={"csrf_token": token(admin), "text": notice,
                                                          "format": "csv", "source": "2031 年安排"})
    assert imported.status_code == 200 and "新增 2 天" in visible_text(imported)
    again = admin.post("/admin/calendar/import", data={"csrf_token": token(admin), "text": notice,
                                                       "format": "csv", "source": "2031 年安排"})
    assert again.status_code == 200 and "未变 2 天" in visible_text(again)  # nothing changed: nothing recorded
    with db.session() as s:
        workdays.remove_day(s, world.actors["admin"], date(2031, 10, 11))
    admin_id = world.ids["user:admin"]
    assert _events(db)[before:] == [
        (admin_id, "connection_registered", "connection", connection_id, "为省公安厅登记数据连接“人口库”（数据库）"),
        (admin_id, "connection_retired", "connection", connection_id, "停用省公安厅的数据连接“人口库”"),
        (admin_id, "calendar_day_set", "calendar_day", 20311011, "登记 2031-10-11 为上班日（国庆节调休上班）"),
        (admin_id, "calendar_imported", "calendar_day", 20310501,
         "导入节假日安排“2031 年安排”（2031-05-01 至 2031-05-02）：新增 2 天，修改 0 天，未变 0 天"),
        (admin_id, "calendar_day_removed", "calendar_day", 20311011,
         "删除 2031-10-11 的节假日登记（恢复按国家安排或周一至周五计算）")]
    listed = visible_text(as_user("auditor").get("/admin/events"))
    assert "停用数据连接" in listed and "日历 2031-10-11" in listed and url not in listed
    manager = as_user("police_manager")
    refused = manager.post("/admin/calendar/days", data={
        "csrf_token": token(manager), "day": "2031-10-12", "is_workday": "1", "name": "越权"})
    assert refused.status_code == 403 and len(_events(db)) == before + 5


def test_r18_a_refused_change_records_nothing(db, world):
    with db.session() as s, pytest.raises(Conflict):
        orgs.create_user(s, world.actors["admin"], username="police_manager", password=NEW_PASSWORD,
                         role="requester", department_id=world.ids["police"])
    with db.session() as s, pytest.raises(Conflict):
        orgs.set_user_active(s, world.actors["admin"], world.ids["user:admin"], active=False)
    with db.session() as s:
        orgs.set_user_active(s, world.actors["admin"], world.ids["user:police_manager"], active=True)  # no change
        orgs.change_role(s, world.actors["admin"], world.ids["user:police_manager"], "catalog_manager")  # same
    assert [e[1] for e in _events(db)] == ["department_created"] * 6 + ["user_created"] * 10  # the world only


# ---------------------------------------------------------------- refusals


def _write_posts(world, ids: dict) -> list[tuple[str, dict]]:
    """Every page write of the administration with the fields a rightful admin would send."""
    user, police, alias = world.ids["user:civil_manager"], world.ids["police"], ids["alias"]
    return [
        ("/admin/users", {"username": "mallory", "password": NEW_PASSWORD, "role": "platform_admin",
                          "department_id": str(police)}),
        (f"/admin/users/{user}/deactivate", {}),
        (f"/admin/users/{world.ids['user:city_civil_manager']}/activate", {}),
        (f"/admin/users/{user}/password", {"password": NEW_PASSWORD}),
        (f"/admin/users/{user}/role", {"role": "platform_admin"}),
        ("/admin/departments", {"name": "假部门", "level": "provincial", "region_code": "340000"}),
        (f"/admin/departments/{police}/aliases", {"alias": "越权别名"}),
        (f"/admin/departments/{police}/aliases/{alias}/remove", {}),
    ]


@pytest.fixture
def scene(db, world) -> dict:
    with db.session() as s:
        alias = orgs.add_alias(s, SYSTEM, world.ids["police"], "公安厅")
        orgs.set_user_active(s, SYSTEM, world.ids["user:city_civil_manager"], active=False)
        return {"alias": alias.id}


def test_r18_every_admin_page_and_write_refuses_anonymous_visitors_and_non_admins(db, world, client, scene):
    posts = _write_posts(world, scene)
    assert {re.sub(r"/\d+", "/{id}", url) for url, _f in posts} == {
        re.sub(r"\{[a-z_]+\}", "{id}", path) for _m, path in ADMIN_PAGE_WRITE_ROUTES}
    before = _admin_state(db)
    client.cookies.clear()
    for path in READ_PAGES:
        response = client.get(path + "?q=x", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith(f"/login?next={path}"), path
    for url, fields in posts:
        response = client.post(url, data=fields, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), url
    for who in ("police_reviewer", "civil_requester", "reviewer", "police_manager"):
        user = _as(client, world, who)
        for path in READ_PAGES:
            response = user.get(path)
            assert response.status_code == 403 and "无权" in visible_text(response), (who, path)
        for url, fields in posts:
            response = user.post(url, data={**fields, "csrf_token": token(user)}, follow_redirects=False)
            assert response.status_code == 403 and "无权" in visible_text(response), (who, url)
        nav = re.search(r'<nav class="nav".*?</nav>', user.get("/catalog").text, re.S).group(0)
        assert "系统管理" not in nav and "/admin/users" not in nav, who
    after = _admin_state(db)
    assert after == before, changed_tables(before, after)


def test_r18_the_auditor_reads_the_administration_but_every_write_is_refused(db, world, as_user, scene):
    auditor = as_user("auditor")
    users = auditor.get("/admin/users")
    assert users.status_code == 200 and "civil_manager" in users.text
    assert _posting_forms(users) == ["/logout"]  # no create form, no row actions
    departments = auditor.get("/admin/departments")
    assert departments.status_code == 200 and "公安厅" in departments.text
    assert _posting_forms(departments) == ["/logout"]
    events = auditor.get("/admin/events")
    assert events.status_code == 200 and "添加部门别名" in visible_text(events)
    assert _admin_menu(users) == ["用户管理", "部门管理", "数据连接", "变更记录"]  # no calendar: the admin's alone
    before = _admin_state(db)
    for url, fields in _write_posts(world, scene):
        response = auditor.post(url, data={**fields, "csrf_token": token(auditor)}, follow_redirects=False)
        assert response.status_code == 403, (url, response.status_code)
    assert _admin_state(db) == before


def test_r18_admin_page_writes_without_the_csrf_token_are_refused(db, world, as_user, scene):
    admin = as_user("admin")
    before = _admin_state(db)
    for url, fields in _write_posts(world, scene):
        for forged in (fields, {**fields, "csrf_token": "0" * 64}):
            response = admin.post(url, data=forged, follow_redirects=False)
            assert response.status_code == 403 and "防跨站请求令牌" in response.text, url
    assert _admin_state(db) == before
    page = admin.get("/admin/users")
    assert _admin_menu(page) == ["用户管理", "部门管理", "数据连接", "节假日日历", "变更记录"]
    menu = _admin_menu_html(page)
    assert menu.startswith('<details class="nav-menu active">') and 'aria-current="page">用户管理' in menu


# ---------------------------------------------------------------- the API


def test_r18_api_resets_a_password_and_changes_a_role_ending_sessions(client, db, world):
    target = world.ids["user:civil_manager"]
    old = {"Authorization": f"Bearer {world.tokens['civil_manager']}"}
    assert client.get("/api/v1/auth/me", headers=old).status_code == 200
    reset = client.post(f"/api/v1/users/{target}/password", json={"password": NEW_PASSWORD},
                        headers=world.headers("admin"))
    assert reset.status_code == 200 and reset.json()["username"] == "civil_manager"
    assert "password" not in reset.json() and NEW_PASSWORD not in reset.text
    assert client.get("/api/v1/auth/me", headers=old).status_code == 401
    login = client.post("/api/v1/auth/login", json={"username": "civil_manager", "password": NEW_PASSWORD})
    assert login.status_code == 200
    fresh = {"Authorization": f"Bearer {login.json()['token']}"}
    changed = client.post(f"/api/v1/users/{target}/role", json={"role": "requester"}, headers=world.headers("admin"))
    assert changed.status_code == 200 and changed.json()["role"] == "requester"
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 401
    short = client.post(f"/api/v1/users/{target}/password", json={"password": "short"}, headers=world.headers("admin"))
    assert short.status_code == 422 and short.json()["error"]["field"] == "password"
    missing = client.post("/api/v1/users/999999/role", json={"role": "requester"}, headers=world.headers("admin"))
    assert missing.status_code == 404
    assert [e[1] for e in _events(db)][-2:] == ["password_reset", "role_changed"]
