"""Data quality (R14): the rules of an entry, proposed and confirmed; runs over its source; scores.

Who does what: the provider's catalog manager or department reviewer declares, confirms and removes the rules
of its own entries and runs them; the platform admin imports reference tables; anyone who may read an entry
reads its rules and runs (a run's failing keys are masked as the gateway masks them). A proposed rule counts only
once the provider confirmed it."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from govshare.authz import Actor, require_own_department, require_role
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, DataItem
from govshare.catalog.vocab import STALE_AFTER_DAYS, EntryStatus, ItemType, UpdateCycle
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, DomainError, InvalidFields, NotFound, ValidationFailed, found
from govshare.gateway import masking, profiling
from govshare.gateway.models import DataSource
from govshare.gateway.service import item_rule, open_source
from govshare.gateway.sources import Query
from govshare.gateway.tokens import node_secret
from govshare.orgs.models import Role
from govshare.quality import engine
from govshare.quality.models import QualityRule, QualityRun, ReferenceTable
from govshare.quality.rules import STANDARD_CODES, Format, RuleKind, RuleSpec, parse_rule

PROVIDER_ROLES = (Role.CATALOG_MANAGER, Role.DEPT_REVIEWER)
MAX_SQL_ROWS = 5_000_000  # rows of a database table a run reads; beyond, the run is stated as a sample


class RunTrigger:
    CONNECT, SCHEDULE, DEMAND = "connect", "schedule", "demand"


# ---------------------------------------------------------------- whose entry


def may_manage(actor: Actor, entry: CatalogEntry) -> bool:
    """Whether the actor sets, confirms and runs the entry's rules: the provider's catalog managers and reviewers."""
    return actor.is_system or (actor.role in PROVIDER_ROLES and actor.department_id == entry.provider_id)


def _readable_entry(session: Session, actor: Actor, entry_id: int) -> CatalogEntry:
    return catalog.get_entry(session, actor, entry_id)


def _own_entry(session: Session, actor: Actor, entry_id: int, *, action: str) -> CatalogEntry:
    require_role(actor, *PROVIDER_ROLES, action=action)
    entry = catalog.get_entry(session, actor, entry_id)
    require_own_department(actor, entry.provider_id, action=action)
    return entry


def _items(entry: CatalogEntry) -> dict[str, DataItem]:
    return {item.name: item for item in entry.items}


def _reference_names(session: Session) -> set[str]:
    return set(session.scalars(select(ReferenceTable.name)))


def spec_of(rule: QualityRule) -> RuleSpec:
    return RuleSpec(RuleKind(rule.kind), rule.item, dict(rule.params or {}))


# ---------------------------------------------------------------- rules


def list_rules(session: Session, actor: Actor, entry_id: int) -> list[QualityRule]:
    entry = _readable_entry(session, actor, entry_id)
    return list(session.scalars(select(QualityRule).where(QualityRule.entry_id == entry.id).order_by(QualityRule.id)))


def _existing(session: Session, entry_id: int) -> set[RuleSpec]:
    return {spec_of(rule) for rule in session.scalars(select(QualityRule).where(QualityRule.entry_id == entry_id))}


def declare_rule(session: Session, actor: Actor, entry_id: int, raw: dict) -> QualityRule:
    """The provider declares a rule (in force at once). The same rule twice is refused naming the kind."""
    entry = _own_entry(session, actor, entry_id, action="设置质量规则")
    spec = parse_rule(raw, set(_items(entry)), _reference_names(session))
    if spec in _existing(session, entry.id):
        raise Conflict(f"该规则已存在：{spec.label}", field="rule.kind")
    rule = QualityRule(entry_id=entry.id, kind=spec.kind.value, item=spec.item, params=spec.params,
                       origin="declared", confirmed_at=utcnow(), confirmed_by_id=actor.user_id,
                       created_by_id=actor.user_id)
    session.add(rule)
    session.flush()
    return rule


def _rule_of_entry(session: Session, entry: CatalogEntry, rule_id: int) -> QualityRule:
    rule = session.get(QualityRule, rule_id)
    if rule is None or rule.entry_id != entry.id:
        raise NotFound(f"质量规则不存在：{rule_id}", field="rule_id")
    return rule


def confirm_rules(session: Session, actor: Actor, entry_id: int, rule_ids: list[int]) -> list[QualityRule]:
    """The provider confirms proposed rules: from then on they count."""
    entry = _own_entry(session, actor, entry_id, action="确认质量规则")
    if not rule_ids:
        raise ValidationFailed("请选择要确认的规则", field="rule_id")
    rules = [_rule_of_entry(session, entry, rule_id) for rule_id in rule_ids]
    now = utcnow()
    for rule in rules:
        if rule.confirmed_at is None:
            rule.confirmed_at, rule.confirmed_by_id = now, actor.user_id
    session.flush()
    return rules


def remove_rule(session: Session, actor: Actor, entry_id: int, rule_id: int) -> None:
    entry = _own_entry(session, actor, entry_id, action="删除质量规则")
    session.delete(_rule_of_entry(session, entry, rule_id))
    session.flush()


def proposals(entry: CatalogEntry, source: DataSource | None, references: set[str]) -> list[tuple[RuleSpec, str]]:
    """Rules the platform proposes for the entry, each with why: from the items' types and names and from what
    the source's profile found (kinds, items never empty)."""
    profiled = (source.profile or {}).get("items", {}) if source else {}
    items = _items(entry)
    found_rules: list[tuple[RuleSpec, str]] = []
    key = source.key_item if source else None
    if key in items:
        found_rules += [(RuleSpec(RuleKind.REQUIRED, key), "主键必须有值"),
                        (RuleSpec(RuleKind.UNIQUE, key), "主键不应重复")]
    id_item = None
    for name, item in items.items():
        kind = profiled.get(name, {}).get("kind") or masking.kind_from_name(item.chinese_name)
        format_ = _format_of(kind, item)
        if format_ is not None:
            found_rules.append((RuleSpec(RuleKind.FORMAT, name, {"format": format_.value}),
                                f"{item.chinese_name}的取值为{format_.label}"))
        if kind == profiling.Kind.ID_NUMBER and id_item is None:
            id_item = name
        if name != key and profiled.get(name, {}).get("nulls") == 0 and profiled[name].get("distinct"):
            found_rules.append((RuleSpec(RuleKind.REQUIRED, name), "数据源中该信息项没有空值"))
        if "性别" in item.chinese_name:
            sex_codes = {"standard": "GB/T 2261.1", "values": list(STANDARD_CODES["GB/T 2261.1"])}
            found_rules.append((RuleSpec(RuleKind.ENUM, name, sex_codes), "性别按 GB/T 2261.1 编码"))
        if "行政区划" in item.chinese_name and "admin_divisions" in references:
            found_rules.append((RuleSpec(RuleKind.REFERENCE, name, {"reference": "admin_divisions"}),
                                "行政区划代码应为有效代码"))
    births = [name for name, item in items.items()
              if (profiled.get(name, {}).get("kind") == profiling.Kind.BIRTH_DATE or "出生" in item.chinese_name)]
    if id_item and births:
        found_rules.append((RuleSpec(RuleKind.BIRTH_MATCHES_ID, births[0], {"other": id_item}),
                            "出生日期应与公民身份号码中的出生日期一致"))
    if UpdateCycle.parse(entry.update_cycle) not in (None, UpdateCycle.IRREGULAR):
        found_rules.append((RuleSpec(RuleKind.TIMELINESS, None), f"目录声明的更新周期为{entry.update_cycle}"))
    unique = {}
    for spec, why in found_rules:
        unique.setdefault(spec, why)
    return list(unique.items())


