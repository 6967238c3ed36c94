"""The hash chain of usage records and the node's signed checkpoints (R12).

Each record's hash is SHA-256 over the previous record's hash and the record's own fields in a fixed
order (`link_hash`); the node signs (seq, hash) checkpoints with its Ed25519 key, and each checkpoint also
commits to the previous one (`prev`), so the checkpoints form a chain of their own and verifying them costs
one signature check. Changing, deleting or inserting a record breaks a link; rewriting the chain after a
checkpoint needs the node's key. `verify` proves both and names the first record that is wrong. What no
chain can show is a change to the newest records that no checkpoint covers yet, made together with the
head (one that leaves the head alone is named: the head must hold the last record's hash): the worker signs
the head every round, and the report states how many records are not covered yet.

Verification reads the chain in batches of consecutive seq. A batch is proven in bulk: the database
formats each record's canonical text (SQLite `printf`, PostgreSQL `concat`; PostgreSQL also hashes it),
Python hashes the texts and compares the concatenation of the digests, the stored hashes and the stored
links as three strings. Only a batch that fails is read again record by record (`Links`), to name the
record at fault. Long chains are split into seq ranges verified by separate processes; the parent checks
the links across the range boundaries, so the report is the same whatever the split."""

from __future__ import annotations

import base64
import bisect
import contextlib
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from govshare.audit.models import GENESIS_HASH, ChainHead, Checkpoint, UsageRecord
from govshare.config import Settings, settings_of
from govshare.db import Database, utcnow
from govshare.prepared import Prepared, Raw, raw_connection

# The fields a record's hash covers, in this order. Never reorder: old records would stop verifying.
CHAINED_FIELDS = (
    "seq", "at", "department_id", "provider_id", "consumer_system_id", "user_id", "grant_id", "entry_id",
    "resource_code", "mode", "items", "row_count", "result", "reason", "request_hash",
)
SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in the values (codes, ids, item names, hex)
RECORD_SEPARATOR = "\x1e"  # between the canonical texts of a batch
KEY_FILE = "audit_ed25519.pem"
HASH_LENGTH = 64
MAX_PROBLEMS = 100


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # the exact string SQLAlchemy stores in SQLite, so a raw SQLite read needs no parsing
        return value.isoformat(sep=" ", timespec="microseconds")
    return str(value)


def canonical(prev_hash: str, values: Iterable) -> str:
    """The text a record's hash is taken of: the previous hash and the chained values, unit-separated."""
    return prev_hash + SEPARATOR + SEPARATOR.join(_text(v) for v in values)


def link_hash(prev_hash: str, values: Iterable) -> str:
    """SHA-256 of the previous hash and the record's chained values (in CHAINED_FIELDS order)."""
    return hashlib.sha256(canonical(prev_hash, values).encode()).hexdigest()


HEAD = ChainHead.__table__
READ_HEAD = Prepared(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1).with_for_update())
MOVE_HEAD = Prepared(update(HEAD).where(HEAD.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))
RECORD_COLUMNS = [column.name for column in UsageRecord.__table__.columns if column.name != "id"]
INSERT_RECORD = Prepared(UsageRecord.__table__.insert().values({name: bindparam(name) for name in RECORD_COLUMNS}))
RECORD_DEFAULTS = {"items": "", "reason": "", "row_count": 0, "resource_code": "", "department_id": None,
                   "provider_id": None, "consumer_system_id": None, "user_id": None, "grant_id": None,
                   "entry_id": None}


def append(session: Session, **fields) -> UsageRecord:
    """Adds one record at the end of the chain, inside the caller's transaction; returns it as written
    (not attached to the session)."""
    return UsageRecord(**append_many(session, [fields])[0])


def append_many(session: Session, records: list[dict]) -> list[dict]:
    """`append_raw` inside the session's transaction."""
    return append_raw(raw_connection(session), records)


def lock_head(raw: Raw) -> tuple[int, str]:
    """The chain's head (seq, hash), locked until the transaction ends (FOR UPDATE on PostgreSQL; SQLite's
    write transaction is already exclusive)."""
    ((seq, prev_hash),) = READ_HEAD.rows(raw)
    return seq, prev_hash


