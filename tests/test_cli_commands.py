"""Every `govshare` command, run as a person would (typer's CliRunner, GOVSHARE_DATABASE_URL and GOVSHARE_DATA_DIR
pointing at the node), on a seeded demo province of its own, once per database: each command's effect is
checked (the stored change, or output naming the right thing), not only its exit code. `serve` and `worker`
run without blocking (uvicorn and the multi-process server are replaced by recorders; `worker --rounds 1`).

The commands are enumerated from `govshare.cli.app` (sub-typers included):
`test_every_command_has_a_smoke_step` fails when a command has no step here."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from typer.testing import CliRunner

from govshare import cli
from govshare.audit import chain
from govshare.audit import service as audit
from govshare.audit.models import Checkpoint, UsageRecord
from govshare.authz import Actor
from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry, SourceCluster
from govshare.config import Settings, get_settings, settings_of
from govshare.db import utcnow
from govshare.demands import service as demands
from govshare.demands.models import Demand
from govshare.demo import seed as demo
from govshare.demo.sharing_seed import backdate
from govshare.errors import NotAuthenticated
from govshare.gateway.models import DataConnection, DataSource
from govshare.notify.models import Notification, OutboxMessage, Webhook
from govshare.objections import service as objections
from govshare.objections.models import Objection
from govshare.orgs import service as orgs
from govshare.orgs import systems
from govshare.orgs.models import ROLE_LABELS, AdminEvent, ApiToken, ConsumerSystem, Department, User
from govshare.quality.models import QualityRule, QualityRun
from govshare.sealing import unseal
from govshare.sharing import changes
from govshare.sharing import service as sharing
from govshare.sharing.models import DisputeStep, Grant, ServiceChange, ShareRequest
from govshare.sharing.schemas import ReplyIn
from govshare.workdays import service as workdays
from tests.conftest import BACKENDS, _create_pg_database, _drop_pg_database
from tests.demo_node import DemoNode, demo_node
from tests.factories import population_entry, request_in
from tests.gateway_factories import COLUMN_MAP, people, population_items, source_table
from tests.objection_factories import PDF, PNG
from tests.test_sources import csv_bytes, resident_items, residents

SYSTEM = Actor.system()


# ---------------------------------------------------------------- the commands of the app


def app_commands() -> set[tuple[str, ...]]:
    """The path of every command of `govshare` (a group's commands under its name), from typer's click tree."""
    from typer.main import get_command

    def walk(command, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield path
            return
        for name, sub in subcommands.items():
            yield from walk(sub, (*path, name))

    return set(walk(get_command(cli.app), ()))


# ---------------------------------------------------------------- the runner and the steps


@dataclass
class Smoke:
    """The node, the CLI runner and what the steps hand on to each other (ids, secrets)."""

    node: DemoNode
    backend: str
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    ids: dict = field(default_factory=dict)
    cleanups: list[Callable] = field(default_factory=list)
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, *args, code: int = 0, env: dict | None = None, input: str | None = None) -> str:
        """`govshare ARGS…` (`input`: what the person types at its prompts); the exit code must be `code`.
        Returns what it printed (stdout and stderr)."""
        get_settings.cache_clear()
        try:
            result = self.runner.invoke(cli.app, [str(a) for a in args], env=env, input=input)
        finally:
            get_settings.cache_clear()
        if result.exit_code != code:
            raise AssertionError(f"exit code {result.exit_code}, expected {code}: {result.output[-2000:]}"
                                 f"{result.exception!r}")
        return result.output

    @contextmanager
    def session(self):
        with self.node.db.session() as s:
            yield s

    def actor(self, session, username: str) -> Actor:
        return Actor.from_user(session.scalars(select(User).where(User.username == username)).one())

    def department(self, session, name: str) -> int:
        return session.scalars(select(Department.id).where(Department.name == name)).one()

    def fresh_database(self, name: str) -> str:
        """An empty database of the node's kind (dropped after the test)."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp / f'{name}.db'}"
        url, pg_name = _create_pg_database()
        self.cleanups.append(lambda: _drop_pg_database(pg_name))
        return url


@dataclass
class Step:
    command: tuple[str, ...]
    run: Callable[[Smoke], None]


STEPS: list[Step] = []


def step(*command: str) -> Callable:
    """The smoke step of `govshare COMMAND…`; steps run in the order they are written."""

    def register(run: Callable[[Smoke], None]) -> Callable:
        STEPS.append(Step(command, run))
        return run

    return register


def test_every_command_has_a_smoke_step():
    commands = [s.command for s in STEPS]
    assert len(commands) == len(set(commands)), "a command has two steps"
    found = app_commands()
    assert found == set(commands), (f"commands without a smoke step: {sorted(found - set(commands))}; "
                                    f"steps of commands that no longer exist: {sorted(set(commands) - found)}")


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request, tmp_path_factory):
    with demo_node(request.param, tmp_path_factory) as node:
        yield request.param, node


@pytest.mark.slow  # the whole app on the demo province: left out of mutation runs, which it would dominate
def test_every_command_runs_on_a_seeded_node_with_its_effect(seeded, tmp_path, monkeypatch):
    backend, node = seeded
    smoke = Smoke(node, backend, tmp_path, monkeypatch)
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", node.settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(node.settings.data_dir))
    monkeypatch.setattr(cli.console, "width", 400)  # one line per table row
    monkeypatch.setattr(cli.err_console, "width", 400)
    _scene(smoke)
    failures = []
    try:
        for s in STEPS:
            try:
                s.run(smoke)
            except Exception as exc:  # every command is tried; a failure names its command
                failures.append(f"govshare {' '.join(s.command)}: {type(exc).__name__}: {exc}"[:3000])
    finally:
        for cleanup in smoke.cleanups:
            cleanup()
    assert not failures, f"{len(failures)} of {len(STEPS)} commands failed:\n\n" + "\n\n".join(failures)


def _scene(smoke: Smoke) -> None:
    """What the steps need besides the demo: three published entries of 安徽省公安厅 without a source, and usage
    records (the chain starts with three older than the retention period, then three of this month)."""
    with smoke.session() as s:
        manager, authority = smoke.actor(s, "police_manager"), smoke.actor(s, "data_authority")
        for key, name, items in (("sql", "烟测人口库表信息", population_items()),
                                 ("file", "烟测居民文件信息", resident_items()),
                                 ("http", "烟测人口接口信息", population_items())):
            entry = catalog.create_entry(s, manager, population_entry(name=name, items=items))
            catalog.submit_entry(s, manager, entry.id)
            catalog.publish_entry(s, authority, entry.id, "审核通过")
            smoke.ids[f"entry_{key}"] = entry.id
        smoke.ids["police"] = smoke.department(s, "安徽省公安厅")
        smoke.ids["civil"] = smoke.department(s, "安徽省民政厅")
        assert s.scalar(select(func.count(UsageRecord.id))) == 0, "the demo has no usage records of its own"
        smoke.ids["scene_system"] = systems.register_system(s, smoke.actor(s, "civil_requester"), "烟测场景系统")[0].id
        now = utcnow()
        retention = timedelta(days=settings_of(s).audit_retention_days)
        for n, (at, result) in enumerate([(now - retention - timedelta(days=400), "ok")] * 3
                                         + [(now - timedelta(days=2), "ok"), (now - timedelta(days=1), "refused"),
                                            (now - timedelta(hours=1), "ok")]):
            chain.append(s, at=at + timedelta(seconds=n), department_id=smoke.ids["civil"],
                         provider_id=smoke.ids["police"], mode="lookup", result=result,
                         reason="" if result == "ok" else "item_not_granted", request_hash=f"{n:064x}",
                         row_count=1 if result == "ok" else 0, resource_code="34000011/00001")


# ---------------------------------------------------------------- node set-up and serving


@step("init")
def _init(c: Smoke) -> None:
    url, data_dir = c.fresh_database("init"), c.tmp / "fresh-node"
    out = c.run("init", env={"GOVSHARE_DATABASE_URL": url, "GOVSHARE_DATA_DIR": str(data_dir)})
    key = chain.key_info(Settings(database_url=url, data_dir=data_dir))
    assert key.exists and key.private_to_owner and f"签名密钥 {key.key_id}" in out, out
    secrets_key = data_dir / "keys" / "secrets.key"
    assert stat.S_IMODE(secrets_key.stat().st_mode) == 0o600
    assert _revision(url) == _head(url)  # migrated


def _head(url: str) -> str:
    from alembic.script import ScriptDirectory

    from govshare import migrate

    return ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if "alembic_version" not in inspect(connection).get_table_names():
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


