"""Usage records (R12): what mutation testing of `govshare.audit.chain` found untested (docs/testing.md).

Each test names the mutants it kills (`mutmut show NAME` prints one). The report of `verify` (and its JSON,
`to_dict`) names the right record and checkpoint with the right message; every field a checkpoint signs is
also covered by the digest the next checkpoint commits to; the database's canonical text of a record is
exactly `canonical()`'s on either database; a parallel verification splits the chain into equal ranges,
hands each child the checkpoints of its range (both ends included), waits for every child, stops them when
it is interrupted and says which range failed and why. `_range_worker` runs in a child interpreter that
never sees a mutant, so it is called here in-process, with stdin and stdout replaced; how `_parallel` treats
its children (slow, interrupted, dying) is shown with stand-in children that speak the workers' protocol."""

from __future__ import annotations

import base64
import hashlib
import io
import pickle
import sys
import threading
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from govshare.audit import chain
from govshare.audit.models import Checkpoint, UsageRecord
from tests.test_audit import _append, _fields, _forge, _record, _rehash_from, _sign, _sql

WRONG = "0" * 64  # a checkpoint hash no record has


def _problems(report) -> list[tuple[int, str, str]]:
    return [(p.seq, p.kind, p.message) for p in report.problems]


# ---------------------------------------------------------------- the report and its JSON


def test_r12_the_report_as_json_lists_problems_by_seq_with_labels_and_seconds_in_milliseconds(db):
    """Kills xǁVerifyReportǁto_dict__mutmut_25/26/27/28 (`seconds` not rounded to milliseconds) and 46/48/49
    (the problems not listed by seq when the report was filled out of order), and
    x_verify__mutmut_9, 10 and 12 (the node's key id lost)."""
    _append(db, 8)
    signed = _sign(db)
    _sql(db, "UPDATE usage_records SET row_count = 9999 WHERE seq = 7")
    _sql(db, "DELETE FROM usage_records WHERE seq = 3")
    report = chain.verify(db)
    report.seconds = 1.23456
    missing = {"seq": 3, "kind": "missing", "message": "使用记录缺失：序号 3", "label": "记录缺失"}
    altered = {"seq": 7, "kind": "altered", "message": "使用记录被篡改：序号 7 的内容与其哈希不符",
               "label": "记录被篡改"}
    with db.session() as s:
        signed_at = s.get(Checkpoint, signed.id).signed_at
    assert report.to_dict() == {
        "ok": False, "records": 7, "first_seq": 1, "last_seq": 8, "head_seq": 8, "checkpoints": 1,
        "last_signed_seq": 8, "last_signed_at": signed_at, "unsigned_tail": 0,
        "key_id": chain.key_info(db.settings).key_id, "seconds": 1.235, "workers": 1, "rechecked": 7,
        "first_problem": missing, "problems": [missing, altered]}
    report.problems.reverse()
    assert report.to_dict()["problems"] == [missing, altered]


def test_r12_key_info_never_creates_the_node_key_unless_asked(settings):
    """Kills x_key_info__mutmut_1 (a key created by default) and 6 (no path reported for a missing key)."""
    path = chain.key_path(settings).resolve()
    assert chain.key_info(settings) == chain.KeyInfo(path, False, None, None)
    assert not path.exists()


# ---------------------------------------------------------------- which record is named


def test_r12_a_first_record_linked_to_something_else_than_genesis_is_named(db):
    """The attacker replaces record 1 by one that links to another start and recomputes every hash after it:
    the only wrong link is the chain's start. Kills xǁLinksǁ_blame__mutmut_1 to 10 (that problem dropped, or
    its seq, kind or message changed)."""
    _append(db, 5)
    _sql(db, "UPDATE usage_records SET prev_hash = :h WHERE seq = 1", h="f" * 64)
    _rehash_from(db, 1)
    assert _problems(chain.verify(db)) == [
        (1, "altered", "序号 1 的前序哈希与记录链的起点（创世哈希或签名的清理检查点）不符：记录被替换")]


