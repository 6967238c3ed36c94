"""Insecure direct object references (R02, R09, R12, R18): every route with an object id in its path, called by
users of other departments with the real ids of objects they may not see or change, is refused (403 or 404) and
changes nothing; on the data routes the refusal is on the record (R12).

The routes are enumerated from the app (tests.test_authz_api._flatten), API and pages alike:
`test_every_route_with_an_id_in_its_path_has_a_case` fails, naming the route, when a route with a path parameter
has no case here (or is not named in NOT_OBJECT_IDS with the reason it names no department's object).

One scene holds an object of every kind, owned by 省公安厅 (provider) and 省民政厅 (requester): entries in every
state, a revision, a one-source cluster, a connected source and its grants (active, ended, suspended), requests
(draft, submitted, refused and escalated), a service change, consumer systems, demands, a webhook and its dead
delivery, a notification, a program token, objections on records of the active grant (one with its evidence
file). The attackers are users of departments that are party to none of them, with every role a department has:
省教育厅's catalog manager, department reviewer and requester (a third provincial department), 合肥市民政局's
catalog manager, and the competent authorities of the city below and of another province (neither covers a
provincial department of 安徽). Each attacker tries each route; the whole database (every table) is compared before
and after."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from govshare.audit.models import UsageRecord
from govshare.authz import Actor
from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry
from govshare.demands import service as demands
from govshare.deps import CSRF_HEADER, SESSION_COOKIE, csrf_token
from govshare.models import Base
from govshare.notify import service as notify
from govshare.notify.models import Notification, OutboxMessage
from govshare.orgs import service as orgs
from govshare.orgs.models import ApiToken, Role
from govshare.quality import service as quality
from govshare.search.index import registry
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import ServiceChangeKind
from govshare.workdays import service as workdays
from tests.authz_cases_issue3 import more_users
from tests.factories import PASSWORD, SYSTEM, consumer_system, make_uscc, population_entry, published_entry, request_in
from tests.gateway_factories import served_population, token_headers
from tests.objection_factories import PNG, filed

# ---------------------------------------------------------------- the attackers and the scene

THIRD_DEPARTMENT = ("edu", "省教育厅", "provincial", "340000")
THIRD_USERS = {"edu_manager": Role.CATALOG_MANAGER, "edu_reviewer": Role.DEPT_REVIEWER,
               "edu_requester": Role.REQUESTER}
ATTACKERS = ("edu_manager", "edu_reviewer", "edu_requester", "city_civil_manager", "city_reviewer", "other_reviewer")


def add_third_department(session, world) -> None:
    """省教育厅 with a user of each department role (once per test)."""
    if "edu" in world.ids:
        return
    key, name, level, region = THIRD_DEPARTMENT
    department = orgs.create_department(session, SYSTEM, name=name, level=level, region_code=region,
                                        uscc_code=make_uscc(90))
    world.ids[key] = department.id
    for username, role in THIRD_USERS.items():
        user = orgs.create_user(session, SYSTEM, username=username, password=PASSWORD, role=role.value,
                                department_id=department.id)
        world.ids[f"user:{username}"] = user.id
        world.tokens[username] = orgs.login(session, username, PASSWORD, session_hours=1)
        world.actors[username] = Actor.from_user(user)
    session.flush()


def build_scene(session, world, folder) -> dict:
    """An object of every kind, of 省公安厅 and 省民政厅; returns their ids (and the served entry's code)."""
    more_users(session, world)
    add_third_department(session, world)
    police, civil, requester = (world.actors[k] for k in ("police_manager", "civil_manager", "civil_requester"))
    ids: dict = {}
    # a demand posted before anything is published matches nothing: it stays open for its requester to route
    ids["demand_open"] = demands.post_demand(session, requester, "需要核验低保申请人的婚姻登记信息").id
    draft = catalog.create_entry(session, police, population_entry(name="人口基本信息（草稿）"))
    submitted = catalog.create_entry(session, police, population_entry(name="人口基本信息（待审核）"))
    catalog.submit_entry(session, police, submitted.id)
    ids["entry_draft"], ids["entry_submitted"] = draft.id, submitted.id
    published = published_entry(session, world, name="户籍人口信息")
    ids["entry_published"] = published.id
    ids["revision"] = catalog.propose_revision(session, police, published.id,
                                               population_entry(name="户籍人口信息（修订）"), "字段说明更新").id
    published_entry(session, world, "civil_manager", name="低保对象信息")  # same items: a one-source cluster
    onesource.detect_clusters(session, SYSTEM)
    ids["cluster"] = onesource.list_clusters(session, SYSTEM)[0].id
    # the served entry: a connected source and 省民政厅's active grant through 低保审核系统
    served = served_population(session, world, folder, count=6, rate_limit=1000)
    ids.update(entry_source=served.entry_id, code=served.resource_code, grant_active=served.grant_id,
               request_approved=served.request_id, system=served.system_id, client_id=served.client_id,
               secret=served.secret, person=served.rows[0]["GMSFHM"])
    entry = session.get(CatalogEntry, served.entry_id)
    police_manager = world.actors["police_manager"]
    ids["quality_rule"] = quality.declare_rule(session, police_manager, served.entry_id,
                                               {"kind": "required", "item": "xm"}).id
    ids["quality_run"] = quality.run_quality(session, police_manager, served.entry_id).id
    # objections of 省民政厅 on records of its active grant (R13): one open without a file, one with its evidence
    ids["objection"] = filed(session, world, served.grant_id, key=served.rows[1]["GMSFHM"])
    ids["objection_evidence"] = filed(session, world, served.grant_id, key=served.rows[2]["GMSFHM"],
                                      evidence_file=PNG)
    quality.declare_rule(session, police_manager, draft.id, {"kind": "required", "item": "xm"})
    other_system, _secret = consumer_system(session, world, "civil_requester", "救助核对系统")

    def request(submit=True, **overrides):
        return sharing.create_request(session, requester, request_in(entry, consumer_system_id=other_system.id,
                                                                     **overrides), submit=submit)

    ids["request_draft"] = request(submit=False).id
    ids["request_submitted"] = request(purpose="临时救助对象审核").id
    ended = request(purpose="医疗救助对象审核")
    sharing.reply(session, world.actors["police_reviewer"], ended.id, ReplyIn(decision="approve"))
    ids["grant_ended"] = sharing.grant_of(session, ended.id).id
    sharing.declare_purpose_achieved(session, requester, ids["grant_ended"], "审核完毕")
    suspended = request(purpose="特困人员供养审核")
    sharing.reply(session, world.actors["police_reviewer"], suspended.id, ReplyIn(decision="approve"))
    ids["grant_suspended"] = sharing.grant_of(session, suspended.id).id
    sharing.suspend_grant(session, session.get(Grant, ids["grant_suspended"]), "多次请求未授权的信息项")
    refused = request(purpose="教育救助对象审核")
    sharing.reply(session, world.actors["police_reviewer"], refused.id,
                  ReplyIn(decision="refuse", reason="申请的用途与履职依据不符"))
    ids["request_refused"] = refused.id
    ids["step"] = disputes.escalate(session, requester, refused.id, "低保审核确需户籍信息").id
    effective = changes.earliest_effective_date(session, workdays.local_today(session)) + timedelta(days=7)
    ids["change"] = changes.propose(session, police, entry.id, ServiceChangeKind.STOP, "系统迁移，停止接口服务",
                                    effective).id
    ids["demand_routed"] = demands.post_demand(session, requester, "需要核验低保申请人的户籍信息",
                                               provider_id=world.ids["police"]).id
    hook, _hook_secret = notify.create_webhook(session, requester, department_id=world.ids["civil"],
                                               url="https://hooks.civil.example.cn/govshare", events=[])
    message = OutboxMessage(webhook_id=hook.id, event="request.decided", payload={"event": "request.decided"},
                            status="dead", attempts=8, last_error="HTTP 500")
    session.add(message)
    orgs.create_api_token(session, civil, name="同步程序", max_days=30)
    ids["connection"] = _police_connection(session, world)
    ids["alias"] = orgs.add_alias(session, SYSTEM, world.ids["police"], "安徽省公安厅").id
    session.flush()
    ids.update(webhook=hook.id, message=message.id, user=world.ids["user:civil_manager"],
               token=session.scalars(select(ApiToken.id).where(ApiToken.name == "同步程序")).one(),
               notification=session.scalars(select(Notification.id).where(
                   Notification.user_id == world.ids["user:police_reviewer"]).order_by(Notification.id)).first(),
               police=world.ids["police"], other_system=other_system.id)
    assert all(value is not None for value in ids.values()), ids
    return ids


def _police_connection(session, world) -> int:
    """A data connection the platform admin registered for 省公安厅 (an internal upstream API: no DNS lookup)."""
    from govshare.gateway import connections

    return connections.register(session, SYSTEM, world.ids["police"], "公安人口接口", "http",
                                "https://rk.police.example.cn/api/", internal=True).id


def snapshot(db, skip: tuple[str, ...] = ()) -> dict:
    """Every row of every table (but `skip`), in primary key order."""
    with db.engine.connect() as conn:
        return {table.name: conn.execute(select(table).order_by(*table.primary_key.columns)).all()
                for table in Base.metadata.sorted_tables if table.name not in skip}


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


# ---------------------------------------------------------------- the cases


@dataclass
class Idor:
    """One route with an id in its path: which objects of the scene its parameters name, and the body a rightful
    user would send (so that a refusal is about who asks, not about a malformed request)."""

    params: Callable[[dict], dict]
    body: Callable[[dict], dict | None] = lambda _ids: None
    form: bool = False  # a page: a form post (or a page view), with the session cookie
    files: Callable[[dict], dict] | None = None


def _entry_body(name: str) -> dict:
    return population_entry(name=name).model_dump(mode="json")


def _entry_form(name: str, **extra) -> dict:
    from tests.test_web import _form_of

    return {**_form_of(population_entry(name=name)), **extra}


def _later(days: int = 400) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


REASON = {"reason": "越权操作"}
ANSWER = {"answer": "confirmed", "reason": "越权答复"}
EVIDENCE_FILE = ("越权上传的依据.png", PNG, "image/png")
DECISION = {"decision": "approve", "reason": "越权同意"}


def _p(**names: str) -> Callable[[dict], dict]:
    """Path parameters from scene ids: _p(entry_id="entry_draft") -> {"entry_id": ids["entry_draft"]}."""
    return lambda ids: {param: ids[key] for param, key in names.items()}


def _page(params, body=lambda _ids: None, files=None) -> Idor:
    return Idor(params, body, form=True, files=files)


CASES: dict[tuple[str, str], Idor] = {
    # ------------------------------------------------ API: people, tokens
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): Idor(_p(token_id="token")),
    ("POST", "/api/v1/users/{user_id}/activate"): Idor(_p(user_id="user")),
    ("POST", "/api/v1/users/{user_id}/deactivate"): Idor(_p(user_id="user")),
    ("POST", "/api/v1/users/{user_id}/password"): Idor(_p(user_id="user"), lambda _i: {"password": "越权设置的新密码"}),
    ("POST", "/api/v1/users/{user_id}/role"): Idor(_p(user_id="user"), lambda _i: {"role": "platform_admin"}),
    # ------------------------------------------------ API: catalog
    ("GET", "/api/v1/catalog/entries/{entry_id}"): Idor(_p(entry_id="entry_draft")),
    ("PUT", "/api/v1/catalog/entries/{entry_id}"): Idor(_p(entry_id="entry_draft"),
                                                        lambda _i: _entry_body("被篡改的名称")),
    ("GET", "/api/v1/catalog/entries/{entry_id}/history"): Idor(_p(entry_id="entry_draft")),
    ("GET", "/api/v1/catalog/entries/{entry_id}/revisions"): Idor(_p(entry_id="entry_draft")),
    ("GET", "/api/v1/catalog/entries/{entry_id}/versions/{version}"):
        Idor(lambda ids: {"entry_id": ids["entry_draft"], "version": 1}),
    ("POST", "/api/v1/catalog/entries/{entry_id}/submit"): Idor(_p(entry_id="entry_draft")),
    ("POST", "/api/v1/catalog/entries/{entry_id}/publish"): Idor(_p(entry_id="entry_submitted")),
    ("POST", "/api/v1/catalog/entries/{entry_id}/return"): Idor(_p(entry_id="entry_submitted"), lambda _i: REASON),
    ("POST", "/api/v1/catalog/entries/{entry_id}/data-updated"): Idor(_p(entry_id="entry_published")),
    ("POST", "/api/v1/catalog/entries/{entry_id}/revisions"):
        Idor(_p(entry_id="entry_published"), lambda _i: {"entry": _entry_body("越权修订"), "reason": "越权"}),
    ("POST", "/api/v1/catalog/entries/{entry_id}/items"):
        Idor(_p(entry_id="entry_draft"), lambda _i: {"items": [{"name": "yq", "chinese_name": "越权信息项"}]}),
    ("POST", "/api/v1/catalog/revisions/{revision_id}/approve"): Idor(_p(revision_id="revision")),
    ("POST", "/api/v1/catalog/revisions/{revision_id}/return"): Idor(_p(revision_id="revision"), lambda _i: REASON),
    ("POST", "/api/v1/catalog/one-source/clusters/{cluster_id}/lead"):
        Idor(_p(cluster_id="cluster"), lambda ids: {"department_id": ids["police"], "reason": "越权指定"}),
    # ------------------------------------------------ API: sharing
    ("GET", "/api/v1/sharing/requests/{request_id}"): Idor(_p(request_id="request_submitted")),
    ("GET", "/api/v1/sharing/requests/{request_id}/history"): Idor(_p(request_id="request_submitted")),
    ("GET", "/api/v1/sharing/requests/{request_id}/disputes"): Idor(_p(request_id="request_refused")),
    ("POST", "/api/v1/sharing/requests/{request_id}/submit"): Idor(_p(request_id="request_draft")),
    ("POST", "/api/v1/sharing/requests/{request_id}/withdraw"): Idor(_p(request_id="request_submitted"),
                                                                     lambda _i: REASON),
    ("POST", "/api/v1/sharing/requests/{request_id}/reply"): Idor(_p(request_id="request_submitted"),
                                                                  lambda _i: {"decision": "approve"}),
    ("POST", "/api/v1/sharing/requests/{request_id}/renew"): Idor(_p(request_id="request_approved"),
                                                                  lambda _i: {"period_end": _later()}),
    ("POST", "/api/v1/sharing/requests/{request_id}/escalate"): Idor(_p(request_id="request_refused"),
                                                                     lambda _i: REASON),
    ("POST", "/api/v1/sharing/disputes/{step_id}/decide"): Idor(_p(step_id="step"), lambda _i: DECISION),
    ("GET", "/api/v1/sharing/grants/{grant_id}"): Idor(_p(grant_id="grant_active")),
    ("POST", "/api/v1/sharing/grants/{grant_id}/revoke"): Idor(_p(grant_id="grant_active"), lambda _i: REASON),
    ("POST", "/api/v1/sharing/grants/{grant_id}/reinstate"): Idor(_p(grant_id="grant_suspended"), lambda _i: REASON),
    ("POST", "/api/v1/sharing/grants/{grant_id}/purpose-achieved"): Idor(_p(grant_id="grant_active"),
                                                                         lambda _i: REASON),
    ("POST", "/api/v1/sharing/grants/{grant_id}/confirm-deletion"): Idor(_p(grant_id="grant_ended"),
                                                                         lambda _i: REASON),
    ("POST", "/api/v1/sharing/service-changes/{change_id}/decide"):
        Idor(_p(change_id="change"), lambda _i: {"approve": True, "reason": "同意"}),
    ("POST", "/api/v1/sharing/systems/{system_id}/rotate"): Idor(_p(system_id="system")),
    ("POST", "/api/v1/sharing/systems/{system_id}/revoke"): Idor(_p(system_id="system")),
    ("GET", "/api/v1/gateway/grants/{grant_id}/masking"): Idor(_p(grant_id="grant_active")),
    ("PUT", "/api/v1/gateway/grants/{grant_id}/masking"): Idor(_p(grant_id="grant_active"),
                                                               lambda _i: {"rules": {"xm": "none", "gmsfhm": "none"}}),
    # ------------------------------------------------ API: sources
    ("GET", "/api/v1/sources/{entry_id}"): Idor(_p(entry_id="entry_source")),
    ("POST", "/api/v1/sources/{entry_id}/confirm"): Idor(_p(entry_id="entry_source"),
                                                         lambda _i: {"accept_all": True}),
    ("DELETE", "/api/v1/sources/{entry_id}"): Idor(_p(entry_id="entry_source")),
    # ------------------------------------------------ API: demands, notifications, webhooks
    ("GET", "/api/v1/demands/{demand_id}"): Idor(_p(demand_id="demand_routed")),
    ("POST", "/api/v1/demands/{demand_id}/route"): Idor(_p(demand_id="demand_open"),
                                                        lambda ids: {"provider_id": ids["police"]}),
    ("POST", "/api/v1/demands/{demand_id}/accept-suggestion"):
        Idor(_p(demand_id="demand_routed"), lambda ids: {"entry_id": ids["entry_published"]}),
    ("POST", "/api/v1/demands/{demand_id}/withdraw"): Idor(_p(demand_id="demand_routed"),
                                                          lambda _i: {"reason": "越权撤回"}),
    ("POST", "/api/v1/demands/{demand_id}/answer"):
        Idor(_p(demand_id="demand_routed"), lambda _i: {"accept": False, "reason": "越权答复"}),
    ("POST", "/api/v1/demands/{demand_id}/link"): Idor(_p(demand_id="demand_routed"),
                                                       lambda ids: {"entry_id": ids["entry_published"]}),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Idor(_p(notification_id="notification")),
    ("GET", "/api/v1/webhooks/{webhook_id}"): Idor(_p(webhook_id="webhook")),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): Idor(_p(webhook_id="webhook")),
    ("POST", "/api/v1/webhooks/{webhook_id}/deactivate"): Idor(_p(webhook_id="webhook")),
    ("POST", "/api/v1/webhooks/{webhook_id}/activate"): Idor(_p(webhook_id="webhook")),
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"): Idor(_p(webhook_id="webhook")),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): Idor(_p(webhook_id="webhook")),
    ("POST", "/api/v1/webhooks/deliveries/{message_id}/retry"): Idor(_p(message_id="message")),
    ("DELETE", "/api/v1/connections/{connection_id}"): Idor(_p(connection_id="connection")),
    # ------------------------------------------------ pages
    ("GET", "/catalog/{entry_id}"): _page(_p(entry_id="entry_draft")),
    ("GET", "/my/catalog/{entry_id}/edit"): _page(_p(entry_id="entry_draft")),
    ("POST", "/my/catalog/{entry_id}/edit"): _page(_p(entry_id="entry_draft"), lambda _i: _entry_form("被篡改的名称")),
    ("POST", "/my/catalog/{entry_id}/submit"): _page(_p(entry_id="entry_draft")),
    ("GET", "/my/catalog/{entry_id}/revise"): _page(_p(entry_id="entry_published")),
    ("POST", "/my/catalog/{entry_id}/revise"): _page(_p(entry_id="entry_published"),
                                                     lambda _i: _entry_form("越权修订", reason="越权")),
    ("POST", "/review/{entry_id}/publish"): _page(_p(entry_id="entry_submitted")),
    ("POST", "/review/{entry_id}/return"): _page(_p(entry_id="entry_submitted"), lambda _i: REASON),
    ("POST", "/review/revisions/{revision_id}/approve"): _page(_p(revision_id="revision")),
    ("POST", "/review/revisions/{revision_id}/return"): _page(_p(revision_id="revision"), lambda _i: REASON),
    ("POST", "/one-source/{cluster_id}/lead"):
        _page(_p(cluster_id="cluster"), lambda ids: {"department_id": str(ids["police"]), "reason": "越权指定"}),
    ("GET", "/sharing/requests/{request_id}"): _page(_p(request_id="request_submitted")),
    ("POST", "/sharing/requests/{request_id}/submit"): _page(_p(request_id="request_draft")),
    ("POST", "/sharing/requests/{request_id}/withdraw"): _page(_p(request_id="request_submitted"), lambda _i: REASON),
    ("POST", "/sharing/requests/{request_id}/reply"): _page(_p(request_id="request_submitted"),
                                                            lambda _i: {"decision": "approve"}),
    ("POST", "/sharing/requests/{request_id}/renew"): _page(_p(request_id="request_approved"),
                                                            lambda _i: {"period_end": _later()}),
    ("POST", "/sharing/requests/{request_id}/escalate"): _page(_p(request_id="request_refused"), lambda _i: REASON),
    ("POST", "/sharing/disputes/{step_id}/decide"): _page(_p(step_id="step"), lambda _i: DECISION),
    ("POST", "/sharing/grants/{grant_id}/revoke"): _page(_p(grant_id="grant_active"), lambda _i: REASON),
    ("POST", "/sharing/grants/{grant_id}/reinstate"): _page(_p(grant_id="grant_suspended"), lambda _i: REASON),
    ("POST", "/sharing/grants/{grant_id}/purpose-achieved"): _page(_p(grant_id="grant_active"), lambda _i: REASON),
    ("POST", "/sharing/grants/{grant_id}/confirm-deletion"): _page(_p(grant_id="grant_ended"), lambda _i: REASON),
    ("GET", "/sharing/changes/{change_id}"): _page(_p(change_id="change")),
    ("POST", "/sharing/changes/{change_id}/decide"): _page(_p(change_id="change"), lambda _i: DECISION),
    ("POST", "/sharing/systems/{system_id}/rotate"): _page(_p(system_id="system")),
    ("POST", "/sharing/systems/{system_id}/revoke"): _page(_p(system_id="system")),
    ("GET", "/sources/{entry_id}"): _page(_p(entry_id="entry_source")),
    ("POST", "/sources/{entry_id}/confirm"): _page(_p(entry_id="entry_source"), lambda _i: {"accept_all": "1"}),
    ("POST", "/sources/{entry_id}/disconnect"): _page(_p(entry_id="entry_source")),
    ("POST", "/sources/{entry_id}/file"): _page(
        _p(entry_id="entry_source"), lambda _i: {"key_item": "gmsfhm"},
        files=lambda _i: {"file": ("rk.csv", b"GMSFHM,XM\n340104199001010011,\xe7\x8e\x8b\n", "text/csv")}),
    # the form's fields of before and after data connections (a named connection): refused either way
    ("POST", "/sources/{entry_id}/sql"): _page(_p(entry_id="entry_source"), lambda ids: {
        "url": "sqlite:////etc/passwd", "connection": str(ids["connection"]), "table": "RK_JBXX",
        "key_item": "gmsfhm"}),
    ("POST", "/sources/{entry_id}/http"): _page(_p(entry_id="entry_source"), lambda ids: {
        "url": "http://127.0.0.1:9/p", "connection": str(ids["connection"]), "path": "p", "key_item": "gmsfhm",
        "key_param": "sfzh", "column_map": '{"xm": "xm"}'}),
    ("GET", "/demands/{demand_id}"): _page(_p(demand_id="demand_routed")),
    ("POST", "/demands/{demand_id}/route"): _page(_p(demand_id="demand_open"),
                                                  lambda ids: {"provider_id": str(ids["police"])}),
    ("POST", "/demands/{demand_id}/accept"): _page(_p(demand_id="demand_routed"),
                                                   lambda ids: {"entry_id": str(ids["entry_published"])}),
    ("POST", "/demands/{demand_id}/withdraw"): _page(_p(demand_id="demand_routed"), lambda _i: {"reason": "越权撤回"}),
    ("POST", "/demands/{demand_id}/answer"): _page(_p(demand_id="demand_routed"),
                                                   lambda _i: {"accept": "no", "reason": "越权答复"}),
    ("POST", "/demands/{demand_id}/link"): _page(_p(demand_id="demand_routed"),
                                                 lambda ids: {"entry_id": str(ids["entry_published"])}),
    ("POST", "/notifications/{notification_id}/read"): _page(_p(notification_id="notification")),
    ("POST", "/admin/connections/{connection_id}/retire"): _page(_p(connection_id="connection")),
    # the platform administration (issue 14): another department's user, 省公安厅 and its alias
    ("POST", "/admin/users/{user_id}/deactivate"): _page(_p(user_id="user")),
    ("POST", "/admin/users/{user_id}/activate"): _page(_p(user_id="user")),
    ("POST", "/admin/users/{user_id}/password"): _page(_p(user_id="user"), lambda _i: {"password": "越权设置的新密码"}),
    ("POST", "/admin/users/{user_id}/role"): _page(_p(user_id="user"), lambda _i: {"role": "platform_admin"}),
    ("POST", "/admin/departments/{department_id}/aliases"): _page(_p(department_id="police"),
                                                                  lambda _i: {"alias": "越权别名"}),
    ("POST", "/admin/departments/{department_id}/aliases/{alias_id}/remove"):
        _page(_p(department_id="police", alias_id="alias")),
    # data quality (issue 15): rules and runs of a draft are the department's; changes are the provider's alone
    ("GET", "/api/v1/quality/entries/{entry_id}/rules"): Idor(_p(entry_id="entry_draft")),
    ("GET", "/api/v1/quality/entries/{entry_id}/runs"): Idor(_p(entry_id="entry_draft")),
    ("POST", "/api/v1/quality/entries/{entry_id}/rules"): Idor(_p(entry_id="entry_source"),
                                                               lambda _i: {"kind": "required", "item": "gmsfhm"}),
    ("POST", "/api/v1/quality/entries/{entry_id}/rules/propose"): Idor(_p(entry_id="entry_source")),
    ("POST", "/api/v1/quality/entries/{entry_id}/rules/confirm"): Idor(_p(entry_id="entry_source"),
                                                                       lambda ids: {"rule_ids": [ids["quality_rule"]]}),
    ("DELETE", "/api/v1/quality/entries/{entry_id}/rules/{rule_id}"):
        Idor(_p(entry_id="entry_source", rule_id="quality_rule")),
    ("POST", "/api/v1/quality/entries/{entry_id}/runs"): Idor(_p(entry_id="entry_source")),
    ("GET", "/catalog/{entry_id}/quality"): _page(_p(entry_id="entry_draft")),
    ("POST", "/catalog/{entry_id}/quality/run"): _page(_p(entry_id="entry_source")),
    ("POST", "/catalog/{entry_id}/quality/propose"): _page(_p(entry_id="entry_source")),
    ("POST", "/catalog/{entry_id}/quality/confirm"): _page(_p(entry_id="entry_source"),
                                                           lambda ids: {"rule_id": str(ids["quality_rule"])}),
    ("POST", "/catalog/{entry_id}/quality/rules"): _page(_p(entry_id="entry_source"),
                                                         lambda _i: {"kind": "required", "item": "gmsfhm"}),
    ("POST", "/catalog/{entry_id}/quality/rules/{rule_id}/remove"):
        _page(_p(entry_id="entry_source", rule_id="quality_rule")),
    # objections (R13): read by their parties only; the evidence file is the filer's, the answer the provider's
    ("GET", "/api/v1/objections/{objection_id}"): Idor(_p(objection_id="objection")),
    ("GET", "/api/v1/objections/{objection_id}/evidence"): Idor(_p(objection_id="objection_evidence")),
    ("POST", "/api/v1/objections/{objection_id}/answer"): Idor(_p(objection_id="objection"), lambda _i: ANSWER),
    ("POST", "/api/v1/objections/{objection_id}/evidence"): Idor(_p(objection_id="objection"),
                                                                 files=lambda _i: {"file": EVIDENCE_FILE}),
    ("GET", "/objections/{objection_id}"): _page(_p(objection_id="objection")),
    ("GET", "/objections/{objection_id}/evidence"): _page(_p(objection_id="objection_evidence")),
    ("POST", "/objections/{objection_id}/answer"): _page(_p(objection_id="objection"), lambda _i: ANSWER),
    ("POST", "/objections/{objection_id}/evidence"): _page(_p(objection_id="objection"),
                                                           files=lambda _i: {"evidence_file": EVIDENCE_FILE}),
}

