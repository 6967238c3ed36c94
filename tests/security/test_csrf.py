"""Cross-site request forgery (R18): another site's page makes the logged-in user's browser post to the platform.
The browser sends the session cookie (SameSite=Lax keeps it off cross-site posts in current browsers, but not in
older ones, nor from a same-site page of another node); what it cannot send is the session's anti-CSRF token.

The app's scheme (govshare/deps.py, govshare/web/pages.py): the token is an HMAC of the session token, carried by
every page form as the hidden field `csrf_token` (or in the X-CSRF-Token header); every page route checks it
before its dependencies and body run (web.pages.PageRoute). An API write authenticated by the cookie alone must
carry X-CSRF-Token; a bearer header needs none (a browser never adds one on its own). The login form has no
session yet: a login posted from another site (Origin or Referer naming it) is refused.

Every state-changing page form (the POST routes of the app's pages, enumerated) and every API write route is
tried with the victim's session cookie and: no token; a wrong token; the token of another session; the token in
the query string (it leaks through logs and Referer, and is never read there); a foreign Origin and Referer; for
pages also a `text/plain` body carrying the right token (what a cross-site form with enctype=text/plain sends).
Each is refused (403 naming the missing token) and the database is unchanged; then the same request with the right
token is not refused for CSRF (so the refusal was about the token). The refusals of a few page routes are also in
tests/test_web.py, tests/test_sharing_web.py and tests/test_sources_web.py; this module covers all of them."""

from __future__ import annotations

import pytest

from govshare.deps import CSRF_HEADER, SESSION_COOKIE, csrf_token
from govshare.search.index import registry
from tests.factories import PASSWORD
from tests.objection_factories import PNG
from tests.security.test_idor import CASES as IDOR_CASES
from tests.security.test_idor import build_scene, changed_tables, snapshot

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FOREIGN = {"Origin": "https://evil.example", "Referer": "https://evil.example/csrf.html"}
PAGE_REFUSAL = "防跨站请求令牌"
AUDIT_TABLES = ("usage_records", "audit_chain_head", "grant_usage_days")


def _write_routes(app) -> set[tuple[str, str]]:
    from tests.test_authz_api import _flatten

    return {(method, path) for path, methods in _flatten(app.routes) for method in methods & WRITE_METHODS}


def _entry_form(name: str) -> dict:
    from tests.factories import population_entry
    from tests.test_web import _form_of

    return _form_of(population_entry(name=name))


# Page forms without an id in their path (those with one take their parameters and fields from the IDOR cases).
PAGE_FORMS = {
    "/logout": lambda _ids: {},
    "/catalog/import": lambda _ids: {"region_code": "340000"},
    "/one-source/detect": lambda _ids: {},
    "/my/catalog/new": lambda _ids: _entry_form("跨站伪造的目录"),
    "/sharing/requests/new": lambda ids: {"entry_id": str(ids["entry_source"]), "purpose": "跨站伪造",
                                          "scenario": "跨站伪造", "duty_basis": "无", "period_end": "2031-01-01",
                                          "consumer_system_id": str(ids["system"])},
    "/sharing/systems": lambda _ids: {"name": "跨站伪造的系统"},
    "/demands": lambda _ids: {"title": "跨站伪造的需求"},
    "/notifications/read-all": lambda _ids: {},
    "/admin/calendar/import": lambda _ids: {"text": "日期,类型,名称\n2031-10-01,放假,国庆节\n", "format": "csv"},
    "/admin/calendar/days": lambda _ids: {"day": "2031-10-08", "is_workday": "0", "name": "国庆节"},
    "/admin/connections": lambda ids: {"department_id": str(ids["police"]), "name": "跨站伪造的连接", "kind": "http",
                                       "url": "https://evil.example/api", "internal": "1"},
    "/admin/users": lambda ids: {"username": "mallory", "password": "long-enough-1", "role": "platform_admin",
                                 "department_id": str(ids["police"])},
    "/admin/departments": lambda _ids: {"name": "跨站伪造的部门", "level": "provincial", "region_code": "340000"},
    "/data/verify": lambda ids: {"grant": str(ids["grant_active"]), "field_gmsfhm": ids["person"]},
    "/sharing/changes/new": lambda ids: {"entry_id": str(ids["entry_source"]), "kind": "stop",
                                         "description": "跨站伪造的停止", "effective_date": "2031-01-01"},
    "/objections": lambda ids: {"grant": str(ids["grant_active"]), "key": ids["person"], "items": "xm",
                                "evidence": "跨站伪造的核实"},
}
UPLOADS = {"/catalog/import": ("catalog.csv", "目录名称,提供部门\n跨站伪造,省公安厅\n".encode(), "text/csv"),
           "/sources/{entry_id}/file": ("rk.csv", b"GMSFHM,XM\n340104199001010011,x\n", "text/csv"),
           "/objections": ("跨站伪造.png", PNG, "image/png"),
           "/objections/{objection_id}/evidence": ("跨站伪造.png", PNG, "image/png")}
