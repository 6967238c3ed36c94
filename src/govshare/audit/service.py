"""Usage records (使用记录, R12): who sees which records, their totals and anomalies, and their retention.

Records are read through `record_scope(actor)` only: the requester department sees the records of its own
calls, the provider those of its data, a competent authority those of the departments of its area, auditors
and platform administrators all of them. Consumer systems authenticate with gateway tokens, which are not
login tokens: they read nothing here.

Totals are SQL GROUP BYs over local days (settings.timezone; records store naive UTC). Anomalies read the
grants' day counters (GrantUsageDay) where they suffice and the records for the time of day.

Old records leave the database only after they are archived to a JSON Lines file that verifies on its own
(records with every chained field and both hashes, the signed checkpoints and the node's public key), and
only past the retention period; a signed `prune` checkpoint at the last pruned record anchors the rest."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Date, Time, and_, case, cast, delete, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from govshare.audit import chain
from govshare.audit.models import Checkpoint, UsageRecord
from govshare.authz import Actor, region_prefix, require_role
from govshare.catalog.models import CatalogEntry
from govshare.config import settings_of
from govshare.db import Database
from govshare.errors import Forbidden, ValidationFailed
from govshare.gateway.models import GrantUsageDay
from govshare.gateway.service import MODE_LABELS as GATEWAY_MODE_LABELS
from govshare.orgs.models import ConsumerSystem, Department, Role, User
from govshare.sharing.models import Grant
from govshare.workdays.service import WorkCalendar, local_today

RESULT_LABELS = {"ok": "成功", "not_found": "未找到", "refused": "拒绝", "error": "出错"}
MODE_LABELS = {str(mode): label for mode, label in GATEWAY_MODE_LABELS.items()}
REASON_LABELS = {
    "no_grant": "没有有效的共享授权", "wrong_system": "不是授权的应用系统", "grant_suspended": "授权已暂停",
    "grant_ended": "授权已终止", "grant_period": "不在授权期限内", "item_not_granted": "请求未授权的信息项",
    "row_out_of_scope": "超出授权的数据范围", "verify_only": "授权仅限核验", "core_verify_only": "核心数据仅限核验",
    "filter_on_masked_item": "按脱敏信息项筛选",
    "rate_limited": "超过调用频率", "quota_exceeded": "超过当日配额", "token_invalid": "访问令牌无效",
    "token_expired": "访问令牌已过期",
    "token_revoked": "凭据已更换或吊销", "not_authenticated": "未认证", "system_revoked": "应用系统已吊销",
    "no_resource": "资源不存在、未发布或未接入", "not_found": "不存在", "validation_failed": "请求不合法",
    "forbidden": "无权访问", "source_unavailable": "数据源不可用", "internal_error": "内部错误",
}
ANOMALY_LABELS = {"off_hours": "非工作时间访问", "volume": "访问量异常", "refusals": "多次被拒绝"}
TOTALS_BY = {"day": "日期", "resource": "资源", "system": "应用系统", "result": "结果"}
PERSON_CALLS = "person"  # the by-system key of calls a signed-in person made in the pages (no consumer system)
CALLER_LABELS = {PERSON_CALLS: "工作人员本人的预览和核验（页面或个人令牌）", None: "未认证的调用（无有效令牌）"}
READ_ALL_ROLES = (Role.PLATFORM_ADMIN, Role.AUDITOR)
DEFAULT_DAYS = 30
MAX_DAYS = 3700  # a little over ten years: any range a page or a report asks for
MAX_LIMIT = 1000
VOLUME_HISTORY_DAYS = 30  # a grant's usual volume: the median of its active days among the previous 30
VOLUME_MIN_DAYS = 7  # fewer active days than this: no usual volume yet, no volume flag
ARCHIVE_FORMAT = "govshare-usage-records"


# ---------------------------------------------------------------- who sees what


def _visible(actor: Actor, department_column, provider_column):
    """The condition on a requester and a provider column for `actor`; None: everything."""
    if actor.is_system or actor.has(*READ_ALL_ROLES):
        return None
    if actor.department_id is None:
        return false()
    clauses = [department_column == actor.department_id, provider_column == actor.department_id]
    if actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority:
        prefix = region_prefix(actor.region_code)
        if prefix:
            area = select(Department.id).where(Department.region_code.startswith(prefix))
            clauses += [department_column.in_(area), provider_column.in_(area)]
    return or_(*clauses)


def record_scope(actor: Actor) -> list:
    """The WHERE conditions that keep the records `actor` may see (none for auditors and administrators)."""
    condition = _visible(actor, UsageRecord.department_id, UsageRecord.provider_id)
    return [] if condition is None else [condition]


def readable_records(actor: Actor):
    return select(UsageRecord).where(*record_scope(actor))


def can_verify(actor: Actor) -> bool:
    """Auditors, platform administrators and competent authorities check the chain's integrity."""
    return actor.is_system or actor.has(*READ_ALL_ROLES) or (
        actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority)


