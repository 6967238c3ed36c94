"""The Chinese web UI: login, catalog search and detail, my catalog, the review queue (R02, R03, R17)."""

from __future__ import annotations

import re

import pytest

from govshare.catalog import service as catalog
from govshare.deps import SESSION_COOKIE
from tests.factories import PASSWORD, SYSTEM, population_entry, published_entry


def visible_text(response) -> str:
    """The page without its tags (search results mark the matched words with <em>)."""
    return re.sub(r"<[^>]+>", "", response.text)


def login(client, username: str, password: str = PASSWORD, next_url: str = "/"):
    return client.post("/login", data={"username": username, "password": password, "next": next_url},
                       follow_redirects=False)


@pytest.fixture
def as_user(client, world):
    def switch(username: str):
        client.cookies.clear()
        response = login(client, username)
        assert response.status_code == 303, response.text
        return client

    return switch


def test_login_sets_the_session_cookie_and_logout_revokes_it(client, world):
    page = client.get("/login")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and "用户名" in page.text
    response = login(client, "police_manager", next_url="/my/catalog")
    assert response.status_code == 303 and response.headers["location"] == "/my/catalog"
    cookie = response.cookies.get(SESSION_COOKIE)
    assert cookie and "httponly" in response.headers["set-cookie"].lower()
    assert client.get("/api/v1/auth/me").json()["username"] == "police_manager"  # the same token as the API
    home = client.get("/")
    assert "省公安厅" in home.text and "部门目录管理员" in home.text
    out = client.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {cookie}"}).status_code == 401


def test_wrong_password_is_shown_in_chinese(client, world):
    response = login(client, "police_manager", password="wrong-password")
    assert response.status_code == 401 and "用户名或密码错误" in response.text
    assert SESSION_COOKIE not in response.cookies


def test_login_never_redirects_to_another_site(client, world):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = login(client, "police_manager", next_url=target)
        assert response.headers["location"] == "/"


def test_logged_out_pages_redirect_to_login(client, world):
    for path in ("/my/catalog", "/review", "/catalog", "/", "/catalog/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    assert client.get("/my/catalog", follow_redirects=False).headers["location"] == "/login?next=/my/catalog"
    client.cookies.set(SESSION_COOKIE, "gs_forged")
    assert client.get("/my/catalog", follow_redirects=False).headers["location"].startswith("/login")


def test_r03_r17_detail_page_shows_all_metadata_in_chinese(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world, related_codes=["101/000009"])
        entry_id, code = entry.id, entry.resource_code
    page = as_user("civil_requester").get(f"/catalog/{entry_id}")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="zh-CN">' in html
    for text in (
        "人口基本信息", code, "省公安厅", "资源摘要", "全省户籍人口", "数据库", "有条件共享",
        "仅限社会救助、低保审核等法定职责使用", "接口", "不予开放", "每日", "一般4", "公共安全",
        "人口信息管理系统", "101/000009", "已发布",
        # data items with grade and personal-information flag (R17)
        "公民身份号码", "gmsfhm", "字符型", "日期型", "一般3", "个人信息",
        # version history (R05)
        "创建草稿", "提交审核", "审核发布", "police_manager", "reviewer",
    ):
        assert text in html, text
    for code_value in ("conditional", "database", "general_4"):
        assert f">{code_value}<" not in html


def test_catalog_search_lists_published_entries_with_filters(db, world, as_user):
    with db.session() as s:
        published_entry(s, world)
        published_entry(s, world, name="婚姻登记信息", share_type="无条件共享", share_condition="",
                        manager="civil_manager", abstract="全省婚姻登记记录")
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="尚未发布的草稿"))
        assert draft.status == "draft"
    client = as_user("civil_requester")
    page = visible_text(client.get("/catalog"))
    assert "目录检索" in page and "人口基本信息" in page and "婚姻登记信息" in page
    assert "尚未发布的草稿" not in page
    found = visible_text(client.get("/catalog", params={"q": "婚姻"}))
    assert "婚姻登记信息" in found and "人口基本信息" not in found
    by_type = visible_text(client.get("/catalog", params={"share_type": "unconditional"}))
    assert "婚姻登记信息" in by_type and "人口基本信息" not in by_type
    by_provider = visible_text(client.get("/catalog", params={"provider_id": world.ids["police"]}))
    assert "人口基本信息" in by_provider and "婚姻登记信息" not in by_provider
    assert client.get("/catalog", params={"page": "abc"}).status_code == 200
    none = client.get("/catalog", params={"q": "不存在的资源"})
    assert "没有找到符合条件的已发布目录" in none.text