def test_r12_a_replaced_record_is_named_with_the_record_that_still_links_to_the_old_one(db):
    """Record 4's content and its own hash are rewritten; record 5 still links to the old hash. Kills
    xǁLinksǁ_blame__mutmut_33, 41 and 42 (the message dropped or naming the wrong record)."""
    _append(db, 8)
    row = _record(db, 4)
    row["items"] = "gmsfhm,xm,hjdz"
    digest = chain.link_hash(row["prev_hash"], (row[name] for name in chain.CHAINED_FIELDS))
    _sql(db, "UPDATE usage_records SET items = 'gmsfhm,xm,hjdz', hash = :h WHERE seq = 4", h=digest)
    assert _problems(chain.verify(db)) == [
        (4, "altered", "序号 4 的记录被替换：内容与哈希被一并改写，与下一条记录（序号 5）保存的前序哈希不符")]


def test_r12_a_record_with_a_wrong_link_and_a_wrong_hash_is_named_alone(db):
    """Record 6's prev_hash is changed (so its own hash is wrong too): record 6 is named, not record 5 before
    it. Kills xǁLinksǁ_blame__mutmut_29 (the predecessor blamed when only one of the two hashes is right)."""
    _append(db, 8)
    _sql(db, "UPDATE usage_records SET prev_hash = :h WHERE seq = 6", h="e" * 64)
    assert _problems(chain.verify(db)) == [(6, "altered", "使用记录被篡改：序号 6 的内容与其哈希不符")]


def test_r12_missing_records_are_named_with_their_span(db):
    """Records 4–6, 9–10 and 12 deleted: each gap is named from its first seq, with its span, also when a
    whole batch (4–6 in batches of 3) is gone. Kills xǁLinksǁlink__mutmut_6 to 23 (the span or the problem
    wrong) and x_scan_range__mutmut_25 (the walk stopped at an empty batch)."""
    _append(db, 13)
    _sql(db, "DELETE FROM usage_records WHERE seq IN (4, 5, 6, 9, 10, 12)")
    expected = [(4, "missing", "使用记录缺失：序号 4 至 6"), (9, "missing", "使用记录缺失：序号 9 至 10"),
                (12, "missing", "使用记录缺失：序号 12")]
    for batch in (chain.BATCH, 3):
        report = chain.verify(db, batch=batch)
        assert (_problems(report), report.records) == (expected, 7)


def test_r12_a_record_inserted_at_the_end_of_a_batch_is_named_inserted_whatever_the_batch_size(db):
    """A forged record inserted at seq 6 (the rest renumbered): whether it ends a batch proven in bulk (batches
    of 1, 2, 3 or 6) or not, the next record links to the one before it and the forged one is named. Kills
    x_scan_range__mutmut_87, 88 and 90 to 95 (the hash before the end of a proven batch lost)."""
    _append(db, 10)
    _sql(db, "UPDATE usage_records SET seq = -seq WHERE seq >= 6")
    _sql(db, "UPDATE usage_records SET seq = 1 - seq WHERE seq < 0")
    _forge(db, 6, _record(db, 5)["hash"], row_count=500)
    _sql(db, "UPDATE audit_chain_head SET seq = 11")
    expected = [(6, "inserted", "序号 6 的记录是插入的：下一条记录（序号 7）链接的是它之前的记录（序号 5）")] + [
        (seq, "altered", f"使用记录被篡改：序号 {seq} 的内容与其哈希不符") for seq in range(7, 12)]  # renumbered
    for batch in (1, 2, 3, 6, chain.BATCH):
        assert _problems(chain.verify(db, batch=batch)) == expected, batch


PRUNE_NOTE = "（没有签名的清理检查点证明它们已按保存期限归档后清理）"


