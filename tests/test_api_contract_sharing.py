"""The sharing side's API does what its OpenAPI document says (R18: a client can rely on the contract).

Covers the routes of one-stop sharing (R07, R08, R10, R11), notifications and webhooks, the gateway and
its sources (R09, R17), and the usage records (R12):
- every integer in a path or query string has the range the document declares: one past either end is a
  422 naming the parameter (never a 500 from the database driver), and the ends themselves are accepted;
  the cases are read from the document, so a new route is covered as soon as it exists;
- ids in request bodies likewise;
- every timestamp in a JSON answer states its offset (ISO 8601), UTC or, for a usage record's local time,
  the platform's zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from govshare.catalog.models import CatalogEntry
from govshare.fields import MAX_ID
from govshare.notify import service as notify
from govshare.orgs.models import ConsumerSystem
from govshare.search.index import registry
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import ServiceChangeKind
from tests.factories import submitted_request
from tests.gateway_factories import served_population, token_headers
from tests.openapi_document import openapi_document, resolve

SHARING_SIDE = re.compile(r"^/api/v1/(sharing|notifications|webhooks|gateway|data|sources|audit)(/|$)")
OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
SPEC = openapi_document()


def _options(schema: dict) -> list[dict]:
    """The alternatives of a parameter's schema (`int | None` is anyOf integer, null)."""
    schema = resolve(schema)
    return [resolve(option) for option in schema.get("anyOf", [schema])]


def _operations():
    for path, methods in SPEC["paths"].items():
        if SHARING_SIDE.match(path):
            for method, operation in methods.items():
                yield method.upper(), path, operation


# ---------------------------------------------------------------- integer parameters


@dataclass(frozen=True)
class Parameter:
    method: str
    path: str
    name: str
    where: str  # path | query
    minimum: int
    maximum: int
    others: tuple  # the operation's other parameters: (name, where, required, schema)

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.name}"

    def request(self, value: int) -> tuple[str, dict]:
        return _request(self.path, self.name, value, self.others)


def _request(path: str, name: str, value, others: tuple) -> tuple[str, dict]:
    """(url, query) with `value` for parameter `name` and a valid value for every other required one."""
    values = {name: value}
    for other, _where, required, schema in others:
        if required:
            values[other] = _sample(schema)
    for placeholder in re.findall(r"{(\w+)}", path):
        path = path.replace(f"{{{placeholder}}}", str(values.pop(placeholder)))
    return path, values


def _sample(schema: dict):
    option = next(o for o in _options(schema) if o.get("type") != "null")
    return option.get("minimum", 1) if option.get("type") == "integer" else "x"


def _integer_parameters() -> list[Parameter]:
    found = []
    for method, path, operation in _operations():
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            integer = next((o for o in _options(parameter["schema"]) if o.get("type") == "integer"), None)
            if integer is None:
                continue
            others = tuple((p["name"], p["in"], p.get("required", False), p["schema"]) for p in parameters
                           if p is not parameter)
            # a missing bound fails below, in the test of this parameter
            found.append(Parameter(method, path, parameter["name"], parameter["in"], integer.get("minimum"),
                                   integer.get("maximum"), others))
    return found


INTEGER_PARAMETERS = _integer_parameters()


def test_the_document_lists_the_sharing_sides_integer_parameters():
    """The cases below come from the document: ids, offsets and limits of every domain of this side."""
    names = {(p.path, p.name) for p in INTEGER_PARAMETERS}
    assert {("/api/v1/sharing/grants/{grant_id}", "grant_id"), ("/api/v1/sharing/requests", "offset"),
            ("/api/v1/data/{code}", "grant"), ("/api/v1/data/{code}/rows", "grant"),
            ("/api/v1/webhooks/{webhook_id}/deliveries", "limit"), ("/api/v1/audit/records", "system")} <= names


@pytest.mark.parametrize("parameter", INTEGER_PARAMETERS, ids=str)
def test_r18_an_integer_parameter_out_of_its_declared_range_is_422_naming_it(client, world, parameter):
    assert parameter.minimum is not None and parameter.maximum is not None, f"{parameter}: no declared range"
    headers = world.headers("admin")
    for value in (parameter.maximum + 1, parameter.minimum - 1):
        url, query = parameter.request(value)
        response = client.request(parameter.method, url, params=query, headers=headers)
        assert response.status_code == 422, (value, response.text)
        assert response.json()["error"]["field"] == parameter.name, (value, response.text)
    for value in (parameter.minimum, parameter.maximum):  # the ends are inside: never refused for this parameter
        url, query = parameter.request(value)
        response = client.request(parameter.method, url, params=query, headers=headers)
        assert response.status_code < 500, (value, response.text)
        if response.status_code == 422:
            assert response.json()["error"]["field"] != parameter.name, (value, response.text)