@step("db", "upgrade")
def _db_upgrade(c: Smoke) -> None:
    url = c.fresh_database("upgrade")
    assert _revision(url) is None
    out = c.run("db", "upgrade", env={"GOVSHARE_DATABASE_URL": url, "GOVSHARE_DATA_DIR": str(c.tmp / "upgrade")})
    assert "数据库已迁移到最新版本" in out and _revision(url) == _head(url)
    engine = create_engine(url)
    try:
        assert {"catalog_entries", "share_requests", "usage_records"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@step("demo")
def _demo(c: Smoke) -> None:
    with c.session() as s:
        before = s.scalar(select(func.count(CatalogEntry.id)))
    out = c.run("demo", "--seed-only")
    assert "演示数据已存在，未重复写入" in out and f"演示密码：{demo.DEMO_PASSWORD}" in out
    assert "data_authority" in out and "police_manager" in out  # the table of demo users
    with c.session() as s:
        assert s.scalar(select(func.count(CatalogEntry.id))) == before


@step("serve")
def _serve(c: Smoke) -> None:
    import uvicorn

    from govshare import serving

    served, spread = [], []
    c.monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append((app, options)))
    c.monkeypatch.setattr(serving, "serve", lambda app, **options: spread.append((app, options)))
    c.run("serve", "--host", "127.0.0.2", "--port", "8123")
    [(app, options)] = served
    try:
        assert options == {"host": "127.0.0.2", "port": 8123}
        assert app.state.settings.resolved_database_url == c.node.settings.resolved_database_url
        assert app.state.settings.data_dir == c.node.settings.data_dir
    finally:
        app.state.db.dispose()
    c.run("serve", "--workers", "3", "--port", "8124")
    assert spread == [("govshare.app:create_app", {"factory": True, "host": "127.0.0.1", "port": 8124,
                                                   "workers": 3})]


def _overdue_request(c: Smoke) -> int:
    """A request of 省民政厅 to 省公安厅 submitted two months ago and never answered."""
    with c.session() as s:
        request = sharing.create_request(s, c.actor(s, "civil_requester"), request_in(
            s.get(CatalogEntry, c.ids["entry_sql"]), consumer_system_id=c.ids["scene_system"]), submit=True)
        backdate(s, request, 60)
        return request.id


def _done(out: str, job: str) -> int:
    """How many items a job reports in `定时任务完成：domain.job=N，…` (0 when it had nothing to do)."""
    found = re.search(rf"{re.escape(job)}=(\d+)", out)
    return int(found.group(1)) if found else 0


def _overdue(c: Smoke, request_id: int) -> bool:
    with c.session() as s:
        return s.get(ShareRequest, request_id).overdue_at is not None


@step("worker")
def _worker(c: Smoke) -> None:
    request_id = _overdue_request(c)
    out = c.run("worker", "--rounds", "1")
    assert "定时任务完成" in out and _done(out, "sharing.overdue") == 1, out
    assert _overdue(c, request_id)


@step("jobs", "run")
def _jobs_run(c: Smoke) -> None:
    """jobs.run_all with work for sharing.jobs.run: an unanswered request past its deadline, a grant past its
    period, and a usage record not yet signed."""
    request_id = _overdue_request(c)
    with c.session() as s:
        old = sharing.create_request(s, c.actor(s, "civil_requester"), request_in(
            s.get(CatalogEntry, c.ids["entry_sql"]), consumer_system_id=c.ids["scene_system"]), submit=True)
        sharing.reply(s, c.actor(s, "police_reviewer"), old.id, ReplyIn(decision="approve"))
        backdate(s, old, 400)
        grant_id = sharing.grant_of(s, old.id).id
        chain.append(s, department_id=c.ids["civil"], provider_id=c.ids["police"], mode="lookup", result="ok",
                     request_hash="a" * 64, row_count=1, resource_code="34000011/00001")
        head = s.scalar(select(func.max(UsageRecord.seq)))
    out = c.run("jobs", "run")
    assert (_done(out, "sharing.overdue"), _done(out, "sharing.grants_expired")) == (1, 1), out
    assert _overdue(c, request_id)
    with c.session() as s:
        grant = s.get(Grant, grant_id)
        assert (grant.status, grant.end_reason) == ("ended", "period_ended")
        assert s.get(ShareRequest, old.id).status == "expired"
        assert s.scalar(select(func.max(Checkpoint.seq))) == head  # the audit job signed the chain's head


# ---------------------------------------------------------------- departments, users, tokens


@step("dept", "add")
def _dept_add(c: Smoke) -> None:
    code = demo.organ_uscc("340000", 90)
    out = c.run("dept", "add", "安徽省烟测厅", "--level", "provincial", "--region-code", "340000", "--uscc", code,
                "--parent-id", c.ids["police"])
    with c.session() as s:
        dept = s.scalars(select(Department).where(Department.name == "安徽省烟测厅")).one()
        assert (dept.level, dept.region_code, dept.uscc, dept.parent_id) == ("provincial", "340000", code,
                                                                             c.ids["police"])
        c.ids["dept"] = dept.id
    assert f"已创建部门 {dept.id}：安徽省烟测厅" in out


@step("dept", "list")
def _dept_list(c: Smoke) -> None:
    out = c.run("dept", "list")
    with c.session() as s:
        names = list(s.scalars(select(Department.name)))
    assert all(name in out for name in names) and demo.organ_uscc("340000", 90) in out


@step("dept", "alias", "add")
def _dept_alias_add(c: Smoke) -> None:
    out = c.run("dept", "alias", "add", c.ids["dept"], "省烟测厅")
    with c.session() as s:
        assert [a.alias for a in orgs.list_aliases(s, c.ids["dept"])] == ["省烟测厅"]
    assert "（安徽省烟测厅）的别名：省烟测厅" in out


@step("dept", "alias", "remove")
def _dept_alias_remove(c: Smoke) -> None:
    out = c.run("dept", "alias", "remove", "安徽省烟测厅", "省烟测厅", "--region-code", "340000")
    with c.session() as s:
        assert orgs.list_aliases(s, c.ids["dept"]) == []
    assert "已删除部门" in out and "省烟测厅" in out


@step("user", "add")
def _user_add(c: Smoke) -> None:
    out = c.run("user", "add", "smoke_user", "--department-id", c.ids["dept"], "--role", "requester",
                "--password", "smoke-password-1", "--display-name", "烟测用户")
    with c.session() as s:
        user = s.scalars(select(User).where(User.username == "smoke_user")).one()
        assert (user.role, user.department_id, user.display_name, user.is_active) == (
            "requester", c.ids["dept"], "烟测用户", True)
        assert "smoke-password-1" not in user.password_hash
        c.ids["login"] = orgs.login(s, "smoke_user", "smoke-password-1", session_hours=1)  # the password works
    assert f"已创建用户 {user.id}：smoke_user" in out


@step("user", "list")
def _user_list(c: Smoke) -> None:
    out = c.run("user", "list")
    assert re.search(rf"│ smoke_user\s+│ 烟测用户\s+│ {ROLE_LABELS['requester']}\s+│ 安徽省烟测厅\s+│ 启用", out)
    with c.session() as s:
        assert all(name in out for name in s.scalars(select(User.username)))


@step("token", "list")
def _token_list(c: Smoke) -> None:
    out = c.run("token", "list", "smoke_user")
    with c.session() as s:
        token = s.scalars(select(ApiToken).join(User).where(User.username == "smoke_user")).one()
        c.ids["token"] = token.id
    assert re.search(rf"│ {token.id}\s+│ session", out), out
    assert c.ids["login"] not in out and token.token_hash not in out  # never the token itself


@step("token", "revoke")
def _token_revoke(c: Smoke) -> None:
    out = c.run("token", "revoke", c.ids["token"])
    assert f"已吊销令牌 {c.ids['token']}（smoke_user" in out
    with c.session() as s:
        assert s.get(ApiToken, c.ids["token"]).revoked_at is not None
        with pytest.raises(NotAuthenticated):
            orgs.authenticate(s, c.ids["login"])


@step("user", "deactivate")
def _user_deactivate(c: Smoke) -> None:
    with c.session() as s:
        second = orgs.login(s, "smoke_user", "smoke-password-1", session_hours=1)
    out = c.run("user", "deactivate", "smoke_user")
    assert "已停用用户" in out and "smoke_user" in out
    with c.session() as s:
        user = s.scalars(select(User).where(User.username == "smoke_user")).one()
        assert not user.is_active
        assert all(t.revoked_at is not None for t in s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)))
        with pytest.raises(NotAuthenticated):  # a login made before stops working too
            orgs.authenticate(s, second)


@step("user", "activate")
def _user_activate(c: Smoke) -> None:
    out = c.run("user", "activate", "smoke_user")
    assert "已启用用户" in out
    with c.session() as s:
        assert s.scalars(select(User.is_active).where(User.username == "smoke_user")).one() is True
        assert orgs.login(s, "smoke_user", "smoke-password-1", session_hours=1)