@pytest.mark.parametrize(("deleted", "checkpoint", "expected"), [
    (3, ("manual", 3), (1, f"使用记录缺失：序号 1 至 3{PRUNE_NOTE}")),  # a checkpoint that is not a prune's
    (1, None, (1, f"使用记录缺失：序号 1{PRUNE_NOTE}")),
    (4, ("prune", 2), (3, f"使用记录缺失：序号 3 至 4{PRUNE_NOTE}")),  # deleted beyond what was pruned
])
def test_r12_records_gone_before_the_first_kept_one_are_named_unless_pruned(db, deleted, checkpoint, expected):
    """Records deleted from the start of the chain are missing, from the first one no signed prune checkpoint
    covers. Kills x__anchor__mutmut_4 to 7 (any checkpoint taken for a prune's), 14 (another prune
    checkpoint taken as the anchor), 18 to 44 (the first missing seq, the span or the problem wrong)."""
    _append(db, 6)
    if checkpoint:
        kind, seq = checkpoint
        with db.session() as s:
            chain.sign_checkpoint(s, kind=kind, seq=seq, digest=_record(db, seq)["hash"])
    _sql(db, "DELETE FROM usage_records WHERE seq <= :n", n=deleted)
    seq, message = expected
    report = chain.verify(db)
    assert _problems(report) == [(seq, "missing", message)]
    assert (report.first_seq, report.records) == (deleted + 1, 6 - deleted)


def _tidy_tail(db) -> None:
    _append(db, 10)
    _sign(db)
    _append(db, 2)
    _sql(db, "DELETE FROM usage_records WHERE seq >= 9")
    _sql(db, "UPDATE audit_chain_head SET seq = 8, hash = :h", h=_record(db, 8)["hash"])


def _untidy_tail(db) -> None:
    _append(db, 10)
    _sql(db, "DELETE FROM usage_records WHERE seq >= 9")


def _forged_tail(db) -> None:
    _append(db, 6)
    _forge(db, 7, _record(db, 6)["hash"])


@pytest.mark.parametrize(("make", "expected"), [
    (_tidy_tail, (9, "missing", "使用记录缺失：签名检查点覆盖到序号 10，但最后一条记录是 8")),
    (_untidy_tail, (9, "missing", "使用记录缺失：记录链头是序号 10，但最后一条记录是 8")),
    (_forged_tail, (7, "inserted", "序号 7 至 7 的记录不在记录链头（序号 6）之内：记录被插入")),
], ids=["deleted_with_the_head", "deleted_without_the_head", "appended_without_the_head"])
def test_r12_the_end_of_the_chain_is_checked_against_the_checkpoints_and_the_head(db, make, expected):
    """Kills x__tail__mutmut_2, 7 to 18 (a checkpoint beyond the last record), 22 to 33 (a head beyond it)
    and 35 to 47 (records beyond the head): the problem dropped, or its seq, kind or message wrong."""
    make(db)
    assert _problems(chain.verify(db)) == [expected]


# ---------------------------------------------------------------- the checkpoints' own chain


@pytest.mark.parametrize(("column", "change"), [
    ("seq", lambda c: c.seq - 1),
    ("signed_at", lambda c: c.signed_at - timedelta(days=1)),
    ("kind", lambda c: "prune"),
    ("prev", lambda c: ""),
])
def test_r12_a_change_to_any_signed_field_of_an_older_checkpoint_is_named(db, column, change):
    """The newer checkpoint commits to the older one's digest, which must cover every field the older one
    signs: a changed field breaks the link, and the older checkpoint's own signature then fails. Kills
    x_checkpoint_digest__mutmut_2 (seq), 4 and 9 (signed_at), 10 (kind), 6 and 11 (prev) left out of the
    digest: the changed checkpoint passed as linked (a rewrite or nothing reported instead)."""
    middle = None
    for _ in range(3):
        _append(db, 2)
        checkpoint = _sign(db)
        middle = middle or (checkpoint if checkpoint.seq == 4 else None)
    with db.session() as s:
        middle = s.get(Checkpoint, middle.id)
        changed = change(middle)
        s.execute(update(Checkpoint).where(Checkpoint.id == middle.id).values({column: changed}))
    seq = changed if column == "seq" else 4
    assert _problems(chain.verify(db)) == [(seq, "bad_checkpoint", f"检查点无效（检查点 {middle.id}，序号 {seq}）："
                                                                   "签名无效、内容被改动或不是本节点的密钥所签")]


