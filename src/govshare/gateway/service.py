"""The gateway (R09, R10, R12, R17): the one function every read of shared data goes through.

`access(db, caller, call)` checks the caller and its grant, keeps only the granted items and rows,
masks by grade and grant, enforces the rate limit and quota, reads the source, and writes the usage
record before anything is returned. Refusals are recorded too (and repeated out-of-grant attempts
suspend the grant). The API, the UI's preview and exports all call it: there is no second path to data.

A call runs in three steps: decide (a read of the call's facts: the grant and what it allows; its one
write, last, takes the call's slot of the rate limit and quota in the database, `gateway.limits`), serve
(read the source and mask, outside any transaction of ours, so a slow source never holds our locks),
record (a short write: the chained usage record and the day's counters). Data leaves only after the
record is committed, so a crash never yields data without a record."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import sys
import tempfile
import threading
import uuid
import weakref
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import duckdb
from sqlalchemy import BigInteger, Integer, and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, lazyload

from govshare.audit import chain
from govshare.audit.models import UsageRecord
from govshare.authz import Actor, require_own_department, require_role
from govshare.catalog import grades
from govshare.catalog.models import CatalogEntry, DataItem
from govshare.catalog.vocab import EntryStatus
from govshare.config import Settings, get_settings, settings_of
from govshare.db import Database, utcnow
from govshare.errors import Conflict, DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from govshare.gateway import connections, limits, masking, profiling
from govshare.gateway.models import DataSource, GrantUsageDay
from govshare.gateway.sources import FileSource, HttpSource, Query, Source, SqlSource
from govshare.gateway.tokens import node_secret, read_token
from govshare.objections import service as objections
from govshare.objections.models import Objection
from govshare.orgs.models import ConsumerSystem, Role
from govshare.prepared import Prepared, Raw, raw_connection
from govshare.sealing import unseal
from govshare.sharing import service as sharing
from govshare.sharing.models import Grant
from govshare.sharing.vocab import GrantStatus
from govshare.workdays import service as workdays

logger = logging.getLogger(__name__)

MAX_PAGE = 1000
DEFAULT_PAGE = 100
PREVIEW_ROWS = 20
# refusals that count toward suspending a grant (R09): asking for what the grant does not cover
OUT_OF_GRANT = ("item_not_granted", "row_out_of_scope")
# results of calls that were answered (the others count as the day's refusals)
ANSWERED = ("ok", "not_found")


class Mode(StrEnum):
    LOOKUP = "lookup"
    PAGE = "page"
    VERIFY = "verify"
    EXPORT = "export"
    PREVIEW = "preview"


# what a person may do through the UI with the own department's grant: see its first rows, or verify a record
PERSON_MODES = frozenset({Mode.PREVIEW, Mode.VERIFY})
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
    export_headers: str = "chinese"  # a CSV's header row: the items' Chinese names, or "field" names
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
    key_item: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)  # item name -> credit code / ID number kind
    titles: dict[str, str] = field(default_factory=dict)  # item name -> Chinese name (a CSV's headers)
    objections_open: bool = False  # the entry has records under verification (R13): find the served ones


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
    keys: list = field(default_factory=list)  # the served rows' keys, unmasked (internal: read only when flagging)
    # R13: the open objection of each served row (None: not under verification), and of the export or verdict
    row_objections: list[int | None] = field(default_factory=list)
    under_verification: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- the one function


def access(db: Database, caller: Caller, call: Call, now: datetime | None = None) -> Outcome:
    """Checks, reads, masks and records one call; raises the refusal (after recording it) otherwise."""
    now = now or utcnow()
    settings = db.settings or get_settings()
    decision: Decision | None = None
    try:
        caller = identify(settings, caller)
        decision = decide(db, caller, call, now)
        outcome = serve(decision, call, settings)
        if decision.objections_open:
            flag_under_verification(db, decision, call, outcome)
    except DomainError as refusal:
        record_refusal(db, caller, call, decision, refusal, now)
        raise
    except Exception as failure:  # a bug or a broken source: the attempt is on the record all the same
        _record_failure(db, caller, call, decision, failure, now)
        raise
    found_nothing = (call.mode == Mode.LOOKUP and not outcome.rows) or outcome.verdict == "not_found"
    result = "not_found" if found_nothing else "ok"
    try:
        seq = record_writer(db).write(served_record(caller, call, decision, result, outcome.row_count, now))
    except BaseException:
        # no record, no data: the export file already written must not outlive the failed call
        if outcome.export_path is not None:
            outcome.export_path.unlink(missing_ok=True)
        raise
    outcome.record_seq = seq
    return outcome


class _Slot:
    """One caller's record on its way to the database, and how the caller is woken: its seq (or the error
    of its batch) once committed, or the turn to lead the next batch."""

    __slots__ = ("error", "lead", "seq", "values", "woken")

    def __init__(self, values: dict) -> None:
        self.values, self.seq, self.error, self.lead = values, None, None, False
        self.woken = threading.Event()


LOCK_SWITCH_INTERVAL = 0.0001  # seconds


class RecordWriter:
    """Group commit of usage records, led by the callers themselves. A caller that finds no batch being
    written writes its own record at once (no thread to wake: the usual case at low load). Callers that
    arrive meanwhile queue up; when the leader's batch is committed, the first of them leads the next
    batch, with everything queued by then: one transaction (one INSERT, one move of the chain head, one
    counter update per grant) for all of them. Each caller answers only after its own record is
    committed, and under load N calls cost one write lock and one commit instead of N."""

    BATCH = 256

    def __init__(self, db: Database) -> None:
        self._db = weakref.ref(db)  # the writer lives as long as its Database, not longer
        self.timezone = (db.settings or get_settings()).timezone
        self.lock = threading.Lock()
        self.queued: list[_Slot] = []
        self.writing = False
        self.connection: Raw | None = None  # used by one leader at a time
        self.generation = db.disposals

    @property
    def db(self) -> Database:
        return self._db()

    def write(self, values: dict) -> int:
        """Writes one record in the next batch; returns its seq once committed."""
        slot = _Slot(values)
        with self.lock:
            self.queued.append(slot)
            lead = not self.writing
            self.writing = True
        if not lead:
            slot.woken.wait()
        if lead or slot.lead:
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.seq

    def _lead(self) -> None:
        """Writes a batch, then passes the lead to the first caller queued since."""
        batch: list[_Slot] = []
        try:
            self._commit(batch)
        finally:
            with self.lock:
                successor = self.queued[0] if self.queued else None
                self.writing = successor is not None
            for slot in batch:
                if slot.seq is None and slot.error is None:  # the leader was interrupted mid-write
                    slot.error = RuntimeError("usage record not written")
                slot.woken.set()
            if successor is not None:
                successor.lead = True
                successor.woken.set()

    def _take(self, batch: list[_Slot]) -> None:
        with self.lock:
            batch.extend(self.queued[:self.BATCH])
            del self.queued[:self.BATCH]

    def _commit(self, batch: list[_Slot], retry: bool = False) -> None:
        """Takes the write lock and the chain head first and the queued records then, so the callers that
        arrive while the lock is awaited (another process writing) join this batch instead of waiting for
        the next."""
        try:
            db = self.db
            if self.connection is None or self.generation != db.disposals:  # none yet, or closed by dispose
                self.connection, self.generation = db.writer_connection(), db.disposals
            # While this process holds the write lock (other processes wait for it), a thread that has the
            # GIL gives it back within 0.1 ms instead of the usual switch interval: every statement of the
            # transaction releases the GIL and must get it back, and those waits would lengthen the lock.
            interval = sys.getswitchinterval()
            sys.setswitchinterval(min(interval, LOCK_SWITCH_INTERVAL))
            try:
                with db.raw_transaction(self.connection) as raw:
                    head = chain.lock_head(raw)
                    if not retry:
                        self._take(batch)
                    written = chain.append_raw(raw, [slot.values for slot in batch], head)
                    count_days(raw, self.timezone, written)
            finally:
                sys.setswitchinterval(interval)
        except Exception as error:
            self._drop_connection()  # a failed transaction may have left it broken (a restarted database)
            if retry:
                batch[0].error = error
                return
            if not batch:  # failed before the records were taken (the connection was lost): take them now
                self._take(batch)
            # once more, one by one, on a fresh connection: a lost connection fails nobody, and one bad
            # record fails only its own caller
            for slot in batch:
                self._commit([slot], retry=True)
            return
        for slot, values in zip(batch, written, strict=True):
            slot.seq = values["seq"]

    def _drop_connection(self) -> None:
        if self.connection is not None:
            try:
                self.connection.connection.close()
            except Exception:
                logger.warning("usage-record writer connection could not be closed", exc_info=True)
            self.connection = None


_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def record_writer(db: Database) -> RecordWriter:
    with _writers_lock:
        writer = _writers.get(db)
        if writer is None:
            writer = _writers[db] = RecordWriter(db)
        return writer


def identify(settings: Settings, caller: Caller) -> Caller:
    """The caller with the system its token names (the token's signature and expiry checked here; that
    the system still exists and its secret is unchanged is checked with the grant)."""
    if caller.actor is not None:
        return caller
    claims = read_token(settings, caller.token or "")
    return replace(caller, system_id=claims.system_id, secret_version=claims.secret_version)


# ---------------------------------------------------------------- decide


def decide(db: Database, caller: Caller, call: Call, now: datetime) -> Decision:
    """What the call may have: the grant's items, rows and masking. Rights are checked before the rate,
    so a request outside the grant is refused as such (and counts toward suspension) even when it also
    comes too fast."""
    settings = db.settings or get_settings()
    today = workdays.day_in_zone(settings.timezone, now)
    with db.raw() as raw:
        facts = call_facts(raw, caller, call, today)
    entry = _published_with_source(facts, call.resource_code)
    plan = _plan(db, entry)
    grant = _grant_for(caller, call, facts, today)
    if grant is None:  # the provider previewing its own data, as stored
        granted, department_id = plan.own, entry.provider_id
    else:
        _check_mode(grant, call)
        granted, department_id = plan.granted(grant), grant.requester_id
    served = _requested_items(call, granted)
    columns = plan.columns
    missing = [name for name in served if name not in columns]
    if missing:
        raise ValidationFailed(f"数据源未映射信息项：{'、'.join(missing)}", field="column_map")
    decision = Decision(
        entry_id=entry.id, resource_code=entry.resource_code, provider_id=entry.provider_id,
        department_id=department_id, grant_id=grant.id if grant else None, system_id=caller.system_id,
        source=plan.source, key_column=plan.key_column, order_column=plan.order_column,
        items=served, columns=columns, rules={n: granted.rules[n] for n in served},
        salt=masking.requester_salt(node_secret(settings), department_id or 0),
        key_item=plan.key_item, identifiers=plan.identifiers,
        titles={name: plan.items[name].chinese_name for name in served if name in plan.items},
        objections_open=bool(facts.open_objections),
    )
    scope = grant.row_scope if grant else {}
    if scope and scope.get("item") and scope.get("prefixes"):
        if scope["item"] not in columns:
            raise ValidationFailed(f"数据源未映射限定范围的信息项：{scope['item']}", field="column_map")
        decision.scope_item = scope["item"]
        decision.scope = (columns[scope["item"]], tuple(str(p) for p in scope["prefixes"]))
    _check_filters(call, decision, granted)
    if grant is not None:
        _check_rate(db, grant, facts, now, today)
    return decision


def item_rule(item: DataItem, overrides: dict, profiled: dict) -> masking.Rule:
    """The grant's rule for the item if it names one, else the default of the item's grade and kind (the
    kind detected when the source was profiled, or guessed from the item's Chinese name). 核心 items are
    withheld whatever the grant says: they are verified, never read (R17, catalog.grades)."""
    if grades.verify_only(item.grade):
        return masking.Rule("null")
    if item.name in overrides:
        return masking.parse_rule(overrides[item.name], field=f"masking.{item.name}")
    kind = profiled.get(item.name, {}).get("kind") or masking.kind_from_name(item.chinese_name)
    return masking.default_rule(item.grade, item.personal_info, kind)


ENTRY_COLUMNS = (CatalogEntry.id, CatalogEntry.resource_code, CatalogEntry.provider_id, CatalogEntry.status,
                 CatalogEntry.version, CatalogEntry.updated_at, DataSource.id.label("source_id"),
                 DataSource.status.label("source_status"), DataSource.updated_at.label("source_updated_at"))


# Every call asks the same facts: the entry and its source, the named grant, the calling system, the
# grant's counters of today (calls, and calls in the current second), and whether any record of the entry is
# under verification (an indexed count; only then are the served keys looked up, R13). One prepared
# statement, plain row back, with only the grant columns the checks read; its JSON and dates are converted
# once per stored value (memoize), so the grant's lists and dicts in the row are shared and only ever read.
GRANT_FIELDS = ("id", "entry_id", "requester_id", "consumer_system_id", "item_ids", "row_scope", "verify_only",
                "period_start", "period_end", "rate_limit", "daily_quota", "masking", "status", "updated_at")
GRANT_COLUMNS = tuple(Grant.__table__.c[name].label(f"g_{name}") for name in GRANT_FIELDS)
OPEN_OBJECTIONS = (select(func.count()).where(Objection.entry_id == CatalogEntry.id, Objection.status == "open")
                   .correlate(CatalogEntry).scalar_subquery().label("open_objections"))
CALL_FACTS = Prepared(
    select(*ENTRY_COLUMNS, *GRANT_COLUMNS, OPEN_OBJECTIONS, ConsumerSystem.revoked_at.label("system_revoked_at"),
           ConsumerSystem.secret_hash.label("system_secret_hash"), ConsumerSystem.id.label("system_id"),
           GrantUsageDay.calls.label("calls_today"), GrantUsageDay.second.label("rate_second"),
           GrantUsageDay.second_calls.label("rate_calls"))
    .select_from(CatalogEntry)
    .join(DataSource, DataSource.entry_id == CatalogEntry.id)
    .outerjoin(Grant, Grant.id == bindparam("grant_id"))
    .outerjoin(ConsumerSystem, ConsumerSystem.id == bindparam("system_id"))
    .outerjoin(GrantUsageDay, and_(GrantUsageDay.grant_id == Grant.id, GrantUsageDay.day == bindparam("day")))
    .where(CatalogEntry.resource_code == bindparam("code")),
    memoize=True,
)


def call_facts(raw: Raw, caller: Caller, call: Call, today: date):
    rows = CALL_FACTS.rows(raw, {"code": call.resource_code, "grant_id": call.grant_id,
                                 "system_id": caller.system_id, "day": today})
    return rows[0] if rows else None


def _published_with_source(row, resource_code: str):
    """The entry and its source's state, from the call's facts."""
    if row is None or row.status != EntryStatus.PUBLISHED or row.source_status != "connected":
        raise NotFound(f"资源不存在、未发布或未接入数据源：{resource_code}", field="resource_code", code="no_resource")
    return row


@dataclass(frozen=True)
class Granted:
    """What a call may touch of an entry: the items covered, in order; those of them that may be read (核心
    items are for verification only, R17); those that may only be verified; the masking rule of each."""

    items: list[str]
    readable: list[str]
    verify_only: frozenset[str]
    rules: dict[str, masking.Rule]


@dataclass(frozen=True)
class Plan:
    """What does not change between two calls on one version of an entry and its source: the items, the
    column map, the detected kinds and the opened source. Cached by (entry, version, source update)."""

    items: dict[str, DataItem]
    columns: dict[str, str]
    kinds: dict
    source: Source
    key_column: str
    order_column: str
    key_item: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)  # item name -> kind whose values are normalized
    _granted: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def own(self) -> Granted:
        """The provider previewing its own data: every item, as stored."""
        names = list(self.items)
        return Granted(names, names, frozenset(), {name: masking.Rule("none") for name in names})

    def granted(self, grant) -> Granted:
        """The items a grant covers and their masking rules; worked out once per grant version."""
        key = (grant.id, grant.updated_at, tuple(grant.item_ids), repr(grant.masking))  # repr: exact and cheap
        known = self._granted.get(key)
        if known is None:
            granted_ids = set(grant.item_ids)
            covered = [item for item in self.items.values() if item.id in granted_ids]
            verify_only = frozenset(item.name for item in covered if grades.verify_only(item.grade))
            known = Granted(
                items=[item.name for item in covered],
                readable=[item.name for item in covered if item.name not in verify_only], verify_only=verify_only,
                rules={item.name: item_rule(item, grant.masking or {}, self.kinds) for item in covered})
            if len(self._granted) > 256:
                self._granted.clear()
            self._granted[key] = known
        return known


_plans: dict[tuple, Plan] = {}


def _plan(db: Database, entry) -> Plan:
    key = (db.url, entry.id, entry.version, entry.updated_at, entry.source_id, entry.source_updated_at)
    plan = _plans.get(key)
    if plan is None:
        with db.session(read_only=True) as session:
            plan = _new_plan(session, entry)
        if len(_plans) > 512:
            _plans.clear()
        _plans[key] = plan
    return plan


def _new_plan(session: Session, entry) -> Plan:
    source_row = session.get(DataSource, entry.source_id)
    columns = dict(source_row.column_map or {})
    items = {item.name: item for item in _items(session, entry.id)}
    for item in items.values():
        session.expunge(item)  # cached across sessions: plain, detached values
    key_column = columns.get(source_row.key_item, "")
    kinds = (source_row.profile or {}).get("items", {})
    found = {name: (kinds.get(name) or {}).get("kind") for name in items}
    if found.get(source_row.key_item) is None:  # the key's kind as the file's loader checked it
        found[source_row.key_item] = (source_row.load_report or {}).get("key_kind")
    identifiers = {name: kind for name, item in items.items()
                   if (kind := profiling.identifier_kind(found.get(name), item.chinese_name))}
    return Plan(items=items, columns=columns, kinds=kinds,
                source=open_source(session, source_row), key_column=key_column,
                order_column=FileSource.ROW if source_row.kind == "file" else key_column,
                key_item=source_row.key_item, identifiers=identifiers)


def _items(session: Session, entry_id: int) -> list[DataItem]:
    return list(session.scalars(select(DataItem).where(DataItem.entry_id == entry_id)
                                .order_by(DataItem.position).options(lazyload("*"))))


def _grant_for(caller: Caller, call: Call, facts, today: date) -> Grant | None:
    entry = facts
    if caller.system_id is not None:
        if (facts.system_id is None or facts.system_revoked_at
                or facts.system_secret_hash[:12] != caller.secret_version):
            raise NotAuthenticated("应用系统凭据已更换或已吊销，请重新换取访问令牌", field="authorization",
                                   code="token_revoked")
        grant = _grant(facts, call.grant_id)
        problem = sharing.grant_refusal(grant, caller.system_id, today)
    elif caller.actor is not None:
        actor = caller.actor
        if call.grant_id is None and call.mode == Mode.PREVIEW:
            if actor.department_id == entry.provider_id:
                return None  # the provider sees its own data, as stored
            raise Refused("只有提供部门可以不凭授权预览本部门的数据；需求部门须指明本部门获得的共享授权",
                          field="grant", code="no_grant")
        grant = _grant(facts, call.grant_id)
        # whose grant it is comes first: another department learns nothing of its state
        if grant is not None and (grant.requester_id != actor.department_id or call.mode not in PERSON_MODES
                                  or not actor.has(Role.REQUESTER, Role.DEPT_REVIEWER)):
            grant = None
        problem = sharing.grant_refusal(grant, None, today)
        if grant is None:
            problem = Forbidden("只有申请部门的需求人员或审核人员可以在页面预览或核验本部门获授权的数据",
                                field="grant", code="no_grant")
    else:
        raise NotAuthenticated("需要应用系统访问令牌", field="authorization", code="token_invalid")
    if problem is not None:
        raise Refused(problem.message, field=problem.field, code=problem.code)
    return grant


def _grant(facts, grant_id: int | None) -> Grant | None:
    """The named grant (its columns from the call's facts), if it is a grant of this entry."""
    if grant_id is None:
        raise ValidationFailed("必须指明使用的共享授权（grant 参数）", field="grant")
    if facts.g_id is None or facts.g_entry_id != facts.id:
        return None
    return SimpleNamespace(**{name: getattr(facts, f"g_{name}") for name in GRANT_FIELDS})


def _check_mode(grant: Grant, call: Call) -> None:
    if grant.verify_only and call.mode != Mode.VERIFY:
        raise Refused("该授权仅限核验（只回答是否一致，不提供数据）", field="mode", code="verify_only")


def _check_rate(db: Database, grant: Grant, facts, now: datetime, today: date) -> None:
    """Reserves the call's slot of the grant's rate (calls in the current clock second) and of its daily
    quota, or refuses it. The counters are in the database (`gateway.limits`): one conditional UPDATE of the
    grant's day row takes the slot atomically, so the limits are exact across the threads and worker
    processes of a node (and the nodes sharing one PostgreSQL), calls in flight included. The last step of
    `decide`: a call refused for its rights takes no slot. A slot taken counts whatever the call's result
    then is (answered, nothing found — else probing for keys would be unlimited —, failed, refused by a
    check of the served step): it is a call attempted within the grant. The counters read with the call's
    facts refuse at once, without a write, a call that cannot have a slot (counters only grow within their
    second and day)."""
    second, quota = epoch_second(now), grant.daily_quota
    if facts.rate_second == second and (facts.rate_calls or 0) >= grant.rate_limit:
        raise _rate_limited(grant)
    if quota and (facts.calls_today or 0) >= quota:
        raise _quota_exceeded(grant)
    calls = limits.reserve(db, grant.id, today, second, grant.rate_limit, quota)
    if calls is not None:
        raise _quota_exceeded(grant) if quota and calls >= quota else _rate_limited(grant)


def _rate_limited(grant: Grant) -> RateLimited:
    return RateLimited(f"超过授权的调用频率（每秒 {grant.rate_limit} 次），请稍后重试", field="rate_limit",
                       code="rate_limited")


def _quota_exceeded(grant: Grant) -> RateLimited:
    return RateLimited(f"已用完授权的当日调用配额（{grant.daily_quota} 次）", field="daily_quota",
                       code="quota_exceeded")


def epoch_second(moment: datetime) -> int:
    """The clock second of a stored (naive UTC) moment, as whole seconds since the epoch."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def _requested_items(call: Call, granted: Granted) -> list[str]:
    """The items the call asks for (a read without a list: every item it may read), all within the grant;
    核心 items only in a verification (R17)."""
    if call.mode == Mode.VERIFY:
        asked = [name for name, _ in call.fields]
        if not asked:
            raise ValidationFailed("核验必须给出要比对的信息项（fields）", field="fields")
    else:
        asked = list(dict.fromkeys(call.items)) if call.items else list(granted.readable)
    outside = [name for name in asked if name not in granted.rules]
    if outside:
        raise Refused(f"请求的信息项不在授权范围内：{'、'.join(outside)}", field="items", code="item_not_granted")
    if call.mode != Mode.VERIFY and granted.verify_only:
        core = granted.verify_only.intersection(asked) if asked else granted.verify_only  # nothing readable
        _refuse_verify_only(call, core, "items")
    return asked


def _refuse_verify_only(call: Call, names, field_name: str) -> None:
    """核心 items leave only as verification answers (R17, R09): reading them, or selecting rows by them, is
    refused with `core_verify_only`."""
    if names:
        listed = "、".join(sorted(names))
        raise Refused(f"核心数据仅提供核验（返回一致/不一致），不能{MODE_LABELS[call.mode]}：{listed}",
                      field=field_name, code="core_verify_only")


def _check_filters(call: Call, decision: Decision, granted: Granted) -> None:
    """A call selects rows only by granted items (R09), never by a 核心 item (R17), with values a source can
    hold, within the row scope (R09), and only by items served as stored: an equality filter on a masked,
    hashed or withheld item would confirm its hidden value row by row (R17). The scope is checked before the
    masking, so a value outside the scope counts toward suspension whatever the item's rule."""
    outside = [name for name, _ in call.filters if name not in granted.rules]
    if outside:
        raise Refused(f"筛选条件的信息项不在授权范围内：{'、'.join(outside)}", field="filter", code="item_not_granted")
    if granted.verify_only and call.filters:
        _refuse_verify_only(call, granted.verify_only.intersection(name for name, _ in call.filters), "filter")
    for _, value in call.filters:
        _check_text(value, "filter", "筛选条件的值")
    if decision.scope:
        for name, value in _filters(decision, call):
            if name == decision.scope_item and not str(value).startswith(decision.scope[1]):
                raise Refused(f"筛选条件超出授权的数据范围（{name}）", field="filter", code="row_out_of_scope")
    masked = [name for name in dict.fromkeys(name for name, _ in call.filters) if granted.rules[name].name != "none"]
    if masked:
        listed = "、".join(f"{name}（{granted.rules[name].label}）" for name in masked)
        raise Refused(f"不能按脱敏或不提供的信息项筛选（筛选结果会证实被遮蔽的值）：{listed}；"
                      "只能按授权中不脱敏的信息项筛选，已知主键的记录请用按键查询", field="filter",
                      code="filter_on_masked_item")


# Text no source holds (PostgreSQL refuses NUL; an unpaired surrogate is not UTF-8): bad input, refused as
# such, rather than sent on to fail at the source as a source error (or match on one kind of source only).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def normalized(decision: Decision, name: str | None, value):
    """A value given for item `name` as its kind defines it (`profiling.normalize_identifier`: a credit code or
    ID number in upper case, half-width, without spaces), so that `91310120734580606x` or a full-width ID
    number finds its row. The one place keys, filters and verified fields are normalized, before the source is
    read and before the row scope is checked. Values of other items are left as given."""
    kind = decision.identifiers.get(name or "")
    return value if value is None or kind is None else profiling.normalize_identifier(value, kind)


def _filters(decision: Decision, call: Call) -> tuple[tuple[str, str], ...]:
    return tuple((name, normalized(decision, name, value)) for name, value in call.filters)


def _check_text(value, field_name: str, label: str) -> None:
    if UNSTORABLE.search(str(value)):
        raise ValidationFailed(f"{label}不能包含空字符（NUL）或无效的 Unicode 字符", field=field_name)


def open_source(session: Session, row: DataSource) -> Source:
    if row.kind == "sql":
        url = unseal(session, row.location)
        if connections.node_database_source(session, row, url):  # made by a typed URL before connections
            raise Refused("该数据源指向平台自身的数据库，不能提供", field="source", code="source_refused")
        return _sql_source(url, row.table_name, row.updated_at)
    if row.kind == "file":
        return FileSource(settings_of(session).data_dir / row.location)
    if row.kind == "http":
        internal = bool(row.connection and row.connection.internal)
        return HttpSource(unseal(session, row.location), key_param=row.table_name or "key", internal=internal)
    raise ValidationFailed(f"未知的数据源类型：{row.kind}", field="kind")


@lru_cache(maxsize=256)
def _sql_source(url: str, table_name: str, connected_at) -> SqlSource:
    """One SqlSource per connected table, so its reflected columns are read once, not on every call (a
    reconnection changes `connected_at`, the row's update time, and so reads them again)."""
    return SqlSource(url, table_name)


# ---------------------------------------------------------------- serve


def serve(decision: Decision, call: Call, settings: Settings) -> Outcome:
    labels = {name: rule.label for name, rule in decision.rules.items()}
    if isinstance(decision.source, HttpSource) and call.mode not in (Mode.LOOKUP, Mode.VERIFY):
        # (before any read: an upstream API would take a filter value for the key)
        raise ValidationFailed("上游接口数据源不支持分页读取或批量导出，请按主键查询或核验", field="mode")
    if call.mode == Mode.LOOKUP:
        rows = _lookup(decision, call.key, decision.items)
        keys = [normalized(decision, decision.key_item, call.key)] * len(rows)
        return Outcome(call.mode, decision.items, rows=_masked(decision, rows), row_count=len(rows), masking=labels,
                       keys=keys)
    if call.mode == Mode.VERIFY:
        verdict, keys = _verify(decision, call)
        return Outcome(call.mode, decision.items, verdict=verdict, masking={}, keys=keys)
    if call.mode in (Mode.PAGE, Mode.PREVIEW):
        return _page(decision, call, labels, CursorSeal.of(settings, decision))
    if call.mode == Mode.EXPORT:
        return _export(decision, call, settings, labels)
    raise ValidationFailed(f"未知的访问方式：{call.mode}", field="mode")


def _lookup(decision: Decision, key: str | None, items: list[str], by: str | None = None) -> list[dict]:
    """Rows whose key (or the identifier item `by`) is `key`, with the scope item kept for the scope check. A
    row outside the grant's row scope is a refusal (recorded), not a 'not found': the requester asked for what
    it may not see."""
    if key is None or str(key).strip() == "":
        raise ValidationFailed("按键查询必须给出 key", field="key")
    _check_text(key, "key", "主键值")
    by = by or decision.key_item
    column = decision.columns.get(by, decision.key_column)
    wanted = list(dict.fromkeys([*items, *([decision.scope_item] if decision.scope_item else [])]))
    query = Query(columns=tuple(decision.columns[n] for n in wanted),
                  filters=((column, normalized(decision, by, str(key).strip())),))
    rows = [{name: row[decision.columns[name]] for name in wanted} for row in decision.source.rows(query)]
    if decision.scope_item:
        prefixes = decision.scope[1]
        if any(not str(row[decision.scope_item] or "").startswith(prefixes) for row in rows):
            raise Refused("查询的记录超出授权的数据范围", field="key", code="row_out_of_scope")
    return [{name: row[name] for name in items} for row in rows]


def _masked(decision: Decision, rows: list[dict]) -> list[dict]:
    maskers = {name: masking.served_masker(decision.rules[name], decision.salt) for name in decision.items}
    return [{name: maskers[name](_jsonable(row[name])) for name in decision.items} for row in rows]


def _jsonable(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _verify(decision: Decision, call: Call) -> tuple[str, list]:
    """match / no_match / not_found: compares the given fields with the stored record, returns no data. Also
    the found records' keys (never returned: the gateway flags a record under verification by them)."""
    fields = dict(call.fields)
    by, key = _verified_by(decision, call, fields)
    wanted = list(fields)
    by_key = by == decision.key_item or by is None
    if decision.objections_open and not by_key and decision.key_item in decision.columns:
        wanted = list(dict.fromkeys([*wanted, decision.key_item]))
    rows = _lookup(decision, key, wanted, by=by)
    if not rows:
        return "not_found", []
    keys = [normalized(decision, decision.key_item, key) if by_key else row.get(decision.key_item) for row in rows]
    same = any(all(_same(normalized(decision, name, row[name]), normalized(decision, name, value))
                   for name, value in fields.items()) for row in rows)
    return ("match" if same else "no_match"), keys


def _verified_by(decision: Decision, call: Call, fields: dict) -> tuple[str | None, str | None]:
    """The item a verification finds its record by, and the value: the key (given as `key` or among the
    fields), else the first given identifier item (an ID number or credit code: a marriage register is found by
    the wife's ID number as well as by the husband's, its key)."""
    key_item = next((n for n, c in decision.columns.items() if c == decision.key_column), None)
    if call.key or key_item in fields:
        return key_item, call.key or fields[key_item]
    by = next((name for name in fields if name in decision.identifiers), None)
    if by is None:
        named = "、".join(sorted(decision.identifiers)) or key_item or "主键"
        raise ValidationFailed(f"核验须给出主键或一个身份标识信息项（{named}），以找到要比对的记录", field="fields")
    return by, fields[by]


def _same(stored, given) -> bool:
    return str(stored if stored is not None else "").strip() == str(given if given is not None else "").strip()


def _source_query(decision: Decision, call: Call, *, limit: int | None, after=None, ordered: bool = True,
                  extra: tuple[tuple[str, object], ...] = ()) -> Query:
    flagging = (decision.key_column,) if decision.objections_open and decision.key_column else ()
    return Query(
        columns=tuple(dict.fromkeys([*(decision.columns[n] for n in decision.items), decision.order_column,
                                     *flagging])),
        filters=tuple((decision.columns[name], value) for name, value in _filters(decision, call)) + extra,
        scope=decision.scope, order=decision.order_column if ordered else None, after=after, limit=limit)


def _page(decision: Decision, call: Call, labels: dict, seal: CursorSeal) -> Outcome:
    """One page in the order of the source's order column (the key item, or a file's row number), resumed
    after the cursor's value. The key need not be unique: a page never ends inside a run of equal keys
    (the run moves whole to the next page, or, when a run alone fills a page, the page is that run), so
    resuming strictly after the last key neither repeats nor skips a row. The cursor is opened (verified)
    before the source is read."""
    limit = PREVIEW_ROWS if call.mode == Mode.PREVIEW else max(1, min(int(call.limit or DEFAULT_PAGE), MAX_PAGE))
    after = seal.open(call.cursor) if call.cursor else None
    order = decision.order_column
    raw = decision.source.rows(_source_query(decision, call, limit=limit + 1, after=after))
    cursor = None
    if len(raw) > limit:
        last = raw[limit - 1][order]
        if raw[limit][order] != last:
            raw = raw[:limit]
        elif head := [row for row in raw[:limit] if row[order] != last]:
            raw = head
        elif call.mode == Mode.PREVIEW:
            raw = raw[:limit]  # a preview has no next page: its first rows are enough
        else:
            raw = decision.source.rows(_source_query(decision, call, limit=None, extra=((order, last),)))
        last = raw[-1][order]
        # an empty key cannot be resumed after (NULL sorts apart from every value): the pages end there
        cursor = seal.issue(last) if last is not None and call.mode != Mode.PREVIEW else None
    rows = [{name: row[decision.columns[name]] for name in decision.items} for row in raw]
    keys = [row.get(decision.key_column) for row in raw] if decision.objections_open else []
    return Outcome(call.mode, decision.items, rows=_masked(decision, rows), next_cursor=cursor,
                   row_count=len(rows), masking=labels, keys=keys)


# A cursor keeps the type of the value it resumes after, so the source compares like with like (an
# integer key after 9 is 10, not "10" < "9"; a date column is compared with a date).
CURSOR_TYPES = {
    "i": (int, int), "f": (float, float), "s": (str, str), "n": (Decimal, Decimal),
    "d": (date, date.fromisoformat), "t": (datetime, datetime.fromisoformat),
}


CURSOR_TAG_BYTES = 16  # a 128-bit HMAC tag: out of reach of forgery, and the cursor stays short


def cursor_payload(value) -> bytes:
    """The value a page resumes after, with its type: `["i", 42]`, `["s", "3401…"]`, `["d", "2026-01-31"]`."""
    tag = next((t for t, (kind, _) in CURSOR_TYPES.items() if type(value) is kind), None)
    if tag is None:
        tag = "t" if isinstance(value, datetime) else "d" if isinstance(value, date) else "s"
        value = value if tag != "s" else str(value)
    text = value if tag in ("i", "f") else (value.isoformat() if tag in ("d", "t") else str(value))
    return json.dumps([tag, text], ensure_ascii=False, separators=(",", ":")).encode()


def cursor_value(payload: bytes):
    """The value of a payload written by `cursor_payload` (its type checked all the same)."""
    tag, text = json.loads(payload)
    kind, parse = CURSOR_TYPES[tag]
    value = parse(text)
    if type(value) is not kind:
        raise TypeError(tag)
    return value


@lru_cache(maxsize=8)
def _cursor_key(gateway_secret: bytes) -> bytes:
    return hmac.new(gateway_secret, b"govshare-page-cursor", hashlib.sha256).digest()


def invalid_cursor() -> ValidationFailed:
    return ValidationFailed("分页游标无效（请原样使用同一资源、同一授权上一页返回的 next_cursor）", field="cursor")


@dataclass(frozen=True)
class CursorSeal:
    """Signs the cursors of one paging: the value a page resumes after, followed by an HMAC (key derived
    from the node key) over that value and what is paged: the resource, the grant and the order column.
    Only the server issues cursors, so one that does not verify (made up, altered, cut short, or issued for
    another resource or grant) is refused as a 422 naming `cursor` before the source is read."""

    key: bytes
    binding: bytes

    @classmethod
    def of(cls, settings: Settings, decision: Decision) -> CursorSeal:
        paged = [decision.resource_code, decision.grant_id, decision.order_column]
        return cls(_cursor_key(node_secret(settings)), json.dumps(paged, ensure_ascii=False).encode())

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self.key, self.binding + b"\n" + payload, hashlib.sha256).digest()[:CURSOR_TAG_BYTES]

    def issue(self, value) -> str:
        payload = cursor_payload(value)
        return base64.urlsafe_b64encode(self._tag(payload) + payload).decode().rstrip("=")

    def open(self, cursor: str):
        """The value a genuine cursor resumes after; ValidationFailed (field `cursor`) for any other text."""
        try:
            sealed = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4))
        except (ValueError, binascii.Error) as exc:
            raise invalid_cursor() from exc
        tag, payload = sealed[:CURSOR_TAG_BYTES], sealed[CURSOR_TAG_BYTES:]
        if not payload or not hmac.compare_digest(tag, self._tag(payload)):
            raise invalid_cursor()
        try:
            return cursor_value(payload)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:  # a genuine cursor never gets here
            raise invalid_cursor() from exc