def test_r18_ids_past_64_bits_in_the_path_or_query_are_422_not_500(client, world):
    """The two reports of the issue, as reported."""
    headers = world.headers("admin")
    for url in ("/api/v1/sharing/grants/99999999999999999999", "/api/v1/sharing/requests?offset=9223372036854775808"):
        response = client.get(url, headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["field"] in ("grant_id", "offset")


# ---------------------------------------------------------------- enumerated parameters


def _enumerated_parameters() -> list[tuple[str, str, str, list, tuple]]:
    """(method, path, name, allowed values, other parameters) of every query parameter with an enum."""
    found = []
    for method, path, operation in _operations():
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            listed = next((o["enum"] for o in _options(parameter["schema"]) if "enum" in o), None)
            if listed is not None and parameter["in"] == "query":
                others = tuple((p["name"], p["in"], p.get("required", False), p["schema"]) for p in parameters
                               if p is not parameter)
                found.append((method, path, parameter["name"], listed, others))
    return found


ENUMERATED = _enumerated_parameters()


def test_the_document_lists_the_values_of_enumerated_parameters():
    listed = {(path, name): values for _m, path, name, values, _o in ENUMERATED}
    assert listed[("/api/v1/sharing/requests", "status")][:2] == ["draft", "submitted"]
    assert listed[("/api/v1/sharing/requests", "box")] == ["outgoing", "incoming"]
    assert listed[("/api/v1/webhooks/{webhook_id}/deliveries", "status")] == ["pending", "delivered", "dead"]
    assert listed[("/api/v1/audit/records", "result")] == ["ok", "not_found", "refused", "error"]
    assert listed[("/api/v1/audit/totals", "by")] == ["day", "resource", "system", "result"]


@pytest.mark.parametrize(("method", "path", "name", "values", "others"), ENUMERATED,
                         ids=[f"{m} {p} {n}" for m, p, n, _v, _o in ENUMERATED])
def test_r18_a_value_outside_an_enumeration_is_422_naming_it(client, world, method, path, name, values, others):
    """What the document lists is what the server takes: any listed value, and nothing else."""
    headers = world.headers("admin")
    url, query = _request(path, name, "no-such-value", others)
    refused = client.request(method, url, params=query, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == name, refused.text
    for value in values:
        url, query = _request(path, name, value, others)
        response = client.request(method, url, params=query, headers=headers)
        assert response.status_code < 500, (value, response.text)
        assert response.status_code != 422 or response.json()["error"]["field"] != name, (value, response.text)


def test_r12_the_export_is_documented_as_the_files_it_answers():
    answer = SPEC["paths"]["/api/v1/data/{code}/export"]["post"]["responses"]["200"]
    assert set(answer["content"]) == {"text/csv; charset=utf-8", "application/vnd.apache.parquet"}


# ---------------------------------------------------------------- ids in request bodies

TOO_BIG = MAX_ID + 1
REQUEST = {"purpose": "低保审核", "scenario": "受理时核对户籍", "period_end": "2099-01-01"}
BODY_IDS = [
    ("/api/v1/sharing/requests", {**REQUEST, "entry_id": TOO_BIG}, "entry_id"),
    ("/api/v1/sharing/requests", {**REQUEST, "entry_id": 1, "item_ids": [1, TOO_BIG]}, "item_ids.1"),
    ("/api/v1/sharing/requests", {**REQUEST, "entry_id": 1, "consumer_system_id": 0}, "consumer_system_id"),
    ("/api/v1/sharing/requests/1/reply", {"decision": "approve_in_part", "item_ids": [TOO_BIG]}, "item_ids.0"),
    ("/api/v1/sharing/disputes/1/decide", {"decision": "approve", "item_ids": [0]}, "item_ids.0"),
    ("/api/v1/sharing/service-changes",
     {"entry_id": TOO_BIG, "kind": "stop", "description": "停止服务", "effective_date": "2099-01-01"}, "entry_id"),
    ("/api/v1/webhooks", {"url": "https://hooks.example/x", "department_id": TOO_BIG}, "department_id"),
    ("/api/v1/data/34000011/00001/verify", {"grant": TOO_BIG, "fields": {"xm": "张某"}}, "grant"),
    ("/api/v1/data/34000011/00001/export", {"grant": 0}, "grant"),
    ("/api/v1/sources/sql", {"entry_id": TOO_BIG, "connection": "库", "table": "t", "key_item": "k"}, "entry_id"),
    ("/api/v1/sources/http", {"entry_id": 0, "connection": "接口", "key_item": "k", "column_map": {}}, "entry_id"),
    ("/api/v1/connections", {"department_id": TOO_BIG, "name": "库", "kind": "sql", "url": "sqlite:///x.db"},
     "department_id"),
]


@pytest.mark.parametrize(("url", "body", "field"), BODY_IDS, ids=[f"{u} {f}" for u, _b, f in BODY_IDS])
def test_r18_an_id_out_of_range_in_a_body_is_422_naming_it(client, world, url, body, field):
    response = client.post(url, json=body, headers=world.headers("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field, response.text


def test_r18_an_uploaded_files_entry_id_out_of_range_is_422_naming_it(client, world):
    response = client.post("/api/v1/sources/file", headers=world.headers("admin"),
                           data={"entry_id": str(TOO_BIG), "key_item": "gmsfhm"},
                           files={"file": ("people.csv", b"GMSFHM\n1\n", "text/csv")})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "entry_id", response.text


# ---------------------------------------------------------------- timestamps state their offset


def _has_timestamps(schema: dict, seen: frozenset = frozenset()) -> bool:
    ref = schema.get("$ref")
    if ref in seen:
        return False
    seen = seen | {ref} if ref else seen
    schema = resolve(schema)
    parts = [*schema.get("anyOf", []), *schema.get("allOf", []), *schema.get("properties", {}).values()]
    parts += [schema["items"]] if "items" in schema else []
    return schema.get("format") == "date-time" or any(_has_timestamps(part, seen) for part in parts)


def _timestamps(schema: dict, value):
    """Every value of the answer that its schema says is a date-time."""
    if value is None:
        return
    schema = resolve(schema)
    if schema.get("format") == "date-time":
        yield value
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        yield from _timestamps(option, value)
    if isinstance(value, list) and "items" in schema:
        for item in value:
            yield from _timestamps(schema["items"], item)
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            yield from _timestamps(prop, value.get(name))


def _json_schema(operation: dict) -> dict | None:
    for status in ("200", "201"):
        content = operation["responses"].get(status, {}).get("content", {})
        if "application/json" in content:
            return content["application/json"]["schema"]
    return None


def _readers_with_timestamps() -> list[tuple[str, dict]]:
    return [(path, schema) for method, path, operation in _operations()
            if method == "GET" and (schema := _json_schema(operation)) is not None and _has_timestamps(schema)]


READERS = _readers_with_timestamps()
# who may read what: the first of these whose answer holds a timestamp is checked
READERS_BY_ROLE = ("admin", "civil_requester", "police_reviewer")


@pytest.fixture
def history(client, db, world, tmp_path) -> dict:
    """A grant with a served call (usage record), then revoked; a refused request in dispute; a proposed
    service change; a webhook with deliveries; notifications; a signed checkpoint: every kind of timestamp
    this side shows."""
    registry.detach(db.url)  # publishing the entry need not build a search index
    with db.session() as s:
        civil, police = world.actors["civil_requester"], world.actors["police_reviewer"]
        hook, _secret = notify.create_webhook(s, civil, department_id=None, url="https://hooks.example/civil")
        served = served_population(s, world, tmp_path)
        refused = submitted_request(s, world, entry=s.get(CatalogEntry, served.entry_id),
                                    system=s.get(ConsumerSystem, served.system_id))
        sharing.reply(s, police, refused.id, ReplyIn(decision="refuse", reason="超出履职范围"))
        disputes.escalate(s, civil, refused.id, "属于法定职责，请协商")
        changes.propose(s, police, served.entry_id, ServiceChangeKind.CHANGE, "调整更新频率",
                        date.today() + timedelta(days=120))
    call = client.get(f"/api/v1/data/{served.resource_code}", params={"grant": served.grant_id,
                                                                        "key": served.rows[0]["GMSFHM"]},
                      headers=token_headers(client, served.client_id, served.secret))
    assert call.status_code == 200, call.text
    checkpoint = client.post("/api/v1/audit/checkpoint", headers=world.headers("admin"))
    assert checkpoint.status_code == 200 and checkpoint.json()["signed"], checkpoint.text
    with db.session() as s:  # an ended grant: a grant's own timestamps are those of its end
        sharing.revoke_grant(s, world.actors["police_reviewer"], served.grant_id, "核查任务已完成")
    return {"request_id": refused.id, "grant_id": served.grant_id, "webhook_id": hook.id,
            "entry_id": served.entry_id, "code": served.resource_code, "checkpoint": checkpoint.json()}


def _stated_offset(text: str) -> bool:
    return isinstance(text, str) and bool(OFFSET.search(text)) and datetime.fromisoformat(text).tzinfo is not None


def test_the_document_lists_readers_with_timestamps():
    paths = {path for path, _schema in READERS}
    assert {"/api/v1/sharing/requests", "/api/v1/sharing/grants/{grant_id}", "/api/v1/notifications",
            "/api/v1/webhooks/{webhook_id}/deliveries", "/api/v1/sources", "/api/v1/audit/records"} <= paths


@pytest.mark.parametrize(("path", "schema"), READERS, ids=[path for path, _s in READERS])
def test_r12_timestamps_in_answers_state_their_offset(client, world, history, path, schema):
    missing = [name for name in re.findall(r"{(\w+)}", path) if name not in history]
    assert not missing, f"{path}: the history fixture has no {missing} yet"
    url = re.sub(r"{(\w+)}", lambda m: str(history[m.group(1)]), path)
    for who in READERS_BY_ROLE:
        response = client.get(url, headers=world.headers(who))
        assert response.status_code == 200, (who, response.text)
        found = list(_timestamps(schema, response.json()))
        if found:
            assert all(_stated_offset(t) for t in found), (who, found)
            return
    pytest.fail(f"{path}: none of {READERS_BY_ROLE} was shown a timestamp")


def test_r12_a_checkpoint_states_when_it_was_signed_in_utc(history):
    signed_at = history["checkpoint"]["signed_at"]
    assert _stated_offset(signed_at) and datetime.fromisoformat(signed_at).utcoffset() == timedelta(0)


def test_r12_a_usage_records_local_time_carries_the_zones_offset(client, world, history, settings):
    """`at` is the platform's local time with its offset, the same instant as `at_utc`."""
    record = client.get("/api/v1/audit/records", headers=world.headers("auditor")).json()[0]
    at, at_utc = datetime.fromisoformat(record["at"]), datetime.fromisoformat(record["at_utc"])
    assert at == at_utc and at_utc.utcoffset() == timedelta(0)
    assert at.utcoffset() == at_utc.astimezone(ZoneInfo(settings.timezone)).utcoffset()


def test_r18_ending_a_request_a_grant_or_a_source_without_a_reason_is_422_naming_reason(client, db, world, tmp_path):
    """Issue 14 through the API: withdraw, 共享目的已实现 and disconnect say why; a blank or missing reason is a 422
    naming `reason`, and nothing ends."""
    with db.session() as s:
        served = served_population(s, world, tmp_path)
        pending = submitted_request(s, world, entry=s.get(CatalogEntry, served.entry_id),
                                    system=s.get(ConsumerSystem, served.system_id)).id
    requester, manager = world.headers("civil_requester"), world.headers("police_manager")
    calls = [("POST", f"/api/v1/sharing/requests/{pending}/withdraw", requester, {"json": {"reason": " "}}),
             ("POST", f"/api/v1/sharing/grants/{served.grant_id}/purpose-achieved", requester, {"json": {}}),
             ("DELETE", f"/api/v1/sources/{served.entry_id}", manager, {"params": {"reason": ""}}),
             ("DELETE", f"/api/v1/sources/{served.entry_id}", manager, {})]
    for method, url, headers, body in calls:
        answer = client.request(method, url, headers=headers, **body)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "reason", (url, answer.text)
    assert client.get(f"/api/v1/sharing/requests/{pending}", headers=requester).json()["status"] == "submitted"
    assert client.get(f"/api/v1/sharing/grants/{served.grant_id}", headers=requester).json()["status"] == "active"
    assert client.get(f"/api/v1/sources/{served.entry_id}", headers=manager).json()["status"] == "connected"
