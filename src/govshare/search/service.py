"""Catalog search: query parsing, filters, facets, lead-source-first ranking (R06). No HTTP here; the API,
the CLI, the web pages and the benchmark all call search()."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import tantivy
from tantivy import Occur, Query

from govshare.catalog.vocab import DataFormat, Grade, ShareType
from govshare.db import utcnow
from govshare.errors import ValidationFailed
from govshare.fields import MAX_ID
from govshare.orgs.models import LEVEL_LABELS, Level
from govshare.search import index as search_index
from govshare.search.tokenize import LEGACY_STOP, Concept, canonical, normalize, query_concepts, sub_words

NAME_BOOST = 3.0
SYNONYM_BOOST = 2.0
CHARS_BOOST = 0.5
SUB_WORD_BOOST = 0.3
COVERAGE_SCORE = 4.0  # per concept matched: about what one concept's BM25 score reaches in a name
NAME_PHRASE_BOOST = 3.0
PHRASE_BOOST = 1.0
LEAD_BOOST = 1000.0
MAX_LIMIT = 100
MAX_OFFSET = 10_000
FACET_SIZE = 200
EMPTY_NOTICE = "搜索索引为空或尚未建立，请运行 govshare search --rebuild（或 govshare index rebuild）重建索引"
ORDERS = {"relevance": "相关度", "quality": "质量得分"}
FIELD_LABELS = {"department": "提供部门", "level": "部门层级", "share_type": "共享类型", "format": "资源格式",
                "grade": "分级", "theme": "主题", "stale": "是否过期"}


@dataclass
class SearchFilters:
    """Filters; several values of one field match any of them."""

    department: list[str] = field(default_factory=list)
    level: list[str] = field(default_factory=list)
    share_type: list[str] = field(default_factory=list)
    format: list[str] = field(default_factory=list)
    grade: list[str] = field(default_factory=list)
    theme: list[str] = field(default_factory=list)
    stale: bool | None = None
    quality_min: float | None = None  # the last quality run's overall score at least this (R14)

    def terms(self) -> dict[str, list[str]]:
        return {name: getattr(self, name) for name in search_index.FILTER_FIELDS if getattr(self, name)}


def _values(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str | int) else list(value)
    result = []
    for item in items:
        result.extend(part.strip() for part in str(item).split(",") if part.strip())
    return result


def _enum_values(enum_cls, raw: list[str], name: str) -> list[str]:
    result = []
    for value in raw:
        member = enum_cls.parse(value)
        if member is None:
            allowed = "、".join(f"{m.value}（{m.label}）" for m in enum_cls)
            raise ValidationFailed(f"{FIELD_LABELS[name]}取值无效：{value}；可选：{allowed}", field=name)
        result.append(member.value)
    return result


def parse_filters(
    *,
    department: str | Iterable[str] | None = None,
    level: str | Iterable[str] | None = None,
    share_type: str | Iterable[str] | None = None,
    format: str | Iterable[str] | None = None,
    grade: str | Iterable[str] | None = None,
    theme: str | Iterable[str] | None = None,
    stale: bool | None = None,
    quality_min: float | None = None,
) -> SearchFilters:
    """Validates filter values (codes or Chinese labels); a bad value raises ValidationFailed naming the field."""
    departments = _values(department)
    for value in departments:
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_ID):
            raise ValidationFailed(f"提供部门应为部门编号（1 至 {MAX_ID} 的整数）：{value[:40]}", field="department")
    levels = []
    for value in _values(level):
        match = next((lv.value for lv in Level if value in (lv.value, LEVEL_LABELS[lv])), None)
        if match is None:
            allowed = "、".join(f"{lv.value}（{LEVEL_LABELS[lv]}）" for lv in Level)
            raise ValidationFailed(f"部门层级取值无效：{value}；可选：{allowed}", field="level")
        levels.append(match)
    return SearchFilters(
        department=[str(int(v)) for v in departments],
        level=levels,
        share_type=_enum_values(ShareType, _values(share_type), "share_type"),
        format=_enum_values(DataFormat, _values(format), "format"),
        grade=_enum_values(Grade, _values(grade), "grade"),
        theme=_values(theme),
        stale=stale,
        quality_min=_quality_min(quality_min),
    )


def _quality_min(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 100:
        raise ValidationFailed(f"质量得分下限应在 0 到 100 之间：{value}", field="quality_min")
    return value


# ---------------------------------------------------------------- query building


def _term(schema, field_name: str, value: str, boost: float = 1.0) -> Query:
    query = Query.term_query(schema, field_name, value, index_option="freq")
    return query if boost == 1.0 else Query.boost_query(query, boost)


def _concept_query(schema, concept: Concept, *, inner_words: bool = True) -> Query:
    """Where one concept may match: the name (weighs most), the body, its synonym group, its characters as a
    run (words jieba cut differently in the document), and, weaker, the shorter words inside it (not in the
    former ranking, which the benchmark keeps as it was)."""
    text = concept.text
    parts = [_term(schema, "name", text, NAME_BOOST), _term(schema, "body", text)]
    if concept.canonical:
        parts.append(_term(schema, "syn", concept.canonical, SYNONYM_BOOST))
    chars = list(text)
    if len(chars) == 1:
        parts.append(_term(schema, "chars", chars[0], CHARS_BOOST))
    else:
        parts.append(Query.boost_query(Query.phrase_query(schema, "chars", chars), CHARS_BOOST))
    for word in sub_words(text) if inner_words else ():
        parts.append(_term(schema, "name", word, NAME_BOOST * SUB_WORD_BOOST))
        parts.append(_term(schema, "body", word, SUB_WORD_BOOST))
    return Query.boolean_query([(Occur.Should, q) for q in parts])


def _ranked_concepts(schema, query: str, concepts: list[Concept]) -> Query:
    """Every concept is optional, at least one must match (rank, don't filter). Each concept matched adds a
    constant, so entries sharing more of the query come first, and BM25 orders those alike; a single
    character among words (献血点 cut as 献血 + 点) adds no such constant, it matches almost everything.
    Neighbouring concepts written together in the query (医院名录, not 中小学和幼儿园) add more when the name
    has them together too, and so does the whole query found as it was written."""
    words = [c for c in concepts if not c.single_char] or concepts
    written = normalize(query).replace(" ", "")
    clauses: list[tuple[Occur, Query]] = []
    for concept in concepts:
        matched = _concept_query(schema, concept)
        clauses.append((Occur.Should, matched))
        if concept in words:
            clauses.append((Occur.Should, Query.const_score_query(matched, COVERAGE_SCORE)))
    runs = [first.text + second.text for first, second in pairwise(concepts)]
    whole = "".join(c.text for c in concepts)
    if len(concepts) > 2:
        runs.append(whole)
    for run in runs:
        if run in written:
            clauses.append((Occur.Should, Query.boost_query(Query.phrase_query(schema, "name_chars", list(run)),
                                                             NAME_PHRASE_BOOST)))
    if len(whole) > 1 and whole in written:
        clauses.append((Occur.Should, Query.boost_query(Query.phrase_query(schema, "chars", list(whole)),
                                                         PHRASE_BOOST)))
    return Query.boolean_query(clauses)


def lead_terms(query: str, concepts: list[Concept]) -> set[str]:
    """What a lead-source term of a hit must equal: a concept (canonical form), or the whole query."""
    terms = {t for c in concepts for t in c.terms}
    whole = normalize(query).replace(" ", "")
    if whole:
        terms.add(whole)
        whole_canonical = canonical(whole)
        if whole_canonical:
            terms.add(whole_canonical)
    return terms


def _stale_query(schema, stale: bool, now) -> Query:
    if stale:
        return Query.range_query(schema, "stale_after", tantivy.FieldType.Date, upper_bound=now, include_upper=False)
    return Query.range_query(schema, "stale_after", tantivy.FieldType.Date, lower_bound=now)


def build_query(schema, query: str, filters: SearchFilters, now=None, *, every_concept: bool = False
                ) -> tuple[Query, set[str], list[Concept]]:
    """(query with filters and the lead-source boost, lead terms, concepts). `every_concept`: the former
    ranking, where every concept must match (kept as a baseline of the relevance benchmark)."""
    if every_concept:
        concepts = query_concepts(query, stop=LEGACY_STOP)
        clauses: list[tuple[Occur, Query]] = [(Occur.Must, _concept_query(schema, c, inner_words=False))
                                               for c in concepts]
    else:
        concepts = query_concepts(query)
        clauses = [(Occur.Must, _ranked_concepts(schema, query, concepts))] if concepts else []
    filter_clauses: list[tuple[Occur, Query]] = []
    for name, values in filters.terms().items():
        field_name = search_index.FILTER_FIELDS[name]
        if name == "department":
            terms = [int(v) for v in values]
        elif name in search_index.ENUM_NUMBERS:
            terms = [search_index.ENUM_NUMBERS[name][v] for v in values]
        else:
            terms = values
        term = (
            Query.term_query(schema, field_name, terms[0], index_option="basic")
            if len(terms) == 1 else Query.term_set_query(schema, field_name, terms)
        )
        filter_clauses.append((Occur.Must, Query.const_score_query(term, 0.0)))
    if filters.stale is not None:
        filter_clauses.append((Occur.Must, Query.const_score_query(_stale_query(schema, filters.stale, now), 0.0)))
    if filters.quality_min is not None:
        scored = Query.range_query(schema, "quality", tantivy.FieldType.Integer,
                                   lower_bound=math.ceil(filters.quality_min * 10), upper_bound=None)
        filter_clauses.append((Occur.Must, Query.const_score_query(scored, 0.0)))
    leads = lead_terms(query, concepts) if concepts else set()
    if leads:
        lead = Query.boolean_query([(Occur.Should, _term(schema, "lead", t)) for t in sorted(leads)])
        clauses.append((Occur.Should, Query.const_score_query(lead, LEAD_BOOST)))
    clauses.extend(filter_clauses)
    if not concepts:
        clauses.append((Occur.Must, Query.all_query()))
    return Query.boolean_query(clauses), leads, concepts


def highlight(text: str, concepts: list[Concept]) -> str | None:
    """The name with the query's words in <em>, HTML-escaped; None when nothing matches literally."""
    lowered = normalize(text)
    if len(lowered) != len(text):  # a few non-ASCII letters change length when lower-cased
        return None
    marks = [False] * len(text)
    for concept in concepts:
        start = lowered.find(concept.text)
        while start >= 0:
            for i in range(start, min(start + len(concept.text), len(text))):
                marks[i] = True
            start = lowered.find(concept.text, start + 1)
    if not any(marks):
        return None
    out, open_ = [], False
    for char, marked in zip(text, marks, strict=True):
        if marked != open_:
            out.append("<em>" if marked else "</em>")
            open_ = marked
        out.append(html.escape(char))
    if open_:
        out.append("</em>")
    return "".join(out)


# ---------------------------------------------------------------- searching


def _labels() -> dict[str, dict[str, str]]:
    return {
        "level": {lv.value: LEVEL_LABELS[lv] for lv in Level},
        "share_type": ShareType.labels(),
        "format": DataFormat.labels(),
        "grade": Grade.labels(),
        "stale": {"true": "已过期", "false": "未过期"},
    }


def search(
    index_dir: Path | str,
    query: str = "",
    filters: SearchFilters | None = None,
    *,
    limit: int = 20,
    offset: int = 0,
    facets: bool = True,
    now=None,
    every_concept: bool = False,
    order: str = "relevance",
) -> dict:
    """Searches the published catalog. Returns {total, hits, facets, facet_labels, took_ms, notice}.
    `order`: relevance, or quality (the best overall score first; entries never checked last).
    `every_concept`: the former all-concepts ranking (a baseline of the relevance benchmark)."""
    started = time.perf_counter()
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"每页条数应在 1 到 {MAX_LIMIT} 之间：{limit}", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed(f"偏移量应在 0 到 {MAX_OFFSET} 之间：{offset}", field="offset")
    if order not in ORDERS:
        raise ValidationFailed(f"排序方式无效：{order}；可选：{'、'.join(f'{k}（{v}）' for k, v in ORDERS.items())}",
                               field="order")
    filters = filters or SearchFilters()
    target = search_index.get_index(index_dir)
    searcher = target.searcher()
    result = {"total": 0, "hits": [], "facets": {}, "facet_labels": {}, "took_ms": 0.0, "notice": None}
    if searcher is None or searcher.num_docs == 0:
        result["notice"] = EMPTY_NOTICE
        result["took_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return result
    schema = target.index().schema
    now = now or utcnow()
    full, leads, concepts = build_query(schema, query, filters, now, every_concept=every_concept)
    if order == "quality":
        found = searcher.search(full, limit=limit, offset=offset, count=True, order_by_field="quality")
    else:
        found = searcher.search(full, limit=limit, offset=offset, count=True)
    result["total"] = found.count
    for key, address in found.hits:
        hit = search_index.read_payload(searcher.doc(address).get_first("payload"))
        is_lead = bool(leads.intersection(hit.pop("lead")))
        score = 0.0 if order == "quality" else round(key - (LEAD_BOOST if is_lead else 0.0), 4)
        hit.update(score=score, is_lead_source=is_lead, highlight=highlight(hit["name"], concepts))
        result["hits"].append(hit)
    if facets:
        result["facets"], result["facet_labels"] = _facets(searcher, schema, full, found.count, filters, now)
    result["took_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


def _facets(searcher, schema, query: Query, total: int, filters: SearchFilters, now) -> tuple[dict, dict]:
    aggs = {
        name: {"terms": {"field": field_name, "size": FACET_SIZE}}
        for name, field_name in search_index.FACET_FIELDS.items()
    }
    raw = searcher.aggregate(query, aggs) if total else {}
    facets: dict[str, dict[str, int]] = {}
    labels = _labels()
    department_names: dict[str, str] = {}
    for name in search_index.FACET_FIELDS:
        buckets = raw.get(name, {}).get("buckets", [])
        counts: dict[str, int] = {}
        codes = search_index.ENUM_CODES.get(name)
        for bucket in buckets:
            key = bucket["key"]
            if name == "department":
                key, _, label = str(key).partition(search_index.DEPARTMENT_LABEL_SEP)
                department_names[key] = label
            elif codes is not None:
                number = int(key)
                key = codes[number] if 0 <= number < len(codes) else ""
            if key:
                counts[key] = int(bucket["doc_count"])
        facets[name] = counts
    if total and filters.stale is None:
        stale_count = searcher.search(
            Query.boolean_query([(Occur.Must, query), (Occur.Must, _stale_query(schema, True, now))]),
            limit=1, count=True,
        ).count
    else:
        stale_count = total if filters.stale else 0
    facets["stale"] = {"true": stale_count, "false": total - stale_count}
    labels["department"] = department_names
    return facets, labels


def index_status(index_dir: Path | str) -> dict:
    """Whether the index exists and how many documents it holds."""
    searcher = search_index.get_index(index_dir).searcher()
    return {"exists": searcher is not None, "documents": searcher.num_docs if searcher is not None else 0,
            "path": str(index_dir)}
