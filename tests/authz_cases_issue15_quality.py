"""Negative authorization cases for the write routes of data quality (issue 15, quality.api): declaring,
proposing, confirming and removing an entry's rules and running them are the provider's catalog managers' and
department reviewers' alone; importing a reference table is the platform administrator's. tests/test_authz_api.py
runs each case: no token is 401, the auditor 403, every intruder 403 or 404 with nothing changed, then the
rightful user succeeds with the very same request."""

from __future__ import annotations

from sqlalchemy import select

from govshare.gateway import connect
from govshare.quality import service as quality
from govshare.quality.models import QualityRule, QualityRun, ReferenceTable
from tests.authz_case import Case
from tests.authz_cases_issue4_sources import INTRUDERS, _entry
from tests.gateway_factories import COLUMN_MAP


def _connected(session, world) -> dict:
    """A published entry of 省公安厅 served from its own table (connecting proposed rules, unconfirmed)."""
    params = _entry(session, world)
    connect.connect_sql(session, world.actors["police_manager"], params["entry_id"], params["connection"],
                        "RK_JBXX", "gmsfhm", COLUMN_MAP)
    session.flush()
    return {"entry_id": params["entry_id"]}


def _without_rules(session, world) -> dict:
    """As `_connected`, with the proposals removed: there is something left to propose."""
    params = _connected(session, world)
    for rule in quality.list_rules(session, world.actors["police_manager"], params["entry_id"]):
        session.delete(rule)
    session.flush()
    return params


def _proposed(session, world) -> dict:
    """As `_connected`: connecting stored the platform's proposals (unconfirmed)."""
    params = _connected(session, world)
    rule = quality.list_rules(session, world.actors["police_manager"], params["entry_id"])[0]
    assert rule.confirmed_at is None
    return params | {"rule_id": rule.id}


def _confirmed(session, world) -> dict:
    """As `_proposed`, with the first proposal confirmed: the entry can be run."""
    params = _proposed(session, world)
    quality.confirm_rules(session, world.actors["police_manager"], params["entry_id"], [params["rule_id"]])
    session.flush()
    return params


def _quality_state(session, params) -> tuple:
    rules = [(r.id, r.kind, r.item, r.confirmed_at) for r in session.scalars(
        select(QualityRule).where(QualityRule.entry_id == params["entry_id"]).order_by(QualityRule.id))]
    runs = session.scalars(select(QualityRun.id).where(QualityRun.entry_id == params["entry_id"])).all()
    return rules, runs


def _references(session, params) -> list:
    return [(t.name, t.label, len(t.codes)) for t in session.scalars(select(ReferenceTable))]


REFERENCE_INTRUDERS = ("police_manager", "police_reviewer", "civil_requester", "reviewer", "other_reviewer")

QUALITY_CASES = [
    Case("POST", "/api/v1/quality/entries/{entry_id}/rules", _connected,
         lambda _p: {"kind": "range", "item": "csrq", "params": {"min": "1900-01-01"}}, INTRUDERS,
         "police_manager", _quality_state, owner_status=201),
    Case("POST", "/api/v1/quality/entries/{entry_id}/rules/propose", _without_rules, lambda _p: None, INTRUDERS,
         "police_reviewer", _quality_state),
    Case("POST", "/api/v1/quality/entries/{entry_id}/rules/confirm", _proposed,
         lambda p: {"rule_ids": [p["rule_id"]]}, INTRUDERS, "police_reviewer", _quality_state),
    Case("DELETE", "/api/v1/quality/entries/{entry_id}/rules/{rule_id}", _proposed, lambda _p: None, INTRUDERS,
         "police_manager", _quality_state, owner_status=204),
    Case("POST", "/api/v1/quality/entries/{entry_id}/runs", _confirmed, lambda _p: None, INTRUDERS,
         "police_manager", _quality_state, owner_status=201),
    Case("PUT", "/api/v1/quality/references", lambda _s, _w: {},
         lambda _p: {"name": "admin_divisions", "label": "行政区划代码（县级）", "codes": ["340104", "340102"]},
         REFERENCE_INTRUDERS, "admin", _references),
]
