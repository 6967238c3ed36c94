"""Demand list (需求清单, R20), SCENARIOS §8: 医保局 posts "需要核验申请人是否为低保对象"; the platform suggests
民政 · 低保对象信息 when it is cataloged, else routes the demand to 民政厅, who answers with a date within the
cataloging deadline (15 working days) or a reason, and links the new entry once published. Matching is tested
with the search index and with the SQL fallback used when a node has no index."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from govshare.authz import Actor
from govshare.catalog import service as catalog
from govshare.catalog.schemas import ItemIn
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.demands import jobs as demand_jobs
from govshare.demands import service as demands
from govshare.demands.vocab import DemandStatus
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.notify.models import Notification
from govshare.orgs import service as orgs
from govshare.search import index as search_index
from govshare.workdays import service as workdays
from tests.factories import PASSWORD, SYSTEM, make_uscc, population_entry, published_entry

NEED = "需要核验申请人是否为低保对象"


@pytest.fixture(params=["index", "sql"])
def matching(request, db, settings):
    """Matching through the search index (attached as create_app does), or the SQL fallback (none attached)."""
    if request.param == "index":
        search_index.registry.attach(db.url, settings.resolved_index_dir)
        yield "index"
        search_index.registry.detach(db.url)
    else:
        yield "sql"


@pytest.fixture
def medical(db, world):
    """省医疗保障局, the requester of SCENARIOS §8, with a requester and a catalog manager."""
    with db.session() as s:
        department = orgs.create_department(s, SYSTEM, name="省医疗保障局", level="provincial", region_code="340000",
                                            uscc_code=make_uscc(50))
        world.ids["medical"] = department.id
        for key, role in (("medical_requester", "requester"), ("medical_manager", "catalog_manager")):
            user = orgs.create_user(s, SYSTEM, username=key, password=PASSWORD, role=role,
                                    department_id=department.id)
            world.ids[f"user:{key}"] = user.id
            world.tokens[key] = orgs.login(s, key, PASSWORD, session_hours=1)
            world.actors[key] = Actor.from_user(user)
    return world


def _item(name: str, chinese_name: str, **kw) -> ItemIn:
    return ItemIn(name=name, chinese_name=chinese_name, data_type="string", grade="一般3", **kw)


LOW_INCOME = dict(
    name="低保对象信息", abstract="全省最低生活保障对象的认定和救助信息", theme="社会救助",
    share_condition="仅限社会救助资格审核使用", source_system="社会救助信息系统",
    items=[_item("sfzh", "身份证号", personal_info="pi"), _item("bzlb", "保障类别"), _item("rdrq", "认定日期")],
)
MARRIAGE = dict(
    name="婚姻登记信息", abstract="结婚、离婚和补发登记记录，可用于低保家庭成员核对", theme="民政服务",
    share_condition="仅限核验婚姻状况使用", source_system="婚姻登记系统",
    items=[_item("nfsfzh", "男方身份证号", personal_info="pi"), _item("djlx", "登记类型")],
)


def _publish(db, world, manager: str, fields: dict) -> int:
    with db.session() as s:
        return published_entry(s, world, manager, **fields).id


def _post(db, world, title: str = NEED, who: str = "medical_requester", **kw):
    with db.session() as s:
        demand = demands.post_demand(s, world.actors[who], title, **kw)
        return demand.id, demands.view(s, world.actors[who], demand)


def _demand(db, world, demand_id: int, who: str = "admin"):
    with db.session() as s:
        return demands.get_demand(s, world.actors[who], demand_id)


def _notified(db, world, who: str, event: str) -> list[Notification]:
    with db.session() as s:
        return list(s.scalars(select(Notification).where(Notification.user_id == world.ids[f"user:{who}"],
                                                         Notification.event == event)))


def _routed(db, world) -> int:
    """A demand routed to 省民政厅 (its 婚姻登记信息 mentions 低保; nothing names it)."""
    _publish(db, world, "civil_manager", MARRIAGE)
    demand_id, view = _post(db, world)
    assert view["status"] == DemandStatus.ROUTED
    return demand_id


def _fulfil_limit(db) -> workdays.Deadline:
    with db.session() as s:
        return workdays.deadline(s, workdays.local_today(s), settings_of(s).demand_working_days)


def _answer(db, world, demand_id: int, who: str = "civil_manager", **kw):
    with db.session() as s:
        return demands.answer_demand(s, world.actors[who], demand_id, **kw)


# ---------------------------------------------------------------- matching and routing


def test_r20_cataloged_entry_is_suggested_first(db, medical, matching):
    world = medical
    low_income = _publish(db, world, "civil_manager", LOW_INCOME)
    family = _publish(db, world, "city_civil_manager", dict(LOW_INCOME, name="低保家庭收入信息",
                                                            abstract="城市低保家庭的收入核定记录"))
    marriage = _publish(db, world, "civil_manager", MARRIAGE)
    population = _publish(db, world, "police_manager", {})
    own = _publish(db, world, "medical_manager", dict(LOW_INCOME, name="医保低保对象参保信息"))
    with db.session() as s:  # the index path really runs on the index (its after-commit upkeep indexed all five)
        assert (demands.search_index_dir(s) is not None) == (matching == "index")
    _, view = _post(db, world)
    assert view["status"] == DemandStatus.OPEN and view["provider_id"] is None
    ranked = [s["entry_id"] for s in view["suggestions"]]
    assert ranked[0] == low_income  # names both 低保 and 对象
    assert family in ranked
    assert own not in ranked  # the requester's own entries are never suggested
    assert marriage not in ranked and population not in ranked  # mentions 低保 only in passing / not at all
    first = view["suggestions"][0]
    assert (first["rank"], first["name"], first["provider"]) == (1, "低保对象信息", "省民政厅")
    assert first["resource_code"] and first["score"] > 0
    assert _notified(db, world, "medical_requester", "demand.suggested")
    assert not _notified(db, world, "civil_manager", "demand.routed")


def test_r20_unmet_demand_is_routed_to_the_likely_provider(db, medical, matching):
    world = medical
    _publish(db, world, "police_manager", {})  # 人口基本信息: nothing about 低保
    _publish(db, world, "civil_manager", MARRIAGE)
    _, view = _post(db, world)
    assert view["suggestions"] == []
    assert view["status"] == DemandStatus.ROUTED and view["provider"] == "省民政厅"
    assert view["routed_automatically"] is True
    with db.session() as s:
        expected = workdays.deadline(s, workdays.local_today(s), settings_of(s).reply_working_days)
    assert view["answer_due"] == expected.due
    assert _notified(db, world, "civil_manager", "demand.routed")  # the provider hears of it
    assert _notified(db, world, "medical_requester", "demand.routed")
    assert not _notified(db, world, "police_manager", "demand.routed")


def test_r20_requester_routes_when_nothing_fits(db, medical, matching):
    world = medical
    low_income = _publish(db, world, "civil_manager", LOW_INCOME)
    demand_id, view = _post(db, world)
    assert [s["entry_id"] for s in view["suggestions"]] == [low_income]
    with db.session() as s:  # the requester says none fits: the likely provider is 民政
        demand = demands.route_demand(s, world.actors["medical_requester"], demand_id)
        assert (demand.status, demand.provider_id) == (DemandStatus.ROUTED, world.ids["civil"])
    other_id, other = _post(db, world, "需要企业纳税信用等级")  # nobody catalogs anything like it
    assert other["status"] == DemandStatus.OPEN and other["suggestions"] == []
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        demands.route_demand(s, world.actors["medical_requester"], other_id)
    assert refused.value.field == "provider_id"
    with db.session() as s:
        demand = demands.route_demand(s, world.actors["medical_requester"], other_id, world.ids["police"])
        assert demand.provider_id == world.ids["police"] and demand.routed_automatically is False
    with db.session() as s, pytest.raises(ValidationFailed) as own:
        demands.post_demand(s, world.actors["medical_requester"], NEED, provider_id=world.ids["medical"])
    assert own.value.field == "provider_id"


def test_r20_routing_follows_the_top_suggestion_to_its_provider(db, medical, matching):
    """A provincial requester's demand whose best suggestion is 省民政厅's entry goes to 省民政厅, even when
    合肥市民政局 (same kind of department, another level) has more related entries in total: the city department
    cannot see a provincial requester's demand, and the requester was shown the provincial entry."""
    world = medical
    low_income = _publish(db, world, "civil_manager", LOW_INCOME)
    for name in ("低保家庭收入信息", "低保边缘家庭信息", "低保救助金发放信息", "低保年度复核信息"):
        _publish(db, world, "city_civil_manager", dict(LOW_INCOME, name=name, abstract=f"合肥市低保对象的{name}"))
    demand_id, view = _post(db, world)
    assert view["status"] == DemandStatus.OPEN
    assert view["suggestions"][0]["entry_id"] == low_income
    assert view["suggestions"][0]["provider_id"] == world.ids["civil"]
    with db.session() as s:  # the city department's entries add up to more: not what routing follows
        result = demands.match_demand(s, NEED, {world.ids["medical"]})
        assert demands.likely_provider(result.suggestions) == world.ids["city_civil"]
        assert result.provider_id == world.ids["civil"]
    with db.session() as s:  # none fits: the requester lets the platform route it
        demand = demands.route_demand(s, world.actors["medical_requester"], demand_id)
        assert (demand.status, demand.provider_id) == (DemandStatus.ROUTED, world.ids["civil"])
        assert demand.routed_automatically is True
    with db.session() as s:  # the provincial provider sees it, answers it; the city department does not see it
        shown = demands.view(s, world.actors["civil_manager"], demands.get_demand(s, world.actors["civil_manager"],
                                                                                  demand_id))
        assert (shown["provider"], shown["status"]) == ("省民政厅", DemandStatus.ROUTED)
        assert [d.id for d in demands.list_demands(s, world.actors["civil_manager"], box="incoming")] == [demand_id]
        with pytest.raises(NotFound):
            demands.get_demand(s, world.actors["city_civil_manager"], demand_id)
        assert demands.list_demands(s, world.actors["city_civil_manager"]) == []
    assert _notified(db, world, "civil_manager", "demand.routed")
    assert not _notified(db, world, "city_civil_manager", "demand.routed")