def _rewrite(db, first: int, last: int, **changes) -> None:
    """The attacker changes record `first` and recomputes the hashes of `first`..`last` only: the record after
    `last` (if any) still links to the old hash."""
    row = _record(db, first)
    prev = row["prev_hash"]
    for seq in range(first, last + 1):
        row = {**_record(db, seq), **(changes if seq == first else {})}
        digest = chain.link_hash(prev, (row[name] for name in chain.CHAINED_FIELDS))
        sets = ", ".join(f"{name} = :{name}" for name in changes) + ", " if seq == first and changes else ""
        _sql(db, f"UPDATE usage_records SET {sets}prev_hash = :p, hash = :h WHERE seq = :s",
             **(changes if seq == first else {}), p=prev, h=digest, s=seq)
        prev = digest


def _rewritten_twice(db) -> None:  # checkpoints at 4, 8, 10, 12; rewrites of 6..8 and of 11..12
    for count in (4, 4, 2, 2):
        _append(db, count)
        _sign(db)
    _rewrite(db, 6, 8, result="refused")
    _rewrite(db, 11, 12, result="refused")


def _signed_from_the_first(db) -> None:  # a checkpoint at 1; everything rewritten from record 1
    _append(db, 1)
    _sign(db)
    _append(db, 3)
    _rewrite(db, 1, 4, department_id=77)


def _signed_at_1_and_5(db) -> None:  # checkpoints at 1 and 5; rewritten from record 3
    _append(db, 1)
    _sign(db)
    _append(db, 4)
    _sign(db)
    _rewrite(db, 3, 5, row_count=0)


def _rewritten_then_altered(db) -> None:  # checkpoints at 4 and 8; 5..8 rewritten, then 5 changed again
    for _ in range(2):
        _append(db, 4)
        _sign(db)
    _rewrite(db, 5, 8, row_count=0)
    _sql(db, "UPDATE usage_records SET row_count = 7 WHERE seq = 5")


def _signed_record_replaced(db) -> None:  # checkpoints at 4 and 8; record 8's hash replaced
    for _ in range(2):
        _append(db, 4)
        _sign(db)
    _sql(db, "UPDATE usage_records SET hash = :h WHERE seq = 8", h="a" * 64)


def _rewrite_message(first: int, last: int, signed: int) -> str:
    span = f"{first} 至 {last}" if last > first else str(first)
    return f"使用记录链被重写：序号 {span} 的记录与序号 {signed} 的签名检查点不符（哈希被重新计算）"


@pytest.mark.parametrize(("make", "expected"), [
    (_signed_at_1_and_5, [(2, "rewritten", _rewrite_message(2, 5, 5))]),
    (_signed_from_the_first, [(1, "rewritten", _rewrite_message(1, 1, 1))]),
    (_rewritten_twice, [(8, "altered", "序号 8 的记录被替换：内容与哈希被一并改写，与下一条记录（序号 9）"
                                       "保存的前序哈希不符"), (11, "rewritten", _rewrite_message(11, 12, 12))]),
    (_rewritten_then_altered, [(5, "altered", "使用记录被篡改：序号 5 的内容与其哈希不符")]),
    (_signed_record_replaced, [(8, "altered", "使用记录被篡改：序号 8 的内容与其哈希不符")]),
], ids=["after_a_checkpoint_at_1", "the_signed_first_record", "twice", "then_altered", "signed_record_replaced"])
def test_r12_a_rewrite_is_named_from_the_last_matching_checkpoint_unless_a_record_there_is_named(db, make,
                                                                                                 expected):
    """A consistent rewrite is named from the record after the last checkpoint that still matches (a
    checkpoint at the chain's first record counts) to the checkpoint that no longer does; a span where a
    record is already named is not named again, and each separate rewrite is named. Kills
    x__rewritten__mutmut_7, 9 to 14 and 16 to 18 (the span's start), 20 and 21 (a record named at either end of the span
    not seen), 22 (the spans after the first skipped one left out), 23 to 37 (the problem's span, seq, kind
    or message) and x_verify__mutmut_86 (a checkpoint at the first record not checked)."""
    make(db)
    assert _problems(chain.verify(db)) == expected


