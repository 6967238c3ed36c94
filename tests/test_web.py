"""The Chinese web UI: login, catalog search and detail, my catalog, the review queue (R02, R03, R17)."""

from __future__ import annotations

import json
import re

import pytest

from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.schemas import ItemIn
from govshare.deps import CSRF_HEADER, SESSION_COOKIE, csrf_token
from govshare.search import index as search_index
from tests.factories import PASSWORD, SYSTEM, population_entry, published_entry
from tests.test_admin_pages import ADMIN_PAGE_WRITE_ROUTES
from tests.test_connections_web import CONNECTION_PAGE_WRITE_ROUTES
from tests.test_objection_pages import OBJECTION_PAGE_WRITE_ROUTES
from tests.test_quality_pages import QUALITY_PAGE_WRITE_ROUTES
from tests.test_sharing_web import SHARING_PAGE_WRITE_ROUTES
from tests.test_sources_web import SOURCE_PAGE_WRITE_ROUTES
from tests.test_verify_page import DATA_PAGE_WRITE_ROUTES


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
        # what the page's hidden csrf_token field carries; tests of the refusal send an empty header
        client.headers[CSRF_HEADER] = csrf_token(client.cookies[SESSION_COOKIE])
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
    out = client.post("/logout", data={"csrf_token": csrf_token(cookie)}, follow_redirects=False)
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


def test_catalog_page_without_an_index_says_how_to_build_it(db, world, as_user):
    """No second path to the catalog: a node whose search index was never built says so instead of
    filtering entries some other way."""
    from govshare.search.index import registry

    registry.detach(db.url)
    with db.session() as s:
        published_entry(s, world)
    page = visible_text(as_user("civil_requester").get("/catalog"))
    assert "搜索索引尚未建立" in page and "govshare index rebuild" in page
    assert "人口基本信息" not in page


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
    ("POST", "/review/{entry_id}/return"), ("POST", "/catalog/import"), ("POST", "/one-source/detect"),
    ("POST", "/one-source/{cluster_id}/lead"),
    ("POST", "/my/catalog/new"), ("POST", "/my/catalog/{entry_id}/edit"), ("POST", "/my/catalog/{entry_id}/revise"),
    ("POST", "/review/revisions/{revision_id}/approve"), ("POST", "/review/revisions/{revision_id}/return"),
}
# + the one-stop sharing pages (govshare.web.sharing_pages): enumerated, and their refusal of the auditor and of
# logged-out visitors proved, in tests/test_sharing_web.py (SHARING_PAGE_WRITE_ROUTES); likewise the platform
# administration (govshare.web.admin_pages) in tests/test_admin_pages.py (ADMIN_PAGE_WRITE_ROUTES); the data quality
# pages in tests/test_quality_pages.py and the 数据核实 pages (R13) in tests/test_objection_pages.py


def test_r18_every_page_write_route_refuses_the_auditor_and_anonymous_users(app, db, world, as_user, client):
    """The page forms change data through the same services as the API: the auditor is refused and a
    logged-out visitor is sent to the login form, and nothing changes."""
    from tests.test_authz_api import _flatten

    found = {(m, p) for p, methods in _flatten(app.routes) if not p.startswith("/api/")
             for m in methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert found == (PAGE_WRITE_ROUTES | SHARING_PAGE_WRITE_ROUTES | SOURCE_PAGE_WRITE_ROUTES
                     | CONNECTION_PAGE_WRITE_ROUTES | ADMIN_PAGE_WRITE_ROUTES | DATA_PAGE_WRITE_ROUTES
                     | QUALITY_PAGE_WRITE_ROUTES | OBJECTION_PAGE_WRITE_ROUTES)
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry()).id
        submitted = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="待审核"))
        catalog.submit_entry(s, world.actors["police_manager"], submitted.id)
        submitted = submitted.id
        published = published_entry(s, world, name="已发布").id
        revision = catalog.propose_revision(s, world.actors["police_manager"], published,
                                            population_entry(name="已发布（修订）"), "职责调整").id
    cluster_id = _cluster(db, world)
    targets = [(f"/my/catalog/{draft}/submit", draft, "draft"), (f"/review/{submitted}/publish", submitted,
               "submitted"), (f"/review/{submitted}/return", submitted, "submitted"),
               (f"/my/catalog/{draft}/edit", draft, "draft"), (f"/my/catalog/{published}/revise", published,
                                                               "published"),
               (f"/review/revisions/{revision}/approve", published, "published"),
               (f"/review/revisions/{revision}/return", published, "published")]
    others = ["/catalog/import", "/one-source/detect", f"/one-source/{cluster_id}/lead", "/my/catalog/new"]
    form = {"reason": "越权", "department_id": str(world.ids["police"]), **_form_of(population_entry(name="越权"))}
    client.cookies.clear()
    for url in [t[0] for t in targets] + others:
        response = client.post(url, data=form, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), url
    auditor = as_user("auditor")
    for url, entry_id, status in targets:
        response = auditor.post(url, data=form)
        assert response.status_code == 403 and "无权" in response.text, url
        with db.session() as s:
            assert catalog.get_entry(s, SYSTEM, entry_id).status == status
    with db.session() as s:
        entries_before = len(catalog.list_entries(s, SYSTEM, limit=500))
    for url in others:
        response = auditor.post(url, data=form, files={"file": ("c.json", b"[]", "application/json")}
                                if url == "/catalog/import" else None)
        assert response.status_code == 403 and "无权" in response.text, url
    with db.session() as s:
        assert len(catalog.list_entries(s, SYSTEM, limit=500)) == entries_before
        assert onesource.get_cluster(s, cluster_id).lead_department_id is None
        assert catalog.get_entry(s, SYSTEM, draft).name == "人口基本信息"
        assert catalog.get_entry(s, SYSTEM, published).version == 1
        assert [r.status for r in catalog.list_revisions(s, SYSTEM, published)] == ["submitted"]


