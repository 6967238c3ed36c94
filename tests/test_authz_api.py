"""Negative authorization tests through the HTTP API (R02, R18).

Every write route of the app (POST/PUT/PATCH/DELETE under /api/v1) is enumerated from the app itself and
must have a case here: without a token it answers 401 with the one error shape; a user of another
department, another authority or the wrong role gets 403 or 404 and nothing stored changes; the auditor
gets 403 everywhere. A write route added without a case here fails `test_every_write_route_has_a_case`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from govshare.authz import Actor
from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import EntryRevision, SourceCluster
from govshare.db import utcnow
from govshare.orgs import service as orgs
from govshare.orgs.models import ApiToken, Department, User
from tests.authz_case import Case
from tests.authz_cases_issue3 import ISSUE3_CASES, ISSUE3_SELF_SERVICE_WRITE_ROUTES
from tests.authz_cases_issue4_audit import AUDIT_CASES
from tests.authz_cases_issue4_gateway import (
    ISSUE4_GATEWAY_CASES,
    ISSUE4_PUBLIC_WRITE_ROUTES,
    ISSUE4_SYSTEM_TOKEN_WRITE_ROUTES,
)
from tests.authz_cases_issue4_sources import ISSUE4_SOURCE_CASES
from tests.authz_cases_issue15_objections import OBJECTION_CASES, OBJECTION_READS
from tests.authz_cases_issue15_quality import QUALITY_CASES
from tests.factories import SYSTEM, population_entry, published_entry
from tests.objection_factories import PNG
from tests.test_department_aliases import ALIAS_CASES

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
API_PREFIX = "/api/v1"


# ---------------------------------------------------------------- enumerating the app's routes


def _flatten(routes) -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers (FastAPI >= 0.16x keeps them lazy) and mounts."""
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                yield context.path, set(context.methods or ())
        elif getattr(route, "methods", None) and hasattr(route, "path"):
            yield route.path, set(route.methods)
        elif hasattr(route, "routes") and hasattr(route, "path"):
            for path, methods in _flatten(route.routes or []):
                yield route.path + path, methods


def write_routes(app) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, methods in _flatten(app.routes)
        if path.startswith(API_PREFIX)
        for method in methods & WRITE_METHODS
    }


# ---------------------------------------------------------------- the cases


def _entry_body(**overrides) -> dict:
    return population_entry(**overrides).model_dump(mode="json")


def _draft(session, world, manager="police_manager") -> dict:
    entry = catalog.create_entry(session, world.actors[manager], population_entry())
    return {"entry_id": entry.id}


def _submitted(session, world, manager="police_manager") -> dict:
    entry = catalog.create_entry(session, world.actors[manager], population_entry())
    catalog.submit_entry(session, world.actors[manager], entry.id)
    return {"entry_id": entry.id}


def _published(session, world) -> dict:
    return {"entry_id": published_entry(session, world).id}


def _with_revision(session, world) -> dict:
    entry = published_entry(session, world)
    revision = catalog.propose_revision(session, world.actors["police_manager"], entry.id,
                                        population_entry(name="人口基本信息（修订）"), "字段说明更新")
    return {"entry_id": entry.id, "revision_id": revision.id}


def _same_item_in_two_departments(session, world) -> dict:
    """公安 and 民政 both publish 公民身份号码 etc.: material for one-source detection (R06)."""
    published_entry(session, world)
    published_entry(session, world, "civil_manager", name="低保对象信息")
    return {}


def _detected_cluster(session, world) -> dict:
    _same_item_in_two_departments(session, world)
    onesource.detect_clusters(session, SYSTEM)
    cluster = session.scalars(select(SourceCluster).order_by(SourceCluster.id)).first()
    return {"cluster_id": cluster.id, "department_id": world.ids["police"]}


def _nothing(_session, _world) -> dict:
    return {}


def _entry_state(session, params) -> dict:
    """Everything about one entry a write could change: content, status, version, history, revisions."""
    entry_id = params["entry_id"]
    out = catalog.to_out(catalog.get_entry(session, SYSTEM, entry_id))
    events = [(e.id, e.action, e.version) for e in catalog.history(session, SYSTEM, entry_id)]
    revisions = [(r.id, r.status, r.return_reason) for r in catalog.list_revisions(session, SYSTEM, entry_id)]
    return {"entry": out, "events": events, "revisions": revisions}


def _entry_count(session, _params) -> int:
    return len(catalog.list_entries(session, SYSTEM, limit=500))


def _cluster_state(session, _params) -> list:
    clusters = session.scalars(select(SourceCluster).order_by(SourceCluster.key))
    return [(c.key, c.lead_department_id, c.named_by_id, sorted(m.data_item_id for m in c.members))
            for c in clusters]


def _catalog_and_departments(session, params) -> tuple[int, int]:
    """An import creates entries and, for an administrator, provider departments."""
    return _entry_count(session, params), _department_count(session, params)


IMPORT_HEADER = "目录名称,提供部门,分类代码,摘要,数据格式,共享类型,共享条件,共享方式,更新周期,信息项\n"


