"""Evidence files of objections in the managed store (data_dir/objections/): size-limited while they are copied,
and type-checked by their bytes (filetype), not by the name the uploader gave them. Only documents a clerk scans
or exports are taken: PDF, JPEG and PNG; the extension must agree with the content."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype

from govshare.errors import TooLarge, UnsupportedType, ValidationFailed

FIELD = "evidence_file"
FOLDER = "objections"
# media type -> the extensions a file of that type may carry
ACCEPTED = {"application/pdf": ("pdf",), "image/jpeg": ("jpg", "jpeg"), "image/png": ("png",)}
ACCEPTED_LABEL = "PDF、JPEG 或 PNG"
HEAD_BYTES = 8192  # enough for filetype's signatures
CHUNK = 1 << 20
MAX_FILENAME = 200
# a download is the file as checked, never sniffed into something else, and never run as a page of ours
EVIDENCE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


@dataclass(frozen=True)
class Stored:
    stored: str           # the file's name inside the store (never the uploader's)
    filename: str         # the uploader's name, cleaned, for the download
    media_type: str
    size: int
    sha256: str


def folder_of(data_dir: Path) -> Path:
    return data_dir / FOLDER


def clean_filename(name: str) -> str:
    """The last path part of an uploaded name, without control characters, at most MAX_FILENAME long."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base).strip() or "evidence"
    return base[-MAX_FILENAME:]


def store(folder: Path, stream: BinaryIO, filename: str, max_bytes: int) -> Stored:
    """Copies the upload into the store, refusing it (and keeping nothing) when it is empty, larger than
    `max_bytes`, or not a PDF, JPEG or PNG whose extension agrees with its content."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"upload-{uuid.uuid4().hex}.part"
    try:
        size, digest, head = _copy(stream, partial, max_bytes)
        media_type = _checked_type(head, clean_filename(filename), size)
        stored = f"{uuid.uuid4().hex}.{ACCEPTED[media_type][0]}"
        partial.rename(folder / stored)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Stored(stored, clean_filename(filename), media_type, size, digest)


def _copy(stream: BinaryIO, path: Path, max_bytes: int) -> tuple[int, str, bytes]:
    size, digest, head = 0, hashlib.sha256(), b""
    with path.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"依据文件过大：不能超过 {max_bytes // (1024 * 1024)} MB", field=FIELD)
            if len(head) < HEAD_BYTES:
                head += chunk[:HEAD_BYTES - len(head)]
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest(), head


def _checked_type(head: bytes, filename: str, size: int) -> str:
    if size == 0:
        raise ValidationFailed("依据文件是空文件", field=FIELD)
    kind = filetype.guess(head)
    if kind is None or kind.mime not in ACCEPTED:
        raise UnsupportedType(f"依据文件只能是 {ACCEPTED_LABEL} 文件（按文件内容判断）", field=FIELD)
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in ACCEPTED[kind.mime]:
        raise UnsupportedType(f"依据文件的扩展名（.{extension or '无'}）与内容（{kind.extension.upper()}）不符",
                              field=FIELD)
    return kind.mime