# ---------------------------------------------------------------- 目录检索: facets, highlight, badges (R02, R05, R06)


def _search_catalog(db, world, settings) -> dict[str, int]:
    """Three published entries of two departments, indexed."""
    with db.session() as s:
        ids = {
            "population": published_entry(s, world).id,
            "marriage": published_entry(s, world, manager="civil_manager", name="婚姻登记信息",
                                        share_type="无条件共享", share_condition="", data_format="电子表格",
                                        theme="婚姻登记", abstract="全省婚姻登记记录",
                                        items=[{"name": "djrq", "chinese_name": "登记日期", "data_type": "date"}]).id,
            "relief": published_entry(s, world, manager="civil_manager", name="最低生活保障对象信息",
                                      theme="社会救助", abstract="城乡低保对象").id,
        }
    with db.session() as s:
        search_index.rebuild(s, settings.resolved_index_dir)
    return ids


def _facet_links(page_html: str, facet: str) -> dict[str, tuple[str, int]]:
    """{label: (href, count)} of one sidebar group."""
    group = re.search(rf'data-facet="{facet}">(.*?)</section>', page_html, re.S)
    assert group, facet
    links = re.findall(r'<a href="([^"]+)"[^>]*><span class="facet-label">([^<]+)</span>'
                       r'<span class="count">(\d+)</span>', group.group(1))
    return {text: (href.replace("&amp;", "&"), int(count)) for href, text, count in links}


def test_r02_facet_links_filter_the_results_and_counts_match(db, world, settings, as_user):
    _search_catalog(db, world, settings)
    client = as_user("civil_requester")
    page = client.get("/catalog")
    assert page.status_code == 200 and "共 3 条，用时" in visible_text(page) and "毫秒" in page.text
    departments = _facet_links(page.text, "department")
    assert {k: v[1] for k, v in departments.items()} == {"省民政厅": 2, "省公安厅": 1}
    assert _facet_links(page.text, "share_type")["无条件共享"][1] == 1
    assert {k: v[1] for k, v in _facet_links(page.text, "stale").items()} == {"未过期": 3}
    for group in ("level", "format", "grade", "theme"):
        assert _facet_links(page.text, group), group
    href, count = departments["省民政厅"]
    filtered = client.get(href)
    text = visible_text(filtered)
    assert f"共 {count} 条" in text
    assert "婚姻登记信息" in text and "最低生活保障对象信息" in text and "人口基本信息" not in text
    assert "已选条件" in text and "提供部门：省民政厅" in text
    # a second facet narrows further; the active filter links remove it again
    href, count = _facet_links(filtered.text, "share_type")["无条件共享"]
    narrowed = visible_text(client.get(href))
    assert count == 1 and "共 1 条" in narrowed and "婚姻登记信息" in narrowed and "最低生活保障" not in narrowed
    theme = client.get("/catalog", params={"theme": "社会救助", "format": "数据库", "grade": "一般4",
                                           "level": "provincial", "stale": "false"})
    assert "共 1 条" in visible_text(theme) and "最低生活保障对象信息" in theme.text
    removed = re.search(r'<a class="chip" href="([^"]+)"[^>]*>提供部门：省民政厅', filtered.text)
    assert "共 3 条" in visible_text(client.get(removed.group(1).replace("&amp;", "&")))
    bad = client.get("/catalog", params={"grade": "绝密"})
    assert bad.status_code == 422 and "分级取值无效" in bad.text


