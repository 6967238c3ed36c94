"""The hash chain of usage records and the node's signed checkpoints (R12).

Each record's hash is SHA-256 over the previous record's hash and the record's own fields in a fixed
order (`canonical`); the node signs (seq, hash) checkpoints with its Ed25519 key. Changing, deleting or
inserting a record breaks a link; rewriting the whole chain after a checkpoint needs the node's key.
`verify` proves both and names the first record that is wrong."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from govshare.audit.models import GENESIS_HASH, ChainHead, Checkpoint, UsageRecord
from govshare.config import Settings, settings_of
from govshare.db import Database, utcnow

# The fields a record's hash covers, in this order. Never reorder: old records would stop verifying.
CHAINED_FIELDS = (
    "seq", "at", "department_id", "provider_id", "consumer_system_id", "user_id", "grant_id", "entry_id",
    "resource_code", "mode", "items", "row_count", "result", "reason", "request_hash",
)
SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in the values (codes, ids, item names, hex)
KEY_FILE = "audit_ed25519.pem"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # the exact string SQLAlchemy stores in SQLite, so a raw SQLite read needs no parsing
        return value.isoformat(sep=" ", timespec="microseconds")
    return str(value)


def link_hash(prev_hash: str, values: Iterable) -> str:
    """SHA-256 of the previous hash and the record's chained values (in CHAINED_FIELDS order)."""
    payload = prev_hash + SEPARATOR + SEPARATOR.join(_text(v) for v in values)
    return hashlib.sha256(payload.encode()).hexdigest()


def append(session: Session, **fields) -> UsageRecord:
    """Adds one record at the end of the chain, inside the caller's transaction. The head row is locked
    (FOR UPDATE on PostgreSQL; SQLite's write transaction is already exclusive), so links never fork."""
    head = session.execute(select(ChainHead).where(ChainHead.id == 1).with_for_update()).scalar_one()
    fields["seq"] = head.seq + 1
    fields["at"] = (fields.get("at") or utcnow()).replace(tzinfo=None)
    fields.setdefault("items", "")
    fields.setdefault("reason", "")
    fields.setdefault("row_count", 0)
    fields.setdefault("resource_code", "")
    digest = link_hash(head.hash, (fields.get(name) for name in CHAINED_FIELDS))
    record = UsageRecord(**fields, prev_hash=head.hash, hash=digest)
    session.add(record)
    session.execute(update(ChainHead).where(ChainHead.id == 1).values(seq=record.seq, hash=digest))
    return record


# ---------------------------------------------------------------- the node key


def key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / KEY_FILE


@lru_cache(maxsize=8)
def _load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:  # O_EXCL: two processes starting at once cannot overwrite each other's key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        except FileExistsError:
            pass
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The node's checkpoint key: created on first use (`govshare init`) with owner-only permissions."""
    return _load_or_create(key_path(settings).resolve())


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _checkpoint_message(seq: int, digest: str, signed_at: datetime, kind: str) -> bytes:
    return SEPARATOR.join(["govshare-checkpoint", str(seq), digest, _text(signed_at), kind]).encode()


def sign_checkpoint(session: Session, *, kind: str = "interval", note: str = "",
                    seq: int | None = None, digest: str | None = None) -> Checkpoint | None:
    """Signs the chain's head (or the given link); None when the head is already signed or empty."""
    if seq is None:
        head = session.execute(select(ChainHead).where(ChainHead.id == 1).with_for_update()).scalar_one()
        seq, digest = head.seq, head.hash
        last = session.scalars(select(Checkpoint.seq).order_by(Checkpoint.seq.desc()).limit(1)).first()
        if seq == 0 or (last is not None and last >= seq and kind == "interval"):
            return None
    key = signing_key(settings_of(session))
    signed_at = utcnow()
    signature = key.sign(_checkpoint_message(seq, digest, signed_at, kind))
    checkpoint = Checkpoint(seq=seq, hash=digest, kind=kind, signed_at=signed_at, note=note,
                            key_id=key_id(key.public_key()), signature=base64.b64encode(signature).decode())
    session.add(checkpoint)
    session.flush()
    return checkpoint


def checkpoint_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature),
                          _checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.signed_at, checkpoint.kind))
    except (InvalidSignature, ValueError):
        return False
    return checkpoint.key_id == key_id(public_key)


# ---------------------------------------------------------------- verification


@dataclass
class Problem:
    seq: int
    kind: str  # altered | missing | inserted | bad_checkpoint | unanchored
    message: str


@dataclass
class VerifyReport:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    last_signed_seq: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.seq) if self.problems else None

    @property
    def unsigned_tail(self) -> int:
        """Records after the last checkpoint: linked, but not yet covered by a signature."""
        if self.last_seq is None:
            return 0
        return self.last_seq - max(self.last_signed_seq or 0, (self.first_seq or 1) - 1)


