"""What a new user meets: the README's first command serves the demo and a person logs in; every demo user, of
every role and level, walks every page the site shows them (tests/crawl.py) without a server error, JSON,
English error text or a time in UTC; times are local with their zone named once; the site has its icon; and
what the walk found: a notification's link to a service change has a page, and 数据预览 is offered only where
it works."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Date, DateTime, select

from govshare.demo import seed as demo
from govshare.gateway.models import DataSource
from govshare.models import Base
from govshare.notify.models import Notification
from govshare.orgs import service as orgs
from govshare.orgs.models import ROLE_LABELS, Role
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import ServiceChange
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import ServiceChangeKind, ServiceChangeStatus
from govshare.web.pages import STATIC_DIR, PageRoute
from govshare.workdays import service as workdays
from tests.conftest import BACKENDS, _free_port
from tests.crawl import HTML_ACCEPT, Crawler, html_problems, judge_page, page_kind, visible_text
from tests.demo_node import demo_node
from tests.factories import PASSWORD, SYSTEM, published_entry, submitted_request
from tests.gateway_factories import served_population
from tests.web_helpers import token

SERVE_TIMEOUT_SECONDS = 90


# ------------------------------------------------------------------ the README's first command


def _demo_environment(folder: Path, port: int) -> dict[str, str]:
    """The machine's environment without GOVSHARE_* of the test run, a fresh data folder and a free port; a
    wide terminal so that the printed table of users is not wrapped."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GOVSHARE_")}
    return env | {"GOVSHARE_DATA_DIR": str(folder), "GOVSHARE_DATABASE_URL": f"sqlite:///{folder / 'govshare.db'}",
                  "GOVSHARE_HOST": "127.0.0.1", "GOVSHARE_PORT": str(port), "COLUMNS": "200"}