def _import_file(provider: str = "省公安厅", name: str = "导入的人口信息") -> dict:
    row = f"{name},{provider},101,全省户籍人口,数据库,无条件共享,,接口,每日,姓名\n"
    return {"files": {"file": ("catalog.csv", (IMPORT_HEADER + row).encode(), "text/csv")},
            "data": {"region_code": "340000"}}


def _department_count(session, _params) -> int:
    return session.scalar(select(func.count()).select_from(Department))


def _user_count(session, _params) -> int:
    return session.scalar(select(func.count()).select_from(User))


def _active_user(session, world) -> dict:
    """civil_manager with a program token besides the login: both must die on deactivation (R18)."""
    orgs.create_api_token(session, world.actors["civil_manager"], name="同步程序", max_days=365)
    return {"user_id": world.ids["user:civil_manager"]}


def _inactive_user(session, world) -> dict:
    params = _active_user(session, world)
    orgs.set_user_active(session, SYSTEM, params["user_id"], active=False)
    return params


def _user_state(session, params) -> tuple:
    """Whether the user is active, and which of their tokens are revoked."""
    user = session.get(User, params["user_id"])
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    return user.is_active, [(t.id, t.revoked_at is not None) for t in tokens]


def _user_credentials(session, params) -> tuple:
    """The user's role and password hash, whether active, and which of their tokens are revoked."""
    user = session.get(User, params["user_id"])
    return user.role, user.password_hash, _user_state(session, params)


# Who is refused. "Other department" is a catalog manager elsewhere (same province and a city), "other
# authority" a reviewer of the city below or of another province, "wrong role" a user of the owning
# department or authority whose role does not allow the write.
EDITORS_REFUSED = ("civil_manager", "city_civil_manager", "police_reviewer", "civil_requester", "reviewer",
                   "admin")
REVIEWERS_REFUSED = ("city_reviewer", "other_reviewer", "police_manager", "police_reviewer", "civil_manager",
                     "civil_requester")
ADMINS_REFUSED = ("reviewer", "police_manager", "police_reviewer", "civil_requester", "city_reviewer")

CASES = [
    *ALIAS_CASES,
    Case("POST", "/api/v1/departments", _nothing,
         lambda _p: {"name": "省教育厅", "level": "provincial", "region_code": "340000"},
         ADMINS_REFUSED, "admin", _department_count, owner_status=201),
    Case("POST", "/api/v1/users", lambda _s, world: {"department_id": world.ids["civil"]},
         lambda p: {"username": "intruder", "password": "long-enough-1", "role": "platform_admin",
                    "department_id": p["department_id"]},
         ADMINS_REFUSED, "admin", _user_count, owner_status=201),
    # R18: deactivating a user takes effect at once; the user themself and a colleague are refused too.
    Case("POST", "/api/v1/users/{user_id}/deactivate", _active_user, lambda _p: None,
         (*ADMINS_REFUSED, "civil_manager", "city_civil_manager"), "admin", _user_state),
    Case("POST", "/api/v1/users/{user_id}/activate", _inactive_user, lambda _p: None,
         (*ADMINS_REFUSED, "city_civil_manager"), "admin", _user_state),
    # issue 14: a new password or a new role ends the user's sessions; the user themself is refused too.
    Case("POST", "/api/v1/users/{user_id}/password", _active_user, lambda _p: {"password": "reset-by-admin-1"},
         (*ADMINS_REFUSED, "civil_manager", "city_civil_manager"), "admin", _user_credentials),
    Case("POST", "/api/v1/users/{user_id}/role", _active_user, lambda _p: {"role": "platform_admin"},
         (*ADMINS_REFUSED, "civil_manager", "city_civil_manager"), "admin", _user_credentials),
    Case("POST", "/api/v1/catalog/entries", _nothing, lambda _p: _entry_body(),
         EDITORS_REFUSED, "police_manager", _entry_count, owner_status=201,
         extra={"query_provider": "police"}),
    Case("PUT", "/api/v1/catalog/entries/{entry_id}", _draft, lambda _p: _entry_body(name="被篡改的名称"),
         EDITORS_REFUSED, "police_manager", _entry_state),
    Case("POST", "/api/v1/catalog/entries/{entry_id}/submit", _draft, lambda _p: None,
         EDITORS_REFUSED, "police_manager", _entry_state),
    Case("POST", "/api/v1/catalog/entries/{entry_id}/publish", _submitted, lambda _p: None,
         REVIEWERS_REFUSED, "reviewer", _entry_state),
    Case("POST", "/api/v1/catalog/entries/{entry_id}/return", _submitted, lambda _p: {"reason": "越权退回"},
         REVIEWERS_REFUSED, "reviewer", _entry_state),
    Case("POST", "/api/v1/catalog/entries/{entry_id}/data-updated", _published, lambda _p: None,
         EDITORS_REFUSED, "police_manager", _entry_state),
    Case("POST", "/api/v1/catalog/entries/{entry_id}/revisions", _published,
         lambda _p: {"entry": _entry_body(name="越权修订"), "reason": "越权"},
         EDITORS_REFUSED, "police_manager", _entry_state, owner_status=201),
    Case("POST", "/api/v1/catalog/entries/{entry_id}/items", _draft,
         lambda _p: {"items": [{"name": "yqzd", "chinese_name": "越权字段"}], "reason": "越权"},
         EDITORS_REFUSED, "police_manager", _entry_state),
    Case("POST", "/api/v1/catalog/revisions/{revision_id}/approve", _with_revision, lambda _p: None,
         REVIEWERS_REFUSED, "reviewer", _entry_state),
    Case("POST", "/api/v1/catalog/revisions/{revision_id}/return", _with_revision, lambda _p: {"reason": "越权退回"},
         REVIEWERS_REFUSED, "reviewer", _entry_state),
    # Other departments' managers are not refused by role here: their rows naming another provider are rejected
    # one by one in the import report (test_r02_import_cannot_create_entries_for_another_department).
    Case("POST", "/api/v1/catalog/import", _nothing, lambda _p: _import_file(),
         ("police_reviewer", "civil_requester", "reviewer", "city_reviewer"), "police_manager",
         _catalog_and_departments, multipart=True),
    # R06: detection rebuilds derived clusters from the published catalog: any competent authority may run it.
    Case("POST", "/api/v1/catalog/one-source/detect", _same_item_in_two_departments, lambda _p: None,
         ("police_manager", "police_reviewer", "civil_manager", "civil_requester"), "reviewer", _cluster_state),
    Case("POST", "/api/v1/catalog/one-source/clusters/{cluster_id}/lead", _detected_cluster,
         lambda p: {"department_id": p["department_id"], "reason": "公安机关依法负责户籍管理"},
         (*REVIEWERS_REFUSED, "admin"), "reviewer", _cluster_state),
    *ISSUE3_CASES,  # sharing, disputes, grants, service changes, systems, demands, calendar, webhooks
    *ISSUE4_GATEWAY_CASES,  # masking rules of grants
    *ISSUE4_SOURCE_CASES,  # connecting, confirming and disconnecting sources
    *QUALITY_CASES,  # declaring, proposing, confirming, removing and running quality rules; reference tables
    *OBJECTION_CASES,  # filing objections, their evidence files and the provider's answer (R13)
    *AUDIT_CASES,  # signing a checkpoint of the usage records
]