def test_search_pages_through_results(db, world, settings, as_user):
    with db.session() as s:
        for n in range(23):
            published_entry(s, world, name=f"人口基本信息{n:02d}")
    with db.session() as s:
        search_index.rebuild(s, settings.resolved_index_dir)
    client = as_user("civil_requester")
    first = client.get("/catalog", params={"q": "人口"})
    assert "共 23 条" in visible_text(first) and "第 1 / 2 页" in first.text
    assert first.text.count('<td class="code">') == 20 and 'rel="next"' in first.text
    second = client.get(re.search(r'<a href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&"))
    assert second.text.count('<td class="code">') == 3 and "第 2 / 2 页" in second.text and "上一页" in second.text


def test_entry_name_with_html_is_escaped_in_results_and_highlight(db, world, settings, as_user):
    with db.session() as s:
        published_entry(s, world, name='<script>alert("x")</script>人口<b>信息</b>')
    with db.session() as s:
        search_index.rebuild(s, settings.resolved_index_dir)
    client = as_user("civil_requester")
    for params in ({"q": "人口"}, {}):
        page = client.get("/catalog", params=params)
        assert "<script>alert" not in page.text and "<b>信息" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    marked = client.get("/catalog", params={"q": "人口"}).text
    assert "&lt;/script&gt;<em>人口</em>&lt;b&gt;" in marked


def test_highlight_keeps_only_the_highlighters_em():
    from markupsafe import Markup

    from govshare.web.pages import safe_highlight

    name = "<em>人口</em>信息"
    assert safe_highlight("&lt;em&gt;人口&lt;/em&gt;<em>信息</em>", name) == Markup(
        "&lt;em&gt;人口&lt;/em&gt;<em>信息</em>")
    # markup that does not spell the name, or unbalanced tags, fall back to the escaped name
    assert safe_highlight("<em>x</em><img src=x onerror=alert(1)>", name) == Markup("&lt;em&gt;人口&lt;/em&gt;信息")
    assert safe_highlight("<em><em>人口</em>信息", "人口信息") == Markup("人口信息")
    assert safe_highlight(None, "<i>") == Markup("&lt;i&gt;")


def _cluster(db, world) -> int:
    """公民身份号码 (police) and 身份证号 (civil): one 一数一源 cluster of two departments."""
    with db.session() as s:
        published_entry(s, world)
        published_entry(s, world, manager="civil_manager", name="低保对象身份证号核对信息",
                        abstract="按身份证号核对低保对象",
                        items=[ItemIn(name="sfzh", chinese_name="身份证号", data_type="string", personal_info="pi")])
    with db.session() as s:
        onesource.detect_clusters(s, world.actors["reviewer"])
        (cluster,) = [c for c in onesource.list_clusters(s, SYSTEM) if c.label == "身份证号"]
        return cluster.id


def test_r06_reviewer_names_the_lead_on_the_one_source_page_and_search_shows_the_badge(db, world, settings,
                                                                                        as_user):
    cluster_id = _cluster(db, world)
    with db.session() as s:
        search_index.rebuild(s, settings.resolved_index_dir)
    reviewer = as_user("reviewer")
    before = reviewer.get("/catalog", params={"q": "身份证号"})
    assert "牵头数源</span>" not in before.text
    page = reviewer.get("/one-source")
    assert page.status_code == 200 and "一数一源" in page.text and "重新检测" in page.text
    text = visible_text(page)
    for expected in ("身份证号", "省公安厅", "省民政厅", "公民身份号码", "低保对象身份证号核对信息", "sfzh"):
        assert expected in text, expected
    assert '<span class="warn">未认定</span>' in page.text and "其中未认定牵头数源部门 1 个" in text
    missing = reviewer.post(f"/one-source/{cluster_id}/lead", data={"department_id": world.ids["police"],
                                                                    "reason": " "})
    assert missing.status_code == 422 and "认定牵头数源部门必须说明理由" in missing.text
    card = re.search(rf'id="cluster-{cluster_id}">.*?</section>', missing.text, re.S).group(0)
    assert "认定牵头数源部门必须说明理由" in card and f'<option value="{world.ids["police"]}" selected>' in card
    outsider = reviewer.post(f"/one-source/{cluster_id}/lead", data={"department_id": world.ids["city_civil"],
                                                                     "reason": "法定职责"})
    assert outsider.status_code == 422 and "牵头数源部门必须是采集该数据项的部门之一" in outsider.text
    done = reviewer.post(f"/one-source/{cluster_id}/lead",
                         data={"department_id": world.ids["police"], "reason": "公民身份号码由公安机关依法编制和管理"})
    assert done.status_code == 200 and "已认定牵头数源部门" in done.text
    assert "<strong>省公安厅</strong>" in done.text
    assert "公民身份号码由公安机关依法编制和管理" in done.text and '<span class="warn">未认定</span>' not in done.text
    with db.session() as s:
        assert onesource.get_cluster(s, cluster_id).lead_department_id == world.ids["police"]
    # the search page (reindexed after the commit) marks the lead source's hit, and only that one
    found = reviewer.get("/catalog", params={"q": "身份证号"})
    rows = re.findall(r"<tr>\s*<td class=\"code\">.*?</tr>", found.text, re.S)
    assert len(rows) == 2 and "人口基本信息" in rows[0] and "牵头数源" in rows[0] and "牵头数源" not in rows[1]
    # the detail pages show the lead department per item, or 未认定 where none is named
    with db.session() as s:
        entries = {e.name: e.id for e in catalog.list_entries(s, SYSTEM, limit=50)}
    detail = visible_text(reviewer.get(f"/catalog/{entries['低保对象身份证号核对信息']}"))
    assert "牵头数源部门（一数一源）" in detail and "省公安厅" in detail


def test_r06_detail_page_says_not_named_and_detect_button_works(db, world, as_user):
    cluster_id = _cluster(db, world)
    client = as_user("admin")
    with db.session() as s:
        entry_id = next(e.id for e in catalog.list_entries(s, SYSTEM, limit=50) if e.name == "人口基本信息")
    detail = visible_text(client.get(f"/catalog/{entry_id}"))
    assert "未认定" in detail and "身份证号 · 2 个部门采集" in detail
    page = client.get("/one-source")  # admins see the list and may detect; naming is for reviewers
    assert page.status_code == 200 and "身份证号" in page.text
    assert f'action="/one-source/{cluster_id}/lead"' not in page.text
    detected = client.post("/one-source/detect")
    assert detected.status_code == 200 and "检测完成：共 1 个一数一源数据项" in detected.text
    city = as_user("city_reviewer").get("/one-source")  # outside its area: no form, a note instead
    assert city.status_code == 200 and f'action="/one-source/{cluster_id}/lead"' not in city.text
    assert "管辖范围以外" in city.text


def test_one_source_page_refuses_catalog_managers_and_requesters(db, world, as_user, client):
    cluster_id = _cluster(db, world)
    assert client.get("/one-source", follow_redirects=False).headers["location"] == "/login?next=/one-source"
    manager = as_user("police_manager")
    page = manager.get("/one-source")
    assert page.status_code == 403 and "无权访问" in page.text
    refused = manager.post(f"/one-source/{cluster_id}/lead", data={"department_id": world.ids["police"],
                                                                   "reason": "本部门是权威来源"})
    assert refused.status_code == 403 and "无权" in refused.text
    assert manager.post("/one-source/detect").status_code == 403
    assert as_user("civil_requester").get("/one-source").status_code == 403
    with db.session() as s:
        assert onesource.get_cluster(s, cluster_id).lead_department_id is None


def test_r05_stale_badge_in_results_and_detail(db, world, settings, as_user):
    from datetime import timedelta

    from govshare.catalog.models import CatalogEntry
    from govshare.db import utcnow

    ids = _search_catalog(db, world, settings)
    with db.session() as s:  # the daily population entry was last updated ten days ago
        s.get(CatalogEntry, ids["population"]).data_updated_at = utcnow() - timedelta(days=10)
        s.info.setdefault("catalog_changed", set()).add(ids["population"])
    client = as_user("civil_requester")
    page = client.get("/catalog")
    rows = {name: row for row in re.findall(r"<tr>\s*<td class=\"code\">.*?</tr>", page.text, re.S)
            for name in ("人口基本信息", "婚姻登记信息", "最低生活保障对象信息") if name in row}
    assert 'badge-stale' in rows["人口基本信息"] and ">过期<" in rows["人口基本信息"]
    assert "badge-stale" not in rows["婚姻登记信息"] and "badge-stale" not in rows["最低生活保障对象信息"]
    stale = _facet_links(page.text, "stale")
    assert stale["已过期"][1] == 1 and stale["未过期"][1] == 2
    only = visible_text(client.get(stale["已过期"][0]))
    assert "共 1 条" in only and "人口基本信息" in only and "婚姻登记信息" not in only
    detail = client.get(f"/catalog/{ids['population']}")
    assert ">过期<" in detail.text and "未按更新周期" in detail.text
    assert ">过期<" not in client.get(f"/catalog/{ids['marriage']}").text


# ---------------------------------------------------------------- 目录导入 (R03)


IMPORT_ROWS = [
    {"目录名称": "出生医学证明信息", "摘要": "全省出生医学证明签发记录", "数据格式": "数据库", "共享类型": "有条件共享",
     "共享条件": "仅限户籍登记、社会保障核验使用", "共享方式": "接口", "更新周期": "每日", "主题": "卫生健康"},
    {"目录名称": "涉密统计调查原始数据", "摘要": "统计调查对象的原始资料", "数据格式": "数据库", "共享类型": "不予共享",
     "共享方式": "文件", "更新周期": "每年", "主题": "统计"},
]


def test_r03_manager_imports_a_json_file_and_sees_the_report(db, world, as_user):
    client = as_user("police_manager")
    form = client.get("/catalog/import")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text and "目录文件" in form.text
    body = json.dumps(IMPORT_ROWS, ensure_ascii=False).encode()
    response = client.post("/catalog/import", files={"file": ("catalog.json", body, "application/json")})
    assert response.status_code == 200, response.text
    text = visible_text(response)
    assert "导入报告" in text and "导入完成：新建 1 条目录草稿" in text
    rejected = re.search(r'<table class="list rejected">.*?</table>', response.text, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", rejected)]
    assert cells[:4] == ["目录", "2", "不予共享依据", cells[3]] and "不予共享的目录必须注明" in cells[3]
    assert "推定或默认的取值" in text
    with db.session() as s:
        mine = catalog.list_entries(s, SYSTEM, provider_id=world.ids["police"], limit=50)
        assert [(e.name, e.status) for e in mine] == [("出生医学证明信息", "draft")]
    again = client.post("/catalog/import", files={"file": ("catalog.json", body, "application/json")}).text
    assert "<dt>已导入过（未变）</dt><dd>1</dd>" in again and '<dt>新建</dt><dd class="ok">0</dd>' in again
    broken = client.post("/catalog/import", files={"file": ("catalog.txt", b"x", "text/plain")})
    assert broken.status_code == 422 and "不支持的文件类型" in broken.text
    bad_mapping = client.post("/catalog/import", data={"mapping": "{not json"},
                              files={"file": ("catalog.json", body, "application/json")})
    assert bad_mapping.status_code == 422 and "映射文件不是有效的 JSON" in bad_mapping.text


def test_import_uses_the_mapping_and_keeps_other_departments_out(db, world, as_user):

    rows = [{"标题X": "犯罪记录查询信息", "共享类型": "有条件共享", "共享条件": "仅限政审使用，逐人核验",
             "提供部门": "省民政厅"}]
    upload = {"file": ("c.json", json.dumps(rows, ensure_ascii=False).encode(), "application/json")}
    client = as_user("police_manager")
    unmapped = client.post("/catalog/import", files=upload)
    assert unmapped.status_code == 422 and "无法识别目录名称列" in unmapped.text
    mapping = ("m.json", json.dumps({"name": "标题X"}).encode(), "application/json")
    response = client.post("/catalog/import", files={**upload, "mapping_file": mapping})
    assert response.status_code == 200 and "<td>标题X</td>" in response.text
    rejected = re.search(r'<table class="list rejected">.*?</table>', response.text, re.S).group(0)
    assert "<td>1</td><td>提供部门</td><td>只能导入本部门目录</td><td>省民政厅</td>" in rejected
    with db.session() as s:
        assert catalog.list_entries(s, SYSTEM, limit=50) == []


def test_import_page_refuses_requesters(db, world, as_user, client):
    assert client.get("/catalog/import", follow_redirects=False).headers["location"] == "/login?next=/catalog/import"
    requester = as_user("civil_requester")
    assert requester.get("/catalog/import").status_code == 403
    refused = requester.post("/catalog/import", files={"file": ("c.json", b"[]", "application/json")})
    assert refused.status_code == 403 and "无权访问" in refused.text


def test_navigation_shows_only_the_links_of_the_role(db, world, as_user):
    """The daily pages at the top, the rest in menus (issue 14: one line at 1366 px); a menu with nothing the
    role may open is not shown."""
    def nav(username: str) -> list:
        page = as_user(username).get("/catalog")
        html = re.search(r'<nav class="nav".*?</nav>', page.text, re.S).group(0)
        found = []
        for menu, link in re.findall(r'(<details.*?</details>)|<a [^>]*>([^<]+)</a>', html, re.S):
            if menu:
                title = re.search(r"<summary>([^<]+)</summary>", menu).group(1)
                found.append((title, re.findall(r">([^<>]+)</a>", menu)))
            else:
                found.append(link)
        return found

    # 数据核实 (R13) is every role's: requesters file, providers answer, authorities and the auditor follow them
    requester_menu = ("共享办理", ["共享申请", "共享授权", "应用系统", "需求清单", "数据核实"])
    assert nav("civil_requester") == ["工作台", "目录检索", requester_menu, "使用记录"]
    assert nav("police_manager") == ["工作台", "目录检索", ("目录管理", ["我的目录", "目录导入", "数据源"]),
                                     ("共享办理", ["共享申请", "服务变更", "需求清单", "数据核实"]), "使用记录"]
    reviewer_menu = ("共享办理", ["共享申请", "共享授权", "应用系统", "争议处理", "服务变更", "需求清单", "数据核实"])
    assert nav("police_reviewer") == ["工作台", "目录检索", ("目录管理", ["数据源"]), reviewer_menu, "使用记录"]
    authority = ["工作台", "目录检索", ("目录管理", ["审核队列", "一数一源", "数据源"]),
                 ("共享办理", ["共享申请", "共享授权", "争议处理", "服务变更", "需求清单", "数据核实"]), "使用记录"]
    assert nav("reviewer") == authority and nav("city_reviewer") == authority
    assert nav("admin") == ["工作台", "目录检索", ("目录管理", ["目录导入", "一数一源", "数据源"]),
                            ("共享办理", ["共享申请", "共享授权", "应用系统", "服务变更", "需求清单", "数据核实"]),
                            "使用记录", ("系统管理", ["用户管理", "部门管理", "数据连接", "节假日日历", "变更记录"])]
    assert nav("auditor") == ["工作台", "目录检索", ("目录管理", ["数据源"]),
                              ("共享办理", ["共享申请", "共享授权", "应用系统", "服务变更", "需求清单", "数据核实"]),
                              "使用记录", ("系统管理", ["用户管理", "部门管理", "数据连接", "变更记录"])]


# ---------------------------------------------------------------- CSRF (R18)


def test_r18_page_forms_carry_the_sessions_csrf_token(db, world, as_user):
    with db.session() as s:
        catalog.create_entry(s, world.actors["police_manager"], population_entry())
    client = as_user("police_manager")
    token = csrf_token(client.cookies[SESSION_COOKIE])
    page = client.get("/my/catalog").text
    forms = re.findall(r'<form method="post".*?</form>', page, re.S)
    assert forms and all(f'<input type="hidden" name="csrf_token" value="{token}">' in f for f in forms)


def test_r18_every_page_post_without_the_csrf_token_is_refused_and_changes_nothing(db, world, as_user):
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry()).id
        submitted = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="待审核"))
        catalog.submit_entry(s, world.actors["police_manager"], submitted.id)
        submitted = submitted.id
    cluster_id = _cluster(db, world)
    with db.session() as s:
        entries_before = len(catalog.list_entries(s, SYSTEM, limit=500))
    no_token = {CSRF_HEADER: ""}
    cases = [("police_manager", f"/my/catalog/{draft}/submit", {}), ("reviewer", f"/review/{submitted}/publish", {}),
             ("reviewer", f"/review/{submitted}/return", {"reason": "理由"}), ("reviewer", "/one-source/detect", {}),
             ("reviewer", f"/one-source/{cluster_id}/lead", {"department_id": str(world.ids["police"]),
                                                            "reason": "公安机关依法管理"}),
             ("police_manager", "/logout", {})]
    for who, url, form in cases:
        client = as_user(who)
        for data in (form, {**form, "csrf_token": "0" * 64}):
            response = client.post(url, data=data, headers=no_token, follow_redirects=False)
            assert response.status_code == 403, url
            assert "无权访问" in response.text and "防跨站请求令牌" in response.text, url
    client = as_user("police_manager")
    refused = client.post("/catalog/import", headers=no_token,
                          files={"file": ("c.json", b'[{"\xe7\x9b\xae\xe5\xbd\x95\xe5\x90\x8d\xe7\xa7\xb0": "x"}]',
                                          "application/json")})
    assert refused.status_code == 403
    with db.session() as s:
        assert catalog.get_entry(s, SYSTEM, draft).status == "draft"
        assert catalog.get_entry(s, SYSTEM, submitted).status == "submitted"
        assert len(catalog.list_entries(s, SYSTEM, limit=500)) == entries_before
        assert onesource.get_cluster(s, cluster_id).lead_department_id is None
    assert client.get("/my/catalog", follow_redirects=False).status_code == 200  # not logged out
    # with the token of the hidden field, the same forms work
    token = csrf_token(client.cookies[SESSION_COOKIE])
    done = client.post(f"/my/catalog/{draft}/submit", data={"csrf_token": token}, headers=no_token)
    assert done.status_code == 200 and "已提交审核" in done.text
    upload = client.post("/catalog/import", data={"csrf_token": token}, headers=no_token,
                         files={"file": ("c.json", json.dumps(IMPORT_ROWS[:1], ensure_ascii=False).encode(),
                                         "application/json")})
    assert upload.status_code == 200 and "导入完成：新建 1 条目录草稿" in upload.text  # multipart with the field
    out = client.post("/logout", data={"csrf_token": token}, headers=no_token, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"


def test_r18_login_posted_from_another_site_is_refused(client, world):
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Referer": "https://evil.example/login.html"}):
        response = client.post("/login", data={"username": "police_manager", "password": PASSWORD},
                               headers=headers, follow_redirects=False)
        assert response.status_code == 403 and "登录请求来自其他网站" in response.text
        assert SESSION_COOKIE not in response.cookies
    same = client.post("/login", data={"username": "police_manager", "password": PASSWORD},
                       headers={"Origin": "http://testserver", "Referer": "http://testserver/login"},
                       follow_redirects=False)
    assert same.status_code == 303 and SESSION_COOKIE in same.cookies


def test_r18_api_write_with_only_the_cookie_needs_the_csrf_header(db, world, client):
    from tests.test_authz_api import _entry_body

    cookie = world.tokens["police_manager"]
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/api/v1/catalog/entries").status_code == 200  # reading with the cookie is fine
    refused = client.post("/api/v1/catalog/entries", json=_entry_body())
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "csrf_token"
    wrong = client.post("/api/v1/catalog/entries", json=_entry_body(), headers={CSRF_HEADER: "0" * 64})
    assert wrong.status_code == 403
    with db.session() as s:
        assert catalog.list_entries(s, SYSTEM, limit=50) == []
    done = client.post("/api/v1/catalog/entries", json=_entry_body(), headers={CSRF_HEADER: csrf_token(cookie)})
    assert done.status_code == 201, done.text
    client.cookies.clear()
    bearer = client.post("/api/v1/catalog/entries", json=_entry_body(name="另一条"),
                         headers=world.headers("police_manager"))  # a bearer header needs no CSRF token
    assert bearer.status_code == 201, bearer.text


# ---------------------------------------------------------------- 新建、编辑、修订目录 (R02, R03, R05)


def _form_of(entry, extra_rows: int = 3) -> dict[str, str]:
    """The entry form's fields for an EntryIn, as a browser posts them (the empty rows included)."""
    data = entry.model_dump(mode="json")
    form = {key: "" if data[key] is None else str(data[key]) for key in data if key not in ("items", "related_codes")}
    form["related_codes"] = " ".join(data["related_codes"])
    rows = data["items"] + [{"name": "", "chinese_name": "", "data_type": "string", "length": None,
                             "grade": "general_1", "personal_info": "none", "description": ""}] * extra_rows
    for index, item in enumerate(rows):
        for key, value in item.items():
            form[f"item-{index}-{key}"] = "" if value is None else str(value)
    return form


def _field_error(page_html: str, name: str) -> str:
    """The message shown in the label of the named field."""
    label = re.search(rf'<label(?:(?!</label>).)*?<(?:input|select|textarea) name="{name}".*?</label>', page_html, re.S)
    assert label, name
    error = re.search(r'<span class="field-error" role="alert">([^<]*)</span>', label.group(0))
    return error.group(1) if error else ""


def test_r03_manager_creates_an_entry_with_items_through_the_form(db, world, as_user):
    client = as_user("police_manager")
    page = client.get("/my/catalog/new")
    assert page.status_code == 200 and "新建目录" in page.text
    for text in ("分类代码", "资源名称", "资源摘要", "资源格式", "共享类型", "共享条件", "共享方式", "不予共享依据",
                 "开放属性", "开放条件", "更新周期", "发布日期", "关联资源代码", "来源系统", "分级", "主题",
                 "信息项名称", "数据类型", "个人信息", "添加信息项", 'name="item-2-name"'):
        assert text in page.text, text
    assert 'name="item-3-name"' not in page.text  # three empty rows
    form = _form_of(population_entry(related_codes=["101/000009"]))
    more = client.post("/my/catalog/new", data={**form, "add_rows": "1"})
    assert more.status_code == 200 and 'name="item-9-name"' in more.text and 'value="gmsfhm"' in more.text
    with db.session() as s:
        assert catalog.list_entries(s, SYSTEM, limit=50) == []  # 添加信息项 saves nothing
    saved = client.post("/my/catalog/new", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].startswith("/my/catalog?notice=created")
    with db.session() as s:
        [entry] = catalog.list_entries(s, SYSTEM, limit=50)
        assert (entry.status, entry.provider_id, entry.name) == ("draft", world.ids["police"], "人口基本信息")
        assert entry.related_codes == ["101/000009"] and entry.share_type == "conditional"
        assert [(i.name, i.chinese_name, i.data_type, i.length, i.grade, i.personal_info) for i in entry.items] == [
            ("gmsfhm", "公民身份号码", "string", 18, "general_4", "pi"),
            ("xm", "姓名", "string", 50, "general_3", "pi"),
            ("csrq", "出生日期", "date", None, "general_3", "pi"),
            ("hjdz", "户籍地址", "string", 200, "general_4", "pi")]
        entry_id = entry.id
    mine = client.get(saved.headers["location"])
    assert "目录草稿已保存" in mine.text and f'href="/my/catalog/{entry_id}/edit"' in mine.text
    edit = client.get(f"/my/catalog/{entry_id}/edit")
    assert edit.status_code == 200 and 'value="公民身份号码"' in edit.text and "readonly" in edit.text
    changed = {**_form_of(population_entry(abstract="修改后的摘要")), "item-3-name": "", "item-3-chinese_name": "",
               "item-3-length": ""}  # a row emptied in the form is dropped
    assert client.post(f"/my/catalog/{entry_id}/edit", data=changed, follow_redirects=False).status_code == 303
    with db.session() as s:
        entry = catalog.get_entry(s, SYSTEM, entry_id)
        assert entry.abstract == "修改后的摘要" and [i.name for i in entry.items] == ["gmsfhm", "xm", "csrq"]


def test_r04_refused_entry_shows_the_message_next_to_the_field_and_keeps_the_input(db, world, as_user):
    client = as_user("police_manager")
    form = _form_of(population_entry(name="统计调查原始资料", share_type="不予共享", share_condition="",
                                     abstract="我输入的摘要<保留>", legal_basis=""))
    refused = client.post("/my/catalog/new", data=form)
    assert refused.status_code == 422
    assert "不予共享的目录必须注明所依据的法律" in _field_error(refused.text, "legal_basis")
    assert _field_error(refused.text, "share_condition") == ""
    assert 'value="统计调查原始资料"' in refused.text and "我输入的摘要&lt;保留&gt;</textarea>" in refused.text
    assert '<option value="none" selected>不予共享</option>' in refused.text
    assert 'value="gmsfhm"' in refused.text and 'value="户籍地址"' in refused.text
    bad_item = client.post("/my/catalog/new", data={**_form_of(population_entry()), "item-1-length": "很长"})
    assert bad_item.status_code == 422 and "信息项第 2 行：长度应为整数" in bad_item.text
    with db.session() as s:
        assert catalog.list_entries(s, SYSTEM, limit=50) == []


def test_r02_other_departments_manager_gets_404_on_the_edit_page(db, world, as_user):
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry()).id
        published = published_entry(s, world, name="已发布的人口信息").id
    other = as_user("civil_manager")
    for entry_id in (draft, published):
        assert other.get(f"/my/catalog/{entry_id}/edit").status_code == 404
        assert other.get(f"/my/catalog/{entry_id}/revise").status_code == 404
    posted = other.post(f"/my/catalog/{draft}/edit", data=_form_of(population_entry(name="被改了")))
    assert posted.status_code == 404 and "目录不存在" in posted.text
    assert other.post(f"/my/catalog/{published}/revise",
                      data={**_form_of(population_entry(name="被改了")), "reason": "越权"}).status_code == 404
    own = as_user("police_manager")
    assert own.get(f"/my/catalog/{published}/edit").status_code == 409  # published: only through a revision
    assert own.get(f"/my/catalog/{draft}/revise").status_code == 409
    with db.session() as s:
        assert catalog.get_entry(s, SYSTEM, draft).name == "人口基本信息"
        assert catalog.list_revisions(s, SYSTEM, published) == []


