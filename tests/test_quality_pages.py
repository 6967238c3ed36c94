"""数据质量 pages (R14): the provider confirms proposals, adds and removes rules and runs them on the entry's quality
page; every other reader sees the scores, the masked failures and the rules, and no form; another department's
post is refused and changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from govshare.gateway import connect
from govshare.quality.models import QualityRule, QualityRun
from govshare.web.quality_pages import NOTICES
from tests.test_page_actions import page_form, post_form
from tests.test_sources import csv_bytes, resident_entry, residents
from tests.web_helpers import visible_text

# Enumerated in tests/test_web.py's check of every page write route; the auditor's and a logged-out visitor's
# refusals are proved below.
QUALITY_PAGE_WRITE_ROUTES = {("POST", f"/catalog/{{entry_id}}/quality/{suffix}")
                             for suffix in ("run", "propose", "confirm", "rules", "rules/{rule_id}/remove")}


def _served(db, world, rows) -> int:
    with db.session() as s:
        entry = resident_entry(s, world)
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(rows), "人口.csv", "gmsfhm")
        return entry.id


def _rules(db, entry_id: int) -> list[QualityRule]:
    with db.session() as s:
        return list(s.scalars(select(QualityRule).where(QualityRule.entry_id == entry_id).order_by(QualityRule.id)))


def _runs(db, entry_id: int) -> list[QualityRun]:
    with db.session() as s:
        return list(s.scalars(select(QualityRun).where(QualityRun.entry_id == entry_id).order_by(QualityRun.id)))


def _done(response, entry_id: int, notice: str) -> str:
    assert [r.status_code for r in response.history] == [303], response.text[:500]
    assert response.history[0].headers["location"] == f"/catalog/{entry_id}/quality?notice={notice}"
    text = visible_text(response)
    assert NOTICES[notice] in text
    return text


def test_r14_the_provider_confirms_adds_runs_and_removes_rules_on_the_quality_page(db, world, as_user):
    rows = residents(20)
    rows[4]["出生日期"] = "1901-01-01"  # disagrees with its ID number
    entry_id = _served(db, world, rows)
    url = f"/catalog/{entry_id}/quality"
    client = as_user("police_manager")
    page = client.get(url)
    assert page.status_code == 200 and "待确认" in visible_text(page) and "尚未检查" in visible_text(page)

    proposed = [r.id for r in _rules(db, entry_id)]
    _done(post_form(client, url, f"{url}/confirm"), entry_id, "confirmed")  # every proposal is ticked
    assert all(r.confirmed_at is not None for r in _rules(db, entry_id)) and proposed

    refused = client.post(f"{url}/rules", data=page_form(client.get(url).text, f"{url}/rules")
                          | {"kind": ["range"], "item": ["csrq"], "min": ["去年"]})
    assert refused.status_code == 422 and "或日期（YYYY-MM-DD）" in visible_text(refused)
    assert len(_rules(db, entry_id)) == len(proposed)  # nothing stored

    _done(post_form(client, url, f"{url}/rules", kind="range", item="csrq", min="1950-01-01"), entry_id, "added")
    added = _rules(db, entry_id)[-1]
    assert (added.kind, added.item, added.params, added.origin) == ("range", "csrq", {"min": "1950-01-01"},
                                                                    "declared")

    text = _done(post_form(client, url, f"{url}/run"), entry_id, "ran")
    [run] = _runs(db, entry_id)
    birth = next(r for r in run.results if r["kind"] == "birth_matches_id")
    key = rows[4]["公民身份号码"]
    assert birth["failed"] == 1 and birth["samples"] == [key[:6] + "*" * 8 + key[-4:]]
    assert birth["samples"][0] in text and key not in text  # masked as the gateway masks it
    assert f"{run.overall:.1f}" in text and "出生日期与身份证号一致" in text

    _done(post_form(client, url, f"{url}/rules/{added.id}/remove"), entry_id, "removed")
    assert added.id not in [r.id for r in _rules(db, entry_id)]
    for rule in _rules(db, entry_id)[:1]:
        with db.session() as s:
            s.delete(s.get(QualityRule, rule.id))
    _done(post_form(client, url, f"{url}/propose"), entry_id, "proposed")
    assert len(_rules(db, entry_id)) == len(proposed)  # the removed proposal is proposed again

    detail = visible_text(client.get(f"/catalog/{entry_id}"))
    assert f"总体得分 {run.overall:.1f}" in detail and "查看质量报告与规则" in detail


def test_r14_other_readers_see_the_report_without_forms_and_their_posts_change_nothing(db, world, as_user, client):
    """Another department's requester and manager and the auditor read the report but are shown no form, and their
    posts are refused; a logged-out visitor is sent to the login form. Nothing changes."""
    entry_id = _served(db, world, residents(12))
    url = f"/catalog/{entry_id}/quality"
    owner = as_user("police_manager")
    post_form(owner, url, f"{url}/confirm")
    post_form(owner, url, f"{url}/run")
    before = ([(r.id, r.confirmed_at) for r in _rules(db, entry_id)], [r.id for r in _runs(db, entry_id)])
    for who in ("civil_requester", "civil_manager", "auditor"):
        client = as_user(who)
        page = client.get(url)
        assert page.status_code == 200 and "最近一次检查" in visible_text(page)
        assert f"{url}/run" not in page.text and f"{url}/rules" not in page.text, who
        csrf = page_form(page.text, "/logout")["csrf_token"]
        for action, data in ((f"{url}/run", {}), (f"{url}/confirm", {"rule_id": [str(before[0][0][0])]}),
                             (f"{url}/rules", {"kind": "required", "item": "xm"}),
                             (f"{url}/rules/{before[0][0][0]}/remove", {}), (f"{url}/propose", {})):
            refused = client.post(action, data={"csrf_token": csrf, **data})
            assert refused.status_code in (403, 404), (who, action, refused.status_code)
    client.cookies.clear()
    for _method, path in sorted(QUALITY_PAGE_WRITE_ROUTES):
        action = path.format(entry_id=entry_id, rule_id=before[0][0][0])
        response = client.post(action, data={}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), action
    after = ([(r.id, r.confirmed_at) for r in _rules(db, entry_id)], [r.id for r in _runs(db, entry_id)])
    assert after == before


def test_r14_search_shows_filters_and_sorts_by_the_last_quality_score(db, world, settings, as_user):
    """A run updates the search index after its commit: the catalog page shows each entry's score, keeps only
    those above a floor, and orders by score (entries never checked last); the API and its bad floor agree."""
    from govshare.search import index as search_index
    from tests.factories import published_entry

    rows = residents(10)
    rows[2]["出生日期"] = "1901-01-01"
    checked = _served(db, world, rows)
    with db.session() as s:
        unchecked = published_entry(s, world, name="出入境证件信息").id
        search_index.rebuild(s, settings.resolved_index_dir)
    client = as_user("police_manager")
    post_form(client, f"/catalog/{checked}/quality", f"/catalog/{checked}/quality/confirm")
    post_form(client, f"/catalog/{checked}/quality", f"/catalog/{checked}/quality/run")  # reindexed on commit
    [run] = _runs(db, checked)
    assert 0 < run.overall < 100

    reader = as_user("civil_requester")
    listed = reader.get("/catalog", params={"order": "quality"})
    text = visible_text(listed)
    assert f"{run.overall:.1f}" in text and text.index("人口基本信息") < text.index("出入境证件信息")
    floor = reader.get("/catalog", params={"quality": "60"})
    assert "人口基本信息" in visible_text(floor) and "出入境证件信息" not in visible_text(floor)
    above = reader.get("/catalog", params={"quality": f"{run.overall + 0.1:.1f}"})
    assert "人口基本信息" not in visible_text(above)
    assert reader.get("/catalog", params={"quality": "很好"}).status_code == 422

    api = client.get("/api/v1/catalog/search", params={"order": "quality"}).json()
    assert [hit["id"] for hit in api["hits"]][:2] == [checked, unchecked]
    assert api["hits"][0]["quality"] == run.overall and api["hits"][1]["quality"] is None
    for bad in ({"quality_min": "101"}, {"order": "random"}):
        refused = client.get("/api/v1/catalog/search", params=bad)
        assert refused.status_code == 422 and refused.json()["error"]["field"] in ("quality_min", "order"), bad
    overview = visible_text(as_user("reviewer").get("/workbench/departments"))  # the authority, per provider
    assert f"{run.overall:.1f}（1）" in overview
