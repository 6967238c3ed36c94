"""Negative authorization cases for the gateway's write routes (issue 4), run by tests/test_authz_api.py.

Only one gateway write route is authorized by user roles: a grant's masking rules, set by the provider's
department reviewer alone (R17). The others are not user routes and have their own tests in
tests/test_gateway.py:
- POST /api/v1/gateway/token is public by design: a consumer system trades its client id and secret for
  a token (test_r18_token_route_is_public_but_refuses_bad_credentials);
- POST …/verify and …/export are authenticated by a consumer system's token, not a login: no token is
  401, a login token is 401, another system (same or other department) is 403, forged or expired tokens
  are 401 (test_r18_system_token_routes_refuse_every_wrong_caller and the refusal tests)."""

from __future__ import annotations

from sqlalchemy import func, select

from govshare.sharing.models import Grant, RequestEvent
from tests.authz_case import Case
from tests.authz_cases_issue3 import PROVIDER_SIDE_REFUSED, _approved


def _masking_state(session, params) -> dict:
    grant = session.get(Grant, params["grant_id"])
    events = session.scalar(select(func.count()).select_from(RequestEvent).where(
        RequestEvent.action == "grant_masking_set"))
    return {"masking": dict(grant.masking or {}), "events": events}


ISSUE4_GATEWAY_CASES = [
    # the provider's reviewer alone: not the requester, not the provider's other roles, not an authority
    Case("PUT", "/api/v1/gateway/grants/{grant_id}/masking", _approved,
         lambda _p: {"rules": {"gmsfhm": "keep:3:2", "xm": "hash"}}, (*PROVIDER_SIDE_REFUSED, "reviewer"),
         "police_reviewer", _masking_state),
]

# Public by design: exchanging a system's credentials for a token needs no login.
ISSUE4_PUBLIC_WRITE_ROUTES = {("POST", "/api/v1/gateway/token")}

# Authenticated by a consumer system's access token (never a user's login), tested in tests/test_gateway.py.
ISSUE4_SYSTEM_TOKEN_WRITE_ROUTES = {
    ("POST", "/api/v1/data/{code:path}/verify"),
    ("POST", "/api/v1/data/{code:path}/export"),
}