# The data routes name the resource by its code and the grant by the `grant` parameter: a consumer system of
# another department presents its own token and 省民政厅's grant (test_r09_data_routes_...).
DATA_ROUTES = {
    ("GET", "/api/v1/data/{code:path}"), ("GET", "/api/v1/data/{code:path}/rows"),
    ("POST", "/api/v1/data/{code:path}/verify"), ("POST", "/api/v1/data/{code:path}/export"),
    ("GET", "/api/v1/data/{code:path}/preview"),
}
# Path parameters that name no department's object, so no other department can be refused one.
NOT_OBJECT_IDS = {
    ("POST", "/api/v1/departments/{department_id}/aliases"):
        "a department's alias: the platform administrator's alone (tests/test_department_aliases.py ALIAS_CASES)",
    ("DELETE", "/api/v1/departments/{department_id}/aliases/{alias_id}"): "a department's alias, as above",
    ("GET", "/api/v1/calendar/years/{year}"): "the national working-day calendar of a year: read by every user",
    ("PUT", "/api/v1/calendar/days/{day}"): "a calendar day, the platform administrator's alone "
                                            "(tests/authz_cases_issue3.py CALENDAR_REFUSED)",
    ("DELETE", "/api/v1/calendar/days/{day}"): "a calendar day, as above",
    ("GET", "/static/{name:path}"): "a packaged static file (tests/test_web.py: paths stay inside)",
    ("GET", "/workbench/{key}"): "a workbench panel's name, not an object: a panel lists only what the visitor's "
                                 "own readable_* queries return, and a panel of another role answers 404 "
                                 "(tests/test_workbench.py)",
    ("GET", "/workbench/{key}/export.xlsx"): "a workbench panel's export, as above",
}
# Readable by every logged-in user by design: a cluster is derived from the published catalog (R06).
# A quality run is of a published entry (only those are run) and is shown to whoever reads the entry (R14: scores
# are shown to requesters); its failing keys are masked as the gateway masks them (tests/test_quality.py).
PUBLIC_READS = {("GET", "/api/v1/catalog/one-source/clusters/{cluster_id}"), ("GET", "/api/v1/quality/runs/{run_id}")}