def require_verifier(actor: Actor) -> None:
    if not can_verify(actor):
        raise Forbidden("只有审计员、平台管理员和主管部门可以校验使用记录的完整性", field="role")


# ---------------------------------------------------------------- filters and local days


@dataclass(frozen=True)
class Filters:
    grant_id: int | None = None
    resource_code: str | None = None
    system_id: int | None = None
    result: str | None = None
    mode: str | None = None
    since: date | None = None  # local days, both included
    until: date | None = None

    def checked(self) -> Filters:
        if self.result and self.result not in RESULT_LABELS:
            raise ValidationFailed(f"结果只能是：{'、'.join(RESULT_LABELS)}", field="result")
        if self.mode and self.mode not in MODE_LABELS:
            raise ValidationFailed(f"访问方式只能是：{'、'.join(MODE_LABELS)}", field="mode")
        if self.since and self.until:
            if self.since > self.until:
                raise ValidationFailed("开始日期不能晚于结束日期", field="since")
            if (self.until - self.since).days > MAX_DAYS:
                raise ValidationFailed(f"日期范围不能超过 {MAX_DAYS} 天", field="since")
        return self

    def with_days(self, session: Session, default_days: int = DEFAULT_DAYS) -> Filters:
        """The same filters with a full day range: the last `default_days` days up to today by default."""
        until = self.until or (self.since + timedelta(days=default_days - 1) if self.since else local_today(session))
        since = self.since or until - timedelta(days=default_days - 1)
        return Filters(self.grant_id, self.resource_code, self.system_id, self.result, self.mode, since,
                       until).checked()


def _zone(session: Session) -> ZoneInfo:
    return ZoneInfo(settings_of(session).timezone)


def utc_of_local_midnight(session: Session, day: date) -> datetime:
    """The naive UTC moment at which local `day` begins (records store naive UTC)."""
    return datetime.combine(day, time.min, _zone(session)).astimezone(UTC).replace(tzinfo=None)