def test_catalog_page_lists_published_entries_while_no_index_is_built(db, world, as_user):
    """A node whose search index was never built still lists (and plainly filters) the published catalog."""
    from govshare.search.index import registry

    registry.detach(db.url)
    with db.session() as s:
        published_entry(s, world)
        published_entry(s, world, name="婚姻登记信息", share_type="无条件共享", share_condition="",
                        manager="civil_manager")
    client = as_user("civil_requester")
    page = visible_text(client.get("/catalog"))
    assert "人口基本信息" in page and "婚姻登记信息" in page
    found = visible_text(client.get("/catalog", params={"q": "婚姻"}))
    assert "婚姻登记信息" in found and "人口基本信息" not in found
    by_type = visible_text(client.get("/catalog", params={"share_type": "unconditional"}))
    assert "婚姻登记信息" in by_type and "人口基本信息" not in by_type


def test_r02_draft_detail_page_is_404_for_other_departments(db, world, as_user):
    with db.session() as s:
        entry_id = catalog.create_entry(s, world.actors["police_manager"], population_entry()).id
    other = as_user("civil_manager").get(f"/catalog/{entry_id}")
    assert other.status_code == 404
    assert "目录不存在" in other.text and "人口基本信息" not in other.text
    own = as_user("police_manager").get(f"/catalog/{entry_id}")
    assert own.status_code == 200 and "草稿" in own.text


def test_r02_manager_submits_from_my_catalog(db, world, as_user):
    with db.session() as s:
        entry_id = catalog.create_entry(s, world.actors["police_manager"], population_entry()).id
        catalog.create_entry(s, world.actors["civil_manager"], population_entry(name="民政的草稿"))
    client = as_user("police_manager")
    page = client.get("/my/catalog")
    assert "我的目录" in page.text and "人口基本信息" in page.text and "提交审核" in page.text
    assert "民政的草稿" not in page.text
    done = client.post(f"/my/catalog/{entry_id}/submit")
    assert done.status_code == 200 and "已提交审核" in done.text and "待审核" in done.text
    with db.session() as s:
        assert catalog.get_entry(s, SYSTEM, entry_id).status == "submitted"
    again = client.post(f"/my/catalog/{entry_id}/submit")
    assert again.status_code == 409 and "只有草稿或退回的目录可以提交审核" in again.text


def test_my_catalog_is_for_catalog_managers_and_own_department_only(db, world, as_user):
    with db.session() as s:
        entry_id = catalog.create_entry(s, world.actors["police_manager"], population_entry()).id
    assert as_user("civil_requester").get("/my/catalog").status_code == 403
    refused = as_user("civil_manager").post(f"/my/catalog/{entry_id}/submit")
    assert refused.status_code in (403, 404) and "不能修改其他部门的数据" in refused.text
    with db.session() as s:
        assert catalog.get_entry(s, SYSTEM, entry_id).status == "draft"


def test_r02_reviewer_publishes_from_the_review_page(db, world, as_user):
    with db.session() as s:
        entry = catalog.create_entry(s, world.actors["police_manager"], population_entry())
        catalog.submit_entry(s, world.actors["police_manager"], entry.id)
        entry_id = entry.id
    client = as_user("reviewer")
    queue = client.get("/review")
    assert "审核队列" in queue.text and "人口基本信息" in queue.text and "发布" in queue.text
    done = client.post(f"/review/{entry_id}/publish")
    assert done.status_code == 200 and "目录已发布" in done.text and "当前没有待审核的目录" in done.text
    with db.session() as s:
        published = catalog.get_entry(s, SYSTEM, entry_id)
        assert published.status == "published" and published.version == 1
    assert "人口基本信息" in client.get("/catalog").text