def _format_of(kind: str | None, item: DataItem) -> Format | None:
    by_kind = {profiling.Kind.ID_NUMBER: Format.ID_NUMBER, profiling.Kind.USCC: Format.USCC,
               profiling.Kind.MOBILE: Format.MOBILE, profiling.Kind.BANK_CARD: Format.BANK_CARD,
               profiling.Kind.BIRTH_DATE: Format.DATE, profiling.Kind.DATE: Format.DATE}
    if kind in by_kind:
        return by_kind[kind]
    if item.data_type in (ItemType.DATE, ItemType.DATETIME):
        return Format.DATE
    return None


def propose_rules(session: Session, actor: Actor, entry_id: int) -> list[QualityRule]:
    """Stores the platform's proposals the entry does not have yet, unconfirmed (the provider confirms them)."""
    entry = _own_entry(session, actor, entry_id, action="生成质量规则建议")
    return _store_proposals(session, entry, actor.user_id)


def _store_proposals(session: Session, entry: CatalogEntry, user_id: int | None) -> list[QualityRule]:
    source = session.scalars(select(DataSource).where(DataSource.entry_id == entry.id)).first()
    existing = _existing(session, entry.id)
    added = []
    for spec, why in proposals(entry, source, _reference_names(session)):
        if spec not in existing:
            rule = QualityRule(entry_id=entry.id, kind=spec.kind.value, item=spec.item, params=spec.params,
                               origin="proposed", basis=why, created_by_id=user_id)
            session.add(rule)
            added.append(rule)
    session.flush()
    return added