EXPORT_FORMATS = {"csv": "(FORMAT csv, HEADER true)", "parquet": "(FORMAT parquet, COMPRESSION zstd)"}


class ExportFailed(DomainError):
    status_code = 500
    code = "export_failed"


EXPORT_KEEP_HOURS = 6  # an export file left behind by a crash is removed by the next export after this


def _export(decision: Decision, call: Call, settings: Settings, labels: dict) -> Outcome:
    """Projection, scope and masking as one DuckDB statement streamed to a file: vectorized, and its
    memory bounded by `export_memory_limit` whatever the row count. The file is the caller's to send and
    delete; a failed export leaves no file."""
    if call.export_format not in EXPORT_FORMATS:
        raise ValidationFailed("导出格式只能是 csv 或 parquet", field="format")
    folder = settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    sweep_exports(folder)
    name = re.sub(r"[^0-9A-Za-z_-]", "_", decision.resource_code)
    path = folder / f"{name}-{uuid.uuid4().hex}.{call.export_format}"
    connection = duckdb.connect()
    try:
        connection.execute(f"SET memory_limit = {masking.quote_literal(settings.export_memory_limit)}")
        connection.execute(f"SET temp_directory = {masking.quote_literal(tempfile.gettempdir())}")
        sql, params = export_sql(decision, call, connection)
        count = connection.execute(
            f"COPY ({sql}) TO {masking.quote_literal(str(path))} {EXPORT_FORMATS[call.export_format]}", params
        ).fetchone()[0]
    except DomainError:
        path.unlink(missing_ok=True)
        raise
    except Exception as exc:  # DuckDB, or the source failing mid-stream
        path.unlink(missing_ok=True)
        raise ExportFailed(f"导出失败：{exc.__class__.__name__}", field="export") from exc
    finally:
        connection.close()
    return Outcome(call.mode, decision.items, export_path=path, row_count=int(count), masking=labels)