@step("user", "reset-password")
def _user_reset_password(c: Smoke) -> None:
    with c.session() as s:
        before = orgs.login(s, "smoke_user", "smoke-password-1", session_hours=1)
    mistyped = c.run("user", "reset-password", "smoke_user", input="smoke-password-2\nsmoke-password-3\n"
                     "smoke-password-2\nsmoke-password-2\n")  # typed twice, hidden: a mismatch asks again
    assert "两次输入不一致" in mistyped and "已重置用户" in mistyped and "smoke_user" in mistyped
    assert "smoke-password" not in mistyped  # never shown
    with c.session() as s:
        with pytest.raises(NotAuthenticated):  # the session of the old password ended
            orgs.authenticate(s, before)
        with pytest.raises(NotAuthenticated):
            orgs.login(s, "smoke_user", "smoke-password-1", session_hours=1)
    with c.session() as s:
        c.ids["login"] = orgs.login(s, "smoke_user", "smoke-password-2", session_hours=1)
        user_id = s.scalars(select(User.id).where(User.username == "smoke_user")).one()
        event = s.scalars(select(AdminEvent).order_by(AdminEvent.id.desc())).first()
        assert (event.action, event.target_id, event.actor_user_id) == ("password_reset", user_id, None)
        assert "smoke-password" not in event.summary
    short = c.run("user", "reset-password", "smoke_user", "--password", "short", code=2)
    assert "密码长度至少8位" in short


@step("user", "set-role")
def _user_set_role(c: Smoke) -> None:
    out = c.run("user", "set-role", "smoke_user", "dept_reviewer")
    assert f"角色改为{ROLE_LABELS['dept_reviewer']}（dept_reviewer）" in out, out
    with c.session() as s:
        user = s.scalars(select(User).where(User.username == "smoke_user")).one()
        assert user.role == "dept_reviewer"
        with pytest.raises(NotAuthenticated):  # logged out: the new role starts with a new login
            orgs.authenticate(s, c.ids["login"])
        event = s.scalars(select(AdminEvent).order_by(AdminEvent.id.desc())).first()
        assert (event.action, event.target_id) == ("role_changed", user.id)
    refused = c.run("user", "set-role", "smoke_user", "superuser", code=2)
    assert "role" in refused and "platform_admin" in refused
    c.run("user", "set-role", "smoke_user", "requester")  # back: later steps act as a requester


# ---------------------------------------------------------------- the catalog and its search


@step("catalog", "one-source")
def _catalog_one_source(c: Smoke) -> None:
    out = c.run("catalog", "one-source", "--detect")
    with c.session() as s:
        clusters = s.scalars(select(SourceCluster)).all()
        labels = [cluster.label for cluster in clusters]
        unnamed = [cluster for cluster in clusters if cluster.lead_department_id is None]
        c.ids["cluster"] = unnamed[0].id
        c.ids["cluster_department"] = onesource.cluster_view(unnamed[0])["members"][-1]["department_id"]
    assert f"检测完成：{len(clusters)} 个数据项" in out and all(label in out for label in labels), out
    as_json = json.loads(c.run("catalog", "one-source", "--json"))
    assert sorted(v["id"] for v in as_json) == sorted(cluster.id for cluster in clusters)


@step("catalog", "lead")
def _catalog_lead(c: Smoke) -> None:
    out = c.run("catalog", "lead", c.ids["cluster"], c.ids["cluster_department"], "--reason", "依法负责采集该数据项",
                "--user", "data_authority")
    with c.session() as s:
        cluster = s.get(SourceCluster, c.ids["cluster"])
        assert cluster.lead_department_id == c.ids["cluster_department"]
        assert f"已认定“{cluster.label}”的牵头数源部门：{cluster.lead_department.name}" in out


IMPORT = [{"目录名称": "烟测导入的户籍信息", "提供部门": "安徽省公安厅", "分类代码": "101", "摘要": "全省户籍人口",
           "数据格式": "数据库", "共享类型": "无条件共享", "共享方式": "接口", "更新周期": "每日",
           "信息项": [{"name": "xm", "chinese_name": "姓名", "data_type": "string"},
                      {"name": "gmsfhm", "chinese_name": "公民身份号码", "data_type": "string"}]}]


@step("catalog", "import")
def _catalog_import(c: Smoke) -> None:
    path, report = c.tmp / "import.json", c.tmp / "import-report.json"
    path.write_text(json.dumps(IMPORT, ensure_ascii=False), encoding="utf-8")
    out = c.run("catalog", "import", path, "--region-code", "340000", "--report", report)
    assert "共 1 行，新建 1" in out, out
    assert json.loads(report.read_text(encoding="utf-8"))["created"] == 1
    with c.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "烟测导入的户籍信息")).one()
        assert (entry.provider_id, entry.status, [i.chinese_name for i in entry.items]) == (
            c.ids["police"], "draft", ["姓名", "公民身份号码"])


@step("catalog", "item-add")
def _catalog_item_add(c: Smoke) -> None:
    """The draft just imported gets a third item; the same field name again edits it instead of adding one."""
    with c.session() as s:
        entry_id = s.scalars(select(CatalogEntry.id).where(CatalogEntry.name == "烟测导入的户籍信息")).one()
    out = c.run("catalog", "item-add", entry_id, "--name", "csrq", "--chinese-name", "出生日期", "--type", "日期型",
                "--personal", "pi")
    assert "已有信息项 3 个" in out, out
    c.run("catalog", "item-add", entry_id, "--name", "csrq", "--chinese-name", "出生年月日", "--type", "date")
    with c.session() as s:
        items = s.get(CatalogEntry, entry_id).items
        assert [(i.name, i.chinese_name, i.data_type) for i in items][-1] == ("csrq", "出生年月日", "date")
        assert len(items) == 3
    c.run("catalog", "item-add", entry_id, "--name", "x", "--chinese-name", "坏类型", "--type", "图片", code=2)


@step("catalog", "items-import")
def _catalog_items_import(c: Smoke) -> None:
    """An items sheet keyed by resource code: the imported draft gets its items; a code of no entry is a
    rejected row."""
    with c.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.name == "烟测导入的户籍信息")).one()
        code = entry.resource_code
    path = c.tmp / "items.csv"
    path.write_text("资源代码,序号,字段名,信息项名称,数据类型\n"
                    f"{code},4,hjdz,户籍地址,字符型\n999/000001,1,xx,不存在,字符型\n", encoding="utf-8-sig")
    out = c.run("catalog", "items-import", path, code=1)
    assert "修改草稿 1 个" in out and "资源代码对应的目录不存在" in out, out
    with c.session() as s:
        assert "hjdz" in [i.name for i in s.scalars(select(CatalogEntry).where(CatalogEntry.resource_code == code))
                          .one().items]


@step("catalog", "export")
def _catalog_export(c: Smoke) -> None:
    path = c.tmp / "published.csv"
    out = c.run("catalog", "export", path, "--status", "published")
    assert "已导出" in out and str(path) in out
    with path.open(encoding="utf-8-sig") as handle:
        names = [row["目录名称"] for row in csv.DictReader(handle)]
    with c.session() as s:
        published = list(s.scalars(select(CatalogEntry.name).where(CatalogEntry.status == "published")))
    assert sorted(names) == sorted(published)  # one row per published entry, and only those


@step("index", "rebuild")
def _index_rebuild(c: Smoke) -> None:
    out = c.run("index", "rebuild")
    with c.session() as s:
        published = s.scalar(select(func.count(CatalogEntry.id)).where(CatalogEntry.status == "published"))
    assert f"搜索索引已重建：{published} 条已发布目录" in out, out
    c.ids["published"] = published


@step("index", "status")
def _index_status(c: Smoke) -> None:
    out = c.run("index", "status")
    assert f"搜索索引：{c.ids['published']} 条目录" in out and str(c.node.settings.resolved_index_dir) in out


@step("search")
def _search(c: Smoke) -> None:
    found = json.loads(c.run("search", "烟测居民文件信息", "--json"))
    assert found["hits"][0]["id"] == c.ids["entry_file"] and found["hits"][0]["provider"] == "安徽省公安厅"
    table = c.run("search", "烟测", "--share-type", "有条件共享", "--level", "provincial")
    assert "共 3 条" in table, table  # the scene's three entries (the imported draft is not searchable)
    assert all(name in table for name in ("烟测人口库表信息", "烟测居民文件信息", "烟测人口接口信息"))
    assert "共 0 条" in c.run("search", "烟测", "--share-type", "无条件共享")


# ---------------------------------------------------------------- consumer systems, requests, grants


SECRET = re.compile(r"客户端密钥（client secret）：(\S+)")


@step("system", "register")
def _system_register(c: Smoke) -> None:
    out = c.run("system", "register", "烟测核查系统", "--description", "烟测", "--user", "civil_requester")
    secret = SECRET.search(out).group(1)
    with c.session() as s:
        system = s.scalars(select(ConsumerSystem).where(ConsumerSystem.name == "烟测核查系统")).one()
        assert system.department_id == c.ids["civil"] and system.client_id in out
        assert systems.authenticate_system(s, system.client_id, secret).id == system.id
        c.ids.update(system=system.id, client_id=system.client_id, secret=secret)