def _wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"govshare demo exited ({process.returncode}) before serving:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"govshare demo did not serve {url} within {SERVE_TIMEOUT_SECONDS} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """Ends the demo's whole process group (the server and anything it started) and waits for it."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        pytest.fail("govshare demo did not stop on SIGTERM")


def _printed_users(output: str) -> list[tuple[str, str]]:
    """(username, role label) of each row of the table of demo users the command prints."""
    return re.findall(r"^│ (\S+)\s+│ (\S+)\s+│", output, re.M)


@pytest.mark.slow
def test_readme_first_command_serves_the_demo_and_a_person_logs_in(tmp_path):
    command = Path(sys.executable).with_name("govshare")  # the console script `make demo` runs
    assert command.is_file(), f"{command} is missing: the package is not installed in this environment"
    port = _free_port()
    base, log = f"http://127.0.0.1:{port}", tmp_path / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(command), "demo"], cwd=tmp_path, env=_demo_environment(tmp_path / "var", port),
                                   stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        _wait_until_serving(process, f"{base}/login", log)
        printed = log.read_text()
        password = re.search(r"演示密码：(\S+)", printed).group(1)
        users = _printed_users(printed)
        assert {name for name, _role in users} == {user.username for user in demo.demo_users()}, printed
        requester = next(name for name, role in users if role == ROLE_LABELS[Role.REQUESTER])
        with httpx.Client(base_url=base, timeout=30) as client:
            assert Crawler(client, password).log_in(requester) is None
            home = client.get("/", headers={"Accept": HTML_ACCEPT})
    finally:
        _stop(process)
    assert process.returncode is not None
    assert home.status_code == 200, home.text[:500]
    assert not html_problems(home.text), html_problems(home.text)
    text = visible_text(home.text)
    assert requester in text and "目录检索" in text and "演示数据已写入" in printed


# ------------------------------------------------------------------ every demo user walks the site


@pytest.fixture(scope="module", params=BACKENDS)
def demo_site(request, tmp_path_factory):
    """The demo seeded once per backend, in a database of its own (the conftest database is emptied after
    every test of the worker)."""
    with demo_node(request.param, tmp_path_factory) as node:
        yield request.param, node


def page_routes(app) -> set[str]:
    """Every GET page of the UI, named as the crawl names routes (/catalog/{entry_id} → /catalog/#)."""
    return {re.sub(r"\{[^}]+\}", "#", route.path) for route in app.routes
            if isinstance(route, PageRoute) and "GET" in route.methods
            and route.path not in ("/login", "/favicon.ico") and not route.path.startswith("/static/")}


@pytest.mark.slow
def test_every_demo_user_walks_every_page_they_are_shown_without_an_error(demo_site):
    backend, node = demo_site
    report, app = node.report, node.app
    assert not report.search_note, report.search_note
    assert report.search_indexed == report.entries_by_status["published"]
    usernames = node.usernames
    assert len(usernames) == len(demo.demo_users())
    started = time.perf_counter()
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        crawled = Crawler(client, report.password).crawl(usernames)
    seconds = time.perf_counter() - started
    print(f"crawl [{backend}]: {crawled.users} users ({crawled.probing_users} probing), {crawled.pages} pages, "
          f"{len(crawled.kinds)} kinds of page, {seconds:.1f} s")
    findings = "\n".join(str(finding) for finding in crawled.findings)
    assert not crawled.findings, f"{len(crawled.findings)} problems a person meets:\n{findings}"
    unreached = page_routes(app) - crawled.paths
    assert not unreached, f"pages no demo user reaches by a link: {sorted(unreached)}"


@pytest.mark.slow
def test_every_stored_time_of_the_demo_reads_back_as_a_time(demo_site):
    """The demo once backdated notifications with SQL `created_at - delta`, which SQLite stores as a number:
    reading them back failed and 消息通知 answered 500 for 12 of 20 users. Every date and time column of every
    table must read back as what it is, on both databases (no SQL-side date arithmetic anywhere)."""
    _backend, node = demo_site
    wrong = []
    with node.db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                kind = {DateTime: datetime, Date: date}.get(type(column.type))
                if kind is None:
                    continue
                values = connection.execute(select(column).where(column.is_not(None))).scalars()
                wrong += [f"{table.name}.{column.name}: {v!r}" for v in values if not isinstance(v, kind)]
    assert not wrong, wrong[:10]


# ------------------------------------------------------------------ the crawl's judgement can fail

LAYOUT = ('<html><header class="topbar"><form method="post" action="/logout"></form></header><main>{}</main>'
          '<footer>时间为北京时间（Asia/Shanghai）</footer></html>')


def _answer(status: int, body: str, content_type: str = "text/html; charset=utf-8", **headers) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": content_type, **headers}, text=body)


@pytest.mark.parametrize(("response", "linked", "problem"), [
    (_answer(200, LAYOUT.format("<h1>目录检索</h1>")), True, None),
    (_answer(404, LAYOUT.format("<h1>页面不存在</h1>")), False, None),
    (_answer(303, "", location="/catalog"), True, None),
    (_answer(404, LAYOUT.format("<h1>页面不存在</h1>")), True, "站内链接通向错误页"),
    (_answer(500, LAYOUT.format("服务器内部错误")), False, "服务器错误"),
    (_answer(422, LAYOUT.format("年份超出范围（2000–2100）")), False, None),
    (_answer(422, LAYOUT.format("请求参数有误")), True, "页面不应返回 422"),
    (_answer(409, LAYOUT.format("操作与当前状态冲突")), False, "页面不应返回 409"),
    (_answer(404, '{"detail": "Not Found"}', "application/json"), False, "返回的是 application/json"),
    (_answer(500, "Internal Server Error", "text/plain; charset=utf-8"), False, "返回的是 text/plain"),
    (_answer(200, "<h1>目录检索</h1>"), True, "页面不在网站布局内"),
    (_answer(200, LAYOUT.format("Field required")), True, "英文错误文字：Field required"),
    (_answer(200, LAYOUT.format("<th>时间（UTC）</th>")), True, "以 UTC 显示时间"),
    (_answer(200, LAYOUT.format("<td>敏感</td><td>True</td>")), True, "程序值（应为 是/否/无）"),
    (_answer(200, LAYOUT.format("<td>上级</td><td>None</td>")), True, "程序值"),
    (_answer(200, LAYOUT.format("时间为当地时间（Asia/Urumqi）")), True, "Asia/Urumqi、Asia/Shanghai"),
    (_answer(200, LAYOUT.replace("<footer>时间为北京时间（Asia/Shanghai）</footer>", "")), True, "未说明"),
])
def test_the_crawl_judges_each_answer_as_a_person_would(response, linked, problem):
    problems = judge_page(response, linked=linked)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in found for found in problems), problems


