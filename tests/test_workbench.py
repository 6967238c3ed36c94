"""工作台 (issue 14): the home page after login shows each role its work — a reviewer the requests waiting for
its reply with the working days left, a requester its requests, replies and grants about to end, a catalog
manager its drafts, returned and incomplete entries, the competent authority its review queue, disputes and
its area's departments, an auditor the anomalies and the record chain. Each panel is a list with filters,
pages and an XLSX export; nobody sees another department's work (R07, R08, R09, R05, R12, R18)."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import update

from govshare.catalog import service as catalog
from govshare.sharing import service as sharing
from govshare.sharing.models import ShareRequest
from govshare.sharing.schemas import ReplyIn
from govshare.workdays.service import WorkCalendar, local_today
from tests.factories import consumer_system, population_entry, published_entry, submitted_request
from tests.web_helpers import visible_text


def panel_html(page_html: str, key: str) -> str:
    """The <section> of one panel on the workbench ('' when the page does not show it)."""
    found = re.search(rf'<section class="card workbench-panel[^"]*" id="panel-{key}".*?</section>', page_html, re.S)
    return found.group(0) if found else ""


def row_texts(fragment: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr(?: class=\"[^\"]*\")?>(.*?)</tr>", fragment.split("<tbody>", 1)[-1], re.S)]


def _set_due(db, request_id: int, due: date) -> None:
    with db.session() as s:
        s.execute(update(ShareRequest).where(ShareRequest.id == request_id).values(reply_due=due))


def _three_requests(db, world) -> tuple[list[int], date]:
    """Three requests to 省公安厅: one past its reply deadline, one due tomorrow's working day, one far off."""
    with db.session() as s:
        entry = published_entry(s, world)
        system = consumer_system(s, world)[0]
        ids = [submitted_request(s, world, entry=entry, system=system, purpose=f"低保资格审核 {n}").id
               for n in range(3)]
        today = local_today(s)
        soon = WorkCalendar(s).add_working_days(today, 1).due
    _set_due(db, ids[0], today + timedelta(days=40))
    _set_due(db, ids[1], soon)
    _set_due(db, ids[2], today - timedelta(days=7))
    return ids, today


def test_r07_reviewer_lands_on_the_requests_waiting_for_its_reply_nearest_deadline_first(db, world, as_user):
    ids, today = _three_requests(db, world)
    client = as_user("police_reviewer")
    home = client.get("/")
    assert home.status_code == 200
    panel = panel_html(home.text, "replies-due")
    rows = row_texts(panel)
    assert [row.split()[0] for row in rows] == [f"#{ids[2]}", f"#{ids[1]}", f"#{ids[0]}"], rows
    with db.session() as s:
        far = WorkCalendar(s).working_days_between(today, today + timedelta(days=40))
        late = WorkCalendar(s).working_days_between(today - timedelta(days=7), today)
    assert f"已逾期 {late} 个工作日" in rows[0] and rows[0].endswith("已逾期")
    assert "剩余 1 个工作日" in rows[1] and rows[1].endswith("即将到期")
    assert f"剩余 {far} 个工作日" in rows[2] and "即将到期" not in rows[2] and "已逾期" not in rows[2]
    assert f'href="/sharing/requests/{ids[2]}"' in panel
    assert re.search(r'<td class="nowrap">\d{4}-\d{2}-\d{2}</td>', panel)  # a date never wraps (1366 px)
    summary = visible_text(home)
    assert "待本部门答复的共享申请 3 已逾期 1 即将到期 1" in summary


def test_r07_a_requester_and_another_department_never_see_the_reviewers_queue(db, world, as_user):
    _three_requests(db, world)
    requester = as_user("civil_requester")
    home = requester.get("/")
    assert panel_html(home.text, "replies-due") == "" and panel_html(home.text, "my-requests")
    assert requester.get("/workbench/replies-due").status_code == 404
    assert requester.get("/workbench/replies-due/export.xlsx").status_code == 404
    manager = as_user("civil_manager")  # another department's staff: no reviewer panel, nothing of 公安's
    assert manager.get("/workbench/replies-due").status_code == 404
    assert "低保资格审核" not in manager.get("/").text
    assert as_user("police_manager").get("/workbench/unknown-panel").status_code == 404