# ---------------------------------------------------------------- records under verification (R13)

MAX_EXPORT_PROBES = 500  # open objections of one entry checked against an export (a table: one probe each)


# the objection on one key: a lookup's or a verification's (nearly always one distinct key), at a driver's cost
OPEN_OBJECTION_OF_KEY = Prepared(select(func.min(Objection.id).label("objection_id")).where(
    Objection.entry_id == bindparam("entry_id"), Objection.status == "open",
    Objection.record_key == bindparam("key")))
FEW_KEYS = 3


def flag_under_verification(db: Database, decision: Decision, call: Call, outcome: Outcome) -> None:
    """Marks the served records that are under an open objection: each row's objection (lookup, page, preview),
    the verdict's (verify), or those among the export's rows. The record is served all the same (never hidden,
    never refused on its account): a failure to find the flags is logged and the data served unflagged."""
    try:
        _flag(db, decision, call, outcome)
    except Exception:
        logger.exception("records under verification of entry %s could not be flagged", decision.entry_id)
        outcome.under_verification, outcome.row_objections = [], []


def _flag(db: Database, decision: Decision, call: Call, outcome: Outcome) -> None:
    if call.mode == Mode.EXPORT:
        with db.session(read_only=True) as session:
            opened = objections.open_on_entry(session, decision.entry_id, limit=MAX_EXPORT_PROBES)
        outcome.under_verification = sorted(opened[key] for key in _exported_keys(decision, call, list(opened)))
        return
    keys = [objections.record_key(key) if key is not None else None for key in outcome.keys]
    found = _open_objections(db, decision.entry_id, {key for key in keys if key})
    by_row = [found.get(key) if key else None for key in keys]
    outcome.under_verification = sorted({objection_id for objection_id in by_row if objection_id})
    if call.mode != Mode.VERIFY:
        outcome.row_objections = by_row


