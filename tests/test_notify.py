"""Notifications and webhooks: one in-app message per active recipient, webhook deliveries through an outbox
written in the step's own transaction (none lost, none phantom), posted to a real HTTP receiver with an
HMAC-SHA256 signature, retried with backoff, given up after the configured attempts; and who may read and
manage what (negative tests through the service and the API)."""

from __future__ import annotations

import json
import socket
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select, text

from govshare import sealing
from govshare.db import utcnow
from govshare.errors import Forbidden, NotFound, ValidationFailed
from govshare.notify import delivery, jobs
from govshare.notify import service as notify
from govshare.notify.models import Notification, OutboxMessage, Webhook
from govshare.notify.service import Audience, DeliveryStatus
from govshare.orgs import service as orgs
from govshare.orgs.models import Role
from tests.factories import SYSTEM

EVENT = "request.submitted"


# ---------------------------------------------------------------- a real receiver


class Receiver:
    """A webhook receiver: http.server in a thread on 127.0.0.1 (a random port unless one is given); it
    records every POST (path, headers, exact body) and answers with `status`."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        self.received: list[tuple[str, object, bytes]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((self.path, self.headers, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def closed_port() -> int:
    """A port nobody listens on (bound once to find a free one, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- helpers


def add_hook(db, world, url: str, department: str = "police", events: list[str] | None = None) -> tuple[int, str]:
    with db.session() as s:
        hook, secret = notify.create_webhook(s, SYSTEM, department_id=world.ids[department], url=url, events=events)
        return hook.id, secret


def emit_event(db, world, event: str = EVENT, department: str = "police") -> None:
    with db.session() as s:
        notify.emit(s, event, "新的共享申请：人口基本信息", body="省民政厅申请共享", link="/requests/7",
                    audiences=[Audience(world.ids[department], roles=(Role.DEPT_REVIEWER,))],
                    data={"request_id": 7})


def messages(db, hook_id: int | None = None) -> list[OutboxMessage]:
    with db.session() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if hook_id is not None:
            query = query.where(OutboxMessage.webhook_id == hook_id)
        return list(s.scalars(query))


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- emit: who hears of an event


def test_emit_creates_one_notification_per_active_recipient(db, world):
    """Role filter within a department, a whole department, named users (once, even if named twice), and
    nothing for a deactivated user."""
    with db.session() as s:
        orgs.set_user_active(s, SYSTEM, world.ids["user:civil_manager"], active=False)
        created = notify.emit(s, EVENT, "新的共享申请", audiences=[
            Audience(world.ids["police"], roles=(Role.DEPT_REVIEWER,), user_ids=(world.ids["user:civil_requester"],)),
            Audience(world.ids["civil"]),  # everyone active in 省民政厅: civil_requester (again), not civil_manager
            Audience(world.ids["city_civil"], user_ids=(world.ids["user:civil_manager"],)),
        ])
        assert len(created) == 3
    with db.session() as s:
        rows = s.execute(select(Notification.user_id, func.count()).group_by(Notification.user_id)).all()
    expected = {world.ids[f"user:{u}"] for u in ("police_reviewer", "civil_requester", "city_civil_manager")}
    assert dict(rows) == dict.fromkeys(expected, 1)
    assert world.ids["user:police_manager"] not in dict(rows)  # wrong role in the audience's department
    assert world.ids["user:civil_manager"] not in dict(rows)  # deactivated


def test_event_in_a_rolled_back_transaction_leaves_no_notification_and_no_outbox_row(db, world, receiver):
    """The step, its notifications and its webhook deliveries commit or vanish together: none phantom ..."""
    add_hook(db, world, receiver.url())
    with pytest.raises(RuntimeError), db.session() as s:
        notify.emit(s, EVENT, "新的共享申请", audiences=[Audience(world.ids["police"])])
        s.flush()
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1  # it was written ...
        raise RuntimeError("the step failed after emitting")
    assert count(db, Notification) == 0 and count(db, OutboxMessage) == 0  # ... and went with the rollback
    assert jobs.run(db, utcnow()) == {"delivered": 0, "retried": 0, "dead": 0}
    assert receiver.received == []
    emit_event(db, world)  # ... and none lost: a committed step has both
    assert count(db, Notification) == 1 and count(db, OutboxMessage) == 1


def test_hook_subscribed_to_other_events_gets_nothing(db, world, receiver):
    every = add_hook(db, world, receiver.url("/every"))[0]
    this = add_hook(db, world, receiver.url("/this"), events=[EVENT, "grant.revoked"])[0]
    other = add_hook(db, world, receiver.url("/other"), events=["grant.revoked"])[0]
    other_department = add_hook(db, world, receiver.url("/civil"), department="civil")[0]
    emit_event(db, world)
    assert [len(messages(db, h)) for h in (every, this, other, other_department)] == [1, 1, 0, 0]
    assert jobs.run(db, utcnow())["delivered"] == 2
    assert sorted(path for path, _h, _b in receiver.received) == ["/every", "/this"]


def test_event_data_with_dates_does_not_break_the_step(db, world, receiver):
    """A date in `data` (e.g. a deadline) is stored as text instead of failing the caller's commit."""
    hook_id, _secret = add_hook(db, world, receiver.url())
    with db.session() as s:
        notify.emit(s, EVENT, "答复期限", audiences=[Audience(world.ids["police"])],
                    data={"due": date(2025, 10, 9), "request_id": 7})
    assert messages(db, hook_id)[0].payload["data"] == {"due": "2025-10-09", "request_id": 7}


# ---------------------------------------------------------------- delivery to a real receiver


def test_webhook_is_delivered_signed_and_the_signature_verifies(db, world, receiver):
    hook_id, secret = add_hook(db, world, receiver.url())
    emit_event(db, world)
    message_id = messages(db)[0].id
    assert jobs.run(db, utcnow()) == {"delivered": 1, "retried": 0, "dead": 0}

    [(path, headers, body)] = receiver.received
    assert path == "/hook"
    assert headers["X-Govshare-Event"] == EVENT
    assert headers["X-Govshare-Delivery"] == str(message_id)
    assert headers["Content-Type"].startswith("application/json")
    timestamp, signature = headers["X-Govshare-Timestamp"], headers["X-Govshare-Signature"]
    assert signature.startswith("sha256=")
    assert delivery.verify_signature(secret, timestamp, body, signature)
    assert delivery.verify_signature(secret, timestamp, body, signature, tolerance_seconds=300)
    payload = json.loads(body)
    assert payload["event"] == EVENT and payload["data"] == {"request_id": 7}
    assert payload["title"] == "新的共享申请：人口基本信息" and payload["department_id"] == world.ids["police"]

    tampered = body.replace(b'"request_id":7', b'"request_id":8')
    assert tampered != body
    assert not delivery.verify_signature(secret, timestamp, tampered, signature)
    assert not delivery.verify_signature(secret, str(int(timestamp) + 1), body, signature)  # replayed later
    assert not delivery.verify_signature("another-secret", timestamp, body, signature)
    assert not delivery.verify_signature(secret, timestamp, body, None)

    [message] = messages(db, hook_id)
    assert (message.status, message.attempts, message.last_error) == (DeliveryStatus.DELIVERED, 1, "")
    assert message.delivered_at is not None
    assert jobs.run(db, utcnow() + timedelta(days=1))["delivered"] == 0  # delivered once, never again
    assert len(receiver.received) == 1


def test_signature_outside_the_tolerance_is_refused():
    body = b'{"event":"x"}'
    signature = delivery.sign("s3cret", 1_700_000_000, body)
    assert delivery.verify_signature("s3cret", 1_700_000_000, body, signature, tolerance_seconds=300,
                                     now=1_700_000_100)
    assert not delivery.verify_signature("s3cret", 1_700_000_000, body, signature, tolerance_seconds=300,
                                         now=1_700_000_400)
    assert not delivery.verify_signature("s3cret", "not-a-number", body, signature, tolerance_seconds=300)


def test_backoff_doubles_from_30_seconds_and_stops_at_one_hour():
    schedule = [delivery.backoff(n, jitter=False).total_seconds() for n in range(1, 10)]
    assert schedule == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    for n in (1, 5, 12):
        base = delivery.backoff(n, jitter=False)
        assert base <= delivery.backoff(n) <= base * (1 + delivery.JITTER)


def test_receiver_down_keeps_the_message_and_delivers_after_the_backoff(db, world):
    port = closed_port()
    hook_id, secret = add_hook(db, world, f"http://127.0.0.1:{port}/hook")
    emit_event(db, world)
    now = utcnow()
    assert jobs.run(db, now) == {"delivered": 0, "retried": 1, "dead": 0}
    [message] = messages(db, hook_id)
    assert (message.status, message.attempts) == (DeliveryStatus.PENDING, 1)
    assert "连接失败" in message.last_error
    wait = message.next_attempt_at - now
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=30 * (1 + delivery.JITTER))

    receiver = Receiver(port=port)  # the receiver comes back on its address
    try:
        assert jobs.run(db, now + timedelta(seconds=10)) == {"delivered": 0, "retried": 0, "dead": 0}  # not yet due
        assert receiver.received == []
        assert jobs.run(db, message.next_attempt_at) == {"delivered": 1, "retried": 0, "dead": 0}
        [(_path, headers, body)] = receiver.received
        assert delivery.verify_signature(secret, headers["X-Govshare-Timestamp"], body,
                                         headers["X-Govshare-Signature"])
    finally:
        receiver.stop()
    [message] = messages(db, hook_id)
    assert (message.status, message.attempts, message.last_error) == (DeliveryStatus.DELIVERED, 2, "")