def to_local(session: Session, moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(_zone(session)).replace(tzinfo=None)


def _conditions(session: Session, actor: Actor, filters: Filters) -> list:
    conditions = record_scope(actor)
    if filters.grant_id is not None:
        conditions.append(UsageRecord.grant_id == filters.grant_id)
    if filters.resource_code:
        conditions.append(UsageRecord.resource_code == filters.resource_code)
    if filters.system_id is not None:
        conditions.append(UsageRecord.consumer_system_id == filters.system_id)
    if filters.result:
        conditions.append(UsageRecord.result == filters.result)
    if filters.mode:
        conditions.append(UsageRecord.mode == filters.mode)
    if filters.since:
        conditions.append(UsageRecord.at >= utc_of_local_midnight(session, filters.since))
    if filters.until:
        conditions.append(UsageRecord.at < utc_of_local_midnight(session, filters.until + timedelta(days=1)))
    return conditions


def _offset_minutes(zone: ZoneInfo, moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).astimezone(zone).utcoffset() // timedelta(minutes=1))


def offset_spans(session: Session, since: date, until: date) -> list[tuple[datetime, datetime, int]]:
    """The UTC spans of local days since..until within which the zone's offset does not change, with
    that offset in minutes: one span for Asia/Shanghai, more where daylight saving time starts or ends.
    A local day is then one SQL expression (UTC + offset) inside each span."""
    zone = _zone(session)
    start, end = utc_of_local_midnight(session, since), utc_of_local_midnight(session, until + timedelta(days=1))
    spans, span_start, offset, probe = [], start, _offset_minutes(zone, start), start
    while probe < end:
        step = min(probe + timedelta(days=1), end)
        if _offset_minutes(zone, step - timedelta(microseconds=1)) != offset:
            while _offset_minutes(zone, probe) == offset:  # find the change to the quarter hour
                probe += timedelta(minutes=15)
            spans.append((span_start, probe, offset))
            span_start, offset = probe, _offset_minutes(zone, probe)
            continue
        probe = step
    spans.append((span_start, end, offset))
    return spans


def _local_day(session: Session, offset: int):
    if session.get_bind().dialect.name == "sqlite":
        return func.date(UsageRecord.at, f"{offset:+d} minutes")
    return cast(UsageRecord.at + timedelta(minutes=offset), Date)


def _local_clock(session: Session, offset: int):
    if session.get_bind().dialect.name == "sqlite":
        return func.time(UsageRecord.at, f"{offset:+d} minutes")
    return cast(UsageRecord.at + timedelta(minutes=offset), Time)


def _clock_value(session: Session, moment: time):
    return moment.strftime("%H:%M:%S") if session.get_bind().dialect.name == "sqlite" else moment


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


# ---------------------------------------------------------------- records


def _named_records(conditions: list):
    requester, provider = aliased(Department), aliased(Department)
    return (select(UsageRecord, requester.name, provider.name, ConsumerSystem.name, User.username, CatalogEntry.name)
            .outerjoin(requester, requester.id == UsageRecord.department_id)
            .outerjoin(provider, provider.id == UsageRecord.provider_id)
            .outerjoin(ConsumerSystem, ConsumerSystem.id == UsageRecord.consumer_system_id)
            .outerjoin(User, User.id == UsageRecord.user_id)
            .outerjoin(CatalogEntry, CatalogEntry.id == UsageRecord.entry_id)
            .where(*conditions))


def record_view(session: Session, row) -> dict:
    record, department, provider, system, username, entry = row
    return {
        "seq": record.seq, "at": to_local(session, record.at), "at_utc": record.at,
        "department_id": record.department_id, "department_name": department or "",
        "provider_id": record.provider_id, "provider_name": provider or "",
        "consumer_system_id": record.consumer_system_id, "system_name": system or "",
        "user_id": record.user_id, "username": username or "", "grant_id": record.grant_id,
        "entry_id": record.entry_id, "entry_name": entry or "", "resource_code": record.resource_code,
        "mode": record.mode, "mode_label": MODE_LABELS.get(record.mode, record.mode),
        "items": [i for i in record.items.split(",") if i], "row_count": record.row_count,
        "result": record.result, "result_label": RESULT_LABELS.get(record.result, record.result),
        "reason": record.reason, "reason_label": REASON_LABELS.get(record.reason, record.reason),
        "request_hash": record.request_hash, "hash": record.hash,
    }


def list_records(session: Session, actor: Actor, filters: Filters | None = None, *, limit: int = 100,
                 offset: int = 0) -> list[dict]:
    """The records `actor` may see, newest first, with the names of who and what."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"每页条数应在 1 至 {MAX_LIMIT} 之间", field="limit")
    if offset < 0:
        raise ValidationFailed("偏移量不能为负数", field="offset")
    conditions = _conditions(session, actor, (filters or Filters()).checked())
    query = _named_records(conditions).order_by(UsageRecord.seq.desc()).limit(limit).offset(offset)
    return [record_view(session, row) for row in session.execute(query)]


def count_records(session: Session, actor: Actor, filters: Filters | None = None) -> int:
    conditions = _conditions(session, actor, (filters or Filters()).checked())
    return session.scalar(select(func.count()).select_from(UsageRecord).where(*conditions)) or 0


# ---------------------------------------------------------------- totals


def _measures():
    return (func.count().label("calls"),
            func.coalesce(func.sum(case((UsageRecord.result.in_(("ok", "not_found")), 1), else_=0)), 0),
            func.coalesce(func.sum(case((UsageRecord.result == "refused", 1), else_=0)), 0),
            func.coalesce(func.sum(case((UsageRecord.result == "error", 1), else_=0)), 0),
            func.coalesce(func.sum(UsageRecord.row_count), 0))


def _total(key, label: str, calls=0, served=0, refused=0, errors=0, rows=0) -> dict:
    return {"key": key, "label": label, "calls": int(calls), "served": int(served), "refused": int(refused),
            "errors": int(errors), "rows": int(rows)}


def totals(session: Session, actor: Actor, by: str = "day", filters: Filters | None = None) -> list[dict]:
    """Calls (all records), served (answered: ok or not found), refused, errors and rows per local day,
    resource, consumer system or result, over the filters' days (default: the last 30 days)."""
    if by not in TOTALS_BY:
        raise ValidationFailed(f"汇总维度只能是：{'、'.join(TOTALS_BY)}", field="by")
    filters = (filters or Filters()).with_days(session)
    if by == "day":
        return _totals_by_day(session, actor, filters)
    conditions = _conditions(session, actor, filters)
    if by == "system":
        rows = _rows_by_caller(session, conditions)
    else:
        column = {"resource": UsageRecord.resource_code, "result": UsageRecord.result}[by]
        rows = session.execute(select(column, *_measures()).where(*conditions).group_by(column)).all()
    labels = _labels(session, by, [row[0] for row in rows])
    found = [_total(row[0], labels.get(row[0], str(row[0])), *row[1:]) for row in rows]
    return sorted(found, key=lambda t: (-t["calls"], str(t["key"])))


def _rows_by_caller(session: Session, conditions: list) -> list[tuple]:
    """Measures per consumer system; calls without a system are split into a person's page previews and
    verifications (`PERSON_CALLS`) and unauthenticated calls (None), which an auditor reads differently."""
    person = UsageRecord.user_id.is_not(None).label("person")
    grouped = session.execute(select(UsageRecord.consumer_system_id, person, *_measures()).where(*conditions)
                              .group_by(UsageRecord.consumer_system_id, person)).all()
    merged: dict = {}
    for system_id, by_person, *measures in grouped:
        key = system_id if system_id is not None else (PERSON_CALLS if by_person else None)
        merged[key] = [a + int(b) for a, b in zip(merged.get(key, [0] * len(measures)), measures, strict=True)]
    return [(key, *measures) for key, measures in merged.items()]


def _totals_by_day(session: Session, actor: Actor, filters: Filters) -> list[dict]:
    base = _conditions(session, actor, Filters(filters.grant_id, filters.resource_code, filters.system_id,
                                               filters.result, filters.mode))
    counted: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for start, end, offset in offset_spans(session, filters.since, filters.until):
        day = _local_day(session, offset)
        query = (select(day, *_measures()).where(*base, UsageRecord.at >= start, UsageRecord.at < end)
                 .group_by(day))
        for row in session.execute(query):
            sums = counted[_as_date(row[0])]
            for n, value in enumerate(row[1:]):
                sums[n] += int(value)
    return [_total(d, d.isoformat(), *counted.get(d, ())) for d in _days(filters.since, filters.until)]


def _labels(session: Session, by: str, keys: list) -> dict:
    if by == "result":
        return {k: RESULT_LABELS.get(k, k) for k in keys}
    if by == "resource":
        found = session.execute(select(CatalogEntry.resource_code, CatalogEntry.name)
                                .where(CatalogEntry.resource_code.in_([k for k in keys if k])))
        names = dict(found.all())
        return {k: f"{names[k]}（{k}）" if k in names else (k or "（未指明资源）") for k in keys}
    found = session.execute(select(ConsumerSystem.id, ConsumerSystem.name, Department.name)
                            .join(Department, Department.id == ConsumerSystem.department_id)
                            .where(ConsumerSystem.id.in_([k for k in keys if isinstance(k, int)])))
    names = {system_id: f"{name}（{department}）" for system_id, name, department in found}
    return {k: names.get(k) or CALLER_LABELS.get(k) or f"应用系统 {k}" for k in keys}


# ---------------------------------------------------------------- anomalies


def work_hours(session: Session) -> tuple[time, time]:
    text = settings_of(session).work_hours
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValidationFailed(f"办公时间设置应为 HH:MM-HH:MM，收到 {text!r}", field="work_hours") from None
    if start >= end:
        raise ValidationFailed(f"办公时间的开始应早于结束，收到 {text!r}", field="work_hours")
    return start, end


def anomalies(session: Session, actor: Actor, since: date | None = None, until: date | None = None) -> list[dict]:
    """Grant-days flagged as unusual, newest first (R12):
    - off_hours: more calls than `anomaly_off_hours_calls` outside the office hours (`work_hours`), or on a
      day that is not a working day (the working-day calendar);
    - volume: more calls than `anomaly_volume_factor` × the grant's usual (the median of its active days
      among the previous 30, when it has at least VOLUME_MIN_DAYS of them);
    - refusals: at least `anomaly_refusals` refused calls."""
    settings = settings_of(session)
    filters = Filters(since=since, until=until).with_days(session)
    since, until = filters.since, filters.until
    flags = _off_hours(session, actor, since, until, settings) + _counter_flags(session, actor, since, until,
                                                                                 settings)
    info = _grant_info(session, {f["grant_id"] for f in flags})
    order = list(ANOMALY_LABELS)
    for flag in flags:
        flag.update(info.get(flag["grant_id"], {}))
        flag["label"] = ANOMALY_LABELS[flag["kind"]]
    return sorted(flags, key=lambda f: (-f["day"].toordinal(), order.index(f["kind"]), f["grant_id"]))


def _off_hours(session: Session, actor: Actor, since: date, until: date, settings) -> list[dict]:
    opens, closes = work_hours(session)
    calendar = WorkCalendar(session)
    resting = {day for day in _days(since, until) if not calendar.status(day)[0]}
    counted: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    scope = record_scope(actor)
    for start, end, offset in offset_spans(session, since, until):
        day, clock = _local_day(session, offset), _local_clock(session, offset)
        outside = or_(clock < _clock_value(session, opens), clock >= _clock_value(session, closes))
        query = (select(UsageRecord.grant_id, day, func.count(), func.sum(case((outside, 1), else_=0)))
                 .where(*scope, UsageRecord.grant_id.is_not(None), UsageRecord.at >= start, UsageRecord.at < end)
                 .group_by(UsageRecord.grant_id, day))
        for grant_id, local, calls, off in session.execute(query):
            sums = counted[(grant_id, _as_date(local))]
            sums[0] += int(calls)
            sums[1] += int(off or 0)
    threshold, flags = settings.anomaly_off_hours_calls, []
    for (grant_id, day), (calls, off) in counted.items():
        count = calls if day in resting else off
        if count > threshold:
            when = "非工作日" if day in resting else f"办公时间（{settings.work_hours}）以外"
            flags.append({"kind": "off_hours", "grant_id": grant_id, "day": day, "count": count,
                          "threshold": threshold, "usual": None,
                          "message": f"{day} {when}调用 {count} 次，超过阈值 {threshold} 次"})
    return flags


def _counter_flags(session: Session, actor: Actor, since: date, until: date, settings) -> list[dict]:
    visible = _visible(actor, Grant.requester_id, Grant.provider_id)
    query = (select(GrantUsageDay.grant_id, GrantUsageDay.day, GrantUsageDay.calls, GrantUsageDay.refusals)
             .join(Grant, Grant.id == GrantUsageDay.grant_id)
             .where(GrantUsageDay.day >= since - timedelta(days=VOLUME_HISTORY_DAYS), GrantUsageDay.day <= until,
                    *([] if visible is None else [visible])))
    days: dict[int, dict[date, tuple[int, int]]] = defaultdict(dict)
    for grant_id, day, calls, refusals in session.execute(query):
        days[grant_id][day] = (calls, refusals)
    factor, refusal_threshold, flags = settings.anomaly_volume_factor, settings.anomaly_refusals, []
    for grant_id, counts in days.items():
        for day, (calls, refusals) in counts.items():
            if not since <= day <= until:
                continue
            if refusals >= refusal_threshold:
                flags.append({"kind": "refusals", "grant_id": grant_id, "day": day, "count": refusals,
                              "threshold": refusal_threshold, "usual": None,
                              "message": f"{day} 被拒绝 {refusals} 次，达到阈值 {refusal_threshold} 次"})
            history = [counts[d][0] for d in (day - timedelta(days=n) for n in range(1, VOLUME_HISTORY_DAYS + 1))
                       if d in counts and counts[d][0] > 0]
            if len(history) < VOLUME_MIN_DAYS or not calls:
                continue
            usual = statistics.median(history)
            if calls > factor * usual:
                flags.append({"kind": "volume", "grant_id": grant_id, "day": day, "count": calls,
                              "threshold": factor * usual, "usual": usual,
                              "message": f"{day} 调用 {calls} 次，是此前 {VOLUME_HISTORY_DAYS} 天日常用量（中位数 "
                                         f"{usual:g} 次）的 {calls / usual:.1f} 倍，超过 {factor:g} 倍"})
    return flags


def _grant_info(session: Session, grant_ids: set[int]) -> dict[int, dict]:
    if not grant_ids:
        return {}
    requester, provider = aliased(Department), aliased(Department)
    query = (select(Grant.id, CatalogEntry.name, CatalogEntry.resource_code, requester.name, provider.name)
             .join(CatalogEntry, CatalogEntry.id == Grant.entry_id)
             .join(requester, requester.id == Grant.requester_id).join(provider, provider.id == Grant.provider_id)
             .where(Grant.id.in_(grant_ids)))
    return {row[0]: {"entry_name": row[1], "resource_code": row[2], "requester_name": row[3], "provider_name": row[4]}
            for row in session.execute(query)}


# ---------------------------------------------------------------- verification (thin over the chain)


def verify(db: Database, actor: Actor, progress=None, **options) -> chain.VerifyReport:
    require_verifier(actor)
    return chain.verify(db, progress, **options)


def checkpoint(session: Session, actor: Actor) -> Checkpoint | None:
    """Signs the chain's head now (the worker does it every round); None when it is already signed."""
    require_role(actor, Role.PLATFORM_ADMIN, action="签署使用记录检查点")
    return chain.sign_checkpoint(session, kind="manual", note=f"手动签名（{actor.username}）")


# ---------------------------------------------------------------- retention: archive and prune


def retention_cutoff(session: Session) -> date:
    """Records of days before this one are past the retention period (`audit_retention_days`)."""
    return local_today(session) - timedelta(days=settings_of(session).audit_retention_days)


def _last_before(session: Session, before: date) -> tuple[int | None, int | None]:
    """(first seq, last seq of the records older than local day `before`): the chain's prefix to archive."""
    first = session.scalar(select(func.min(UsageRecord.seq)))
    if first is None:
        return None, None
    newer = session.scalar(select(func.min(UsageRecord.seq))
                           .where(UsageRecord.at >= utc_of_local_midnight(session, before)))
    last = session.scalar(select(func.max(UsageRecord.seq))) if newer is None else newer - 1
    return first, last


def _open(path: Path, mode: str, *, name: Path | None = None):
    """A text file, gzip-compressed when its name (`name`, else `path`) ends in .gz."""
    if (name or path).suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return path.open(mode, encoding="utf-8")


def _checkpoint_line(c) -> dict:
    return {"type": "checkpoint", "id": c.id, "seq": c.seq, "hash": c.hash, "kind": c.kind,
            "signed_at": chain._text(c.signed_at), "key_id": c.key_id, "signature": c.signature, "prev": c.prev,
            "note": c.note}


def archive(db: Database, before: date | None, path: Path, *, actor: Actor | None = None,
            batch: int = 20_000) -> dict:
    """Writes the records older than local day `before` (default: the retention cutoff) to `path` (JSON
    Lines, gzip when it ends in .gz): a header with the node's public key, the signed checkpoints from the
    anchor on, every record with its chained fields, prev_hash and hash, and an end line. A checkpoint is
    signed at the last archived record first, so the file ends on a signature. Nothing is deleted."""
    actor = actor or Actor.system()
    require_role(actor, Role.PLATFORM_ADMIN, action="归档使用记录")
    path = Path(path)
    if path.exists():
        raise ValidationFailed(f"归档文件已存在，不会覆盖：{path}", field="path")
    with db.session() as session:
        before = before or retention_cutoff(session)
        first, last = _last_before(session, before)
        if first is None or last < first:
            raise ValidationFailed(f"没有 {before} 之前的使用记录可以归档", field="before")
        digest = session.scalar(select(UsageRecord.hash).where(UsageRecord.seq == last))
        signed = chain.sign_checkpoint(session, kind="archive", seq=last, digest=digest,
                                       note=f"归档序号 {first} 至 {last}（{before} 之前）")
        public = chain.signing_key(settings_of(session)).public_key()
        timezone = settings_of(session).timezone
    header = {"type": "header", "format": ARCHIVE_FORMAT, "version": 1, "created_at": chain._text(signed.signed_at),
              "before": before.isoformat(), "first_seq": first, "last_seq": last,
              "chained_fields": list(chain.CHAINED_FIELDS), "key_id": chain.key_id(public),
              "public_key": chain.public_pem(public), "timezone": timezone}
    partial = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        records, checkpoints = _write_archive(db, partial, path, header, first, last, batch)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return {"path": str(path), "before": before, "first_seq": first, "last_seq": last, "records": records,
            "checkpoints": checkpoints, "sha256": file_sha256(path), "checkpoint_id": signed.id}


def _write_archive(db: Database, partial: Path, path: Path, header: dict, first: int, last: int,
                   batch: int) -> tuple[int, int]:
    records = checkpoints = 0
    with db.session(read_only=True) as session, _open(partial, "w", name=path) as out:
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        for c in session.scalars(select(Checkpoint).where(Checkpoint.seq >= first - 1, Checkpoint.seq <= last)
                                 .order_by(Checkpoint.id)):
            out.write(json.dumps(_checkpoint_line(c), ensure_ascii=False) + "\n")
            checkpoints += 1
        table = UsageRecord.__table__
        for start in range(first, last + 1, batch):
            rows = session.execute(select(table).where(table.c.seq.between(start, min(start + batch - 1, last)))
                                   .order_by(table.c.seq)).mappings()
            for row in rows:
                line = {"type": "record", **{name: row[name] for name in chain.CHAINED_FIELDS},
                        "prev_hash": row["prev_hash"], "hash": row["hash"]}
                line["at"] = chain._text(row["at"])
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                records += 1
        out.write(json.dumps({"type": "end", "records": records, "checkpoints": checkpoints}) + "\n")
    return records, checkpoints


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify_archive(path: Path, want: set[int] | frozenset = frozenset()) -> tuple[chain.VerifyReport, dict]:
    """Verifies an archive file on its own: every record's hash and link from the archive's anchor, the
    checkpoints' signatures with the public key in the file, a signature at the last record, and that the
    file is complete. Returns the report and the header (with `hashes`: the stored hash of each `want` seq)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed(f"归档文件不存在：{path}", field="archive")
    report = chain.VerifyReport()
    try:
        with _open(path, "r") as lines:
            header = json.loads(next(lines))
            if header.get("format") != ARCHIVE_FORMAT or header.get("chained_fields") != list(chain.CHAINED_FIELDS):
                raise ValidationFailed(f"不是本平台的使用记录归档文件：{path}", field="archive")
            public = serialization.load_pem_public_key(header["public_key"].encode())
            report.key_id = chain.key_id(public)
            header["hashes"] = {}
            _walk_archive(lines, header, public, report, want)
    except (OSError, EOFError, StopIteration, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationFailed(f"归档文件无法读取或格式不正确：{exc}", field="archive") from exc
    report.problems.sort(key=lambda p: p.seq)
    return report, header


def _walk_archive(lines, header: dict, public, report: chain.VerifyReport, want) -> None:
    first, last = header["first_seq"], header["last_seq"]
    report.first_seq, report.last_seq, report.head_seq = first, last, last
    checkpoints, valid, walk, end = [], [], None, None
    for raw in lines:
        line = json.loads(raw)
        kind = line.pop("type")
        if kind == "checkpoint":
            checkpoints.append(SimpleNamespace(**line))
        elif kind == "record":
            if walk is None:  # the checkpoints come first: the anchor and the signatures are known now
                valid, problems = chain.authentic_checkpoints(checkpoints, public, complete=False)
                report.problems.extend(problems)
                report.checkpoints = len(checkpoints)
                anchor = chain._anchor(report, valid, first)
                signed = {c.seq: c.hash for c in valid if first <= c.seq <= last}
                walk = chain.Links(first, anchor, anchored=anchor is not None, signed=signed)
            values = [line[name] for name in chain.CHAINED_FIELDS]
            seq, prev_hash, stored = line["seq"], line["prev_hash"], line["hash"]
            walk.record(seq, prev_hash, stored, chain.link_hash(prev_hash, values) == stored)
            if seq in want:
                header["hashes"][seq] = stored
        elif kind == "end":
            end = line
    if walk is None:
        report.problems.append(chain.Problem(first, "missing", "归档文件中没有使用记录"))
        return
    report.records = walk.count
    report.problems.extend(walk.problems)
    chain._rewritten(report, walk, valid, first)
    report.last_signed_seq = max((c.seq for c in valid), default=None)
    if end is None or end.get("records") != walk.count or walk.expected != last + 1:
        report.problems.append(chain.Problem(walk.expected or first, "missing",
                                             "归档文件不完整：记录没有写完或结尾缺失"))
    elif last not in {c.seq for c in valid}:
        report.problems.append(chain.Problem(last, "bad_checkpoint", f"归档的最后一条记录（序号 {last}）没有有效的"
                                                                     "签名检查点"))


def prune(db: Database, before: date | None, archive_path: Path, *, actor: Actor | None = None) -> dict:
    """Deletes the records older than local day `before` (default: the retention cutoff), only past the
    retention period and only when `archive_path` verifies, was signed by this node and holds every record to
    delete. A `prune` checkpoint signed at the last deleted record, in the same transaction, is the anchor
    from which `chain.verify` proves the records kept."""
    actor = actor or Actor.system()
    require_role(actor, Role.PLATFORM_ADMIN, action="清理使用记录")
    with db.session(read_only=True) as session:
        cutoff = retention_cutoff(session)
        before = before or cutoff
        if before > cutoff:
            days = settings_of(session).audit_retention_days
            raise ValidationFailed(f"使用记录至少保存 {days} 天：只能清理 {cutoff} 之前的记录", field="before")
        first, last = _last_before(session, before)
        node_key = chain.key_info(settings_of(session)).key_id
        if first is None or last < first:
            return {"pruned": 0, "before": before, "first_seq": None, "last_seq": None, "checkpoint_id": None}
        digest = session.scalar(select(UsageRecord.hash).where(UsageRecord.seq == last))
    report, header = verify_archive(archive_path, {last})
    if not report.ok:
        raise ValidationFailed(f"归档文件未通过校验，不能清理：{report.first_problem.message}", field="archive")
    if header["key_id"] != node_key:
        raise ValidationFailed("归档文件不是本节点的签名密钥签署的，不能据此清理", field="archive")
    if not (header["first_seq"] <= first and header["last_seq"] >= last and header["hashes"].get(last) == digest):
        raise ValidationFailed(f"归档文件没有包含要清理的全部记录（序号 {first} 至 {last}），请先重新归档",
                               field="archive")
    sha = file_sha256(Path(archive_path))
    with db.session() as session:
        if session.scalar(select(UsageRecord.hash).where(UsageRecord.seq == last)) != digest:
            raise ValidationFailed("要清理的记录在校验归档后发生了变化，已停止清理", field="archive")
        signed = chain.sign_checkpoint(session, kind="prune", seq=last, digest=digest, note=(
            f"清理序号 {first} 至 {last}（{before} 之前）；归档文件 {Path(archive_path).name}，SHA-256 {sha}；"
            f"操作人 {actor.username}"))
        pruned = session.execute(delete(UsageRecord).where(and_(UsageRecord.seq >= first, UsageRecord.seq <= last))
                                 ).rowcount
    return {"pruned": pruned, "before": before, "first_seq": first, "last_seq": last, "checkpoint_id": signed.id,
            "archive_sha256": sha}
