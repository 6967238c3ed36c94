"""Tokens (R18, R12): the gateway's access tokens of consumer systems (HS256 JWTs keyed from the node key,
gateway/tokens.py) and the session and program tokens of people (orgs/service.py). A token the node did not
issue, or no longer honours, is refused; every refused data call is on the record (a usage record with result
`refused` and the reason, R12).

Already proved elsewhere, not repeated: tests/test_gateway.py — a token signed with a wrong key, `alg: none`,
garbage, a person's login token on a data route, an expired token, no token, another system's token on a grant
(wrong_system), a token dying at once on secret rotation or system revocation, bad client credentials;
tests/test_authz_api.py — forged, expired, revoked and deactivated session tokens, logout revoking only its own
session, revoked program tokens, deactivation revoking every token.

Here: a token whose payload was changed under its signature, a token of another node, the algorithm tricks
(none in any case, HS384/HS512 and RS256 instead of HS256, a key named by the token itself), tokens missing a
claim or for another audience, truncated tokens; the token outside the Authorization header (query string,
cookie, client credentials as Basic); a gateway token used as a login and a program token used as a gateway
token; a replay through a system's whole life (rotation, then revocation); session tokens in the query string,
altered, and replayed after a page logout; program tokens minting program tokens."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from govshare.audit.models import UsageRecord
from govshare.config import Settings
from govshare.db import utcnow
from govshare.deps import SESSION_COOKIE
from govshare.errors import Forbidden
from govshare.gateway import tokens
from govshare.orgs import service as orgs
from govshare.orgs import systems
from govshare.orgs.models import ApiToken
from govshare.search.index import registry
from tests.factories import PASSWORD
from tests.gateway_factories import served_population, token_headers


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Publishing the test entry need not build a search index (most of a test's setup time otherwise)."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


@pytest.fixture
def served(db, world, tmp_path):
    with db.session() as s:
        return served_population(s, world, tmp_path, count=6, rate_limit=1000)


def _records(db) -> list[UsageRecord]:
    with db.session() as s:
        return list(s.scalars(select(UsageRecord).order_by(UsageRecord.seq)))


def _refused(db, response, status: int, code: str) -> UsageRecord:
    """The response is the refusal (status, code, no data), and the newest usage record is that refusal."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    record = _records(db)[-1]
    assert (record.result, record.reason, record.row_count) == ("refused", code, 0)
    return record


def _lookup(client, served, headers=None, **extra):
    return client.get(f"/api/v1/data/{served.resource_code}", headers=headers or {},
                      params={"grant": served.grant_id, "key": served.rows[0]["GMSFHM"], **extra})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict, signature: str = "") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims, default=str).encode()), signature])


# ---------------------------------------------------------------- gateway tokens the node did not issue


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS384/HS512 with the 32-byte key
def test_r18_gateway_tokens_not_issued_by_this_node_are_refused_and_recorded(client, db, settings, served, tmp_path):
    genuine = token_headers(client, served.client_id, served.secret)["Authorization"][7:]
    header_b64, payload_b64, signature = genuine.split(".")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    node = tokens.node_secret(settings)
    other_node = tokens.node_secret(Settings(database_url=settings.database_url, data_dir=tmp_path / "other-node"))
    assert other_node != node
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        "payload changed under its signature": ".".join(
            [header_b64, _b64(json.dumps({**claims, "sub": str(served.system_id + 1)}).encode()), signature]),
        "signature of another token": ".".join(
            [header_b64, payload_b64, jwt.encode({**claims, "cid": "gs_x"}, node, algorithm="HS256").split(".")[2]]),
        "another node's key": jwt.encode(claims, other_node, algorithm="HS256"),
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, claims),
        "alg None": _unsigned({"alg": "None", "typ": "JWT"}, claims),
        "alg NONE with the genuine signature": _unsigned({"alg": "NONE", "typ": "JWT"}, claims, signature),
        "HS512 with the node's own secret": jwt.encode(claims, node, algorithm="HS512"),
        "HS384 with the node's own secret": jwt.encode(claims, node, algorithm="HS384"),
        "RS256 with the caller's own key": jwt.encode(claims, rsa_key, algorithm="RS256"),
        "key named by the token (kid, jku)": jwt.encode(
            claims, b"attacker-chosen-key-attacker-chosen", algorithm="HS256",
            headers={"kid": "../../keys/audit_ed25519.pem", "jku": "https://evil.example/jwks.json"}),
        "no expiry (signed by the node)": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, node,
                                                     algorithm="HS256"),
        "another audience (signed by the node)": jwt.encode({**claims, "aud": "govshare-web"}, node, algorithm="HS256"),
        "no audience (signed by the node)": jwt.encode({k: v for k, v in claims.items() if k != "aud"}, node,
                                                       algorithm="HS256"),
        "no secret version (signed by the node)": jwt.encode({k: v for k, v in claims.items() if k != "sv"}, node,
                                                             algorithm="HS256"),
        "truncated signature": genuine[:-6],
        "signature removed": f"{header_b64}.{payload_b64}.",
        "two tokens joined": f"{genuine}.{genuine}",
        "empty": "",
    }
    for name, token in forged.items():
        before = len(_records(db))
        response = _lookup(client, served, {"Authorization": f"Bearer {token}"})
        code = "not_authenticated" if name == "empty" else "token_invalid"
        record = _refused(db, response, 401, code)
        assert len(_records(db)) == before + 1, name
        assert (record.consumer_system_id, record.department_id, record.grant_id) == (None, None, None), name
        assert "rows" not in response.text, name
    ok = _lookup(client, served, {"Authorization": f"Bearer {genuine}"})
    assert ok.status_code == 200 and ok.json()["rows"], ok.text  # the refusals were about the tokens


