"""Login throttling: growing lockouts per username and per client address (called by orgs.service.login,
the one place that decides a login).

Every attempt is recorded in `login_attempts` (the username as typed, normalized, whether or not such a
user exists; the client address; the time; success). The rule:

- a username with `login_account_failures` failed logins since its last success (and within
  `login_failure_window_minutes`) is locked out; a client address with `login_address_failures` failed
  logins within the window (any usernames; successes do not reset it, so an attacker's own account cannot
  clear the count) likewise;
- the lockout starts at the latest failure and lasts `login_lockout_seconds`, doubled by each failure
  past the threshold (1, 2, 4 … minutes), up to `login_lockout_max_minutes`;
- while locked out, every attempt is refused (429, with the time to wait) without the password being
  checked, the right password included; such refusals are recorded (`locked`) but do not count as
  failures, so waiting out a lockout always ends it;
- unknown usernames are counted and locked out exactly as known ones, so the answers reveal nothing about
  which users exist.

Only failures count per address: the test suite and the demo log in many times from one address."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from govshare.config import Settings
from govshare.errors import DomainError
from govshare.orgs.models import LoginAttempt

USERNAME_LENGTH = LoginAttempt.__table__.c.username.type.length
ADDRESS_LENGTH = LoginAttempt.__table__.c.address.type.length
MAX_DOUBLINGS = 32  # far past any cap: keeps the power of two small


class LoginThrottled(DomainError):
    status_code = 429
    code = "login_throttled"


@dataclass(frozen=True)
class Lockout:
    until: datetime
    by_address: bool  # False: the username's own failures

    def error(self, now: datetime) -> LoginThrottled:
        seconds = max(1, math.ceil((self.until - now).total_seconds()))
        wait = f"{seconds} 秒" if seconds < 60 else f"{math.ceil(seconds / 60)} 分钟"
        if self.by_address:
            message = f"来自此地址的登录失败次数过多，已暂时禁止登录，请在 {wait}后重试"
        else:
            message = f"该用户名登录失败次数过多，已暂时锁定，请在 {wait}后重试"
        return LoginThrottled(message, field=None if self.by_address else "username",
                              extra={"retry_after": seconds})


def normalize_username(typed: str | None) -> str:
    """The key a username is counted by: as typed, NFKC, trimmed, case-folded (so `Admin` and `admin ` are
    one account to the throttle, whatever the users table holds)."""
    return unicodedata.normalize("NFKC", typed or "").strip().casefold()[:USERNAME_LENGTH]


def lockout_seconds(failures: int, threshold: int, settings: Settings) -> int | None:
    """How long `failures` failed logins lock out for, counted from the latest; None below the threshold."""
    if failures < threshold:
        return None
    doubled = settings.login_lockout_seconds * 2 ** min(failures - threshold, MAX_DOUBLINGS)
    return min(doubled, settings.login_lockout_max_minutes * 60)


def _failures(session: Session, key_column, key: str, since: datetime) -> tuple[int, datetime | None]:
    """The failed (password checked) attempts of a key after `since`: how many, and the latest."""
    attempt = LoginAttempt
    count, latest = session.execute(
        select(func.count(), func.max(attempt.at))
        .where(key_column == key, attempt.at > since, attempt.success.is_(False), attempt.locked.is_(False))
    ).one()
    return int(count or 0), latest


def _until(failures: int, latest: datetime | None, threshold: int, settings: Settings) -> datetime | None:
    seconds = lockout_seconds(failures, threshold, settings)
    return None if seconds is None or latest is None else latest + timedelta(seconds=seconds)


def lockout(session: Session, username: str, address: str, now: datetime, settings: Settings) -> Lockout | None:
    """The lockout `username` (normalized) or `address` is under at `now`, the longer of the two; None when
    neither is locked out. An empty address (a call not over HTTP) has no per-address rule."""
    window_start = now - timedelta(minutes=settings.login_failure_window_minutes)
    last_success = session.scalar(
        select(func.max(LoginAttempt.at))
        .where(LoginAttempt.username == username, LoginAttempt.success.is_(True), LoginAttempt.at > window_start))
    since = max(window_start, last_success) if last_success is not None else window_start
    found = []
    until = _until(*_failures(session, LoginAttempt.username, username, since), settings.login_account_failures,
                   settings)
    if until is not None and until > now:
        found.append(Lockout(until, by_address=False))
    if address:
        until = _until(*_failures(session, LoginAttempt.address, address, window_start),
                       settings.login_address_failures, settings)
        if until is not None and until > now:
            found.append(Lockout(until, by_address=True))
    return max(found, key=lambda lock: lock.until, default=None)


def record(session: Session, username: str, address: str, now: datetime, *, success: bool,
           locked: bool = False) -> None:
    session.add(LoginAttempt(username=username, address=(address or "")[:ADDRESS_LENGTH], at=now, success=success,
                             locked=locked))
    session.flush()


def prune(session: Session, now: datetime, settings: Settings) -> int:
    """Deletes the attempts older than `login_attempt_retention_days` (never within the failure window:
    the throttle still counts those)."""
    keep = max(timedelta(days=settings.login_attempt_retention_days),
               timedelta(minutes=settings.login_failure_window_minutes))
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - keep))
    return int(result.rowcount or 0)
