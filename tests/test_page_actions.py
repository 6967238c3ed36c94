"""Every form action of the pages succeeds through the page (R07–R11, R18, R20): the user logs in, opens the page
that offers the form, posts it as a browser would (the form's own fields and defaults, its hidden CSRF token,
what the user types or picks), follows the redirect to the notice, and the stored change is checked in the
database. The refusals of the same routes are tested in tests/test_sharing_web.py and tests/test_web.py.

`test_every_page_write_route_has_a_success_test` enumerates the write routes of the app's pages: a new form
action without a success test (here, or named in ELSEWHERE) fails it."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from datetime import date, timedelta
from html.parser import HTMLParser

from sqlalchemy import select

from govshare.demands import service as demands
from govshare.demands.models import Demand
from govshare.errors import DomainError
from govshare.gateway.models import DataSource
from govshare.notify.models import Notification
from govshare.orgs import systems
from govshare.orgs.models import ConsumerSystem
from govshare.sharing import disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import DisputeStep, Grant, RequestEvent, ShareRequest
from govshare.sharing.schemas import ReplyIn
from govshare.web.sharing_pages import NOTICES
from govshare.workdays import service as workdays
from tests.factories import consumer_system, published_entry, request_in, submitted_request
from tests.gateway_factories import sql_connection
from tests.web_helpers import token, visible_text

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# ---------------------------------------------------------------- which test proves which route

SUCCESS_TESTS: dict[tuple[str, str], str] = {}  # (method, path) -> "module::test" that posts it successfully


def covers(*paths: str) -> Callable:
    """Marks a test as the success test of these page routes (all POST)."""

    def mark(test: Callable) -> Callable:
        for path in paths:
            SUCCESS_TESTS[("POST", path)] = f"{__name__}::{test.__name__}"
        return test

    return mark


# Page routes whose successful post is tested in another module (the test named checks the stored change).
ELSEWHERE = {
    ("POST", "/login"): "tests.test_web::test_login_sets_the_session_cookie_and_logout_revokes_it",
    ("POST", "/logout"): "tests.test_web::test_login_sets_the_session_cookie_and_logout_revokes_it",
    ("POST", "/my/catalog/new"): "tests.test_web::test_r03_manager_creates_an_entry_with_items_through_the_form",
    ("POST", "/my/catalog/{entry_id}/edit"):
        "tests.test_web::test_r03_manager_creates_an_entry_with_items_through_the_form",
    ("POST", "/my/catalog/{entry_id}/submit"): "tests.test_web::test_r02_manager_submits_from_my_catalog",
    ("POST", "/my/catalog/{entry_id}/revise"):
        "tests.test_web::test_r05_revision_through_the_form_is_approved_from_the_review_queue",
    ("POST", "/review/{entry_id}/publish"): "tests.test_web::test_r02_reviewer_publishes_from_the_review_page",
    ("POST", "/review/{entry_id}/return"): "tests.test_web::test_r02_return_needs_a_reason_shown_in_chinese",
    ("POST", "/review/revisions/{revision_id}/approve"):
        "tests.test_web::test_r05_revision_through_the_form_is_approved_from_the_review_queue",
    ("POST", "/review/revisions/{revision_id}/return"):
        "tests.test_web::test_r05_reviewer_returns_a_revision_with_a_reason",
    ("POST", "/one-source/detect"): "tests.test_web::test_r06_detail_page_says_not_named_and_detect_button_works",
    ("POST", "/one-source/{cluster_id}/lead"):
        "tests.test_web::test_r06_reviewer_names_the_lead_on_the_one_source_page_and_search_shows_the_badge",
    ("POST", "/catalog/import"): "tests.test_web::test_r03_manager_imports_a_json_file_and_sees_the_report",
    ("POST", "/sources/{entry_id}/file"):
        "tests.test_sources_web::test_r09_provider_uploads_a_file_sees_profile_and_bad_rows_and_confirms",
    ("POST", "/sources/{entry_id}/confirm"):
        "tests.test_sources_web::test_r09_provider_uploads_a_file_sees_profile_and_bad_rows_and_confirms",
    ("POST", "/sources/{entry_id}/sql"):
        "tests.test_sources_web::test_r09_mapping_mismatch_is_shown_at_the_field_and_nothing_is_stored",
    ("POST", "/sharing/requests/new"):
        "tests.test_sharing_web::test_r07_request_form_creates_and_submits_a_request_with_its_due_date",
    ("POST", "/sharing/requests/{request_id}/escalate"):
        "tests.test_sharing_web::test_r08_requester_escalates_a_refusal_and_the_provider_decides_on_the_page",
    ("POST", "/admin/connections"):
        "tests.test_connections_web::test_r18_the_admin_registers_a_connection_and_the_manager_connects_through_it",
    ("POST", "/admin/connections/{connection_id}/retire"):
        "tests.test_connections_web::test_r18_the_admin_registers_a_connection_and_the_manager_connects_through_it",
    ("POST", "/sharing/changes/{change_id}/decide"):
        "tests.test_user_path::test_r11_the_notified_authority_opens_the_service_change_from_its_notification",
    ("POST", "/sharing/changes/new"):
        "tests.test_service_change_pages::test_r11_provider_proposes_a_stop_and_the_authority_approves_it_from_its_notification",
    ("POST", "/data/verify"):
        "tests.test_verify_page::test_r09_a_clerk_verifies_a_record_and_reads_match_no_match_or_not_found",
    ("POST", "/admin/users"):
        "tests.test_admin_pages::test_r18_admin_creates_a_user_on_the_users_page_and_the_change_is_recorded",
    ("POST", "/admin/users/{user_id}/deactivate"):
        "tests.test_admin_pages::test_r18_admin_deactivates_and_activates_a_user_on_the_page",
    ("POST", "/admin/users/{user_id}/activate"):
        "tests.test_admin_pages::test_r18_admin_deactivates_and_activates_a_user_on_the_page",
    ("POST", "/admin/users/{user_id}/password"):
        "tests.test_admin_pages::test_r18_a_reset_password_ends_the_users_sessions_and_the_new_one_logs_in",
    ("POST", "/admin/users/{user_id}/role"):
        "tests.test_admin_pages::test_r18_admin_changes_a_role_on_the_page_and_the_new_role_applies_at_once",
    ("POST", "/admin/departments"):
        "tests.test_admin_pages::test_r18_admin_creates_a_department_and_adds_and_removes_an_alias_on_the_page",
    ("POST", "/admin/departments/{department_id}/aliases"):
        "tests.test_admin_pages::test_r18_admin_creates_a_department_and_adds_and_removes_an_alias_on_the_page",
    ("POST", "/admin/departments/{department_id}/aliases/{alias_id}/remove"):
        "tests.test_admin_pages::test_r18_admin_creates_a_department_and_adds_and_removes_an_alias_on_the_page",
    ("POST", "/catalog/{entry_id}/quality/run"):
        "tests.test_quality_pages::test_r14_the_provider_confirms_adds_runs_and_removes_rules_on_the_quality_page",
    ("POST", "/catalog/{entry_id}/quality/propose"):
        "tests.test_quality_pages::test_r14_the_provider_confirms_adds_runs_and_removes_rules_on_the_quality_page",
    ("POST", "/catalog/{entry_id}/quality/confirm"):
        "tests.test_quality_pages::test_r14_the_provider_confirms_adds_runs_and_removes_rules_on_the_quality_page",
    ("POST", "/catalog/{entry_id}/quality/rules"):
        "tests.test_quality_pages::test_r14_the_provider_confirms_adds_runs_and_removes_rules_on_the_quality_page",
    ("POST", "/catalog/{entry_id}/quality/rules/{rule_id}/remove"):
        "tests.test_quality_pages::test_r14_the_provider_confirms_adds_runs_and_removes_rules_on_the_quality_page",
    ("POST", "/objections"):
        "tests.test_objection_pages::test_r13_requester_files_with_a_scan_attaches_later_and_the_provider_answers_on_the_pages",
    ("POST", "/objections/{objection_id}/evidence"):
        "tests.test_objection_pages::test_r13_requester_files_with_a_scan_attaches_later_and_the_provider_answers_on_the_pages",
    ("POST", "/objections/{objection_id}/answer"):
        "tests.test_objection_pages::test_r13_requester_files_with_a_scan_attaches_later_and_the_provider_answers_on_the_pages",
}


def page_write_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every write route of the pages (not the API, not static files)."""
    from tests.test_authz_api import _flatten

    return {(method, path) for path, methods in _flatten(app.routes) if not path.startswith("/api/")
            for method in methods & WRITE_METHODS}