def _routes_with_ids(app) -> set[tuple[str, str]]:
    from tests.test_authz_api import _flatten

    return {(method, path) for path, methods in _flatten(app.routes) if re.search(r"\{[^}]+\}", path)
            for method in methods - {"HEAD"}}


def test_every_route_with_an_id_in_its_path_has_a_case(app):
    found = _routes_with_ids(app)
    covered = set(CASES) | DATA_ROUTES | set(NOT_OBJECT_IDS) | PUBLIC_READS
    assert found == covered, (
        f"routes with a path parameter and no IDOR case (add one to CASES, or to NOT_OBJECT_IDS with the reason): "
        f"{sorted(found - covered)}; cases of routes that no longer exist: {sorted(covered - found)}")


# ---------------------------------------------------------------- sending


@pytest.fixture
def scene(app, db, world, tmp_path) -> dict:
    registry.detach(db.url)  # the scene publishes entries: no search index to update (time)
    with db.session() as s:
        return build_scene(s, world, tmp_path)


def send(client, world, method: str, path: str, case: Idor, ids: dict, who: str):
    """The request of `who` (a page: the session cookie and the CSRF token a page form carries; the API: the
    bearer token)."""
    url = path.format(**case.params(ids))
    body = case.body(ids)
    client.cookies.clear()
    if case.form:
        client.cookies.set(SESSION_COOKIE, world.tokens[who])
        headers = {CSRF_HEADER: csrf_token(world.tokens[who])}
        if method == "GET":
            response = client.get(url, headers=headers, follow_redirects=False)
        else:
            response = client.post(url, data=body or {}, headers=headers, follow_redirects=False,
                                   files=case.files(ids) if case.files else None)
        client.cookies.clear()
        return response
    if case.files:  # an upload (multipart)
        return client.request(method, url, data=body, files=case.files(ids), headers=world.headers(who))
    return client.request(method, url, json=body, headers=world.headers(who))


