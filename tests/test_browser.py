"""The UI in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright; no browser download):
a real uvicorn server on a free local port, against the test database."""

from __future__ import annotations

from pathlib import Path

import pytest

from govshare.catalog import service as catalog
from govshare.search import index as search_index
from tests.factories import PASSWORD, SYSTEM, population_entry, published_entry

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path("/tmp/govshare_ui.png")
SEARCH_SCREENSHOT = Path("/tmp/govshare_search.png")
FORM_SCREENSHOT = Path("/tmp/govshare_form.png")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright; "
                                                            "never `playwright install`: Debian's chromium is used)")


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_r02_login_search_open_entry_and_publish_in_a_real_browser(db, world, settings, live_server, browser):
    with db.session() as s:
        published_entry(s, world)
        published_entry(s, world, manager="civil_manager", name="最低生活保障对象信息", share_type="有条件共享",
                        abstract="全省城乡低保对象的家庭成员、保障金额和核定日期", theme="社会救助")
        city_manager = world.actors["city_civil_manager"]
        waiting = catalog.create_entry(s, city_manager, population_entry(name="合肥市婚姻登记信息"))
        catalog.submit_entry(s, city_manager, waiting.id)
    with db.session() as s:
        assert search_index.rebuild(s, settings.resolved_index_dir) == 2  # the page searches through the index

    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page.goto(f"{live_server}/my/catalog")
    assert "/login" in page.url  # logged out: sent to the login form
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.fill("input[name=username]", "civil_requester")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()
    page.goto(f"{live_server}/catalog")
    assert page.locator("h1").inner_text() == "目录检索"
    assert "共 2 条" in page.locator(".summary").inner_text()

    # a facet link of the sidebar filters the results
    page.click(".facet[data-facet=department] >> text=省民政厅")
    page.wait_for_load_state()
    assert "department=" in page.url
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 1 and "最低生活保障对象信息" in rows.first.inner_text()
    assert "共 1 条" in page.locator(".summary").inner_text()
    assert "提供部门：省民政厅" in page.locator(".active-filters").inner_text()
    page.screenshot(path=str(SEARCH_SCREENSHOT), full_page=True)
    page.click(".active-filters >> text=清除全部条件")
    page.wait_for_load_state()
    assert page.locator("table.list tbody tr").count() == 2

    page.fill("input[name=q]", "最低生活保障")
    page.click("button:has-text('检索')")
    page.wait_for_load_state()
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 1
    assert "最低生活保障对象信息" in rows.first.inner_text() and "省民政厅" in rows.first.inner_text()

    page.click("text=最低生活保障对象信息")
    page.wait_for_load_state()
    body = page.locator("main").inner_text()
    for text in ("基本信息", "有条件共享", "信息项（4）", "公民身份号码", "个人信息", "一般4",
                 "版本与变更记录", "审核发布"):
        assert text in body, text
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # the provincial reviewer publishes the city's entry from the review queue
    page.click("button:has-text('退出登录')")
    page.wait_for_load_state()
    page.fill("input[name=username]", "reviewer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()
    page.click("nav summary:has-text('目录管理')")  # the menu opens on a click (details/summary)
    page.click("nav >> text=审核队列")
    page.wait_for_load_state()
    assert "合肥市婚姻登记信息" in page.locator("main").inner_text()
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("button:has-text('发布')")  # an irreversible action asks first: dismissed, nothing happens
    assert questions and "确定发布该目录吗" in questions[0]
    assert "合肥市婚姻登记信息" in page.locator("main").inner_text() and page.locator(".notice").count() == 0
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('发布')")
    page.wait_for_load_state()
    assert "目录已发布" in page.locator(".notice").inner_text()
    assert "当前没有待审核的目录" in page.locator("main").inner_text()
    page.close()


def test_r03_manager_compiles_an_entry_in_the_form_in_a_real_browser(db, world, live_server, browser):
    """The form posts its hidden csrf_token; a refusal keeps what was typed; 添加信息项 works without JavaScript."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN", java_script_enabled=False)
    page.goto(f"{live_server}/login?next=/my/catalog")
    page.fill("input[name=username]", "police_manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()
    page.click("text=新建目录")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("新建目录")
    page.fill("input[name=classification_code]", "101")
    page.fill("input[name=name]", "统计调查原始资料")
    page.fill("textarea[name=abstract]", "全省统计调查对象报送的原始资料")
    page.select_option("select[name=data_format]", label="数据库")
    page.select_option("select[name=update_cycle]", label="每年")
    page.select_option("select[name=share_type]", label="不予共享")
    page.select_option("select[name=share_method]", label="文件")
    page.fill("input[name=item-0-name]", "dcdx")
    page.fill("input[name=item-0-chinese_name]", "调查对象名称")
    page.fill("input[name=item-1-name]", "tyshxydm")
    page.fill("input[name=item-1-chinese_name]", "统一社会信用代码")
    page.click("button:has-text('添加信息项')")
    page.wait_for_load_state()
    assert page.locator("table.items-table tbody tr").count() == 6
    assert page.input_value("input[name=item-1-chinese_name]") == "统一社会信用代码"
    page.click(".entry-form > .actions button.primary")
    page.wait_for_load_state()
    message = page.locator("label:has(textarea[name=legal_basis]) .field-error").inner_text()
    assert "不予共享的目录必须注明所依据的法律" in message
    assert page.input_value("input[name=name]") == "统计调查原始资料"
    page.fill("textarea[name=legal_basis]", "《中华人民共和国统计法》第三十九条")
    page.screenshot(path=str(FORM_SCREENSHOT), full_page=True)
    page.click(".entry-form > .actions button.primary")
    page.wait_for_load_state()
    assert "目录草稿已保存" in page.locator(".notice").inner_text()
    with db.session() as s:
        [entry] = catalog.list_entries(s, SYSTEM, limit=10)
        assert entry.status == "draft" and [i.chinese_name for i in entry.items] == ["调查对象名称", "统一社会信用代码"]
    page.close()


def test_r12_usage_chart_renders_the_visitors_daily_calls_in_a_real_browser(db, world, live_server, browser):
    """The 使用记录 page draws its chart with ECharts (vendored script, inline setup): a canvas of real size appears
    in the chart's box, the chart holds the day totals the page states, and no script fails."""
    from datetime import timedelta

    from govshare.audit import chain
    from govshare.db import utcnow

    now = utcnow()
    with db.session() as s:
        for n, (days_ago, result) in enumerate([(3, "ok"), (3, "refused"), (1, "ok"), (0, "ok"), (0, "refused"),
                                                (0, "ok")]):
            chain.append(s, at=now - timedelta(days=days_ago, minutes=n), department_id=world.ids["civil"],
                         provider_id=world.ids["police"], mode="lookup", result=result,
                         reason="" if result == "ok" else "item_not_granted", request_hash=f"{n:064x}",
                         row_count=1 if result == "ok" else 0, resource_code="34000011/00001")

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "civil_requester")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()
    page.goto(f"{live_server}/audit")
    assert page.locator("h1").inner_text().startswith("使用记录"), page.url
    canvas = page.locator("#audit-chart canvas").first
    canvas.wait_for(state="visible", timeout=10_000)
    size = canvas.bounding_box()
    assert size["width"] > 600 and size["height"] > 200, size  # the box is the page's width and 280 px high
    drawn = page.evaluate("""() => {
        const chart = window.echarts.getInstanceByDom(document.getElementById('audit-chart'));
        const option = chart.getOption();
        return {days: option.xAxis[0].data, calls: option.series[0].data, refused: option.series[1].data,
                page: JSON.parse(document.getElementById('audit-chart-data').textContent)};
    }""")
    assert drawn["page"]["days"], drawn  # the page has days to show
    assert (drawn["days"], drawn["calls"], drawn["refused"]) == (
        drawn["page"]["days"], drawn["page"]["calls"], drawn["page"]["refused"])
    assert (sum(drawn["calls"]), sum(drawn["refused"])) == (6, 2)  # every record of the visitor, on its day
    assert errors == []
    page.close()