def test_r18_token_outside_the_authorization_header_is_refused_and_recorded(client, db, world, served):
    """The gateway reads its token from the Authorization header only: not from the query string (it would end
    up in proxy and server logs), not from a cookie (a browser sends it to any site's request), and a system's
    client credentials are not a token."""
    genuine = token_headers(client, served.client_id, served.secret)["Authorization"][7:]
    for params in ({"access_token": genuine}, {"token": genuine}, {"authorization": f"Bearer {genuine}"}):
        _refused(db, _lookup(client, served, **params), 401, "not_authenticated")
    client.cookies.set(SESSION_COOKIE, genuine)
    _refused(db, _lookup(client, served), 401, "not_authenticated")
    client.cookies.clear()
    basic = base64.b64encode(f"{served.client_id}:{served.secret}".encode()).decode()
    for header in (f"Basic {basic}", f"Token {genuine}", f"JWT {genuine}", f"Bearer{genuine}", genuine):
        _refused(db, _lookup(client, served, {"Authorization": header}), 401, "not_authenticated")
    page = client.get(f"/api/v1/data/{served.resource_code}/rows", params={"grant": served.grant_id,
                                                                           "access_token": genuine})
    _refused(db, page, 401, "not_authenticated")
    assert _lookup(client, served, {"Authorization": f"bearer {genuine}"}).status_code == 200  # scheme: any case


