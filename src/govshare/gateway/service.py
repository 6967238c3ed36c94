"""The gateway (R09, R10, R12, R17): the one function every read of shared data goes through.

`access(db, caller, call)` checks the caller and its grant, keeps only the granted items and rows,
masks by grade and grant, enforces the rate limit and quota, reads the source, and writes the usage
record before anything is returned. Refusals are recorded too (and repeated out-of-grant attempts
suspend the grant). The API, the UI's preview and exports all call it: there is no second path to data.

A call runs in three steps: decide (a read-only unit of work: the grant and what it allows), serve
(read the source and mask, outside any transaction of ours, so a slow source never holds our locks),
record (a short write: the chained usage record and the day's counters). Data leaves only after the
record is committed, so a crash never yields data without a record."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import duckdb
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, lazyload

from govshare.audit import chain
from govshare.audit.models import UsageRecord
from govshare.authz import Actor
from govshare.catalog.models import CatalogEntry, DataItem
from govshare.catalog.vocab import EntryStatus
from govshare.config import Settings, get_settings, settings_of
from govshare.db import Database, utcnow
from govshare.errors import DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from govshare.gateway import masking
from govshare.gateway.models import DataSource, GrantUsageDay
from govshare.gateway.sources import FileSource, HttpSource, Query, Source, SqlSource
from govshare.gateway.tokens import node_secret, read_token
from govshare.orgs.models import ConsumerSystem, Role
from govshare.sealing import unseal
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant
from govshare.workdays import service as workdays

MAX_PAGE = 1000
DEFAULT_PAGE = 100
PREVIEW_ROWS = 20
# refusals that count toward suspending a grant (R09): asking for what the grant does not cover
OUT_OF_GRANT = ("item_not_granted", "row_out_of_scope")


class Mode(StrEnum):
    LOOKUP = "lookup"
    PAGE = "page"
    VERIFY = "verify"
    EXPORT = "export"
    PREVIEW = "preview"


MODE_LABELS = {Mode.LOOKUP: "按键查询", Mode.PAGE: "分页查询", Mode.VERIFY: "核验", Mode.EXPORT: "批量导出",
               Mode.PREVIEW: "页面预览"}


class Refused(Forbidden):
    """A refusal of the gateway; `code` is the reason written to the usage record."""


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"


@dataclass(frozen=True)
class Caller:
    """Who calls: a consumer system presenting its access token, or a person using the UI (preview).
    `system_id` and `secret_version` are filled from the token by `access`."""

    token: str | None = None
    actor: Actor | None = None
    system_id: int | None = None
    secret_version: str | None = None

    @property
    def user_id(self) -> int | None:
        return self.actor.user_id if self.actor else None


@dataclass(frozen=True)
class Call:
    mode: Mode
    resource_code: str
    grant_id: int | None = None
    key: str | None = None
    items: tuple[str, ...] | None = None
    filters: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    cursor: str | None = None
    limit: int = DEFAULT_PAGE
    export_format: str = "csv"
    request_hash: str = ""


@dataclass
class Decision:
    """What the grant allows for this call (the output of `decide`)."""

    entry_id: int
    resource_code: str
    provider_id: int
    department_id: int | None
    grant_id: int | None
    system_id: int | None
    source: Source
    key_column: str
    order_column: str
    items: list[str]                      # item names served, in order
    columns: dict[str, str]               # item name -> source column
    rules: dict[str, masking.Rule]        # item name -> masking rule
    salt: str = ""
    scope: tuple[str, tuple[str, ...]] | None = None  # (source column, prefixes)
    scope_item: str | None = None


@dataclass
class Outcome:
    mode: Mode
    items: list[str]
    rows: list[dict] = field(default_factory=list)
    next_cursor: str | None = None
    verdict: str | None = None            # verify: match | no_match | not_found
    export_path: Path | None = None
    row_count: int = 0
    record_seq: int | None = None
    masking: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- the one function


def access(db: Database, caller: Caller, call: Call, now: datetime | None = None) -> Outcome:
    """Checks, reads, masks and records one call; raises the refusal (after recording it) otherwise."""
    now = now or utcnow()
    settings = db.settings or get_settings()
    decision: Decision | None = None
    try:
        caller = identify(settings, caller)
        with db.session(read_only=True) as session:
            decision = decide(session, caller, call, now)
        outcome = serve(decision, call, settings)
    except DomainError as refusal:
        record_refusal(db, caller, call, decision, refusal, now)
        raise
    found_nothing = (call.mode == Mode.LOOKUP and not outcome.rows) or outcome.verdict == "not_found"
    with db.session() as session:
        record = write_record(session, caller, call, decision, "not_found" if found_nothing else "ok",
                              outcome.row_count, now)
        outcome.record_seq = record.seq
    return outcome


def identify(settings: Settings, caller: Caller) -> Caller:
    """The caller with the system its token names (the token's signature and expiry checked here; that
    the system still exists and its secret is unchanged is checked with the grant)."""
    if caller.actor is not None:
        return caller
    claims = read_token(settings, caller.token or "")
    return replace(caller, system_id=claims.system_id, secret_version=claims.secret_version)


# ---------------------------------------------------------------- decide


def decide(session: Session, caller: Caller, call: Call, now: datetime) -> Decision:
    entry, source_row = _published_with_source(session, call.resource_code)
    grant = _grant_for(session, caller, call, entry, now)
    items = {item.name: item for item in _items(session, entry.id)}
    if grant is None:  # the provider previewing its own data
        allowed = list(items)
        department_id, rules = entry.provider_id, {name: masking.Rule("none") for name in items}
    else:
        granted_ids = set(grant.item_ids)
        allowed = [name for name, item in items.items() if item.id in granted_ids]
        department_id = grant.requester_id
        kinds = (source_row.profile or {}).get("items", {})
        rules = {name: item_rule(items[name], grant.masking or {}, kinds) for name in allowed}
        _check_mode(grant, call)
        _check_rate(session, grant, now)
    served = _requested_items(call, allowed)
    columns = dict(source_row.column_map or {})
    missing = [name for name in served if name not in columns]
    if missing:
        raise ValidationFailed(f"数据源未映射信息项：{'、'.join(missing)}", field="column_map")
    settings = settings_of(session)
    decision = Decision(
        entry_id=entry.id, resource_code=entry.resource_code, provider_id=entry.provider_id,
        department_id=department_id, grant_id=grant.id if grant else None, system_id=caller.system_id,
        source=open_source(session, source_row), key_column=columns.get(source_row.key_item, ""),
        order_column=FileSource.ROW if source_row.kind == "file" else columns.get(source_row.key_item, ""),
        items=served, columns=columns, rules={n: rules[n] for n in served},
        salt=masking.requester_salt(node_secret(settings), department_id or 0),
    )
    scope = grant.row_scope if grant else {}
    if scope and scope.get("item") and scope.get("prefixes"):
        decision.scope_item = scope["item"]
        decision.scope = (columns[scope["item"]], tuple(scope["prefixes"]))
    _check_filters(call, decision, allowed)
    return decision


def item_rule(item: DataItem, overrides: dict, profiled: dict) -> masking.Rule:
    """The grant's rule for the item if it names one, else the default of the item's grade and kind (the
    kind detected when the source was profiled, or guessed from the item's Chinese name)."""
    if item.name in overrides:
        return masking.parse_rule(overrides[item.name])
    kind = profiled.get(item.name, {}).get("kind") or masking.kind_from_name(item.chinese_name)
    return masking.default_rule(item.grade, item.personal_info, kind)


def _published_with_source(session: Session, resource_code: str) -> tuple[CatalogEntry, DataSource]:
    row = session.execute(
        select(CatalogEntry, DataSource).join(DataSource, DataSource.entry_id == CatalogEntry.id)
        .where(CatalogEntry.resource_code == resource_code).options(lazyload("*"))
    ).first()
    if row is None or row[0].status != EntryStatus.PUBLISHED or row[1].status != "connected":
        raise NotFound(f"资源不存在、未发布或未接入数据源：{resource_code}", field="resource_code", code="no_resource")
    return row[0], row[1]


def _items(session: Session, entry_id: int) -> list[DataItem]:
    return list(session.scalars(select(DataItem).where(DataItem.entry_id == entry_id)
                                .order_by(DataItem.position).options(lazyload("*"))))


def _grant_for(session: Session, caller: Caller, call: Call, entry: CatalogEntry, now: datetime) -> Grant | None:
    today = workdays.local_date(session, now)
    if caller.system_id is not None:
        system = session.execute(select(ConsumerSystem).where(ConsumerSystem.id == caller.system_id)
                                 .options(lazyload("*"))).scalar()
        if system is None or system.revoked_at or system.secret_hash[:12] != caller.secret_version:
            raise NotAuthenticated("应用系统凭据已更换或已吊销，请重新换取访问令牌", field="authorization",
                                   code="token_revoked")
        grant = _grant(session, call.grant_id, entry.id)
        problem = sharing.grant_refusal(grant, caller.system_id, today)
    elif caller.actor is not None:
        actor = caller.actor
        if call.grant_id is None and actor.department_id == entry.provider_id and call.mode == Mode.PREVIEW:
            return None  # the provider sees its own data, as stored
        grant = _grant(session, call.grant_id, entry.id)
        problem = sharing.grant_refusal(grant, None, today)
        if problem is None and (grant.requester_id != actor.department_id or call.mode != Mode.PREVIEW
                                or not actor.has(Role.REQUESTER, Role.DEPT_REVIEWER)):
            problem = Forbidden("只有申请部门的人员可以在页面预览本部门获授权的数据", field="grant", code="no_grant")
    else:
        raise NotAuthenticated("需要应用系统访问令牌", field="authorization", code="token_invalid")
    if problem is not None:
        raise Refused(problem.message, field=problem.field, code=problem.code)
    return grant


def _grant(session: Session, grant_id: int | None, entry_id: int) -> Grant | None:
    if grant_id is None:
        raise ValidationFailed("必须指明使用的共享授权（grant 参数）", field="grant")
    grant = session.execute(select(Grant).where(Grant.id == grant_id).options(lazyload("*"))).scalar()
    return grant if grant is not None and grant.entry_id == entry_id else None


def _check_mode(grant: Grant, call: Call) -> None:
    if grant.verify_only and call.mode != Mode.VERIFY:
        raise Refused("该授权仅限核验（只回答是否一致，不提供数据）", field="mode", code="verify_only")


def _check_rate(session: Session, grant: Grant, now: datetime) -> None:
    """Calls served in the last second against the grant's rate, and today's against its quota."""
    served = session.scalar(select(func.count()).select_from(UsageRecord).where(
        UsageRecord.grant_id == grant.id, UsageRecord.at > now - timedelta(seconds=1), UsageRecord.result == "ok"))
    if served >= grant.rate_limit:
        raise RateLimited(f"超过授权的调用频率（每秒 {grant.rate_limit} 次），请稍后重试", field="rate_limit",
                          code="rate_limited")
    if grant.daily_quota:
        today = workdays.local_date(session, now)
        calls = session.scalar(select(GrantUsageDay.calls).where(
            GrantUsageDay.grant_id == grant.id, GrantUsageDay.day == today)) or 0
        if calls >= grant.daily_quota:
            raise RateLimited(f"已用完授权的当日调用配额（{grant.daily_quota} 次）", field="daily_quota",
                              code="quota_exceeded")


def _requested_items(call: Call, allowed: list[str]) -> list[str]:
    if call.mode == Mode.VERIFY:
        asked = [name for name, _ in call.fields]
        if not asked:
            raise ValidationFailed("核验必须给出要比对的信息项（fields）", field="fields")
    else:
        asked = list(call.items) if call.items else list(allowed)
    outside = [name for name in asked if name not in allowed]
    if outside:
        raise Refused(f"请求的信息项不在授权范围内：{'、'.join(outside)}", field="items", code="item_not_granted")
    return asked


def _check_filters(call: Call, decision: Decision, allowed: list[str]) -> None:
    outside = [name for name, _ in call.filters if name not in allowed]
    if outside:
        raise Refused(f"筛选条件的信息项不在授权范围内：{'、'.join(outside)}", field="filter", code="item_not_granted")
    if decision.scope:
        for name, value in call.filters:
            if name == decision.scope_item and not str(value).startswith(decision.scope[1]):
                raise Refused(f"筛选条件超出授权的数据范围（{name}）", field="filter", code="row_out_of_scope")


def open_source(session: Session, row: DataSource) -> Source:
    if row.kind == "sql":
        return SqlSource(unseal(session, row.location), row.table_name)
    if row.kind == "file":
        return FileSource(settings_of(session).data_dir / row.location)
    if row.kind == "http":
        return HttpSource(unseal(session, row.location), key_param=row.table_name or "key")
    raise ValidationFailed(f"未知的数据源类型：{row.kind}", field="kind")


# ---------------------------------------------------------------- serve


def serve(decision: Decision, call: Call, settings: Settings) -> Outcome:
    labels = {name: rule.label for name, rule in decision.rules.items()}
    if call.mode == Mode.LOOKUP:
        rows = _lookup(decision, call.key, decision.items)
        return Outcome(call.mode, decision.items, rows=_masked(decision, rows), row_count=len(rows), masking=labels)
    if call.mode == Mode.VERIFY:
        return Outcome(call.mode, decision.items, verdict=_verify(decision, call), masking={})
    if call.mode in (Mode.PAGE, Mode.PREVIEW):
        return _page(decision, call, labels)
    if call.mode == Mode.EXPORT:
        return _export(decision, call, settings, labels)
    raise ValidationFailed(f"未知的访问方式：{call.mode}", field="mode")


def _lookup(decision: Decision, key: str | None, items: list[str]) -> list[dict]:
    """Rows whose key is `key`, with the scope item kept for the scope check. A row outside the grant's
    row scope is a refusal (recorded), not a 'not found': the requester asked for what it may not see."""
    if key is None or str(key).strip() == "":
        raise ValidationFailed("按键查询必须给出 key", field="key")
    wanted = list(dict.fromkeys([*items, *([decision.scope_item] if decision.scope_item else [])]))
    query = Query(columns=tuple(decision.columns[n] for n in wanted),
                  filters=((decision.key_column, str(key).strip()),))
    rows = [{name: row[decision.columns[name]] for name in wanted} for row in decision.source.rows(query)]
    if decision.scope_item:
        prefixes = decision.scope[1]
        if any(not str(row[decision.scope_item] or "").startswith(prefixes) for row in rows):
            raise Refused("查询的记录超出授权的数据范围", field="key", code="row_out_of_scope")
    return [{name: row[name] for name in items} for row in rows]


def _masked(decision: Decision, rows: list[dict]) -> list[dict]:
    maskers = {name: masking.python_masker(decision.rules[name], decision.salt) for name in decision.items}
    return [{name: maskers[name](_jsonable(row[name])) for name in decision.items} for row in rows]


def _jsonable(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _verify(decision: Decision, call: Call) -> str:
    """match / no_match / not_found: compares the given fields with the stored record, returns no data."""
    fields = dict(call.fields)
    key_item = next((n for n, c in decision.columns.items() if c == decision.key_column), None)
    key = call.key or fields.get(key_item or "")
    rows = _lookup(decision, key, list(fields))
    if not rows:
        return "not_found"
    same = any(all(_same(row[name], value) for name, value in fields.items()) for row in rows)
    return "match" if same else "no_match"


def _same(stored, given) -> bool:
    return str(stored if stored is not None else "").strip() == str(given if given is not None else "").strip()


def _source_query(decision: Decision, call: Call, *, limit: int | None, after=None) -> Query:
    return Query(
        columns=tuple(dict.fromkeys([*(decision.columns[n] for n in decision.items), decision.order_column])),
        filters=tuple((decision.columns[name], value) for name, value in call.filters),
        scope=decision.scope, order=decision.order_column, after=after, limit=limit)


def _page(decision: Decision, call: Call, labels: dict) -> Outcome:
    limit = PREVIEW_ROWS if call.mode == Mode.PREVIEW else max(1, min(int(call.limit or DEFAULT_PAGE), MAX_PAGE))
    after = decode_cursor(call.cursor) if call.cursor else None
    raw = decision.source.rows(_source_query(decision, call, limit=limit + 1, after=after))
    more = len(raw) > limit
    raw = raw[:limit]
    rows = [{name: row[decision.columns[name]] for name in decision.items} for row in raw]
    cursor = encode_cursor(raw[-1][decision.order_column]) if more and raw else None
    return Outcome(call.mode, decision.items, rows=_masked(decision, rows), next_cursor=cursor,
                   row_count=len(rows), masking=labels)


def encode_cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(_jsonable(value)).encode()).decode()


def decode_cursor(cursor: str):
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValidationFailed("分页游标无效", field="cursor") from exc


EXPORT_FORMATS = {"csv": "(FORMAT csv, HEADER true)", "parquet": "(FORMAT parquet, COMPRESSION zstd)"}


def _export(decision: Decision, call: Call, settings: Settings, labels: dict) -> Outcome:
    """Projection, scope and masking as one DuckDB statement streamed to a file: vectorized, and its
    memory bounded by `export_memory_limit` whatever the row count."""
    if call.export_format not in EXPORT_FORMATS:
        raise ValidationFailed("导出格式只能是 csv 或 parquet", field="format")
    folder = settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{decision.resource_code.replace('/', '_')}-{uuid.uuid4().hex}.{call.export_format}"
    connection = duckdb.connect()
    try:
        connection.execute(f"SET memory_limit = {masking.quote_literal(settings.export_memory_limit)}")
        connection.execute(f"SET temp_directory = {masking.quote_literal(tempfile.gettempdir())}")
        sql, params = export_sql(decision, call, connection)
        count = connection.execute(
            f"COPY ({sql}) TO {masking.quote_literal(str(path))} {EXPORT_FORMATS[call.export_format]}", params
        ).fetchone()[0]
    except duckdb.Error as exc:
        path.unlink(missing_ok=True)
        raise ValidationFailed(f"导出失败：{exc}", field="export") from exc
    finally:
        connection.close()
    return Outcome(call.mode, decision.items, export_path=path, row_count=int(count), masking=labels)


def export_sql(decision: Decision, call: Call, connection) -> tuple[str, list]:
    """The SELECT that projects, scopes and masks (public so the benchmark measures exactly this)."""
    query = _source_query(decision, call, limit=None)
    relation, filtered = decision.source.from_clause(connection, query)
    quoted, salt = masking.quote_identifier, decision.salt
    selected = ", ".join(
        masking.sql_expression(decision.rules[name], quoted(decision.columns[name]), salt) + " AS " + quoted(name)
        for name in decision.items)
    where, params = ("TRUE", []) if filtered else decision.source.where_sql(query)
    return f"SELECT {selected} FROM {relation} WHERE {where}", params


# ---------------------------------------------------------------- record


def write_record(session: Session, caller: Caller, call: Call, decision: Decision | None, result: str,
                 row_count: int, now: datetime, reason: str = "") -> UsageRecord:
    """The chained usage record of one call and the grant's day counters, in the caller's transaction."""
    grant_id = decision.grant_id if decision else call.grant_id
    items = decision.items if decision else list(call.items or [name for name, _ in call.fields])
    record = chain.append(
        session, at=now, department_id=decision.department_id if decision else (
            caller.actor.department_id if caller.actor else None),
        provider_id=decision.provider_id if decision else None, consumer_system_id=caller.system_id,
        user_id=caller.user_id, grant_id=grant_id, entry_id=decision.entry_id if decision else None,
        resource_code=call.resource_code, mode=str(call.mode), items=",".join(items), row_count=row_count,
        result=result, reason=reason, request_hash=call.request_hash or request_digest(call))
    if grant_id is not None:
        _count_day(session, grant_id, workdays.local_date(session, now), result, row_count)
    return record


def _count_day(session: Session, grant_id: int, day, result: str, rows: int) -> None:
    refused = 0 if result in ("ok", "not_found") else 1
    changed = session.execute(update(GrantUsageDay).where(GrantUsageDay.grant_id == grant_id, GrantUsageDay.day == day)
                              .values(calls=GrantUsageDay.calls + (1 - refused), rows=GrantUsageDay.rows + rows,
                                      refusals=GrantUsageDay.refusals + refused)).rowcount
    if not changed:
        session.add(GrantUsageDay(grant_id=grant_id, day=day, calls=1 - refused, rows=rows, refusals=refused))


def record_refusal(db: Database, caller: Caller, call: Call, decision: Decision | None, refusal: DomainError,
                   now: datetime) -> None:
    """Records a refused call and, after repeated attempts outside the grant, suspends the grant (R09)."""
    result = "not_found" if isinstance(refusal, NotFound) else "refused"
    with db.session() as session:
        write_record(session, caller, call, decision, result, 0, now, reason=refusal.code)
        if refusal.code in OUT_OF_GRANT and call.grant_id is not None:
            _maybe_suspend(session, call.grant_id, now)


def _maybe_suspend(session: Session, grant_id: int, now: datetime) -> None:
    settings = settings_of(session)
    window = now - timedelta(minutes=settings.suspend_window_minutes)
    attempts = session.scalar(select(func.count()).select_from(UsageRecord).where(
        UsageRecord.grant_id == grant_id, UsageRecord.at > window, UsageRecord.reason.in_(OUT_OF_GRANT)))
    if attempts >= settings.suspend_after_refusals:
        grant = session.get(Grant, grant_id)
        if grant is not None:
            sharing.suspend_grant(session, grant, f"{settings.suspend_window_minutes} 分钟内 {attempts} 次越权访问"
                                  "（请求未授权的信息项或超出数据范围），授权已自动暂停，待提供部门复核")


def request_digest(call: Call) -> str:
    """SHA-256 of what was asked (mode, resource, grant, key, items, filters, fields, cursor, format)."""
    payload = json.dumps([str(call.mode), call.resource_code, call.grant_id, call.key, call.items, call.filters,
                          call.fields, call.cursor, call.limit, call.export_format], ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