def test_every_page_write_route_has_a_success_test(tmp_path):
    from govshare.app import create_app
    from govshare.config import Settings
    from govshare.search.index import registry

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}", data_dir=tmp_path))  # routes only
    try:
        found = page_write_routes(app)
    finally:
        registry.detach(app.state.db.url)
        app.state.db.dispose()
    covered = {**ELSEWHERE, **SUCCESS_TESTS}
    assert not set(ELSEWHERE) & set(SUCCESS_TESTS), "a route is tested here and named as tested elsewhere"
    assert found == set(covered), (f"page write routes without a success test: {sorted(found - set(covered))}; "
                                   f"success tests of routes that no longer exist: {sorted(set(covered) - found)}")
    for route, name in covered.items():  # every named test exists (a renamed test leaves its route uncovered)
        module, _, test = name.partition("::")
        assert callable(getattr(importlib.import_module(module), test, None)), (route, name)


# ---------------------------------------------------------------- posting a form as the browser would


class _Forms(HTMLParser):
    """The forms of a page: action, method and the fields a browser would send unchanged."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._textarea: list | None = None
        self._select: dict | None = None
        self._option: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": (a.get("method") or "get").lower(), "fields": []}
            self.forms.append(self._form)
        elif self._form is None or (not a.get("name") and tag in ("input", "textarea", "select")):
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file") or (
                    kind in ("checkbox", "radio") and "checked" not in a):
                return
            self._form["fields"].append((a["name"], a.get("value") or ("on" if kind in ("checkbox", "radio") else "")))
        elif tag == "textarea":
            self._textarea = [a["name"], ""]
        elif tag == "select":
            self._select = {"name": a["name"], "first": None, "selected": None}
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "text": "", "selected": "selected" in a}

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data
        if self._option is not None:
            self._option["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            self._form["fields"].append(tuple(self._textarea))
            self._textarea = None
        elif tag == "option" and self._option is not None and self._select is not None:
            value = self._option["value"] if self._option["value"] is not None else self._option["text"].strip()
            if self._select["first"] is None:
                self._select["first"] = value
            if self._option["selected"]:
                self._select["selected"] = value
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = self._select["selected"] if self._select["selected"] is not None else self._select["first"]
            if chosen is not None:
                self._form["fields"].append((self._select["name"], chosen))
            self._select = None


def page_form(html: str, action: str, **match: str) -> dict[str, list[str]]:
    """The fields of the one form of the page that posts to `action` (and carries the `match` values)."""
    parser = _Forms()
    parser.feed(html)
    forms = []
    for form in parser.forms:
        fields: dict[str, list[str]] = {}
        for name, value in form["fields"]:
            fields.setdefault(name, []).append(value)
        if form["action"] == action and all(fields.get(k) == [v] for k, v in match.items()):
            assert form["method"] == "post", action
            forms.append(fields)
    assert len(forms) == 1, f"the page offers {len(forms)} forms posting to {action} {match or ''}"
    return forms[0]


def post_form(client, page_url: str, action: str, match: dict | None = None, **typed):
    """Opens `page_url`, fills in the form posting to `action` (typed values replace the form's; None leaves a
    field out; lists are checkbox choices), posts it with its CSRF token and follows the redirect."""
    page = client.get(page_url)
    assert page.status_code == 200, (page_url, page.text[:500])
    fields = page_form(page.text, action, **(match or {}))
    assert fields.get("csrf_token") == [token(client)], "the form carries the session's CSRF token"
    for name, value in typed.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    response = client.post(action, data=fields)
    assert response.status_code == 200, (action, response.status_code, visible_text(response)[:800])
    return response


def _redirected(response, location: str, notice: str) -> str:
    """The post redirected (303) to `location` and the page there says `notice`; returns the page's text."""
    assert [r.status_code for r in response.history] == [303], response.history
    assert response.history[0].headers["location"].split("#")[0] == location
    text = visible_text(response)
    assert NOTICES[notice] in text, text[:800]
    return text


