"""The search index: a tantivy (BM25) index of the published catalog, rebuildable from the database and
kept current after every commit that changed catalog entries.

- Documents are prepared in Python (jieba tokens, synonym canonical terms) and indexed by tantivy with a
  whitespace tokenizer; every character also goes, space-separated, to a low-boost field with positions.
- Only published entries are indexed; catalog.service marks changed entries in
  session.info["catalog_changed"] and the after_commit listener below reindexes them (R02).
- The index folder of a database comes from the registry: create_app and the CLI attach it; a session
  whose database has no index attached is not indexed.
- One writer per process (a lock per folder); a writer of another process (a rebuild from the CLI) is
  waited for a short while.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

import tantivy
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, selectinload

from govshare.catalog.vocab import DataFormat, Grade, ShareType
from govshare.orgs.models import Level
from govshare.search import tokenize

log = logging.getLogger(__name__)

SCHEMA_VERSION = 7
META_FILE = "govshare-search.json"
WORDS = "words"  # whitespace only: jieba tokens joined by spaces, lower-cased in Python
CHARS = "chars"  # one token per character (the characters arrive space-separated)
NEVER_STALE = datetime(2200, 1, 1)


def _codes(enum_cls) -> tuple[str, ...]:
    return tuple(member.value for member in enum_cls)


# Enumerated filters are stored as small integers (their position in the vocabulary): integer fast fields cost
# tantivy far less than text ones. Changing a vocabulary's order needs a new SCHEMA_VERSION.
ENUM_CODES: dict[str, tuple[str, ...]] = {
    "level": _codes(Level),
    "share_type": _codes(ShareType),
    "format": _codes(DataFormat),
    "grade": _codes(Grade),
}
ENUM_NUMBERS = {name: {code: number for number, code in enumerate(codes)} for name, codes in ENUM_CODES.items()}
TEXT_FILTERS = ("theme",)
# API filter names -> index fields.
FILTER_FIELDS = {"department": "department", **{name: name for name in ENUM_CODES}, "theme": "theme"}
# API facet names -> index fields (departments are counted by "id<TAB>name", which gives the labels too).
FACET_FIELDS = {**FILTER_FIELDS, "department": "department_label"}
DEPARTMENT_LABEL_SEP = "\t"
SEP = "\x1f"  # between the values of a stored payload
PAYLOAD_FIELDS = ("id", "resource_code", "name", "provider", "provider_id", "share_type", "grade", "format", "lead",
                  "quality")
NO_QUALITY = -1  # the `quality` field of an entry never checked (scores are stored ×10 as integers)
INCREMENTAL_HEAP = 50_000_000
REBUILD_HEAP = 256_000_000
PARALLEL_THRESHOLD = 4000
CHUNK = 1000


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("id", indexed=True, fast=True)
    sb.add_bytes_field("payload", stored=True)  # what a hit shows (read_payload); not indexed
    sb.add_text_field("name", tokenizer_name=WORDS, index_option="freq")
    sb.add_text_field("body", tokenizer_name=WORDS, index_option="freq")
    sb.add_text_field("syn", tokenizer_name=WORDS, index_option="freq")
    sb.add_text_field("chars", tokenizer_name=CHARS, index_option="position")
    sb.add_text_field("name_chars", tokenizer_name=CHARS, index_option="position")  # a whole query in the name
    sb.add_text_field("lead", tokenizer_name=WORDS, index_option="basic")
    sb.add_integer_field("department", indexed=True, fast=True)
    for name in ENUM_CODES:
        sb.add_integer_field(name, indexed=True, fast=True)
    sb.add_text_field("department_label", fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("theme", fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_date_field("stale_after", indexed=True, fast=True)
    sb.add_integer_field("quality", indexed=True, fast=True)  # the last quality run's overall score ×10 (R14)
    return sb.build()


def words_analyzer() -> tantivy.TextAnalyzer:
    """Whitespace only: the text is lower-cased in Python already (tokenize.normalize)."""
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


def chars_analyzer() -> tantivy.TextAnalyzer:
    """The characters arrive space-separated (see prepare): whitespace splitting is much faster in tantivy
    than a regex tokenizer, and unlike the n-gram tokenizer it gives each character its own position, which
    phrase queries need."""
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


# ---------------------------------------------------------------- documents


def prepare(doc: dict) -> dict:
    """Turns an index row (see load_rows) into the field values of a tantivy document. Pure Python and
    picklable, so that it can run in worker processes."""
    name = tokenize.normalize(doc["name"])
    text = tokenize.normalize(
        " ".join((doc.get("abstract") or "", " ".join(doc.get("items") or ()), doc["department_name"],
                  doc.get("theme") or "", doc.get("tags") or ""))
    )
    name_tokens = tokenize.cut_for_search(name)
    body_tokens = tokenize.cut_for_search(text)
    codes = " ".join(doc.get("item_codes") or ()).lower()
    lead_terms = [tokenize.normalize(t).replace(" ", "") for t in doc.get("lead_terms") or ()]
    payload = SEP.join((str(doc["id"]), doc["resource_code"], doc["name"].replace(SEP, " "), doc["department_name"],
                        str(doc["department_id"]), doc["share_type"], doc["grade"], doc["data_format"],
                        " ".join(lead_terms), "" if doc.get("quality") is None else f"{doc['quality']:.1f}"))
    return {
        "id": doc["id"],
        "payload": payload.encode(),
        "name": " ".join(name_tokens),
        "body": f"{' '.join(body_tokens)} {codes}",
        "syn": tokenize.synonym_string(name_tokens, body_tokens),
        # one token per character; "|" keeps phrases from running across the original spaces
        "chars": " ".join(f"{name}|{text}".replace(" ", "|")),
        "name_chars": " ".join(name.replace(" ", "|")),
        "lead": " ".join(lead_terms),
        "department": doc["department_id"],
        "department_label": f"{doc['department_id']}{DEPARTMENT_LABEL_SEP}{doc['department_name']}",
        "level": ENUM_NUMBERS["level"].get(doc["level"], -1),
        "share_type": ENUM_NUMBERS["share_type"].get(doc["share_type"], -1),
        "format": ENUM_NUMBERS["format"].get(doc["data_format"], -1),
        "grade": ENUM_NUMBERS["grade"].get(doc["grade"], -1),
        "theme": doc.get("theme") or "",
        "stale_after": doc.get("stale_after") or NEVER_STALE,
        "quality": NO_QUALITY if doc.get("quality") is None else round(doc["quality"] * 10),
    }


def read_payload(data: bytes) -> dict:
    """The stored values of a document (see prepare)."""
    values = dict(zip(PAYLOAD_FIELDS, data.decode().split(SEP), strict=True))
    values["id"], values["provider_id"] = int(values["id"]), int(values["provider_id"])
    values["lead"] = values["lead"].split()
    values["quality"] = float(values["quality"]) if values["quality"] else None
    return values


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------- one index folder


class SearchIndex:
    """One index folder. Opened lazily; reopened when a rebuild replaced the folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self._index: tantivy.Index | None = None
        self._stamp: tuple | None = None

    @property
    def meta_path(self) -> Path:
        return self.path / META_FILE

    def _meta_stamp(self) -> tuple | None:
        try:
            st = os.stat(self.meta_path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def exists(self) -> bool:
        if self._meta_stamp() is None:
            return False
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return meta.get("schema_version") == SCHEMA_VERSION and tantivy.Index.exists(str(self.path))

    def index(self) -> tantivy.Index | None:
        """The opened index, or None when the folder holds no usable index (rebuild needed)."""
        stamp = self._meta_stamp()
        if stamp is None:
            self._index = None
            return None
        if self._index is None or stamp != self._stamp:
            with self.lock:
                if not self.exists():
                    return None
                index = tantivy.Index.open(str(self.path))
                _register_tokenizers(index)
                self._index, self._stamp = index, stamp
        return self._index

    def create(self) -> tantivy.Index:
        """A new, empty index in the folder (whatever was there is removed)."""
        with self.lock:
            if self.path.exists():
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(build_schema(), path=str(self.path))
            _register_tokenizers(index)
            self.meta_path.write_text(
                json.dumps({"schema_version": SCHEMA_VERSION, "created_at": datetime.now().isoformat()}),
                encoding="utf-8",
            )
            self._index, self._stamp = index, self._meta_stamp()
            return index

    def writer(self, heap_size: int = INCREMENTAL_HEAP, threads: int = 1, wait_seconds: float = 10.0):
        index = self.index() or self.create()
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                return index.writer(heap_size=heap_size, num_threads=threads)
            except ValueError as exc:  # LockBusy: another process writes
                if "LockBusy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def forget(self) -> None:
        """Drops the opened index, so that the next use reopens the folder."""
        self._index, self._stamp = None, None

    def searcher(self) -> tantivy.Searcher | None:
        index = self.index()
        return None if index is None else index.searcher()

    def reload(self) -> None:
        if self._index is not None:
            self._index.reload()


def _register_tokenizers(index: tantivy.Index) -> None:
    index.register_tokenizer(WORDS, words_analyzer())
    index.register_tokenizer(CHARS, chars_analyzer())


_indexes: dict[Path, SearchIndex] = {}
_indexes_lock = threading.Lock()


def get_index(path: Path | str) -> SearchIndex:
    key = Path(path).resolve()
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = SearchIndex(key)
        return _indexes[key]


# ---------------------------------------------------------------- building


def build(
    path: Path | str,
    rows: Iterable[dict],
    *,
    workers: int | None = None,
    heap_size: int = REBUILD_HEAP,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> int:
    """Builds a fresh index in `path` from index rows; returns the number of documents.

    With several CPUs and many rows, the rows are split between `workers` forked processes that each
    tokenize and index their share into a segment of their own (no documents cross a process boundary);
    the segments are then adopted by the index in `path`. Otherwise one writer indexes them all."""
    target = get_index(path)
    cpus = os.cpu_count() or 1
    workers = max(1, workers or cpus)
    with target.lock:
        if parallel is None:
            rows = rows if isinstance(rows, list) else list(rows)
            parallel = workers > 1 and len(rows) >= PARALLEL_THRESHOLD
        if parallel and _fork_available():
            rows = rows if isinstance(rows, list) else list(rows)
            count = _build_sharded(target, rows, workers, heap_size, progress)
        else:
            count = _build_serial(target, rows, heap_size, progress)
        target.reload()
    return count


def _build_serial(target: SearchIndex, rows: Iterable[dict], heap_size: int,
                  progress: Callable[[int], None] | None) -> int:
    index = target.create()
    writer = index.writer(heap_size=heap_size, num_threads=min(os.cpu_count() or 1, 4))
    count = 0
    for chunk in _chunks(rows, CHUNK):
        for row in chunk:
            writer.add_document(tantivy.Document(**prepare(row)))
        count += len(chunk)
        if progress:
            progress(len(chunk))
    writer.commit()
    writer.wait_merging_threads()
    return count


_shared_rows: list[dict] = []  # the rows of a sharded build, inherited by the forked workers
_shared_done = None  # a multiprocessing counter of indexed rows, for the progress bar


def _index_shard(task: tuple[str, int, int, int]) -> str:
    """In a worker: indexes rows [start, end) into a new index in `folder`."""
    folder, start, end, heap_size = task
    index = tantivy.Index(build_schema(), path=folder)
    _register_tokenizers(index)
    writer = index.writer(heap_size=heap_size, num_threads=1)
    for chunk_start in range(start, end, CHUNK):
        chunk_end = min(chunk_start + CHUNK, end)
        for row in _shared_rows[chunk_start:chunk_end]:
            writer.add_document(tantivy.Document(**prepare(row)))
        with _shared_done.get_lock():
            _shared_done.value += chunk_end - chunk_start
    writer.commit()
    writer.wait_merging_threads()
    return folder


def _build_sharded(target: SearchIndex, rows: list[dict], workers: int, heap_size: int,
                   progress: Callable[[int], None] | None) -> int:
    """One shard (one segment) per worker, indexed in parallel."""
    global _shared_rows, _shared_done
    context = multiprocessing.get_context("fork")
    target.path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.path.name}-build-", dir=target.path.parent))
    size = -(-len(rows) // workers)
    tasks = [(str(scratch / f"shard-{n}"), start, min(start + size, len(rows)), max(heap_size // workers, 20_000_000))
             for n, start in enumerate(range(0, len(rows), size))]
    for folder, *_ in tasks:
        Path(folder).mkdir()
    _shared_rows, _shared_done = rows, context.Value("q", 0)
    tokenize.cut_for_search("预热分词词典")  # load the dictionary once, before forking
    try:
        with context.Pool(len(tasks)) as pool:
            pending = pool.map_async(_index_shard, tasks)
            reported = 0
            while not pending.ready():
                pending.wait(0.2)
                done = _shared_done.value
                if progress and done > reported:
                    progress(done - reported)
                    reported = done
            folders = [Path(folder) for folder in pending.get()]
        target.create()
        _adopt_segments(target.path, folders)
        target.forget()
    finally:
        _shared_rows, _shared_done = [], None
        shutil.rmtree(scratch, ignore_errors=True)
    return len(rows)


def _adopt_segments(path: Path, folders: list[Path]) -> None:
    """Moves the segments of the shard indexes into the (empty) index in `path` and lists them in its
    meta.json, the way tantivy records committed segments."""
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    managed_file = path / ".managed.json"
    managed = set(json.loads(managed_file.read_text(encoding="utf-8"))) if managed_file.exists() else set()
    for folder in sorted(folders):
        shard_meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        segment_files = {s["segment_id"].replace("-", "") for s in shard_meta["segments"]}
        for file in folder.iterdir():
            if file.name.split(".")[0] in segment_files:
                os.replace(file, path / file.name)
                managed.add(file.name)
        meta["segments"].extend(shard_meta["segments"])
        meta["opstamp"] = max(meta["opstamp"], shard_meta["opstamp"])
    managed.add("meta.json")
    _write_atomically(managed_file, json.dumps(sorted(managed)))
    _write_atomically(path / "meta.json", json.dumps(meta))


def _write_atomically(file: Path, text: str) -> None:
    temporary = file.with_name(file.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, file)


def _fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def update(path: Path | str, rows: list[dict], remove_ids: Iterable[int]) -> None:
    """Replaces the documents of `rows` and removes `remove_ids` (unpublished or deleted entries)."""
    target = get_index(path)
    with target.lock:
        writer = target.writer()
        try:
            for entry_id in {*remove_ids, *(row["id"] for row in rows)}:
                writer.delete_documents_by_term("id", entry_id)
            for row in rows:
                writer.add_document(tantivy.Document(**prepare(row)))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()
        target.reload()


# ---------------------------------------------------------------- rows from the database


def count_published(session: Session) -> int:
    from govshare.catalog.models import CatalogEntry
    from govshare.catalog.vocab import EntryStatus

    return session.scalar(
        select(func.count()).select_from(CatalogEntry).where(CatalogEntry.status == EntryStatus.PUBLISHED)
    )


def load_rows(session: Session, entry_ids: Iterable[int] | None = None, chunk: int = CHUNK) -> Iterator[dict]:
    """Index rows of the published entries (all, or those of `entry_ids`), in id order, read in chunks
    (the session's identity map holds unmodified objects weakly, so read chunks are freed as we go)."""
    from govshare.catalog import onesource
    from govshare.catalog.models import CatalogEntry
    from govshare.catalog.service import stale_deadline
    from govshare.catalog.vocab import EntryStatus
    from govshare.quality import service as quality_service

    query = select(CatalogEntry.id).where(CatalogEntry.status == EntryStatus.PUBLISHED)
    if entry_ids is not None:
        query = query.where(CatalogEntry.id.in_(list(entry_ids)))
    ids = list(session.scalars(query.order_by(CatalogEntry.id)))
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        entries = session.scalars(
            select(CatalogEntry).where(CatalogEntry.id.in_(part)).options(selectinload(CatalogEntry.items))
            .order_by(CatalogEntry.id)
        ).all()
        lead = onesource.lead_terms_by_entry(session, part) or {}
        quality = quality_service.latest_scores(session, part)
        for entry in entries:
            yield {
                "id": entry.id,
                "resource_code": entry.resource_code,
                "name": entry.name,
                "abstract": entry.abstract or "",
                "items": [f"{i.chinese_name} {i.description or ''}".strip() for i in entry.items],
                "item_codes": [i.name for i in entry.items],
                "department_id": entry.provider_id,
                "department_name": entry.provider.name,
                "level": entry.provider.level,
                "share_type": entry.share_type,
                "data_format": entry.data_format,
                "grade": entry.grade,
                "theme": entry.theme or "",
                "tags": entry.tags or "",
                "stale_after": stale_deadline(entry),
                "lead_terms": list(lead.get(entry.id, ())),
                "quality": quality.get(entry.id),
            }


def rebuild(session: Session, path: Path | str, *, progress: Callable[[int], None] | None = None,
            workers: int | None = None) -> int:
    """Rebuilds the whole index from the database, read through `session`."""
    return build(path, load_rows(session), progress=progress, workers=workers)


def sync(session: Session, path: Path | str, entry_ids: Iterable[int]) -> None:
    """Brings the index up to date for `entry_ids`; rebuilds when the folder holds no index yet."""
    target = get_index(path)
    with target.lock:
        if not target.exists():
            rebuild(session, path, workers=1)
            return
        ids = set(entry_ids)
        rows = list(load_rows(session, ids))
        update(path, rows, ids)


# ---------------------------------------------------------------- registry and the after_commit listener


def url_key(url: str | Engine) -> str:
    if isinstance(url, Engine):
        return url.url.render_as_string(hide_password=False)
    return make_url(url).render_as_string(hide_password=False)


class IndexRegistry:
    """Which index folder belongs to which database (by URL). create_app and the CLI attach theirs; without
    an attachment, the node's own settings (GOVSHARE_DATABASE_URL → index_dir) apply."""

    def __init__(self) -> None:
        self._dirs: dict[str, Path] = {}

    def attach(self, url: str | Engine, index_dir: Path | str) -> None:
        self._dirs[url_key(url)] = Path(index_dir)
        install_listener()

    def detach(self, url: str | Engine) -> None:
        self._dirs.pop(url_key(url), None)

    def lookup(self, url: str | Engine) -> Path | None:
        key = url_key(url)
        if key in self._dirs:
            return self._dirs[key]
        from govshare.config import get_settings

        settings = get_settings()
        if url_key(settings.resolved_database_url) == key:
            return settings.resolved_index_dir
        return None


registry = IndexRegistry()
_listener_installed = False


def install_listener() -> None:
    """Installs the Session-class after_commit listener (idempotent)."""
    global _listener_installed
    if _listener_installed:
        return
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", _after_rollback)
    _listener_installed = True


def _after_rollback(session: Session, previous_transaction) -> None:
    if not session.in_transaction():
        session.info.pop("catalog_changed", None)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released: the outer transaction is still open (and holds the lock)
    changed = session.info.pop("catalog_changed", None)
    if not changed:
        return
    try:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        path = registry.lookup(engine)
        if path is None:
            return
        with Session(engine) as reader:
            sync(reader, path, changed)
    except Exception:  # the commit already happened: never fail it; a rebuild repairs the index
        log.exception("搜索索引更新失败，请运行 govshare search --rebuild 重建索引（目录：%s）", sorted(changed))


install_listener()