@step("system", "list")
def _system_list(c: Smoke) -> None:
    out = c.run("system", "list", "--user", "civil_requester")
    assert re.search(rf"│ {c.ids['system']}\s+│ 烟测核查系统\s+│ 安徽省民政厅\s+│ {c.ids['client_id']}", out), out
    assert c.ids["secret"] not in out
    assert "烟测核查系统" not in c.run("system", "list", "--user", "police_reviewer")  # another department's


@step("system", "rotate")
def _system_rotate(c: Smoke) -> None:
    out = c.run("system", "rotate", c.ids["system"], "--user", "civil_requester")
    secret = SECRET.search(out).group(1)
    with c.session() as s:
        assert systems.authenticate_system(s, c.ids["client_id"], secret).id == c.ids["system"]
        with pytest.raises(Exception, match="凭据无效"):
            systems.authenticate_system(s, c.ids["client_id"], c.ids["secret"])
    c.ids["secret"] = secret


def _period_end(days: int = 300) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


@step("request", "create")
def _request_create(c: Smoke) -> None:
    end = _period_end()
    out = c.run("request", "create", c.ids["entry_sql"], "--purpose", "烟测低保资格审核",
                "--scenario", "受理时核对户籍", "--duty-basis", "《社会救助暂行办法》第十一条",
                "--items", "gmsfhm,姓名", "--scope-item", "gmsfhm", "--scope-prefix", "3401",
                "--period-end", end, "--system", c.ids["system"],
                "--user", "civil_requester")
    request_id = int(re.search(r"共享申请 (\d+)：烟测人口库表信息", out).group(1))
    with c.session() as s:
        request = s.get(ShareRequest, request_id)
        items = {i.name: i.id for i in s.get(CatalogEntry, c.ids["entry_sql"]).items}
        assert (request.status, request.purpose, request.item_ids, request.row_scope, str(request.period_end),
                request.consumer_system_id) == ("draft", "烟测低保资格审核", [items["gmsfhm"], items["xm"]],
                                                {"item": "gmsfhm", "prefixes": ["3401"]}, end, c.ids["system"])
    c.ids["request"] = request_id


@step("request", "submit")
def _request_submit(c: Smoke) -> None:
    out = c.run("request", "submit", c.ids["request"], "--user", "civil_requester")
    with c.session() as s:
        request = s.get(ShareRequest, c.ids["request"])
        assert request.status == "submitted" and request.reply_due is not None
    assert "待答复" in out and str(request.reply_due) in out


@step("request", "list")
def _request_list(c: Smoke) -> None:
    out = c.run("request", "list", "--box", "incoming", "--status", "submitted", "--user", "police_reviewer")
    assert re.search(rf"│ {c.ids['request']}\s+│ 烟测人口库表信息\s+│ 安徽省民政厅", out), out
    with c.session() as s:
        incoming = s.scalar(select(func.count(ShareRequest.id)).where(
            ShareRequest.provider_id == c.ids["police"], ShareRequest.status == "submitted"))
    assert f"共 {incoming} 条" in out


@step("request", "show")
def _request_show(c: Smoke) -> None:
    out = c.run("request", "show", c.ids["request"], "--user", "civil_requester")
    for text_ in (f"共享申请 {c.ids['request']}：烟测人口库表信息", "烟测低保资格审核", "办理记录", "创建草稿",
                  "草稿 → 待答复", "gmsfhm 以 3401 开头", "烟测核查系统"):
        assert text_ in out, text_


@step("request", "reply")
def _request_reply(c: Smoke) -> None:
    out = c.run("request", "reply", c.ids["request"], "--decision", "approve", "--rate-limit", "15",
                "--reason", "符合低保审核职责", "--user", "police_reviewer")
    with c.session() as s:
        request = s.get(ShareRequest, c.ids["request"])
        grant = sharing.grant_of(s, request.id)
        assert (request.status, request.decision_reason) == ("approved", "符合低保审核职责")
        assert (grant.status, grant.rate_limit, grant.item_ids) == ("active", 15, request.item_ids)
        c.ids["grant"] = grant.id
    assert "已同意" in out and f"共享授权：{grant.id}" in out


@step("grant", "list")
def _grant_list(c: Smoke) -> None:
    out = c.run("grant", "list", "--box", "outgoing", "--status", "active", "--user", "civil_requester")
    assert re.search(rf"│ {c.ids['grant']}\s+│ {c.ids['request']}\s+│ 烟测人口库表信息\s+│ 烟测核查系统", out), out
    with c.session() as s:
        active = s.scalar(select(func.count(Grant.id)).where(Grant.requester_id == c.ids["civil"],
                                                             Grant.status == "active"))
    assert f"共 {active} 条" in out


@step("grant", "show")
def _grant_show(c: Smoke) -> None:
    out = c.run("grant", "show", c.ids["grant"], "--user", "civil_requester")
    assert f"共享授权 {c.ids['grant']}：烟测人口库表信息" in out and "限流：15 次/秒" in out and "有效" in out


@step("request", "renew")
def _request_renew(c: Smoke) -> None:
    end = _period_end(600)
    out = c.run("request", "renew", c.ids["request"], "--period-end", end, "--user", "civil_requester")
    with c.session() as s:
        renewal = s.scalars(select(ShareRequest).where(ShareRequest.renews_id == c.ids["request"])).one()
        assert (renewal.status, str(renewal.period_end)) == ("submitted", end)
        c.ids["renewal"] = renewal.id
    assert f"共享申请 {renewal.id}：" in out and f"续期自申请：{c.ids['request']}" in out


@step("request", "withdraw")
def _request_withdraw(c: Smoke) -> None:
    out = c.run("request", "withdraw", c.ids["renewal"], "--reason", "续期改期", "--user", "civil_requester")
    with c.session() as s:
        assert s.get(ShareRequest, c.ids["renewal"]).status == "withdrawn"
    assert "已撤回" in out


@step("request", "escalate")
def _request_escalate(c: Smoke) -> None:
    with c.session() as s:
        refused = sharing.create_request(s, c.actor(s, "civil_requester"), request_in(
            s.get(CatalogEntry, c.ids["entry_sql"]), consumer_system_id=c.ids["system"]), submit=True)
        sharing.reply(s, c.actor(s, "police_reviewer"), refused.id, ReplyIn(decision="refuse", reason="范围过大"))
        c.ids["refused"] = refused.id
    out = c.run("request", "escalate", c.ids["refused"], "--reason", "低保审核为法定职责", "--user", "civil_requester")
    with c.session() as s:
        step_ = s.scalars(select(DisputeStep).where(DisputeStep.request_id == c.ids["refused"])).one()
        assert (step_.level, step_.status, step_.reason) == ("negotiation", "open", "低保审核为法定职责")
        assert s.get(ShareRequest, c.ids["refused"]).status == "escalated"
        c.ids["step"] = step_.id
    assert "双方协商" in out and "安徽省公安厅" in out


@step("request", "disputes")
def _request_disputes(c: Smoke) -> None:
    out = c.run("request", "disputes", "--user", "police_reviewer")
    assert re.search(rf"│ {c.ids['step']}\s+│ {c.ids['refused']}\s+│ 双方协商", out), out
    assert "低保审核为法定职责" in out


@step("request", "decide-dispute")
def _request_decide_dispute(c: Smoke) -> None:
    out = c.run("request", "decide-dispute", c.ids["step"], "--decision", "approve", "--reason", "协商一致",
                "--user", "police_reviewer")
    with c.session() as s:
        step_ = s.get(DisputeStep, c.ids["step"])
        assert (step_.status, step_.decision, step_.decision_reason) == ("decided", "approve", "协商一致")
        assert s.get(ShareRequest, c.ids["refused"]).status == "approved"
        c.ids["disputed_grant"] = sharing.grant_of(s, c.ids["refused"]).id
    assert "已决定" in out


@step("grant", "revoke")
def _grant_revoke(c: Smoke) -> None:
    out = c.run("grant", "revoke", c.ids["grant"], "--reason", "发现超范围调用", "--user", "police_reviewer")
    with c.session() as s:
        grant = s.get(Grant, c.ids["grant"])
        assert (grant.status, grant.end_reason) == ("ended", "revoked")
        assert s.get(ShareRequest, c.ids["request"]).status == "revoked"
    assert "已撤销" in out and "尚未确认删除" in out


@step("grant", "confirm-deletion")
def _grant_confirm_deletion(c: Smoke) -> None:
    out = c.run("grant", "confirm-deletion", c.ids["grant"], "--note", "已删除缓存", "--user", "civil_requester")
    with c.session() as s:
        assert s.get(Grant, c.ids["grant"]).deletion_confirmed_at is not None
    assert "已确认删除数据" in out


@step("grant", "purpose-achieved")
def _grant_purpose_achieved(c: Smoke) -> None:
    out = c.run("grant", "purpose-achieved", c.ids["disputed_grant"], "--note", "审核完成", "--user",
                "civil_requester")
    with c.session() as s:
        grant = s.get(Grant, c.ids["disputed_grant"])
        assert (grant.status, grant.end_reason) == ("ended", "purpose_achieved")
    assert "共享目的已实现" in out