def test_r05_revision_through_the_form_is_approved_from_the_review_queue(db, world, as_user):
    with db.session() as s:
        entry_id = published_entry(s, world).id
    manager = as_user("police_manager")
    assert f'href="/my/catalog/{entry_id}/revise"' in manager.get("/my/catalog").text
    page = manager.get(f"/my/catalog/{entry_id}/revise")
    assert page.status_code == 200 and "修订原因" in page.text and "因法律法规或职责变化" in page.text
    assert 'value="人口基本信息"' in page.text and 'value="gmsfhm"' in page.text
    form = _form_of(population_entry(share_condition="仅限社会救助审核使用，按行政区划核验"))
    missing = manager.post(f"/my/catalog/{entry_id}/revise", data=form)
    assert missing.status_code == 422 and "修订必须说明原因" in missing.text
    assert "仅限社会救助审核使用，按行政区划核验</textarea>" in missing.text  # what was typed is kept
    done = manager.post(f"/my/catalog/{entry_id}/revise",
                        data={**form, "reason": "依据新职责调整共享条件", "due_to_law_change": "1",
                              "law_change_basis": "省政府机构职能调整", "law_effective_date": "2026-10-09"})
    assert done.status_code == 200 and "修订已提交" in done.text
    with db.session() as s:
        [revision] = catalog.list_revisions(s, SYSTEM, entry_id)
        assert revision.status == "submitted" and revision.due_to_law_change and revision.base_version == 1
    reviewer = as_user("reviewer")
    queue = reviewer.get("/review")
    assert "待审核修订" in queue.text and "依据新职责调整共享条件" in queue.text
    assert "因法律法规或职责变化" in queue.text
    assert "第 1 版 → 第 2 版" in queue.text and "共享条件" in visible_text(queue)
    assert as_user("city_reviewer").get("/review").text.count("依据新职责调整共享条件") == 0  # outside its area
    reviewer = as_user("reviewer")
    empty = reviewer.post(f"/review/revisions/{revision.id}/return", data={"reason": " "})
    assert empty.status_code == 422 and "退回必须说明理由" in empty.text
    approved = reviewer.post(f"/review/revisions/{revision.id}/approve")
    assert approved.status_code == 200 and "修订已发布" in approved.text and "当前没有待审核的修订" in approved.text
    with db.session() as s:
        entry = catalog.get_entry(s, SYSTEM, entry_id)
        assert entry.version == 2 and entry.share_condition == "仅限社会救助审核使用，按行政区划核验"


