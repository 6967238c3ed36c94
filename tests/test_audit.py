"""Usage records (R12): the hash chain and its signed checkpoints, tampering made directly in the database and
named by `verify`, concurrent appends, the node key; who sees which records, totals, anomalies; archiving and
pruning after the retention period."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text, update

from govshare.audit import chain, jobs
from govshare.audit import service as audit
from govshare.audit.models import ChainHead, Checkpoint, UsageRecord
from govshare.db import utcnow
from govshare.errors import Forbidden, ValidationFailed
from govshare.gateway.models import GrantUsageDay
from tests.factories import SYSTEM

ZONE = ZoneInfo("Asia/Shanghai")


# ---------------------------------------------------------------- helpers


def _fields(n: int, **overrides) -> dict:
    data = dict(department_id=11, provider_id=22, consumer_system_id=33, user_id=None, grant_id=44, entry_id=55,
                resource_code="34000011/00001", mode="lookup", items="gmsfhm,xm", row_count=1, result="ok",
                reason="", request_hash=f"{n:064x}")
    data.update(overrides)
    return data


def _append(db, count: int, **overrides) -> list[int]:
    with db.session() as s:
        return [chain.append(s, **_fields(n, **overrides)).seq for n in range(count)]


def _sign(db, kind: str = "manual") -> Checkpoint:
    with db.session() as s:
        return chain.sign_checkpoint(s, kind=kind)


def _sql(db, statement: str, **params) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def _record(db, seq: int) -> dict:
    with db.engine.connect() as conn:
        return dict(conn.execute(select(UsageRecord.__table__).where(UsageRecord.seq == seq)).mappings().one())


def _forge(db, seq: int, prev_hash: str, **overrides) -> str:
    """An attacker's record: well-formed, linked to `prev_hash` and hashed with link_hash (no node key needed)."""
    values = {"seq": seq, "at": datetime(2026, 11, 20, 3, 0, 0, 123456), **_fields(999, **overrides)}
    digest = chain.link_hash(prev_hash, (values[name] for name in chain.CHAINED_FIELDS))
    with db.engine.begin() as conn:
        conn.execute(insert(UsageRecord.__table__).values(**values, prev_hash=prev_hash, hash=digest))
    return digest