@step("grant", "reinstate")
def _grant_reinstate(c: Smoke) -> None:
    with c.session() as s:
        request = sharing.create_request(s, c.actor(s, "civil_requester"), request_in(
            s.get(CatalogEntry, c.ids["entry_sql"]), consumer_system_id=c.ids["system"]), submit=True)
        sharing.reply(s, c.actor(s, "police_reviewer"), request.id, ReplyIn(decision="approve"))
        grant = sharing.grant_of(s, request.id)
        sharing.suspend_grant(s, grant, "10 分钟内 5 次越权访问")
        grant_id = grant.id
    out = c.run("grant", "reinstate", grant_id, "--reason", "已核实为配置错误", "--user", "police_reviewer")
    with c.session() as s:
        assert s.get(Grant, grant_id).status == "active"
    assert f"共享授权 {grant_id}" in out and "有效" in out


@step("system", "revoke")
def _system_revoke(c: Smoke) -> None:
    out = c.run("system", "revoke", c.ids["system"], "--user", "civil_requester")
    assert f"已吊销应用系统 {c.ids['system']}：烟测核查系统" in out
    with c.session() as s:
        assert s.get(ConsumerSystem, c.ids["system"]).revoked_at is not None
        with pytest.raises(Exception, match="凭据无效"):
            systems.authenticate_system(s, c.ids["client_id"], c.ids["secret"])


# ---------------------------------------------------------------- service changes (R11)


@step("service-change", "propose")
def _change_propose(c: Smoke) -> None:
    with c.session() as s:
        effective = changes.earliest_effective_date(s, workdays.local_today(s)) + timedelta(days=7)
    out = c.run("service-change", "propose", c.ids["entry_sql"], "--kind", "change", "--description",
                "烟测接口迁移至新版网关", "--effective-date", effective.isoformat(), "--user", "police_manager")
    with c.session() as s:
        change = s.scalars(select(ServiceChange).where(ServiceChange.description == "烟测接口迁移至新版网关")).one()
        assert (change.entry_id, change.kind, change.status, change.effective_date) == (
            c.ids["entry_sql"], "change", "submitted", effective)
        c.ids["change"] = change.id
    assert f"共享服务变更 {change.id}：烟测人口库表信息" in out


@step("service-change", "list")
def _change_list(c: Smoke) -> None:
    out = c.run("service-change", "list", "--status", "submitted", "--user", "data_authority")
    assert re.search(rf"│ {c.ids['change']}\s+│ 烟测人口库表信息\s+│ 变更共享服务.*烟测接口迁移至新版网关", out), out


@step("service-change", "decide")
def _change_decide(c: Smoke) -> None:
    out = c.run("service-change", "decide", c.ids["change"], "--approve", "--reason", "同意迁移",
                "--user", "data_authority")
    with c.session() as s:
        change = s.get(ServiceChange, c.ids["change"])
        assert (change.status, change.decision_reason) == ("approved", "同意迁移")
    assert "已批准" in out


# ---------------------------------------------------------------- webhooks and notifications


@step("webhook", "add")
def _webhook_add(c: Smoke) -> None:
    out = c.run("webhook", "add", c.ids["police"], "http://127.0.0.1:9/hook", "--events",
                "request.submitted,request.withdrawn", "--user", "admin")
    secret = re.search(r"签名密钥（只显示这一次，请妥善保存）：(\S+)", out).group(1)
    with c.session() as s:
        hook = s.scalars(select(Webhook).where(Webhook.url == "http://127.0.0.1:9/hook")).one()
        assert (hook.department_id, hook.events, hook.is_active) == (
            c.ids["police"], ["request.submitted", "request.withdrawn"], True)
        assert hook.secret != secret and unseal(s, hook.secret) == secret  # stored sealed
        c.ids.update(hook=hook.id, hook_secret=hook.secret)
    assert f"已登记 Webhook {hook.id}：安徽省公安厅 → http://127.0.0.1:9/hook" in out
    with c.session() as s:  # an event of the department: one delivery waits for the worker
        request = sharing.create_request(s, c.actor(s, "civil_requester"), request_in(
            s.get(CatalogEntry, c.ids["entry_http"]), consumer_system_id=c.ids["scene_system"]), submit=True)
        c.ids["hooked_request"] = request.id


@step("webhook", "list")
def _webhook_list(c: Smoke) -> None:
    out = c.run("webhook", "list", "--department-id", c.ids["police"], "--user", "admin")
    assert re.search(rf"│ {c.ids['hook']}\s+│ 安徽省公安厅\s+│ http://127.0.0.1:9/hook\s+│ "
                     r"request.submitted、request.withdrawn\s+│ 启用", out), out
    assert c.ids["hook_secret"] not in out


@step("webhook", "deliveries")
def _webhook_deliveries(c: Smoke) -> None:
    with c.session() as s:
        message = s.scalars(select(OutboxMessage).where(OutboxMessage.webhook_id == c.ids["hook"])).one()
        assert (message.event, message.status) == ("request.submitted", "pending")
        c.ids["message"] = message.id
    out = c.run("webhook", "deliveries", c.ids["hook"], "--user", "admin")
    assert re.search(rf"│ {message.id}\s+│ request.submitted\s+│ 待投递", out), out


@step("webhook", "retry")
def _webhook_retry(c: Smoke) -> None:
    with c.session() as s:  # the worker gave up on it
        message = s.get(OutboxMessage, c.ids["message"])
        message.status, message.attempts, message.last_error = "dead", 12, "connection refused"
    out = c.run("webhook", "retry", c.ids["message"], "--user", "admin")
    assert f"投递 {c.ids['message']} 已重新排队（request.submitted → http://127.0.0.1:9/hook）" in out
    with c.session() as s:
        assert s.get(OutboxMessage, c.ids["message"]).status == "pending"


@step("webhook", "deactivate")
def _webhook_deactivate(c: Smoke) -> None:
    out = c.run("webhook", "deactivate", c.ids["hook"], "--user", "admin")
    assert f"已停用 Webhook {c.ids['hook']}" in out
    with c.session() as s:
        assert s.get(Webhook, c.ids["hook"]).is_active is False


@step("webhook", "activate")
def _webhook_activate(c: Smoke) -> None:
    out = c.run("webhook", "activate", c.ids["hook"], "--user", "admin")
    assert f"已启用 Webhook {c.ids['hook']}" in out
    with c.session() as s:
        assert s.get(Webhook, c.ids["hook"]).is_active is True


@step("webhook", "rotate-secret")
def _webhook_rotate_secret(c: Smoke) -> None:
    out = c.run("webhook", "rotate-secret", c.ids["hook"], "--user", "admin")
    secret = re.search(r"新签名密钥（只显示这一次）：(\S+)", out).group(1)
    with c.session() as s:
        stored = s.get(Webhook, c.ids["hook"]).secret
        assert stored != c.ids["hook_secret"] and unseal(s, stored) == secret


@step("notifications")
def _notifications(c: Smoke) -> None:
    out = c.run("notifications", "police_reviewer")
    with c.session() as s:
        user_id = s.scalars(select(User.id).where(User.username == "police_reviewer")).one()
        unread = s.scalars(select(Notification).where(Notification.user_id == user_id,
                                                      Notification.read_at.is_(None))
                           .order_by(Notification.id.desc()).limit(50)).all()
    assert unread and f"police_reviewer 的通知（未读 {len(unread)} 条）" in out
    assert all(re.search(rf"│ {n.id}\s+│", out) for n in unread)


# ---------------------------------------------------------------- demands (R20)


def _demand(c: Smoke, demand_id: int) -> Demand:
    with c.session() as s:
        demand = s.get(Demand, demand_id)
        s.expunge(demand)
        return demand


@step("demand", "post")
def _demand_post(c: Smoke) -> None:
    out = c.run("demand", "post", "需要核验烟测申请人的户籍", "--description", "烟测", "--provider-id", c.ids["police"],
                "--user", "civil_requester")
    demand_id = int(re.search(r"需求 (\d+)：需要核验烟测申请人的户籍", out).group(1))
    posted = _demand(c, demand_id)
    assert (posted.status, posted.provider_id, posted.requester_id, posted.description) == (
        "routed", c.ids["police"], c.ids["civil"], "烟测")
    assert "已转提供部门" in out and f"答复期限：{posted.answer_due}" in out
    c.ids["demand"] = demand_id


@step("demand", "list")
def _demand_list(c: Smoke) -> None:
    out = c.run("demand", "list", "--box", "mine", "--user", "civil_requester")
    assert re.search(rf"│ {c.ids['demand']}\s+│ 需要核验烟测申请人的户籍\s+│ 已转提供部门", out), out
    with c.session() as s:
        mine = s.scalars(select(Demand.id).where(Demand.requester_id == c.ids["civil"])).all()
    assert all(re.search(rf"│ {d}\s+│", out) for d in mine)