def test_workbench_pages_send_anonymous_visitors_to_the_login(client, world):
    for path in ("/", "/workbench/replies-due", "/workbench/replies-due/export.xlsx"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path


def test_a_panel_list_filters_pages_and_exports_what_the_filters_keep(db, world, as_user):
    ids, _today = _three_requests(db, world)
    client = as_user("police_reviewer")
    late = client.get("/workbench/replies-due?mark=overdue")
    assert [r.split()[0] for r in row_texts(late.text)] == [f"#{ids[2]}"]
    assert "筛选后 1 条" in visible_text(late)
    by_facet = client.get("/workbench/replies-due", params={"facet": "未到期"})
    assert [r.split()[0] for r in row_texts(by_facet.text)] == [f"#{ids[0]}"]
    by_text = client.get("/workbench/replies-due", params={"q": f"#{ids[1]}"})
    assert [r.split()[0] for r in row_texts(by_text.text)] == [f"#{ids[1]}"]
    export = client.get("/workbench/replies-due/export.xlsx?mark=overdue")
    assert export.status_code == 200 and export.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(export.content)).active
    table = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert table[0][:3] == ["申请", "申请目录", "需求部门"] and table[0][-1] == "标记"
    assert [row[0] for row in table[1:]] == [f"#{ids[2]}"] and table[1][-1] == "已逾期"


def test_a_panel_list_is_paginated(db, world, as_user, monkeypatch):
    from govshare.workbench import panels

    ids, _today = _three_requests(db, world)
    monkeypatch.setattr(panels, "LIST_PAGE_SIZE", 2)
    client = as_user("police_reviewer")
    first, second = client.get("/workbench/replies-due"), client.get("/workbench/replies-due?page=2")
    assert len(row_texts(first.text)) == 2 and "第 1 / 2 页" in visible_text(first)
    assert 'href="/workbench/replies-due?page=2"' in first.text
    assert [r.split()[0] for r in row_texts(second.text)] == [f"#{ids[0]}"]
    assert "第 2 / 2 页" in visible_text(client.get("/workbench/replies-due?page=99"))


