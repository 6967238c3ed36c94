"""Authorization cases of objections (校核纠错, R13; objections.api), in the style of
tests/authz_cases_issue15_quality.py.

Writes (OBJECTION_CASES, run by tests/test_authz_api.py: no token is 401, the auditor 403, every intruder 403 or
404 with nothing changed, then the rightful user succeeds with the very same request):
- filing is a requester's of the department that holds the grant: not another department's requester filing on a
  grant it does not hold, not the provider's, not the holder's other roles, not an authority, not the administrator;
- the evidence file is the filing department's requester's: not the provider's people, nor anyone else;
- the answer is the provider's department reviewer's or catalog manager's: not the requester, not the competent
  authority that reads it, not another department.

Reads (OBJECTION_READS, run by tests/test_authz_api.py's test_r13_objections_are_read_by_their_parties_only): the
requester and provider departments (every role), the department the objection was forwarded to, the competent
authority of the provider's area, the administrator and the auditor read an objection and download its evidence;
an unrelated department, the city's authority and another province's get 404 and find nothing in the list."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from govshare.config import settings_of
from govshare.objections import evidence as evidence_store
from govshare.objections import service as objections
from govshare.objections.models import Objection, ObjectionEvent
from tests.authz_case import Case
from tests.authz_cases_issue3 import more_users
from tests.objection_factories import EVIDENCE, KEY, PNG, filed, granted, lead_source


def _grant(session, world) -> dict:
    """省民政厅's active grant for 省公安厅's 人口基本信息, and the extra users of issue 3."""
    more_users(session, world)
    return {"grant_id": granted(session, world)}


def _open(session, world) -> dict:
    """An open objection of 省民政厅 on a record of that grant, without an evidence file."""
    params = _grant(session, world)
    return params | {"objection_id": filed(session, world, params["grant_id"])}


def _with_evidence(session, world) -> dict:
    """As `_open`, with its PNG evidence file stored."""
    params = _grant(session, world)
    return params | {"objection_id": filed(session, world, params["grant_id"], evidence_file=PNG)}


def _forwarded(session, world) -> dict:
    """As `_with_evidence`, answered by 省公安厅: forwarded to 合肥市民政局 as the lead source department."""
    params = _with_evidence(session, world)
    lead_source(session, session.get(Objection, params["objection_id"]).entry_id, ("csrq",), world.ids["city_civil"])
    objections.answer_objection(session, world.actors["police_reviewer"], params["objection_id"], "forwarded",
                                "婚姻状况以民政部门登记为准", forward_to=world.ids["city_civil"])
    session.flush()
    return params


def _objection_state(session, _params) -> tuple:
    """Every objection's status, answer and evidence file, their records, and the files in the evidence store."""
    rows = [(o.id, o.status, o.answer, o.answered_by_id, o.forwarded_to_id, o.evidence_stored, o.evidence_sha256)
            for o in session.scalars(select(Objection).order_by(Objection.id))]
    events = [(e.id, e.objection_id, e.action)
              for e in session.scalars(select(ObjectionEvent).order_by(ObjectionEvent.id))]
    folder = evidence_store.folder_of(settings_of(session).data_dir)
    stored = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return rows, events, stored


def _filing(params: dict) -> dict:
    return {"grant_id": params["grant_id"], "key": KEY, "items": ["csrq", "xm"],
            "claimed": {"csrq": "1949-12-30"}, "evidence": EVIDENCE}


def _evidence_file(_params: dict) -> dict:
    return {"files": {"file": ("死亡医学证明.png", PNG, "image/png")}}


# filing: a requester of another department (on a grant it does not hold), the provider's requester, the holder's
# other roles, the provider's people, the authorities, the administrator
FILE_REFUSED = ("city_civil_requester", "police_requester", "civil_manager", "civil_reviewer", "police_reviewer",
                "police_manager", "reviewer", "other_reviewer", "admin")
# the evidence file: the provider's people (who read the objection), the holder's other roles, a requester of
# another department, the competent authority, the administrator
EVIDENCE_REFUSED = ("police_reviewer", "police_manager", "police_requester", "civil_manager", "civil_reviewer",
                    "city_civil_requester", "reviewer", "other_reviewer", "admin")
# the answer: the requester and its department, the provider's requester (wrong role), another department, the
# competent authority of the area (it reads, it does not answer), another province's, the administrator
ANSWER_REFUSED = ("civil_requester", "civil_manager", "civil_reviewer", "police_requester", "city_civil_manager",
                  "reviewer", "city_reviewer", "other_reviewer", "admin")

OBJECTION_CASES = [
    Case("POST", "/api/v1/objections", _grant, _filing, FILE_REFUSED, "civil_requester", _objection_state,
         owner_status=201),
    Case("POST", "/api/v1/objections/{objection_id}/evidence", _open, _evidence_file, EVIDENCE_REFUSED,
         "civil_requester", _objection_state, multipart=True),
    Case("POST", "/api/v1/objections/{objection_id}/answer", _open,
         lambda _p: {"answer": "corrected", "reason": "已在人口信息系统补录死亡标识"}, ANSWER_REFUSED, "police_manager",
         _objection_state),
]


# ---------------------------------------------------------------- reads


@dataclass
class Read:
    """One read route of objections: the scene, who reads it (200) and who gets 404."""

    path: str
    prepare: object  # (session, world) -> dict of path parameters
    readers: tuple[str, ...]
    refused: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"GET {self.path} ({self.prepare.__name__.strip('_')})"


PARTIES = ("civil_requester", "civil_manager", "police_reviewer", "police_manager", "police_requester", "reviewer",
           "admin", "auditor")
# 合肥市民政局 (not a party), the city's competent authority (its area does not cover a provincial department) and
# another province's
UNRELATED = ("city_civil_manager", "city_civil_requester", "city_reviewer", "other_reviewer")

OBJECTION_READS = [
    Read("/api/v1/objections/{objection_id}", _with_evidence, PARTIES, UNRELATED),
    Read("/api/v1/objections/{objection_id}/evidence", _with_evidence, PARTIES, UNRELATED),
    # forwarded to 合肥市民政局: its people read it from then on; the others outside still do not
    Read("/api/v1/objections/{objection_id}", _forwarded, (*PARTIES, "city_civil_manager", "city_civil_requester"),
         ("city_reviewer", "other_reviewer")),
    Read("/api/v1/objections/{objection_id}/evidence", _forwarded,
         (*PARTIES, "city_civil_manager", "city_civil_requester"), ("city_reviewer", "other_reviewer")),
]