@step("demand", "show")
def _demand_show(c: Smoke) -> None:
    out = c.run("demand", "show", c.ids["demand"], "--user", "police_manager")
    assert f"需求 {c.ids['demand']}：需要核验烟测申请人的户籍" in out and "需求部门：安徽省民政厅" in out
    assert "提供部门：安徽省公安厅" in out


@step("demand", "answer")
def _demand_answer(c: Smoke) -> None:
    with c.session() as s:
        planned = workdays.deadline(s, workdays.local_today(s), 3).due
    out = c.run("demand", "answer", c.ids["demand"], "--accept", "--planned-date", planned.isoformat(),
                "--reason", "将编目", "--user", "police_manager")
    answered = _demand(c, c.ids["demand"])
    assert (answered.status, answered.accepted, answered.planned_date) == ("accepted", True, planned)
    assert f"计划日期：{planned}" in out


@step("demand", "link")
def _demand_link(c: Smoke) -> None:
    out = c.run("demand", "link", c.ids["demand"], c.ids["entry_file"], "--user", "police_manager")
    linked = _demand(c, c.ids["demand"])
    assert (linked.status, linked.entry_id) == ("fulfilled", c.ids["entry_file"])
    assert "满足需求的目录：烟测居民文件信息" in out


@step("demand", "route")
def _demand_route(c: Smoke) -> None:
    with c.session() as s:  # declined by 公安: the requester routes it to 自然资源
        demand = demands.post_demand(s, c.actor(s, "civil_requester"), "需要核验烟测家庭的房产",
                                     provider_id=c.ids["police"])
        demands.answer_demand(s, c.actor(s, "police_manager"), demand.id, False, reason="本部门不掌握房产数据")
        c.ids["declined"] = demand.id
        land = c.department(s, "安徽省自然资源厅")
    out = c.run("demand", "route", c.ids["declined"], "--provider-id", land, "--user", "civil_requester")
    routed = _demand(c, c.ids["declined"])
    assert (routed.status, routed.provider_id, routed.routed_automatically) == ("routed", land, False)
    assert "提供部门：安徽省自然资源厅" in out


@step("demand", "withdraw")
def _demand_withdraw(c: Smoke) -> None:
    out = c.run("demand", "withdraw", c.ids["declined"], "--reason", "改由线下核查", "--user", "civil_requester")
    withdrawn = _demand(c, c.ids["declined"])
    assert (withdrawn.status, withdrawn.withdraw_reason) == ("withdrawn", "改由线下核查") and "已撤回" in out


@step("demand", "accept")
def _demand_accept(c: Smoke) -> None:
    with c.session() as s:
        demand_id = demands.post_demand(s, c.actor(s, "civil_requester"), "需要核验烟测人口的接口",
                                        provider_id=c.ids["police"]).id
    out = c.run("demand", "accept", demand_id, c.ids["entry_http"], "--user", "civil_requester")
    accepted = _demand(c, demand_id)
    assert (accepted.status, accepted.entry_id) == ("matched", c.ids["entry_http"])
    assert "满足需求的目录：烟测人口接口信息" in out


# ---------------------------------------------------------------- the working-day calendar


NOTICE_2031 = """国务院办公厅关于2031年部分节假日安排的通知
一、元旦：1月1日（周三）放假，共1天。
二、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
"""


@step("calendar", "import")
def _calendar_import(c: Smoke) -> None:
    path = c.tmp / "notice-2031.txt"
    path.write_text(NOTICE_2031, encoding="utf-8")
    out = c.run("calendar", "import", path, "--user", "admin")
    with c.session() as s:
        days = {d.day: d.is_workday for d in workdays.list_days(s, 2031)}
    assert days[date(2031, 1, 1)] is False and days[date(2031, 4, 27)] is True
    assert sum(not w for w in days.values()) == 6 and sum(days.values()) == 1
    assert "放假 6 天，上班 1 天" in out and "新增 7" in out, out


@step("calendar", "list")
def _calendar_list(c: Smoke) -> None:
    out = c.run("calendar", "list", "--year", "2031")
    assert "节假日表（7 天）" in out and "2031-04-27" in out and "管理员节假日表" in out, out


@step("calendar", "set")
def _calendar_set(c: Smoke) -> None:
    out = c.run("calendar", "set", "2031-10-11", "--workday", "--name", "国庆节调休", "--user", "admin")
    with c.session() as s:
        [day] = [d for d in workdays.list_days(s, 2031) if d.day == date(2031, 10, 11)]
        assert (day.is_workday, day.name) == (True, "国庆节调休")
    assert "已设置 2031-10-11：上班 国庆节调休" in out


@step("calendar", "remove")
def _calendar_remove(c: Smoke) -> None:
    out = c.run("calendar", "remove", "2031-10-11", "--user", "admin")
    with c.session() as s:
        assert date(2031, 10, 11) not in {d.day for d in workdays.list_days(s, 2031)}
    assert "已删除 2031-10-11" in out


@step("calendar", "deadline")
def _calendar_deadline(c: Smoke) -> None:
    out = c.run("calendar", "deadline", "2031-04-25", "3")
    with c.session() as s:
        due = workdays.preview_deadline(s, date(2031, 4, 25), 3).due
    # Friday 4-25, then the admin's working Sunday 4-27, Monday, Tuesday (Monday–Friday alone would say 4-30)
    assert due == date(2031, 4, 29) and f"2031-04-25 起 3 个工作日：{due.isoformat()}" in out, out


@step("calendar", "year")
def _calendar_year(c: Smoke) -> None:
    out = c.run("calendar", "year", "2031")
    assert "2031年：" in out and "节假日表中 7 天" in out, out


# ---------------------------------------------------------------- data sources (R09, R17)


def _source(c: Smoke, key: str) -> DataSource:
    with c.session() as s:
        source = s.scalars(select(DataSource).where(DataSource.entry_id == c.ids[f"entry_{key}"])).one()
        s.expunge(source)
        return source


@step("connection", "add")
def _connection_add(c: Smoke) -> None:
    """The platform admin (the node operator) registers 省公安厅's database and an upstream API for it."""
    rows = people(12)
    folder = c.node.settings.data_dir / "provider_databases"
    folder.mkdir(parents=True, exist_ok=True)
    url = source_table(folder / "smoke_police.db", rows)
    c.ids["police_rows"] = len(rows)
    out = c.run("connection", "add", "--department", c.ids["police"], "--name", "烟测公安库", "--kind", "sql",
                "--url", url, "--allow", "RK_JBXX")
    assert "烟测公安库" in out and "RK_JBXX" in out and "smoke_police.db" in out
    out = c.run("connection", "add", "--department", "安徽省公安厅", "--name", "烟测户籍接口", "--kind", "http",
                "--url", "https://upstream.example/api/", "--internal")
    assert "烟测户籍接口" in out and "内部地址" in out
    refused = c.run("connection", "add", "--department", c.ids["police"], "--name", "平台库", "--kind", "sql",
                    "--url", c.node.settings.resolved_database_url, code=2)
    assert "平台自身的数据库" in refused


@step("connection", "list")
def _connection_list(c: Smoke) -> None:
    out = c.run("connection", "list", "--user", "police_manager")
    assert "烟测公安库" in out and "烟测户籍接口" in out
    assert "烟测公安库" not in c.run("connection", "list", "--user", "civil_manager")


@step("source", "connect-sql")
def _source_connect_sql(c: Smoke) -> None:
    maps = [f"--map={item}={column}" for item, column in COLUMN_MAP.items()]
    out = c.run("source", "connect-sql", c.ids["entry_sql"], "--connection", "烟测公安库", "--table", "RK_JBXX",
                "--key", "gmsfhm", *maps, "--user", "police_manager")
    source = _source(c, "sql")
    assert (source.kind, source.status, source.table_name, source.row_count) == ("sql", "connected", "RK_JBXX",
                                                                                 c.ids["police_rows"])
    assert "smoke_police" not in source.location  # the URL is stored sealed
    assert "数据源：烟测人口库表信息" in out and f"数据量：{c.ids['police_rows']} 行" in out


@step("source", "connect-file")
def _source_connect_file(c: Smoke) -> None:
    rows = residents(9)
    path = c.tmp / "居民.csv"
    path.write_bytes(csv_bytes(rows))
    out = c.run("source", "connect-file", c.ids["entry_file"], path, "--key", "gmsfhm", "--user", "police_manager")
    source = _source(c, "file")
    assert (source.kind, source.status, source.row_count) == ("file", "connected", len(rows))
    assert f"装载 {len(rows)} 行" in out, out


@step("source", "connect-http")
def _source_connect_http(c: Smoke) -> None:
    maps = [f"--map={item}={column}" for item, column in COLUMN_MAP.items()]
    out = c.run("source", "connect-http", c.ids["entry_http"], "--connection", "烟测户籍接口", "--path", "hukou",
                "--key", "gmsfhm", "--key-param", "sfzh", *maps, "--user", "police_manager")
    source = _source(c, "http")
    assert (source.kind, source.status, source.table_name) == ("http", "connected", "sfzh")
    assert {item: source.column_map[item] for item in COLUMN_MAP} == COLUMN_MAP
    assert "upstream.example" in out and "主键参数：sfzh" in out