def _open_objections(db: Database, entry_id: int, keys: set[str]) -> dict[str, int]:
    if len(keys) > FEW_KEYS:  # a page: one query for all its keys
        with db.session(read_only=True) as session:
            return objections.under_verification(session, entry_id, list(keys))
    found = {}
    with db.raw() as raw:
        for key in keys:
            row = OPEN_OBJECTION_OF_KEY.rows(raw, {"entry_id": entry_id, "key": key})
            if row and row[0].objection_id is not None:
                found[key] = row[0].objection_id
    return found


def _exported_keys(decision: Decision, call: Call, keys: list[str]) -> set[str]:
    """Which of `keys` the export's filters and scope keep: a managed file in one scan; a database table by one
    indexed probe per key."""
    query = _source_query(decision, call, limit=None, ordered=False)
    if isinstance(decision.source, FileSource):
        return decision.source.present(query, decision.key_column, keys)
    return {key for key in keys if _exported(decision, call, key)}


def _exported(decision: Decision, call: Call, key: str) -> bool:
    try:
        probe = _source_query(decision, call, limit=1, ordered=False, extra=((decision.key_column, key),))
        return bool(decision.source.rows(probe))
    except (ValueError, DomainError):  # a key the column's type cannot hold is in no export
        return False


def sweep_exports(folder: Path, now: datetime | None = None) -> int:
    """Deletes export files older than EXPORT_KEEP_HOURS: those whose sending was cut off by a crash. (A
    file still being sent is safe: an open file outlives its name.)"""
    limit = (now or datetime.now()).timestamp() - EXPORT_KEEP_HOURS * 3600
    removed = 0
    for path in folder.glob("*.*"):
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            continue  # another worker removed it first
    return removed


