"""Negative authorization cases for the write routes of the usage records (issue 4, R12), in the style of
tests/authz_cases_issue3.py: tests/test_authz_api.py runs each one (no token 401, the auditor 403, every
intruder 403 with nothing changed, then the rightful user succeeds with the same request).

Signing a checkpoint is the platform administrator's (the worker signs on its own schedule); departments,
their reviewers and the competent authorities read and verify the records but do not sign."""

from __future__ import annotations

from sqlalchemy import func, select

from govshare.audit import chain
from govshare.audit.models import Checkpoint
from tests.authz_case import Case


def _advanced_head(session, world) -> dict:
    """One usage record after the last checkpoint: the head can be signed."""
    chain.append(session, department_id=world.ids["civil"], provider_id=world.ids["police"], mode="lookup",
                 result="ok", request_hash="0" * 64, row_count=1)
    session.flush()
    return {}


def _checkpoints(session, _params) -> int:
    return session.scalar(select(func.count()).select_from(Checkpoint))


AUDIT_CASES = [
    Case("POST", "/api/v1/audit/checkpoint", _advanced_head, lambda _p: None,
         ("reviewer", "city_reviewer", "other_reviewer", "police_reviewer", "police_manager", "civil_requester",
          "civil_manager"), "admin", _checkpoints),
]