# ---------------------------------------------------------------- reference tables


def import_reference(session: Session, actor: Actor, name: str, label: str, codes: list[str],
                     source: str = "") -> ReferenceTable:
    """The platform admin imports (or replaces) a code list rules compare with."""
    require_role(actor, Role.PLATFORM_ADMIN, action="导入参照表")
    name, label = (name or "").strip(), (label or "").strip()
    errors = {}
    if not name or not name.replace("_", "").isalnum() or not name.isascii() or len(name) > 60:
        errors["name"] = "参照表名称应为字母、数字和下划线（最多 60 个字符），如 admin_divisions"
    if not label:
        errors["label"] = "必须填写参照表的中文名称"
    cleaned = sorted({str(code).strip() for code in codes if str(code).strip()})
    if not cleaned:
        errors["codes"] = "参照表没有任何代码"
    if errors:
        raise InvalidFields(errors)
    table = session.scalars(select(ReferenceTable).where(ReferenceTable.name == name)).first()
    if table is None:
        table = ReferenceTable(name=name)
        session.add(table)
    table.label, table.codes, table.source = label, cleaned, source.strip()[:500]
    table.imported_by_id, table.imported_at = actor.user_id, utcnow()
    session.flush()
    return table


def list_references(session: Session) -> list[ReferenceTable]:
    return list(session.scalars(select(ReferenceTable).order_by(ReferenceTable.name)))


# ---------------------------------------------------------------- runs


def _report_salt(session: Session) -> str:
    """One salt for every quality report of the node, apart from every requester's: a hashed key in a report
    cannot be matched with what a grant served."""
    return hmac.new(node_secret(settings_of(session)), b"mask:quality-report", hashlib.sha256).hexdigest()


def _timeliness(entry: CatalogEntry, source: DataSource, now: datetime) -> engine.RuleOutcome:
    """Checked once: is the data (the file's load, else the entry's declared update) newer than the update cycle
    allows? Unknown update time: not judged."""
    spec = RuleSpec(RuleKind.TIMELINESS, None)
    cycle = UpdateCycle.parse(entry.update_cycle)
    limit = STALE_AFTER_DAYS.get(cycle) if cycle else None
    updated = source.loaded_at if source.kind == "file" else entry.data_updated_at
    if limit is None or updated is None:
        return engine.RuleOutcome(spec, 0, 0)
    late = (now - updated).days > limit
    shown = [f"最近更新：{updated:%Y-%m-%d}，更新周期：{cycle.label}"] if late else []
    return engine.RuleOutcome(spec, 1, int(late), shown)