# the form field of an upload, where it is not `file`
UPLOAD_FIELDS = {"/objections": "evidence_file", "/objections/{objection_id}/evidence": "evidence_file"}
# API writes that no cookie authenticates, and what they are checked with instead.
NOT_COOKIE_ROUTES = {
    ("POST", "/api/v1/auth/login"): "has no session yet and sets no cookie: it answers the token in its body",
    ("POST", "/api/v1/gateway/token"): "a consumer system's client id and secret, never a cookie",
    ("POST", "/api/v1/data/{code:path}/verify"): "a consumer system's bearer token only (test below)",
    ("POST", "/api/v1/data/{code:path}/export"): "a consumer system's bearer token only (test below)",
}
# API writes without an id in the path (or whose id is not an object): the body a rightful user would send.
API_BODIES = {
    "/api/v1/departments": {"name": "跨站伪造的部门", "level": "provincial", "region_code": "340000"},
    "/api/v1/users": {"username": "mallory", "password": "long-enough-1", "role": "platform_admin",
                      "department_id": 1},
    "/api/v1/auth/tokens": {"name": "跨站伪造的令牌"},
    "/api/v1/catalog/entries": None,  # filled in below (an entry body)
    "/api/v1/sharing/systems": {"name": "跨站伪造的系统"},
    "/api/v1/demands": {"title": "跨站伪造的需求"},
    "/api/v1/webhooks": {"url": "https://evil.example/hook", "events": []},
    "/api/v1/calendar/days/{day}": {"is_workday": False, "name": "国庆节", "source": "跨站伪造"},
    "/api/v1/calendar/import": {"text": "日期,类型,名称\n2031-10-01,放假,国庆节\n", "format": "csv"},
    "/api/v1/connections": {"department_id": 2, "name": "跨站伪造的连接", "kind": "http",
                            "url": "https://evil.example/api", "internal": True},
    "/api/v1/objections": {"grant_id": 1, "key": "340104198001010013", "items": ["xm"], "evidence": "跨站伪造的核实"},
}


def _url(path: str, ids: dict) -> str:
    case = IDOR_CASES.get(("POST", path)) or IDOR_CASES.get(("PUT", path)) or IDOR_CASES.get(("DELETE", path))
    params = case.params(ids) if case else {}
    # routes with no IDOR case (NOT_OBJECT_IDS): any department and alias; the forged write is refused first
    defaults = {"day": "2031-10-08", "code": ids["code"], "department_id": ids["police"], "alias_id": 1}
    return path.format(**{**defaults, **params})


def _page_fields(path: str, ids: dict) -> dict:
    case = IDOR_CASES.get(("POST", path))
    if case is not None:
        return case.body(ids) or {}
    return PAGE_FORMS[path](ids)