def _rehash_from(db, seq: int) -> None:
    """The attacker recomputes every hash from `seq` on (and the head), so all links hold again."""
    with db.engine.begin() as conn:
        rows = conn.execute(select(UsageRecord.__table__).where(UsageRecord.seq >= seq - 1)
                            .order_by(UsageRecord.seq)).mappings().all()
        prev = rows[0]["hash"] if rows[0]["seq"] == seq - 1 else rows[0]["prev_hash"]
        for row in rows:
            if row["seq"] < seq:
                continue
            digest = chain.link_hash(prev, (row[name] for name in chain.CHAINED_FIELDS))
            conn.execute(update(UsageRecord.__table__).where(UsageRecord.seq == row["seq"])
                         .values(prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(ChainHead.__table__).where(ChainHead.id == 1).values(hash=prev))


def _first(report) -> tuple[int, str]:
    problem = report.first_problem
    assert problem is not None, "the tampering was not detected"
    return problem.seq, problem.kind


# ---------------------------------------------------------------- the chain (R12)


def test_r12_intact_chain_with_checkpoints_verifies(db):
    _append(db, 10)
    with db.session() as s:  # whole seconds, no parties, non-ASCII text: the canonical text's edge cases
        chain.append(s, **_fields(10, at=datetime(2026, 1, 1, 8, 0, 0), department_id=None, provider_id=None,
                                  grant_id=None, items="姓名,公民身份号码", reason="中文原因"))
        chain.append(s, **_fields(11, at=datetime(2026, 1, 1, 8, 0, 0, 1), row_count=2_000_000_000))
    _sign(db)
    _append(db, 3)
    report = chain.verify(db)
    assert report.ok, report.problems
    assert (report.records, report.first_seq, report.last_seq, report.head_seq) == (15, 1, 15, 15)
    assert (report.checkpoints, report.last_signed_seq, report.unsigned_tail) == (1, 12, 3)
    # the database's canonical text of each record (SQLite printf, PostgreSQL concat) is exactly link_hash's:
    # every batch proved in bulk, none was read again record by record
    assert report.rechecked == 0
    assert chain.verify(db, batch=4).rechecked == 0
    assert report.key_id == chain.key_info(db.settings).key_id


def test_r12_empty_chain_verifies_and_nothing_is_signed(db):
    assert _sign(db, "interval") is None
    report = chain.verify(db)
    assert report.ok and report.records == 0


def test_r12_altered_record_is_named_by_verify(db):
    _append(db, 10)
    _sign(db)
    _sql(db, "UPDATE usage_records SET row_count = 9999 WHERE seq = 6")
    report = chain.verify(db)
    assert _first(report) == (6, "altered")
    assert "序号 6" in report.first_problem.message


def test_r12_hash_replaced_by_garbage_is_named(db):
    _append(db, 5)
    _sql(db, "UPDATE usage_records SET hash = 'not a hash' WHERE seq = 3")
    assert _first(chain.verify(db)) == (3, "altered")


def test_r12_altered_record_with_its_own_hash_recomputed_is_named(db):
    _append(db, 10)
    row = _record(db, 4)
    row["items"] = "gmsfhm,xm,hjdz"
    digest = chain.link_hash(row["prev_hash"], (row[name] for name in chain.CHAINED_FIELDS))
    _sql(db, "UPDATE usage_records SET items = 'gmsfhm,xm,hjdz', hash = :h WHERE seq = 4", h=digest)
    assert _first(chain.verify(db)) == (4, "altered")


def test_r12_deleted_record_is_named_missing(db):
    _append(db, 10)
    _sql(db, "DELETE FROM usage_records WHERE seq = 7")
    report = chain.verify(db)
    assert _first(report) == (7, "missing")
    assert [p.kind for p in report.problems] == ["missing"]


def test_r12_forged_record_inserted_in_the_middle_is_named(db):
    """The attacker makes room at seq 5 (renumbering the rest) and inserts a record whose hash is right for
    its content and its predecessor: verify names the forged record as inserted."""
    _append(db, 10)
    _sql(db, "UPDATE usage_records SET seq = -seq WHERE seq >= 5")
    _sql(db, "UPDATE usage_records SET seq = 1 - seq WHERE seq < 0")
    _forge(db, 5, _record(db, 4)["hash"], row_count=500)
    _sql(db, "UPDATE audit_chain_head SET seq = 11")
    assert _first(chain.verify(db)) == (5, "inserted")


def test_r12_forged_record_appended_without_the_head_is_named(db):
    _append(db, 6)
    _forge(db, 7, _record(db, 6)["hash"])
    assert _first(chain.verify(db)) == (7, "inserted")


def test_r12_deleted_tail_after_a_checkpoint_is_named_missing(db):
    _append(db, 10)
    _sign(db)
    _append(db, 2)
    _sql(db, "DELETE FROM usage_records WHERE seq >= 9")
    _sql(db, "UPDATE audit_chain_head SET seq = 8, hash = :h", h=_record(db, 8)["hash"])  # a tidy attacker
    report = chain.verify(db)
    assert _first(report) == (9, "missing")


def test_r12_replaced_checkpoint_signature_is_named(db):
    _append(db, 5)
    first = _sign(db)
    _append(db, 5)
    second = _sign(db)
    _sql(db, "UPDATE audit_checkpoints SET signature = :s WHERE id = :i", s=second.signature, i=first.id)
    assert _first(chain.verify(db)) == (5, "bad_checkpoint")
    _sql(db, "UPDATE audit_checkpoints SET signature = :s WHERE id = :i", s=first.signature, i=first.id)
    assert chain.verify(db).ok
    _sql(db, "UPDATE audit_checkpoints SET signature = :s WHERE id = :i", s=first.signature, i=second.id)
    assert _first(chain.verify(db)) == (10, "bad_checkpoint")


def test_r12_deleted_checkpoint_in_the_middle_is_named(db):
    for _ in range(3):
        _append(db, 2)
        _sign(db)
    _sql(db, "DELETE FROM audit_checkpoints WHERE seq = 4")
    report = chain.verify(db)
    assert _first(report) == (6, "bad_checkpoint") and "被删除" in report.first_problem.message


def test_r12_consistent_rewrite_after_a_checkpoint_is_named_by_the_checkpoint(db):
    """Every link holds after the rewrite (hashes recomputed without the node key): only the signed
    checkpoint shows it, and verify names the first record after the last checkpoint that still matches."""
    _append(db, 5)
    _sign(db)
    _append(db, 5)
    _sign(db)
    _sql(db, "UPDATE usage_records SET row_count = 0, result = 'refused' WHERE seq = 6")
    _rehash_from(db, 6)
    report = chain.verify(db)
    assert _first(report) == (6, "rewritten")
    assert [p.kind for p in report.problems] == ["rewritten"]


def test_r12_rewrite_of_the_whole_chain_without_the_key_is_named(db):
    _append(db, 8)
    _sign(db)
    _sql(db, "UPDATE usage_records SET department_id = 77 WHERE seq = 1")
    _rehash_from(db, 1)
    assert _first(chain.verify(db)) == (1, "rewritten")


def test_r12_parallel_verify_gives_the_same_report(db):
    """The seq range split over processes (and small batches) finds what one process finds, also at the
    ranges' boundaries (3 workers over 39 records: 1–13, 14–26, 27–39)."""
    _append(db, 30)
    _sign(db)
    _append(db, 9)
    seen = []
    intact = chain.verify(db, progress=seen.append, workers=3, batch=5)
    assert intact.ok and intact.records == 39 and sum(seen) == 39 and intact.workers == 3
    _sql(db, "DELETE FROM usage_records WHERE seq = 14")  # the first record of the second range
    _sql(db, "UPDATE usage_records SET row_count = 3 WHERE seq = 27")  # the first of the third
    _sql(db, "UPDATE usage_records SET seq = -seq WHERE seq >= 33")
    _sql(db, "UPDATE usage_records SET seq = 1 - seq WHERE seq < 0")
    _forge(db, 33, _record(db, 32)["hash"])
    single = chain.verify(db, workers=1)
    assert [(p.seq, p.kind) for p in single.problems][:4] == [(14, "missing"), (27, "altered"), (33, "inserted"),
                                                              (34, "altered")]  # renumbered: its seq changed
    split = chain.verify(db, workers=3, batch=5)
    assert [(p.seq, p.kind, p.message) for p in split.problems] == [(p.seq, p.kind, p.message) for p in single.problems]
    assert split.records == single.records == 39


def test_r12_concurrent_appends_give_a_gapless_verifying_chain(db):
    """4 threads × 25 appends, each in its own unit of work: the head's lock makes one gapless chain."""
    threads, errors = 4, []

    def worker(number: int) -> None:
        try:
            for n in range(25):
                with db.session() as s:
                    chain.append(s, **_fields(number * 100 + n, grant_id=number))
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    started = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert not errors
    with db.session() as s:
        seqs = list(s.scalars(select(UsageRecord.seq).order_by(UsageRecord.seq)))
        assert seqs == list(range(1, threads * 25 + 1))
        assert s.get(ChainHead, 1).seq == threads * 25
    _sign(db)
    report = chain.verify(db)
    assert report.ok and report.records == threads * 25, report.problems


def test_r12_node_key_is_created_owner_only_and_verify_never_creates_one(db, settings):
    _append(db, 2)
    assert chain.verify(db).key_id is None and not chain.key_path(settings).exists()
    info = chain.key_info(settings, create=True)
    assert info.exists and info.private_to_owner and info.mode == 0o600
    assert os.stat(info.path.parent).st_mode & 0o077 == 0
    assert info.key_id == chain.key_id(chain.signing_key(settings).public_key())


def test_r12_checkpoint_signed_by_another_key_is_refused(db, settings, tmp_path):
    _append(db, 3)
    _sign(db)
    chain.key_path(settings).unlink()  # the node's key replaced by another one
    chain._load_or_create.cache_clear()
    chain.key_info(settings, create=True)
    assert _first(chain.verify(db)) == (3, "bad_checkpoint")


def test_r12_checkpoint_job_signs_only_when_the_head_advanced(db):
    assert jobs.run(db, utcnow()) == {"checkpoints": 0}
    _append(db, 3)
    assert jobs.run(db, utcnow()) == {"checkpoints": 1}
    assert jobs.run(db, utcnow()) == {"checkpoints": 0}
    _append(db, 1)
    assert jobs.run(db, utcnow()) == {"checkpoints": 1}
    with db.session() as s:
        assert [c.seq for c in s.scalars(select(Checkpoint).order_by(Checkpoint.id))] == [3, 4]
    assert chain.verify(db).ok


# ---------------------------------------------------------------- who sees which records (R12)


def _grants(db, world, tmp_path, extra: int = 0) -> tuple:
    """The served population entry with 省民政厅's grant, plus `extra` grants of 合肥市民政局 (other systems)."""
    from govshare.catalog.models import CatalogEntry
    from govshare.sharing import service as sharing
    from govshare.sharing.schemas import ReplyIn
    from tests.authz_cases_issue3 import more_users
    from tests.factories import consumer_system, request_in
    from tests.gateway_factories import served_population

    with db.session() as s:
        served = served_population(s, world, tmp_path)
        more_users(s, world)
        entry = s.get(CatalogEntry, served.entry_id)
        grants = [served.grant_id]
        for n in range(extra):
            system, _secret = consumer_system(s, world, "city_civil_requester", f"救助核查系统{n}")
            request = sharing.create_request(s, world.actors["city_civil_requester"], request_in(
                entry, consumer_system_id=system.id), submit=True)
            sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
            grants.append(sharing.grant_of(s, request.id).id)
    return served, grants


def _gateway_calls(client, served, count: int) -> None:
    from tests.gateway_factories import token_headers

    headers = token_headers(client, served.client_id, served.secret)
    for n in range(count):
        response = client.get(f"/api/v1/data/{served.resource_code}", headers=headers,
                              params={"grant": served.grant_id, "key": served.rows[n]["GMSFHM"]})
        assert response.status_code == 200, response.text


def test_r12_requester_provider_and_authority_see_their_records_others_none(client, db, world, tmp_path):
    served, _ = _grants(db, world, tmp_path)
    _gateway_calls(client, served, 3)
    with db.session() as s:  # a call of 合肥市民政局 (a city department) to the same provider
        chain.append(s, **_fields(1, department_id=world.ids["city_civil"], provider_id=world.ids["police"],
                                  grant_id=None, consumer_system_id=None))
    from tests.authz_cases_issue3 import more_users

    with db.session() as s:
        more_users(s, world)
        seen = {who: {r["seq"] for r in audit.list_records(s, world.actors[who])} for who in (
            "civil_requester", "civil_manager", "police_reviewer", "police_requester", "city_civil_manager",
            "reviewer", "city_reviewer", "other_reviewer", "auditor", "admin")}
    gateway, city = {1, 2, 3}, {4}
    assert seen["civil_requester"] == seen["civil_manager"] == gateway  # the requester department's own calls
    assert seen["police_reviewer"] == seen["police_requester"] == gateway | city  # the provider's data
    assert seen["city_civil_manager"] == city
    assert seen["reviewer"] == gateway | city  # the province's authority: its whole area
    assert seen["city_reviewer"] == city  # the city's authority: its own area only
    assert seen["other_reviewer"] == set()  # another province's authority
    assert seen["auditor"] == seen["admin"] == gateway | city
    with db.session() as s:
        view = audit.list_records(s, world.actors["civil_requester"], audit.Filters(result="ok"))[0]
    assert (view["department_name"], view["provider_name"], view["system_name"]) == ("省民政厅", "省公安厅",
                                                                                     "低保审核系统")
    assert (view["mode_label"], view["result_label"], view["row_count"], view["grant_id"]) == (
        "按键查询", "成功", 1, served.grant_id)
    assert view["at"] - view["at_utc"] == timedelta(hours=8)  # shown in Asia/Shanghai time


def test_r12_record_filters_and_their_errors(db, world):
    with db.session() as s:
        chain.append(s, **_fields(1, grant_id=1, mode="lookup", result="ok"))
        chain.append(s, **_fields(2, grant_id=2, mode="export", result="refused", reason="rate_limited",
                                  consumer_system_id=9))
        chain.append(s, **_fields(3, grant_id=2, mode="verify", result="ok", resource_code="34000011/00002"))
    auditor = world.actors["auditor"]
    with db.session() as s:
        def seqs(**filters):
            return [r["seq"] for r in audit.list_records(s, auditor, audit.Filters(**filters))]

        assert seqs() == [3, 2, 1]
        assert seqs(grant_id=2) == [3, 2]
        assert seqs(result="refused") == [2] and seqs(mode="verify") == [3] and seqs(system_id=9) == [2]
        assert seqs(resource_code="34000011/00002") == [3]
        today = audit.local_today(s)
        assert seqs(since=today, until=today) == [3, 2, 1] and seqs(until=today - timedelta(days=1)) == []
        assert audit.list_records(s, auditor, limit=1, offset=1)[0]["seq"] == 2
        assert audit.list_records(s, auditor, audit.Filters(result="refused"))[0]["reason_label"] == "超过调用频率"
        for bad, field in ((dict(result="good"), "result"), (dict(mode="scan"), "mode"),
                           (dict(since=today, until=today - timedelta(days=1)), "since")):
            with pytest.raises(ValidationFailed) as error:
                audit.list_records(s, auditor, audit.Filters(**bad))
            assert error.value.field == field
        with pytest.raises(ValidationFailed) as error:
            audit.list_records(s, auditor, limit=0)
        assert error.value.field == "limit"


# ---------------------------------------------------------------- totals (R12)


def _utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_)