def run_quality(session: Session, actor: Actor, entry_id: int, trigger: str = RunTrigger.DEMAND) -> QualityRun:
    """Runs the entry's confirmed rules over its source now (the provider, or the system for a schedule)."""
    entry = _own_entry(session, actor, entry_id, action="检查数据质量")
    return _run(session, entry, actor, trigger)


@dataclass
class Prepared:
    """What a run reads: the source, the columns of the rules' items (and the key), the items' masking rules."""

    row: DataSource
    opened: object
    rules: list[RuleSpec]
    columns: dict[str, str]
    masks: dict[str, masking.Rule]


def _prepare(session: Session, entry: CatalogEntry) -> Prepared:
    """The run's inputs, or the reason it cannot run, naming the field (a 422 for a person; a failed run on the
    record for the schedule)."""
    if entry.status != EntryStatus.PUBLISHED:
        raise Conflict("只有已发布的目录可以检查数据质量", field="status")
    row = session.scalars(select(DataSource).where(DataSource.entry_id == entry.id,
                                                   DataSource.status == "connected")).first()
    if row is None:
        raise ValidationFailed("目录尚未接入数据源，无法检查数据质量", field="source")
    if row.kind == "http":
        raise ValidationFailed("上游接口数据源不能批量读取，无法检查数据质量", field="source")
    rules = [spec_of(r) for r in session.scalars(select(QualityRule).where(
        QualityRule.entry_id == entry.id, QualityRule.confirmed_at.is_not(None)).order_by(QualityRule.id))]
    if not rules:
        raise ValidationFailed("目录还没有已确认的质量规则：请先设置规则或确认平台建议的规则", field="rules")
    items = _items(entry)
    mapped = {name: column for name, column in (row.column_map or {}).items() if name in items}
    needed = {row.key_item} | {r.item for r in rules if r.item} | {r.params["other"] for r in rules
                                                                   if "other" in r.params}
    missing = sorted(needed - set(mapped))
    if missing:
        raise ValidationFailed(f"数据源未映射规则检查的信息项：{'、'.join(missing)}", field="column_map")
    profiled = (row.profile or {}).get("items", {})
    masks = {name: item_rule(items[name], {}, profiled) for name in needed}
    return Prepared(row, open_source(session, row), rules, {name: mapped[name] for name in sorted(needed)}, masks)


def _run(session: Session, entry: CatalogEntry, actor: Actor, trigger: str) -> QualityRun:
    prepared = _prepare(session, entry)
    run = QualityRun(entry_id=entry.id, trigger=trigger, status="running", actor_id=actor.user_id,
                     started_at=utcnow())
    session.add(run)
    try:
        outcome, method = _measure(session, entry, prepared)
    except DomainError as exc:
        run.status, run.error, run.finished_at = "failed", exc.message, utcnow()
        session.flush()
        return run
    _store_outcome(run, outcome, prepared, method)
    session.flush()
    session.info.setdefault("catalog_changed", set()).add(entry.id)  # search shows and sorts by the score
    return run