def test_r20_accepting_a_suggestion_matches_the_demand(db, medical):
    world = medical
    low_income = _publish(db, world, "civil_manager", LOW_INCOME)
    demand_id, _ = _post(db, world)
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="低保人员草稿"))
    with db.session() as s, pytest.raises(NotFound):  # another department's draft is not even visible
        demands.accept_suggestion(s, world.actors["medical_requester"], demand_id, draft.id)
    with db.session() as s, pytest.raises(Forbidden):  # the authority sees the demand but does not decide
        demands.accept_suggestion(s, world.actors["reviewer"], demand_id, low_income)
    with db.session() as s, pytest.raises(NotFound):  # an open demand is not shown to other departments
        demands.accept_suggestion(s, world.actors["civil_manager"], demand_id, low_income)
    with db.session() as s:
        demand = demands.accept_suggestion(s, world.actors["medical_requester"], demand_id, low_income)
        assert (demand.status, demand.entry_id) == (DemandStatus.MATCHED, low_income)
    assert _notified(db, world, "civil_manager", "demand.matched")  # the entry's provider expects a request


# ---------------------------------------------------------------- the provider's answer


def test_r20_provider_answers_with_a_date_within_15_working_days(db, medical):
    world = medical
    demand_id = _routed(db, world)
    limit = _fulfil_limit(db)
    with pytest.raises(ValidationFailed) as late:
        _answer(db, world, demand_id, accept=True, planned_date=limit.due + timedelta(days=1))
    assert late.value.field == "planned_date" and "15 个工作日" in late.value.message
    with pytest.raises(ValidationFailed) as missing:
        _answer(db, world, demand_id, accept=True)
    assert missing.value.field == "planned_date"
    demand = _answer(db, world, demand_id, accept=True, planned_date=limit.due, reason="已在整理低保对象目录")
    assert demand.status == DemandStatus.ACCEPTED and demand.accepted is True
    assert (demand.planned_date, demand.fulfil_due) == (limit.due, limit.due)
    assert demand.answered_by_id == world.ids["user:civil_manager"]
    assert _notified(db, world, "medical_requester", "demand.answered")
    with pytest.raises(Conflict):  # answered once
        _answer(db, world, demand_id, accept=False, reason="改变主意")