TOTALS_RECORDS = [  # UTC moments; local (UTC+8) days are 11-17, 11-18, 11-18, 11-18, 11-19
    ("2026-11-17 15:30:00", "34000011/0000A", 1, "ok", 1),
    ("2026-11-17 16:30:00", "34000011/0000A", 1, "refused", 0),
    ("2026-11-18 02:00:00", "34000011/0000B", 2, "ok", 7),
    ("2026-11-18 03:00:00", "34000011/0000B", None, "not_found", 0),
    ("2026-11-19 01:00:00", "34000011/0000A", 2, "error", 0),
]


def test_r12_totals_per_local_day_resource_system_and_result_match_the_records(db, world):
    with db.session() as s:
        for n, (at, code, system, result, rows) in enumerate(TOTALS_RECORDS):
            chain.append(s, **_fields(n, at=_utc(at), resource_code=code, consumer_system_id=system, result=result,
                                      row_count=rows, department_id=world.ids["civil"],
                                      provider_id=world.ids["police"]))
        chain.append(s, **_fields(9, at=_utc("2026-11-18 04:00:00"), department_id=world.ids["city_civil"]))
    days = audit.Filters(since=date(2026, 11, 17), until=date(2026, 11, 19))
    with db.session() as s:
        requester = world.actors["civil_requester"]
        by_day = audit.totals(s, requester, "day", days)
        assert [(t["key"], t["calls"], t["served"], t["refused"], t["errors"], t["rows"]) for t in by_day] == [
            (date(2026, 11, 17), 1, 1, 0, 0, 1), (date(2026, 11, 18), 3, 2, 1, 0, 7),
            (date(2026, 11, 19), 1, 0, 0, 1, 0)]
        by_resource = {t["key"]: t["calls"] for t in audit.totals(s, requester, "resource", days)}
        assert by_resource == {"34000011/0000A": 3, "34000011/0000B": 2}
        by_system = {t["key"]: t["calls"] for t in audit.totals(s, requester, "system", days)}
        assert by_system == {1: 2, 2: 2, None: 1}
        by_result = {t["key"]: (t["calls"], t["label"]) for t in audit.totals(s, requester, "result", days)}
        assert by_result == {"ok": (2, "成功"), "refused": (1, "拒绝"), "not_found": (1, "未找到"),
                             "error": (1, "出错")}
        records = audit.list_records(s, requester, days)
        assert sum(t["calls"] for t in by_day) == len(records) == 5
        assert sum(t["rows"] for t in by_day) == sum(r["row_count"] for r in records)
        # the city's call is on the auditor's totals, not on 省民政厅's
        assert sum(t["calls"] for t in audit.totals(s, world.actors["auditor"], "day", days)) == 6
        one_day = audit.totals(s, requester, "resource", audit.Filters(since=date(2026, 11, 18),
                                                                      until=date(2026, 11, 18)))
        assert {t["key"]: t["calls"] for t in one_day} == {"34000011/0000A": 1, "34000011/0000B": 2}
        with pytest.raises(ValidationFailed) as error:
            audit.totals(s, requester, "week")
        assert error.value.field == "by"