# Write routes that are not refused by role on purpose, each with its own tests below.
PUBLIC_WRITE_ROUTES = {("POST", "/api/v1/auth/login"), *ISSUE4_PUBLIC_WRITE_ROUTES}  # logging in needs no token
# A token for oneself (same role), revoking one's own token, logging out: anybody with a login, the auditor
# too; another user's token is not found (404). See the token tests below.
SELF_SERVICE_WRITE_ROUTES = {
    ("POST", "/api/v1/auth/tokens"),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"),
    ("POST", "/api/v1/auth/logout"),
    *ISSUE3_SELF_SERVICE_WRITE_ROUTES,  # marking one's own notifications read
}

CASES_BY_ID = {case.id: case for case in CASES}


def _prepare(db, world, case: Case) -> dict:
    with db.session() as s:
        params = case.prepare(s, world)
        if "query_provider" in case.extra:
            params["provider"] = world.ids[case.extra["query_provider"]]
    return params


def _send(client, world, case: Case, params: dict, who: str | None):
    query = ({"provider_id": params["provider"]} if "provider" in params else {}) | case.extra.get("query", {})
    headers = world.headers(who) if who else {}
    if case.multipart:
        return client.request(case.method, case.url(params), params=query, headers=headers, **case.body(params))
    return client.request(case.method, case.url(params), json=case.body(params), params=query, headers=headers)


def _state(db, case: Case, params: dict):
    with db.session() as s:
        return case.state(s, params)


def _assert_error_shape(response, status: set[int] | int) -> None:
    expected = {status} if isinstance(status, int) else status
    assert response.status_code in expected, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["message"], body


# ---------------------------------------------------------------- completeness


def test_every_write_route_has_a_case(app):
    """A write endpoint added to the app without a negative authorization case here fails the suite."""
    covered = ({(c.method, c.path) for c in CASES} | PUBLIC_WRITE_ROUTES | SELF_SERVICE_WRITE_ROUTES
               | ISSUE4_SYSTEM_TOKEN_WRITE_ROUTES)  # data routes: system tokens, tested in tests/test_gateway.py
    found = write_routes(app)
    assert found == covered, (
        f"write routes without an authorization case: {sorted(found - covered)}; "
        f"cases for routes that no longer exist: {sorted(covered - found)}"
    )