def test_r05_reviewer_returns_a_revision_with_a_reason(db, world, as_user):
    with db.session() as s:
        entry_id = published_entry(s, world).id
        revision = catalog.propose_revision(s, world.actors["police_manager"], entry_id,
                                            population_entry(name="人口基本信息（新）"), "更名").id
    done = as_user("reviewer").post(f"/review/revisions/{revision}/return", data={"reason": "名称不规范"})
    assert done.status_code == 200 and "修订已退回" in done.text
    with db.session() as s:
        [rev] = catalog.list_revisions(s, SYSTEM, entry_id)
        assert (rev.status, rev.return_reason) == ("returned", "名称不规范")
        assert catalog.get_entry(s, SYSTEM, entry_id).version == 1


def test_r03_the_entry_form_names_every_invalid_field_at_once_and_keeps_the_input(db, world, as_user):
    """Issue 14: a blank name, an unknown update cycle and an item row without a Chinese name are all shown,
    each next to its field or row, in one answer; nothing is stored."""
    client = as_user("police_manager")
    form = {**_form_of(population_entry()), "name": "", "update_cycle": "每世纪",
            "item-1-chinese_name": "", "abstract": "保留我的摘要"}
    response = client.post("/my/catalog/new", data=form)
    assert response.status_code == 422
    assert _field_error(response.text, "name") and _field_error(response.text, "update_cycle")
    text = visible_text(response)
    assert "信息项第 2 行" in text and "另有" in text and "保留我的摘要" in response.text
    with db.session() as s:
        assert catalog.list_entries(s, SYSTEM, limit=50) == []