SELECT_CHAIN = (
    "SELECT " + ", ".join(CHAINED_FIELDS) + ", prev_hash, hash FROM usage_records"
    " WHERE seq >= {low} AND seq <= {high} ORDER BY seq"
)


def _scan(session: Session, low: int, high: int, batch: int = 20_000):
    """Chained rows by seq, fetched in batches straight from the driver (no ORM objects: 10M rows)."""
    result = session.connection().exec_driver_sql(SELECT_CHAIN.format(low=int(low), high=int(high)))
    while rows := result.fetchmany(batch):
        yield rows


def verify(db: Database, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Proves the chain link by link and every checkpoint's signature and position. Problems name the seq
    of the record concerned: the first altered one, the first missing one, an inserted one."""
    report = VerifyReport()
    with db.session(read_only=True) as session:
        public_key = signing_key(settings_of(session)).public_key()
        checkpoints = list(session.scalars(select(Checkpoint).order_by(Checkpoint.seq, Checkpoint.id)))
        bounds = session.execute(select(UsageRecord.seq).order_by(UsageRecord.seq).limit(1)).scalar()
        top = session.execute(select(UsageRecord.seq).order_by(UsageRecord.seq.desc()).limit(1)).scalar()
        head = session.get(ChainHead, 1)
        report.checkpoints = len(checkpoints)
        valid = [c for c in checkpoints if checkpoint_valid(c, public_key)]
        for bad in (c for c in checkpoints if c not in valid):
            report.problems.append(Problem(bad.seq, "bad_checkpoint",
                                           f"检查点签名无效（检查点 {bad.id}，序号 {bad.seq}）"))
        report.last_signed_seq = max((c.seq for c in valid), default=None)
        if bounds is None:
            if valid and report.last_signed_seq:
                report.problems.append(Problem(1, "missing", "使用记录全部缺失，但已签名检查点覆盖到序号 "
                                               f"{report.last_signed_seq}"))
            return report
        report.first_seq, report.last_seq = bounds, top
        signed = {c.seq: c.hash for c in valid}
        running = _anchor(report, valid, bounds)
        expected = bounds
        for rows in _scan(session, bounds, top):
            for row in rows:
                running, expected = _check_row(report, row, running, expected, signed)
                if len(report.problems) > 100:
                    return report
            report.records += len(rows)
            if progress:
                progress(len(rows))
        _check_tail(report, valid, head)
    return report


def _anchor(report: VerifyReport, checkpoints: list[Checkpoint], first_seq: int) -> str | None:
    """The hash the first kept record must link to: genesis, or a signed prune checkpoint."""
    if first_seq == 1:
        return GENESIS_HASH
    for checkpoint in checkpoints:
        if checkpoint.seq == first_seq - 1:
            return checkpoint.hash
    report.problems.append(Problem(first_seq - 1, "missing", f"序号 {first_seq} 之前的使用记录缺失，且没有签名的"
                                   "清理检查点证明它们已按保存期限归档"))
    return None


def _check_row(report: VerifyReport, row, running: str | None, expected: int, signed: dict) -> tuple[str, int]:
    seq, prev_hash, stored = row[0], row[-2], row[-1]
    if seq != expected:
        report.problems.append(Problem(expected, "missing", f"使用记录缺失：序号 {expected}"
                                       + (f" 至 {seq - 1}" if seq - 1 > expected else "")))
    elif running is not None and prev_hash != running:
        report.problems.append(Problem(seq, "inserted", f"序号 {seq} 的前序哈希与上一条记录不符：记录被插入或替换"))
    recomputed = link_hash(prev_hash, row[:-2])
    if recomputed != stored:
        report.problems.append(Problem(seq, "altered", f"使用记录被篡改：序号 {seq} 的内容与其哈希不符"))
    if seq in signed and signed[seq] != stored:
        report.problems.append(Problem(seq, "altered", f"序号 {seq} 的哈希与签名检查点不符：记录链被重写"))
    return stored, seq + 1


def _check_tail(report: VerifyReport, checkpoints: list[Checkpoint], head: ChainHead | None) -> None:
    beyond = [c for c in checkpoints if c.seq > (report.last_seq or 0)]
    if beyond:
        report.problems.append(Problem((report.last_seq or 0) + 1, "missing",
                                       f"使用记录缺失：签名检查点覆盖到序号 {max(c.seq for c in beyond)}，"
                                       f"但最后一条记录是 {report.last_seq}"))
    if head is not None and head.seq != report.last_seq:
        report.problems.append(Problem(min(head.seq, report.last_seq or 0) + 1, "missing",
                                       f"记录链头（序号 {head.seq}）与最后一条记录（序号 {report.last_seq}）不一致"))
