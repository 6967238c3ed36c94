"""Short-lived access tokens of consumer systems (R18): a system trades its client id and secret for a
JWT (HS256, keyed from the node key) that names it and the version of its secret. Rotating the secret or
revoking the system invalidates its tokens at once, because the gateway compares both with the database
on every call."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy.orm import Session

from govshare.config import Settings, settings_of
from govshare.db import utcnow
from govshare.errors import NotAuthenticated
from govshare.orgs.models import ConsumerSystem
from govshare.orgs.systems import authenticate_system
from govshare.sealing import node_key

ALGORITHM = "HS256"
AUDIENCE = "govshare-gateway"


def node_secret(settings: Settings) -> bytes:
    """Key material derived from the node key (never the key itself), for tokens and masking salts.
    Derived once per settings object: the node key does not change while a node runs, and every gateway
    call needs this twice."""
    known = _secrets.get(id(settings))
    if known is not None and known[0] is settings:  # the entry holds the object, so its id is not reused
        return known[1]
    secret = hmac.new(node_key(settings), b"govshare-gateway", hashlib.sha256).digest()
    if len(_secrets) > 64:
        _secrets.clear()
    _secrets[id(settings)] = (settings, secret)
    return secret


_secrets: dict[int, tuple[Settings, bytes]] = {}


def secret_version(system: ConsumerSystem) -> str:
    return system.secret_hash[:12]


@dataclass(frozen=True)
class TokenClaims:
    system_id: int
    client_id: str
    secret_version: str


def issue_token(session: Session, client_id: str, client_secret: str,
                now: datetime | None = None) -> tuple[str, int]:
    """(token, lifetime in seconds) for valid, unrevoked credentials; NotAuthenticated otherwise. `now` is
    the issue time (tests issue tokens that have already expired)."""
    settings = settings_of(session)
    system = authenticate_system(session, client_id, client_secret)
    lifetime = settings.gateway_token_minutes * 60
    now = now or utcnow()
    claims = {
        "sub": str(system.id), "cid": system.client_id, "sv": secret_version(system), "aud": AUDIENCE,
        "iat": now, "exp": now + timedelta(seconds=lifetime),
    }
    return jwt.encode(claims, node_secret(settings), algorithm=ALGORITHM), lifetime


_verified: dict[tuple[str, bytes], tuple[TokenClaims, float]] = {}


def read_token(settings: Settings, token: str) -> TokenClaims:
    """The claims of a token this node signed and that has not expired; NotAuthenticated otherwise. A
    token verified once is remembered until it expires (its signature cannot change), so a system calling
    a thousand times a second is not re-verified a thousand times; revocation and rotation are checked
    against the database on every call all the same."""
    if not token:
        raise NotAuthenticated("需要应用系统访问令牌（Authorization: Bearer …），请先用凭据换取", field="authorization")
    key = node_secret(settings)
    known = _verified.get((token, key))
    if known is not None and known[1] > time.time():
        return known[0]
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["exp", "sub", "cid", "sv"]})
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("访问令牌已过期，请重新换取", field="authorization", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("访问令牌无效（签名或格式错误）", field="authorization", code="token_invalid") from exc
    verified = TokenClaims(int(claims["sub"]), claims["cid"], claims["sv"])
    if len(_verified) > 10_000:
        _verified.clear()
    _verified[(token, key)] = (verified, float(claims["exp"]))
    return verified