def test_r20_cataloging_deadline_is_a_setting(db, medical):
    world = medical
    demand_id = _routed(db, world)
    with db.session() as s:
        s.info["settings"] = settings_of(s).model_copy(update={"demand_working_days": 3})
        limit = workdays.deadline(s, workdays.local_today(s), 3)
        with pytest.raises(ValidationFailed) as late:
            demands.answer_demand(s, world.actors["civil_manager"], demand_id, True, limit.due + timedelta(days=1))
        assert "3 个工作日" in late.value.message


def test_r20_decline_needs_a_reason(db, medical):
    world = medical
    demand_id = _routed(db, world)
    with pytest.raises(ValidationFailed) as refused:
        _answer(db, world, demand_id, accept=False, reason="  ")
    assert refused.value.field == "reason"
    demand = _answer(db, world, demand_id, who="civil_manager", accept=False, reason="本厅不掌握低保对象名单以外的数据")
    assert demand.status == DemandStatus.DECLINED and demand.answer.startswith("本厅")
    assert _notified(db, world, "medical_requester", "demand.answered")
    with db.session() as s:  # after a refusal, the requester may turn to another department
        demand = demands.route_demand(s, world.actors["medical_requester"], demand_id, world.ids["police"])
        assert demand.status == DemandStatus.ROUTED and demand.answer == "" and demand.accepted is None