def test_xlsx_export_neutralizes_formulas_typed_by_another_department(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        submitted_request(s, world, entry=entry)
        s.execute(update(ShareRequest).values(purpose="=HYPERLINK(\"http://evil.example\")"))
        catalog.create_entry(s, world.actors["police_manager"], population_entry(name="=cmd|' /C calc'!A0"))
    export = as_user("police_manager").get("/workbench/drafts/export.xlsx")
    sheet = load_workbook(io.BytesIO(export.content)).active
    names = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert names and all(not str(name).startswith("=") for name in names), names


def test_r09_requester_sees_its_grants_about_to_end_and_the_replies_it_received(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        soon = submitted_request(s, world, entry=entry, period_end=date.today() + timedelta(days=10))
        sharing.reply(s, world.actors["police_reviewer"], soon.id, ReplyIn(decision="approve"))
        refused = submitted_request(s, world, entry=entry, system=soon.consumer_system)
        sharing.reply(s, world.actors["police_reviewer"], refused.id,
                      ReplyIn(decision="refuse", reason="超出履职范围"))
        soon_id, refused_id = soon.id, refused.id
    home = as_user("civil_requester").get("/")
    grants = row_texts(panel_html(home.text, "my-grants"))
    assert len(grants) == 1 and "人口基本信息" in grants[0] and grants[0].endswith("即将到期")
    replies = row_texts(panel_html(home.text, "replies-received"))
    assert any(r.startswith(f"#{refused_id}") and "不予同意" in r and "超出履职范围" in r for r in replies), replies
    assert any(r.startswith(f"#{soon_id}") and "已同意" in r for r in replies), replies
    systems = row_texts(panel_html(home.text, "my-systems"))
    assert any("低保审核系统" in r and "有效" in r for r in systems)
    assert panel_html(as_user("police_reviewer").get("/").text, "my-grants") == ""


def test_r05_catalog_manager_sees_drafts_returned_entries_with_the_reason_and_entries_without_a_source(
        db, world, as_user):
    with db.session() as s:
        manager, reviewer = world.actors["police_manager"], world.actors["reviewer"]
        draft = catalog.create_entry(s, manager, population_entry(name="户籍迁移信息"))
        back = catalog.create_entry(s, manager, population_entry(name="暂住登记信息"))
        catalog.submit_entry(s, manager, back.id)
        catalog.return_entry(s, reviewer, back.id, "共享条件未写明法律依据")
        published = published_entry(s, world)
        draft_code, back_code, published_code = draft.resource_code, back.resource_code, published.resource_code
        catalog.create_entry(s, world.actors["civil_manager"], population_entry(name="民政草稿"))
    home = as_user("police_manager").get("/")
    drafts = row_texts(panel_html(home.text, "drafts"))
    assert [r.split()[0] for r in drafts] == [draft_code] and "户籍迁移信息" in drafts[0]
    assert "民政草稿" not in home.text  # another department's draft
    returned = row_texts(panel_html(home.text, "returned"))
    assert len(returned) == 1 and back_code in returned[0] and "共享条件未写明法律依据" in returned[0]
    incomplete = row_texts(panel_html(home.text, "incomplete"))
    assert any(r.startswith(published_code) and r.endswith("数据源") for r in incomplete), incomplete


def test_r08_competent_authority_sees_the_review_queue_with_submitter_and_its_areas_departments(
        db, world, as_user):
    with db.session() as s:
        manager = world.actors["police_manager"]
        waiting = catalog.create_entry(s, manager, population_entry(name="出入境证件信息"))
        catalog.submit_entry(s, manager, waiting.id)
        city = catalog.create_entry(s, world.actors["city_civil_manager"], population_entry(name="合肥低保信息"))
        catalog.submit_entry(s, world.actors["city_civil_manager"], city.id)
        entry = published_entry(s, world)
        late = submitted_request(s, world, entry=entry)
        s.execute(update(ShareRequest).where(ShareRequest.id == late.id)
                  .values(reply_due=local_today(s) - timedelta(days=3)))
    province = as_user("reviewer").get("/")
    queue = row_texts(panel_html(province.text, "review-queue"))
    assert any("出入境证件信息" in r and "省公安厅" in r and "police_manager" in r for r in queue), queue
    overview = row_texts(panel_html(province.text, "departments"))
    police = next(r for r in overview if r.startswith("省公安厅"))
    # 部门 层级 目录 已发布 发布率 收到申请 已答复 按时答复率 当前逾期
    assert police.split()[1:9] == ["省级", "2", "1", "50%", "1", "0", "—", "1"], police
    assert police.endswith("已逾期")
    assert 'id="chart-data-departments"' in province.text
    city_page = as_user("city_reviewer").get("/")
    city_queue = row_texts(panel_html(city_page.text, "review-queue"))
    assert any("合肥低保信息" in r for r in city_queue) and not any("出入境证件信息" in r for r in city_queue)
    assert not any(r.startswith("省公安厅") for r in row_texts(panel_html(city_page.text, "departments")))
    assert panel_html(as_user("other_reviewer").get("/").text, "review-queue").count("<tr") == 0


def test_r12_auditor_sees_the_chain_and_the_anomalies_and_reads_the_whole_node(db, world, as_user):
    home = as_user("auditor").get("/")
    text = visible_text(home)
    assert "使用记录链" in text and "最近签名检查点" in text
    assert panel_html(home.text, "anomalies") and panel_html(home.text, "departments")
    assert "江西省数据局" in panel_html(home.text, "departments")  # the whole node, not one area
    assert panel_html(home.text, "connections") == ""  # the admin's work, not the auditor's


def test_reviewer_lists_open_on_the_incoming_tab_and_the_grant_link_reaches_the_right_one(db, world, as_user):
    with db.session() as s:
        request = submitted_request(s, world)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        request_id = request.id
    reviewer = as_user("police_reviewer")
    assert 'aria-current="page">待我答复</a>' in reviewer.get("/sharing/requests").text
    grants = reviewer.get("/sharing/grants")
    assert 'aria-current="page">本部门提供的</a>' in grants.text and "人口基本信息" in grants.text
    detail = reviewer.get(f"/sharing/requests/{request_id}")
    assert 'href="/sharing/grants?box=incoming#grant-' in detail.text
    requester = as_user("civil_requester")
    assert 'aria-current="page">我发起的</a>' in requester.get("/sharing/requests").text
    assert 'href="/sharing/grants?box=outgoing#grant-' in requester.get(f"/sharing/requests/{request_id}").text


def test_r05_a_revision_for_a_change_of_law_shows_its_deadline_to_the_manager_and_the_authority(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        effective = local_today(s) - timedelta(days=60)  # long past: the deadline has gone by
        catalog.propose_revision(s, world.actors["police_manager"], entry.id, population_entry(abstract="新摘要"),
                                 "《户口登记条例》修订", due_to_law_change=True, law_change_basis="户口登记条例",
                                 law_effective_date=effective)
        plain = published_entry(s, world, name="出生医学证明信息")
        catalog.propose_revision(s, world.actors["police_manager"], plain.id,
                                 population_entry(name="出生医学证明信息", abstract="补充说明"), "补充摘要")
    manager = row_texts(panel_html(as_user("police_manager").get("/").text, "pending-revisions"))
    assert len(manager) == 2
    law = next(r for r in manager if "《户口登记条例》修订" in r)
    assert "已逾期" in law and law.endswith("已逾期")
    assert next(r for r in manager if "补充摘要" in r).split()[-1] == "—"
    queue = row_texts(panel_html(as_user("reviewer").get("/").text, "review-queue"))
    assert sum(r.startswith("修订") for r in queue) == 2 and any(r.endswith("已逾期") for r in queue)
    assert not row_texts(panel_html(as_user("other_reviewer").get("/").text, "review-queue"))
    review = visible_text(as_user("reviewer").get("/review"))
    assert "《户口登记条例》修订" in review and "补充摘要" in review


def test_r13_objection_panels_show_each_side_its_objections_and_the_authority_the_late_ones(db, world, as_user):
    """The provider's reviewers and catalog managers see the objections awaiting their answer (the late one marked),
    the requester the ones it filed with their state, the competent authority of the area the late ones (R13); the
    departments overview counts each provider's objections received, answered on time, corrected and late (R19)."""
    from govshare.objections import service as objections
    from govshare.objections.models import Objection
    from tests.objection_factories import filed, granted

    with db.session() as s:
        grant_id = granted(s, world)
        waiting, late, answered = (filed(s, world, grant_id, key=f"34010419800101{n:04d}") for n in (11, 22, 33))
        objections.answer_objection(s, world.actors["police_reviewer"], answered, "corrected", "已更正出生日期")
        today = local_today(s)
        s.execute(update(Objection).where(Objection.id == late).values(due=today - timedelta(days=3)))
        assert objections.mark_overdue(s, today) == 1

    def rows(username: str, key: str) -> list[str]:
        return row_texts(panel_html(as_user(username).get("/").text, key))

    for username in ("police_reviewer", "police_manager"):
        due = rows(username, "objections-due")
        assert [r.split()[0] for r in due] == [f"#{late}", f"#{waiting}"], due  # the nearest due day first
        assert "340104198001010022" in due[0] and "省民政厅" in due[0] and "已逾期" in due[0], due
    assert rows("civil_manager", "objections-due") == [] and rows("city_civil_manager", "objections-due") == []
    assert panel_html(as_user("civil_requester").get("/").text, "objections-due") == ""

    mine = rows("civil_requester", "my-objections")
    assert [r.split()[0] for r in mine] == [f"#{late}", f"#{waiting}", f"#{answered}"], mine  # the open ones first
    assert "待核实" in mine[0] and "已更正" in mine[2] and "已更正出生日期" in mine[2], mine
    assert panel_html(as_user("police_reviewer").get("/").text, "my-objections") == ""

    late_rows = rows("reviewer", "late-objections")
    assert [r.split()[0] for r in late_rows] == [f"#{late}"] and "省公安厅" in late_rows[0], late_rows
    assert rows("city_reviewer", "late-objections") == [] and rows("other_reviewer", "late-objections") == []

    police = next(r for r in rows("reviewer", "departments") if r.startswith("省公安厅"))
    # … 收到核实 核实按时率 已更正 核实逾期 (then the overdue mark)
    assert police.split()[-5:] == ["3", "100%", "1", "1", "已逾期"], police