def test_r02_r03_a_need_as_a_sentence_finds_its_entry_and_an_imported_entry_gets_items_in_a_real_browser(
        db, world, settings, live_server, browser):
    """Issue 13 as people do it: a requester types a need as a demand list writes it and finds the entry that
    answers it first; the catalog manager of an imported entry without items opens it, follows 添加信息项 to
    the revision form, adds an item and submits; the revision then waits for the authority's review."""
    from govshare.catalog.models import EntryRevision

    with db.session() as s:
        published_entry(s, world, manager="civil_manager", name="最低生活保障对象信息", share_type="有条件共享",
                        abstract="全省城乡低保对象的家庭成员、保障金额和核定日期", theme="社会救助")
        published_entry(s, world, manager="civil_manager", name="婚姻登记信息", abstract="结婚、离婚登记记录")
        [imported] = catalog.create_entries(
            s, SYSTEM, [catalog.NewEntry(population_entry(name="企业基本信息", items=[], tags="市场监管，企业",
                                                          source_url="https://data.example.gov.cn/c/1"),
                                         world.ids["police"])], imported=True, publish=True)
    with db.session() as s:
        search_index.rebuild(s, settings.resolved_index_dir)

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(f"{live_server}/login?next=/catalog")
    page.fill("input[name=username]", "civil_requester")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()
    page.fill("input[name=q]", "需要核验申请人是否为低保对象")
    page.click("button:has-text('检索')")
    page.wait_for_load_state()
    rows = page.locator("table.list tbody tr")
    assert rows.count() >= 1 and "最低生活保障对象信息" in rows.first.inner_text()
    page.click("button:has-text('退出登录')")
    page.wait_for_load_state()

    page.fill("input[name=username]", "police_manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()
    page.goto(f"{live_server}/catalog/{imported.id}")
    body = page.locator("main").inner_text()
    assert "该目录尚无信息项" in body and "市场监管，企业" in body
    assert page.locator("a[href='https://data.example.gov.cn/c/1']").count() == 1
    page.click("a:has-text('添加信息项')")
    page.wait_for_load_state()
    page.fill("input[name=item-0-name]", "tyshxydm")
    page.fill("input[name=item-0-chinese_name]", "统一社会信用代码")
    page.fill("textarea[name=reason]", "补充信息项以接入数据源")
    page.click(".entry-form > .actions button.primary")
    page.wait_for_load_state()
    assert "修订已提交" in page.locator(".notice").inner_text()
    with db.session() as s:
        [revision] = s.query(EntryRevision).filter_by(entry_id=imported.id).all()
        assert revision.status == "submitted" and [i["name"] for i in revision.payload["items"]] == ["tyshxydm"]
    page.close()


WORKBENCH_SCREENSHOTS = Path("/tmp/govshare_workbench")


def test_every_role_lands_on_its_workbench_in_a_real_browser(db, world, live_server, browser):
    """After login each role's home page is its 工作台 with its own panels; the authority's department chart is
    drawn from the page's numbers; no script fails. Screenshots go to /tmp/govshare_workbench/."""
    from tests.factories import submitted_request

    with db.session() as s:
        submitted_request(s, world)
    expected = {"police_reviewer": "待本部门答复的共享申请", "civil_requester": "本部门的共享申请",
                "police_manager": "目录草稿", "reviewer": "待审核的目录与修订", "auditor": "使用记录链",
                "admin": "数据连接"}
    WORKBENCH_SCREENSHOTS.mkdir(exist_ok=True)
    for username, panel in expected.items():
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        page.goto(f"{live_server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('登录')")
        page.wait_for_load_state()
        assert page.url.rstrip("/") == live_server, page.url
        assert page.locator("h1").inner_text().startswith("工作台"), username
        assert panel in page.locator("main").inner_text(), username
        if username == "reviewer":
            page.locator("#chart-departments canvas").first.wait_for(state="visible", timeout=10_000)
            drawn = page.evaluate("""() => {
                const box = document.getElementById('chart-departments');
                const option = window.echarts.getInstanceByDom(box).getOption();
                return {names: option.xAxis[0].data,
                        page: JSON.parse(document.getElementById('chart-data-departments').textContent).names};
            }""")
            assert drawn["names"] == drawn["page"] and "省公安厅" in drawn["names"], drawn
        if username == "police_reviewer":
            page.click("#panel-replies-due >> text=筛选与分页")
            page.wait_for_load_state()
            assert page.locator("table.list tbody tr").count() == 1 and "/workbench/replies-due" in page.url
        page.screenshot(path=str(WORKBENCH_SCREENSHOTS / f"{username}.png"), full_page=True)
        assert errors == [], (username, errors)
        page.close()


def test_every_roles_navigation_fits_one_line_at_1366_and_menus_work_by_keyboard(db, world, live_server, browser):
    """At the common desk resolution the navigation is one line for every role; a menu opens with the keyboard
    (Tab to its title, Enter), shows its links, and closes with Escape."""
    for username in ("admin", "auditor", "reviewer", "police_reviewer", "police_manager", "civil_requester"):
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page.goto(f"{live_server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('登录')")
        page.wait_for_load_state()
        tops = page.evaluate("""() => Array.from(document.querySelectorAll('nav.nav > a, nav.nav > details > summary'))
            .map(el => Math.round(el.getBoundingClientRect().top))""")
        assert tops and len(set(tops)) == 1, (username, tops)
        header = page.evaluate("() => document.querySelector('header.topbar').getBoundingClientRect().height")
        assert header < 70, (username, header)  # the bar itself did not wrap onto a second line
        summary = page.locator("nav summary").first
        summary.focus()
        page.keyboard.press("Enter")
        menu = page.locator("nav details[open] .menu a").first
        menu.wait_for(state="visible", timeout=5_000)
        page.keyboard.press("Escape")
        assert page.locator("nav details[open]").count() == 0, username
        page.close()


def _log_in(page, live_server: str, username: str) -> None:
    page.goto(f"{live_server}/login")
    if page.locator("button:has-text('退出登录')").count():
        page.click("button:has-text('退出登录')")
        page.wait_for_load_state()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_load_state()


def _open_request_form(page, live_server: str, query: str, entry_name: str) -> None:
    """目录检索 → the entry among the results → 申请共享, as a clerk finds the data to request."""
    page.goto(f"{live_server}/catalog")
    page.fill("input[name=q]", query)
    page.click("button:has-text('检索')")
    page.wait_for_load_state()
    page.click(f"table.list >> text={entry_name}")
    page.wait_for_load_state()
    page.click("text=申请共享")
    page.wait_for_load_state()


def test_the_low_income_check_scenario_runs_through_the_ui_only(db, world, settings, live_server, browser, tmp_path):
    """SCENARIOS §1 (低保审核) in a real browser, no API call: 省民政厅's clerk finds 人口基本信息, requests three items
    for two districts; 省公安厅's reviewer sees it on the workbench and approves two of them; the clerk previews
    the data masked as the grant says and finds the preview in 使用记录 as 页面预览."""
    from datetime import date, timedelta

    from govshare.gateway.models import DataSource
    from govshare.sealing import seal
    from tests.factories import consumer_system
    from tests.gateway_factories import COLUMN_MAP, people, population_items, source_table

    rows = people(12)
    with db.session() as s:
        entry = published_entry(s, world, items=population_items())
        s.add(DataSource(entry_id=entry.id, kind="sql", location=seal(s, source_table(tmp_path / "rk.db", rows)),
                         table_name="RK_JBXX", key_item="gmsfhm", column_map=COLUMN_MAP, status="connected",
                         row_count=len(rows), profile={"items": {"gmsfhm": {"kind": "id_number"}}}))
        consumer_system(s, world)
    with db.session() as s:
        search_index.rebuild(s, settings.resolved_index_dir)

    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page.on("dialog", lambda dialog: dialog.accept())

    _log_in(page, live_server, "civil_requester")
    _open_request_form(page, live_server, "人口基本信息", "人口基本信息")
    page.fill("textarea[name=purpose]", "最低生活保障资格审核")
    page.fill("textarea[name=scenario]", "低保申请受理时核对申请人户籍信息")
    page.fill("textarea[name=duty_basis]", "《社会救助暂行办法》第十一条")
    for name in ("公民身份号码", "姓名", "户籍地址"):
        page.check(f"label:has-text('{name}') >> xpath=ancestor::tr//input[@type='checkbox']")
    page.select_option("select[name=scope_item]", "xzqhdm")
    page.fill("input[name=scope_prefixes]", "340104 340111")
    page.fill("input[name=period_end]", (date.today() + timedelta(days=180)).isoformat())
    page.select_option("select[name=consumer_system_id]", index=1)  # 低保审核系统, the only one
    page.click("button:has-text('提交申请')")
    page.wait_for_load_state()
    assert "申请已提交" in page.locator(".notice").inner_text()
    request_url = page.url.split("?")[0]

    _log_in(page, live_server, "police_reviewer")
    assert "人口基本信息" in page.locator("#panel-replies-due tbody").inner_text()  # the workbench lists it
    page.click("#panel-replies-due tbody a")
    page.wait_for_load_state()
    assert page.url.split("?")[0] == request_url
    page.check("#reply-form input[name=decision][value=approve_in_part]")
    page.uncheck("#reply-form label:has-text('户籍地址') input")
    page.fill("#reply-form textarea[name=reason]", "户籍地址超出低保审核所需，不予提供")
    page.click("#reply-form button:has-text('提交答复')")
    page.wait_for_load_state()
    assert "部分同意" in page.locator("main").inner_text()

    _log_in(page, live_server, "civil_requester")
    page.goto(f"{live_server}/sharing/grants")
    page.click("text=数据预览")
    page.wait_for_load_state()
    headers = page.locator("table.list thead th").all_inner_texts()
    assert any(h.startswith("公民身份号码") and "只显示前6位和后4位" in h for h in headers), headers
    assert not any("户籍地址" in h for h in headers), headers  # the item the reviewer left out
    shown = page.locator("table.list tbody tr").all_inner_texts()
    in_scope = [r for r in rows if r["XZQH"] in ("340104", "340111")]
    assert len(shown) == len(in_scope) > 0  # the two districts asked for, no other
    content = page.content()
    assert all(r["GMSFHM"] not in content and r["HJDZ"] not in content for r in rows)  # masked; not granted
    assert all(r["GMSFHM"][:6] + "********" + r["GMSFHM"][-4:] in content for r in in_scope)
    page.goto(f"{live_server}/audit")
    assert "页面预览" in page.locator("main").inner_text()
    page.close()


def test_a_dispute_goes_through_three_steps_in_the_ui(db, world, live_server, browser):
    """R08 in a real browser: 合肥市民政局 refuses 省民政厅's request; the clerk raises a dispute; the provider keeps
    its refusal in negotiation, 合肥市数据资源局 keeps it too, and 省数据局 (the higher level) approves. Each handler
    finds its step on the workbench."""
    from sqlalchemy import select

    from govshare.orgs.models import Role
    from govshare.sharing import service as sharing
    from govshare.sharing.models import Grant, ShareRequest
    from govshare.sharing.schemas import ReplyIn
    from tests.factories import submitted_request
    from tests.test_disputes import _city_entry

    with db.session() as s:
        entry, city_reviewer = _city_entry(s, world)
        request = submitted_request(s, world, entry=entry)
        sharing.reply(s, city_reviewer, request.id, ReplyIn(decision="refuse", reason="申请用途与所需信息项不符"))
        request_id = request.id
    assert city_reviewer.role == Role.DEPT_REVIEWER
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page.on("dialog", lambda dialog: dialog.accept())

    def escalate(reason: str) -> None:
        _log_in(page, live_server, "civil_requester")
        page.goto(f"{live_server}/sharing/requests/{request_id}")
        page.fill("form[action$='/escalate'] input[name=reason]", reason)
        page.click("form[action$='/escalate'] button")
        page.wait_for_load_state()

    def decide(username: str, level: str, decision: str, reason: str) -> None:
        _log_in(page, live_server, username)
        panel = page.locator("#panel-dispute-steps tbody")
        assert level in panel.inner_text(), (username, panel.inner_text())
        page.click("#panel-dispute-steps tbody a")
        page.wait_for_load_state()
        page.check(f"#decide-form input[name=decision][value={decision}]")
        page.fill("#decide-form textarea[name=reason]", reason)
        page.click("#decide-form button:has-text('作出决定')")
        page.wait_for_load_state()

    escalate("低保审核是法定职责，所需信息项均为必要")
    decide("city_civil_reviewer", "双方协商", "refuse", "经协商，维持原答复")
    escalate("协商未果，提请本级主管部门协调")
    decide("city_reviewer", "本级主管部门协调", "refuse", "维持提供部门的答复")
    escalate("提请上级主管部门裁决")
    decide("reviewer", "上级主管部门裁决", "approve", "低保审核属法定职责，应予共享")
    with db.session() as s:
        assert s.get(ShareRequest, request_id).status == "approved"
        assert s.scalars(select(Grant).where(Grant.request_id == request_id)).one().status == "active"
    page.close()


def test_the_marriage_verification_scenario_runs_through_the_ui_only(db, world, settings, live_server, browser):
    """SCENARIOS (婚姻状况核验) in a real browser, no API call: the provider's register is shared by 核验 only; the
    clerk requests it (the form ticks 仅核验 and locks it), the provider's reviewer approves on the workbench, and the
    clerk checks a marriage by the wife's ID number: 一致, then 不一致 for a wrong type, each a usage record of 核验.
    No field of the register is ever shown."""
    from datetime import date, timedelta

    from sqlalchemy import select

    from govshare.audit.models import UsageRecord
    from govshare.catalog.schemas import ItemIn
    from govshare.gateway import connect
    from tests.factories import consumer_system
    from tests.gateway_factories import id_number
    from tests.test_sources import csv_bytes

    husband, wife = id_number("340104", date(1990, 3, 1), 11), id_number("340111", date(1992, 6, 9), 22)
    rows = [{"男方身份证号": husband, "女方身份证号": wife, "登记类型": "结婚", "登记日期": "2020-05-20"}]
    items = [ItemIn(name=name, chinese_name=title, data_type="string", length=18, grade="一般4", personal_info="pi")
             for name, title in (("nfsfzh", "男方身份证号"), ("nvsfzh", "女方身份证号"), ("djlx", "登记类型"))]
    with db.session() as s:
        entry = published_entry(s, world, name="婚姻登记信息", share_method="核验", items=items,
                                abstract="全省婚姻登记记录，仅提供核验服务")
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(rows), "hy.csv", "nfsfzh")
        consumer_system(s, world)
    with db.session() as s:
        search_index.rebuild(s, settings.resolved_index_dir)

    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page.on("dialog", lambda dialog: dialog.accept())
    _log_in(page, live_server, "civil_requester")
    _open_request_form(page, live_server, "婚姻登记", "婚姻登记信息")
    verify_only = page.locator("label:has-text('仅核验') input[type=checkbox]")
    assert verify_only.is_checked() and verify_only.is_disabled()  # 核验 is the only way this entry is shared
    page.fill("textarea[name=purpose]", "住房公积金贷款审核时核验婚姻状况")
    page.fill("textarea[name=scenario]", "申请人提交结婚证后核验其婚姻登记")
    page.fill("textarea[name=duty_basis]", "《住房公积金管理条例》")
    for name in ("男方身份证号", "女方身份证号", "登记类型"):
        page.check(f"label:has-text('{name}') >> xpath=ancestor::tr//input[@type='checkbox']")
    page.fill("input[name=period_end]", (date.today() + timedelta(days=180)).isoformat())
    page.select_option("select[name=consumer_system_id]", index=1)
    page.click("button:has-text('提交申请')")
    page.wait_for_load_state()
    assert "申请已提交" in page.locator(".notice").inner_text()

    _log_in(page, live_server, "police_reviewer")
    assert "婚姻登记信息" in page.locator("#panel-replies-due tbody").inner_text()
    page.click("#panel-replies-due tbody a")
    page.wait_for_load_state()
    page.check("#reply-form input[name=decision][value=approve]")
    page.click("#reply-form button:has-text('提交答复')")
    page.wait_for_load_state()
    assert "同意" in page.locator("main").inner_text()

    _log_in(page, live_server, "civil_requester")
    page.goto(f"{live_server}/sharing/grants")
    assert page.locator("text=数据预览").count() == 0  # a verification-only grant shows no data
    page.click("a.button:has-text('核验')")
    page.wait_for_load_state()
    page.fill("input[name=field_nvsfzh]", wife)
    page.fill("input[name=field_djlx]", "结婚")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "核验结果：一致" in page.locator("main").inner_text()
    page.fill("input[name=field_djlx]", "离婚")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "核验结果：不一致" in page.locator("main").inner_text()
    assert husband not in page.content() and "2020-05-20" not in page.content()
    with db.session() as s:
        checks = s.scalars(select(UsageRecord).where(UsageRecord.mode == "verify")).all()
        assert [(r.result, r.user_id) for r in checks] == [("ok", world.ids["user:civil_requester"])] * 2
    page.close()