def test_r12_totals_default_to_the_last_30_days_with_every_day_listed(db, world):
    _append(db, 2, department_id=world.ids["civil"])
    with db.session() as s:
        by_day = audit.totals(s, world.actors["civil_requester"])
        today = audit.local_today(s)
    assert len(by_day) == 30 and by_day[-1]["key"] == today and by_day[-1]["calls"] == 2
    assert sum(t["calls"] for t in by_day) == 2


def test_r12_local_days_follow_daylight_saving_time(db, world, settings):
    """In a zone with daylight saving time the day of a record uses the offset of its own moment."""
    settings.timezone = "Europe/Berlin"  # CET +1, CEST +2 from 2026-03-29 01:00 UTC
    with db.session() as s:
        chain.append(s, **_fields(1, at=_utc("2026-03-28 23:30:00")))  # 00:30 CET on the 29th
        chain.append(s, **_fields(2, at=_utc("2026-03-29 22:30:00")))  # 00:30 CEST on the 30th
        chain.append(s, **_fields(3, at=_utc("2026-03-29 21:30:00")))  # 23:30 CEST on the 29th
        days = audit.Filters(since=date(2026, 3, 28), until=date(2026, 3, 30))
        by_day = {t["key"].day: t["calls"] for t in audit.totals(s, SYSTEM, "day", days)}
    assert by_day == {28: 0, 29: 2, 30: 1}