def csv_headers(decision: Decision, style: str) -> dict[str, str]:
    """A CSV's header of each item: its Chinese name (what a person opening the file in Excel or WPS reads),
    or its field name (`field`, for programs). A Chinese name two items share gets the field name beside it."""
    if style == "field":
        return {name: name for name in decision.items}
    titles = [decision.titles.get(name) or name for name in decision.items]
    return {name: title if titles.count(title) == 1 else f"{title}（{name}）"
            for name, title in zip(decision.items, titles, strict=True)}


def export_sql(decision: Decision, call: Call, connection) -> tuple[str, list]:
    """The SELECT that projects, scopes and masks (public so the benchmark measures exactly this). A CSV
    may be opened in a spreadsheet: its text cells and headers are neutralized (formula injection)."""
    from govshare import spreadsheet

    query = _source_query(decision, call, limit=None, ordered=False)  # an export needs no sort
    relation, filtered = decision.source.from_clause(connection, query)
    quoted, salt = masking.quote_identifier, decision.salt
    cell, header = (spreadsheet.neutralize_sql, spreadsheet.neutralize) if call.export_format == "csv" else (str, str)
    headers = csv_headers(decision, call.export_headers) if call.export_format == "csv" else {}
    selected = ", ".join(
        cell(masking.served_sql(decision.rules[name], quoted(decision.columns[name]), salt))
        + " AS " + quoted(header(headers.get(name, name))) for name in decision.items)
    where, params = ("TRUE", []) if filtered else decision.source.where_sql(query)
    return f"SELECT {selected} FROM {relation} WHERE {where}", params