def append_raw(raw: Raw, records: list[dict], head: tuple[int, str] | None = None) -> list[dict]:
    """Adds records at the end of the chain in the given order, inside the connection's open transaction,
    and returns their values as written (with seq, prev_hash and hash). The head is locked first (or was,
    by the caller: `head`), so links never fork. Prepared statements and one executemany for the batch:
    every gateway call writes a record."""
    seq, prev_hash = head or lock_head(raw)
    written = []
    for fields in records:
        seq += 1
        values = {**RECORD_DEFAULTS, **fields, "seq": seq, "at": (fields.get("at") or utcnow()).replace(tzinfo=None)}
        digest = link_hash(prev_hash, (values.get(name) for name in CHAINED_FIELDS))
        values.update(prev_hash=prev_hash, hash=digest)
        written.append(values)
        prev_hash = digest
    if written:
        INSERT_RECORD.run_many(raw, written)
        MOVE_HEAD.run(raw, {"new_seq": seq, "new_hash": prev_hash})
    return written


# ---------------------------------------------------------------- the node key


def key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / KEY_FILE


@lru_cache(maxsize=8)
def _load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The node's public key, or None when the node has no key yet (verifying never creates one)."""
    path = key_path(settings).resolve()
    return _load_or_create(path).public_key() if path.exists() else None


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class KeyInfo:
    path: Path
    exists: bool
    key_id: str | None
    mode: int | None  # permission bits of the key file

    @property
    def private_to_owner(self) -> bool:
        return self.mode is not None and self.mode & 0o077 == 0


def key_info(settings: Settings, *, create: bool = False) -> KeyInfo:
    """Where the node key is, its id and whether only its owner can read it (R12, R18)."""
    path = key_path(settings).resolve()
    if create:
        signing_key(settings)
    if not path.exists():
        return KeyInfo(path, False, None, None)
    return KeyInfo(path, True, key_id(_load_or_create(path).public_key()), path.stat().st_mode & 0o777)


def _checkpoint_message(seq: int, digest: str, signed_at: datetime, kind: str, prev: str = "") -> bytes:
    return SEPARATOR.join(["govshare-checkpoint", str(seq), digest, _text(signed_at), kind, prev or ""]).encode()


def checkpoint_digest(checkpoint) -> str:
    """What the next checkpoint commits to: this one's signed message and its signature."""
    message = _checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.signed_at, checkpoint.kind,
                                  checkpoint.prev)
    return hashlib.sha256(message + SEPARATOR.encode() + checkpoint.signature.encode()).hexdigest()