def test_r20_linking_the_published_entry_fulfils_and_notifies(db, medical):
    world = medical
    demand_id = _routed(db, world)
    _answer(db, world, demand_id, accept=True, planned_date=_fulfil_limit(db).due)
    with db.session() as s:
        draft = catalog.create_entry(s, world.actors["civil_manager"], population_entry(**LOW_INCOME))
    with db.session() as s, pytest.raises(ValidationFailed) as unpublished:
        demands.link_entry(s, world.actors["civil_manager"], demand_id, draft.id)
    assert unpublished.value.field == "entry_id" and "发布" in unpublished.value.message
    police_entry = _publish(db, world, "police_manager", {})
    with db.session() as s, pytest.raises(Forbidden):  # another department's entry
        demands.link_entry(s, world.actors["civil_manager"], demand_id, police_entry)
    with db.session() as s, pytest.raises(Forbidden):  # a catalog manager of the requester is not the provider
        demands.link_entry(s, world.actors["medical_manager"], demand_id, police_entry)
    with db.session() as s:
        catalog.submit_entry(s, world.actors["civil_manager"], draft.id)
        catalog.publish_entry(s, world.actors["reviewer"], draft.id)
    with db.session() as s:
        demand = demands.link_entry(s, world.actors["civil_manager"], demand_id, draft.id)
        assert (demand.status, demand.entry_id) == (DemandStatus.FULFILLED, draft.id)
        assert demand.fulfilled_at is not None
    [note] = _notified(db, world, "medical_requester", "demand.fulfilled")
    assert "低保对象信息" in note.title


def test_r20_overdue_job_marks_and_notifies_once(db, medical):
    world = medical
    unanswered = _routed(db, world)
    accepted, _ = _post(db, world, "需要婚姻登记信息中的登记类型")
    with db.session() as s:
        demands.route_demand(s, world.actors["medical_requester"], accepted, world.ids["civil"])
    _answer(db, world, accepted, accept=True, planned_date=_fulfil_limit(db).due)
    assert demand_jobs.run(db, utcnow()) == {"answer_overdue": 0, "fulfil_overdue": 0}  # nothing due yet
    later = utcnow() + timedelta(days=60)
    assert demand_jobs.run(db, later) == {"answer_overdue": 1, "fulfil_overdue": 1}
    assert _demand(db, world, unanswered).overdue_at == later
    assert _demand(db, world, accepted).overdue_at == later
    assert len(_notified(db, world, "civil_manager", "demand.overdue")) == 2
    assert len(_notified(db, world, "medical_requester", "demand.overdue")) == 2
    assert demand_jobs.run(db, later + timedelta(days=1)) == {"answer_overdue": 0, "fulfil_overdue": 0}
    assert len(_notified(db, world, "medical_requester", "demand.overdue")) == 2  # told once