# ---------------------------------------------------------------- record


@dataclass(frozen=True)
class Parties:
    """Whom a usage record names: the department and system that called, the provider, the entry, and the
    grant the call was decided under."""

    department_id: int | None = None
    provider_id: int | None = None
    entry_id: int | None = None
    grant_id: int | None = None


def parties_of(session: Session, caller: Caller, call: Call, decision: Decision | None) -> Parties:
    """The decision's parties; for a call refused before a decision, what can be established: the calling
    system's department (only from a token whose signature was checked), the resource's provider, and the
    grant named, but only if it is the caller's own grant for that resource. A grant id named by somebody
    else is not theirs to be recorded against: it neither counts toward that grant's refusals nor lets a
    stranger get it suspended."""
    if decision is not None:
        return Parties(decision.department_id, decision.provider_id, decision.entry_id, decision.grant_id)
    department_id = caller.actor.department_id if caller.actor else None
    if caller.system_id is not None:
        department_id = session.scalar(select(ConsumerSystem.department_id)
                                       .where(ConsumerSystem.id == caller.system_id))
    entry = session.execute(select(CatalogEntry.id, CatalogEntry.provider_id)
                            .where(CatalogEntry.resource_code == call.resource_code).limit(1)).first()
    if entry is None:
        return Parties(department_id)
    grant_id = None
    if call.grant_id is not None and (caller.system_id is not None or caller.actor is not None):
        grant = session.execute(select(Grant.entry_id, Grant.consumer_system_id, Grant.requester_id)
                                .where(Grant.id == call.grant_id)).first()
        own = grant is not None and grant.entry_id == entry.id and (
            grant.consumer_system_id == caller.system_id if caller.system_id is not None
            else grant.requester_id == department_id)
        grant_id = call.grant_id if own else None
    return Parties(department_id, entry.provider_id, entry.id, grant_id)


