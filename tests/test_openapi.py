"""The API says what it does: the OpenAPI document states every operation's purpose, the statuses it
returns in the one error shape, the bearer scheme, and the ranges the server enforces (R18: a client can
rely on the contract; out-of-range input is a 422 naming the field, never a 500)."""

from __future__ import annotations

import re

import pytest

from tests.openapi_document import openapi_document, resolve

STATE_CHANGING = {"post", "put", "patch", "delete"}
REQUIREMENT = re.compile(r"\bR(0[1-9]|1[0-9]|20)\b")


@pytest.fixture(scope="module")
def spec():
    return openapi_document()


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", method, operation


def integers(spec, schema: dict, where: str, seen: frozenset = frozenset()):
    """(where, schema) of every integer in a schema, through $refs, arrays, objects and unions."""
    ref = schema.get("$ref")
    if ref:
        if ref in seen:
            return
        seen = seen | {ref}
    schema = resolve(schema)
    if schema.get("type") == "integer":
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from integers(spec, option, where, seen)
    if "items" in schema:
        yield from integers(spec, schema["items"], f"{where}[]", seen)
    for name, prop in schema.get("properties", {}).items():
        yield from integers(spec, prop, f"{where}.{name}", seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from integers(spec, extra, f"{where}.*", seen)


def test_every_integer_input_has_a_declared_range(spec):
    unbounded = []
    for name, _method, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            for where, schema in integers(spec, parameter["schema"], parameter["name"]):
                if "maximum" not in schema or "minimum" not in schema:
                    unbounded.append(f"{name}: {where}")
        for content in operation.get("requestBody", {}).get("content", {}).values():
            for where, schema in integers(spec, content["schema"], "body"):
                if "maximum" not in schema or "minimum" not in schema:
                    unbounded.append(f"{name}: {where}")
    assert not unbounded, "integers without minimum/maximum:\n" + "\n".join(unbounded)


def _generated_summary(operation: dict) -> str:
    """What FastAPI writes when a route gives no summary: its function name in title case."""
    function = operation["operationId"].split("_api_v1_")[0].split("__")[0]
    return function.replace("_", " ").title()


def test_every_operation_has_a_written_summary(spec):
    missing = [name for name, _m, op in operations(spec)
               if not op.get("summary") or op["summary"] == _generated_summary(op)]
    assert not missing, "operations whose summary FastAPI made up from the function name:\n" + "\n".join(missing)


def test_every_state_changing_operation_names_its_rule(spec):
    missing = [name for name, method, op in operations(spec)
               if method in STATE_CHANGING and not REQUIREMENT.search(op.get("description", ""))]
    assert not missing, "state-changing operations whose description names no requirement (R01–R20):\n" + \
        "\n".join(missing)


def test_errors_have_the_one_shape_and_never_fastapis_default(spec):
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    wrong = []
    for name, _method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref") != "#/components/schemas/ErrorOut":
                    wrong.append(f"{name} {status}")
    assert not wrong, "error responses not documented as ErrorOut:\n" + "\n".join(wrong)


PUBLIC = {"POST /api/v1/auth/login", "POST /api/v1/gateway/token"}  # they hand out tokens


def test_r18_bearer_scheme_is_declared_and_required_wherever_a_token_is(spec):
    assert spec["components"]["securitySchemes"]["bearer"] == {
        **spec["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    for name, _method, operation in operations(spec):
        if "401" in operation["responses"]:
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], name
            assert operation.get("security") == ([] if name in PUBLIC else [{"bearer": []}]), name


def test_a_route_with_a_path_id_documents_404_and_one_with_input_422(spec):
    for name, _method, operation in operations(spec):
        parameters = operation.get("parameters", [])
        if any(p["in"] == "path" and (p["name"].endswith("_id") or p["name"] == "code") for p in parameters):
            assert "404" in operation["responses"], name
        if parameters or "requestBody" in operation:
            assert "422" in operation["responses"], name


def test_only_api_routes_are_documented(spec):
    assert [path for path in spec["paths"] if not path.startswith("/api/")] == []  # pages are not the API
