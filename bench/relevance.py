"""Relevance of catalog search on the seven real portal catalogs (issue 13, R02, R20).

The judged set (tests/data/search_judgments.json, how it was judged: tests/data/README.md) lists queries as
people write them, with the entries judged relevant (grade 2 exact, 1 related) by reading them. This module
imports the seven catalogs into a fresh SQLite node, builds the search index and measures, in the same run,
three rankings on the same queries:

- `ranked`: govshare's search (every concept optional, BM25, coverage and phrase bonuses);
- `every_concept`: the former ranking, where every concept of the query must match;
- `sql_like`: `name LIKE '%query%' OR abstract LIKE '%query%'`, name matches first (what a portal without
  full-text search does).

Metrics over the first 10 hits: success@10 (a relevant entry is among them), MRR (1 / rank of the first
relevant entry), nDCG@10 with the grades as gains. `python -m bench.relevance` prints them; `make bench` writes
bench/results/relevance.json; tests/test_search_relevance.py keeps a floor."""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
JUDGMENTS = ROOT / "tests" / "data" / "search_judgments.json"
# `shared/` beside the repository, or beside an ancestor (mutmut runs the tests from a copy one folder deeper)
CATALOGS = next((folder.parent / "shared" for folder in (ROOT, *ROOT.parents) if (folder.parent / "shared").is_dir()),
                ROOT.parent / "shared") / "data" / "real" / "catalogs"
K = 10
RANKINGS = ("ranked", "every_concept", "sql_like")
TARGETS = {"success@10": 0.9, "mrr": 0.7}


@dataclass
class Judged:
    """One judged query: the entry ids judged relevant, with their grades."""

    id: str
    query: str
    kind: str
    grades: dict[int, int]


def load_judgments(path: Path = JUDGMENTS) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def import_catalogs(session: Session, catalogs: Path = CATALOGS) -> dict[tuple[str, int], int]:
    """Imports the seven catalogs (published, as the node operator loads them) and returns the entry id of each
    (file, 0-based row), found by the import's idempotency key of the row."""
    from bench.import_bench import PORTALS
    from govshare.authz import Actor
    from govshare.catalog import importer
    from govshare.catalog import mapping as m
    from govshare.catalog.models import CatalogEntry

    ids: dict[tuple[str, int], int] = {}
    for name, (region, level) in PORTALS.items():
        path = catalogs / name
        importer.import_file(session, Actor.system(), path, region_code=region, level=level, publish=True)
        session.flush()
        source = importer.read_source(path)
        url_column = m.detect_mapping(source.entries.headers).source("url")
        keys = [importer.row_key(raw, m.text(raw.get(url_column)) if url_column else "")
                for _number, raw in source.entries.rows]
        found = dict(session.execute(select(CatalogEntry.external_key, CatalogEntry.id)
                                     .where(CatalogEntry.external_key.in_(set(keys)))).all())
        for row, key in enumerate(keys):
            if key in found:
                ids[(name, row)] = found[key]
    return ids


def judged_queries(judgments: dict, ids: dict[tuple[str, int], int]) -> list[Judged]:
    result = []
    for q in judgments["queries"]:
        grades: dict[int, int] = {}
        for item in q["relevant"]:
            entry_id = ids.get((item["file"], item["row"]))
            if entry_id is not None:
                grades[entry_id] = max(grades.get(entry_id, 0), int(item["grade"]))
        result.append(Judged(q["id"], q["query"], q["kind"], grades))
    return result


def like_ranking(session: Session) -> Callable[[str], list[int]]:
    from govshare.catalog.models import CatalogEntry
    from govshare.catalog.vocab import EntryStatus

    def ranked(query: str) -> list[int]:
        pattern = f"%{query.strip()}%"
        in_name = CatalogEntry.name.like(pattern)
        statement = (select(CatalogEntry.id).where(CatalogEntry.status == EntryStatus.PUBLISHED,
                                                   or_(in_name, CatalogEntry.abstract.like(pattern)))
                     .order_by(case((in_name, 0), else_=1), CatalogEntry.id).limit(K))
        return list(session.scalars(statement))
    return ranked


def search_ranking(index_dir: Path, *, every_concept: bool) -> Callable[[str], list[int]]:
    from govshare.search import service

    def ranked(query: str) -> list[int]:
        found = service.search(index_dir, query, limit=K, facets=False, every_concept=every_concept)
        return [int(hit["id"]) for hit in found["hits"]]
    return ranked


def scores(ranked: list[int], grades: dict[int, int]) -> dict[str, float]:
    """success@10, reciprocal rank and nDCG@10 of one query (grade ≥ 1 counts as relevant)."""
    top = ranked[:K]
    first = next((rank for rank, entry_id in enumerate(top, start=1) if grades.get(entry_id, 0) > 0), None)
    dcg = sum((2 ** grades.get(entry_id, 0) - 1) / math.log2(rank + 1) for rank, entry_id in enumerate(top, start=1))
    ideal = sorted(grades.values(), reverse=True)[:K]
    idcg = sum((2 ** grade - 1) / math.log2(rank + 1) for rank, grade in enumerate(ideal, start=1))
    return {"success@10": 1.0 if first else 0.0, "mrr": 1.0 / first if first else 0.0,
            "ndcg@10": dcg / idcg if idcg else 0.0}