def record_values(caller: Caller, call: Call, parties: Parties, items: list[str], result: str, row_count: int,
                  now: datetime, reason: str = "") -> dict:
    """The fields of one call's usage record (audit.chain.CHAINED_FIELDS but seq and links)."""
    return dict(at=now, department_id=parties.department_id, provider_id=parties.provider_id,
                consumer_system_id=caller.system_id, user_id=caller.user_id, grant_id=parties.grant_id,
                entry_id=parties.entry_id, resource_code=call.resource_code[:40], mode=str(call.mode),
                items=",".join(items), row_count=row_count, result=result, reason=reason[:40],
                request_hash=call.request_hash or request_digest(call))


def served_record(caller: Caller, call: Call, decision: Decision, result: str, row_count: int, now: datetime) -> dict:
    parties = Parties(decision.department_id, decision.provider_id, decision.entry_id, decision.grant_id)
    return record_values(caller, call, parties, decision.items, result, row_count, now)


def write_record(session: Session, caller: Caller, call: Call, decision: Decision | None, result: str,
                 row_count: int, now: datetime, reason: str = "") -> UsageRecord:
    """The chained usage record of one call and the grant's day counters, in the caller's transaction."""
    parties = parties_of(session, caller, call, decision)
    items = decision.items if decision else list(dict.fromkeys(call.items or [name for name, _ in call.fields]))
    raw = raw_connection(session)
    written = chain.append_raw(raw, [record_values(caller, call, parties, items, result, row_count, now, reason)])
    count_days(raw, settings_of(session).timezone, written)
    return UsageRecord(**written[0])


def count_days(raw: Raw, timezone: str, records: list[dict]) -> None:
    """Adds records to their grants' counters of the day: the rows served and the refusals (records whose
    result is not an answer), one update per grant and day, in order. The day's and the clock second's
    calls (the quota's and the rate's counters) are not counted here: every call within a grant took its
    slot of both before it was served (`_check_rate`, `gateway.limits`)."""
    totals: dict[tuple, list[int]] = {}
    for record in records:
        if record.get("grant_id") is None:
            continue
        total = totals.setdefault((record["grant_id"], workdays.day_in_zone(timezone, record["at"])), [0, 0])
        total[0] += record["row_count"]
        total[1] += record["result"] not in ANSWERED
    for (grant_id, day), (rows, refused) in sorted(totals.items()):
        if not rows and not refused:
            continue  # answers without rows: nothing to add
        values = {"grant": grant_id, "today": day, "served": rows, "refused": refused}
        if not COUNT_DAY.run(raw, values) and not FIRST_OF_DAY.run(raw, values):
            COUNT_DAY.run(raw, values)  # another process's first slot of the day inserted the row meanwhile