# ---------------------------------------------------------------- anomalies (R12)


def _at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(UTC).replace(tzinfo=None)


def _usage_day(db, grant_id: int, day: date, calls: int = 0, refusals: int = 0) -> None:
    with db.session() as s:
        s.add(GrantUsageDay(grant_id=grant_id, day=day, calls=calls, rows=calls, refusals=refusals))


def _flags(db, actor, since: date, until: date) -> set[tuple]:
    with db.session() as s:
        return {(f["kind"], f["grant_id"], f["day"]) for f in audit.anomalies(s, actor, since, until)}


WEDNESDAY, SATURDAY = date(2026, 11, 18), date(2026, 11, 21)


def test_r12_calls_outside_office_hours_beyond_the_threshold_are_flagged(client, db, world, tmp_path, settings):
    settings.anomaly_off_hours_calls = 3
    _served, (night, weekend, daytime, few) = _grants(db, world, tmp_path, extra=3)
    civil, city, police = world.ids["civil"], world.ids["city_civil"], world.ids["police"]
    with db.session() as s:
        for n in range(4):  # 省民政厅 at 22:00 on a working day: 4 > 3
            chain.append(s, **_fields(n, grant_id=night, at=_at_local(WEDNESDAY, 22, n), department_id=civil,
                                      provider_id=police))
        for n in range(4):  # 合肥市民政局 in office hours, but on a Saturday
            chain.append(s, **_fields(n, grant_id=weekend, at=_at_local(SATURDAY, 10, n), department_id=city,
                                      provider_id=police))
        for n in range(20):  # many calls, all in office hours on a working day
            chain.append(s, **_fields(n, grant_id=daytime, at=_at_local(WEDNESDAY, 9, n), department_id=city,
                                      provider_id=police))
        for n in range(3):  # 07:00 (before 08:00) but only 3: not beyond the threshold
            chain.append(s, **_fields(n, grant_id=few, at=_at_local(WEDNESDAY, 7, n), department_id=city,
                                      provider_id=police))
    flags = _flags(db, world.actors["auditor"], WEDNESDAY, SATURDAY)
    assert flags == {("off_hours", night, WEDNESDAY), ("off_hours", weekend, SATURDAY)}
    with db.session() as s:
        flagged = {f["grant_id"]: f for f in audit.anomalies(s, world.actors["auditor"], WEDNESDAY, SATURDAY)}
    assert flagged[weekend]["label"] == "非工作时间访问" and "非工作日" in flagged[weekend]["message"]
    assert (flagged[weekend]["count"], flagged[weekend]["requester_name"]) == (4, "合肥市民政局")
    assert "办公时间（08:00-18:00）以外" in flagged[night]["message"]
    # each requester sees its own flags; the provider sees both; another province's authority none
    assert _flags(db, world.actors["civil_requester"], WEDNESDAY, SATURDAY) == {("off_hours", night, WEDNESDAY)}
    assert _flags(db, world.actors["police_reviewer"], WEDNESDAY, SATURDAY) == flags
    assert _flags(db, world.actors["other_reviewer"], WEDNESDAY, SATURDAY) == set()


