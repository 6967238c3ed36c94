"""Login throttling (orgs.throttle): guessing passwords is refused after a few failures per username and per
client address, with lockouts that grow; the right password does not get through a lockout; unknown users
get exactly the answers known users get; every attempt is on the record.

Defaults (config.py): 5 failures of a username, 20 from an address, the first lockout 60 s, doubled by
each further failure up to 30 min. Tests about time call orgs.service.login with `now`, the clock the
routes leave to the service."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from govshare.db import utcnow
from govshare.deps import SESSION_COOKIE
from govshare.errors import DomainError
from govshare.orgs import jobs as orgs_jobs
from govshare.orgs import service as orgs
from govshare.orgs.models import LoginAttempt
from tests.factories import PASSWORD
from tests.web_helpers import visible_text

ADDRESS = "203.0.113.7"


def _api(client, username: str, password: str, **headers):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password}, headers=headers)


def _page(client, username: str, password: str):
    return client.post("/login", data={"username": username, "password": password, "next": "/"},
                       follow_redirects=False)


def _try(db, username: str, password: str, at: datetime, address: str = ADDRESS):
    """'ok', or (status, retry_after) of the refusal: the service as the routes call it, at time `at`."""
    with db.session() as s:
        try:
            orgs.login(s, username, password, session_hours=1, address=address, now=at)
        except DomainError as exc:
            return exc.status_code, exc.extra.get("retry_after")
    return "ok"


def _attempts(db) -> list[tuple]:
    with db.session() as s:
        return [(a.username, a.address, a.success, a.locked)
                for a in s.scalars(select(LoginAttempt).where(LoginAttempt.address != "").order_by(LoginAttempt.id))]


@pytest.fixture
def t0(world) -> datetime:
    """A moment after the world's users logged in (their successes would reset earlier failures)."""
    return utcnow().replace(microsecond=0) + timedelta(minutes=1)


# ---------------------------------------------------------------- the right password after guessing


def test_fifteen_wrong_passwords_then_the_right_one_is_refused_by_the_api(client, world):
    statuses = [_api(client, "police_manager", f"guess-{n}").status_code for n in range(15)]
    assert statuses == [401] * 5 + [429] * 10
    response = _api(client, "police_manager", PASSWORD)
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "login_throttled" and "token" not in response.json()
    assert "登录失败次数过多" in error["message"] and "请在 1 分钟后重试" in error["message"]
    assert 0 < error["retry_after"] <= 60 and response.headers["Retry-After"] == str(error["retry_after"])


def test_fifteen_wrong_passwords_then_the_right_one_is_refused_by_the_login_page(client, world):
    statuses = [_page(client, "police_manager", f"guess-{n}").status_code for n in range(15)]
    assert statuses == [401] * 5 + [429] * 10
    response = _page(client, "police_manager", PASSWORD)
    assert response.status_code == 429
    assert SESSION_COOKIE not in response.cookies
    # the wait left is named in minutes, or in seconds once under one (a slow machine may get there)
    assert "登录失败次数过多" in visible_text(response)
    assert re.search(r"请在 \d+ (分钟|秒)后重试", visible_text(response))
    # the API is the same door: the page's failures lock it too
    assert _api(client, "police_manager", PASSWORD).status_code == 429


def test_the_lockout_grows_with_each_failure_after_it_and_is_capped(db, world, t0):
    for n in range(5):
        assert _try(db, "police_manager", "guess", t0 + timedelta(seconds=n)) == (401, None)
    last = t0 + timedelta(seconds=4)
    assert _try(db, "police_manager", PASSWORD, last + timedelta(seconds=1)) == (429, 59)
    # each failure after a lockout doubles the next: 60 s, 120 s, 240 s, … up to 30 minutes
    for lockout in (60, 120, 240, 480, 960, 1800, 1800):
        at = last + timedelta(seconds=lockout - 1)
        assert _try(db, "police_manager", PASSWORD, at) == (429, 1)  # not a second early, right password or not
        last = last + timedelta(seconds=lockout)
        assert _try(db, "police_manager", "guess", last) == (401, None)
        status, wait = _try(db, "police_manager", PASSWORD, last)
        assert status == 429 and wait == min(lockout * 2, 1800)