def _checkpoints_at_2_4_6(db) -> list[Checkpoint]:
    signed = []
    for _ in range(3):
        _append(db, 2)
        signed.append(_sign(db))
    return signed


def test_r12_a_deleted_checkpoint_is_named_by_the_one_that_committed_to_it(db):
    """Kills x_authentic_checkpoints__mutmut_1 (an incomplete list assumed), 23 to 38 and 41 (a deleted
    checkpoint in the middle not named, or named wrong) and 59 to 61 (the first checkpoint, which commits to
    none, taken for one whose predecessors were deleted)."""
    _first, _middle, newest = _checkpoints_at_2_4_6(db)
    _sql(db, "DELETE FROM audit_checkpoints WHERE seq = 4")
    assert _problems(chain.verify(db)) == [
        (6, "bad_checkpoint", f"检查点缺失：检查点 {newest.id}（序号 6）之前的检查点被删除")]


def test_r12_a_deleted_first_checkpoint_is_named_by_the_earliest_left(db):
    """Kills x_authentic_checkpoints__mutmut_62 to 73 (the deleted earliest checkpoints not named, or named
    wrong)."""
    _checkpoints_at_2_4_6(db)
    _sql(db, "DELETE FROM audit_checkpoints WHERE seq = 2")
    report = chain.verify(db)
    assert _problems(report) == [(4, "bad_checkpoint", "检查点缺失：最早的检查点（序号 4）之前还有检查点，但已被删除")]
    assert (report.checkpoints, report.last_signed_seq) == (2, 6)


def test_r12_without_the_node_key_every_checkpoint_is_named_in_seq_order(db, settings):
    """The node's key file is gone: no checkpoint can be proven, each is named (newest first found, listed by
    seq) and the report has no key id. Kills x_authentic_checkpoints__mutmut_43 and 45 (the reason wrong),
    x_verify__mutmut_11 (a key id without a key) and 176 (the problems not sorted by seq)."""
    signed = _checkpoints_at_2_4_6(db)
    chain.key_path(settings).unlink()
    chain._load_or_create.cache_clear()
    report = chain.verify(db)
    assert _problems(report) == [
        (c.seq, "bad_checkpoint", f"检查点无效（检查点 {c.id}，序号 {c.seq}）：节点没有签名密钥") for c in signed]
    assert (report.key_id, report.last_signed_seq, report.last_signed_at, report.unsigned_tail) == (None, None,
                                                                                                   None, 6)


def _all_deleted(db) -> None:
    _append(db, 5)
    _sql(db, "DELETE FROM usage_records")


def _all_deleted_after_a_prune(db) -> None:
    _append(db, 5)
    with db.session() as s:
        chain.sign_checkpoint(s, kind="prune", seq=2, digest=_record(db, 2)["hash"])
    _sql(db, "DELETE FROM usage_records")


def _all_deleted_with_the_head(db) -> None:
    _append(db, 5)
    _sign(db)
    _sql(db, "DELETE FROM usage_records")
    _sql(db, "UPDATE audit_chain_head SET seq = 0, hash = :h", h="0" * 64)


def _all_pruned(db) -> None:
    _append(db, 5)
    with db.session() as s:
        chain.sign_checkpoint(s, kind="prune", seq=5, digest=_record(db, 5)["hash"])
    _sql(db, "DELETE FROM usage_records")


@pytest.mark.parametrize(("make", "expected"), [
    (_all_deleted, [(1, "missing", "使用记录缺失：序号 1 至 5 的记录全部不见了")]),
    (_all_deleted_after_a_prune, [(3, "missing", "使用记录缺失：序号 3 至 5 的记录全部不见了")]),
    (_all_deleted_with_the_head, [(1, "missing", "使用记录缺失：序号 1 至 5 的记录全部不见了")]),
    (_all_pruned, []),
], ids=["all_deleted", "all_deleted_after_a_prune", "all_deleted_with_the_head", "all_pruned"])
def test_r12_a_chain_without_records_is_missing_what_the_head_or_a_checkpoint_covers_beyond_a_prune(
        db, make, expected):
    """Kills x_verify__mutmut_36 to 47, 49 to 55 and 57 to 70 (what is missing of an empty chain: the
    prune's seq, the head or the last checkpoint beyond it, the span, the problem) and 72 (its time wrong)."""
    make(db)
    report = chain.verify(db)
    assert _problems(report) == expected
    assert (report.records, report.first_seq, report.last_seq) == (0, None, None)
    assert 0 <= report.seconds < 60