def test_the_crawl_names_the_exception_behind_a_server_error(app, world):
    def failing_page():
        raise RuntimeError("数据库连接中断")

    app.add_api_route("/failing", failing_page, include_in_schema=False)
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        crawled = Crawler(client, PASSWORD).crawl(["civil_requester"], start="/failing")
    assert [(f.url, f.status) for f in crawled.findings] == [("/failing", 500)]
    assert "服务器错误：RuntimeError: 数据库连接中断" in crawled.findings[0].problem


def test_pages_of_one_kind_differ_only_by_ids_and_query_values():
    assert page_kind("/sharing/requests/12?notice=x") == page_kind("/sharing/requests/7?notice=y")
    assert page_kind("/catalog?grade=3&level=p") == page_kind("/catalog?theme=a&q=b")
    assert page_kind("/catalog?grade=3") != page_kind("/catalog?level=p") != page_kind("/catalog")
    assert page_kind("/sources/3") != page_kind("/sources")


# ------------------------------------------------------------------ times are local, their zone named once


@pytest.mark.parametrize(("zone", "shown", "note"), [
    ("Asia/Shanghai", "2026-03-02 07:30", "时间为北京时间（Asia/Shanghai）"),
    ("Europe/London", "2026-03-01 23:30", "时间为当地时间（Europe/London）"),
])
def test_times_are_shown_in_the_node_zone_which_the_page_names_once(client, db, world, as_user, zone, shown, note):
    with db.session() as s:
        s.add(Notification(user_id=world.ids["user:civil_requester"], event="request.submitted", title="时间测试通知",
                           created_at=datetime(2026, 3, 1, 23, 30)))  # stored as naive UTC (db.utcnow)
    client.app.state.settings = client.app.state.settings.model_copy(update={"timezone": zone})
    page = as_user("civil_requester").get("/notifications")
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*时间测试通知.*?</tr>", page.text, re.S).group(0)
    assert shown in visible_text(row)
    text = visible_text(page.text)
    assert "UTC" not in text and text.count(note) == 1 and text.count("时间为") == 1


# ------------------------------------------------------------------ the site's icon


def test_the_site_serves_its_icon_and_every_page_names_it(client, as_user):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content == (STATIC_DIR / "favicon.ico").read_bytes() and icon.content[:4] == b"\0\0\1\0"
    for page in (client.get("/login"), as_user("civil_requester").get("/catalog")):
        assert '<link rel="icon" href="/favicon.ico"' in page.text


# ------------------------------------------------------------------ what the walk found


def _proposed_change(db, world) -> int:
    with db.session() as s:
        entry = published_entry(s, world)
        effective = changes.earliest_effective_date(s, workdays.local_today(s)) + timedelta(days=3)
        return changes.propose(s, world.actors["police_reviewer"], entry.id, ServiceChangeKind.CHANGE,
                               "接口地址迁移至新的政务云区域", effective).id


def test_r11_the_notified_authority_opens_the_service_change_from_its_notification(db, world, as_user):
    change_id = _proposed_change(db, world)
    client = as_user("reviewer")
    assert f'href="/sharing/changes/{change_id}"' in client.get("/notifications").text
    page = client.get(f"/sharing/changes/{change_id}", headers={"Accept": HTML_ACCEPT})
    assert page.status_code == 200 and not html_problems(page.text)
    text = visible_text(page.text)
    assert "接口地址迁移至新的政务云区域" in text and "待主管部门审批" in text and "police_reviewer" in text
    assert f'action="/sharing/changes/{change_id}/decide"' in page.text
    done = client.post(f"/sharing/changes/{change_id}/decide", data={"decision": "approve", "reason": "同意迁移",
                                                                      "csrf_token": token(client)})
    assert done.status_code == 200 and "已批准共享服务变更" in done.text  # followed the redirect
    decided = visible_text(done.text)
    assert "已批准：同意迁移" in decided and "reviewer ·" in decided and "提交审批" not in decided
    with db.session() as s:
        assert s.get(ServiceChange, change_id).status == ServiceChangeStatus.APPROVED