def test_the_lockout_expires(db, world, t0):
    for _ in range(5):
        _try(db, "police_manager", "guess", t0)
    assert _try(db, "police_manager", PASSWORD, t0 + timedelta(seconds=59)) == (429, 1)
    assert _try(db, "police_manager", PASSWORD, t0 + timedelta(seconds=60)) == "ok"


def test_a_success_resets_the_accounts_count(db, world, t0):
    for n in range(4):
        assert _try(db, "police_manager", "guess", t0 + timedelta(seconds=n)) == (401, None)
    assert _try(db, "police_manager", PASSWORD, t0 + timedelta(seconds=5)) == "ok"
    for n in range(5):  # five more failures are needed for a lockout, not one
        assert _try(db, "police_manager", "guess", t0 + timedelta(seconds=10 + n)) == (401, None)
    assert _try(db, "police_manager", PASSWORD, t0 + timedelta(seconds=20))[0] == 429
    # after the lockout, a success starts the count again: the next failure is not a doubled lockout
    assert _try(db, "police_manager", PASSWORD, t0 + timedelta(seconds=80)) == "ok"
    assert _try(db, "police_manager", "guess", t0 + timedelta(seconds=81)) == (401, None)
    assert _try(db, "police_manager", PASSWORD, t0 + timedelta(seconds=82)) == "ok"


def test_failures_older_than_the_window_are_not_counted(db, world, t0):
    for _ in range(4):
        _try(db, "police_manager", "guess", t0)
    later = t0 + timedelta(minutes=db.settings.login_failure_window_minutes, seconds=1)
    assert _try(db, "police_manager", "guess", later) == (401, None)
    assert _try(db, "police_manager", PASSWORD, later) == "ok"


# ---------------------------------------------------------------- nothing about who exists


@pytest.fixture
def verified(monkeypatch) -> list[str]:
    """The password hashes argon2 verifies from now on (the work, hence the time, of an answer)."""
    hashes = []
    hasher = orgs._hasher

    class Counting:
        def __getattr__(self, name):
            return getattr(hasher, name)

        def verify(self, password_hash, password):
            hashes.append(password_hash)
            return hasher.verify(password_hash, password)

    monkeypatch.setattr(orgs, "_hasher", Counting())
    return hashes


def test_an_unknown_user_gets_the_answer_of_a_wrong_password_after_the_same_work(client, world, verified):
    known = _api(client, "police_manager", "wrong-password")
    unknown = _api(client, "no_such_user", "wrong-password")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json()) == (401, known.json())
    assert known.json()["error"]["message"] == "用户名或密码错误"
    assert len(verified) == 2  # an argon2 verification for the unknown user too (a dummy hash)
    assert verified[1].startswith("$argon2")
    # the lockout applies to unknown usernames alike, with the same words
    known_tries = [_api(client, "police_manager", "wrong-password") for _ in range(5)]
    unknown_tries = [_api(client, "no_such_user", "wrong-password") for _ in range(5)]
    assert [r.status_code for r in known_tries] == [r.status_code for r in unknown_tries] == [401] * 4 + [429]
    assert known_tries[-1].json()["error"]["message"] == unknown_tries[-1].json()["error"]["message"]


def test_an_inactive_user_gets_the_answer_of_a_wrong_password_after_the_same_work(client, db, world, verified):
    with db.session() as s:
        orgs.set_user_active(s, world.actors["admin"], world.ids["user:civil_manager"], active=False)
    inactive = _api(client, "civil_manager", PASSWORD)
    wrong = _api(client, "police_manager", "wrong-password")
    assert (inactive.status_code, inactive.json()) == (wrong.status_code, wrong.json())
    assert len(verified) == 2  # the inactive user's password is verified too, then refused