# ---------------------------------------------------------------- per route


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_r18_write_route_without_token_is_401(client, db, world, case):
    params = _prepare(db, world, case)
    before = _state(db, case, params)
    response = _send(client, world, case, params, None)
    _assert_error_shape(response, 401)
    assert response.json()["error"]["code"] == "not_authenticated"
    assert _state(db, case, params) == before


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_r18_auditor_is_refused_on_every_write_route(client, db, world, case):
    params = _prepare(db, world, case)
    before = _state(db, case, params)
    response = _send(client, world, case, params, "auditor")
    _assert_error_shape(response, 403)
    assert response.json()["error"]["code"] == "forbidden"
    assert _state(db, case, params) == before


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_r02_r18_other_departments_authorities_and_roles_change_nothing(client, db, world, case):
    """Another department's manager, another authority's reviewer, and a wrong role in the same department
    are all refused (403, or 404 where the row is not theirs to see), and the stored row is unchanged.
    Then the rightful user succeeds with the very same request, so the refusals were about who asked."""
    params = _prepare(db, world, case)
    before = _state(db, case, params)
    for who in case.intruders:
        response = _send(client, world, case, params, who)
        _assert_error_shape(response, {403, 404})
        assert _state(db, case, params) == before, f"{who} changed the row through {case.id}"
    allowed = _send(client, world, case, params, case.owner)
    assert allowed.status_code == case.owner_status, allowed.text
    assert _state(db, case, params) != before


def test_r18_forged_token_cannot_write(client, db, world):
    case = CASES_BY_ID["PUT /api/v1/catalog/entries/{entry_id}"]
    params = _prepare(db, world, case)
    before = _state(db, case, params)
    response = client.put(case.url(params), json=case.body(params), headers={"Authorization": "Bearer gs_forged"})
    _assert_error_shape(response, 401)
    assert _state(db, case, params) == before


def test_r02_create_entry_for_another_department_is_refused(client, db, world):
    """A catalog manager names another department as provider: refused, nothing created."""
    before = _state(db, CASES_BY_ID["POST /api/v1/catalog/entries"], {})
    response = client.post("/api/v1/catalog/entries", params={"provider_id": world.ids["police"]},
                           json=_entry_body(), headers=world.headers("civil_manager"))
    _assert_error_shape(response, 403)
    assert response.json()["error"]["field"] == "department_id"
    assert _state(db, CASES_BY_ID["POST /api/v1/catalog/entries"], {}) == before


def test_r02_import_cannot_create_entries_for_another_department(client, db, world):
    """A catalog manager's file naming another department as provider: every such row is rejected with its
    column and rule, nothing is created; importing as already published is for the node operator only."""
    case = CASES_BY_ID["POST /api/v1/catalog/import"]
    before = _state(db, case, {})
    for who in ("civil_manager", "city_civil_manager"):
        response = client.post("/api/v1/catalog/import", headers=world.headers(who), **_import_file("省公安厅"))
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["created"] == 0 and report["departments_created"] == []
        assert [(r["column"], r["rule"]) for r in report["rejected"]] == [("提供部门", "只能导入本部门目录")]
        assert _state(db, case, {}) == before
    for who in ("police_manager", "civil_manager"):
        upload = _import_file("省公安厅")
        upload["data"]["publish"] = "true"
        _assert_error_shape(client.post("/api/v1/catalog/import", headers=world.headers(who), **upload), 403)
    upload = _import_file("省公安厅")
    upload["data"]["publish"] = "true"
    _assert_error_shape(client.post("/api/v1/catalog/import", headers=world.headers("admin"), **upload), {403, 422})
    assert _state(db, case, {}) == before


def test_r02_city_authority_cannot_publish_province_entry_but_province_covers_city(client, db, world):
    with db.session() as s:
        province_entry = _submitted(s, world)["entry_id"]
        city_entry = _submitted(s, world, manager="city_civil_manager")["entry_id"]
    refused = client.post(f"/api/v1/catalog/entries/{province_entry}/publish", headers=world.headers("city_reviewer"))
    _assert_error_shape(refused, 403)
    other_province = client.post(f"/api/v1/catalog/entries/{city_entry}/publish",
                                 headers=world.headers("other_reviewer"))
    _assert_error_shape(other_province, 403)
    with db.session() as s:
        assert [catalog.get_entry(s, SYSTEM, e).status for e in (province_entry, city_entry)] == ["submitted"] * 2
    assert client.post(f"/api/v1/catalog/entries/{city_entry}/publish",
                       headers=world.headers("reviewer")).json()["status"] == "published"
    assert client.post(f"/api/v1/catalog/entries/{province_entry}/publish",
                       headers=world.headers("reviewer")).json()["status"] == "published"
    with db.session() as s:
        assert [catalog.get_entry(s, SYSTEM, e).status for e in (province_entry, city_entry)] == ["published"] * 2


def test_r18_requester_cannot_create_departments_or_users(client, db, world):
    for path, body in (
        ("/api/v1/departments", {"name": "假部门", "level": "provincial", "region_code": "340000"}),
        ("/api/v1/users", {"username": "mallory", "password": "long-enough-1", "role": "platform_admin",
                           "department_id": world.ids["civil"]}),
    ):
        response = client.post(path, json=body, headers=world.headers("civil_requester"))
        _assert_error_shape(response, 403)
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "mallory")) is None
        assert s.scalar(select(Department).where(Department.name == "假部门")) is None


# ---------------------------------------------------------------- the routes that are not refused by role


