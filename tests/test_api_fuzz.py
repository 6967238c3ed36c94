"""The API keeps its contract under property-based fuzzing (schemathesis, R18): against the demo province, as
a requester and as a competent authority, every operation gets generated valid and invalid input and must
answer without a server error, with a status, content type, headers and body its OpenAPI document states.

Examples per operation: GOVSHARE_FUZZ_EXAMPLES (default 8); the run is derandomized (the same examples
every run, so CI is stable) unless GOVSHARE_FUZZ_RANDOM=1."""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from govshare.orgs import service as orgs
from tests.demo_node import demo_node
from tests.openapi_document import openapi_document

NAIVE_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def timestamps_carry_an_offset(ctx, response, case) -> None:
    """The API speaks ISO 8601 with an offset: a naive time is ambiguous (UTC? Beijing?). The data routes
    answer a source's own values, which are the provider's, and are left out."""
    content_type = response.headers.get("content-type", [""])[0]
    if case.path.startswith("/api/v1/data/") or not content_type.startswith("application/json"):
        return None
    naive = [text for text in _strings(response.json()) if NAIVE_TIMESTAMP.match(text)]
    assert not naive, f"timestamps without an offset: {naive[:3]}"
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, timestamps_carry_an_offset]
EXAMPLES = int(os.environ.get("GOVSHARE_FUZZ_EXAMPLES", "8"))
RANDOM = os.environ.get("GOVSHARE_FUZZ_RANDOM") == "1"
ROLES = {"requester": "civil_requester", "authority": "data_authority"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node(request, tmp_path_factory):
    with demo_node(request.param, tmp_path_factory) as seeded:
        yield seeded


_TOKENS: dict[tuple, str] = {}


def login(node, username: str, case) -> dict[str, str]:
    """A login per operation: a fuzzed logout or token revocation ends only that operation's token."""
    key = (id(node), username, case.operation.label)
    if key not in _TOKENS:
        with node.db.session() as session:
            _TOKENS[key] = orgs.login(session, username, node.password, session_hours=1)
    return {"Authorization": f"Bearer {_TOKENS[key]}"}


SPEC = openapi_document()
# Boundaries (schemathesis' coverage phase: each parameter at and beyond its declared limits, missing and
# wrong-typed values, undocumented methods) once per operation, as the competent authority; random valid and
# invalid input besides, as the authority and as a requester.
# a generous timeout: the calls are in-process, and a busy machine must not turn a slow answer into a failure
TIMEOUT = {"request-timeout": 120}
at_boundaries = schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict(TIMEOUT))
at_random = schemathesis.openapi.from_dict(
    SPEC, config=schemathesis.Config.from_dict({**TIMEOUT, "phases": {"coverage": {"enabled": False}}}))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
                         suppress_health_check=list(HealthCheck))


def pytest_generate_tests(metafunc):
    if "node" in metafunc.fixturenames:
        from tests.conftest import BACKENDS

        metafunc.parametrize("node", BACKENDS, indirect=True, scope="module")


@at_boundaries.parametrize()
@FUZZ_SETTINGS
def test_r18_every_operation_keeps_its_contract_at_its_boundaries_as_an_authority(case, node):
    case.call_and_validate(app=node.app, headers=login(node, ROLES["authority"], case), checks=CHECKS)


@at_random.parametrize()
@FUZZ_SETTINGS
def test_r18_every_operation_keeps_its_contract_under_random_input_as_a_requester(case, node):
    case.call_and_validate(app=node.app, headers=login(node, ROLES["requester"], case), checks=CHECKS)
