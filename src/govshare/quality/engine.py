"""Running an entry's quality rules over its source (R14): one DuckDB statement counts every rule's checked and
failed rows in a single pass over the data (never a Python loop per row); then, for the rules that failed, a few
failing keys are fetched (`LIMIT`) and masked as the gateway would mask them, so that a quality report never
shows what a grant would not.

Scores: per dimension, 100 × (1 − failed / checked) summed over its rules, to one decimal rounded down (100.0
only when nothing failed); a dimension with
nothing to judge has no score (not 100). The overall score is the mean of the dimensions that have one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from govshare.gateway import masking, profiling
from govshare.gateway.masking import quote_identifier
from govshare.quality.rules import (
    SAMPLE_KEYS,
    Dimension,
    Plan,
    RuleKind,
    RuleSpec,
    checked_sql,
    date_sql,
    failed_sql,
    text_sql,
)


@dataclass
class RuleOutcome:
    rule: RuleSpec
    checked: int
    failed: int
    samples: list[str] = field(default_factory=list)  # failing keys (or duplicated values), masked


@dataclass
class Outcome:
    rows: int
    rules: list[RuleOutcome]
    scores: dict[str, float | None]


@dataclass(frozen=True)
class Source:
    """What the engine reads: a DuckDB relation (table expression), the source column of each item, the key
    item, and each item's masking rule with the salt of whoever reads the report. A relation that can be read
    only once (a database table streamed as Arrow) is not `rereadable`: its rows are kept in a temporary table
    for the samples."""

    relation: str
    columns: dict[str, str]
    key_item: str
    masks: dict[str, masking.Rule]
    salt: str = ""
    rereadable: bool = True


def _projection(source: Source, plan: Plan) -> str:
    """Each value computed once per row, in two steps (DuckDB does not share a sub-expression repeated across
    the rules' conditions): the items' texts and raw texts, then their normalized values, dates and validity."""
    first = [f"{text_sql(quote_identifier(source.columns[item]))} AS {alias}" for item, alias in plan.texts.items()]
    first += [f"CAST({quote_identifier(source.columns[item])} AS VARCHAR) AS {alias}"
              for item, alias in plan.raws.items()]
    second = [f"{profiling.normalized_sql(plan.texts[item])} AS {alias}" for item, alias in plan.normalized.items()]
    second += [f"{date_sql(plan.texts[item])} AS {alias}" for item, alias in plan.dates.items()]
    third = [f"{plan.check_sql(item, format_)} AS {alias}" for (item, format_), alias in plan.checks.items()]
    query = f"SELECT {', '.join(first)} FROM {source.relation}"
    for step in (second, third):
        if step:
            query = f"SELECT *, {', '.join(step)} FROM ({query})"
    return query


def _aggregates(rules: list[RuleSpec], plan: Plan, references: dict[str, str]) -> list[str]:
    parts = ["count(*)"]
    for rule in rules:
        if rule.kind == RuleKind.UNIQUE:
            value = plan.texts[rule.item]
            parts += [f"count({value})", f"count({value}) - count(DISTINCT {value})"]
        else:
            reference = references.get(rule.params.get("reference", ""))
            parts += [f"count(*) FILTER (WHERE {checked_sql(rule, plan)})",
                      f"count(*) FILTER (WHERE {failed_sql(rule, plan, reference)})"]
    return parts


def _register_references(connection: duckdb.DuckDBPyConnection, rules: list[RuleSpec],
                         tables: dict[str, list[str]]) -> dict[str, str]:
    """Registers each reference table the rules name as a one-column relation `code`; name -> relation."""
    relations = {}
    for position, name in enumerate(sorted({r.params["reference"] for r in rules if r.kind == RuleKind.REFERENCE})):
        relation = f"quality_reference_{position}"
        connection.register(relation, pa.table({"code": pa.array(tables.get(name, []), pa.string())}))
        relations[name] = relation
    return relations


def _samples(connection: duckdb.DuckDBPyConnection, base: str, rule: RuleSpec, plan: Plan,
             references: dict[str, str], source: Source) -> list[str]:
    """A few failing keys of `rule` (for `unique`, duplicated values of its item), as stored, masked by their
    item's rule as the gateway serves them."""
    if rule.kind == RuleKind.UNIQUE:
        value, shown_item = plan.texts[rule.item], rule.item
        query = (f"SELECT min({plan.raws[rule.item]}) FROM {base} WHERE {value} IS NOT NULL GROUP BY {value} "
                 f"HAVING count(*) > 1 ORDER BY {value} LIMIT {SAMPLE_KEYS}")
    else:
        shown_item = source.key_item
        reference = references.get(rule.params.get("reference", ""))
        query = (f"SELECT {plan.raws[source.key_item]} FROM {base} WHERE {failed_sql(rule, plan, reference)} "
                 f"LIMIT {SAMPLE_KEYS}")
    masker = masking.served_masker(source.masks.get(shown_item, masking.Rule("hash")), source.salt)
    rows = connection.execute(query).fetchall()
    return [_shown(value, masker) for (value,) in rows]


def _shown(value, masker) -> str:
    if value is None:
        return "（主键为空）"
    masked = masker(value)
    return "（已隐去）" if masked is None else str(masked)


def one_decimal_down(value: float) -> float:
    """To one decimal, rounded down: a score is 100.0 only when nothing failed (99.95 is not 100)."""
    return math.floor(value * 10 + 1e-9) / 10


def scores(outcomes: list[RuleOutcome]) -> dict[str, float | None]:
    """Per dimension and overall (see the module's docstring)."""
    exact: dict[str, float | None] = {}
    for dimension in Dimension:
        judged = [o for o in outcomes if o.rule.dimension == dimension]
        checked = sum(o.checked for o in judged)
        exact[dimension.value] = 100 * (1 - sum(o.failed for o in judged) / checked) if checked else None
    present = [value for value in exact.values() if value is not None]
    exact["overall"] = sum(present) / len(present) if present else None
    return {name: None if value is None else one_decimal_down(value) for name, value in exact.items()}


def run(connection: duckdb.DuckDBPyConnection, source: Source, rules: list[RuleSpec], *,
        reference_tables: dict[str, list[str]] | None = None,
        timeliness: RuleOutcome | None = None) -> Outcome:
    """Counts every row rule of `rules` over `source` in one statement, then samples the failing ones.
    `timeliness` is the entry-level outcome the service judged from the source's load time."""
    row_rules = [rule for rule in rules if rule.kind != RuleKind.TIMELINESS]
    plan = Plan.of(row_rules, list(source.columns), source.key_item)
    references = _register_references(connection, row_rules, reference_tables or {})
    base = f"({_projection(source, plan)})"
    if not source.rereadable:
        connection.execute(f"CREATE TEMPORARY TABLE quality_rows AS {base[1:-1]}")
        base = "quality_rows"
    counts = connection.execute(f"SELECT {', '.join(_aggregates(row_rules, plan, references))} "
                                f"FROM {base}").fetchone()
    outcomes = []
    for position, rule in enumerate(row_rules):
        checked, failed = int(counts[1 + 2 * position]), int(counts[2 + 2 * position])
        samples = _samples(connection, base, rule, plan, references, source) if failed else []
        outcomes.append(RuleOutcome(rule, checked, failed, samples))
    if timeliness is not None:
        outcomes.append(timeliness)
    return Outcome(rows=int(counts[0]), rules=outcomes, scores=scores(outcomes))