def _connection(session: Session) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection bounded like an export's: it spills to the node's data folder beyond the limit."""
    settings = settings_of(session)
    spill = settings.data_dir / "tmp" / "quality"
    spill.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"memory_limit": settings.export_memory_limit, "temp_directory": str(spill),
                                  "threads": 2})


def _measure(session: Session, entry: CatalogEntry, prepared: Prepared) -> tuple[engine.Outcome, str]:
    row = prepared.row
    limit = MAX_SQL_ROWS if row.kind == "sql" else None
    named = {r.params["reference"] for r in prepared.rules if r.kind == RuleKind.REFERENCE}
    references = {t.name: list(t.codes) for t in session.scalars(select(ReferenceTable)
                                                                  .where(ReferenceTable.name.in_(named)))}
    timeliness = (_timeliness(entry, row, utcnow())
                  if any(r.kind == RuleKind.TIMELINESS for r in prepared.rules) else None)
    connection = _connection(session)
    try:
        query = Query(columns=tuple(dict.fromkeys(prepared.columns.values())), limit=limit)
        relation, _ = prepared.opened.from_clause(connection, query)
        source = engine.Source(relation, prepared.columns, row.key_item, prepared.masks, _report_salt(session),
                               rereadable=row.kind != "sql")  # a table is streamed once
        outcome = engine.run(connection, source, prepared.rules, reference_tables=references, timeliness=timeliness)
    except duckdb.Error as exc:
        raise ValidationFailed(f"数据源读取失败：{exc.__class__.__name__}", field="source") from exc
    finally:
        connection.close()
    total = row.row_count
    sampled = limit is not None and total is not None and total > outcome.rows
    return outcome, f"按数据库返回顺序读取前 {outcome.rows:,} 行（共 {total:,} 行）" if sampled else ""


def _store_outcome(run: QualityRun, outcome: engine.Outcome, prepared: Prepared, method: str) -> None:
    run.status, run.finished_at = "done", utcnow()
    total = prepared.row.row_count
    run.rows_checked, run.total_rows = outcome.rows, total if total is not None else outcome.rows
    run.sampled, run.sample_method = bool(method), method
    for dimension in ("completeness", "accuracy", "consistency", "timeliness", "overall"):
        setattr(run, dimension, outcome.scores.get(dimension))
    run.results = [_result(o, prepared) for o in outcome.rules]


def _result(outcome: engine.RuleOutcome, prepared: Prepared) -> dict:
    """One rule's outcome as stored; `shown_as` is the masking rule its samples were masked with (a report shows
    them only while the item is still masked so: `samples_shown`)."""
    rule = outcome.rule
    shown_item = None if rule.kind == RuleKind.TIMELINESS else (
        rule.item if rule.kind == RuleKind.UNIQUE else prepared.row.key_item)
    return {"kind": rule.kind.value, "item": rule.item, "label": rule.label, "dimension": rule.dimension.value,
            "checked": outcome.checked, "failed": outcome.failed, "samples": outcome.samples,
            "shown_item": shown_item, "shown_as": prepared.masks[shown_item].text if shown_item else ""}


def samples_shown(session: Session, run: QualityRun) -> list[dict]:
    """The run's results with their samples hidden where the item they show is now masked otherwise than when the
    run was made (a regraded item: an old report must not show more than the gateway would now)."""
    entry = session.get(CatalogEntry, run.entry_id)
    source = session.scalars(select(DataSource).where(DataSource.entry_id == run.entry_id)).first()
    profiled = (source.profile or {}).get("items", {}) if source else {}
    items = _items(entry)
    shown = []
    for result in run.results or []:
        item = items.get(result.get("shown_item") or "")
        if item is not None and item_rule(item, {}, profiled).text != result.get("shown_as"):
            result = {**result, "samples": [], "samples_hidden": "信息项分级已变更，示例已隐去；请重新检查"}
        shown.append(result)
    return shown


def list_runs(session: Session, actor: Actor, entry_id: int, limit: int = 20) -> list[QualityRun]:
    entry = _readable_entry(session, actor, entry_id)
    return list(session.scalars(select(QualityRun).where(QualityRun.entry_id == entry.id)
                                .order_by(QualityRun.id.desc()).limit(limit)))


def get_run(session: Session, actor: Actor, run_id: int) -> QualityRun:
    """A run of an entry the actor may read; any other is not found (naming the run, not the entry)."""
    run = session.get(QualityRun, run_id)
    readable = run is not None and session.scalar(
        catalog.readable_entries(actor).where(CatalogEntry.id == run.entry_id).with_only_columns(CatalogEntry.id))
    return found(run if readable else None, f"质量检查记录不存在或无权查看：{run_id}", "run_id")


# ---------------------------------------------------------------- the schedule and the connect hook


def due_entries(session: Session, now: datetime) -> list[tuple[int, str]]:
    """(entry id, trigger) of the published entries with a connected (file or database) source and confirmed rules
    that are due: never checked or connected again since the last run (trigger `connect`), or last checked more
    than `quality_interval_days` ago (`schedule`); the former first."""
    interval = timedelta(days=settings_of(session).quality_interval_days)
    last_run = (select(QualityRun.entry_id, func.max(QualityRun.started_at).label("at"))
                .group_by(QualityRun.entry_id).subquery())
    has_rules = select(QualityRule.id).where(QualityRule.entry_id == CatalogEntry.id,
                                             QualityRule.confirmed_at.is_not(None)).exists()
    changed = or_(last_run.c.at.is_(None), last_run.c.at < DataSource.updated_at)
    query = (select(CatalogEntry.id, changed)
             .join(DataSource, DataSource.entry_id == CatalogEntry.id)
             .outerjoin(last_run, last_run.c.entry_id == CatalogEntry.id)
             .where(CatalogEntry.status == EntryStatus.PUBLISHED, DataSource.status == "connected",
                    DataSource.kind.in_(("file", "sql")), has_rules, or_(changed, last_run.c.at < now - interval))
             .order_by(changed.desc(), last_run.c.at, CatalogEntry.id))
    return [(entry_id, RunTrigger.CONNECT if is_new else RunTrigger.SCHEDULE)
            for entry_id, is_new in session.execute(query)]


def run_scheduled(session: Session, entry_id: int, trigger: str = RunTrigger.SCHEDULE) -> QualityRun:
    """The system's run of an entry (the worker: a source just connected, or the interval passed). A run that
    cannot start is on the record as failed, with why (so that the entry waits its interval instead of failing
    every round)."""
    entry = session.get(CatalogEntry, entry_id)
    try:
        return _run(session, entry, Actor.system(), trigger)
    except DomainError as exc:
        run = QualityRun(entry_id=entry_id, trigger=trigger, status="failed", error=exc.message,
                         started_at=utcnow(), finished_at=utcnow())
        session.add(run)
        session.flush()
        return run


def after_connect(session: Session, entry: CatalogEntry) -> None:
    """A source was (re)connected: the platform proposes rules for it. The confirmed rules run in the worker's
    next round (`due_entries`: trigger `connect`), in a unit of work of their own, never inside the connection's
    transaction (a large table is read for minutes, and a failing read must not undo the connection)."""
    _store_proposals(session, entry, None)


# ---------------------------------------------------------------- scores for search and supervision


def latest_scores(session: Session, entry_ids: list[int]) -> dict[int, float]:
    """The overall score of each entry's last completed run, for the entries that have one (search shows, filters
    and sorts by it; the authority's overview averages it per department)."""
    last = (select(func.max(QualityRun.id)).where(QualityRun.entry_id.in_(entry_ids), QualityRun.status == "done")
            .group_by(QualityRun.entry_id))
    rows = session.execute(select(QualityRun.entry_id, QualityRun.overall).where(QualityRun.id.in_(last)))
    return {entry_id: overall for entry_id, overall in rows if overall is not None}


def provider_scores(session: Session, department_ids: list[int]) -> dict[int, tuple[float, int]]:
    """Per department: the mean of its published entries' last overall scores, and how many were checked."""
    published = dict(session.execute(select(CatalogEntry.id, CatalogEntry.provider_id).where(
        CatalogEntry.provider_id.in_(department_ids), CatalogEntry.status == EntryStatus.PUBLISHED)).all())
    by_department: dict[int, list[float]] = {}
    for entry_id, score in latest_scores(session, list(published)).items():
        by_department.setdefault(published[entry_id], []).append(score)
    return {department: (engine.one_decimal_down(sum(scores) / len(scores)), len(scores))
            for department, scores in by_department.items()}