def sign_checkpoint(session: Session, *, kind: str = "interval", note: str = "",
                    seq: int | None = None, digest: str | None = None) -> Checkpoint | None:
    """Signs the chain's head (or the given link); None when the head is already signed or empty.
    Each checkpoint also commits to the previous one (`prev`), so the checkpoints form a chain of their
    own: verifying needs one signature check, and deleting or changing a checkpoint breaks a link."""
    # the head's lock serializes signers too, so the checkpoints' own chain never forks
    head = session.execute(select(ChainHead).where(ChainHead.id == 1).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()
    if seq is None:
        seq, digest = head.seq, head.hash
        last = session.scalars(select(Checkpoint.seq).order_by(Checkpoint.seq.desc()).limit(1)).first()
        if seq == 0 or (last is not None and last >= seq):
            return None
    previous = session.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()
    prev = checkpoint_digest(previous) if previous is not None else ""
    key = signing_key(settings_of(session))
    signed_at = utcnow()
    signature = key.sign(_checkpoint_message(seq, digest, signed_at, kind, prev))
    checkpoint = Checkpoint(seq=seq, hash=digest, kind=kind, signed_at=signed_at, note=note, prev=prev,
                            key_id=key_id(key.public_key()), signature=base64.b64encode(signature).decode())
    session.add(checkpoint)
    session.flush()
    return checkpoint


def checkpoint_valid(checkpoint, public: Ed25519PublicKey | None) -> bool:
    """The checkpoint's own signature (`checkpoint`: a Checkpoint, or anything with its attributes)."""
    if public is None:
        return False
    try:
        public.verify(base64.b64decode(checkpoint.signature), _checkpoint_message(
            checkpoint.seq, checkpoint.hash, checkpoint.signed_at, checkpoint.kind, checkpoint.prev))
    except (InvalidSignature, ValueError):
        return False
    return checkpoint.key_id == key_id(public)


def authentic_checkpoints(checkpoints: list, public: Ed25519PublicKey | None, *,
                          complete: bool = True) -> tuple[list, list[Problem]]:
    """The checkpoints that are the node's, newest first walked back: one is authentic when the next newer
    authentic one commits to it (`prev`), else only by its own signature. So an intact list costs one
    signature check. `complete`: the list is every checkpoint of the node (not an archive's subset), so a
    newer checkpoint committing to one that is not there means a checkpoint was deleted."""
    authentic, problems = [], []
    newer, bad_between = None, False
    for checkpoint in sorted(checkpoints, key=lambda c: c.id, reverse=True):
        linked = newer is not None and newer.prev == checkpoint_digest(checkpoint)
        if linked or checkpoint_valid(checkpoint, public):
            if newer is not None and not linked and not bad_between and complete and newer.prev:
                problems.append(Problem(newer.seq, "bad_checkpoint", f"检查点缺失：检查点 {newer.id}（序号 "
                                                                     f"{newer.seq}）之前的检查点被删除"))
            authentic.append(checkpoint)
            newer, bad_between = checkpoint, False
        else:
            why = "节点没有签名密钥" if public is None else "签名无效、内容被改动或不是本节点的密钥所签"
            problems.append(Problem(checkpoint.seq, "bad_checkpoint",
                                    f"检查点无效（检查点 {checkpoint.id}，序号 {checkpoint.seq}）：{why}"))
            bad_between = True
    if newer is not None and newer.prev and complete and not bad_between:
        problems.append(Problem(newer.seq, "bad_checkpoint", f"检查点缺失：最早的检查点（序号 {newer.seq}）之前"
                                                             "还有检查点，但已被删除"))
    authentic.sort(key=lambda c: (c.seq, c.id))
    return authentic, problems


# ---------------------------------------------------------------- the report


KIND_LABELS = {
    "altered": "记录被篡改",
    "missing": "记录缺失",
    "inserted": "记录被插入",
    "rewritten": "记录链被重写",
    "bad_checkpoint": "检查点无效",
}


@dataclass
class Problem:
    seq: int
    kind: str  # altered | missing | inserted | rewritten | bad_checkpoint
    message: str

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass
class VerifyReport:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_seq: int | None = None
    checkpoints: int = 0
    last_signed_seq: int | None = None
    last_signed_at: datetime | None = None
    key_id: str | None = None
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    rechecked: int = 0  # records re-read one by one (0 for an intact chain: every batch proved in bulk)

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
        return max(0, self.last_seq - max(self.last_signed_seq or 0, (self.first_seq or 1) - 1))

    def to_dict(self) -> dict:
        first = self.first_problem
        return {
            "ok": self.ok, "records": self.records, "first_seq": self.first_seq, "last_seq": self.last_seq,
            "head_seq": self.head_seq, "checkpoints": self.checkpoints, "last_signed_seq": self.last_signed_seq,
            "last_signed_at": self.last_signed_at, "unsigned_tail": self.unsigned_tail, "key_id": self.key_id,
            "seconds": round(self.seconds, 3), "workers": self.workers, "rechecked": self.rechecked,
            "first_problem": {**asdict(first), "label": first.label} if first else None,
            "problems": [{**asdict(p), "label": p.label} for p in sorted(self.problems, key=lambda p: p.seq)],
        }


# ---------------------------------------------------------------- record-by-record checks


class Links:
    """Walks records in seq order and names what is wrong. State: the next seq expected, the hash the next
    record must link to (`running`), the one before it (`before`, to recognise an inserted record) and
    whether the last record's own hash was right. The same rules apply inside a batch, across batches and
    across the ranges of separate processes (see `stitch`)."""

    def __init__(self, expected: int | None = None, running: str | None = None, *, anchored: bool = False,
                 signed: dict[int, str] | None = None) -> None:
        self.expected = expected
        self.running = running
        self.before: str | None = None
        self.last_ok = True
        self.at_anchor = anchored  # `running` is the chain's start (genesis or a prune checkpoint)
        self.signed = signed or {}
        self.problems: list[Problem] = []
        self.mismatched: list[int] = []  # seqs of signed checkpoints whose hash differs from the record's
        self.first: tuple[int, str, bool] | None = None  # (seq, prev_hash, own hash right) of the first record
        self.count = 0
        self.rechecked = 0  # records read again one by one because their batch did not prove in bulk

    def add(self, problem: Problem) -> None:
        if len(self.problems) <= MAX_PROBLEMS:
            self.problems.append(problem)

    def link(self, seq: int, prev_hash: str, ok: bool) -> None:
        """The position and the link of record `seq` (its own hash was checked: `ok`)."""
        if self.first is None:
            self.first = (seq, prev_hash, ok)
        if self.expected is not None and seq != self.expected:
            span = f"{self.expected} 至 {seq - 1}" if seq - 1 > self.expected else str(self.expected)
            self.add(Problem(self.expected, "missing", f"使用记录缺失：序号 {span}"))
        elif self.running is not None and prev_hash != self.running:
            self._blame(seq, prev_hash, ok)

    def _blame(self, seq: int, prev_hash: str, ok: bool) -> None:
        if self.at_anchor:
            if ok:
                self.add(Problem(seq, "altered", f"序号 {seq} 的前序哈希与记录链的起点（创世哈希或签名的清理"
                                                 "检查点）不符：记录被替换"))
        elif self.before is not None and prev_hash == self.before:
            self.add(Problem(seq - 1, "inserted", f"序号 {seq - 1} 的记录是插入的：下一条记录（序号 {seq}）"
                                                  f"链接的是它之前的记录（序号 {seq - 2}）"))
        elif self.last_ok and ok:
            self.add(Problem(seq - 1, "altered", f"序号 {seq - 1} 的记录被替换：内容与哈希被一并改写，与下一条"
                                                 f"记录（序号 {seq}）保存的前序哈希不符"))
        # otherwise a record's own hash is wrong, and that record is already named

    def record(self, seq: int, prev_hash: str, stored: str, ok: bool) -> None:
        """One record read on its own: its position, link, own hash and signed checkpoint."""
        if not ok:
            self.add(Problem(seq, "altered", f"使用记录被篡改：序号 {seq} 的内容与其哈希不符"))
        self.link(seq, prev_hash, ok)
        if seq in self.signed and self.signed[seq] != stored:
            self.mismatched.append(seq)
        self.before, self.running, self.expected, self.last_ok = self.running, stored, seq + 1, ok
        self.at_anchor = False
        self.count += 1

    def state(self) -> tuple:
        return self.before, self.running, self.expected, self.last_ok

    def stitch(self, part: Links) -> None:
        """Continues this walk with a range walked separately (by another process) from an unknown start:
        checks the first record's position and link against this walk's end, then takes over its state."""
        self.problems.extend(part.problems)
        self.mismatched.extend(part.mismatched)
        self.rechecked += part.rechecked
        if part.first is None:
            return
        self.link(*part.first)
        self.before, self.running, self.expected, self.last_ok = part.state()
        self.at_anchor = False
        self.count += part.count


# ---------------------------------------------------------------- reading the chain


def _sqlite_payload() -> str:
    # printf('%s', NULL) is '' and integers print as Python prints them; `at` is stored as _text() wrote it
    template = SEPARATOR.join(["%s"] * (len(CHAINED_FIELDS) + 1))
    return f"printf('{template}', prev_hash, {', '.join(CHAINED_FIELDS)})"


def _postgres_payload() -> str:
    # concat() treats NULL as ''; to_char gives `at` the six-digit microseconds _text() writes
    parts = ["prev_hash"]
    for name in CHAINED_FIELDS:
        parts.append("chr(31)")
        parts.append("to_char(at, 'YYYY-MM-DD HH24:MI:SS.US')" if name == "at" else name)
    return f"concat({', '.join(parts)})"


BATCH_SQL = {
    # the texts come back as one BLOB: bytes to hash, with no decoding to str and encoding back
    "sqlite": (f"SELECT count(*), min(seq), max(seq), CAST(group_concat({_sqlite_payload()}, char(30)) AS BLOB), "
               "group_concat(prev_hash, ''), group_concat(hash, '') FROM usage_records WHERE seq BETWEEN ? AND ?"),
    "postgresql": (f"SELECT count(*), min(seq), max(seq), bool_and(encode(sha256(convert_to({_postgres_payload()}, "
                   "'UTF8')), 'hex') = hash), string_agg(prev_hash, '' ORDER BY seq), "
                   "string_agg(hash, '' ORDER BY seq) FROM usage_records WHERE seq BETWEEN %s AND %s"),
}
ROWS_SQL = ("SELECT " + ", ".join(CHAINED_FIELDS) + ", prev_hash, hash FROM usage_records"
            " WHERE seq BETWEEN {p} AND {p} ORDER BY seq")
SELECT_CHAIN = (
    "SELECT " + ", ".join(CHAINED_FIELDS) + ", prev_hash, hash FROM usage_records"
    " WHERE seq >= {low} AND seq <= {high} ORDER BY seq"
)
BATCH = 10_000
PARALLEL_FROM = 400_000  # records: below this, one process is faster than starting others


def _scan(session: Session, low: int, high: int, batch: int = BATCH):
    """Chained rows by seq, fetched in batches straight from the driver (the benchmark's plain-scan baseline)."""
    result = session.connection().exec_driver_sql(SELECT_CHAIN.format(low=int(low), high=int(high)))
    while rows := result.fetchmany(batch):
        yield rows


class _Reader:
    """A raw driver connection of its own (one per process or thread that reads)."""

    def __init__(self, url: str) -> None:
        from govshare.db import make_engine

        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self.connection = self.engine.raw_connection()
        self.param = "?" if self.dialect == "sqlite" else "%s"
        if self.dialect == "sqlite":
            self.connection.execute("PRAGMA cache_size = -65536")

    def one(self, sql: str, params: tuple):
        cursor = self.connection.cursor()
        cursor.execute(sql, params)
        row = cursor.fetchone()
        cursor.close()
        return row

    def rows(self, low: int, high: int) -> list:
        cursor = self.connection.cursor()
        cursor.execute(ROWS_SQL.format(p=self.param), (low, high))
        rows = cursor.fetchall()
        cursor.close()
        return rows

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


def _batches(reader: _Reader, low: int, high: int, step: int) -> Iterator[tuple[int, int, tuple]]:
    sql = BATCH_SQL.get(reader.dialect)
    for start in range(low, high + 1, step):
        end = min(start + step - 1, high)
        yield start, end, reader.one(sql, (start, end))


def _unhex(text_: str) -> bytes | None:
    """The stored hashes as bytes; None when one was replaced by something that is not hex."""
    try:
        return bytes.fromhex(text_)
    except ValueError:
        return None


def _prefetched(source: Iterator, depth: int = 2) -> Iterator:
    """Runs `source` in a thread one step ahead: the database builds the next batch (the driver releases
    the GIL) while this thread hashes the current one. The thread has ended when this generator is closed."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as exc:  # handed over to the consumer
            put(exc)
        put(done)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := box.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def scan_range(url: str, low: int, high: int, signed: dict[int, str], *, batch: int = BATCH,
               progress: Callable[[int], None] | None = None, prefetch: bool = True) -> Links:
    """Verifies records low..high on a connection of its own. The first record's position and link are
    left to the caller (it knows what precedes the range): see `Links.stitch`. `prefetch` overlaps the
    database's work with the hashing in a second thread: a gain for one process, a loss when the ranges'
    processes already keep every core busy."""
    reader, walk = _Reader(url), Links(signed=signed)
    detail: _Reader | None = None
    sha256 = hashlib.sha256
    sqlite = reader.dialect == "sqlite"
    signed_seqs = sorted(signed)
    batches = _batches(reader, low, high, batch)
    if prefetch:
        batches = _prefetched(batches)
    try:
        for start, end, (count, lo, hi, payloads, prevs, hashes) in batches:
            if not count:
                continue
            if sqlite:
                ok = b"".join([sha256(p).digest() for p in payloads.split(b"\x1e")]) == _unhex(hashes)
            else:
                ok = bool(payloads)
            ok = ok and count == hi - lo + 1 and len(hashes) == len(prevs) == count * HASH_LENGTH
            ok = ok and (walk.expected is None or lo == walk.expected)
            linked = walk.running + hashes[:-HASH_LENGTH] if walk.running is not None else None
            ok = ok and (prevs == linked if linked is not None else prevs[HASH_LENGTH:] == hashes[:-HASH_LENGTH])
            inside = signed_seqs[bisect.bisect_left(signed_seqs, lo):bisect.bisect_right(signed_seqs, hi)]
            ok = ok and all(hashes[(s - lo) * HASH_LENGTH:(s - lo + 1) * HASH_LENGTH] == signed[s] for s in inside)
            if ok:  # the whole batch is linked, hashed and signed right: take its end state
                if walk.first is None:
                    walk.first = (lo, prevs[:HASH_LENGTH], True)
                walk.before = hashes[-2 * HASH_LENGTH:-HASH_LENGTH] if count > 1 else walk.running
                walk.running, walk.expected, walk.last_ok = hashes[-HASH_LENGTH:], hi + 1, True
                walk.at_anchor = False
                walk.count += count
            else:  # read it again record by record to name what is wrong
                detail = detail or _Reader(url)
                for row in detail.rows(start, end):
                    prev_hash, stored = row[-2], row[-1]
                    walk.record(row[0], prev_hash, stored, link_hash(prev_hash, row[:-2]) == stored)
                    walk.rechecked += 1
            if progress:
                progress(count)
            if len(walk.problems) > MAX_PROBLEMS:
                break
    finally:
        batches.close()
        reader.close()
        if detail is not None:
            detail.close()
    return walk


def _range_worker() -> None:
    """A child process (`python -c`, see `_parallel`): reads (url, low, high, signed, batch) pickled from
    stdin, verifies that range, and writes progress lines and then its pickled walk to stdout."""
    import pickle
    import sys

    url, low, high, signed, batch = pickle.loads(sys.stdin.buffer.read())
    out = sys.stdout

    def progress(count: int) -> None:
        out.write(f"P {count}\n")
        out.flush()

    walk = scan_range(url, low, high, signed, batch=batch, progress=progress, prefetch=False)
    out.write("R " + base64.b64encode(pickle.dumps(walk)).decode() + "\n")
    out.flush()


WORKER_CODE = "from govshare.audit.chain import _range_worker; _range_worker()"


def _parallel(url: str, low: int, high: int, signed: dict, workers: int, batch: int,
              progress: Callable[[int], None] | None) -> list[Links]:
    """Splits low..high into `workers` ranges verified by child processes; their walks in seq order.
    The children are plain interpreters (not multiprocessing): nothing of this process, its threads or its
    main module is copied or re-imported, whichever program (CLI, server, tests) asks for the verification."""
    import pickle
    import subprocess
    import sys
    import tempfile

    size = -(-(high - low + 1) // workers)
    bounds = [(start, min(start + size - 1, high)) for start in range(low, high + 1, size)]
    lines: queue.Queue = queue.Queue()
    children, errors = [], []
    walks: dict[int, Links] = {}
    with contextlib.ExitStack() as stack:
        for index, (a, b) in enumerate(bounds):
            errors.append(stack.enter_context(tempfile.TemporaryFile()))  # a file: a chatty child never blocks
            child = subprocess.Popen([sys.executable, "-c", WORKER_CODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=errors[-1])
            children.append(child)
            child.stdin.write(pickle.dumps((url, a, b, {s: d for s, d in signed.items() if a <= s <= b}, batch)))
            child.stdin.close()
            threading.Thread(target=_pump, args=(index, child.stdout, lines), daemon=True).start()
        ended = 0
        try:
            while ended < len(children):
                index, line = lines.get()
                if line is None:
                    ended += 1
                elif line.startswith(b"P ") and progress:
                    progress(int(line[2:]))
                elif line.startswith(b"R "):
                    walks[index] = pickle.loads(base64.b64decode(line[2:]))
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                child.wait()
        for index, child in enumerate(children):
            if index not in walks:
                errors[index].seek(0)
                error = errors[index].read().decode(errors="replace").strip().splitlines()
                raise RuntimeError(f"校验子进程出错（序号 {bounds[index][0]} 至 {bounds[index][1]}）："
                                   f"{error[-1] if error else child.returncode}")
    return [walks[i] for i in range(len(bounds))]


def _pump(index: int, stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put((index, line.rstrip(b"\n")))
    stream.close()
    lines.put((index, None))


# ---------------------------------------------------------------- verify


def _anchor(report: VerifyReport, checkpoints: list, first_seq: int) -> str | None:
    """The hash the first kept record must link to: genesis, or the signed prune checkpoint left when the
    records before it were archived and deleted."""
    if first_seq == 1:
        return GENESIS_HASH
    prunes = [c for c in checkpoints if c.kind == "prune" and c.seq < first_seq]
    anchor = next((c for c in reversed(prunes) if c.seq == first_seq - 1), None)
    if anchor is not None:
        return anchor.hash
    start = max((c.seq for c in prunes), default=0) + 1
    span = f"{start} 至 {first_seq - 1}" if first_seq - 1 > start else str(start)
    report.problems.append(Problem(start, "missing", f"使用记录缺失：序号 {span}（没有签名的清理检查点证明"
                                                     "它们已按保存期限归档后清理）"))
    return None


def _rewritten(report: VerifyReport, walk: Links, checkpoints: list, start: int) -> None:
    """A signed checkpoint whose hash differs from its record while the links hold: the records since the
    previous checkpoint that still matches were rewritten (with recomputed hashes) after it was signed."""
    bad = sorted(set(walk.mismatched))
    good = sorted({c.seq for c in checkpoints if c.seq >= start} - set(bad))
    for seq in bad:
        since = max([s for s in good if s < seq], default=start - 1) + 1
        if any(since <= p.seq <= seq for p in report.problems):
            continue  # a record in that span is already named
        span = f"{since} 至 {seq}" if seq > since else str(seq)
        report.problems.append(Problem(since, "rewritten", f"使用记录链被重写：序号 {span} 的记录与序号 {seq} 的"
                                                           "签名检查点不符（哈希被重新计算）"))


def _tail(report: VerifyReport, checkpoints: list, head_seq: int) -> None:
    last = report.last_seq or 0
    beyond = [c.seq for c in checkpoints if c.seq > last]
    if beyond:
        report.problems.append(Problem(last + 1, "missing", f"使用记录缺失：签名检查点覆盖到序号 {max(beyond)}，"
                                                            f"但最后一条记录是 {last or '（无）'}"))
    elif head_seq > last and report.last_seq is not None:
        report.problems.append(Problem(last + 1, "missing", f"使用记录缺失：记录链头是序号 {head_seq}，"
                                                            f"但最后一条记录是 {last}"))
    elif head_seq < last:
        report.problems.append(Problem(head_seq + 1, "inserted", f"序号 {head_seq + 1} 至 {last} 的记录不在记录链头"
                                                                 f"（序号 {head_seq}）之内：记录被插入"))


def _head(report: VerifyReport, walk: Links, checkpoints: list, head_seq: int, head_hash: str) -> None:
    """The head holds the last record's hash (the next record links to it). Another hash there means the
    newest records were rewritten with recomputed hashes behind an unchanged head, or the head itself was
    changed: named from the first record after the last signed checkpoint that still matches."""
    if head_seq != report.last_seq or walk.running is None or head_hash == walk.running:
        return
    mismatched = set(walk.mismatched)
    since = max((c.seq for c in checkpoints if c.seq <= head_seq and c.seq not in mismatched),
                default=(report.first_seq or 1) - 1) + 1
    if any(since <= p.seq <= head_seq for p in report.problems):
        return  # a record in that span is already named
    if since > head_seq:
        report.problems.append(Problem(head_seq, "rewritten", f"记录链头被改动：其哈希与最后一条记录（序号 {head_seq}，"
                                                              "已有签名检查点）不符"))
        return
    span = f"{since} 至 {head_seq}" if head_seq > since else str(head_seq)
    report.problems.append(Problem(since, "rewritten", f"使用记录链被重写：记录链头的哈希与最后一条记录（序号 "
                                                       f"{head_seq}）不符，序号 {span} 的记录被重写（哈希被重新计算），"
                                                       "或记录链头被改动"))


def _bounds(session: Session) -> tuple[int, str, int | None, int | None]:
    """The head and the first and last seq, read in one statement (one snapshot on every database)."""
    row = session.execute(text(
        "SELECT h.seq, h.hash, (SELECT min(seq) FROM usage_records), (SELECT max(seq) FROM usage_records)"
        " FROM audit_chain_head h WHERE h.id = 1")).one()
    return int(row[0]), row[1], row[2], row[3]


def verify(db: Database, progress: Callable[[int], None] | None = None, *, workers: int | None = None,
           batch: int = BATCH, on_total: Callable[[int], None] | None = None) -> VerifyReport:
    """Proves the chain link by link and every checkpoint's signature and position. Problems name the seq
    of the record concerned: the first altered one, the first missing one, an inserted one; a consistent
    rewrite is named from the first record after the last checkpoint that still matches.

    `workers`: processes reading separate seq ranges (default: one per CPU for long chains)."""
    started = time.perf_counter()
    report = VerifyReport()
    with db.session(read_only=True) as session:
        settings = settings_of(session)
        public = public_key(settings)
        report.key_id = key_id(public) if public else None
        checkpoints = list(session.scalars(select(Checkpoint).order_by(Checkpoint.seq, Checkpoint.id)))
        head_seq, head_hash, first_seq, last_seq = _bounds(session)
    report.head_seq, report.checkpoints = head_seq, len(checkpoints)
    valid, problems = authentic_checkpoints(checkpoints, public)
    report.problems.extend(problems)
    if valid:
        report.last_signed_seq = max(c.seq for c in valid)
        report.last_signed_at = max(c.signed_at for c in valid if c.seq == report.last_signed_seq)
    if first_seq is None:
        pruned = max((c.seq for c in valid if c.kind == "prune"), default=0)
        if head_seq > pruned or (report.last_signed_seq or 0) > pruned:
            top = max(head_seq, report.last_signed_seq or 0)
            report.problems.append(Problem(pruned + 1, "missing", f"使用记录缺失：序号 {pruned + 1} 至 {top} 的记录"
                                                                  "全部不见了"))
        report.seconds = time.perf_counter() - started
        return report
    report.first_seq, report.last_seq = first_seq, last_seq
    if on_total:
        on_total(last_seq - first_seq + 1)
    anchor = _anchor(report, valid, first_seq)
    signed = {c.seq: c.hash for c in valid if first_seq <= c.seq <= last_seq}
    walk = Links(first_seq, anchor, anchored=anchor is not None, signed=signed)
    total = last_seq - first_seq + 1
    report.workers = workers or (min(os.cpu_count() or 1, 8) if total >= PARALLEL_FROM else 1)
    report.workers = max(1, min(report.workers, total // 2 or 1))
    if report.workers == 1:
        walk.stitch(scan_range(db.url, first_seq, last_seq, signed, batch=batch, progress=progress))
    else:
        for part in _parallel(db.url, first_seq, last_seq, signed, report.workers, batch, progress):
            walk.stitch(part)
    report.records, report.rechecked = walk.count, walk.rechecked
    report.problems.extend(walk.problems)
    _rewritten(report, walk, valid, first_seq)
    _tail(report, valid, head_seq)
    _head(report, walk, valid, head_seq, head_hash)
    report.problems.sort(key=lambda p: p.seq)
    report.seconds = time.perf_counter() - started
    return report