def test_r12_verify_announces_its_total_and_reports_progress_per_batch(db):
    """The CLI's progress bar: the number of records first, then each batch as it is proven. Kills
    x_verify__mutmut_178 (the time wrong), 74 to 77 (the total wrong), 136, 137 and 142 (the batches
    or the progress of one process lost)."""
    _append(db, 10)
    totals, seen = [], []
    report = chain.verify(db, seen.append, batch=3, on_total=totals.append)
    assert (totals, seen, report.records, report.ok) == ([10], [3, 3, 3, 1], 10, True)
    assert 0 <= report.seconds < 60


def test_r12_workers_are_capped_at_half_the_records_and_at_least_one(db):
    """Kills x_verify__mutmut_126 and 127 (the cap) and 128 (two workers for one record)."""
    _append(db, 1)
    assert chain.verify(db, workers=3).workers == 1
    _append(db, 4)
    capped = chain.verify(db, workers=5)
    assert (capped.ok, capped.workers, capped.records) == (True, 2, 5)


# ---------------------------------------------------------------- the database's canonical text


def test_r12_the_databases_canonical_text_of_a_record_is_link_hashs(db):
    """The bulk proof hashes the text the database builds (SQLite `printf`, PostgreSQL `concat`): it must be
    exactly `canonical()` for every kind of value (whole seconds, NULL parties, non-ASCII, big numbers).
    The expression is built again here: BATCH_SQL is built once, when the module is imported. Kills
    x__sqlite_payload__mutmut_1 to 9 on SQLite; x__postgres_payload__mutmut_1, 2, 4, 5, 7 to 10 and 13 to 17
    on PostgreSQL."""
    _append(db, 2)
    with db.session() as s:
        chain.append(s, **_fields(10, at=datetime(2026, 1, 1, 8, 0, 0), department_id=None, provider_id=None,
                                  grant_id=None, items="姓名,公民身份号码", reason="中文原因"))
        chain.append(s, **_fields(11, at=datetime(2026, 1, 1, 8, 0, 0, 1), row_count=2_000_000_000))
        chain.append(s, **_fields(12, at=datetime(2026, 1, 1, 8, 0, 0, 100000), user_id=7))
    sqlite = db.engine.dialect.name == "sqlite"
    payload = f"CAST({chain._sqlite_payload()} AS BLOB)" if sqlite else chain._postgres_payload()
    with db.engine.connect() as conn:
        texts = [row[0] for row in conn.exec_driver_sql(f"SELECT {payload} FROM usage_records ORDER BY seq")]
        records = conn.execute(select(UsageRecord.__table__).order_by(UsageRecord.seq)).mappings().all()
    assert len(texts) == len(records) == 5
    for got, record in zip(texts, records, strict=True):
        text_ = got.decode() if sqlite else got
        assert text_ == chain.canonical(record["prev_hash"], (record[name] for name in chain.CHAINED_FIELDS))
        assert hashlib.sha256(text_.encode()).hexdigest() == record["hash"]


def test_r12_the_plain_scan_reads_the_chained_rows_of_a_range_in_batches(db):
    """The benchmark's baseline (`bench/audit_bench.py`): the rows of low..high, in seq order, `batch` at a
    time, each with the fields its hash covers. Kills x__scan__mutmut_1 to 9."""
    _append(db, 7)
    with db.session() as s:
        batches = [[tuple(row) for row in rows] for rows in chain._scan(s, 2, 6, batch=2)]
    assert [[row[0] for row in rows] for rows in batches] == [[2, 3], [4, 5], [6]]
    for row in (row for rows in batches for row in rows):
        assert row[-1] == _record(db, row[0])["hash"] == chain.link_hash(row[-2], row[:-2])


