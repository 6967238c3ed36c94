"""The demo province (`govshare demo`): realistic departments, catalogs and one-source clusters (R02–R06, R17)."""

import pytest
from sqlalchemy import func, select
from stdnum.cn import uscc

from govshare.authz import Actor
from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, SourceCluster
from govshare.catalog.schemas import EntryIn
from govshare.catalog.vocab import Grade, ItemType, PersonalInfo
from govshare.demo import seed as demo
from govshare.orgs import service as orgs
from govshare.orgs.models import Department, Role, User

pytestmark = pytest.mark.slow  # the demo seed is the whole app: left out of mutation runs, which it would dominate

AUDITOR = Actor.system()


@pytest.fixture
def seeded(db, settings):
    return demo.seed_demo(db, settings)


def test_demo_organ_uscc_is_valid_and_carries_the_region():
    code = demo.organ_uscc("340100", 7)
    assert uscc.is_valid(code) and code.startswith("11340100")
    assert code[8:17] == demo.organization_code("00340007")  # the organization code inside the USCC
    # GB 11714 check characters worked by hand: weights 3 7 9 10 5 8 4 2, 11 − sum mod 11, 10 → X, 11 → 0
    assert demo.organization_code("12345678") == "123456788"  # sum 201, 201 mod 11 = 3
    assert demo.organization_code("00000006") == "00000006X"  # sum 12, 12 mod 11 = 1
    assert demo.organization_code("00000000") == "000000000"  # sum 0


def test_demo_departments_at_three_levels_with_valid_codes(db, seeded):
    assert seeded.created
    with db.session() as s:
        departments = s.scalars(select(Department)).all()
    assert len(departments) >= 8
    assert {d.level for d in departments} >= {"provincial", "municipal", "county"}
    assert all(uscc.is_valid(d.uscc) and d.uscc[:2] == "11" and d.uscc[2:8] == d.region_code for d in departments)
    assert {d.region_code for d in departments} == {"340000", "340100", "340104"}
    names = "".join(d.name for d in departments)
    for kind in ("公安", "民政", "人力资源和社会保障", "市场监督管理", "卫生健康", "自然资源", "税务", "教育"):
        assert kind in names
    authorities = {d.region_code for d in departments if d.is_competent_authority}
    assert authorities == {"340000", "340100"}


def test_demo_users_of_every_role_can_log_in(db, seeded):
    with db.session() as s:
        roles = set(s.scalars(select(User.role)))
        assert roles == {r.value for r in Role}
        token = orgs.login(s, "police_manager", demo.DEMO_PASSWORD, session_hours=1)
        manager = s.scalars(select(User).where(User.username == "police_manager")).one()
        assert orgs.authenticate(s, token).user_id == manager.id  # the demo password gives a working login
    assert ("data_authority", "主管部门审核员", "安徽省数据资源管理局") in seeded.users


def test_r03_r04_r17_every_demo_entry_is_valid(db, seeded):
    with db.session() as s:
        entries = s.scalars(select(CatalogEntry)).all()
        assert len(entries) >= 40
        for entry in entries:
            assert 4 <= len(entry.items) <= 10, entry.name
            catalog.validate_entry(EntryIn.model_validate(catalog.snapshot(entry)))
            for item in entry.items:
                assert ItemType.parse(item.data_type) and Grade.parse(item.grade)
                assert PersonalInfo.parse(item.personal_info)
        flags = {i.personal_info for e in entries for i in e.items}
        assert flags == {"none", "pi", "spi"}


def test_r04_statistics_entry_is_not_shared_with_its_legal_basis(db, seeded):
    with db.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "经济普查单位原始调查资料")).one()
        assert entry.share_type == "none" and entry.status == "published"
        assert "《中华人民共和国统计法》第二十八条" in entry.legal_basis


