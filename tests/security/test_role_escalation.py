"""Role escalation (R18: separate administrator, operator and auditor roles): a user of the department that owns
an object, in a role below the one an action needs, tries that action through the API and through the page form,
and is refused with nothing changed. So the refusal is about the role, not about the department.

The actions of the higher roles: publishing, returning and approving catalog entries and revisions (the competent
authority's reviewer), replying to requests, deciding negotiation steps, revoking and reinstating grants, setting
a grant's masking (the department reviewer), naming a lead source department and deciding service changes and
disputes at the authority level (the authority's reviewer), managing users, departments, the calendar and audit
checkpoints (the platform administrator), and importing as already published (the node operator). Also: fields
a lower role adds to a body to give itself more (a role on its own token, a status or provider on an entry, a
decision on a request) are not taken.

tests/test_authz_api.py proves the wrong role of the right department for each API write route (among other
intruders); this module names the escalations one by one, and tries the pages too."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from govshare.catalog.models import CatalogEntry
from govshare.deps import CSRF_HEADER, SESSION_COOKIE, csrf_token
from govshare.orgs.models import ApiToken, User
from govshare.search.index import registry
from govshare.sharing import disputes
from govshare.sharing.models import ShareRequest
from govshare.sharing.schemas import ReplyIn
from tests.factories import population_entry
from tests.security.test_idor import CHUNK, build_scene, changed_tables, snapshot


@dataclass
class Escalation:
    """An action of a higher role: the API call and the page form (if any), and the lower roles that try it."""

    name: str
    api: tuple[str, str, dict | None] | None  # method, url template (scene ids), JSON body
    page: tuple[str, dict] | None  # url template, form fields
    refused: tuple[str, ...]


AUTHORITY_LOWER = ("police_manager", "police_reviewer", "police_requester", "auditor")  # below 省数据局's reviewer
REVIEWER_LOWER = ("police_manager", "police_requester", "auditor")  # below 省公安厅's department reviewer
ADMIN_LOWER = ("reviewer", "auditor", "police_reviewer", "police_manager", "civil_requester")

ESCALATIONS = [
    Escalation("publish an entry", ("POST", "/api/v1/catalog/entries/{entry_submitted}/publish", None),
               ("/review/{entry_submitted}/publish", {}), AUTHORITY_LOWER),
    Escalation("return an entry", ("POST", "/api/v1/catalog/entries/{entry_submitted}/return", {"reason": "越级"}),
               ("/review/{entry_submitted}/return", {"reason": "越级"}), AUTHORITY_LOWER),
    Escalation("approve a revision", ("POST", "/api/v1/catalog/revisions/{revision}/approve", None),
               ("/review/revisions/{revision}/approve", {}), AUTHORITY_LOWER),
    Escalation("return a revision", ("POST", "/api/v1/catalog/revisions/{revision}/return", {"reason": "越级"}),
               ("/review/revisions/{revision}/return", {"reason": "越级"}), AUTHORITY_LOWER),
    Escalation("name a lead source department",
               ("POST", "/api/v1/catalog/one-source/clusters/{cluster}/lead",
                {"department_id": "{police}", "reason": "越级指定"}),
               ("/one-source/{cluster}/lead", {"department_id": "{police}", "reason": "越级指定"}), AUTHORITY_LOWER),
    Escalation("run one-source detection", ("POST", "/api/v1/catalog/one-source/detect", None),
               ("/one-source/detect", {}), ("police_manager", "police_reviewer", "police_requester")),
    Escalation("decide a service change", ("POST", "/api/v1/sharing/service-changes/{change}/decide",
                                           {"approve": True, "reason": "越级批准"}),
               ("/sharing/changes/{change}/decide", {"decision": "approve", "reason": "越级批准"}), AUTHORITY_LOWER),
    Escalation("reply to a request", ("POST", "/api/v1/sharing/requests/{request_submitted}/reply",
                                      {"decision": "approve"}),
               ("/sharing/requests/{request_submitted}/reply", {"decision": "approve"}), REVIEWER_LOWER),
    Escalation("decide a negotiation step", ("POST", "/api/v1/sharing/disputes/{step}/decide",
                                             {"decision": "approve", "reason": "越级同意"}),
               ("/sharing/disputes/{step}/decide", {"decision": "approve", "reason": "越级同意"}), REVIEWER_LOWER),
    Escalation("decide an authority-level dispute", ("POST", "/api/v1/sharing/disputes/{authority_step}/decide",
                                                     {"decision": "approve", "reason": "越级裁决"}),
               ("/sharing/disputes/{authority_step}/decide", {"decision": "approve", "reason": "越级裁决"}),
               ("police_reviewer", "police_manager", "auditor", "admin")),
    Escalation("revoke a grant", ("POST", "/api/v1/sharing/grants/{grant_active}/revoke", {"reason": "越级吊销"}),
               ("/sharing/grants/{grant_active}/revoke", {"reason": "越级吊销"}), REVIEWER_LOWER),
    Escalation("reinstate a suspended grant", ("POST", "/api/v1/sharing/grants/{grant_suspended}/reinstate",
                                               {"reason": "越级恢复"}),
               ("/sharing/grants/{grant_suspended}/reinstate", {"reason": "越级恢复"}), (*REVIEWER_LOWER, "reviewer")),
    Escalation("set a grant's masking", ("PUT", "/api/v1/gateway/grants/{grant_active}/masking",
                                         {"rules": {"gmsfhm": "none", "xm": "none"}}), None, REVIEWER_LOWER),
    Escalation("create a platform administrator", ("POST", "/api/v1/users", {
        "username": "mallory", "password": "long-enough-1", "role": "platform_admin", "department_id": "{civil}"}),
        ("/admin/users", {"username": "mallory", "password": "long-enough-1", "role": "platform_admin",
                          "department_id": "{civil}"}), ADMIN_LOWER),
    Escalation("create an auditor", ("POST", "/api/v1/users", {
        "username": "mallory", "password": "long-enough-1", "role": "auditor", "department_id": "{civil}"}),
        None, ADMIN_LOWER),
    Escalation("create a department", ("POST", "/api/v1/departments",
                                       {"name": "假部门", "level": "provincial", "region_code": "340000"}),
               ("/admin/departments", {"name": "假部门", "level": "provincial", "region_code": "340000"}),
               ADMIN_LOWER),
    Escalation("deactivate a user", ("POST", "/api/v1/users/{user}/deactivate", None),
               ("/admin/users/{user}/deactivate", {}), ADMIN_LOWER),
    Escalation("reset a user's password", ("POST", "/api/v1/users/{user}/password", {"password": "long-enough-1"}),
               ("/admin/users/{user}/password", {"password": "long-enough-1"}), ADMIN_LOWER),
    Escalation("give a user the platform administrator's role",
               ("POST", "/api/v1/users/{user}/role", {"role": "platform_admin"}),
               ("/admin/users/{user}/role", {"role": "platform_admin"}), ADMIN_LOWER),
    Escalation("add a department's alias", ("POST", "/api/v1/departments/{police}/aliases", {"alias": "越级别名"}),
               ("/admin/departments/{police}/aliases", {"alias": "越级别名"}), ADMIN_LOWER),
    Escalation("see another user's tokens", ("GET", "/api/v1/auth/tokens?user_id={user}", None), None,
               ("reviewer", "police_reviewer", "civil_requester", "auditor")),
    Escalation("set a calendar day", ("PUT", "/api/v1/calendar/days/2031-10-08",
                                      {"is_workday": False, "name": "国庆节", "source": "越级"}),
               ("/admin/calendar/days", {"day": "2031-10-08", "is_workday": "0", "name": "国庆节"}), ADMIN_LOWER),
    Escalation("import a calendar", ("POST", "/api/v1/calendar/import",
                                     {"text": "日期,类型,名称\n2031-10-01,放假,国庆节\n", "format": "csv"}),
               ("/admin/calendar/import", {"text": "日期,类型,名称\n2031-10-01,放假,国庆节\n", "format": "csv"}),
               ADMIN_LOWER),
    Escalation("register a data connection (a server-opened address)", ("POST", "/api/v1/connections", {
        "department_id": "{police}", "name": "越级登记的连接", "kind": "http", "url": "https://evil.example/api",
        "internal": True}), ("/admin/connections", {"department_id": "{police}", "name": "越级登记的连接",
                                                    "kind": "http", "url": "https://evil.example/api",
                                                    "internal": "1"}), ADMIN_LOWER),
    Escalation("retire a data connection", ("DELETE", "/api/v1/connections/{connection}", None),
               ("/admin/connections/{connection}/retire", {}), ADMIN_LOWER),
    Escalation("sign an audit checkpoint", ("POST", "/api/v1/audit/checkpoint", None), None,
               ("reviewer", "auditor", "police_reviewer", "civil_requester")),
    Escalation("create a catalog entry", ("POST", "/api/v1/catalog/entries", "ENTRY"),
               ("/my/catalog/new", "ENTRY"), ("police_reviewer", "police_requester", "auditor")),
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return value.format(**ids) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def scene(app, db, world, tmp_path) -> dict:
    registry.detach(db.url)
    with db.session() as s:
        ids = build_scene(s, world, tmp_path)
        # one more refused request, escalated twice: its step is 省数据局's (the authority level)
        from govshare.sharing import service as sharing
        from tests.factories import request_in

        entry = s.get(CatalogEntry, ids["entry_source"])
        request = sharing.create_request(s, world.actors["civil_requester"], request_in(
            entry, consumer_system_id=ids["other_system"], purpose="残疾人补贴审核"), submit=True)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="refuse", reason="不符"))
        step = disputes.escalate(s, world.actors["civil_requester"], request.id, "确需")
        disputes.decide(s, world.actors["police_reviewer"], step.id, ReplyIn(decision="refuse", reason="协商未果"))
        ids["authority_step"] = disputes.escalate(s, world.actors["civil_requester"], request.id, "请求协调").id
        ids["civil"] = world.ids["civil"]
    return ids


def _entry_json() -> dict:
    return population_entry(name="越级创建的目录").model_dump(mode="json")


def _entry_form() -> dict:
    from tests.test_web import _form_of

    return _form_of(population_entry(name="越级创建的目录"))


def _api(client, world, escalation: Escalation, ids: dict, who: str):
    method, url, body = escalation.api
    body = _entry_json() if body == "ENTRY" else _fill(body, ids)
    return client.request(method, _fill(url, ids), json=body, headers=world.headers(who))


def _page(client, world, escalation: Escalation, ids: dict, who: str):
    url, fields = escalation.page
    fields = _entry_form() if fields == "ENTRY" else {k: str(v) for k, v in _fill(fields, ids).items()}
    client.cookies.set(SESSION_COOKIE, world.tokens[who])
    try:
        return client.post(_fill(url, ids), data=fields, headers={CSRF_HEADER: csrf_token(world.tokens[who])},
                           follow_redirects=False)
    finally:
        client.cookies.clear()


def test_r18_lower_roles_are_refused_the_actions_of_higher_roles_through_api_and_pages(client, db, world, scene):
    failures = []
    for start in range(0, len(ESCALATIONS), CHUNK):
        chunk = ESCALATIONS[start:start + CHUNK]
        before = snapshot(db)
        for escalation in chunk:
            for who in escalation.refused:
                if escalation.api:
                    response = _api(client, world, escalation, scene, who)
                    if response.status_code not in (403, 404) or response.json()["error"]["code"] not in (
                            "forbidden", "not_found"):
                        failures.append(f"API {escalation.name} as {who}: {response.status_code} "
                                        f"{response.text[:200]}")
                if escalation.page:
                    response = _page(client, world, escalation, scene, who)
                    if response.status_code not in (403, 404):
                        failures.append(f"page {escalation.name} as {who}: {response.status_code} "
                                        f"{response.text[:200]}")
        after = snapshot(db)
        if after != before:
            failures.append(f"one of {[e.name for e in chunk]} changed {changed_tables(before, after)}")
    assert not failures, "\n".join(failures)
    # the same calls succeed for the role that owns them: the refusals were about the role
    for name, owner in OWNERS.items():
        response = _api(client, world, next(e for e in ESCALATIONS if e.name == name), scene, owner)
        assert response.status_code in (200, 201), (name, owner, response.text)


OWNERS = {"publish an entry": "reviewer", "reply to a request": "police_reviewer",
          "create a platform administrator": "admin", "decide an authority-level dispute": "reviewer",
          "set a grant's masking": "police_reviewer", "set a calendar day": "admin",
          "give a user the platform administrator's role": "admin"}


# ---------------------------------------------------------------- fields that would give more


def test_r18_a_token_never_carries_more_than_its_users_role(client, db, world):
    made = client.post("/api/v1/auth/tokens", json={"name": "提权程序", "role": "platform_admin", "department_id": 1},
                       headers=world.headers("civil_requester"))
    if made.status_code == 201:
        program = {"Authorization": f"Bearer {made.json()['token']}"}
        me = client.get("/api/v1/auth/me", headers=program).json()
        assert (me["role"], me["department_id"]) == ("requester", world.ids["civil"])
        refused = client.post("/api/v1/users", json={"username": "mallory", "password": "long-enough-1",
                                                     "role": "platform_admin", "department_id": world.ids["civil"]},
                              headers=program)
        assert refused.status_code == 403
    else:
        assert made.status_code == 422, made.text
    with db.session() as s:
        assert s.scalars(select(User).where(User.username == "mallory")).first() is None
        assert {t.user_id for t in s.scalars(select(ApiToken))} <= {world.ids[f"user:{k}"] for k in world.tokens}


def test_r18_an_entry_body_cannot_set_its_status_provider_or_version(client, db, world):
    """The catalog manager's own draft, updated with fields only review may set: they are not taken."""
    from govshare.catalog import service as catalog

    with db.session() as s:
        scene = {"entry_draft": catalog.create_entry(s, world.actors["police_manager"], population_entry()).id}
    body = {**_entry_json(), "status": "published", "provider_id": world.ids["civil"], "version": 99,
            "resource_code": "101/999999", "return_reason": ""}
    response = client.put(f"/api/v1/catalog/entries/{scene['entry_draft']}", json=body,
                          headers=world.headers("police_manager"))
    assert response.status_code in (200, 422), response.text
    with db.session() as s:
        entry = s.get(CatalogEntry, scene["entry_draft"])
        assert (entry.status, entry.provider_id, entry.version) == ("draft", world.ids["police"], 0)
        assert entry.resource_code != "101/999999"


def test_r18_a_request_body_cannot_decide_itself(client, db, world):
    from tests.factories import consumer_system, published_entry

    with db.session() as s:
        entry = published_entry(s, world)
        system, _secret = consumer_system(s, world)
        body = {"entry_id": entry.id, "purpose": "最低生活保障资格审核", "scenario": "低保申请受理时核对",
                "duty_basis": "《社会救助暂行办法》第十一条", "item_ids": [item.id for item in entry.items][:2],
                "period_end": "2031-01-01", "consumer_system_id": system.id, "status": "approved",
                "decision": "approve", "requester_id": world.ids["police"], "verify_only": False}
    response = client.post("/api/v1/sharing/requests", json=body, headers=world.headers("civil_requester"))
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        with db.session() as s:
            made = s.get(ShareRequest, response.json()["id"])
            assert made.status in ("draft", "submitted") and made.decision in (None, "")
            assert made.requester_id == world.ids["civil"]