def test_r20_withdraw_by_the_requester_only_saying_why(db, medical):
    world = medical
    demand_id = _routed(db, world)
    with db.session() as s, pytest.raises(Forbidden):
        demands.withdraw_demand(s, world.actors["civil_manager"], demand_id, "不需要了")
    for blank in ("", "   "):
        with db.session() as s, pytest.raises(ValidationFailed) as refused:
            demands.withdraw_demand(s, world.actors["medical_requester"], demand_id, blank)
        assert refused.value.field == "reason"
    with db.session() as s, pytest.raises(ValidationFailed) as too_long:
        demands.withdraw_demand(s, world.actors["medical_requester"], demand_id, "理" * 2001)
    assert too_long.value.field == "reason" and "2000" in too_long.value.message
    assert _demand(db, world, demand_id).status == DemandStatus.ROUTED  # nothing changed by the refusals
    with db.session() as s:
        withdrawn = demands.withdraw_demand(s, world.actors["medical_requester"], demand_id, "  已由医保局自行采集  ")
        assert (withdrawn.status, withdrawn.withdraw_reason) == (DemandStatus.WITHDRAWN, "已由医保局自行采集")
    told = _notified(db, world, "civil_manager", "demand.withdrawn")
    assert told and told[0].body == "已由医保局自行采集"  # the provider reads why
    with pytest.raises(Conflict):  # a withdrawn demand is not answered
        _answer(db, world, demand_id, accept=False, reason="不需要了")


# ---------------------------------------------------------------- who may do and see what


def test_r20_other_departments_cannot_see_or_answer(db, medical):
    world = medical
    demand_id = _routed(db, world)
    # other departments, and authorities whose area does not cover either party (city, another province)
    for who in ("police_manager", "police_reviewer", "city_civil_manager", "city_reviewer", "other_reviewer"):
        with db.session() as s:
            assert demands.list_demands(s, world.actors[who]) == []
            with pytest.raises(NotFound):
                demands.get_demand(s, world.actors[who], demand_id)
    with pytest.raises(NotFound):
        _answer(db, world, demand_id, who="police_reviewer", accept=True, planned_date=_fulfil_limit(db).due)
    for who in ("medical_requester", "civil_manager", "civil_requester", "reviewer", "auditor", "admin"):
        # both parties, the competent authority of the area, admins and auditors
        with db.session() as s:
            assert [d.id for d in demands.list_demands(s, world.actors[who])] == [demand_id], who
    with db.session() as s:
        assert [d.id for d in demands.list_demands(s, world.actors["civil_manager"], box="incoming")] == [demand_id]
        assert demands.list_demands(s, world.actors["civil_manager"], box="mine") == []


def test_r20_requester_cannot_answer_its_own_demand(db, medical):
    world = medical
    demand_id = _routed(db, world)
    for who in ("medical_requester", "medical_manager", "civil_requester"):  # requester side; provider's requester
        with pytest.raises(Forbidden):
            _answer(db, world, demand_id, who=who, accept=True, planned_date=_fulfil_limit(db).due)
    assert _demand(db, world, demand_id).status == DemandStatus.ROUTED


def test_r20_auditor_and_reviewers_cannot_post(db, medical):
    world = medical
    for who in ("auditor", "reviewer", "police_reviewer"):
        with db.session() as s, pytest.raises(Forbidden):
            demands.post_demand(s, world.actors[who], NEED)


def test_r20_estimated_deadline_shows_the_warning(db, medical):
    world = medical
    demand_id = _routed(db, world)
    with db.session() as s:
        demand = demands.get_demand(s, world.actors["admin"], demand_id)
        assert demands.view(s, world.actors["admin"], demand)["answer_due_warning"] is None
        demand.answer_due_estimated = True
        assert demands.view(s, world.actors["admin"], demand)["answer_due_warning"] == workdays.ESTIMATE_WARNING


# ---------------------------------------------------------------- API and CLI