def _api_body(method: str, path: str, ids: dict):
    case = IDOR_CASES.get((method, path))
    if case is not None:
        return case.body(ids)
    if path == "/api/v1/catalog/entries":
        from tests.factories import population_entry

        return population_entry(name="跨站伪造的目录").model_dump(mode="json")
    return API_BODIES.get(path, {})


@pytest.fixture
def scene(app, db, world, tmp_path) -> dict:
    registry.detach(db.url)
    with db.session() as s:
        return build_scene(s, world, tmp_path)


def test_every_write_route_is_tried(app):
    """A page form or API write added to the app is tried here without a token: the lists cover them all."""
    found = _write_routes(app)
    pages = {p for m, p in found if not p.startswith("/api/")}
    known_pages = {p for (m, p), case in IDOR_CASES.items() if case.form and m == "POST"} | set(PAGE_FORMS) | {"/login"}
    assert pages == known_pages, (f"page forms without CSRF cases: {sorted(pages - known_pages)}; "
                                  f"cases of forms that no longer exist: {sorted(known_pages - pages)}")
    assert set(NOT_COOKIE_ROUTES) <= found, sorted(set(NOT_COOKIE_ROUTES) - found)


def _files(path: str) -> dict | None:
    upload = UPLOADS.get(path)
    return {UPLOAD_FIELDS.get(path, "file"): upload} if upload else None


def _forged_page_posts(client, url: str, fields: dict, files: dict | None, victim_token: str, other_token: str):
    """(name, response) of every forged variant of one page form post."""
    good = csrf_token(victim_token)
    yield "no token", client.post(url, data=fields, files=files, follow_redirects=False)
    yield "wrong token", client.post(url, data={**fields, "csrf_token": "0" * 64}, files=files, follow_redirects=False)
    yield "wrong token header", client.post(url, data=fields, files=files, headers={CSRF_HEADER: "0" * 64},
                                            follow_redirects=False)
    yield "another session's token", client.post(url, data={**fields, "csrf_token": csrf_token(other_token)},
                                                 files=files, follow_redirects=False)
    yield "token in the query string", client.post(url, params={"csrf_token": good}, data=fields, files=files,
                                                   follow_redirects=False)
    yield "foreign origin", client.post(url, data=fields, files=files, headers=FOREIGN, follow_redirects=False)
    if not files:
        body = "&".join(f"{k}={v}" for k, v in {**fields, "csrf_token": good}.items())
        yield "text/plain with the token", client.post(url, content=body.encode(), follow_redirects=False,
                                                       headers={"Content-Type": "text/plain", **FOREIGN})


def test_r18_every_page_form_refuses_a_forged_post_and_changes_nothing(app, client, db, world, scene):
    victim, other = world.tokens["admin"], world.tokens["civil_requester"]
    found = sorted(p for m, p in _write_routes(app) if m == "POST" and not p.startswith("/api/") and p != "/login")
    client.cookies.set(SESSION_COOKIE, victim)
    before = snapshot(db)
    failures = []
    for path in found:
        url, fields = _url(path, scene), _page_fields(path, scene)
        for name, response in _forged_page_posts(client, url, fields, _files(path), victim, other):
            if response.status_code != 403 or PAGE_REFUSAL not in response.text:
                failures.append(f"{path} ({name}): {response.status_code} {response.text[:200]}")
    after = snapshot(db)
    assert not failures, "\n".join(failures)
    assert after == before, f"a forged page post changed {changed_tables(before, after)}"
    assert client.get("/sharing/requests", follow_redirects=False).status_code == 200  # still logged in
    # the same posts with the session's token pass the check (each may still be refused for its own reasons)
    for path in [p for p in found if p != "/logout"] + ["/logout"]:
        url, fields = _url(path, scene), _page_fields(path, scene)
        response = client.post(url, data={**fields, "csrf_token": csrf_token(victim)}, files=_files(path),
                               follow_redirects=False)
        assert PAGE_REFUSAL not in response.text, f"{path} refused with the right token: {response.text[:300]}"
    client.cookies.clear()