def test_r18_login_is_public_and_refuses_bad_passwords(client, world):
    login = client.post("/api/v1/auth/login", json={"username": "auditor", "password": "correct-horse-9"})
    assert login.status_code == 200, login.text
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert me.json()["username"] == "auditor"  # the token it answers is a working login of that user
    bad = client.post("/api/v1/auth/login", json={"username": "auditor", "password": "wrong-password"})
    _assert_error_shape(bad, 401)
    assert bad.json()["error"]["field"] == "password"


def test_r18_token_route_needs_a_login_and_tokens_keep_the_role(client, db, world):
    """Anybody may make a token for their own programs, but never one with more rights than themselves:
    the auditor's program token is read-only too."""
    _assert_error_shape(client.post("/api/v1/auth/tokens", json={"name": "x"}), 401)
    _assert_error_shape(client.post("/api/v1/auth/tokens", json={"name": "x"},
                                    headers={"Authorization": "Bearer gs_forged"}), 401)
    made = client.post("/api/v1/auth/tokens", json={"name": "审计程序"}, headers=world.headers("auditor"))
    assert made.status_code == 201, made.text
    program = {"Authorization": f"Bearer {made.json()['token']}"}
    assert client.get("/api/v1/auth/me", headers=program).json()["role"] == "auditor"
    case = CASES_BY_ID["POST /api/v1/catalog/entries/{entry_id}/publish"]
    params = _prepare(db, world, case)
    before = _state(db, case, params)
    _assert_error_shape(client.post(case.url(params), headers=program), 403)
    _assert_error_shape(client.post("/api/v1/catalog/entries", json=_entry_body(), headers=program), 403)
    assert _state(db, case, params) == before


# ---------------------------------------------------------------- reading


def test_r02_draft_is_invisible_to_other_departments_visible_to_owner_and_auditor(client, db, world):
    with db.session() as s:
        entry_id = _draft(s, world)["entry_id"]
    for who in ("civil_manager", "civil_requester", "city_civil_manager", "reviewer", "city_reviewer"):
        for suffix in ("", "/history", "/revisions"):
            response = client.get(f"/api/v1/catalog/entries/{entry_id}{suffix}", headers=world.headers(who))
            _assert_error_shape(response, 404)
        listed = client.get("/api/v1/catalog/entries", headers=world.headers(who))
        assert listed.status_code == 200 and entry_id not in {e["id"] for e in listed.json()}
    for who in ("police_manager", "police_reviewer", "auditor", "admin"):
        assert client.get(f"/api/v1/catalog/entries/{entry_id}", headers=world.headers(who)).status_code == 200
        listed = client.get("/api/v1/catalog/entries", headers=world.headers(who))
        assert entry_id in {e["id"] for e in listed.json()}


def test_r02_submitted_entry_is_visible_to_the_authority_of_the_area_only(client, db, world):
    with db.session() as s:
        entry_id = _submitted(s, world)["entry_id"]
    assert client.get(f"/api/v1/catalog/entries/{entry_id}", headers=world.headers("reviewer")).status_code == 200
    for who in ("city_reviewer", "other_reviewer", "civil_manager"):
        _assert_error_shape(client.get(f"/api/v1/catalog/entries/{entry_id}", headers=world.headers(who)), 404)


def test_r18_auditor_reads_everything_but_writes_nothing(client, db, world):
    with db.session() as s:
        draft = _draft(s, world)["entry_id"]
        revised = _with_revision(s, world)
    auditor = world.headers("auditor")
    for url in (f"/api/v1/catalog/entries/{draft}", f"/api/v1/catalog/entries/{draft}/history",
                f"/api/v1/catalog/entries/{revised['entry_id']}/revisions",
                f"/api/v1/catalog/entries/{revised['entry_id']}/versions/1", "/api/v1/departments"):
        assert client.get(url, headers=auditor).status_code == 200, url
    with db.session() as s:
        assert s.get(EntryRevision, revised["revision_id"]).status == "submitted"


@pytest.mark.parametrize("read", OBJECTION_READS, ids=lambda r: r.id)
def test_r13_objections_are_read_by_their_parties_only(client, db, world, read):
    """An objection and its evidence file are read by its parties (R13: the requester and provider departments, the
    department it was forwarded to, the competent authority of the provider's area, the administrator and the
    auditor) and are not found (404) by anyone else, whose list does not show it either."""
    with db.session() as s:
        params = read.prepare(s, world)
    url = read.path.format(**params)
    _assert_error_shape(client.get(url), 401)
    for who in read.readers:
        response = client.get(url, headers=world.headers(who))
        assert response.status_code == 200, (who, response.text[:300])
        assert not url.endswith("/evidence") or response.content == PNG, who
        listed = client.get("/api/v1/objections", headers=world.headers(who))
        assert params["objection_id"] in {o["id"] for o in listed.json()}, who
    for who in read.refused:
        response = client.get(url, headers=world.headers(who))
        _assert_error_shape(response, 404)
        assert response.json()["error"]["field"] == "objection_id", (who, response.json())
        listed = client.get("/api/v1/objections", headers=world.headers(who))
        assert listed.status_code == 200 and params["objection_id"] not in {o["id"] for o in listed.json()}, who