def test_r20_api_flow(client, db, medical):
    world = medical
    _publish(db, world, "civil_manager", MARRIAGE)
    assert client.post("/api/v1/demands", json={"title": NEED}).status_code == 401
    assert client.get("/api/v1/demands").status_code == 401
    posted = client.post("/api/v1/demands", json={"title": NEED}, headers=world.headers("medical_requester"))
    assert posted.status_code == 201, posted.text
    body = posted.json()
    assert body["status"] == "routed" and body["provider"] == "省民政厅" and body["answer_due"]
    demand_id = body["id"]
    url = f"/api/v1/demands/{demand_id}"
    assert client.get(url, headers=world.headers("police_manager")).status_code == 404
    assert client.get(url, headers=world.headers("civil_manager")).json()["title"] == NEED
    too_late = (_fulfil_limit(db).due + timedelta(days=1)).isoformat()
    refused = client.post(f"{url}/answer", json={"accept": True, "planned_date": too_late},
                          headers=world.headers("civil_manager"))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "planned_date"
    forbidden = client.post(f"{url}/answer", json={"accept": False, "reason": "x"},
                            headers=world.headers("medical_requester"))
    assert forbidden.status_code == 403
    answered = client.post(f"{url}/answer", json={"accept": True, "planned_date": _fulfil_limit(db).due.isoformat()},
                           headers=world.headers("civil_manager"))
    assert answered.status_code == 200 and answered.json()["status"] == "accepted"
    low_income = _publish(db, world, "civil_manager", LOW_INCOME)
    linked = client.post(f"{url}/link", json={"entry_id": low_income}, headers=world.headers("civil_manager"))
    assert linked.status_code == 200, linked.text
    assert (linked.json()["status"], linked.json()["entry_name"]) == ("fulfilled", "低保对象信息")
    # with 低保对象信息 published (and indexed after its commit), a new demand gets it as a suggestion
    again = client.post("/api/v1/demands", json={"title": NEED}, headers=world.headers("medical_requester")).json()
    assert again["status"] == "open" and again["suggestions"][0]["entry_id"] == low_income
    assert again["suggestions"][0]["provider"] == "省民政厅"
    listed = client.get("/api/v1/demands?box=mine", headers=world.headers("medical_requester")).json()
    assert {d["id"] for d in listed} == {demand_id, again["id"]}
    assert listed[0]["suggestions"][0]["rank"] == 1
    unexplained = client.post(f"/api/v1/demands/{again['id']}/withdraw", json={},
                              headers=world.headers("medical_requester"))
    assert unexplained.status_code == 422 and unexplained.json()["error"]["field"] == "reason"
    withdrawn = client.post(f"/api/v1/demands/{again['id']}/withdraw", json={"reason": "已找到现有目录"},
                            headers=world.headers("medical_requester")).json()
    assert (withdrawn["status"], withdrawn["withdraw_reason"]) == ("withdrawn", "已找到现有目录")
    assert client.post("/api/v1/demands", json={"title": NEED},
                       headers=world.headers("auditor")).status_code == 403


def test_r20_cli_post_answer_link(db, medical, settings, monkeypatch):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    world = medical
    _publish(db, world, "civil_manager", MARRIAGE)
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        posted = runner.invoke(app, ["demand", "post", NEED, "--user", "medical_requester"])
        assert posted.exit_code == 0, posted.output
        assert "已转提供部门" in posted.output and "省民政厅" in posted.output
        with db.session() as s:
            [demand] = demands.list_demands(s, world.actors["admin"])
        refused = runner.invoke(app, ["demand", "answer", str(demand.id), "--decline", "--user", "civil_manager"])
        assert refused.exit_code == 2 and "理由" in refused.output
        answered = runner.invoke(app, ["demand", "answer", str(demand.id), "--accept", "--planned-date",
                                       _fulfil_limit(db).due.isoformat(), "--user", "civil_manager"])
        assert answered.exit_code == 0 and "提供部门已承诺编目" in answered.output, answered.output
        entry = _publish(db, world, "civil_manager", LOW_INCOME)
        linked = runner.invoke(app, ["demand", "link", str(demand.id), str(entry), "--user", "civil_manager"])
        assert linked.exit_code == 0 and "已编目发布" in linked.output, linked.output
        listed = runner.invoke(app, ["demand", "list", "--user", "police_manager"])
        assert listed.exit_code == 0 and NEED not in listed.output
    finally:
        get_settings.cache_clear()