def test_after_max_attempts_the_message_is_dead_and_can_be_requeued(db, world, settings, receiver, client):
    settings.webhook_max_attempts = 3
    receiver.status = 500
    hook_id, _secret = add_hook(db, world, receiver.url())
    emit_event(db, world)
    now = utcnow()
    results = []
    for _ in range(3):
        results.append(jobs.run(db, now))
        now = messages(db)[0].next_attempt_at
    assert results == [{"delivered": 0, "retried": 1, "dead": 0}] * 2 + [{"delivered": 0, "retried": 0, "dead": 1}]
    [message] = messages(db, hook_id)
    assert (message.status, message.attempts) == (DeliveryStatus.DEAD, 3)
    assert message.last_error.startswith("HTTP 500")
    assert jobs.run(db, now + timedelta(days=1))["delivered"] == 0
    assert len(receiver.received) == 3  # a dead message is not posted again ...

    path = f"/api/v1/webhooks/deliveries/{message.id}/retry"
    assert client.post(path, headers=world.headers("civil_manager")).status_code == 404  # not their hook
    assert client.post(path, headers=world.headers("auditor")).status_code == 403
    shown = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=world.headers("police_reviewer")).json()
    assert [(d["status"], d["attempts"]) for d in shown] == [("dead", 3)]
    assert shown[0]["last_error"].startswith("HTTP 500")
    requeued = client.post(path, headers=world.headers("police_reviewer"))
    assert requeued.status_code == 200, requeued.text
    assert (requeued.json()["status"], requeued.json()["attempts"]) == ("pending", 0)
    assert client.post(path, headers=world.headers("police_reviewer")).status_code == 409  # only a dead one
    receiver.status = 200  # ... until someone re-queues it
    assert jobs.run(db, utcnow())["delivered"] == 1
    assert messages(db, hook_id)[0].status == DeliveryStatus.DELIVERED


