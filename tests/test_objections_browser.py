"""An objection (校核纠错, R13) through the UI only, in a real headless Chromium: 省民政厅's clerk objects to a
resident's birth date from its grant, with a scanned proof (a PNG); the preview shows the record 校核中 and still
serves it; 省公安厅's reviewer finds it on the workbench and answers 已更正; the flag is gone."""

from __future__ import annotations

import pytest

from tests import test_browser
from tests.gateway_factories import served_population
from tests.objection_factories import PNG
from tests.test_browser import CHROMIUM, _log_in

browser = test_browser.browser  # the fixture: Debian's Chromium driven by playwright

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]





def _preview_flags(page, live_server: str) -> list[str]:
    page.goto(f"{live_server}/sharing/grants")
    page.click("text=数据预览")
    page.wait_for_load_state()
    return page.locator("table.list tbody a.badge").all_inner_texts()


def test_r13_an_objection_is_filed_flagged_and_answered_through_the_ui_only(db, world, live_server, browser, tmp_path):
    with db.session() as s:
        served = served_population(s, world, tmp_path, count=12)
    key = served.rows[3]["GMSFHM"]
    proof = tmp_path / "户籍证明.png"
    proof.write_bytes(PNG)
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")

    _log_in(page, live_server, "civil_requester")
    page.goto(f"{live_server}/sharing/grants")
    page.click("text=提出数据核实")
    page.wait_for_load_state()
    page.fill("input[name=key]", key)
    page.check("input[name=items][value=csrq]")
    page.fill("input[name=claimed_csrq]", "1960-02-29")
    page.fill("textarea[name=evidence]", "申请人出示的出生医学证明与户籍登记的出生日期不一致")
    page.set_input_files("input[name=evidence_file]", str(proof))
    page.click("button:has-text('提交核实请求')")
    page.wait_for_load_state()
    assert "核实请求已提交" in page.locator(".notice").inner_text()
    objection_url = page.url.split("?")[0]
    assert "户籍证明.png" in page.locator("main").inner_text()

    assert _preview_flags(page, live_server) == ["校核中"]  # the record is served, flagged, with its row

    _log_in(page, live_server, "police_reviewer")
    assert key in page.locator("#panel-objections-due tbody").inner_text()
    page.click("#panel-objections-due tbody a")
    page.wait_for_load_state()
    assert page.url.split("?")[0] == objection_url
    page.check("input[name=answer][value=corrected]")
    page.fill("textarea[name=reason]", "经核对出生医学证明存根，已在人口信息管理系统中更正出生日期")
    page.click("button:has-text('提交答复')")
    page.wait_for_load_state()
    assert "答复已保存" in page.locator(".notice").inner_text()
    assert "已更正" in page.locator("h1").inner_text()

    _log_in(page, live_server, "civil_requester")
    assert _preview_flags(page, live_server) == []
    page.goto(objection_url)
    assert "已更正" in page.locator("main").inner_text()
    page.close()