def test_r18_gateway_token_is_not_a_login_and_a_program_token_is_not_a_gateway_token(client, db, world, served):
    genuine = token_headers(client, served.client_id, served.secret)["Authorization"][7:]
    for url in ("/api/v1/auth/me", "/api/v1/catalog/entries", f"/api/v1/sharing/grants/{served.grant_id}"):
        response = client.get(url, headers={"Authorization": f"Bearer {genuine}"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated", url
    client.cookies.set(SESSION_COOKIE, genuine)
    page = client.get("/sharing/grants", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    client.cookies.clear()
    with db.session() as s:
        program = orgs.create_api_token(s, world.actors["civil_requester"], name="数据同步程序", max_days=30)
    for token in (program, world.tokens["civil_requester"], world.tokens["admin"]):
        _refused(db, _lookup(client, served, {"Authorization": f"Bearer {token}"}), 401, "token_invalid")


def test_r18_replayed_tokens_stay_refused_through_rotation_and_revocation(client, db, world, served):
    """One system's life: a token works; the secret is rotated (the old token is refused as revoked, a token of
    the new secret works); the system is revoked (both tokens refused, no new token for either secret). Each
    refusal names the system and its department on the record, but no grant."""
    first = token_headers(client, served.client_id, served.secret)
    assert _lookup(client, served, first).status_code == 200
    with db.session() as s:
        _system, new_secret = systems.rotate_secret(s, world.actors["civil_requester"], served.system_id)
    record = _refused(db, _lookup(client, served, first), 401, "token_revoked")
    assert (record.consumer_system_id, record.department_id) == (served.system_id, world.ids["civil"])
    second = token_headers(client, served.client_id, new_secret)
    assert _lookup(client, served, second).status_code == 200
    with db.session() as s:
        systems.revoke_system(s, world.actors["civil_requester"], served.system_id)
    for headers in (first, second, first):
        _refused(db, _lookup(client, served, headers), 401, "token_revoked")
        verify = client.post(f"/api/v1/data/{served.resource_code}/verify", headers=headers,
                             json={"grant": served.grant_id, "fields": {"gmsfhm": served.rows[0]["GMSFHM"]}})
        _refused(db, verify, 401, "token_revoked")
    for secret in (served.secret, new_secret):
        again = client.post("/api/v1/gateway/token", json={"client_id": served.client_id, "client_secret": secret})
        assert again.status_code == 401 and "access_token" not in again.text


def test_r18_an_expired_gateway_token_is_refused_a_second_after_expiry(client, db, settings, served):
    with db.session() as s:
        lifetime = settings.gateway_token_minutes * 60
        just_expired, _ = tokens.issue_token(s, served.client_id, served.secret,
                                             now=utcnow() - timedelta(seconds=lifetime + 1))
    _refused(db, _lookup(client, served, {"Authorization": f"Bearer {just_expired}"}), 401, "token_expired")


# ---------------------------------------------------------------- session and program tokens of people


def test_r18_session_token_in_the_query_string_is_not_a_login(client, world):
    token = world.tokens["civil_manager"]
    for params in ({"token": token}, {"access_token": token}, {SESSION_COOKIE: token}):
        response = client.get("/api/v1/auth/me", params=params)
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated", params
        page = client.get("/my/catalog", params=params, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login"), params
    assert client.get("/api/v1/auth/me", headers=world.headers("civil_manager")).status_code == 200


def test_r18_altered_session_tokens_are_refused(client, world):
    token = world.tokens["civil_manager"]
    for altered in (token.upper(), token[:-1], token[:-1] + ("A" if token[-1] != "A" else "B"), token[3:],
                    f"{token} {token}", token.replace("gs_", "GS_")):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {altered}"})
        assert response.status_code == 401, altered


def test_r18_session_cookie_replayed_after_a_page_logout_is_refused(client, world):
    from govshare.deps import csrf_token

    login = client.post("/login", data={"username": "civil_requester", "password": PASSWORD, "next": "/"},
                        follow_redirects=False)
    assert login.status_code == 303
    cookie = client.cookies[SESSION_COOKIE]
    assert client.get("/sharing/requests", follow_redirects=False).status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf_token(cookie)}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)  # a copy of the cookie taken before the logout
    page = client.get("/sharing/requests", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/api/v1/auth/me").status_code == 401
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {cookie}"}).status_code == 401


def test_r18_an_expired_program_token_cannot_mint_a_new_one(client, db, world):
    with db.session() as s:
        program = orgs.create_api_token(s, world.actors["civil_manager"], name="同步程序", max_days=30, hours=1)
        s.flush()
        row = s.scalars(select(ApiToken).where(ApiToken.name == "同步程序")).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    response = client.post("/api/v1/auth/tokens", json={"name": "续命"}, headers={"Authorization": f"Bearer {program}"})
    assert response.status_code == 401 and "token" not in response.json()
    with db.session() as s:
        assert s.scalars(select(ApiToken).where(ApiToken.name == "续命")).first() is None


def test_r18_a_program_token_cannot_outlive_itself_by_minting_another(client, db, world):
    """R18: every program token expires and revoking it takes effect at once. A token that may mint tokens makes
    both void: before it expires (or before the leak is noticed and it is revoked) it mints a fresh one, which
    lives up to the node's maximum and is not revoked with it."""
    with db.session() as s:
        short = orgs.create_api_token(s, world.actors["civil_manager"], name="一小时程序", max_days=365, hours=1)
        short_id = s.scalars(select(ApiToken.id).where(ApiToken.name == "一小时程序")).one()
    minted = client.post("/api/v1/auth/tokens", json={"name": "自行续期"}, headers={"Authorization": f"Bearer {short}"})
    revoke = client.delete(f"/api/v1/auth/tokens/{short_id}", headers=world.headers("civil_manager"))
    assert revoke.status_code == 204
    if minted.status_code == 201:
        child = {"Authorization": f"Bearer {minted.json()['token']}"}
        assert client.get("/api/v1/auth/me", headers=child).status_code == 401, (
            "a token minted by a program token still works after the program token was revoked")
    else:
        assert minted.status_code in (401, 403), minted.text


def test_r18_only_a_login_session_creates_program_tokens(client, db, world):
    """The rule is the service's: a program token asking is refused (403 naming the credential, in Chinese) and
    nothing is stored, whatever lifetime it asks for; the person's login session, by header or by cookie, still
    creates one."""
    with db.session() as s:
        program = orgs.create_api_token(s, world.actors["civil_manager"], name="长期程序", max_days=30)
    for body in ({"name": "再造一个"}, {"name": "再造一个", "hours": 1}):
        refused = client.post("/api/v1/auth/tokens", json=body, headers={"Authorization": f"Bearer {program}"})
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("forbidden", "authorization") and "登录" in error["message"]
        assert "token" not in refused.json()
    with db.session() as s:
        assert s.scalars(select(ApiToken).where(ApiToken.name == "再造一个")).first() is None
        with pytest.raises(Forbidden):
            orgs.create_api_token(s, world.actors["civil_manager"], name="服务层", max_days=30,
                                  credential=orgs.credential_kind(s, program))
    by_header = client.post("/api/v1/auth/tokens", json={"name": "会话所建"}, headers=world.headers("civil_manager"))
    assert by_header.status_code == 201, by_header.text
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {by_header.json()['token']}"}).json()[
        "username"] == "civil_manager"
    from govshare.deps import CSRF_HEADER, csrf_token

    login = client.post("/login", data={"username": "civil_manager", "password": PASSWORD, "next": "/"},
                        follow_redirects=False)
    assert login.status_code == 303
    cookie = client.cookies[SESSION_COOKIE]
    by_cookie = client.post("/api/v1/auth/tokens", json={"name": "页面会话所建"},
                            headers={CSRF_HEADER: csrf_token(cookie)})
    assert by_cookie.status_code == 201, by_cookie.text