def test_r02_r05_demo_entries_in_several_states_with_history(db, seeded):
    assert set(seeded.entries_by_status) == {"draft", "submitted", "returned", "published"}
    with db.session() as s:
        population = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "人口基本信息")).one()
        assert population.version == 2 and "死亡标识" in [i.chinese_name for i in population.items]
        assert catalog.published_version(s, AUDITOR, population.id, 1)["items"][-1]["chinese_name"] != "死亡标识"
        assert population.publish_date is not None
        returned = s.scalars(select(CatalogEntry).where(CatalogEntry.status == "returned")).one()
        assert returned.return_reason
        assert len(catalog.stale_entries(s, AUDITOR)) >= 2
        # the city's entries were reviewed by the city's competent authority
        city_entry = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "城乡低保对象信息")).one()
        published = [e for e in catalog.history(s, AUDITOR, city_entry.id) if e.action == "published"]
        assert published[0].actor.username == "hf_data_authority"


def test_r06_demo_has_one_source_clusters_with_a_lead(db, seeded):
    assert seeded.clusters >= 3 and seeded.leads >= 1
    with db.session() as s:
        cluster = s.scalars(select(SourceCluster).where(SourceCluster.key == "34|身份证号|string")).one()
        view = onesource.cluster_view(cluster)
        assert view["lead_department_name"] == "安徽省公安厅"
        assert {"公民身份号码", "身份证号码", "身份证号"} <= {m["item_name"] for m in view["members"]}
        population = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "人口基本信息")).one()
        assert "身份证号" in onesource.lead_terms_by_entry(s, [population.id])[population.id]


def test_demo_search_index_is_rebuilt(seeded, settings):
    from govshare.search import service as search

    assert seeded.search_note == ""
    assert seeded.search_indexed == seeded.entries_by_status["published"]
    found = search.search(settings.resolved_index_dir, "人口基本信息")
    assert found["notice"] is None and found["hits"][0]["name"] == "人口基本信息"
    assert search.index_status(settings.resolved_index_dir)["documents"] == seeded.search_indexed


def _index_dir_blocked_by_a_file(settings):
    """The index folder's path is taken by a file: a real reason the index cannot be built."""
    settings.resolved_index_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.resolved_index_dir.write_text("不是索引目录")