def _assert_refused(response, case: Idor, label: str) -> None:
    assert response.status_code in (403, 404), f"{label}: {response.status_code} {response.text[:300]}"
    if case.form:
        assert "text/html" in response.headers["content-type"], label
    else:
        error = response.json()["error"]
        assert error["code"] in ("forbidden", "not_found"), f"{label}: {error}"


API_CASES = sorted(key for key, case in CASES.items() if not case.form)
PAGE_CASES = sorted(key for key, case in CASES.items() if case.form)


CHUNK = 8  # routes between two snapshots of the database (a snapshot reads every table)


def _run(client, db, world, scene, keys) -> None:
    failures = []
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        before = snapshot(db)
        for method, path in chunk:
            case = CASES[(method, path)]
            for who in ATTACKERS:
                label = f"{who} {method} {path}"
                try:
                    _assert_refused(send(client, world, method, path, case, scene, who), case, label)
                except AssertionError as problem:
                    failures.append(str(problem))
        after = snapshot(db)
        if after != before:
            failures.append(f"one of {chunk} changed {changed_tables(before, after)}")
    assert not failures, "\n".join(failures)


def test_r02_r18_api_routes_refuse_other_departments_ids_and_change_nothing(client, db, world, scene):
    _run(client, db, world, scene, API_CASES)