# ---------------------------------------------------------------- tokens


def test_r18_forged_expired_revoked_and_deactivated_tokens_are_401(client, db, world):
    url = "/api/v1/catalog/entries"
    assert client.get(url, headers=world.headers("police_manager")).status_code == 200
    for header in ("Bearer gs_forged", "Bearer ", "Basic dXNlcjpwYXNz", f"Bearer {world.tokens['police_manager']}x"):
        _assert_error_shape(client.get(url, headers={"Authorization": header}), 401)
    with db.session() as s:
        expired = orgs.login(s, "civil_manager", "correct-horse-9", session_hours=1)
        s.flush()
        row = s.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
        row.expires_at = utcnow() - timedelta(minutes=1)
        revoked = orgs.login(s, "civil_requester", "correct-horse-9", session_hours=1)
        s.flush()
        revoked_row = s.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
        orgs.revoke_token(s, world.actors["civil_requester"], revoked_row.id)
        assert s.get(User, world.ids["user:civil_manager"]).is_active  # refused below for the expiry only
        s.get(User, world.ids["user:city_civil_manager"]).is_active = False
    for token in (expired, revoked, world.tokens["city_civil_manager"]):
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        _assert_error_shape(response, 401)
        assert response.json()["error"]["code"] == "not_authenticated"
        write = client.post(url, json=_entry_body(), headers={"Authorization": f"Bearer {token}"})
        _assert_error_shape(write, 401)


def test_r18_session_cookie_is_checked_like_a_bearer_token(client, world):
    client.cookies.set("govshare_token", "gs_forged")
    _assert_error_shape(client.get("/api/v1/catalog/entries"), 401)
    client.cookies.set("govshare_token", world.tokens["auditor"])
    assert client.get("/api/v1/catalog/entries").status_code == 200
    _assert_error_shape(client.post("/api/v1/catalog/entries", json=_entry_body()), 403)
    client.cookies.clear()


# ---------------------------------------------------------------- revoking tokens and users (R18)


def _api_token(db, who: str, name: str = "同步程序") -> tuple[int, dict]:
    """A program token of `who`: its id and the headers that use it."""
    with db.session() as s:
        token = orgs.create_api_token(s, _actor(s, who), name=name, max_days=365)
        token_id = s.scalars(select(ApiToken).where(ApiToken.name == name).order_by(ApiToken.id.desc())).first().id
    return token_id, {"Authorization": f"Bearer {token}"}


def _actor(session, username: str) -> Actor:
    return Actor.from_user(session.scalars(select(User).where(User.username == username)).one())


def _revoked(db, token_id: int) -> bool:
    with db.session() as s:
        return s.get(ApiToken, token_id).revoked_at is not None


def test_r18_revoke_token_needs_a_login(client, db, world):
    token_id, program = _api_token(db, "civil_manager")
    _assert_error_shape(client.delete(f"/api/v1/auth/tokens/{token_id}"), 401)
    _assert_error_shape(client.delete(f"/api/v1/auth/tokens/{token_id}",
                                      headers={"Authorization": "Bearer gs_forged"}), 401)
    assert not _revoked(db, token_id)
    assert client.get("/api/v1/auth/me", headers=program).status_code == 200


def test_r18_user_cannot_revoke_another_users_token(client, db, world):
    """Another user's token is not found (404), whatever the role or department; it keeps working."""
    token_id, program = _api_token(db, "civil_manager")
    for who in ("civil_requester", "police_manager", "city_civil_manager", "reviewer", "auditor"):
        response = client.delete(f"/api/v1/auth/tokens/{token_id}", headers=world.headers(who))
        _assert_error_shape(response, 404)
        assert response.json()["error"]["field"] == "token_id"
        assert not _revoked(db, token_id), who
    assert client.get("/api/v1/auth/me", headers=program).json()["username"] == "civil_manager"
    _assert_error_shape(client.delete("/api/v1/auth/tokens/999999", headers=world.headers("civil_manager")), 404)


def test_r18_revoked_token_stops_working_at_once(client, db, world):
    token_id, program = _api_token(db, "civil_manager")
    assert client.get("/api/v1/catalog/entries", headers=program).status_code == 200
    response = client.delete(f"/api/v1/auth/tokens/{token_id}", headers=world.headers("civil_manager"))
    assert response.status_code == 204 and response.content == b""
    _assert_error_shape(client.get("/api/v1/catalog/entries", headers=program), 401)
    assert client.get("/api/v1/auth/me", headers=world.headers("civil_manager")).status_code == 200  # login untouched
    # a program may revoke its own token, and the auditor may revoke their own: revoking never adds a right
    own_id, own = _api_token(db, "auditor", name="审计程序")
    assert client.delete(f"/api/v1/auth/tokens/{own_id}", headers=own).status_code == 204
    _assert_error_shape(client.get("/api/v1/auth/me", headers=own), 401)