def test_r02_return_needs_a_reason_shown_in_chinese(db, world, as_user):
    with db.session() as s:
        entry = catalog.create_entry(s, world.actors["police_manager"], population_entry())
        catalog.submit_entry(s, world.actors["police_manager"], entry.id)
        entry_id = entry.id
    client = as_user("reviewer")
    missing = client.post(f"/review/{entry_id}/return", data={"reason": "  "})
    assert missing.status_code == 422 and "退回必须说明理由" in missing.text
    with db.session() as s:
        assert catalog.get_entry(s, SYSTEM, entry_id).status == "submitted"
    done = client.post(f"/review/{entry_id}/return", data={"reason": "摘要未说明数据范围"})
    assert done.status_code == 200 and "目录已退回" in done.text
    mine = as_user("police_manager").get("/my/catalog")
    assert "已退回" in mine.text and "摘要未说明数据范围" in mine.text


def test_review_page_refuses_non_reviewers_and_other_areas(db, world, as_user):
    with db.session() as s:
        entry = catalog.create_entry(s, world.actors["police_manager"], population_entry())
        catalog.submit_entry(s, world.actors["police_manager"], entry.id)
        entry_id = entry.id
    assert as_user("police_manager").get("/review").status_code == 403
    assert as_user("auditor").post(f"/review/{entry_id}/publish").status_code == 403
    city = as_user("city_reviewer")
    assert "人口基本信息" not in city.get("/review").text
    assert city.post(f"/review/{entry_id}/publish").status_code == 403
    with db.session() as s:
        assert catalog.get_entry(s, SYSTEM, entry_id).status == "submitted"


def test_static_stylesheet_is_served_and_paths_stay_inside(client):
    css = client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/..%2Fpages.py").status_code == 404
    assert client.get("/static/missing.css").status_code == 404


def test_catalog_page_uses_the_search_index_when_built(db, world, settings, as_user):
    """With the node's index built, the page ranks through the search service: a synonym (身份证号) finds the
    entry whose item is called 公民身份号码, which a plain text filter would miss."""
    from govshare.search import index as search_index

    with db.session() as s:
        published_entry(s, world)
        published_entry(s, world, name="婚姻登记信息", share_type="无条件共享", share_condition="",
                        manager="civil_manager", abstract="全省婚姻登记记录",
                        items=[{"name": "djrq", "chinese_name": "登记日期", "data_type": "date"}])
    with db.session() as s:
        assert search_index.rebuild(s, settings.resolved_index_dir) == 2
    client = as_user("civil_requester")
    found = client.get("/catalog", params={"q": "身份证号"})
    assert "人口基本信息" in found.text and "婚姻登记信息" not in found.text
    marked = client.get("/catalog", params={"q": "婚姻"})
    assert "<em>婚姻</em>登记信息" in marked.text
    filtered = client.get("/catalog", params={"share_type": "unconditional"})
    assert "婚姻登记信息" in filtered.text and "人口基本信息" not in filtered.text


PAGE_WRITE_ROUTES = {
    ("POST", "/login"), ("POST", "/logout"),  # public: logging in and out
    ("POST", "/my/catalog/{entry_id}/submit"), ("POST", "/review/{entry_id}/publish"),
    ("POST", "/review/{entry_id}/return"),
}


def test_r18_every_page_write_route_refuses_the_auditor_and_anonymous_users(app, db, world, as_user, client):
    """The page forms change data through the same services as the API: the auditor is refused and a
    logged-out visitor is sent to the login form, and nothing changes."""
    from tests.test_authz_api import _flatten

    found = {(m, p) for p, methods in _flatten(app.routes) if not p.startswith("/api/")
             for m in methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert found == PAGE_WRITE_ROUTES
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry()).id
        submitted = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="待审核"))
        catalog.submit_entry(s, world.actors["police_manager"], submitted.id)
        submitted = submitted.id
    targets = [(f"/my/catalog/{draft}/submit", draft, "draft"), (f"/review/{submitted}/publish", submitted,
               "submitted"), (f"/review/{submitted}/return", submitted, "submitted")]
    client.cookies.clear()
    for url, _entry_id, _status in targets:
        response = client.post(url, data={"reason": "越权"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    auditor = as_user("auditor")
    for url, entry_id, status in targets:
        response = auditor.post(url, data={"reason": "越权"})
        assert response.status_code == 403 and "无权" in response.text, url
        with db.session() as s:
            assert catalog.get_entry(s, SYSTEM, entry_id).status == status