def test_r02_r18_pages_refuse_other_departments_ids_and_change_nothing(client, db, world, scene):
    _run(client, db, world, scene, PAGE_CASES)


def test_r02_the_rightful_users_reach_the_same_objects(client, db, world, scene):
    """The refusals above were about who asked: the owners of the scene's objects read them with the same ids."""
    owner_reads = [
        ("police_manager", "/api/v1/catalog/entries/{entry_draft}"),
        ("reviewer", "/api/v1/catalog/entries/{entry_submitted}"),
        ("civil_requester", "/api/v1/sharing/requests/{request_submitted}"),
        ("police_reviewer", "/api/v1/sharing/requests/{request_refused}/disputes"),
        ("civil_requester", "/api/v1/sharing/grants/{grant_active}"),
        ("police_reviewer", "/api/v1/gateway/grants/{grant_active}/masking"),
        ("police_manager", "/api/v1/sources/{entry_source}"),
        ("civil_requester", "/api/v1/demands/{demand_routed}"),
        ("civil_requester", "/api/v1/webhooks/{webhook}"),
        ("police_reviewer", "/api/v1/objections/{objection}"),
        ("civil_requester", "/api/v1/objections/{objection_evidence}/evidence"),
    ]
    for who, url in owner_reads:
        response = client.get(url.format(**scene), headers=world.headers(who))
        assert response.status_code == 200, (who, url, response.text[:300])
    client.cookies.set(SESSION_COOKIE, world.tokens["police_reviewer"])
    for url in ("/sharing/requests/{request_submitted}", "/sources/{entry_source}", "/sharing/changes/{change}",
                "/objections/{objection}", "/objections/{objection_evidence}/evidence"):
        assert client.get(url.format(**scene)).status_code == 200, url
    client.cookies.clear()