def test_r12_volume_far_above_the_usual_is_flagged(db, world, tmp_path, client):
    _served, (spike, steady, young) = _grants(db, world, tmp_path, extra=2)
    day = WEDNESDAY
    for n in range(1, 11):
        _usage_day(db, spike, day - timedelta(days=n), calls=10)
        _usage_day(db, steady, day - timedelta(days=n), calls=10)
    for n in range(1, 4):  # only three days of history: no usual volume yet
        _usage_day(db, young, day - timedelta(days=n), calls=1)
    _usage_day(db, spike, day, calls=51)  # > 5 × median 10
    _usage_day(db, steady, day, calls=50)  # = 5 × 10: not above
    _usage_day(db, young, day, calls=1000)
    assert _flags(db, world.actors["auditor"], day, day) == {("volume", spike, day)}
    with db.session() as s:
        flag = audit.anomalies(s, world.actors["auditor"], day, day)[0]
    assert (flag["usual"], flag["count"], flag["label"]) == (10, 51, "访问量异常")


def test_r12_repeated_refusals_are_flagged(db, world, tmp_path, client, settings):
    _served, (many, some) = _grants(db, world, tmp_path, extra=1)
    _usage_day(db, many, WEDNESDAY, calls=2, refusals=settings.anomaly_refusals)
    _usage_day(db, some, WEDNESDAY, calls=2, refusals=settings.anomaly_refusals - 1)
    assert _flags(db, world.actors["auditor"], WEDNESDAY, WEDNESDAY) == {("refusals", many, WEDNESDAY)}
    assert _flags(db, world.actors["other_reviewer"], WEDNESDAY, WEDNESDAY) == set()