def test_r18_login_posted_from_another_site_is_refused_and_sets_no_cookie(client, db, world):
    before = snapshot(db)
    for headers in (FOREIGN, {"Origin": "null"}, {"Referer": "https://evil.example/login.html"},
                    {"Origin": "http://testserver.evil.example"}, {"Origin": "http://evil.example:80"},
                    {"Origin": "http://evil.example", "Referer": "http://testserver/login"}):
        response = client.post("/login", data={"username": "admin", "password": PASSWORD}, headers=headers,
                               follow_redirects=False)
        assert response.status_code == 403 and "登录请求来自其他网站" in response.text, headers
        assert SESSION_COOKIE not in response.cookies, headers
    assert snapshot(db) == before  # no session was made (and no failed attempt counted)
    same = client.post("/login", data={"username": "admin", "password": PASSWORD},
                       headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303 and SESSION_COOKIE in same.cookies


def test_r18_every_api_write_with_only_the_cookie_needs_the_csrf_header(app, client, db, world, scene):
    victim, other = world.tokens["admin"], world.tokens["civil_requester"]
    routes = sorted((m, p) for m, p in _write_routes(app) if p.startswith("/api/") and (m, p) not in NOT_COOKIE_ROUTES)
    client.cookies.set(SESSION_COOKIE, victim)
    before = snapshot(db)
    failures = []
    for method, path in routes:
        url, body = _url(path, scene), _api_body(method, path, scene)
        variants = {
            "no header": {},
            "wrong header": {CSRF_HEADER: "0" * 64},
            "another session's token": {CSRF_HEADER: csrf_token(other)},
            "foreign origin": FOREIGN,
        }
        for name, headers in variants.items():
            response = client.request(method, url, json=body, headers=headers)
            if response.status_code != 403 or response.json()["error"]["field"] != "csrf_token":
                failures.append(f"{method} {path} ({name}): {response.status_code} {response.text[:200]}")
        query = client.request(method, url, json=body, params={"csrf_token": csrf_token(victim)})
        if query.status_code != 403:
            failures.append(f"{method} {path} (token in the query string): {query.status_code}")
    after = snapshot(db)
    assert not failures, "\n".join(failures)
    assert after == before, f"a forged API write changed {changed_tables(before, after)}"
    for method, path in sorted(routes, key=lambda route: route[1] == "/api/v1/auth/logout"):  # logout last
        response = client.request(method, _url(path, scene), json=_api_body(method, path, scene),
                                  headers={CSRF_HEADER: csrf_token(victim)})
        if response.status_code == 403:
            assert response.json()["error"]["field"] != "csrf_token", f"{method} {path}: {response.text}"
    client.cookies.clear()


def test_r18_a_cookie_never_authenticates_a_data_route(client, db, world, scene):
    """The data routes take a consumer system's bearer token only: a person's session cookie (with or without
    the CSRF header) reads nothing, and the refusal is recorded."""
    token = world.tokens["civil_requester"]
    client.cookies.set(SESSION_COOKIE, token)
    code, grant, key = scene["code"], scene["grant_active"], scene["person"]
    for method, url, body in (("POST", f"/api/v1/data/{code}/verify", {"grant": grant, "fields": {"gmsfhm": key}}),
                              ("POST", f"/api/v1/data/{code}/export", {"grant": grant}),
                              ("GET", f"/api/v1/data/{code}?grant={grant}&key={key}", None)):
        for headers in ({}, {CSRF_HEADER: csrf_token(token)}):
            response = client.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (url, response.text)
            assert response.headers["content-type"].startswith("application/json") and "rows" not in response.json()
    client.cookies.clear()
    from sqlalchemy import select

    from govshare.audit.models import UsageRecord

    with db.session() as s:
        results = [(r.result, r.reason) for r in s.scalars(select(UsageRecord).order_by(UsageRecord.seq))]
    assert results == [("refused", "not_authenticated")] * 6