# ---------------------------------------------------------------- the data routes (R09, R12)


def test_r09_r12_data_routes_refuse_another_departments_system_and_users_and_record_it(client, db, world, scene):
    """省教育厅 registers its own system and presents 省民政厅's grant id on every data route: refused
    (wrong_system) and on the record with its own system and department; its people's preview of that grant is
    refused (no_grant) and recorded too; nothing else changes."""
    with db.session() as s:
        edu_system, edu_secret = consumer_system(s, world, "edu_requester", "学籍核验系统")
    headers = token_headers(client, edu_system.client_id, edu_secret)
    with db.session() as s:
        assert s.scalars(select(UsageRecord)).first() is None  # none yet: the scene made no call
    code, grant = scene["code"], scene["grant_active"]
    person = scene["person"]
    calls = {
        "lookup": lambda h: client.get(f"/api/v1/data/{code}", headers=h, params={"grant": grant, "key": person}),
        "page": lambda h: client.get(f"/api/v1/data/{code}/rows", headers=h, params={"grant": grant}),
        "verify": lambda h: client.post(f"/api/v1/data/{code}/verify", headers=h,
                                        json={"grant": grant, "fields": {"gmsfhm": person}}),
        "export": lambda h: client.post(f"/api/v1/data/{code}/export", headers=h, json={"grant": grant}),
    }
    audit_tables = ("usage_records", "audit_chain_head", "grant_usage_days")
    before = snapshot(db, skip=audit_tables)
    for mode, call in calls.items():
        response = call(headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "wrong_system", (mode, response.text)
        record = _last_record(db)
        assert (record.mode, record.result, record.reason, record.row_count) == (mode, "refused", "wrong_system", 0)
        assert (record.consumer_system_id, record.department_id) == (edu_system.id, world.ids["edu"])
    for who in ATTACKERS:
        response = client.get(f"/api/v1/data/{code}/preview", params={"grant": grant}, headers=world.headers(who))
        assert response.status_code == 403, (who, response.text)
        record = _last_record(db)
        assert (record.mode, record.result, record.user_id) == ("preview", "refused", world.ids[f"user:{who}"])
        page = _page_as(client, world, who, f"/data/preview?grant={grant}")
        assert page.status_code in (403, 404) and "<td" not in page.text, who
        verify = _page_as(client, world, who, f"/data/verify?grant={grant}")
        assert verify.status_code in (403, 404) and 'name="field_' not in verify.text, who
        client.cookies.set(SESSION_COOKIE, world.tokens[who])
        posted = client.post("/data/verify", data={"grant": str(grant), "field_gmsfhm": person,
                                                   "csrf_token": csrf_token(world.tokens[who])}, follow_redirects=False)
        client.cookies.clear()
        assert posted.status_code in (403, 404) and "核验结果" not in posted.text, who
    assert snapshot(db, skip=audit_tables) == before
    with db.session() as s:
        assert s.get(Grant, grant).status == "active"  # wrong_system and no_grant do not count toward suspension


def _last_record(db) -> UsageRecord:
    with db.session() as s:
        return s.scalars(select(UsageRecord).order_by(UsageRecord.seq.desc())).first()


def _page_as(client, world, who: str, url: str):
    client.cookies.set(SESSION_COOKIE, world.tokens[who])
    try:
        return client.get(url, follow_redirects=False)
    finally:
        client.cookies.clear()


# ---------------------------------------------------------------- ids in the query string


def test_r02_ids_in_the_query_string_are_checked_like_path_ids(client, db, world, scene):
    """Routes that take an object's id as a query parameter: another department's id gives no access."""
    own = token_headers(client, scene["client_id"], scene["secret"])  # one genuine call: a record of the grant
    assert client.get(f"/api/v1/data/{scene['code']}", headers=own,
                      params={"grant": scene["grant_active"], "key": scene["person"]}).status_code == 200
    mine = client.get("/api/v1/audit/records", params={"grant": scene["grant_active"]},
                      headers=world.headers("civil_requester"))
    assert mine.status_code == 200 and len(mine.json()) == 1, mine.text
    before = snapshot(db, skip=("usage_records", "audit_chain_head", "grant_usage_days"))
    for who in ATTACKERS:
        tokens = client.get("/api/v1/auth/tokens", params={"user_id": scene["user"]}, headers=world.headers(who))
        assert tokens.status_code in (403, 404), (who, tokens.text)
        hooks = client.get("/api/v1/webhooks", params={"department_id": world.ids["civil"]},
                           headers=world.headers(who))
        assert hooks.status_code in (403, 404) or hooks.json() == [], (who, hooks.text)
        records = client.get("/api/v1/audit/records", params={"grant": scene["grant_active"]},
                             headers=world.headers(who))
        assert records.status_code in (403, 404) or records.json() == [], (who, records.text[:300])
        new_request = _page_as(client, world, who, f"/sharing/requests/new?entry={scene['entry_draft']}")
        assert "人口基本信息（草稿）" not in new_request.text, who  # a draft of another department is not offered
        # objections (R13): 省民政厅's grant offers no filing form to another department, takes no objection from
        # it, and the list filtered by the entry shows none of 省民政厅's objections
        new_objection = _page_as(client, world, who, f"/objections/new?grant={scene['grant_active']}")
        assert new_objection.status_code in (403, 404) and 'name="key"' not in new_objection.text, who
        client.cookies.set(SESSION_COOKIE, world.tokens[who])
        posted = client.post("/objections", data={"grant": str(scene["grant_active"]), "key": scene["person"],
                                                  "items": "xm", "evidence": "越权提出的核实",
                                                  "csrf_token": csrf_token(world.tokens[who])}, follow_redirects=False)
        client.cookies.clear()
        assert posted.status_code in (403, 404), (who, posted.status_code)
        filed_api = client.post("/api/v1/objections", headers=world.headers(who), json={
            "grant_id": scene["grant_active"], "key": scene["person"], "items": ["xm"], "evidence": "越权提出的核实"})
        assert filed_api.status_code in (403, 404), (who, filed_api.text)
        listed = client.get("/api/v1/objections", params={"entry_id": scene["entry_source"]},
                            headers=world.headers(who))
        assert listed.status_code == 200 and listed.json() == [], (who, listed.text[:300])
    assert snapshot(db, skip=("usage_records", "audit_chain_head", "grant_usage_days")) == before