def test_a_service_change_is_proposed_and_approved_in_the_ui(db, world, live_server, browser):
    """R11 in a real browser: 省公安厅's catalog manager asks to stop the sharing service of its published entry from
    the entry page; 省数据局's reviewer finds it on the workbench, sees the grant it affects and approves it; the
    requester is told."""
    from sqlalchemy import select

    from govshare.notify.models import Notification
    from govshare.sharing import service as sharing
    from govshare.sharing.models import ServiceChange
    from govshare.sharing.schemas import ReplyIn
    from tests.factories import submitted_request

    with db.session() as s:
        entry = published_entry(s, world)
        request = submitted_request(s, world, entry=entry)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        entry_id, grant_id = entry.id, sharing.grant_of(s, request.id).id

    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page.on("dialog", lambda dialog: dialog.accept())
    _log_in(page, live_server, "police_manager")
    page.goto(f"{live_server}/catalog/{entry_id}")
    page.click("text=申请停止或变更共享服务")
    page.wait_for_load_state()
    page.check("input[name=kind][value=stop]")
    page.fill("textarea[name=description]", "人口库迁移至新政务云，旧接口停止服务")
    page.fill("input[name=effective_date]", page.get_attribute("input[name=effective_date]", "min"))
    page.click("button:has-text('提交审批')")
    page.wait_for_load_state()
    assert "待主管部门审批" in page.locator("main").inner_text()

    _log_in(page, live_server, "reviewer")
    panel = page.locator("#panel-service-changes tbody")
    assert "人口基本信息" in panel.inner_text() and "停止共享服务" in panel.inner_text()
    page.click("#panel-service-changes tbody a")
    page.wait_for_load_state()
    assert f"#{grant_id}" in page.locator("#affected").inner_text()  # the grant the stop would end
    page.check("input[name=decision][value=approve]")
    page.fill("#decide textarea[name=reason]", "迁移方案已备案，同意停止")
    page.click("#decide button:has-text('提交审批')")
    page.wait_for_load_state()
    assert "已批准：迁移方案已备案，同意停止" in page.locator("main").inner_text()
    with db.session() as s:
        assert s.scalars(select(ServiceChange.status)).one() == "approved"
        told = s.scalars(select(Notification.title).where(
            Notification.user_id == world.ids["user:civil_requester"])).all()
        assert any("人口基本信息" in title and "停止" in title for title in told), told
    page.close()
