"""Objection-flag benchmark (R13): what the 校核中 flag costs the gateway. The governed key lookup
(`gateway.service.access`, the function every API lookup calls, here in-process) on the same entry, keys and
grant, in alternating rounds:
- baseline: no open objection on the entry (the call facts count none; nothing more is asked);
- flagged: `--objection-count` open objections on the entry (1 % of the looked-up keys by default), so every
  call asks which served keys are under verification (one indexed query) and some answers carry the flag.
Reported: calls/s of each, the ratio flagged/baseline (target ≥ 0.85: the flag may cost at most one short
query per call), the share of flagged answers, and that every call wrote its usage record. In-process, one
thread: this isolates the gateway's own work from HTTP, which bench/gateway_bench.py measures."""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

TARGETS = {"flag_ratio": 0.85}


def _seed(folder: Path, source_rows: int):
    from tests.factories import build_world
    from tests.gateway_factories import served_population

    from bench.gateway_bench import new_node, unbounded, write_people

    _settings, database = new_node(folder)
    source = folder / "police_source.db"
    keys = write_people(source, source_rows)
    with database.session() as session:
        world = build_world(session)
    with database.session() as session:
        served = served_population(session, world, folder, source_url=f"sqlite:///{source}")
        unbounded(session, served.grant_id)
    return database, world, served, keys


def _file(database, world, served, keys: list[str]) -> None:
    from govshare.objections import service as objections

    with database.session() as session:
        for key in keys:
            objections.file_objection(session, world.actors["civil_requester"], served.grant_id, key, ["xm"], {},
                                      "基准测试：核实姓名")


def _set_open(database, is_open: bool) -> None:
    """Opens or closes every objection at once (the baseline's entry has none open; the same rows and keys)."""
    from sqlalchemy import update

    from govshare.objections.models import Objection

    with database.session() as session:
        session.execute(update(Objection).values(status="open" if is_open else "confirmed"))


def _round(database, served, keys: list[str], calls: int, rng: random.Random) -> dict:
    from govshare.gateway import tokens
    from govshare.gateway.service import Call, Caller, Mode, access

    with database.session() as session:
        token, _lifetime = tokens.issue_token(session, served.client_id, served.secret)
    caller, flagged = Caller(token=token), 0
    started = time.perf_counter()
    for _ in range(calls):
        outcome = access(database, caller, Call(Mode.LOOKUP, served.resource_code, grant_id=served.grant_id,
                                               key=rng.choice(keys)))
        flagged += bool(outcome.under_verification)
    seconds = time.perf_counter() - started
    return {"calls": calls, "seconds": round(seconds, 3), "calls_per_s": round(calls / seconds, 1),
            "flagged": flagged}


def run(results_dir: Path, *, source_rows: int = 100_000, calls: int = 2_000, rounds: int = 3,
        objection_share: float = 0.01) -> dict:
    from rich.console import Console

    from govshare.audit.models import UsageRecord

    console = Console()
    with tempfile.TemporaryDirectory(prefix="govshare-objection-bench-") as tmp:
        database, world, served, keys = _seed(Path(tmp), source_rows)
        rng = random.Random(5)
        objected = rng.sample(keys, max(1, int(len(keys) * objection_share)))
        _file(database, world, served, objected)
        baseline, flagged = [], []
        _set_open(database, False)
        _round(database, served, keys, 200, rng)  # warm the plan cache and the source's statements
        for _number in range(rounds):
            _set_open(database, False)
            baseline.append(_round(database, served, keys, calls, rng))
            _set_open(database, True)
            flagged.append(_round(database, served, keys, calls, rng))
        with database.session() as session:
            records = session.query(UsageRecord).count()
        database.dispose()
    base = statistics.median(r["calls_per_s"] for r in baseline)
    with_flags = statistics.median(r["calls_per_s"] for r in flagged)
    result = {
        "benchmark": "objection_flag", "at": datetime.now().isoformat(timespec="seconds"),
        "source_rows": source_rows, "open_objections": len(objected), "calls_per_round": calls, "rounds": rounds,
        "baseline_calls_per_s": base, "flagged_calls_per_s": with_flags,
        "flag_ratio": round(with_flags / base, 3),
        "flagged_answers_share": round(statistics.median(r["flagged"] / r["calls"] for r in flagged), 4),
        "usage_records": records, "calls_made": 200 + rounds * 2 * calls,
        "baseline_rounds": baseline, "flagged_rounds": flagged, "targets": TARGETS,
    }
    result["records_match"] = result["usage_records"] == result["calls_made"]
    result["meets_targets"] = result["flag_ratio"] >= TARGETS["flag_ratio"] and result["records_match"]
    console.print(f"[bold]objection flag[/bold]: {with_flags:,.0f} calls/s with {len(objected):,} open objections "
                  f"vs {base:,.0f} without = [bold]{result['flag_ratio']:.2f}×[/bold] (target ≥ "
                  f"{TARGETS['flag_ratio']}); flagged answers {result['flagged_answers_share']:.1%}; usage records "
                  f"{records:,} for {result['calls_made']:,} calls")
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "objection_flag.json").write_text(json.dumps(result, ensure_ascii=False, indent=2),
                                                      encoding="utf-8")
    return result