def test_r18_platform_admin_revokes_any_token(client, db, world):
    token_id, program = _api_token(db, "police_manager")
    assert client.delete(f"/api/v1/auth/tokens/{token_id}", headers=world.headers("admin")).status_code == 204
    _assert_error_shape(client.get("/api/v1/auth/me", headers=program), 401)
    # revoking twice keeps the first revocation time
    with db.session() as s:
        first = s.get(ApiToken, token_id).revoked_at
    assert client.delete(f"/api/v1/auth/tokens/{token_id}", headers=world.headers("admin")).status_code == 204
    with db.session() as s:
        assert s.get(ApiToken, token_id).revoked_at == first


def test_r18_logout_revokes_only_the_calling_session(client, db, world):
    _assert_error_shape(client.post("/api/v1/auth/logout"), 401)
    _assert_error_shape(client.post("/api/v1/auth/logout", headers={"Authorization": "Bearer gs_forged"}), 401)
    second = client.post("/api/v1/auth/login", json={"username": "auditor", "password": "correct-horse-9"})
    other_session = {"Authorization": f"Bearer {second.json()['token']}"}
    assert client.post("/api/v1/auth/logout", headers=world.headers("auditor")).status_code == 204
    _assert_error_shape(client.get("/api/v1/auth/me", headers=world.headers("auditor")), 401)
    _assert_error_shape(client.post("/api/v1/auth/logout", headers=world.headers("auditor")), 401)
    assert client.get("/api/v1/auth/me", headers=other_session).status_code == 200  # the other login stays
    assert client.get("/api/v1/auth/me", headers=world.headers("admin")).status_code == 200  # other users too


def test_r18_logout_with_a_program_token_is_refused_and_revokes_nothing(client, db, world):
    token_id, program = _api_token(db, "police_manager")
    response = client.post("/api/v1/auth/logout", headers=program)
    _assert_error_shape(response, 422)
    assert response.json()["error"]["field"] == "authorization"
    assert not _revoked(db, token_id)
    assert client.get("/api/v1/auth/me", headers=program).status_code == 200


def test_r18_listing_tokens_shows_own_tokens_only(client, db, world):
    token_id, _program = _api_token(db, "civil_manager")
    _assert_error_shape(client.get("/api/v1/auth/tokens"), 401)
    listed = client.get("/api/v1/auth/tokens", headers=world.headers("civil_manager"))
    assert listed.status_code == 200
    rows = listed.json()
    assert {r["kind"] for r in rows} == {"session", "api"} and token_id in {r["id"] for r in rows}
    assert set(rows[0]) == {"id", "kind", "name", "created_at", "expires_at", "revoked_at"}  # never the hash
    others = client.get("/api/v1/auth/tokens", headers=world.headers("civil_requester")).json()
    assert token_id not in {r["id"] for r in others}
    for who in ("civil_requester", "auditor", "reviewer"):
        response = client.get("/api/v1/auth/tokens", params={"user_id": world.ids["user:civil_manager"]},
                              headers=world.headers(who))
        _assert_error_shape(response, 403)
    own = client.get("/api/v1/auth/tokens", params={"user_id": world.ids["user:civil_manager"]},
                     headers=world.headers("civil_manager"))
    assert own.status_code == 200 and token_id in {r["id"] for r in own.json()}
    admin = client.get("/api/v1/auth/tokens", params={"user_id": world.ids["user:civil_manager"]},
                       headers=world.headers("admin"))
    assert admin.status_code == 200 and {r["id"] for r in admin.json()} == {r["id"] for r in rows}
    missing = client.get("/api/v1/auth/tokens", params={"user_id": 999999}, headers=world.headers("admin"))
    _assert_error_shape(missing, 404)


def test_r18_deactivation_stops_every_token_of_the_user_at_once(client, db, world):
    token_id, program = _api_token(db, "civil_manager")
    session_token = world.headers("civil_manager")
    for headers in (program, session_token):
        assert client.get("/api/v1/catalog/entries", headers=headers).status_code == 200
    response = client.post(f"/api/v1/users/{world.ids['user:civil_manager']}/deactivate",
                           headers=world.headers("admin"))
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert _user_and_tokens(db, "civil_manager") == (False, [True, True])  # the login and the program token
    for headers in (program, session_token):
        for method, url in (("GET", "/api/v1/catalog/entries"), ("POST", "/api/v1/auth/tokens"),
                            ("POST", "/api/v1/auth/logout")):
            _assert_error_shape(client.request(method, url, json={}, headers=headers), 401)
    login = client.post("/api/v1/auth/login", json={"username": "civil_manager", "password": "correct-horse-9"})
    _assert_error_shape(login, 401)
    # reactivation lets the user log in again, but the tokens of before stay revoked
    assert client.post(f"/api/v1/users/{world.ids['user:civil_manager']}/activate",
                       headers=world.headers("admin")).json()["is_active"] is True
    login = client.post("/api/v1/auth/login", json={"username": "civil_manager", "password": "correct-horse-9"})
    assert login.status_code == 200
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['token']}"}
                      ).status_code == 200
    for headers in (program, session_token):
        _assert_error_shape(client.get("/api/v1/auth/me", headers=headers), 401)
    assert _revoked(db, token_id)
    assert _user_and_tokens(db, "civil_manager") == (True, [True, True, False])  # only the new login works