@step("connection", "retire")
def _connection_retire(c: Smoke) -> None:
    with c.session() as s:
        api = s.scalars(select(DataConnection).where(DataConnection.name == "烟测户籍接口")).one()
    out = c.run("connection", "retire", api.id)
    assert "已停用" in out
    assert _source(c, "http").status == "connected"  # what was connected through it keeps serving


@step("source", "show")
def _source_show(c: Smoke) -> None:
    out = c.run("source", "show", c.ids["entry_file"], "--user", "police_manager")
    assert "数据源：烟测居民文件信息" in out and "数据画像与分级建议" in out and "分级建议尚未确认" in out
    with c.session() as s:
        names = [i.chinese_name for i in s.get(CatalogEntry, c.ids["entry_file"]).items]
    assert all(name in out for name in names)


@step("source", "confirm")
def _source_confirm(c: Smoke) -> None:
    out = c.run("source", "confirm", c.ids["entry_file"], "--accept-all", "--reason", "按画像建议",
                "--user", "police_manager")
    source = _source(c, "file")
    assert source.confirmed_at is not None and "已由 police_manager" in out
    with c.session() as s:
        items = {i.name: (i.grade, i.personal_info) for i in s.get(CatalogEntry, c.ids["entry_file"]).items}
    assert items["zh"] == ("general_4", "spi")  # 银行卡号: raised to sensitive personal information


@step("source", "list")
def _source_list(c: Smoke) -> None:
    out = c.run("source", "list", "--user", "police_manager")
    with c.session() as s:
        count = s.scalar(select(func.count(DataSource.id)).join(CatalogEntry, CatalogEntry.id == DataSource.entry_id)
                         .where(CatalogEntry.provider_id == c.ids["police"]))
    for key in ("sql", "file", "http"):
        assert f"（{c.ids[f'entry_{key}']}）" in out, key
    assert f"共 {count} 个" in out


# ---------------------------------------------------------------- data quality (R14)


def _rules(c: Smoke) -> list[QualityRule]:
    with c.session() as s:
        return list(s.scalars(select(QualityRule).where(QualityRule.entry_id == c.ids["entry_file"])
                              .order_by(QualityRule.id)))


@step("quality", "reference")
def _quality_reference(c: Smoke) -> None:
    path = c.tmp / "区划.csv"
    path.write_text("code,name\n340104,蜀山区\n340102,瑶海区\n", encoding="utf-8")
    out = c.run("quality", "reference", "admin_divisions", "--file", path, "--label", "行政区划代码（县级）")
    assert "参照表 admin_divisions（行政区划代码（县级））：2 个代码" in out
    c.run("quality", "reference", "admin_divisions", "--file", path, "--column", "区划", "--label", "x", code=2)


@step("quality", "propose")
def _quality_propose(c: Smoke) -> None:
    """Connecting the file proposed rules already; removing one, `propose` proposes it again (and, with the
    reference table just imported, the division codes against it)."""
    with c.session() as s:
        first = s.get(QualityRule, _rules(c)[0].id)
        removed = (first.kind, first.item)
        s.delete(first)
    before = {r.id for r in _rules(c)}
    out = c.run("quality", "propose", c.ids["entry_file"], "--user", "police_manager")
    proposed = _rules(c)
    added = {(r.kind, r.item) for r in proposed if r.id not in before}
    assert all(r.origin == "proposed" and r.confirmed_at is None for r in proposed)
    assert added == {removed, ("reference", "xzqhdm")} and "新增 2 条建议规则" in out and "待确认" in out


@step("quality", "confirm")
def _quality_confirm(c: Smoke) -> None:
    c.run("quality", "confirm", c.ids["entry_file"], "--user", "police_manager", code=2)  # neither ids nor --all
    out = c.run("quality", "confirm", c.ids["entry_file"], "--all", "--user", "police_manager")
    assert all(r.confirmed_at is not None for r in _rules(c)) and "已确认" in out


@step("quality", "add")
def _quality_add(c: Smoke) -> None:
    out = c.run("quality", "add", c.ids["entry_file"], "--kind", "range", "--item", "csrq",
                "--params", '{"min": "1990-01-01"}', "--user", "police_manager")
    added = _rules(c)[-1]
    assert (added.kind, added.item, added.params, added.origin) == ("range", "csrq", {"min": "1990-01-01"}, "declared")
    assert "1990-01-01 至 不限" in out
    c.run("quality", "add", c.ids["entry_file"], "--kind", "range", "--item", "csrq", "--params", "{",
          "--user", "police_manager", code=2)
    c.ids["quality_added"] = added.id


@step("quality", "rules")
def _quality_rules(c: Smoke) -> None:
    out = c.run("quality", "rules", c.ids["entry_file"], "--user", "civil_requester")  # a published entry: readable
    assert all(str(r.id) in out for r in _rules(c)) and "部门设置" in out and "平台建议" in out


@step("quality", "run")
def _quality_run(c: Smoke) -> None:
    out = c.run("quality", "run", c.ids["entry_file"], "--user", "police_manager")
    with c.session() as s:
        run = s.scalars(select(QualityRun).where(QualityRun.entry_id == c.ids["entry_file"])).one()
    born_before_1990 = next(r for r in run.results if r["kind"] == "range")
    assert run.status == "done" and run.rows_checked == 9 and born_before_1990["failed"] > 0
    assert f"质量检查 {run.id}" in out and f"{run.overall:.1f}" in out
    c.run("quality", "run", c.ids["entry_file"], "--user", "civil_manager", code=2)  # another department's


@step("quality", "runs")
def _quality_runs(c: Smoke) -> None:
    out = c.run("quality", "runs", c.ids["entry_file"], "--user", "police_reviewer")
    with c.session() as s:
        run_id = s.scalars(select(QualityRun.id).where(QualityRun.entry_id == c.ids["entry_file"])).one()
    assert str(run_id) in out and "demand" in out


@step("quality", "remove")
def _quality_remove(c: Smoke) -> None:
    out = c.run("quality", "remove", c.ids["entry_file"], c.ids["quality_added"], "--user", "police_manager")
    assert c.ids["quality_added"] not in [r.id for r in _rules(c)] and "已删除规则" in out


@step("source", "disconnect")
def _source_disconnect(c: Smoke) -> None:
    out = c.run("source", "disconnect", c.ids["entry_file"], "--reason", "数据源迁移", "--user", "police_manager")
    assert _source(c, "file").status == "disconnected" and "已断开" in out


# ---------------------------------------------------------------- usage records (R12)


@step("audit", "checkpoint")
def _audit_checkpoint(c: Smoke) -> None:
    with c.session() as s:  # a record the worker has not signed yet
        chain.append(s, department_id=c.ids["civil"], provider_id=c.ids["police"], mode="lookup", result="ok",
                     request_hash="b" * 64, row_count=1, resource_code="34000011/00001")
        head = s.scalar(select(func.max(UsageRecord.seq)))
    out = c.run("audit", "checkpoint")
    with c.session() as s:
        signed = s.scalars(select(Checkpoint).order_by(Checkpoint.id.desc())).first()
    assert signed.seq == head and f"已签署检查点 {signed.id}：序号 {head}" in out, out
    assert "无需新的检查点" in c.run("audit", "checkpoint")


@step("audit", "verify")
def _audit_verify(c: Smoke) -> None:
    out = c.run("audit", "verify")
    with c.session() as s:
        count = s.scalar(select(func.count(UsageRecord.id)))
    assert "使用记录链完整" in out and f"使用记录 {count} 条" in out, out
    with c.node.db.engine.begin() as connection:  # a record altered behind the chain's back is named
        connection.execute(text("UPDATE usage_records SET row_count = 99 WHERE seq = 5"))
    try:
        broken = c.run("audit", "verify", code=1)
        assert "第一个问题在序号 5" in broken, broken
    finally:
        with c.node.db.engine.begin() as connection:
            connection.execute(text("UPDATE usage_records SET row_count = 0 WHERE seq = 5"))
    assert "使用记录链完整" in c.run("audit", "verify")


@step("audit", "key")
def _audit_key(c: Smoke) -> None:
    out = c.run("audit", "key")
    info = chain.key_info(c.node.settings)
    assert f"密钥编号：{info.key_id}" in out and str(info.path) in out and "0600" in out


@step("audit", "records")
def _audit_records(c: Smoke) -> None:
    rows = json.loads(c.run("audit", "records", "--user", "civil_requester", "--json", "--limit", "100"))
    with c.session() as s:
        expected = list(s.scalars(select(UsageRecord.seq).where(UsageRecord.department_id == c.ids["civil"])
                                  .order_by(UsageRecord.seq.desc())))
    assert [r["seq"] for r in rows] == expected and {r["department_name"] for r in rows} == {"安徽省民政厅"}
    assert json.loads(c.run("audit", "records", "--user", "hf_civil_requester", "--json")) == []