# ---------------------------------------------------------------- per client address


def test_one_address_guessing_across_usernames_is_locked_out(client, db, world):
    """20 failures from one address, each username tried fewer than 5 times, lock the address out: the
    right password of another user from that address is refused; a success in between does not reset it
    (an attacker's own account cannot clear the count); the account itself is not locked elsewhere."""
    for n in range(19):
        assert _api(client, f"guess_user_{n % 7}", "guess").status_code == 401
    assert _api(client, "civil_manager", PASSWORD).status_code == 200
    assert _api(client, "guess_user_0", "guess").status_code == 401  # the 20th failure
    refused = _api(client, "police_manager", PASSWORD)
    assert refused.status_code == 429
    assert "来自此地址的登录失败次数过多" in refused.json()["error"]["message"]
    assert _page(client, "police_manager", PASSWORD).status_code == 429
    assert _try(db, "police_manager", PASSWORD, utcnow(), address="198.51.100.1") == "ok"


def test_many_successful_logins_from_one_address_are_never_throttled(client, world):
    """The per-address rule counts failures only: the suite and the demo log in many times from one address."""
    for _ in range(30):
        assert _api(client, "police_manager", PASSWORD).status_code == 200


def test_x_forwarded_for_is_ignored_unless_the_node_is_behind_a_proxy(settings, db, world):
    from govshare.app import create_app
    from govshare.search.index import registry

    with TestClient(create_app(settings, db)) as client:
        for n in range(20):  # a different forged address each time: still one client
            _api(client, f"u{n}", "guess", **{"X-Forwarded-For": f"192.0.2.{n}"})
        assert _api(client, "police_manager", PASSWORD, **{"X-Forwarded-For": "192.0.2.99"}).status_code == 429
    registry.detach(db.url)
    behind = settings.model_copy(update={"behind_proxy": True})
    with TestClient(create_app(behind, db)) as client:
        # behind a proxy, the last entry (the one the proxy added) is the client; earlier ones are not trusted
        ok = _api(client, "police_manager", PASSWORD, **{"X-Forwarded-For": "testclient, 198.51.100.5"})
        assert ok.status_code == 200, ok.text
    registry.detach(db.url)
    assert _attempts(db)[-1] == ("police_manager", "198.51.100.5", True, False)


# ---------------------------------------------------------------- the record


def test_every_attempt_is_recorded_and_failures_survive_the_refusal(client, db, world):
    _api(client, "police_manager", PASSWORD)
    _api(client, "  Police_Manager ", "wrong")  # counted under the normalized name
    _api(client, "ghost", "wrong")
    _page(client, "police_manager", "wrong")
    for _ in range(3):
        _api(client, "police_manager", "wrong")
    _api(client, "police_manager", PASSWORD)  # locked out: recorded, not checked
    assert _attempts(db) == [
        ("police_manager", "testclient", True, False),
        ("police_manager", "testclient", False, False),
        ("ghost", "testclient", False, False),
        ("police_manager", "testclient", False, False),
        *[("police_manager", "testclient", False, False)] * 3,
        ("police_manager", "testclient", False, True),
    ]


def test_the_worker_prunes_old_attempts_but_keeps_recent_ones(db, world):
    retention = timedelta(days=db.settings.login_attempt_retention_days)
    now = utcnow()
    _try(db, "police_manager", "guess", now - retention - timedelta(days=1))
    _try(db, "police_manager", "guess", now - retention + timedelta(days=1))
    assert orgs_jobs.run(db, now) == {"login_attempts_pruned": 1}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.address != "")) == 1


@pytest.mark.parametrize("typed", ["Police_Manager", " police_manager ", "ＰＯＬＩＣＥ_manager"])
def test_the_lockout_counts_a_username_however_it_is_typed(db, world, typed, t0):
    for n in range(5):
        _try(db, typed if n % 2 else "police_manager", "guess", t0)
    assert _try(db, "police_manager", PASSWORD, t0)[0] == 429
