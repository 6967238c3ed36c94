"""Import benchmark: the seven real portal catalogs (../shared/data/real/catalogs, 4,735 rows) through
the governed import (column mapping, the catalog rules of R01/R03/R04, departments, resource codes,
history), against a plain executemany INSERT of the same rows' raw fields in the same run.

Target: the governed import of all 4,735 rows in ≤ 10 s."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ROOT.parent / "shared" / "data" / "real" / "catalogs"
# file -> (region code, level) of the departments it names: the portal's own administrative area
PORTALS = {
    "anhui_anhui.json": ("340000", "provincial"),
    "anhui_chizhou.json": ("341700", "municipal"),
    "anhui_huainan.json": ("340400", "municipal"),
    "anhui_luan.json": ("341500", "municipal"),
    "anhui_suzhou.json": ("341300", "municipal"),
    "fujian_xiamen.json": ("350200", "municipal"),
    "jiangxi_jiangxi.json": ("360000", "provincial"),
}
TARGET_SECONDS = 10.0


def governed_import(url: str) -> dict:
    from govshare import migrate
    from govshare.authz import Actor
    from govshare.catalog import importer
    from govshare.db import Database

    migrate.upgrade(url)
    database = Database(url)
    rows = created = rejected = 0
    started = time.perf_counter()
    for name, (region, level) in PORTALS.items():
        with database.session() as session:
            report = importer.import_file(session, Actor.system(), CATALOGS / name, region_code=region, level=level)
        rows += report.total_rows
        created += report.created
        rejected += len(report.rejected) + len(report.duplicates)
    seconds = time.perf_counter() - started
    database.dispose()
    return {"rows": rows, "created": created, "rejected_or_duplicate": rejected, "seconds": seconds}


def plain_insert(path: Path) -> float:
    """The baseline: the raw JSON fields of every row written with one executemany, no rules."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE raw_rows (file TEXT, row INTEGER, payload TEXT)")
    started = time.perf_counter()
    for name in PORTALS:
        data = json.loads((CATALOGS / name).read_text(encoding="utf-8"))
        connection.executemany(
            "INSERT INTO raw_rows VALUES (?, ?, ?)",
            [(name, n, json.dumps(row, ensure_ascii=False)) for n, row in enumerate(data, start=1)],
        )
    connection.commit()
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


@contextmanager
def temporary_database(server_url: str | None, folder: Path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database on the given PostgreSQL server (dropped afterwards)."""
    if not server_url:
        yield f"sqlite:///{folder / 'import.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"govshare_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(results_dir: Path, postgres_url: str | None = None) -> dict:
    """Imports into a fresh SQLite database, or into a fresh database on `postgres_url`'s server."""
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, temporary_database(postgres_url, Path(tmp)) as url:
        governed = governed_import(url)
        baseline = plain_insert(Path(tmp) / "plain.db")
    result = {
        "benchmark": "catalog_import_real",
        "database": url.split(":", 1)[0],
        **governed,
        "rows_per_s": governed["rows"] / governed["seconds"],
        "baseline_plain_insert_seconds": baseline,
        "ratio_governed_to_plain": governed["seconds"] / baseline,
        "target_seconds": TARGET_SECONDS,
        "meets_target": governed["seconds"] <= TARGET_SECONDS,
    }
    table = Table("measure", "value", "target", title="目录导入基准（7个真实目录）")
    table.add_row("rows", str(governed["rows"]), "4735")
    table.add_row("governed import (s)", f"{governed['seconds']:.2f}", f"≤ {TARGET_SECONDS}")
    table.add_row("rows/s", f"{result['rows_per_s']:.0f}", "")
    table.add_row("plain INSERT baseline (s)", f"{baseline:.3f}", "")
    table.add_row("ratio governed / plain", f"{result['ratio_governed_to_plain']:.1f}×", "")
    console.print(table)
    results_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if result["database"] == "sqlite" else "_postgresql"
    (results_dir / f"import{suffix}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result
