"""SCENARIOS §7 end to end on the demo (R13), as the people do it in the browser's pages: 合肥市民政局 objected to
公安's 人口基本信息 listing a deceased resident as alive, with the death certificate; its verification of that
resident answers with 校核中 and is not refused; 省公安厅's reviewer finds the objection on the workbench, reads the
certificate, answers 已更正; the flag is gone. The overdue objection of the demo waits on the competent authority's
workbench."""

from __future__ import annotations

import re

import pytest

from govshare.demo import gateway_seed, objection_seed
from govshare.demo import seed as demo
from govshare.deps import CSRF_HEADER, SESSION_COOKIE, csrf_token

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded(db, settings):
    return demo.seed_demo(db, settings)


def _as(client, seeded, username: str):
    client.cookies.clear()
    response = client.post("/login", data={"username": username, "password": seeded.password, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    client.headers[CSRF_HEADER] = csrf_token(client.cookies[SESSION_COOKIE])
    return client


def _deceased_key() -> str:
    alive = [r for r in gateway_seed.residents() if r["SWBS"] == "0" and r["GMSFHM"].startswith("3401")]
    return alive[7]["GMSFHM"]


def _objection_id(page: str, key: str) -> int:
    row = next(r for r in page.split("<tr>") if key in r)
    return int(re.search(r'href="/objections/(\d+)"', row).group(1))


def _verify(client, grant_id: int, key: str) -> str:
    page = client.post("/data/verify", data={"grant": grant_id, "field_gmsfhm": key, "field_swbs": "0"})
    assert page.status_code == 200, page.text
    return page.text


def test_r13_scenario_7_a_deceased_resident_listed_alive_is_objected_flagged_and_corrected(client, seeded):
    key = _deceased_key()
    requester = _as(client, seeded, "hf_civil_requester")
    workbench = requester.get("/").text
    assert "本部门提出的数据核实" in workbench and key in workbench
    objection_id = _objection_id(workbench, key)
    detail = requester.get(f"/objections/{objection_id}").text
    assert objection_seed.DEATH_CERTIFICATE in detail and "校核中" in detail
    grant_id = int(re.search(r"共享授权 #(\d+)", detail).group(1))

    # meanwhile the record is verified as usual: the verdict is given, flagged 校核中, never refused
    verified = _verify(requester, grant_id, key)
    assert "核验结果：一致" in verified and "该记录正在校核中" in verified
    assert f'href="/objections/{objection_id}"' in verified

    reviewer = _as(client, seeded, "police_reviewer")
    assert key in reviewer.get("/").text  # 待本部门核实的数据核实
    certificate = reviewer.get(f"/objections/{objection_id}/evidence")
    assert certificate.status_code == 200 and certificate.content.startswith(b"%PDF")
    assert certificate.headers["content-type"] == "application/pdf"
    answered = reviewer.post(f"/objections/{objection_id}/answer", follow_redirects=False,
                             data={"answer": "corrected", "reason": "经核对户籍注销记录，已补录死亡标识并注销户口"})
    assert answered.status_code == 303, answered.text
    assert "已补录死亡标识" in reviewer.get(f"/objections/{objection_id}").text

    requester = _as(client, seeded, "hf_civil_requester")
    assert "该记录正在校核中" not in _verify(requester, grant_id, key)
    told = requester.get("/notifications").text
    assert "数据核实已答复（已更正）" in told


def test_r13_demo_overdue_objection_is_on_the_competent_authoritys_workbench(client, seeded):
    code = gateway_seed.enterprises()[gateway_seed.FUTURE_ESTABLISHMENT]["统一社会信用代码"]
    authority = _as(client, seeded, "data_authority")
    workbench = authority.get("/").text
    assert "逾期未答复的数据核实（辖区）" in workbench
    objection_id = _objection_id(authority.get("/workbench/late-objections").text, "企业登记信息")
    detail = authority.get(f"/objections/{objection_id}").text
    assert code in detail and "已逾期" in detail and "逾期未答复" in detail
    # the authority reads, the provider answers: no answer form for the authority
    assert "核实答复" not in detail
    refused = authority.post(f"/objections/{objection_id}/answer", data={"answer": "confirmed", "reason": "x"})
    assert refused.status_code == 403