# ---------------------------------------------------------------- a range's child process


def test_r12_a_range_worker_reports_progress_per_batch_and_then_its_walk(db, monkeypatch):
    """`_range_worker` as a child runs it (stdin: the pickled range; stdout: "P n" per batch, then "R" and
    the pickled walk), called in-process. Record 4 is altered; the checkpoint at 6 no longer matches its
    record. Kills x__range_worker__mutmut_1 to 11, 13 to 18 and 21 to 28."""
    _append(db, 7)
    hashes = {seq: _record(db, seq)["hash"] for seq in range(1, 8)}
    _sql(db, "UPDATE usage_records SET row_count = 9999 WHERE seq = 4")
    job = (db.url, 2, 6, {5: hashes[5], 6: WRONG}, 2)
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(pickle.dumps(job))))
    monkeypatch.setattr(sys, "stdout", out := io.StringIO())
    chain._range_worker()
    lines = out.getvalue().split("\n")
    assert lines[:3] == ["P 2", "P 2", "P 1"] and lines[3].startswith("R ") and lines[4:] == [""]
    walk = pickle.loads(base64.b64decode(lines[3].removeprefix("R ")))
    assert (walk.first, walk.count, walk.expected, walk.running) == ((2, hashes[1], True), 5, 7, hashes[6])
    assert _problems(walk) == [(4, "altered", "使用记录被篡改：序号 4 的内容与其哈希不符")]
    assert walk.mismatched == [6]
    assert walk.rechecked == 3  # the batch 4–5 and the batch 6 (its checkpoint) read again one by one


# ---------------------------------------------------------------- verification in child processes


def test_r12_parallel_ranges_are_equal_and_get_the_checkpoints_at_both_their_ends(db):
    """Records 3..6 over two processes: 3–4 and 5–6, each range checked against the checkpoints inside it,
    its first and last seq included (here none matches its record any more). Kills x__parallel__mutmut_5, 6
    and 7 (the ranges' size), 22 (the last range left out), 23 (an empty extra range) and 46/47 (a checkpoint
    at a range's first or last seq not checked)."""
    _append(db, 7)
    seen = []
    walks = chain._parallel(db.url, 3, 6, {seq: WRONG for seq in range(3, 7)}, 2, 1, seen.append)
    assert [(w.first[0], w.count, w.expected) for w in walks] == [(3, 2, 5), (5, 2, 7)]
    assert [w.mismatched for w in walks] == [[3, 4], [5, 6]]
    assert seen == [1, 1, 1, 1]


def test_r12_a_rewrite_found_by_checkpoints_at_range_boundaries_is_reported_as_by_one_process(db):
    """8 records over 2 processes (1–4, 5–8) with checkpoints at 4, 5 and 8, at the ranges' ends; record 2 is
    rewritten with every later hash recomputed: the rewrite is named from record 1 to the checkpoint at 4,
    as one process names it. Kills x__parallel__mutmut_46 and 47 through `verify`."""
    _append(db, 4)
    _sign(db)
    _append(db, 1)
    _sign(db)
    _append(db, 3)
    _sign(db)
    _sql(db, "UPDATE usage_records SET result = 'refused' WHERE seq = 2")
    _rehash_from(db, 2)
    expected = [(1, "rewritten", "使用记录链被重写：序号 1 至 4 的记录与序号 4 的签名检查点不符（哈希被重新计算）")]
    assert _problems(chain.verify(db, workers=1)) == expected
    split = chain.verify(db, workers=2, batch=3)
    assert (split.workers, split.records, _problems(split)) == (2, 8, expected)


STAND_IN = """\
import base64, os, pickle, sys, time
url, low, high, signed, batch = pickle.loads(sys.stdin.buffer.read())
def answer(value):
    print("R " + base64.b64encode(pickle.dumps(value)).decode(), flush=True)
"""


def _stand_in(monkeypatch, body: str) -> None:
    """Child processes that speak the workers' protocol (or fail) without reading the database."""
    monkeypatch.setattr(chain, "WORKER_CODE", STAND_IN + body)