_day = GrantUsageDay.__table__.c
COUNT_DAY = Prepared(
    update(GrantUsageDay.__table__)
    .where(_day.grant_id == bindparam("grant"), _day.day == bindparam("today"))
    .values(rows=_day.rows + bindparam("served", type_=BigInteger),
            refusals=_day.refusals + bindparam("refused", type_=Integer)))
# (the PostgreSQL construct compiles on SQLite too: both say ON CONFLICT (grant_id, day) DO NOTHING)
FIRST_OF_DAY = Prepared(
    pg_insert(GrantUsageDay.__table__)
    .values(grant_id=bindparam("grant"), day=bindparam("today"), calls=0, rows=bindparam("served"),
            refusals=bindparam("refused"), second=0, second_calls=0)
    .on_conflict_do_nothing(index_elements=["grant_id", "day"]))


def result_of(error: DomainError) -> str:
    """not_found for a resource or record that does not exist, error for a failure of ours or of the
    source (5xx), refused for everything the gateway declined."""
    if isinstance(error, NotFound):
        return "not_found"
    return "error" if error.status_code >= 500 else "refused"


def record_refusal(db: Database, caller: Caller, call: Call, decision: Decision | None, refusal: DomainError,
                   now: datetime) -> None:
    """Records a refused call and, after repeated attempts outside the grant, suspends the grant (R09)."""
    with db.session() as session:
        record = write_record(session, caller, call, decision, result_of(refusal), 0, now, reason=refusal.code)
        if refusal.code in OUT_OF_GRANT and record.grant_id is not None:
            _maybe_suspend(session, record.grant_id, now)


def _record_failure(db: Database, caller: Caller, call: Call, decision: Decision | None, failure: Exception,
                    now: datetime) -> None:
    """Records a call that failed unexpectedly; the original failure is what the caller sees, even when
    the database is what failed and no record can be written."""
    try:
        with db.session() as session:
            write_record(session, caller, call, decision, "error", 0, now, reason="internal_error")
    except Exception:
        logger.exception("usage record of a failed gateway call could not be written")


def _maybe_suspend(session: Session, grant_id: int, now: datetime) -> None:
    """Suspends the grant when the out-of-grant attempts within the window reach the setting. Attempts
    before an earlier suspension were reviewed when the grant was reinstated: they do not count again.
    (Record writers are serialized by the chain head's lock, so two refusals cannot both suspend.)"""
    settings = settings_of(session)
    grant = session.get(Grant, grant_id)
    if grant is None or grant.status != GrantStatus.ACTIVE:
        return
    since = now - timedelta(minutes=settings.suspend_window_minutes)
    if grant.suspended_at is not None and grant.suspended_at > since:
        since = grant.suspended_at
    attempts = session.scalar(select(func.count()).select_from(UsageRecord).where(
        UsageRecord.grant_id == grant_id, UsageRecord.at > since, UsageRecord.reason.in_(OUT_OF_GRANT)))
    if attempts >= settings.suspend_after_refusals:
        sharing.suspend_grant(session, grant, f"{settings.suspend_window_minutes} 分钟内 {attempts} 次越权访问"
                              "（请求未授权的信息项或超出数据范围），授权已自动暂停，待提供部门复核")


def request_digest(call: Call) -> str:
    """SHA-256 of what was asked (mode, resource, grant, key, items, filters, fields, cursor, format)."""
    payload = json.dumps([str(call.mode), call.resource_code, call.grant_id, call.key, call.items, call.filters,
                          call.fields, call.cursor, call.limit, call.export_format], ensure_ascii=False, default=str)
    # surrogatepass: a JSON body may carry an unpaired surrogate ("\ud800"); its refusal is recorded all the same
    return hashlib.sha256(payload.encode(errors="surrogatepass")).hexdigest()


# ---------------------------------------------------------------- masking of a grant (R17)


def effective_masking(session: Session, grant: Grant) -> dict[str, masking.Rule]:
    """Item name -> the rule the gateway applies under this grant: the grant's own rule for the item, else
    the default of the item's grade and kind."""
    items = [item for item in _items(session, grant.entry_id) if item.id in set(grant.item_ids)]
    profile = session.scalar(select(DataSource.profile).where(DataSource.entry_id == grant.entry_id)) or {}
    kinds = profile.get("items", {})
    return {item.name: item_rule(item, grant.masking or {}, kinds) for item in items}


def grant_masking(session: Session, actor: Actor, grant_id: int) -> tuple[Grant, dict[str, masking.Rule]]:
    """The grant's masking, for whoever may see the grant (its two departments, the competent authority)."""
    grant = sharing.get_grant(session, actor, grant_id)
    return grant, effective_masking(session, grant)


def set_masking(session: Session, actor: Actor, grant_id: int, rules: dict[str, str]) -> Grant:
    """The provider's reviewer sets the grant's own masking rules (one per item name; the items not named
    fall back to their grade's default). Replaces the earlier rules; every rule and item is checked first,
    so a bad one changes nothing. 核心 items take no rule: they are verified, never read (R17). The requester
    is told: the shape of the data it receives changes."""
    grant = session.scalars(select(Grant).where(Grant.id == grant_id).with_for_update(of=Grant)
                            .execution_options(populate_existing=True)).first()
    if grant is None:
        raise NotFound(f"共享授权不存在：{grant_id}", field="grant_id")
    require_role(actor, Role.DEPT_REVIEWER, action="设置共享授权的脱敏规则")
    require_own_department(actor, grant.provider_id, action="设置")
    if grant.status == GrantStatus.ENDED:
        raise Conflict("共享授权已终止，不能再设置脱敏规则", field="status", extra={"current_status": grant.status})
    granted = {item.name: item for item in _items(session, grant.entry_id) if item.id in set(grant.item_ids)}
    parsed = {}
    for name, text in rules.items():
        if name not in granted:
            raise ValidationFailed(f"信息项 {name} 不在该授权的范围内，不能为它设置脱敏规则", field=f"masking.{name}")
        if grades.verify_only(granted[name].grade):
            raise ValidationFailed(f"信息项 {granted[name].chinese_name}（{name}）为核心数据，仅提供核验，"
                                   "不能设置脱敏规则（核心数据不提供原始值）", field=f"masking.{name}",
                                   code="core_verify_only")
        parsed[name] = masking.parse_rule(text, field=f"masking.{name}").text
    before = dict(grant.masking or {})
    grant.masking = parsed
    request = grant.request
    sharing.record(session, request, actor, "grant_masking_set", detail={"grant_id": grant.id, "before": before,
                                                                          "after": parsed})
    sharing.tell(session, request, "grant.masking_changed", f"共享授权的脱敏规则已调整：{grant.entry.name}",
                 [sharing.requester_audience(request)],
                 body="；".join(f"{name}：{masking.parse_rule(rule).label}" for name, rule in parsed.items())
                 or "恢复为按分级分类的默认规则")
    session.flush()
    return grant
