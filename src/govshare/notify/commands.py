"""CLI commands of notify; registered on the main typer app by govshare.cli:
`govshare webhook add|list|deliveries|retry|deactivate|activate|rotate-secret` and
`govshare notifications USERNAME`."""

from __future__ import annotations

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, unit_of_work

webhook_app = typer.Typer(help="Webhook（事件推送）管理", no_args_is_help=True)


_actor = actor_named  # the user of --user, or the node operator


USER_OPTION = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维）")


@webhook_app.command("add")
def webhook_add(
    department_id: int,
    url: str,
    events: str = typer.Option("", "--events", help="只推送这些事件（逗号分隔），默认推送全部事件"),
    user: str = USER_OPTION,
) -> None:
    """为部门登记 Webhook；签名密钥只显示这一次。"""
    from govshare.notify import service

    with unit_of_work() as session:
        hook, secret = service.create_webhook(session, _actor(session, user), department_id=department_id, url=url,
                                              events=[e for e in events.split(",") if e.strip()])
        console.print(f"已登记 Webhook {hook.id}：{hook.department.name} → {hook.url}")
        # soft_wrap: a secret broken over two lines would be copied wrong
        console.print(f"签名密钥（只显示这一次，请妥善保存）：[bold]{secret}[/bold]", soft_wrap=True)


@webhook_app.command("list")
def webhook_list(
    department_id: int = typer.Option(None, "--department-id", help="只列出该部门的"),
    user: str = USER_OPTION,
) -> None:
    """列出 Webhook（不显示密钥）。"""
    from rich.table import Table

    from govshare.notify import service

    with unit_of_work() as session:
        table = Table("ID", "部门", "地址", "事件", "状态", "登记时间")
        for h in service.list_webhooks(session, _actor(session, user), department_id=department_id):
            table.add_row(str(h.id), h.department.name, h.url, "、".join(h.events or []) or "全部",
                          "启用" if h.is_active else "[red]已停用[/red]", f"{h.created_at:%Y-%m-%d %H:%M}")
        console.print(table)


@webhook_app.command("deliveries")
def webhook_deliveries(
    hook_id: int,
    status: str = typer.Option(None, "--status", help="pending / delivered / dead"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    user: str = USER_OPTION,
) -> None:
    """某个 Webhook 最近的投递（状态、尝试次数、最后错误）。"""
    from rich.markup import escape
    from rich.table import Table

    from govshare.notify import service

    labels = {"pending": "待投递", "delivered": "已送达", "dead": "[red]已放弃[/red]"}
    with unit_of_work() as session:
        table = Table("ID", "事件", "状态", "尝试", "下次尝试", "送达时间", "最后错误")
        for m in service.list_deliveries(session, _actor(session, user), hook_id, status=status, limit=limit):
            table.add_row(str(m.id), m.event, labels.get(m.status, m.status), str(m.attempts),
                          f"{m.next_attempt_at:%Y-%m-%d %H:%M:%S}" if m.status == "pending" else "",
                          f"{m.delivered_at:%Y-%m-%d %H:%M:%S}" if m.delivered_at else "", escape(m.last_error[:80]))
        console.print(table)


@webhook_app.command("retry")
def webhook_retry(message_id: int, user: str = USER_OPTION) -> None:
    """把放弃（dead）的投递重新放回队列。"""
    from govshare.notify import service

    with unit_of_work() as session:
        message = service.retry_delivery(session, _actor(session, user), message_id)
        console.print(f"投递 {message.id} 已重新排队（{message.event} → {message.webhook.url}）")


@webhook_app.command("deactivate")
def webhook_deactivate(hook_id: int, user: str = USER_OPTION) -> None:
    """停用 Webhook：不再推送，待投递的消息不再发送。"""
    from govshare.notify import service

    with unit_of_work() as session:
        hook = service.set_webhook_active(session, _actor(session, user), hook_id, active=False)
        console.print(f"已停用 Webhook {hook.id}：{hook.url}")


@webhook_app.command("activate")
def webhook_activate(hook_id: int, user: str = USER_OPTION) -> None:
    """重新启用 Webhook。"""
    from govshare.notify import service

    with unit_of_work() as session:
        hook = service.set_webhook_active(session, _actor(session, user), hook_id, active=True)
        console.print(f"已启用 Webhook {hook.id}：{hook.url}")


@webhook_app.command("rotate-secret")
def webhook_rotate_secret(hook_id: int, user: str = USER_OPTION) -> None:
    """更换签名密钥：立即生效，新密钥只显示这一次。"""
    from govshare.notify import service

    with unit_of_work() as session:
        hook, secret = service.rotate_secret(session, _actor(session, user), hook_id)
        console.print(f"Webhook {hook.id} 的新签名密钥（只显示这一次）：[bold]{secret}[/bold]", soft_wrap=True)


def notifications_command(
    username: str,
    show_all: bool = typer.Option(False, "--all", help="也列出已读的通知"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
) -> None:
    """列出某用户的未读通知（--all：全部通知）。"""
    from rich.markup import escape
    from rich.table import Table

    from govshare.notify import service

    with unit_of_work() as session:
        actor = _actor(session, username)
        items = service.list_notifications(session, actor, unread_only=not show_all, limit=limit)
        unread = service.unread_count(session, actor)
        table = Table("ID", "时间", "事件", "标题", "链接", "已读", title=f"{username} 的通知（未读 {unread} 条）")
        for n in items:
            table.add_row(str(n.id), f"{n.created_at:%Y-%m-%d %H:%M}", n.event, escape(n.title), escape(n.link),
                          "是" if n.read_at else "")
        console.print(table)


def register(app: typer.Typer) -> None:
    """Adds this domain's commands to `govshare`."""
    app.add_typer(webhook_app, name="webhook")
    app.command("notifications")(notifications_command)