def evaluate(queries: list[Judged], rank: Callable[[str], list[int]]) -> dict:
    """Mean metrics over the queries, overall and per kind, with each query's first relevant rank."""
    per_query = []
    for judged in queries:
        started = time.perf_counter()
        ranked = rank(judged.query)
        seconds = time.perf_counter() - started
        per_query.append({"id": judged.id, "query": judged.query, "kind": judged.kind, "seconds": seconds,
                          **scores(ranked, judged.grades)})

    def mean(rows: list[dict]) -> dict[str, float]:
        return {metric: round(sum(r[metric] for r in rows) / len(rows), 4) if rows else 0.0
                for metric in ("success@10", "mrr", "ndcg@10")}

    kinds = sorted({q["kind"] for q in per_query})
    return {**mean(per_query), "by_kind": {kind: mean([q for q in per_query if q["kind"] == kind]) for kind in kinds},
            "queries": per_query}


def measure(session: Session, index_dir: Path, judgments: dict, ids: dict[tuple[str, int], int]) -> dict:
    queries = judged_queries(judgments, ids)
    rankings = {"ranked": search_ranking(index_dir, every_concept=False),
                "every_concept": search_ranking(index_dir, every_concept=True),
                "sql_like": like_ranking(session)}
    return {name: evaluate(queries, rank) for name, rank in rankings.items()}


def run(results: Path | None = None, judgments_path: Path = JUDGMENTS) -> dict:
    """Imports the catalogs into a fresh node, measures the three rankings, prints and writes them."""
    from govshare.db import Database
    from govshare.migrate import upgrade
    from govshare.search import index as search_index

    judgments = load_judgments(judgments_path)
    with tempfile.TemporaryDirectory(prefix="govshare-relevance-") as tmp:
        url = f"sqlite:///{tmp}/node.db"
        upgrade(url)
        database = Database(url)
        index_dir = Path(tmp) / "index"
        with database.session() as session:
            ids = import_catalogs(session)
            session.commit()
        with database.session() as session:
            search_index.rebuild(session, index_dir)
            measured = measure(session, index_dir, judgments, ids)
        database.dispose()
    report = _report(judgments, measured)
    _print(report)
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        (results / "relevance.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n",
                                                encoding="utf-8")
    return report


def _report(judgments: dict, measured: dict) -> dict:
    kinds: dict[str, int] = {}
    for q in judgments["queries"]:
        kinds[q["kind"]] = kinds.get(q["kind"], 0) + 1
    ranked = measured["ranked"]
    return {
        "benchmark": "catalog search relevance on the seven real portal catalogs (judged set: tests/data)",
        "queries": len(judgments["queries"]), "kinds": kinds, "k": K, "targets": TARGETS,
        "summary": {name: {m: measured[name][m] for m in ("success@10", "mrr", "ndcg@10")} for name in RANKINGS},
        "ratio_vs_every_concept": {m: _ratio(ranked[m], measured["every_concept"][m]) for m in ("mrr", "ndcg@10")},
        "ratio_vs_sql_like": {m: _ratio(ranked[m], measured["sql_like"][m]) for m in ("mrr", "ndcg@10")},
        "meets_targets": all(ranked[m] >= target for m, target in TARGETS.items()),
        "by_kind": {name: measured[name]["by_kind"] for name in RANKINGS},
        "missed_by_ranked": [{"id": q["id"], "query": q["query"]} for q in ranked["queries"] if not q["success@10"]],
        "per_query": {name: measured[name]["queries"] for name in RANKINGS},
    }


def _ratio(value: float, baseline: float) -> float | None:
    return round(value / baseline, 2) if baseline else None


def _print(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"检索相关性（{report['queries']} 条评测查询，前 {report['k']} 条）")
    for column in ("ranking", "success@10", "MRR", "nDCG@10"):
        table.add_column(column)
    for name in RANKINGS:
        row = report["summary"][name]
        table.add_row(name, f"{row['success@10']:.3f}", f"{row['mrr']:.3f}", f"{row['ndcg@10']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"ranked / every_concept: {report['ratio_vs_every_concept']}; "
                  f"ranked / sql_like: {report['ratio_vs_sql_like']}; targets {report['targets']} met: "
                  f"{report['meets_targets']}")
    if report["missed_by_ranked"]:
        console.print("missed by ranked: " + "、".join(q["query"] for q in report["missed_by_ranked"]))


if __name__ == "__main__":
    run(ROOT / "bench" / "results")
