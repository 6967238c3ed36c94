"""Secrets the platform must read back (webhook signing keys) are stored encrypted (R18).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with one node key: GOVSHARE_SECRET_KEY, or a key
file created on first use under data_dir/keys with owner-only permissions. Nodes sharing a database must
share the key (set GOVSHARE_SECRET_KEY on each)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session

from govshare.config import Settings, settings_of
from govshare.errors import DomainError

PREFIX = "fernet:"


@lru_cache(maxsize=8)
def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def node_key(settings: Settings) -> bytes:
    """The node key (GOVSHARE_SECRET_KEY or the key file); other secrets are derived from it with HMAC."""
    if settings.secret_key:
        return settings.secret_key.encode()
    return _key_file(settings.data_dir / "keys" / "secrets.key")


def node_fernet(settings: Settings) -> Fernet:
    return Fernet(node_key(settings))


def seal(session: Session, plaintext: str) -> str:
    return PREFIX + node_fernet(settings_of(session)).encrypt(plaintext.encode()).decode()


def unseal(session: Session, stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DomainError("存储的密钥未加密，请轮换该密钥", field="secret")
    try:
        return node_fernet(settings_of(session)).decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise DomainError("无法解密存储的密钥：节点密钥（GOVSHARE_SECRET_KEY）与加密时不同", field="secret") from exc