def test_demo_with_a_broken_search_index_fails_naming_the_cause_and_does_not_serve(db, db_url, tmp_path,
                                                                                 monkeypatch):
    """The seed raises SearchIndexFailed (a domain error) once the data is stored; `govshare demo` prints it."""
    from typer.testing import CliRunner

    from govshare import cli
    from govshare.config import get_settings

    data_dir = tmp_path / "var"
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", db_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(data_dir))
    monkeypatch.setattr(cli.err_console, "width", 400)
    served = []
    monkeypatch.setattr(cli, "run_server", lambda *args: served.append(args))
    get_settings.cache_clear()
    try:
        _index_dir_blocked_by_a_file(get_settings())
        result = CliRunner().invoke(cli.app, ["demo"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # the command said it, no traceback
    assert "错误：演示数据已写入，但搜索索引重建失败" in result.output and "govshare index rebuild" in result.output
    assert str(data_dir / "index") in result.output  # where the index could not be written
    assert served == [] and demo.DEMO_PASSWORD not in result.output  # nothing served, no users offered
    with db.session() as s:  # the data itself is stored: a rebuild is all that is missing
        assert s.scalar(select(func.count(CatalogEntry.id))) >= 40


def test_demo_seeding_twice_does_not_duplicate(db, settings, seeded):
    with db.session() as s:
        before = (s.scalar(select(func.count(Department.id))), s.scalar(select(func.count(CatalogEntry.id))),
                  s.scalar(select(func.count(User.id))))
    again = demo.seed_demo(db, settings)
    assert not again.created and again.entries == seeded.entries and len(again.users) == len(seeded.users)
    with db.session() as s:
        after = (s.scalar(select(func.count(Department.id))), s.scalar(select(func.count(CatalogEntry.id))),
                 s.scalar(select(func.count(User.id))))
    assert after == before


def test_demo_command_seed_only_exits_zero(db, db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", db_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--seed-only"])
        assert result.exit_code == 0, result.output
        assert demo.DEMO_PASSWORD in result.output and "police_manager" in result.output
        again = CliRunner().invoke(app, ["demo", "--seed-only"])
        assert again.exit_code == 0 and "已存在" in again.output
    finally:
        get_settings.cache_clear()
    with db.session() as s:
        assert s.scalar(select(func.count(CatalogEntry.id))) >= 40


def test_demo_reset_refuses_a_server_database(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "--seed-only", "--reset"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "错误：--reset 只能删除 SQLite 演示数据库" in result.output, result.output


# ---------------------------------------------------------------- sharing (R07–R11, R20)


def _history(session, request_id: int):
    from govshare.sharing import service as sharing

    return sharing.history(session, AUDITOR, request_id)


def _user_actor(session, username: str) -> Actor:
    return Actor.from_user(session.scalars(select(User).where(User.username == username)).one())


def test_r07_demo_has_requests_in_every_state(db, seeded):
    from govshare.sharing.models import ShareRequest
    from govshare.sharing.vocab import RequestStatus

    assert set(seeded.sharing["requests"]) == {s.value for s in RequestStatus}
    assert "共享申请" in seeded.sharing_summary
    with db.session() as s:
        statuses = set(s.scalars(select(ShareRequest.status)))
    assert statuses == {s.value for s in RequestStatus}


def test_r07_r08_demo_has_overdue_due_soon_and_escalated_requests(db, seeded):
    from govshare.sharing.models import DisputeStep, ShareRequest
    from govshare.workdays.service import local_today

    with db.session() as s:
        today = local_today(s)
        overdue = s.scalars(select(ShareRequest).where(ShareRequest.overdue_at.is_not(None))).all()
        assert overdue and all(r.status == "submitted" and r.reply_due < today for r in overdue)
        assert "overdue" in [e.action for e in _history(s, overdue[0].id)]
        due_soon = s.scalars(select(ShareRequest).where(ShareRequest.reminded_at.is_not(None))).all()
        assert due_soon and all(r.status == "submitted" and r.reply_due >= today for r in due_soon)
        open_steps = s.scalars(select(DisputeStep).where(DisputeStep.status == "open")).all()
        assert {step.level for step in open_steps} == {"negotiation", "authority"}
        for step in open_steps:
            assert s.get(ShareRequest, step.request_id).status == "escalated" and step.due >= today
        authority_step = next(step for step in open_steps if step.level == "authority")
        assert authority_step.handler.name == "合肥市数据资源局"


def test_r07_r09_demo_low_income_grant_and_verify_only_and_unconditional(db, seeded):
    from govshare.sharing.models import Grant

    with db.session() as s:
        grants = {(g.entry.name, g.request.requester.name): g for g in s.scalars(select(Grant))}
        low_income = grants[("人口基本信息", "合肥市民政局")]
        assert low_income.status == "active" and low_income.request.status == "approved"
        assert low_income.row_scope == {"item": "gmsfhm", "prefixes": ["3401"]}
        assert low_income.consumer_system.name == "低保审核系统" and low_income.rate_limit == 20
        assert low_income.purpose == "最低生活保障资格审核"
        assert (low_income.period_end - low_income.period_start).days == 364
        marriage = grants[("婚姻登记信息", "合肥住房公积金管理中心")]
        assert marriage.verify_only and marriage.status == "active"
        enterprise = grants[("企业登记信息", "国家税务总局安徽省税务局")]
        assert enterprise.status == "active"
        assert "auto_approved" in [e.action for e in _history(s, enterprise.request_id)]
        vehicle = grants[("机动车登记信息", "合肥市民政局")]
        assert vehicle.status == "ended" and vehicle.end_reason == "period_ended"
        assert vehicle.request.status == "expired"


def test_r10_r11_r20_demo_revocation_renewal_service_change_and_demands(db, seeded):
    from govshare.demands.models import Demand
    from govshare.sharing.models import Grant, ServiceChange, ShareRequest

    with db.session() as s:
        revoked = s.scalars(select(Grant).where(Grant.end_reason == "revoked")).one()
        assert revoked.request.status == "revoked" and revoked.deletion_confirmed_at is not None
        renewal = s.scalars(select(ShareRequest).where(ShareRequest.renews_id.is_not(None))).one()
        assert renewal.status == "submitted" and s.get(ShareRequest, renewal.renews_id).status == "expired"
        change = s.scalars(select(ServiceChange)).one()
        assert change.status == "submitted" and change.entry.name == "人口基本信息"
        demands = {d.status: d for d in s.scalars(select(Demand))}
        assert set(demands) == {"routed", "accepted", "fulfilled"}
        assert all(d.provider.name == "安徽省民政厅" for d in demands.values())
        assert demands["accepted"].planned_date is not None
        assert demands["fulfilled"].entry.name == "低保对象信息"


def test_demo_request_histories_run_forward_in_time(db, seeded):
    from govshare.sharing.models import RequestEvent, ShareRequest

    with db.session() as s:
        requests = s.scalars(select(ShareRequest)).all()
        assert len(requests) == sum(seeded.sharing["requests"].values()) > 0
        for request in requests:
            events = s.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)
                               .order_by(RequestEvent.id)).all()
            assert events[0].action in ("created", "renewal_created")
            times = [e.created_at for e in events]
            assert times == sorted(times), request.id
            if request.submitted_at and request.decided_at:
                assert request.submitted_at <= request.decided_at
            assert request.period_start <= request.period_end