def test_r12_normal_use_through_the_gateway_is_not_flagged(client, db, world, tmp_path):
    served, _ = _grants(db, world, tmp_path)
    _gateway_calls(client, served, 5)
    with db.session() as s:
        today = audit.local_today(s)
        assert audit.anomalies(s, world.actors["auditor"], today - timedelta(days=1), today) == []
        counted = s.scalar(select(func.sum(GrantUsageDay.calls)).where(GrantUsageDay.grant_id == served.grant_id))
    assert counted == 5


# ---------------------------------------------------------------- retention: archive and prune (R12)


def _aged(db, years_ago: float, count: int) -> None:
    at = utcnow() - timedelta(days=365 * years_ago)
    with db.session() as s:
        for n in range(count):
            chain.append(s, **_fields(n, at=at + timedelta(minutes=n)))


def test_r12_archive_then_prune_keeps_the_chain_verifiable(db, world, tmp_path):
    _aged(db, 5, 4)
    _sign(db, "interval")
    _aged(db, 4, 4)
    _aged(db, 0, 2)
    _sign(db, "interval")
    admin = world.actors["admin"]
    with db.session() as s:
        cutoff = audit.retention_cutoff(s)
    early = cutoff - timedelta(days=365)  # between the two old batches
    first = audit.archive(db, early, tmp_path / "early.jsonl", actor=admin)
    assert (first["first_seq"], first["last_seq"], first["records"]) == (1, 4, 4)
    report, header = audit.verify_archive(tmp_path / "early.jsonl")
    assert report.ok and report.records == 4 and header["key_id"] == chain.key_info(db.settings).key_id, report.problems
    done = audit.prune(db, early, tmp_path / "early.jsonl", actor=admin)
    assert (done["pruned"], done["first_seq"], done["last_seq"]) == (1 * 4, 1, 4)
    after = chain.verify(db)
    assert after.ok and (after.first_seq, after.records) == (5, 6), after.problems
    # the next archive starts at the prune anchor and verifies on its own (gzip this time)
    second = audit.archive(db, None, tmp_path / "late.jsonl.gz", actor=admin)
    assert (second["first_seq"], second["last_seq"]) == (5, 8)
    report, _header = audit.verify_archive(tmp_path / "late.jsonl.gz")
    assert report.ok, report.problems
    assert audit.prune(db, None, tmp_path / "late.jsonl.gz", actor=admin)["pruned"] == 4
    final = chain.verify(db)
    assert final.ok and (final.first_seq, final.last_seq, final.records) == (9, 10, 2), final.problems
    with db.session() as s:
        kinds = [c.kind for c in s.scalars(select(Checkpoint).order_by(Checkpoint.id))]
    assert kinds == ["interval", "interval", "archive", "prune", "archive", "prune"]