def _get(db, model, row_id: int):
    with db.session() as s:
        row = s.get(model, row_id)
        s.expunge(row)
        return row


def _events(db, request_id: int) -> list[tuple[str, str | None, str]]:
    with db.session() as s:
        return [(e.action, e.to_status, e.reason) for e in s.scalars(
            select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id))]


def _approved(session, world, **overrides) -> tuple[int, int]:
    """A request of 省民政厅 approved by 省公安厅: (request id, grant id)."""
    request = submitted_request(session, world, **overrides)
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    return request.id, sharing.grant_of(session, request.id).id


# ---------------------------------------------------------------- requests (R07, R08)


@covers("/sharing/requests/{request_id}/submit", "/sharing/requests/{request_id}/withdraw")
def test_r07_requester_submits_a_draft_and_withdraws_a_pending_request_on_its_page(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        system = consumer_system(s, world)[0]
        draft = sharing.create_request(s, world.actors["civil_requester"],
                                       request_in(entry, consumer_system_id=system.id)).id
        pending = submitted_request(s, world, entry=entry, system=system).id
    client = as_user("civil_requester")
    url = f"/sharing/requests/{draft}"
    text = _redirected(post_form(client, url, f"{url}/submit"), f"{url}?notice=submitted", "submitted")
    stored = _get(db, ShareRequest, draft)
    assert (stored.status, stored.submitted_at is not None, stored.reply_due is not None) == ("submitted", True, True)
    assert str(stored.reply_due) in text and _events(db, draft)[-1][:2] == ("submitted", "submitted")

    url = f"/sharing/requests/{pending}"
    fields = page_form(client.get(url).text, f"{url}/withdraw")
    unexplained = client.post(f"{url}/withdraw", data=fields | {"reason": ["  "]})
    assert unexplained.status_code == 422 and "撤回申请必须说明理由" in visible_text(unexplained)
    assert _get(db, ShareRequest, pending).status == "submitted"
    response = post_form(client, url, f"{url}/withdraw", reason="低保对象已另行核实")
    _redirected(response, f"{url}?notice=withdrawn", "withdrawn")
    assert _get(db, ShareRequest, pending).status == "withdrawn"
    assert _events(db, pending)[-1] == ("withdrawn", "withdrawn", "低保对象已另行核实")


@covers("/sharing/requests/{request_id}/reply")
def test_r07_provider_reviewer_approves_on_the_request_page_and_the_grant_is_made(db, world, as_user):
    with db.session() as s:
        request = submitted_request(s, world)
        request_id, items = request.id, list(request.item_ids)
    client = as_user("police_reviewer")
    url = f"/sharing/requests/{request_id}"
    response = post_form(client, url, f"{url}/reply", decision="approve", rate_limit=30, reason="符合低保审核职责")
    _redirected(response, f"{url}?notice=replied", "replied")
    stored = _get(db, ShareRequest, request_id)
    assert (stored.status, stored.decision, stored.decision_reason) == ("approved", "approve", "符合低保审核职责")
    with db.session() as s:
        grant = s.scalars(select(Grant).where(Grant.request_id == request_id)).one()
        assert (grant.status, grant.item_ids, grant.rate_limit) == ("active", items, 30)  # the form's items: all


@covers("/sharing/requests/{request_id}/renew")
def test_r10_requester_renews_an_approved_request_on_its_page(db, world, as_user):
    with db.session() as s:
        request_id, grant_id = _approved(s, world)
    client = as_user("civil_requester")
    url = f"/sharing/requests/{request_id}"
    end = date.today() + timedelta(days=500)
    response = post_form(client, url, f"{url}/renew", period_end=end.isoformat())
    with db.session() as s:
        renewal = s.scalars(select(ShareRequest).where(ShareRequest.renews_id == request_id)).one()
        renewal_id, grant = renewal.id, s.get(Grant, grant_id)
        assert (renewal.status, renewal.period_end, renewal.item_ids) == ("submitted", end, grant.item_ids)
        assert renewal.consumer_system_id == grant.consumer_system_id and renewal.reply_due is not None
        assert grant.status == "active"  # the grant in force is not extended in place
    _redirected(response, f"/sharing/requests/{renewal_id}?notice=renewed", "renewed")


@covers("/sharing/disputes/{step_id}/decide")
def test_r08_provider_reviewer_decides_the_negotiation_step_on_the_request_page(db, world, as_user):
    with db.session() as s:
        request = submitted_request(s, world)
        request_id = request.id
        sharing.reply(s, world.actors["police_reviewer"], request_id, ReplyIn(decision="refuse", reason="数据敏感"))
        step_id = disputes.escalate(s, world.actors["civil_requester"], request_id, "低保审核是法定职责").id
    client = as_user("police_reviewer")
    url = f"/sharing/requests/{request_id}"
    response = post_form(client, url, f"/sharing/disputes/{step_id}/decide", decision="approve",
                         reason="协商一致，同意共享")
    _redirected(response, f"{url}?notice=decided", "decided")
    step = _get(db, DisputeStep, step_id)
    assert (step.status, step.decision, step.decision_reason) == ("decided", "approve", "协商一致，同意共享")
    assert _get(db, ShareRequest, request_id).status == "approved"
    with db.session() as s:
        assert s.scalars(select(Grant.status).where(Grant.request_id == request_id)).one() == "active"


# ---------------------------------------------------------------- grants (R09, R10)


@covers("/sharing/grants/{grant_id}/revoke", "/sharing/grants/{grant_id}/reinstate")
def test_r09_r10_provider_reviewer_revokes_one_grant_and_reinstates_a_suspended_one(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        system = consumer_system(s, world)[0]
        revoked_request, revoked = _approved(s, world, entry=entry, system=system)
        _suspended_request, suspended = _approved(s, world, entry=entry, system=system)
        sharing.suspend_grant(s, s.get(Grant, suspended), "10 分钟内 5 次越权访问")
    client = as_user("police_reviewer")
    page = "/sharing/grants?box=incoming"
    response = post_form(client, page, f"/sharing/grants/{revoked}/revoke", reason="发现超范围使用")
    _redirected(response, "/sharing/grants?box=incoming&notice=revoked", "revoked")
    grant = _get(db, Grant, revoked)
    assert (grant.status, grant.end_reason, grant.ended_at is not None) == ("ended", "revoked", True)
    assert _get(db, ShareRequest, revoked_request).status == "revoked"

    response = post_form(client, page, f"/sharing/grants/{suspended}/reinstate", reason="已核实为调试错误，已整改")
    _redirected(response, "/sharing/grants?box=incoming&notice=reinstated", "reinstated")
    assert _get(db, Grant, suspended).status == "active"


@covers("/sharing/grants/{grant_id}/purpose-achieved", "/sharing/grants/{grant_id}/confirm-deletion")
def test_r10_requester_declares_the_purpose_achieved_and_confirms_the_deletion_on_the_grants_page(db, world,
                                                                                                  as_user):
    with db.session() as s:
        request_id, grant_id = _approved(s, world)
    client = as_user("civil_requester")
    page = "/sharing/grants"
    response = post_form(client, page, f"/sharing/grants/{grant_id}/purpose-achieved", reason="低保年度审核已完成")
    _redirected(response, "/sharing/grants?box=outgoing&notice=purpose_achieved", "purpose_achieved")
    grant = _get(db, Grant, grant_id)
    assert (grant.status, grant.end_reason, grant.deletion_confirmed_at) == ("ended", "purpose_achieved", None)

    response = post_form(client, page, f"/sharing/grants/{grant_id}/confirm-deletion", reason="已删除本地缓存")
    _redirected(response, "/sharing/grants?box=outgoing&notice=deletion_confirmed", "deletion_confirmed")
    assert _get(db, Grant, grant_id).deletion_confirmed_at is not None
    assert _events(db, request_id)[-1][::2] == ("deletion_confirmed", "已删除本地缓存")


# ---------------------------------------------------------------- consumer systems (R18)


SECRET = re.compile(r'id="client-secret">([^<]+)<')


@covers("/sharing/systems", "/sharing/systems/{system_id}/rotate", "/sharing/systems/{system_id}/revoke")
def test_r18_requester_registers_rotates_and_revokes_a_consumer_system_on_the_systems_page(db, world, as_user):
    client = as_user("civil_requester")
    registered = client.post("/sharing/systems", data={
        **{k: v[0] for k, v in page_form(client.get("/sharing/systems").text, "/sharing/systems").items()},
        "name": "低保审核系统", "description": "民政厅低保业务"})
    assert registered.status_code == 201, visible_text(registered)[:500]  # rendered, not redirected: the secret
    secret = SECRET.search(registered.text).group(1)
    with db.session() as s:
        system = s.scalars(select(ConsumerSystem)).one()
        system_id, client_id = system.id, system.client_id
        assert (system.name, system.description, system.department_id) == ("低保审核系统", "民政厅低保业务",
                                                                           world.ids["civil"])
        assert systems.authenticate_system(s, client_id, secret).id == system_id  # the secret shown works

    rotated = post_form(client, "/sharing/systems", f"/sharing/systems/{system_id}/rotate")
    new_secret = SECRET.search(rotated.text).group(1)
    assert new_secret != secret and "原密钥立即失效" in visible_text(rotated)
    with db.session() as s:
        assert systems.authenticate_system(s, client_id, new_secret).id == system_id
        _refused(lambda: systems.authenticate_system(s, client_id, secret))

    response = post_form(client, "/sharing/systems", f"/sharing/systems/{system_id}/revoke")
    _redirected(response, "/sharing/systems?notice=system_revoked", "system_revoked")
    assert _get(db, ConsumerSystem, system_id).revoked_at is not None
    with db.session() as s:
        _refused(lambda: systems.authenticate_system(s, client_id, new_secret))


def _refused(call) -> None:
    try:
        call()
    except DomainError as exc:
        assert exc.status_code == 401, exc.message
        return
    raise AssertionError("the old credentials still work")


# ---------------------------------------------------------------- demands (R20)


def _demand(db, demand_id: int) -> Demand:
    return _get(db, Demand, demand_id)


@covers("/demands", "/demands/{demand_id}/route", "/demands/{demand_id}/withdraw")
def test_r20_requester_posts_routes_and_withdraws_demands_on_the_pages(db, world, as_user):
    client = as_user("civil_requester")
    response = post_form(client, "/demands", "/demands", title="需要核验申请人的不动产登记情况",
                         description="低保审核时核对家庭财产")
    with db.session() as s:
        posted = s.scalars(select(Demand)).one()
        demand_id = posted.id
        assert (posted.title, posted.description, posted.requester_id, posted.created_by_id) == (
            "需要核验申请人的不动产登记情况", "低保审核时核对家庭财产", world.ids["civil"],
            world.ids["user:civil_requester"])
        assert posted.status == "open" and posted.provider_id is None  # nothing published matches
    _redirected(response, f"/demands/{demand_id}?notice=posted", "posted")

    response = post_form(client, f"/demands/{demand_id}", f"/demands/{demand_id}/route",
                         provider_id=world.ids["police"])
    _redirected(response, f"/demands/{demand_id}?notice=routed", "routed")
    routed = _demand(db, demand_id)
    assert (routed.status, routed.provider_id, routed.routed_automatically) == ("routed", world.ids["police"], False)
    assert routed.answer_due is not None

    fields = page_form(client.get(f"/demands/{demand_id}").text, f"/demands/{demand_id}/withdraw")
    unexplained = client.post(f"/demands/{demand_id}/withdraw", data=fields | {"reason": ["  "]})
    assert unexplained.status_code == 422 and "撤回需求必须说明理由" in unexplained.text
    assert _demand(db, demand_id).status == "routed"
    response = post_form(client, f"/demands/{demand_id}", f"/demands/{demand_id}/withdraw",
                         reason="已改为线下核查")
    _redirected(response, f"/demands/{demand_id}?notice=demand_withdrawn", "demand_withdrawn")
    assert (_demand(db, demand_id).status, _demand(db, demand_id).withdraw_reason) == ("withdrawn", "已改为线下核查")
    assert "已改为线下核查" in client.get(f"/demands/{demand_id}").text


@covers("/demands/{demand_id}/answer", "/demands/{demand_id}/link")
def test_r20_provider_answers_a_demand_and_links_its_published_entry_on_the_demand_page(db, world, as_user):
    with db.session() as s:
        demand_id = demands.post_demand(s, world.actors["civil_requester"], "需要核验申请人的户籍信息",
                                        provider_id=world.ids["police"]).id
        planned = workdays.deadline(s, workdays.local_today(s), 3).due
    client = as_user("police_manager")
    url = f"/demands/{demand_id}"
    response = post_form(client, url, f"{url}/answer", accept="yes", planned_date=planned.isoformat(),
                         reason="将编目人口基本信息")
    _redirected(response, f"{url}?notice=answered", "answered")
    answered = _demand(db, demand_id)
    assert (answered.status, answered.accepted, answered.planned_date, answered.answer) == (
        "accepted", True, planned, "将编目人口基本信息")
    assert answered.answered_by_id == world.ids["user:police_manager"] and answered.fulfil_due >= planned

    with db.session() as s:
        entry_id = published_entry(s, world).id
    response = post_form(client, url, f"{url}/link", entry_id=entry_id)
    _redirected(response, f"{url}?notice=linked", "linked")
    linked = _demand(db, demand_id)
    assert (linked.status, linked.entry_id, linked.fulfilled_at is not None) == ("fulfilled", entry_id, True)


@covers("/demands/{demand_id}/accept")
def test_r20_requester_accepts_a_suggested_entry_on_the_demand_page(db, world, as_user):
    with db.session() as s:
        entry_id = published_entry(s, world).id
    with db.session() as s:
        demand = demands.post_demand(s, world.actors["civil_requester"], "需要核验申请人的人口基本信息")
        demand_id, suggested = demand.id, list(demand.suggested_entry_ids)
    assert entry_id in suggested, suggested  # the published entry is offered
    client = as_user("civil_requester")
    url = f"/demands/{demand_id}"
    response = post_form(client, url, f"{url}/accept", match={"entry_id": str(entry_id)})
    _redirected(response, f"{url}?notice=accepted", "accepted")
    accepted = _demand(db, demand_id)
    assert (accepted.status, accepted.entry_id) == ("matched", entry_id)


# ---------------------------------------------------------------- notifications


@covers("/notifications/{notification_id}/read", "/notifications/read-all")
def test_user_marks_one_notification_then_all_read_on_the_notifications_page(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        system = consumer_system(s, world)[0]
        requests = [submitted_request(s, world, entry=entry, system=system) for _ in range(3)]  # tell the reviewer
        sharing.reply(s, world.actors["police_reviewer"], requests[0].id, ReplyIn(decision="approve"))  # tells 民政

    def unread(username: str) -> list[int]:
        with db.session() as s:
            return list(s.scalars(select(Notification.id).where(
                Notification.user_id == world.ids[f"user:{username}"], Notification.read_at.is_(None))
                .order_by(Notification.id)))

    mine, others = unread("police_reviewer"), unread("civil_requester")
    assert len(mine) >= 3 and others, (mine, others)
    client = as_user("police_reviewer")
    response = post_form(client, "/notifications", f"/notifications/{mine[0]}/read")
    _redirected(response, "/notifications?notice=read", "read")
    assert unread("police_reviewer") == mine[1:]

    response = post_form(client, "/notifications", "/notifications/read-all")
    _redirected(response, "/notifications?notice=read_all", "read_all")
    assert unread("police_reviewer") == [] and unread("civil_requester") == others  # only the caller's inbox


# ---------------------------------------------------------------- the admin's calendar (R07 deadlines)


@covers("/admin/calendar/days", "/admin/calendar/import")
def test_admin_sets_a_day_and_imports_a_notice_on_the_calendar_page(db, world, as_user):
    client = as_user("admin")
    response = post_form(client, "/admin/calendar", "/admin/calendar/days", day="2031-10-08", is_workday="1",
                         name="国庆节调休上班")
    _redirected(response, "/admin/calendar?year=2031&notice=day_set", "day_set")
    with db.session() as s:
        assert [(d.day, d.is_workday, d.name) for d in workdays.list_days(s, 2031)] == [
            (date(2031, 10, 8), True, "国庆节调休上班")]

    notice = ("国务院办公厅关于2032年部分节假日安排的通知\n"
              "一、元旦：1月1日（周四）至3日（周六）放假，共3天。\n")
    imported = post_form(client, "/admin/calendar", "/admin/calendar/import", text=notice)
    assert "新增 3 天" in visible_text(imported)  # rendered with the result, not redirected
    with db.session() as s:
        days = [(d.day, d.is_workday) for d in workdays.list_days(s, 2032)]
        assert days == [(date(2032, 1, n), False) for n in (1, 2, 3)]
        assert workdays.year_status(s, 2032).known_by == "admin"


# ---------------------------------------------------------------- sources (R09)


@covers("/sources/{entry_id}/http", "/sources/{entry_id}/disconnect")
def test_r09_provider_connects_an_upstream_api_and_disconnects_it_on_the_source_page(db, world, as_user):
    with db.session() as s:
        entry = published_entry(s, world)
        entry_id, items = entry.id, [i.name for i in entry.items]
        # the platform admin's connection for 省公安厅 (an internal address: the test resolves no names)
        sql_connection(s, world, "https://upstream.example/api/", kind="http", internal=True)
    client = as_user("police_manager")
    url = f"/sources/{entry_id}"
    column_map = "\n".join(f"{name}={name.upper()}" for name in items)
    response = post_form(client, url, f"{url}/http", path="hukou", key_item="gmsfhm", key_param="sfzh",
                         column_map=column_map)
    assert [r.status_code for r in response.history] == [303]
    assert response.history[0].headers["location"] == f"{url}?notice=connected"
    with db.session() as s:
        source = s.scalars(select(DataSource).where(DataSource.entry_id == entry_id)).one()
        assert (source.kind, source.status, source.table_name) == ("http", "connected", "sfzh")
        assert "upstream.example" not in source.location  # the address is stored sealed
        mapped = source.column_map
    assert {name: mapped[name] for name in items} == {name: name.upper() for name in items}

    fields = page_form(client.get(url).text, f"{url}/disconnect")
    unexplained = client.post(f"{url}/disconnect", data=fields | {"reason": [""]})
    assert unexplained.status_code == 422 and "断开数据源必须说明理由" in visible_text(unexplained)
    with db.session() as s:
        assert s.scalars(select(DataSource.status).where(DataSource.entry_id == entry_id)).one() == "connected"
    response = post_form(client, url, f"{url}/disconnect", reason="上游接口停用")
    assert [r.status_code for r in response.history] == [303]
    assert response.history[0].headers["location"] == f"{url}?notice=disconnected"
    with db.session() as s:
        assert s.scalars(select(DataSource.status).where(DataSource.entry_id == entry_id)).one() == "disconnected"