def test_demo_requester_sees_its_own_requests_but_not_other_departments_drafts(db, seeded):
    from govshare.errors import NotFound
    from govshare.sharing import service as sharing
    from govshare.sharing.models import ShareRequest

    with db.session() as s:
        requester = _user_actor(s, "hf_civil_requester")
        own = set(s.scalars(select(ShareRequest.id).where(ShareRequest.requester_id == requester.department_id)))
        visible = {r.id for r in sharing.list_requests(s, requester, box="outgoing")}
        assert own and visible == own
        own_drafts = [r for r in sharing.list_requests(s, requester, status="draft")]
        assert own_drafts and all(r.requester_id == requester.department_id for r in own_drafts)
        others = s.scalars(select(ShareRequest).where(ShareRequest.status == "draft",
                                                      ShareRequest.requester_id != requester.department_id)).all()
        assert others
        seen = {r.id for r in sharing.list_requests(s, requester)}
        for draft in others:
            assert draft.id not in seen
            with pytest.raises(NotFound):
                sharing.get_request(s, requester, draft.id)


def test_r14_demo_sources_are_checked_and_the_register_shows_its_defects(db, seeded):
    """Each connected demo source had its proposed rules confirmed and run; 企业登记信息 reports the registrations
    without a legal representative and the one established in a year still to come, by their credit codes."""
    from govshare.demo import gateway_seed
    from govshare.quality.models import QualityRun

    with db.session() as s:
        runs = {run.entry.name: run for run in s.scalars(select(QualityRun))}
        assert set(runs) == {"人口基本信息", "企业登记信息", "婚姻登记信息"}
        assert all(run.status == "done" and run.overall is not None for run in runs.values())
        register = runs["企业登记信息"]
        failed = {(r["kind"], r["item"]): r for r in register.results}
        assert failed[("required", "fddbr")]["failed"] == len(gateway_seed.MISSING_REPRESENTATIVE)
        assert failed[("range", "clrq")]["failed"] == 1
        future = gateway_seed.enterprises()[gateway_seed.FUTURE_ESTABLISHMENT]["统一社会信用代码"]
        assert failed[("range", "clrq")]["samples"] == [future]  # an organization's code: served as stored
        assert register.overall < 100 and runs["人口基本信息"].overall == 100.0
