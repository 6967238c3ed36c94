"""`govshare` command line: thin commands over the services, one sub-command group per domain."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.config import get_settings
from govshare.db import Database
from govshare.errors import DomainError

app = typer.Typer(help="govshare 政务数据共享平台", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
dept_app = typer.Typer(help="部门管理", no_args_is_help=True)
user_app = typer.Typer(help="用户管理", no_args_is_help=True)
catalog_app = typer.Typer(help="目录管理（一本账）", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dept_app, name="dept")
app.add_typer(user_app, name="user")
app.add_typer(catalog_app, name="catalog")

console = Console()
err_console = Console(stderr=True)


def database() -> Database:
    """The node's database, migrated to the latest schema."""
    from govshare import migrate

    url = get_settings().resolved_database_url
    migrate.upgrade(url)
    return Database(url)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session for one command; domain errors become a clear message and exit code 2."""
    db = database()
    try:
        with db.session() as session:
            yield session
    except DomainError as exc:
        field = f"（字段：{exc.field}）" if exc.field else ""
        err_console.print(f"[red]错误：{exc.message}{field}[/red]")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()


SYSTEM = Actor.system()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to GOVSHARE_DATABASE_URL."""
    from govshare import migrate

    migrate.upgrade(get_settings().resolved_database_url)
    console.print("数据库已迁移到最新版本")


@app.command()
def serve(host: str = typer.Option(None), port: int = typer.Option(None)) -> None:
    """Serve the API and the UI."""
    import uvicorn

    from govshare.app import create_app

    settings = get_settings()
    database()  # migrate before serving
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


@dept_app.command("add")
def dept_add(
    name: str,
    level: str = typer.Option(..., help="national/provincial/municipal/county"),
    region_code: str = typer.Option(..., help="6位行政区划代码"),
    uscc: str = typer.Option(None, help="统一社会信用代码"),
    authority: bool = typer.Option(False, help="是否为政务数据共享主管部门"),
    parent_id: int = typer.Option(None),
) -> None:
    from govshare.orgs import service

    with unit_of_work() as session:
        department = service.create_department(
            session, SYSTEM, name=name, level=level, region_code=region_code, uscc_code=uscc,
            parent_id=parent_id, is_competent_authority=authority,
        )
        console.print(f"已创建部门 {department.id}：{department.name}")


@dept_app.command("list")
def dept_list() -> None:
    from rich.table import Table

    from govshare.orgs import service

    with unit_of_work() as session:
        table = Table("ID", "名称", "层级", "区划", "统一社会信用代码", "主管部门")
        for d in service.list_departments(session):
            table.add_row(str(d.id), d.name, d.level, d.region_code, d.uscc or "", "是" if d.is_competent_authority else "")
        console.print(table)


@user_app.command("add")
def user_add(
    username: str,
    department_id: int = typer.Option(...),
    role: str = typer.Option(..., help="platform_admin/authority_reviewer/catalog_manager/dept_reviewer/requester/auditor"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    display_name: str = typer.Option(""),
) -> None:
    from govshare.orgs import service

    with unit_of_work() as session:
        user = service.create_user(session, SYSTEM, username=username, password=password, role=role,
                                   department_id=department_id, display_name=display_name)
        console.print(f"已创建用户 {user.id}：{user.username}")


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