def _user_and_tokens(db, username: str) -> tuple[bool, list[bool]]:
    """Whether the stored user is active, and for each of their tokens whether it is revoked."""
    with db.session() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        tokens = s.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)).all()
        return user.is_active, [t.revoked_at is not None for t in tokens]


def test_r18_deactivating_another_user_leaves_other_users_working(client, db, world):
    deactivated = client.post(f"/api/v1/users/{world.ids['user:civil_manager']}/deactivate",
                              headers=world.headers("admin"))
    assert deactivated.status_code == 200 and deactivated.json()["username"] == "civil_manager", deactivated.text
    assert _user_and_tokens(db, "civil_manager") == (False, [True])  # stored: inactive, its login revoked
    _assert_error_shape(client.get("/api/v1/auth/me", headers=world.headers("civil_manager")), 401)
    for who in ("civil_requester", "police_manager", "auditor", "admin"):
        assert client.get("/api/v1/auth/me", headers=world.headers(who)).json()["username"] == who, who
        assert _user_and_tokens(db, who) == (True, [False]), who


def test_r18_admin_cannot_deactivate_themself_and_unknown_user_is_404(client, db, world):
    response = client.post(f"/api/v1/users/{world.ids['user:admin']}/deactivate", headers=world.headers("admin"))
    _assert_error_shape(response, 409)
    assert _user_and_tokens(db, "admin") == (True, [False])
    assert client.get("/api/v1/auth/me", headers=world.headers("admin")).status_code == 200
    _assert_error_shape(client.post("/api/v1/users/999999/deactivate", headers=world.headers("admin")), 404)


def test_r18_user_list_admin_and_auditor_see_all_others_their_own_department(client, db, world):
    _assert_error_shape(client.get("/api/v1/users"), 401)
    everyone = {u["username"] for u in client.get("/api/v1/users", headers=world.headers("admin")).json()}
    assert everyone == {key for key in world.tokens}
    assert {u["username"] for u in client.get("/api/v1/users", headers=world.headers("auditor")).json()} == everyone
    civil = client.get("/api/v1/users", headers=world.headers("civil_requester")).json()
    assert {u["username"] for u in civil} == {"civil_manager", "civil_requester"}
    assert all("password_hash" not in u for u in civil)
    reviewer = client.get("/api/v1/users", headers=world.headers("reviewer")).json()
    assert {u["department_id"] for u in reviewer} == {world.ids["authority"]}


# ---------------------------------------------------------------- issue 3: notifications and dispute steps


def test_r18_user_cannot_mark_another_users_notification_read(client, db, world):
    """Nobody, not even an admin or a colleague of the same department, marks another person's notification
    read (404, it stays unread); read-all touches only the caller's own inbox."""
    from govshare.notify.models import Notification
    from tests.factories import submitted_request

    with db.session() as s:
        submitted_request(s, world)  # tells 省公安厅's reviewer
        notification_id = s.scalars(select(Notification.id).where(
            Notification.user_id == world.ids["user:police_reviewer"])).first()
    assert notification_id is not None

    def read_at():
        with db.session() as s:
            return s.get(Notification, notification_id).read_at

    url = f"/api/v1/notifications/{notification_id}/read"
    _assert_error_shape(client.post(url), 401)
    for who in ("civil_requester", "police_manager", "reviewer", "admin", "auditor"):
        response = client.post(url, headers=world.headers(who))
        _assert_error_shape(response, 404)
        assert response.json()["error"]["field"] == "notification_id"
        assert client.post("/api/v1/notifications/read-all", headers=world.headers(who)).status_code == 200
        assert read_at() is None, who
    _assert_error_shape(client.post("/api/v1/notifications/read-all"), 401)
    own = client.post(url, headers=world.headers("police_reviewer"))
    assert own.status_code == 200 and own.json()["read_at"] is not None
    assert read_at() is not None


def test_r08_negotiation_step_is_decided_by_the_providers_reviewer_only(client, db, world):
    """The first dispute step is the provider's to decide: not the requester's, not the requester department's
    reviewer, not the provider's catalog manager, not the competent authority (its turn comes later)."""
    from tests.authz_cases_issue3 import _negotiation_step, _sharing_state

    with db.session() as s:
        params = _negotiation_step(s, world)
    before = _state_of(db, _sharing_state, params)
    url = f"/api/v1/sharing/disputes/{params['step_id']}/decide"
    body = {"decision": "approve", "reason": "协商后同意共享"}
    for who in ("civil_requester", "civil_reviewer", "police_manager", "reviewer", "city_reviewer", "other_reviewer",
                "admin", "auditor"):
        _assert_error_shape(client.post(url, json=body, headers=world.headers(who)), {403, 404})
        assert _state_of(db, _sharing_state, params) == before, who
    assert client.post(url, json=body, headers=world.headers("police_reviewer")).status_code == 200
    assert _state_of(db, _sharing_state, params) != before


def _state_of(db, state, params):
    with db.session() as s:
        return state(s, params)