def test_messages_of_a_deactivated_hook_are_not_sent(db, world, receiver):
    hook_id, _secret = add_hook(db, world, receiver.url())
    emit_event(db, world)
    with db.session() as s:
        notify.set_webhook_active(s, world.actors["police_reviewer"], hook_id, active=False)
    assert jobs.run(db, utcnow()) == {"delivered": 0, "retried": 0, "dead": 1}
    assert receiver.received == []
    [message] = messages(db, hook_id)
    assert message.status == DeliveryStatus.DEAD and "停用" in message.last_error
    emit_event(db, world)  # a stopped hook gets no new messages at all
    assert len(messages(db, hook_id)) == 1


def test_two_workers_never_post_the_same_message(db, world, receiver):
    """Two workers at once over 30 due messages: each is posted exactly once (claims are atomic)."""
    add_hook(db, world, receiver.url())
    for _ in range(30):
        emit_event(db, world)
    now = utcnow()
    results: list[dict] = []
    workers = [threading.Thread(target=lambda: results.append(delivery.deliver_due(db, now, batch_size=4)))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ids = [headers["X-Govshare-Delivery"] for _p, headers, _b in receiver.received]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert sum(r["delivered"] for r in results) == 30
    assert {m.status for m in messages(db)} == {DeliveryStatus.DELIVERED}


def test_postgresql_claims_skip_rows_another_worker_holds(db, world, receiver):
    """FOR UPDATE SKIP LOCKED: while one worker's claim is uncommitted, another claims other rows at once."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers instead")
    add_hook(db, world, receiver.url())
    for _ in range(4):
        emit_event(db, world)
    now = utcnow()
    with db.session() as first:
        settings = first.info["settings"]
        mine, _ = delivery.claim(first, now, settings, 2)
        with db.session() as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting instead of skipping fails fast
            theirs, _ = delivery.claim(second, now, settings, 2)
    assert len(mine) == 2 and len(theirs) == 2
    assert {m.id for m in mine}.isdisjoint({m.id for m in theirs})


# ---------------------------------------------------------------- notifications: service and API


def test_notifications_newest_first_unread_count_and_mark_read(db, world, client):
    for n in range(3):
        with db.session() as s:
            notify.emit(s, EVENT, f"通知{n}", audiences=[Audience(world.ids["police"], roles=(Role.DEPT_REVIEWER,))])
    headers = world.headers("police_reviewer")
    listed = client.get("/api/v1/notifications", headers=headers).json()
    assert [n["title"] for n in listed] == ["通知2", "通知1", "通知0"]
    page = client.get("/api/v1/notifications", params={"limit": 1, "offset": 1}, headers=headers).json()
    assert [n["title"] for n in page] == ["通知1"]
    assert client.get("/api/v1/notifications/unread-count", headers=headers).json() == {"unread": 3}

    read = client.post(f"/api/v1/notifications/{listed[0]['id']}/read", headers=headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = client.get("/api/v1/notifications", params={"unread_only": True}, headers=headers).json()
    assert [n["title"] for n in unread] == ["通知1", "通知0"]
    assert client.post("/api/v1/notifications/read-all", headers=headers).json() == {"marked": 2}
    assert client.get("/api/v1/notifications/unread-count", headers=headers).json() == {"unread": 0}
    assert client.get("/api/v1/notifications", headers=world.headers("police_manager")).json() == []


def test_another_users_notification_is_not_found_and_stays_unread(db, world, client):
    with db.session() as s:
        [mine] = notify.emit(s, EVENT, "给部门审核员", audiences=[Audience(world.ids["police"],
                                                                          roles=(Role.DEPT_REVIEWER,))])
    for intruder in ("police_manager", "admin", "auditor"):
        response = client.post(f"/api/v1/notifications/{mine.id}/read", headers=world.headers(intruder))
        assert response.status_code == 404 and response.json()["error"]["field"] == "notification_id"
        client.post("/api/v1/notifications/read-all", headers=world.headers(intruder))
    with db.session() as s, pytest.raises(NotFound):
        notify.mark_read(s, world.actors["police_manager"], mine.id)
    with db.session() as s:
        assert s.get(Notification, mine.id).read_at is None
        assert notify.unread_count(s, world.actors["police_reviewer"]) == 1


def test_no_token_is_401(client, world):
    for method, path in (("GET", "/api/v1/notifications"), ("GET", "/api/v1/notifications/unread-count"),
                         ("POST", "/api/v1/notifications/read-all"), ("GET", "/api/v1/webhooks"),
                         ("POST", "/api/v1/webhooks")):
        response = client.request(method, path, json={"url": "http://example.org/hook"})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "not_authenticated"
    assert count_hooks_via_admin(client, world) == 0


def count_hooks_via_admin(client, world) -> int:
    return len(client.get("/api/v1/webhooks", headers=world.headers("admin")).json())


# ---------------------------------------------------------------- webhooks: management and its rules


def test_webhook_secret_is_shown_once_and_rotation_replaces_it(db, world, client, receiver):
    headers = world.headers("police_reviewer")
    created = client.post("/api/v1/webhooks", json={"url": receiver.url(), "events": [EVENT]}, headers=headers)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["department_id"] == world.ids["police"] and hook["events"] == [EVENT]
    assert len(hook["secret"]) >= 40  # secrets.token_urlsafe(32)
    listed = client.get("/api/v1/webhooks", headers=headers).json()
    assert [h["id"] for h in listed] == [hook["id"]]
    assert all("secret" not in h for h in listed)
    assert "secret" not in client.get(f"/api/v1/webhooks/{hook['id']}", headers=headers).json()

    rotated = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=headers).json()
    assert rotated["secret"] != hook["secret"]
    emit_event(db, world)
    jobs.run(db, utcnow())
    [(_path, h, body)] = receiver.received
    timestamp, signature = h["X-Govshare-Timestamp"], h["X-Govshare-Signature"]
    assert delivery.verify_signature(rotated["secret"], timestamp, body, signature)
    assert not delivery.verify_signature(hook["secret"], timestamp, body, signature)  # the old one is dead


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "http://", "example.org/hook", "javascript:alert(1)",
                                 "file:///etc/passwd", ""])
def test_webhook_url_must_be_http_with_a_host(db, world, client, url):
    response = client.post("/api/v1/webhooks", json={"url": url}, headers=world.headers("police_reviewer"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "url"
    with db.session() as s, pytest.raises(ValidationFailed) as err:
        notify.create_webhook(s, SYSTEM, department_id=world.ids["police"], url=url)
    assert err.value.field == "url"
    assert count(db, Webhook) == 0


def test_only_own_department_or_platform_admin_manages_hooks(db, world, client):
    police = world.ids["police"]
    for who in ("civil_manager", "civil_requester", "city_civil_manager"):  # another department
        response = client.post("/api/v1/webhooks", json={"url": "https://a.example/h", "department_id": police},
                               headers=world.headers(who))
        assert response.status_code == 403 and response.json()["error"]["field"] == "department_id"
    for who in ("reviewer", "auditor"):  # roles that manage no hooks
        response = client.post("/api/v1/webhooks", json={"url": "https://a.example/h"}, headers=world.headers(who))
        assert response.status_code == 403 and response.json()["error"]["field"] == "role"
    assert count(db, Webhook) == 0
    for who in ("police_manager", "police_reviewer"):  # the department's own people
        response = client.post("/api/v1/webhooks", json={"url": f"https://a.example/{who}"},
                               headers=world.headers(who))
        assert response.status_code == 201 and response.json()["department_id"] == police
    by_admin = client.post("/api/v1/webhooks", json={"url": "https://a.example/civil",
                                                     "department_id": world.ids["civil"]},
                           headers=world.headers("admin"))
    assert by_admin.status_code == 201 and by_admin.json()["department_id"] == world.ids["civil"]
    assert count(db, Webhook) == 3


def test_another_departments_hook_is_invisible_and_unchangeable(db, world, client, receiver):
    hook_id, _secret = add_hook(db, world, receiver.url())
    emit_event(db, world)
    intruder = world.headers("civil_manager")
    assert client.get("/api/v1/webhooks", headers=intruder).json() == []
    for method, path in (("GET", f"/api/v1/webhooks/{hook_id}"),
                         ("GET", f"/api/v1/webhooks/{hook_id}/deliveries"),
                         ("POST", f"/api/v1/webhooks/{hook_id}/deactivate"),
                         ("POST", f"/api/v1/webhooks/{hook_id}/rotate-secret"),
                         ("DELETE", f"/api/v1/webhooks/{hook_id}")):
        response = client.request(method, path, headers=intruder)
        assert response.status_code == 404, (method, path, response.text)
        assert "secret" not in response.text
    # the auditor reads every hook but changes none
    assert [h["id"] for h in client.get("/api/v1/webhooks", headers=world.headers("auditor")).json()] == [hook_id]
    assert client.post(f"/api/v1/webhooks/{hook_id}/deactivate", headers=world.headers("auditor")).status_code == 403
    with db.session() as s:
        with pytest.raises(Forbidden):
            notify.rotate_secret(s, world.actors["auditor"], hook_id)
        with pytest.raises(NotFound):
            notify.set_webhook_active(s, world.actors["civil_manager"], hook_id, active=False)
    with db.session() as s:
        hook = s.get(Webhook, hook_id)
        assert hook.is_active and sealing.unseal(s, hook.secret) == _secret
    assert len(messages(db, hook_id)) == 1

    owner = world.headers("police_manager")
    assert client.post(f"/api/v1/webhooks/{hook_id}/deactivate", headers=owner).json()["is_active"] is False
    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=owner).status_code == 204
    assert count(db, Webhook) == 0 and count(db, OutboxMessage) == 0


# ---------------------------------------------------------------- CLI


def test_cli_adds_lists_and_shows_deliveries_and_notifications(db, db_url, world, tmp_path, monkeypatch, receiver):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", db_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        added = runner.invoke(app, ["webhook", "add", str(world.ids["police"]), receiver.url(), "--events", EVENT])
        assert added.exit_code == 0, added.output
        with db.session() as s:
            hook = s.scalars(select(Webhook)).one()
            secret = sealing.unseal(s, hook.secret)
        assert secret in added.output and hook.events == [EVENT]
        listed = runner.invoke(app, ["webhook", "list"])
        assert listed.exit_code == 0 and "省公安厅" in listed.output
        assert secret[:12] not in listed.output  # (a table may wrap, so only a prefix is looked for)
        refused = runner.invoke(app, ["webhook", "add", str(world.ids["police"]), "https://x.example/h",
                                      "--user", "civil_manager"])
        assert refused.exit_code == 2 and count(db, Webhook) == 1

        emit_event(db, world)
        jobs.run(db, utcnow())
        shown = runner.invoke(app, ["webhook", "deliveries", str(hook.id)])
        assert shown.exit_code == 0 and "已送达" in shown.output
        inbox = runner.invoke(app, ["notifications", "police_reviewer"])
        assert inbox.exit_code == 0 and "新的共享申请" in inbox.output
        assert "新的共享申请" not in runner.invoke(app, ["notifications", "police_manager"]).output
    finally:
        get_settings.cache_clear()


def test_r18_webhook_secret_is_stored_encrypted(db, world):
    """The platform must sign with the secret, so it keeps it, but only encrypted with the node key."""
    with db.session() as s:
        hook, secret = notify.create_webhook(s, world.actors["police_manager"], department_id=world.ids["police"],
                                             url="https://hooks.example.gov.cn/govshare")
        assert secret not in hook.secret and hook.secret.startswith("fernet:")
        assert sealing.unseal(s, hook.secret) == secret