@step("audit", "totals")
def _audit_totals(c: Smoke) -> None:
    rows = json.loads(c.run("audit", "totals", "--by", "result", "--json", "--user", "civil_requester"))
    since = utcnow() - timedelta(days=29)
    with c.session() as s:
        expected = dict(s.execute(select(UsageRecord.result, func.count()).where(
            UsageRecord.department_id == c.ids["civil"], UsageRecord.at >= since).group_by(UsageRecord.result)).all())
    assert {t["key"]: t["calls"] for t in rows} == expected and expected.get("refused")


@step("audit", "anomalies")
def _audit_anomalies(c: Smoke) -> None:
    out = c.run("audit", "anomalies", "--json", "--user", "data_authority")
    with c.session() as s:
        expected = audit.anomalies(s, c.actor(s, "data_authority"))
    assert json.loads(out) == json.loads(json.dumps(expected, ensure_ascii=False, default=str))
    assert "没有发现异常" in c.run("audit", "anomalies", "--user", "hf_civil_requester")


@step("audit", "archive")
def _audit_archive(c: Smoke) -> None:
    path = c.tmp / "usage-old.jsonl.gz"
    out = c.run("audit", "archive", path)
    assert "已归档 3 条使用记录（序号 1 至 3" in out and path.exists(), out  # the three past retention
    c.ids["archive"] = path


@step("audit", "verify-archive")
def _audit_verify_archive(c: Smoke) -> None:
    out = c.run("audit", "verify-archive", c.ids["archive"])
    assert "使用记录链完整" in out and "使用记录 3 条（序号 1 至 3）" in out, out


@step("audit", "prune")
def _audit_prune(c: Smoke) -> None:
    out = c.run("audit", "prune", "--archive", c.ids["archive"])
    assert "已清理 3 条使用记录（序号 1 至 3" in out, out
    with c.session() as s:
        assert s.scalar(select(func.min(UsageRecord.seq))) == 4
        assert s.scalars(select(Checkpoint.kind).order_by(Checkpoint.id.desc())).first() == "prune"
    assert "使用记录链完整" in c.run("audit", "verify")  # what is left still proves itself


# ---------------------------------------------------------------- objections (R13)

OBJECTION_KEY = "340104198001010013"


def _objection(c: Smoke, objection_id: int) -> Objection:
    with c.session() as s:
        objection = s.get(Objection, objection_id)
        s.expunge(objection)
        return objection


@step("objection", "file")
def _objection_file(c: Smoke) -> None:
    """安徽省民政厅's requester objects to a record of its grant with a scan of the proof; another department's
    requester is refused on that grant (exit code 2, naming the field)."""
    with c.session() as s:
        request = sharing.create_request(s, c.actor(s, "civil_requester"), request_in(
            s.get(CatalogEntry, c.ids["entry_sql"]), consumer_system_id=c.ids["scene_system"]), submit=True)
        sharing.reply(s, c.actor(s, "police_reviewer"), request.id, ReplyIn(decision="approve"))
        c.ids["objection_grant"] = sharing.grant_of(s, request.id).id
    scan = c.tmp / "死亡医学证明.png"
    scan.write_bytes(PNG)
    args = ("objection", "file", "--grant", c.ids["objection_grant"], "--key", OBJECTION_KEY, "--item", "csrq",
            "--item", "xm", "--claimed", "csrq=1949-12-30", "--evidence", "死亡医学证明 P340104202400123")
    out = c.run(*args, "--attach", scan, "--user", "civil_requester")
    objection_id = int(re.search(r"核实请求 (\d+)：烟测人口库表信息", out).group(1))
    objection = _objection(c, objection_id)
    assert (objection.grant_id, objection.requester_id, objection.provider_id, objection.record_key) == (
        c.ids["objection_grant"], c.ids["civil"], c.ids["police"], OBJECTION_KEY)
    assert (objection.items, objection.claimed, objection.status) == (["csrq", "xm"], {"csrq": "1949-12-30"}, "open")
    assert (objection.evidence_filename, objection.evidence_media_type, objection.evidence_sha256) == (
        "死亡医学证明.png", "image/png", hashlib.sha256(PNG).hexdigest())
    assert (c.node.settings.data_dir / "objections" / objection.evidence_stored).read_bytes() == PNG
    assert "认为正确的出生日期：1949-12-30" in out and "依据文件：死亡医学证明.png" in out and str(objection.due) in out
    c.ids["objection"] = objection_id
    with c.session() as s:
        before = s.scalar(select(func.count(Objection.id)))
    refused = c.run(*args, "--user", "edu_requester", code=2)  # not 安徽省教育厅's grant
    assert "共享授权不存在或无权查看" in refused and "（字段：grant_id）" in refused, refused
    with c.session() as s:
        assert s.scalar(select(func.count(Objection.id))) == before


@step("objection", "attach")
def _objection_attach(c: Smoke) -> None:
    with c.session() as s:
        objection = objections.file_objection(s, c.actor(s, "civil_requester"), c.ids["objection_grant"],
                                              "340104198001010021", ["hjdz"], {}, "户籍地址已迁至合肥市蜀山区")
        c.ids["objection_attached"] = objection.id
    proof = c.tmp / "迁移证明.pdf"
    proof.write_bytes(PDF)
    out = c.run("objection", "attach", c.ids["objection_attached"], proof, "--user", "civil_requester")
    objection = _objection(c, c.ids["objection_attached"])
    assert (objection.evidence_filename, objection.evidence_media_type, objection.evidence_size) == (
        "迁移证明.pdf", "application/pdf", len(PDF))
    assert "依据文件：迁移证明.pdf" in out and "上传依据文件" in out
    again = c.run("objection", "attach", c.ids["objection_attached"], proof, "--user", "civil_requester", code=2)
    assert "每个核实请求一个文件" in again and "（字段：evidence_file）" in again  # one file per objection


@step("objection", "list")
def _objection_list(c: Smoke) -> None:
    out = c.run("objection", "list", "--box", "incoming", "--status", "open", "--user", "police_reviewer")
    for objection_id, key in ((c.ids["objection"], OBJECTION_KEY), (c.ids["objection_attached"], "340104198001010021")):
        row = rf"│ {objection_id}\s+│ 烟测人口库表信息\s+│ {key}\s+│ 安徽省民政厅\s+│ 安徽省公安厅\s+│ 待核实"
        assert re.search(row, out), out
    assert str(c.ids["objection"]) not in c.run("objection", "list", "--box", "outgoing", "--user", "police_reviewer")
    assert OBJECTION_KEY not in c.run("objection", "list", "--user", "edu_requester")  # not a party


@step("objection", "show")
def _objection_show(c: Smoke) -> None:
    out = c.run("objection", "show", c.ids["objection"], "--user", "civil_requester")
    for text_ in (f"核实请求 {c.ids['objection']}：烟测人口库表信息", "状态：待核实", f"记录主键：{OBJECTION_KEY}",
                  "有误的信息项：出生日期、姓名", "依据：死亡医学证明 P340104202400123", "提出核实", "上传依据文件"):
        assert text_ in out, text_
    refused = c.run("objection", "show", c.ids["objection"], "--user", "edu_requester", code=2)
    assert "（字段：objection_id）" in refused


@step("objection", "answer")
def _objection_answer(c: Smoke) -> None:
    refused = c.run("objection", "answer", c.ids["objection"], "--answer", "corrected", "--reason", "越权答复",
                    "--user", "civil_requester", code=2)  # the requester does not answer its own objection
    assert "（字段：role）" in refused and _objection(c, c.ids["objection"]).status == "open"
    out = c.run("objection", "answer", c.ids["objection"], "--answer", "corrected", "--reason", "已补录死亡标识",
                "--user", "police_reviewer")
    objection = _objection(c, c.ids["objection"])
    assert (objection.status, objection.answer, objection.answered_at is not None) == ("corrected", "已补录死亡标识",
                                                                                     True)
    assert "状态：已更正" in out and "答复：已补录死亡标识" in out and "答复：已更正" in out
    again = c.run("objection", "answer", c.ids["objection"], "--answer", "confirmed", "--reason", "再次答复",
                  "--user", "police_manager", code=2)
    assert "已答复" in again and "（字段：status）" in again  # answered once


@step("objection", "evidence")
def _objection_evidence(c: Smoke) -> None:
    path = c.tmp / "downloaded.png"
    out = c.run("objection", "evidence", c.ids["objection"], "-o", path, "--user", "police_reviewer")
    assert path.read_bytes() == PNG and "已保存 死亡医学证明.png" in out
    refused = c.run("objection", "evidence", c.ids["objection"], "-o", c.tmp / "stolen.png", "--user",
                    "edu_requester", code=2)
    assert "（字段：objection_id）" in refused and not (c.tmp / "stolen.png").exists()