def test_r11_refusing_a_service_change_on_the_page_needs_a_reason_and_keeps_what_was_typed(db, world, as_user):
    change_id = _proposed_change(db, world)
    client = as_user("reviewer")
    refused = client.post(f"/sharing/changes/{change_id}/decide",
                          data={"decision": "reject", "reason": " ", "csrf_token": token(client)})
    assert refused.status_code == 422 and "不予批准必须说明理由" in refused.text
    assert 'value="reject" checked' in refused.text
    with db.session() as s:
        assert s.get(ServiceChange, change_id).status == ServiceChangeStatus.SUBMITTED  # nothing stored
    done = client.post(f"/sharing/changes/{change_id}/decide",
                       data={"decision": "reject", "reason": "迁移期间影响低保审核", "csrf_token": token(client)})
    assert done.status_code == 200 and "已不予批准" in done.text
    with db.session() as s:
        change = s.get(ServiceChange, change_id)
        assert (change.status, change.decision_reason) == (ServiceChangeStatus.REJECTED, "迁移期间影响低保审核")


@pytest.mark.parametrize(("who", "status"), [
    ("police_reviewer", 200),  # the provider reads its own change, never decides it
    ("civil_requester", 404),  # no grant of the entry: nothing to see
    ("other_reviewer", 404),  # another province's authority
])
def test_r11_a_service_change_page_shows_only_to_whom_it_concerns(db, world, as_user, who, status):
    change_id = _proposed_change(db, world)
    page = as_user(who).get(f"/sharing/changes/{change_id}", headers={"Accept": HTML_ACCEPT})
    assert page.status_code == status and not html_problems(page.text)
    assert "/decide" not in page.text
    decided = as_user(who).post(f"/sharing/changes/{change_id}/decide", data={"decision": "approve", "reason": "越权"})
    assert decided.status_code in (403, 404)  # the form is not offered, and posting it anyway is refused
    with db.session() as s:
        assert s.get(ServiceChange, change_id).status == ServiceChangeStatus.SUBMITTED


def test_data_preview_is_offered_only_for_a_grant_whose_source_is_connected(db, world, as_user, tmp_path):
    with db.session() as s:
        grant_id = served_population(s, world, tmp_path).grant_id
    client = as_user("civil_requester")
    assert f'href="/data/preview?grant={grant_id}"' in client.get("/sharing/grants").text
    assert client.get(f"/data/preview?grant={grant_id}").status_code == 200
    with db.session() as s:
        s.scalars(select(DataSource)).one().status = "disconnected"
    listing = client.get("/sharing/grants").text
    assert "/data/preview?grant=" not in listing and "提供部门尚未接入数据源，暂不能预览" in listing
    manager = as_user("civil_manager").get("/sharing/grants").text  # the gateway lets no manager preview
    assert "/data/preview?grant=" not in manager and "暂不能预览" not in manager


def test_r08_the_dispute_list_of_an_authority_department_shows_its_reviewer_only_the_steps_of_their_role(
        db, world, as_user):
    """An authority-level step is handled by the competent authority's department; its department reviewer
    neither reads nor decides it, and the list must not fail on it (the demo's hf_data_reviewer got a 404)."""
    with db.session() as s:
        orgs.create_user(s, SYSTEM, username="authority_dept_reviewer", password=PASSWORD,
                         role=Role.DEPT_REVIEWER.value, department_id=world.ids["authority"])
        request = submitted_request(s, world)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="refuse", reason="用途不符"))
        requester = world.actors["civil_requester"]
        negotiation = disputes.escalate(s, requester, request.id, "申请协商")
        disputes.decide(s, world.actors["police_reviewer"], negotiation.id, ReplyIn(decision="refuse", reason="维持"))
        disputes.escalate(s, requester, request.id, "提请主管部门协调")
        request_id = request.id
    listing = as_user("authority_dept_reviewer").get("/sharing/disputes", headers={"Accept": HTML_ACCEPT})
    assert listing.status_code == 200 and not html_problems(listing.text)
    assert f"/sharing/requests/{request_id}" not in listing.text
    assert f"/sharing/requests/{request_id}#decide-form" in as_user("reviewer").get("/sharing/disputes").text
