"""CLI commands of demands (需求清单, R20): `govshare demand post|list|show|route|accept|answer|link|withdraw`.
Registered on the main typer app by govshare.cli; `--user USERNAME` acts as that user (default: node operator)."""

from __future__ import annotations

from datetime import date

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, unit_of_work

demand_app = typer.Typer(help="需求清单（R20）", no_args_is_help=True)
USER = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维）")


_actor = actor_named  # the user of --user, or the node operator


def _print(view: dict) -> None:
    """A demand's state, deadlines (with the estimate warning) and suggestions."""
    from rich.table import Table


    console.print(f"[bold]需求 {view['id']}：{view['title']}[/bold]  状态：{view['status_label']}")
    console.print(f"需求部门：{view['requester']}" + (f"    提供部门：{view['provider']}" if view["provider"] else ""))
    if view["description"]:
        console.print(f"说明：{view['description']}")
    for label, key in (("答复期限", "answer_due"), ("计划日期", "planned_date"), ("编目期限", "fulfil_due")):
        if view[key]:
            console.print(f"{label}：{view[key]}")
    for key in ("answer_due_warning", "fulfil_due_warning"):
        if view[key]:
            console.print(f"[yellow]{view[key]}[/yellow]")
    if view["answer"]:
        console.print(f"答复：{view['answer']}")
    if view["entry_id"]:
        console.print(f"满足需求的目录：{view['entry_name']}（{view['entry_code']}，编号 {view['entry_id']}）")
    if view["overdue_at"]:
        console.print(f"[red]已逾期（{view['overdue_at']:%Y-%m-%d %H:%M}）[/red]")
    if view["suggestions"]:
        table = Table("序号", "目录编号", "资源代码", "名称", "提供部门", "得分", title="推荐目录")
        for s in view["suggestions"]:
            score = f"{s['score']:.2f}" if s["score"] is not None else ""
            table.add_row(str(s["rank"]), str(s["entry_id"]), s["resource_code"], s["name"], s["provider"], score)
        console.print(table)


def _act(username: str | None, action) -> None:
    """Runs `action(session, actor) -> Demand` in one unit of work and prints the result."""
    from govshare.demands import service

    with unit_of_work() as session:
        actor = _actor(session, username)
        demand = action(session, actor)
        _print(service.view(session, actor, demand))


@demand_app.command("post")
def demand_post(
    title: str = typer.Argument(..., help="需求概述，如：需要核验申请人是否为低保对象"),
    description: str = typer.Option("", "--description", help="用途、所需信息项、范围等说明"),
    provider_id: int = typer.Option(None, "--provider-id", help="直接转交的提供部门编号"),
    user: str = USER,
) -> None:
    """提出数据需求：平台推荐匹配目录，无匹配时转交可能的提供部门。"""
    from govshare.demands import service

    _act(user, lambda s, a: service.post_demand(s, a, title, description, provider_id=provider_id))


@demand_app.command("list")
def demand_list(
    status: str = typer.Option(None, "--status", help="按状态筛选"),
    box: str = typer.Option(None, "--box", help="mine 本部门提出的；incoming 转交本部门的"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    user: str = USER,
) -> None:
    """列出可见的需求。"""
    from rich.table import Table

    from govshare.demands import service

    with unit_of_work() as session:
        actor = _actor(session, user)
        demands = service.list_demands(session, actor, status=status, box=box, limit=limit)
        table = Table("ID", "需求", "状态", "需求部门", "提供部门", "答复期限", "编目期限", "逾期")
        for v in service.views(session, actor, demands):
            table.add_row(str(v["id"]), v["title"], v["status_label"], v["requester"], v["provider"] or "",
                          str(v["answer_due"] or ""), str(v["fulfil_due"] or ""), "是" if v["overdue_at"] else "")
        console.print(table)


@demand_app.command("show")
def demand_show(demand_id: int, user: str = USER) -> None:
    """查看需求详情与推荐目录。"""
    from govshare.demands import service

    _act(user, lambda s, a: service.get_demand(s, a, demand_id))


@demand_app.command("route")
def demand_route(
    demand_id: int,
    provider_id: int = typer.Option(None, "--provider-id", help="转交的提供部门；不填则转交平台推定的部门"),
    user: str = USER,
) -> None:
    """推荐目录都不满足时，把需求转交提供部门。"""
    from govshare.demands import service

    _act(user, lambda s, a: service.route_demand(s, a, demand_id, provider_id))


@demand_app.command("accept")
def demand_accept(demand_id: int, entry_id: int, user: str = USER) -> None:
    """确认某条已发布目录满足需求。"""
    from govshare.demands import service

    _act(user, lambda s, a: service.accept_suggestion(s, a, demand_id, entry_id))


@demand_app.command("answer")
def demand_answer(
    demand_id: int,
    accept: bool = typer.Option(..., "--accept/--decline", help="承诺提供 / 说明无法提供"),
    planned_date: str = typer.Option(None, "--planned-date", help="计划完成编目的日期 YYYY-MM-DD（承诺时必填）"),
    reason: str = typer.Option("", "--reason", help="理由（无法提供时必填）"),
    user: str = USER,
) -> None:
    """提供部门答复需求：承诺日期或无法提供的理由。"""
    from govshare.demands import service
    from govshare.errors import ValidationFailed

    def action(session, actor):
        try:
            planned = date.fromisoformat(planned_date) if planned_date else None
        except ValueError as exc:
            raise ValidationFailed(f"日期格式应为 YYYY-MM-DD：{planned_date}", field="planned_date") from exc
        return service.answer_demand(session, actor, demand_id, accept, planned, reason)

    _act(user, action)


@demand_app.command("link")
def demand_link(demand_id: int, entry_id: int, user: str = USER) -> None:
    """把本部门已发布的目录关联到需求（需求完成）。"""
    from govshare.demands import service

    _act(user, lambda s, a: service.link_entry(s, a, demand_id, entry_id))


@demand_app.command("withdraw")
def demand_withdraw(demand_id: int, reason: str = typer.Option(..., "--reason", help="撤回理由（必填）"),
                    user: str = USER) -> None:
    """撤回本部门提出的需求（须说明理由）。"""
    from govshare.demands import service

    _act(user, lambda s, a: service.withdraw_demand(s, a, demand_id, reason))


def register(app: typer.Typer) -> None:
    """Adds `demand` to `govshare`."""
    app.add_typer(demand_app, name="demand")