def test_r12_prune_refuses_without_a_valid_archive_or_within_retention(db, world, tmp_path):
    _aged(db, 4, 3)
    _aged(db, 0, 2)
    admin = world.actors["admin"]
    path = tmp_path / "old.jsonl"

    def refused(archive_path, field: str, before: date | None = None) -> None:
        with pytest.raises(ValidationFailed) as error:
            audit.prune(db, before, archive_path, actor=admin)
        assert error.value.field == field, error.value.message
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(UsageRecord)) == 5

    refused(path, "archive")  # no archive at all
    audit.archive(db, None, path, actor=admin)
    lines = path.read_text(encoding="utf-8").splitlines()
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(line.replace('"row_count": 1', '"row_count": 0', 1) if '"seq": 2,' in line else line
                                for line in lines) + "\n", encoding="utf-8")
    refused(forged, "archive")  # a record changed in the file
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-2]) + "\n", encoding="utf-8")
    refused(cut, "archive")  # the file lost its last record and its end
    with db.session() as s:
        today = audit.local_today(s)
    refused(path, "before", before=today)  # the recent records are within the retention period
    with pytest.raises(Forbidden):
        audit.prune(db, None, path, actor=world.actors["auditor"])
    with pytest.raises(Forbidden):
        audit.archive(db, None, tmp_path / "other.jsonl", actor=world.actors["police_reviewer"])
    with pytest.raises(ValidationFailed) as error:
        audit.archive(db, None, path, actor=admin)
    assert error.value.field == "path"  # an archive is never overwritten
    assert audit.prune(db, None, path, actor=admin)["pruned"] == 3
    assert chain.verify(db).ok


def test_r12_records_deleted_without_a_prune_checkpoint_are_named_missing(db):
    _aged(db, 4, 3)
    _aged(db, 0, 2)
    _sql(db, "DELETE FROM usage_records WHERE seq <= 3")
    assert _first(chain.verify(db)) == (1, "missing")
