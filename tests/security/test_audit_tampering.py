"""Tampering with the usage records (R12) is named by the verifier (`govshare.audit.chain.verify`), on SQLite and
PostgreSQL: an attacker with write access to the node's database changes, deletes, inserts or reorders records,
or moves the chain head, and `verify` names the first record concerned.

Classes already proved elsewhere, and not repeated here:
- tests/test_audit.py: a record's row count changed; its hash replaced by garbage; a record changed with its own
  hash recomputed; a record deleted; a forged record inserted in the middle (seq renumbered) or appended without
  the head; the tail deleted after a checkpoint with a tidy head; a checkpoint's signature replaced; a checkpoint
  deleted; a consistent rewrite after a checkpoint and of the whole chain; a checkpoint signed by another key;
  records deleted without a prune checkpoint;
- tests/test_mutants_chain.py: the first record linked to something else than genesis; records gone before the
  first kept one; the end of the chain against the checkpoints and the head (tail deleted with and without the
  head, records appended beyond the head); any signed field of an older checkpoint changed; all records deleted.

Here: every chained field changed one at a time (who, which grant and resource, what, how many, when, the result),
the link alone changed, two records swapped (with and without their hashes recomputed), a record moved to the
end, records written by the gateway itself (a refusal turned into an answer, blamed on another department,
deleted), and the chain head: its hash, and the newest record changed behind it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from govshare.audit import chain
from govshare.audit.models import UsageRecord
from tests.test_audit import _append, _record, _rehash_from, _sign, _sql


def _problems(report) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in report.problems]


def _first(report) -> tuple[int, str]:
    assert report.first_problem is not None, "the tampering was not detected"
    return report.first_problem.seq, report.first_problem.kind


def _update(db, at_seq: int, **values) -> None:
    """Changes columns of one record with SQLAlchemy (typed values on both databases), nothing else."""
    with db.engine.begin() as conn:
        conn.execute(UsageRecord.__table__.update().where(UsageRecord.seq == at_seq).values(**values))


# What an attacker would write into each chained field of record 6 (its original is tests.test_audit._fields).
FORGED = {
    "at": lambda row: row["at"] - timedelta(hours=3),  # back-dated, e.g. into office hours
    "department_id": lambda _row: 12,  # blamed on (or taken off) another department
    "provider_id": lambda _row: 23,
    "consumer_system_id": lambda _row: None,
    "user_id": lambda _row: 7,
    "grant_id": lambda _row: None,  # no longer counted against the grant (suspension, quota)
    "entry_id": lambda _row: 56,
    "resource_code": lambda _row: "34000011/00002",
    "mode": lambda _row: "verify",  # an export made to look like a yes/no verification
    "items": lambda _row: "gmsfhm",  # fewer items than were read
    "row_count": lambda row: row["row_count"] + 500,
    "result": lambda _row: "refused",
    "reason": lambda _row: "item_not_granted",
    "request_hash": lambda _row: "f" * 64,
}


def test_every_chained_field_has_a_forgery_case():
    """A field added to the chain without a case here fails: each one must be shown to be covered by the hash."""
    assert set(FORGED) == set(chain.CHAINED_FIELDS) - {"seq"}  # seq: the reorder and move tests below


@pytest.mark.parametrize("field", sorted(FORGED))
def test_r12_changing_any_one_chained_field_is_named(db, field):
    _append(db, 10)
    _sign(db)
    row = _record(db, 6)
    forged = FORGED[field](row)
    assert forged != row[field]
    _update(db, 6, **{field: forged})
    report = chain.verify(db)
    assert _first(report) == (6, "altered"), report.problems
    assert "序号 6" in report.first_problem.message


def test_r12_changing_the_link_alone_is_named(db):
    """The stored previous hash is made to point elsewhere (e.g. to splice a record from another node)."""
    _append(db, 10)
    _update(db, 6, prev_hash=_record(db, 3)["hash"])
    assert _first(chain.verify(db)) == (6, "altered")


def test_r12_two_records_swapped_are_named(db):
    """Records 4 and 5 exchange their places (seq), everything else as it was."""
    _append(db, 8)
    _update(db, 4, seq=-4)
    _update(db, 5, seq=4)
    _update(db, -4, seq=5)
    report = chain.verify(db)
    assert report.problems and report.first_problem.seq == 4, report.problems
    assert not report.ok


def test_r12_two_records_swapped_with_their_links_rebuilt_are_named_by_the_checkpoint(db):
    """The attacker swaps the contents of records 4 and 5 and recomputes every hash from 4 on (and the head):
    every link holds, only the signed checkpoint at 8 shows it, naming the span since the one at 2."""
    _append(db, 2)
    _sign(db)
    _append(db, 6)
    _sign(db)
    four, five = _record(db, 4), _record(db, 5)
    content = [name for name in chain.CHAINED_FIELDS if name != "seq"]
    _update(db, 4, **{name: five[name] for name in content})
    _update(db, 5, **{name: four[name] for name in content})
    _rehash_from(db, 4)
    report = chain.verify(db)
    assert _problems(report) == [(3, "rewritten")], report.problems


def test_r12_a_record_moved_to_the_end_is_named(db):
    """Record 3 is taken out and put back as the newest one (seq 11, linked to 10, the head moved): its old place
    is missing."""
    _append(db, 10)
    moved = _record(db, 3)
    _sql(db, "DELETE FROM usage_records WHERE seq = 3")
    last = _record(db, 10)
    values = {**{name: moved[name] for name in chain.CHAINED_FIELDS}, "seq": 11}
    digest = chain.link_hash(last["hash"], (values[name] for name in chain.CHAINED_FIELDS))
    with db.engine.begin() as conn:
        conn.execute(UsageRecord.__table__.insert().values(**values, prev_hash=last["hash"], hash=digest))
    _sql(db, "UPDATE audit_chain_head SET seq = 11, hash = :h", h=digest)
    report = chain.verify(db)
    assert _first(report) == (3, "missing"), report.problems


# ---------------------------------------------------------------- records the gateway wrote


@pytest.fixture
def gateway_records(client, db, world, tmp_path):
    """Three calls of 省民政厅's 低保审核系统 through the API: an answer, a refusal (an item outside the grant) and
    an export, each a record written by the gateway's record writer; a checkpoint signed after them."""
    from tests.gateway_factories import served_population, token_headers

    with db.session() as s:
        served = served_population(s, world, tmp_path, items=["gmsfhm", "xm", "xzqhdm"], rate_limit=100)
    headers = token_headers(client, served.client_id, served.secret)
    key = served.rows[0]["GMSFHM"]
    url = f"/api/v1/data/{served.resource_code}"
    assert client.get(url, headers=headers, params={"grant": served.grant_id, "key": key}).status_code == 200
    refused = client.get(url, headers=headers, params={"grant": served.grant_id, "key": key, "items": "hjdz"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "item_not_granted"
    export = client.post(f"{url}/export", headers=headers, json={"grant": served.grant_id})
    assert export.status_code == 200
    _sign(db)
    with db.session() as s:
        records = list(s.scalars(select(UsageRecord).order_by(UsageRecord.seq)))
    assert [(r.mode, r.result) for r in records] == [("lookup", "ok"), ("lookup", "refused"), ("export", "ok")]
    assert chain.verify(db).ok
    return {r.result + ":" + r.mode: r.seq for r in records} | {"department": world.ids["city_civil"]}


def test_r12_a_refusal_turned_into_an_answer_is_named(db, gateway_records):
    seq = gateway_records["refused:lookup"]
    _update(db, seq, result="ok", reason="", row_count=1)
    assert _first(chain.verify(db)) == (seq, "altered")


def test_r12_an_export_blamed_on_another_department_is_named(db, gateway_records):
    seq = gateway_records["ok:export"]
    _update(db, seq, department_id=gateway_records["department"])
    assert _first(chain.verify(db)) == (seq, "altered")


def test_r12_a_deleted_refusal_is_named_missing(db, gateway_records):
    """Out-of-grant refusals count toward suspending the grant (R09): deleting one is deleting evidence."""
    seq = gateway_records["refused:lookup"]
    _sql(db, "DELETE FROM usage_records WHERE seq = :s", s=seq)
    assert _first(chain.verify(db)) == (seq, "missing")


# ---------------------------------------------------------------- the chain head


def test_r12_the_head_moved_back_over_records_is_named(db):
    """The head is set back to 7 as if 8..10 had never been written (they stay): they are named as inserted."""
    _append(db, 10)
    _sql(db, "UPDATE audit_chain_head SET seq = 7, hash = :h", h=_record(db, 7)["hash"])
    assert _first(chain.verify(db)) == (8, "inserted")


def test_r12_a_changed_head_hash_is_named(db):
    """The head's hash is what the next record links to: changed alone, the chain is broken from the next append
    on (and the break is then blamed on the last record, which is intact)."""
    _append(db, 5)
    _sql(db, "UPDATE audit_chain_head SET hash = :h", h="f" * 64)
    report = chain.verify(db)
    assert not report.ok, "a head hash that is not the last record's hash went unnoticed"
    assert report.first_problem.kind == "rewritten" and "记录链头" in report.first_problem.message


def test_r12_a_changed_head_behind_a_signed_last_record_is_named_at_the_head(db):
    _append(db, 5)
    _sign(db)  # the last record is signed: the records are proven, only the head can be wrong
    _sql(db, "UPDATE audit_chain_head SET hash = :h", h="e" * 64)
    problem = chain.verify(db).first_problem
    assert (problem.kind, problem.seq) == ("rewritten", 5) and "记录链头被改动" in problem.message


@pytest.mark.parametrize("rewritten", [1, 3], ids=["last_record", "last_three_records"])
def test_r12_newest_records_rewritten_behind_an_unchanged_head_are_named(db, rewritten):
    """Records after the last checkpoint are rewritten (content changed, hashes recomputed so every link holds),
    but the head is left as it was: its hash is the original last record's. The module docstring of
    audit/chain.py accepts only a change "made together with the head" as undetectable; this one is not."""
    _append(db, 5)
    _sign(db)
    _append(db, 5)
    first = 11 - rewritten
    head_before = _record(db, 10)["hash"]
    _sql(db, "UPDATE usage_records SET row_count = 0, result = 'refused' WHERE seq >= :s", s=first)
    _rehash_from(db, first)
    _sql(db, "UPDATE audit_chain_head SET hash = :h", h=head_before)  # the attacker leaves the head alone
    report = chain.verify(db)
    assert not report.ok, "a rewrite of the unsigned tail behind an unchanged head went unnoticed"
    # the head tells that the newest records changed, not where the rewrite began: it is named from the
    # first record after the last signed checkpoint that still matches, to the head
    problem = report.first_problem
    assert (problem.kind, problem.seq) == ("rewritten", 6) and "6 至 10" in problem.message and first >= 6
