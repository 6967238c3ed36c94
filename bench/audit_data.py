"""Bulk usage records for the audit benchmark (`govshare audit verify` over 10,000,000 records ≤ 30 s).

`make_records(db_url, count)` appends `count` synthetic records to the chain of the database at `db_url`
(migrated first): each one linked with `audit.chain.link_hash` exactly as the gateway links them, written
with executemany in large transactions, and the chain head moved to the last one, so the result verifies.
It continues an existing chain, so it can top a database up. A checkpoint is signed at the end when
`sign=True` (the node key under `data_dir`).

    python -m bench.audit_data --count 10000000 --url sqlite:////tmp/audit.db
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

COLUMNS = (
    "seq", "at", "department_id", "provider_id", "consumer_system_id", "user_id", "grant_id", "entry_id",
    "resource_code", "mode", "items", "row_count", "result", "reason", "request_hash", "prev_hash", "hash",
)
INSERT = f"INSERT INTO usage_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
MODES = ("lookup", "lookup", "lookup", "verify", "page", "export")
REFUSALS = ("item_not_granted", "row_out_of_scope", "rate_limited", "grant_period", "no_grant")
ITEMS = ("gmsfhm,xm,csrq", "gmsfhm,xm", "gmsfhm,xm,csrq,hjdz,xzqhdm", "tyshxydm,qymc", "gmsfhm")


def _rows(first_seq: int, prev: str, count: int, start: datetime, step: timedelta, seed: int, sqlite: bool):
    """Yields (row tuple, hash) in chain order; `at` is the text SQLAlchemy stores in SQLite (and hashes).
    The canonical text is built inline for speed; the first records are checked against `link_hash`."""
    from govshare.audit.chain import SEPARATOR, _text, link_hash

    rng = random.Random(seed)
    grants = [(g, 2 + g % 40, 50 + g % 9, 100 + g, 1000 + g % 200, f"34000011{g % 9:02d}/{g:05d}")
              for g in range(1, 501)]
    picks = [rng.randrange(len(grants)) for _ in range(4096)]
    draws = [rng.random() for _ in range(4099)]
    sha256, sep = hashlib.sha256, SEPARATOR
    step_us = step // timedelta(microseconds=1)
    for n in range(count):
        seq = first_seq + n
        grant, department, provider, system, entry, resource = grants[picks[n % 4096]]
        mode = MODES[n % len(MODES)]
        draw = draws[n % 4099]
        result = "refused" if draw < 0.02 else ("not_found" if draw < 0.07 else "ok")
        rows = 0 if result != "ok" else (1 if mode in ("lookup", "verify") else 1 + n % 997)
        at = start + timedelta(microseconds=step_us * n)
        at_text = _text(at)
        items = ITEMS[n % len(ITEMS)]
        reason = REFUSALS[n % len(REFUSALS)] if result == "refused" else ""
        request_hash = sha256(seq.to_bytes(8, "big")).hexdigest()
        payload = sep.join((prev, str(seq), at_text, str(department), str(provider), str(system), "", str(grant),
                            str(entry), resource, mode, items, str(rows), result, reason, request_hash))
        digest = sha256(payload.encode()).hexdigest()
        if n < 1000:
            assert digest == link_hash(prev, (seq, at, department, provider, system, None, grant, entry, resource,
                                              mode, items, rows, result, reason, request_hash))
        yield (seq, at_text if sqlite else at, department, provider, system, None, grant, entry, resource, mode,
               items, rows, result, reason, request_hash, prev, digest), digest
        prev = digest


def make_records(db_url: str, count: int, progress: Callable[[int], None] | None = None, *, batch: int = 200_000,
                 days: int = 1000, seed: int = 4, sign: bool = False, data_dir: Path | None = None) -> dict:
    """Appends `count` chained records to `db_url`; returns {records, first_seq, last_seq, seconds}."""
    from govshare import migrate
    from govshare.db import make_engine, utcnow

    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    sqlite = engine.dialect.name == "sqlite"
    started = time.perf_counter()
    with engine.begin() as conn:
        head_seq, head_hash = conn.execute(text("SELECT seq, hash FROM audit_chain_head WHERE id = 1")).one()
    end = utcnow().replace(microsecond=0)  # naive UTC, as the records store it
    step = timedelta(days=days) / max(count, 1)
    start = end - step * count
    generator = _rows(head_seq + 1, head_hash, count, start, step, seed, sqlite)
    done, last_hash = 0, head_hash
    insert = INSERT if sqlite else INSERT.replace("?", "%s")
    while done < count:
        chunk = []
        for row, digest in generator:
            chunk.append(row)
            last_hash = digest
            if len(chunk) >= batch:
                break
        if not chunk:
            break
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(insert, chunk)
            cursor.execute(("UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1" if sqlite else
                            "UPDATE audit_chain_head SET seq = %s, hash = %s WHERE id = 1"),
                           (chunk[-1][0], last_hash))
            if sqlite:
                cursor.execute("COMMIT")
            else:
                raw.commit()
            cursor.close()
        finally:
            raw.close()
        done += len(chunk)
        if progress:
            progress(len(chunk))
    engine.dispose()
    if sign:
        _sign(db_url, data_dir)
    return {"records": done, "first_seq": head_seq + 1, "last_seq": head_seq + done,
            "seconds": round(time.perf_counter() - started, 2)}


def _sign(db_url: str, data_dir: Path | None) -> None:
    from govshare.audit import chain
    from govshare.config import Settings
    from govshare.db import Database

    settings = Settings(database_url=db_url, **({"data_dir": data_dir} if data_dir else {}))
    database = Database(db_url, settings)
    with database.session() as session:
        chain.sign_checkpoint(session, kind="manual", note="bench.audit_data")
    database.dispose()


def main() -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    parser = argparse.ArgumentParser(description="bulk synthetic usage records for the audit benchmark")
    parser.add_argument("--count", type=int, default=10_000_000)
    parser.add_argument("--url", default="sqlite:///var/bench_audit.db")
    parser.add_argument("--sign", action="store_true", help="sign a checkpoint at the end (key under --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    columns = (TextColumn("[bold]写入使用记录"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task("", total=args.count)
        result = make_records(args.url, args.count, lambda n: bar.advance(task, n), sign=args.sign,
                              data_dir=args.data_dir)
    print(result)


if __name__ == "__main__":
    main()