def _within(seconds: float, call, *args):
    """call(*args) in a thread: its result, or a failure when it has not returned after `seconds`."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = call(*args)
        except BaseException as exc:  # handed over to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"no answer after {seconds} s: the verification hangs"
    if "error" in box:
        raise box["error"]
    return box["result"]


def test_r12_parallel_verification_waits_for_its_slowest_range_and_then_returns(db, monkeypatch):
    """The second range answers a second later than the first; the verification waits for it, and returns as
    soon as both have ended. Kills x__parallel__mutmut_56 and 62 (the wait ends before every child has ended:
    the slow one is killed, its range lost) and 33, 37, 48, 49, 51, 52, 57, 60 and 61 (the children's output
    never read or their end never counted: the verification hangs)."""
    _stand_in(monkeypatch, "time.sleep(1.0 if low > 1 else 0)\nprint('P', high - low + 1, flush=True)\n"
                           "answer((low, high))\n")
    seen = []
    assert _within(10, chain._parallel, db.url, 1, 4, {}, 2, 10, seen.append) == [(1, 2), (3, 4)]
    assert seen == [2, 2]


def test_r12_an_interrupted_parallel_verification_stops_its_children(db, monkeypatch, tmp_path):
    """The progress display is interrupted at the first batch: the child still working is killed, not waited
    for until it finishes. Kills x__parallel__mutmut_77 (only the children that already ended killed)."""
    finished = tmp_path / "finished"
    _stand_in(monkeypatch, "print('P 1', flush=True)\nif low > 1:\n    time.sleep(1.5)\n"
                           f"    open({str(finished)!r}, 'w').close()\nanswer((low, high))\n")

    class Interrupted(Exception):
        pass

    def progress(count: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        chain._parallel(db.url, 1, 4, {}, 2, 10, progress)
    assert not finished.exists()  # every child has ended when _parallel returns: the slow one was killed


def test_r12_a_failing_range_is_named_with_the_last_line_of_its_error(tmp_path):
    """A database without the usage records (a wrong URL): the range's child fails, and the error names its
    range and the last line of the child's traceback. Kills x__parallel__mutmut_28, 34 and 38 (the
    child's stderr not kept), 80 (not read from the start), 82, 83 and 86 to 89 (the message lost or wrong),
    91 and 92 (another line of the traceback)."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(RuntimeError) as raised:
        chain._parallel(url, 1, 2, {}, 1, 10, None)
    assert str(raised.value) == "校验子进程出错（序号 1 至 2）：sqlite3.OperationalError: no such table: usage_records"


def test_r12_a_range_whose_child_was_killed_is_named_with_its_exit_status(monkeypatch, tmp_path):
    """A child killed by a signal (the kernel's out-of-memory killer) writes nothing. Kills
    x__parallel__mutmut_90 (the last line of an empty error read)."""
    _stand_in(monkeypatch, "os.kill(os.getpid(), 9)\n")
    with pytest.raises(RuntimeError) as raised:
        chain._parallel(f"sqlite:///{tmp_path / 'x.db'}", 1, 4, {}, 2, 10, None)
    assert str(raised.value) == "校验子进程出错（序号 1 至 2）：-9"


def test_r12_a_range_whose_child_wrote_one_line_in_another_encoding_is_named(monkeypatch, tmp_path):
    """A child that dies after one line of a C library's message in the locale's encoding (GBK): the line is
    reported whole, its undecodable bytes replaced. Kills x__parallel__mutmut_81 (the first byte skipped) and
    84/85 (no such error handler: a LookupError instead of the report)."""
    _stand_in(monkeypatch, "sys.stderr.buffer.write(b'FATAL: ' + '连接失败'.encode('gbk') + b'\\n')\n"
                           "sys.stderr.flush()\nos._exit(1)\n")
    with pytest.raises(RuntimeError) as raised:
        chain._parallel(f"sqlite:///{tmp_path / 'x.db'}", 1, 4, {}, 2, 10, None)
    expected = "校验子进程出错（序号 1 至 2）：FATAL: " + "连接失败".encode("gbk").decode(errors="replace")
    assert str(raised.value) == expected
