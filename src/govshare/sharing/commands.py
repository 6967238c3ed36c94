"""CLI commands of one-stop sharing, registered on the main typer app by govshare.cli:

- `govshare request list|show|create|submit|withdraw|reply|escalate|renew|disputes|decide-dispute` (R07, R08)
- `govshare grant list|show|revoke|purpose-achieved|confirm-deletion` (R09, R10)
- `govshare system register|list|rotate|revoke` (consumer systems and their credentials)
- `govshare service-change propose|decide|list` (R11)

Every command takes `--user USERNAME` to act as that user (default: the node operator, who belongs to no
department and so cannot request or reply). Domain errors print their message and exit with code 2."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, unit_of_work

request_app = typer.Typer(help="共享申请（R07 申请与答复，R08 争议协调）", no_args_is_help=True)
grant_app = typer.Typer(help="共享授权（R09、R10）", no_args_is_help=True)
system_app = typer.Typer(help="应用系统（调用共享数据的程序及其凭据）", no_args_is_help=True)
change_app = typer.Typer(help="共享服务停止或变更（R11，须主管部门批准）", no_args_is_help=True)

USER = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维，不属于任何部门）")
REASON = typer.Option("", "--reason", help="理由")
SECRET_WARNING = "客户端密钥只显示这一次，平台只保存其摘要；请立即妥善保存，遗失后只能更换密钥（rotate）。"


# ---------------------------------------------------------------- helpers


@contextmanager
def _work(username: str | None) -> Iterator[tuple]:
    """One unit of work acting as `username` (or the node operator)."""

    with unit_of_work() as session:
        yield session, _actor(session, username)


_actor = actor_named  # the user of --user, or the node operator


def _model(cls, **data):
    """Builds a pydantic input; its validation errors become a domain error (exit 2) naming field and rule."""
    from pydantic import ValidationError

    from govshare.validation import validation_failed

    try:
        return cls(**data)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


def _date(text: str | None, field: str) -> date | None:
    from govshare.errors import ValidationFailed

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"日期格式应为 YYYY-MM-DD：{text}", field=field) from exc


def _item_ids(session, entry_id: int, text: str | None, field: str = "item_ids") -> list[int] | None:
    """`1,2,5` (the items' numbers shown on the entry) or `gmsfhm,xm` / `公民身份号码,姓名` (their names)."""
    from govshare.catalog import service as catalog
    from govshare.catalog.models import CatalogEntry

    if text is None:
        return None
    references = [t.strip() for t in text.replace("，", ",").split(",") if t.strip()]
    entry = session.get(CatalogEntry, entry_id)
    if entry is None or entry.status != "published":  # only published entries are requested: the service
        return []  # refuses the request naming the entry, and no draft's items are listed here
    return [item.id for item in catalog.items_referred(entry, references, field)]


def _scope(scope_item: str | None, prefixes: list[str] | None):
    from govshare.errors import ValidationFailed
    from govshare.sharing.schemas import RowScope

    if not scope_item and not prefixes:
        return None
    if not scope_item or not prefixes:
        raise ValidationFailed("数据范围须同时指定 --scope-item 和至少一个 --scope-prefix", field="row_scope")
    return _model(RowScope, item=scope_item, prefixes=list(prefixes))


def _table(*headers: str, title: str | None = None):
    """A rich table whose cells fold long Chinese text instead of cutting it off."""
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold", no_wrap=header in UNBROKEN)
    return table


# Columns of ids, dates and states stay on one line; names and reasons fold.
UNBROKEN = {"编号", "申请", "争议编号", "提交时间", "答复期限", "办理期限", "生效日期", "时间", "限流", "状态"}


def _text(value) -> str:
    from rich.markup import escape

    return escape(str(value)) if value not in (None, "") else ""


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


def _scope_text(scope: dict) -> str:
    if not scope:
        return "全部数据"
    return f"{scope['item']} 以 {'、'.join(scope['prefixes'])} 开头的数据"


def _items_text(items: list[dict]) -> str:
    return "、".join(f"{i['chinese_name']}（{i['name']}，{i['id']}）" for i in items)


def _deadline(view: dict, key: str = "reply_due") -> str:
    if not view.get(key):
        return ""
    text = str(view[key])
    if view.get("deadline_warning"):
        text += "*"
    if view.get("overdue"):
        text = f"[red]{text}（已逾期）[/red]"
    return text


def _print_warnings(views: list[dict]) -> None:

    if any(v.get("deadline_warning") for v in views):
        warning = next(v["deadline_warning"] for v in views if v.get("deadline_warning"))
        console.print(f"[yellow]* {warning}[/yellow]")


def _today(session) -> date:
    from govshare.workdays.service import local_today

    return local_today(session)


def _request_view(session, request) -> dict:
    from govshare.sharing import views

    return views.request_out(session, request, _today(session))


def _print_request(view: dict) -> None:
    """The state of a request, its terms and deadline (with the estimate warning)."""

    console.print(f"[bold]共享申请 {view['id']}：{_text(view['entry_name'])}[/bold]（{view['resource_code']}）"
                  f"  状态：{view['status_label']}")
    console.print(f"需求部门：{view['requester_name']}    提供部门：{view['provider_name']}")
    if view["consumer_system_name"]:
        console.print(f"应用系统：{_text(view['consumer_system_name'])}（{view['consumer_system_id']}）")
    console.print(f"共享目的：{_text(view['purpose'])}")
    console.print(f"使用场景：{_text(view['scenario'])}")
    if view["duty_basis"]:
        console.print(f"履职依据：{_text(view['duty_basis'])}")
    console.print(f"信息项：{_text(_items_text(view['items']))}")
    console.print(f"数据范围：{_text(_scope_text(view['row_scope']))}"
                  + ("    [bold]仅核验[/bold]" if view["verify_only"] else ""))
    console.print(f"使用期限：{view['period_start']} 至 {view['period_end']}")
    if view["submitted_at"]:
        console.print(f"提交时间：{_when(view['submitted_at'])}")
    if view["reply_due"]:
        console.print(f"答复期限：{_deadline(view)}")
    if view["deadline_warning"]:
        console.print(f"[yellow]{view['deadline_warning']}[/yellow]")
    if view["decision"]:
        from govshare.sharing.vocab import Decision

        console.print(f"答复：{Decision(view['decision']).label}" + (f"，理由：{_text(view['decision_reason'])}"
                                                                   if view["decision_reason"] else ""))
    if view["grant_id"]:
        console.print(f"共享授权：{view['grant_id']}")
    if view["renews_id"]:
        console.print(f"续期自申请：{view['renews_id']}")


def _step_table(steps: list[dict], title: str):
    from govshare.sharing.vocab import Decision, DisputeStatus

    table = _table("争议编号", "申请", "层级", "办理部门", "状态", "办理期限", "理由", "决定", title=title)
    for s in steps:
        due = str(s["due"]) + ("*" if s["deadline_warning"] else "")
        if s["overdue"]:
            due = f"[red]{due}（已逾期）[/red]"
        decision = ""
        if s["decision"]:
            decision = Decision(s["decision"]).label + (f"：{_text(s['decision_reason'])}" if s["decision_reason"]
                                                        else "")
        table.add_row(str(s["id"]), str(s["request_id"]), s["level_label"], s["handler_name"],
                      DisputeStatus(s["status"]).label, due, _text(s["reason"]), decision)
    return table


def _print_step(step: dict) -> None:

    console.print(_step_table([step], "争议处理"))
    _print_warnings([step])


def _print_grant(view: dict) -> None:
    from govshare.sharing.vocab import GrantEndReason

    console.print(f"[bold]共享授权 {view['id']}：{_text(view['entry_name'])}[/bold]（{view['resource_code']}）"
                  f"  状态：{view['status_label']}")
    console.print(f"共享申请：{view['request_id']}    应用系统：{_text(view['consumer_system_name'] or '未指定')}")
    console.print(f"信息项：{_text(_items_text(view['items']))}")
    console.print(f"数据范围：{_text(_scope_text(view['row_scope']))}"
                  + ("    [bold]仅核验[/bold]" if view["verify_only"] else ""))
    console.print(f"使用期限：{view['period_start']} 至 {view['period_end']}    限流：{view['rate_limit']} 次/秒")
    if view["end_reason"]:
        console.print(f"终止：{GrantEndReason(view['end_reason']).label}（{_when(view['ended_at'])}）")
        if view["deletion_confirmed_at"]:
            console.print(f"需求部门已确认删除数据（{_when(view['deletion_confirmed_at'])}）")
        else:
            console.print("[yellow]需求部门尚未确认删除已获取的数据[/yellow]")


def _print_change(view: dict) -> None:
    from govshare.sharing.vocab import ServiceChangeKind

    console.print(f"[bold]共享服务变更 {view['id']}：{_text(view['entry_name'])}[/bold]  "
                  f"{ServiceChangeKind(view['kind']).label}  状态：{view['status_label']}")
    console.print(f"说明：{_text(view['description'])}    生效日期：{view['effective_date']}")
    if view["decision_reason"]:
        console.print(f"审批意见：{_text(view['decision_reason'])}")
    if view["notified_grant_ids"]:
        console.print(f"已告知受影响的授权：{', '.join(map(str, view['notified_grant_ids']))}")


def _act_on_request(username: str | None, action: Callable) -> None:
    """Runs `action(session, actor) -> ShareRequest` in one unit of work and prints the request."""
    with _work(username) as (session, actor):
        request = action(session, actor)
        _print_request(_request_view(session, request))


# ---------------------------------------------------------------- requests


@request_app.command("list")
def request_list(
    box: str = typer.Option(None, "--box", help="outgoing（本部门提出）或 incoming（向本部门提出）"),
    status: str = typer.Option(None, "--status", help="状态，如 submitted 或 待答复"),
    overdue: bool = typer.Option(False, "--overdue", help="只看逾期未答复的申请"),
    limit: int = typer.Option(100, "--limit", min=1, max=500),
    user: str = USER,
) -> None:
    """列出可查看的共享申请。"""
    from govshare.errors import ValidationFailed
    from govshare.sharing import service
    from govshare.sharing.vocab import RequestStatus

    with _work(user) as (session, actor):
        if box not in (None, "outgoing", "incoming"):
            raise ValidationFailed(f"范围取值无效：{box}；可选：outgoing、incoming", field="box")
        code = None
        if status:
            member = RequestStatus.parse(status)
            if member is None:
                allowed = "、".join(f"{m.value}（{m.label}）" for m in RequestStatus)
                raise ValidationFailed(f"状态取值无效：{status}；可选：{allowed}", field="status")
            code = member.value
        found = service.list_requests(session, actor, box=box, status=code, overdue=True if overdue else None,
                                      limit=limit)
        views = [_request_view(session, r) for r in found]
        table = _table("编号", "目录", "需求部门", "提供部门", "状态", "提交时间", "答复期限", title="共享申请")
        for v in views:
            table.add_row(str(v["id"]), _text(v["entry_name"]), v["requester_name"], v["provider_name"],
                          v["status_label"] + ("（仅核验）" if v["verify_only"] else ""),
                          f"{v['submitted_at']:%Y-%m-%d}" if v["submitted_at"] else "",
                          _deadline(v) if v["status"] == RequestStatus.SUBMITTED else "")
        console.print(table)
        _print_warnings([v for v in views if v["status"] == RequestStatus.SUBMITTED])
        console.print(f"共 {len(views)} 条")


@request_app.command("show")
def request_show(request_id: int, user: str = USER) -> None:
    """查看共享申请：条款、答复期限、全部办理记录和争议处理步骤。"""
    from govshare.sharing import disputes, service, views
    from govshare.sharing.vocab import RequestStatus

    with _work(user) as (session, actor):
        request = service.get_request(session, actor, request_id)
        _print_request(_request_view(session, request))
        table = _table("时间", "操作", "状态变化", "操作人", "理由", title="办理记录")
        for event in service.history(session, actor, request_id):
            e = views.event_out(event)
            change = ""
            if e["from_status"]:
                change = f"{RequestStatus(e['from_status']).label} → {RequestStatus(e['to_status']).label}"
            elif e["action"] in ("created", "renewal_created"):
                change = RequestStatus(e["to_status"]).label
            table.add_row(_when(e["created_at"]), ACTION_LABELS.get(e["action"], e["action"]), change, e["actor"],
                          _text(e["reason"]))
        console.print(table)
        today = _today(session)
        steps = [views.step_out(s, today) for s in disputes.steps(session, actor, request_id)]
        if steps:
            console.print(_step_table(steps, "争议处理"))
            _print_warnings(steps)


ACTION_LABELS = {
    "created": "创建草稿", "renewal_created": "创建续期申请", "submitted": "提交",
    "auto_approved": "无条件共享自动同意", "replied": "答复", "withdrawn": "撤回", "escalated": "提起争议",
    "dispute_decided": "争议决定",
    "dispute_withdrawn": "撤回争议", "dispute_overdue": "争议逾期未决", "dispute_referred": "报上级节点处理",
    "overdue": "逾期未答复",
    "grant_period_ended": "授权期限届满", "grant_revoked": "授权被撤销", "grant_purpose_achieved": "共享目的已实现",
    "grant_service_stopped": "共享服务停止", "deletion_confirmed": "确认删除数据",
}


@request_app.command("create")
def request_create(
    entry_id: int = typer.Argument(..., help="已发布目录的编号"),
    purpose: str = typer.Option(..., "--purpose", help="共享目的"),
    scenario: str = typer.Option(..., "--scenario", help="使用场景"),
    duty_basis: str = typer.Option("", "--duty-basis", help="履职依据（有条件共享必填）"),
    items: str = typer.Option(..., "--items", help="所需信息项：编号或字段名，逗号分隔，如 1,2 或 gmsfhm,xm"),
    scope_item: str = typer.Option(None, "--scope-item", help="限定数据范围的信息项（字段名），如 gmsfhm"),
    scope_prefix: list[str] = typer.Option(None, "--scope-prefix", help="允许的取值或前缀，可多次指定，如 3401"),
    period_start: str = typer.Option(None, "--period-start", help="使用期限开始 YYYY-MM-DD（默认今天）"),
    period_end: str = typer.Option(..., "--period-end", help="使用期限结束 YYYY-MM-DD"),
    system_id: int = typer.Option(None, "--system", help="调用数据的应用系统编号（接口方式必填）"),
    verify_only: bool = typer.Option(False, "--verify-only", help="仅核验（返回一致/不一致，不取原始数据）"),
    submit: bool = typer.Option(False, "--submit", help="创建后立即提交"),
    user: str = USER,
) -> None:
    """提出共享申请（默认保存为草稿；--submit 立即提交，无条件共享目录随即获得授权）。"""
    from govshare.sharing import service
    from govshare.sharing.schemas import RequestIn

    def action(session, actor):
        data = _model(RequestIn, entry_id=entry_id, purpose=purpose, scenario=scenario, duty_basis=duty_basis,
                      item_ids=_item_ids(session, entry_id, items), row_scope=_scope(scope_item, scope_prefix),
                      verify_only=verify_only, period_start=_date(period_start, "period_start"),
                      period_end=_date(period_end, "period_end"), consumer_system_id=system_id)
        return service.create_request(session, actor, data, submit=submit)

    _act_on_request(user, action)


@request_app.command("submit")
def request_submit(request_id: int, user: str = USER) -> None:
    """提交草稿；有条件共享等待提供部门答复，无条件共享直接获得授权。"""
    from govshare.sharing import service

    _act_on_request(user, lambda session, actor: service.submit_request(session, actor, request_id))


@request_app.command("withdraw")
def request_withdraw(request_id: int, reason: str = typer.Option(..., "--reason", help="撤回理由（必填）"),
                     user: str = USER) -> None:
    """撤回草稿、待答复的申请或争议（须说明理由）。"""
    from govshare.sharing import service

    _act_on_request(user, lambda session, actor: service.withdraw_request(session, actor, request_id, reason))


def _reply_in(session, request_id: int, decision: str, reason: str, items: str | None, scope_item: str | None,
              scope_prefix: list[str] | None, period_end: str | None, rate_limit: int | None):
    from govshare.sharing.models import ShareRequest
    from govshare.sharing.schemas import ReplyIn

    request = session.get(ShareRequest, request_id)
    item_ids = _item_ids(session, request.entry_id, items) if request is not None else None
    return _model(ReplyIn, decision=decision, reason=reason, item_ids=item_ids,
                  row_scope=_scope(scope_item, scope_prefix), period_end=_date(period_end, "period_end"),
                  rate_limit=rate_limit)


DECISION = typer.Option(..., "--decision", help="approve（同意）、approve_in_part（部分同意）或 refuse（不予同意）")
REPLY_ITEMS = typer.Option(None, "--items", help="部分同意时提供的信息项（编号或字段名，逗号分隔）")
REPLY_SCOPE_ITEM = typer.Option(None, "--scope-item", help="部分同意时缩小的数据范围字段")
REPLY_SCOPE_PREFIX = typer.Option(None, "--scope-prefix", help="部分同意时缩小的范围前缀，可多次指定")
REPLY_END = typer.Option(None, "--period-end", help="部分同意时缩短的期限 YYYY-MM-DD")
RATE = typer.Option(None, "--rate-limit", min=1, max=10000, help="限流（次/秒，默认节点设置）")


@request_app.command("reply")
def request_reply(
    request_id: int,
    decision: str = DECISION,
    reason: str = REASON,
    items: str = REPLY_ITEMS,
    scope_item: str = REPLY_SCOPE_ITEM,
    scope_prefix: list[str] = REPLY_SCOPE_PREFIX,
    period_end: str = REPLY_END,
    rate_limit: int = RATE,
    user: str = USER,
) -> None:
    """提供部门审核员答复：同意、部分同意（须缩小条款并说明理由）或不予同意（须说明理由）。"""
    from govshare.sharing import service

    def action(session, actor):
        data = _reply_in(session, request_id, decision, reason, items, scope_item, scope_prefix, period_end,
                         rate_limit)
        return service.reply(session, actor, request_id, data)

    _act_on_request(user, action)


@request_app.command("escalate")
def request_escalate(request_id: int, reason: str = typer.Option(..., "--reason", help="提起争议的理由"),
                     user: str = USER) -> None:
    """提起争议或上提一级（R08）：双方协商 → 本级主管部门协调 → 上级主管部门裁决。"""
    from govshare.sharing import disputes, views

    with _work(user) as (session, actor):
        step = disputes.escalate(session, actor, request_id, reason)
        _print_step(views.step_out(step, _today(session)))


@request_app.command("renew")
def request_renew(
    request_id: int,
    period_end: str = typer.Option(..., "--period-end", help="新的使用期限结束 YYYY-MM-DD"),
    period_start: str = typer.Option(None, "--period-start", help="新的使用期限开始（默认今天）"),
    user: str = USER,
) -> None:
    """按原条款提出续期申请（须重新答复，到期授权不会原地延长）。"""
    from govshare.sharing import service

    _act_on_request(user, lambda session, actor: service.renew_request(
        session, actor, request_id, _date(period_end, "period_end"), _date(period_start, "period_start")))


@request_app.command("disputes")
def request_disputes(user: str = USER) -> None:
    """本部门待办理的争议步骤。"""
    from govshare.sharing import disputes, views

    with _work(user) as (session, actor):
        today = _today(session)
        steps = [views.step_out(s, today) for s in disputes.list_open_steps(session, actor)]
        console.print(_step_table(steps, "待办理的争议"))
        _print_warnings(steps)


@request_app.command("decide-dispute")
def request_decide_dispute(
    step_id: int,
    decision: str = DECISION,
    reason: str = typer.Option(..., "--reason", help="决定理由"),
    items: str = REPLY_ITEMS,
    scope_item: str = REPLY_SCOPE_ITEM,
    scope_prefix: list[str] = REPLY_SCOPE_PREFIX,
    period_end: str = REPLY_END,
    rate_limit: int = RATE,
    user: str = USER,
) -> None:
    """争议办理部门作出决定；决定约束申请及其授权。"""
    from govshare.sharing import disputes, views
    from govshare.sharing.models import DisputeStep

    with _work(user) as (session, actor):
        step = session.get(DisputeStep, step_id)
        request_id = step.request_id if step is not None else 0
        data = _reply_in(session, request_id, decision, reason, items, scope_item, scope_prefix, period_end,
                         rate_limit)
        step = disputes.decide(session, actor, step_id, data)
        _print_step(views.step_out(step, _today(session)))


# ---------------------------------------------------------------- grants


@grant_app.command("list")
def grant_list(
    status: str = typer.Option(None, "--status", help="active（有效）、suspended（已暂停）或 ended（已终止）"),
    box: str = typer.Option(None, "--box", help="outgoing（本部门获得）或 incoming（本部门提供）"),
    user: str = USER,
) -> None:
    """列出可查看的共享授权。"""
    from govshare.errors import ValidationFailed
    from govshare.sharing import service, views
    from govshare.sharing.vocab import GrantEndReason, GrantStatus

    with _work(user) as (session, actor):
        code = None
        if status:
            member = GrantStatus.parse(status)
            if member is None:
                raise ValidationFailed(f"授权状态取值无效：{status}", field="status")
            code = member.value
        if box not in (None, "outgoing", "incoming"):
            raise ValidationFailed(f"范围取值无效：{box}；可选：outgoing、incoming", field="box")
        table = _table("编号", "申请", "目录", "应用系统", "信息项", "使用期限", "限流", "状态", title="共享授权")
        grants = [views.grant_out(session, g) for g in service.list_grants(session, actor, status=code, box=box)]
        for g in grants:
            state = g["status_label"]
            if g["end_reason"]:
                state += f"（{GrantEndReason(g['end_reason']).label}）"
            table.add_row(str(g["id"]), str(g["request_id"]), _text(g["entry_name"]),
                          _text(g["consumer_system_name"] or ""), str(len(g["items"])) + ("（仅核验）" if
                                                                                         g["verify_only"] else ""),
                          f"{g['period_start']} 至 {g['period_end']}", str(g["rate_limit"]), state)
        console.print(table)
        console.print(f"共 {len(grants)} 条")


@grant_app.command("show")
def grant_show(grant_id: int, user: str = USER) -> None:
    """查看共享授权的条款和状态。"""
    from govshare.sharing import service, views

    with _work(user) as (session, actor):
        _print_grant(views.grant_out(session, service.get_grant(session, actor, grant_id)))


def _act_on_grant(username: str | None, action: Callable) -> None:
    from govshare.sharing import views

    with _work(username) as (session, actor):
        _print_grant(views.grant_out(session, action(session, actor)))


@grant_app.command("revoke")
def grant_revoke(grant_id: int, reason: str = typer.Option(..., "--reason", help="撤销理由"),
                 user: str = USER) -> None:
    """撤销授权（提供部门审核员或主管部门），立即生效；需求部门须确认删除数据。"""
    from govshare.sharing import service

    _act_on_grant(user, lambda session, actor: service.revoke_grant(session, actor, grant_id, reason))


@grant_app.command("reinstate")
def grant_reinstate(grant_id: int, reason: str = typer.Option(..., "--reason", help="复核结论"),
                    user: str = USER) -> None:
    """恢复因多次越权访问而暂停的授权（提供部门审核员复核后，R09）。"""
    from govshare.sharing import service

    _act_on_grant(user, lambda session, actor: service.reinstate_grant(session, actor, grant_id, reason))


@grant_app.command("purpose-achieved")
def grant_purpose_achieved(grant_id: int, note: str = typer.Option(..., "--reason", "--note", help="实现情况（必填）"),
                           user: str = USER) -> None:
    """需求部门声明共享目的已实现，授权终止（R10；须说明实现情况）。"""
    from govshare.sharing import service

    _act_on_grant(user, lambda session, actor: service.declare_purpose_achieved(session, actor, grant_id, note))


@grant_app.command("confirm-deletion")
def grant_confirm_deletion(grant_id: int, note: str = typer.Option("", "--note", help="删除情况说明"),
                           user: str = USER) -> None:
    """需求部门确认已删除终止授权下获取的数据（R10）。"""
    from govshare.sharing import service

    _act_on_grant(user, lambda session, actor: service.confirm_deletion(session, actor, grant_id, note))


# ---------------------------------------------------------------- consumer systems


def _print_secret(system, secret: str) -> None:

    console.print(f"应用系统 {system.id}：{_text(system.name)}（{system.department.name}）")
    console.print(f"客户端编号（client id）：{system.client_id}")
    console.print(f"客户端密钥（client secret）：[bold]{secret}[/bold]")
    console.print(f"[yellow]{SECRET_WARNING}[/yellow]")


@system_app.command("register")
def system_register(name: str, description: str = typer.Option("", "--description", help="用途说明"),
                    user: str = USER) -> None:
    """登记本部门的应用系统，显示一次客户端编号和密钥。"""
    from govshare.orgs import systems

    with _work(user) as (session, actor):
        system, secret = systems.register_system(session, actor, name, description)
        session.flush()
        session.refresh(system)
        _print_secret(system, secret)


@system_app.command("list")
def system_list(user: str = USER) -> None:
    """列出可查看的应用系统（不含密钥）。"""
    from govshare.orgs import systems

    with _work(user) as (session, actor):
        table = _table("编号", "名称", "部门", "客户端编号", "密钥更换时间", "状态", title="应用系统")
        for s in systems.list_systems(session, actor):
            state = f"[red]已吊销（{_when(s.revoked_at)}）[/red]" if s.revoked_at else "有效"
            table.add_row(str(s.id), _text(s.name), s.department.name, s.client_id, _when(s.secret_rotated_at), state)
        console.print(table)


@system_app.command("rotate")
def system_rotate(system_id: int, user: str = USER) -> None:
    """更换密钥：旧密钥立即失效，新密钥只显示这一次。"""
    from govshare.orgs import systems

    with _work(user) as (session, actor):
        system, secret = systems.rotate_secret(session, actor, system_id)
        _print_secret(system, secret)


@system_app.command("revoke")
def system_revoke(system_id: int, user: str = USER) -> None:
    """吊销应用系统：凭据立即失效，其授权不能再使用。"""
    from govshare.orgs import systems

    with _work(user) as (session, actor):
        system = systems.revoke_system(session, actor, system_id)
        console.print(f"已吊销应用系统 {system.id}：{_text(system.name)}（客户端编号 {system.client_id}）")


# ---------------------------------------------------------------- service changes


@change_app.command("propose")
def change_propose(
    entry_id: int,
    kind: str = typer.Option(..., "--kind", help="stop（停止共享服务）或 change（变更共享服务）"),
    description: str = typer.Option(..., "--description", help="停止或变更的内容和原因"),
    effective_date: str = typer.Option(..., "--effective-date", help="生效日期 YYYY-MM-DD（须留出告知期）"),
    user: str = USER,
) -> None:
    """提供部门申请停止或变更共享服务，报主管部门审批（R11）。"""
    from govshare.sharing import changes, views
    from govshare.sharing.schemas import ServiceChangeIn

    with _work(user) as (session, actor):
        data = _model(ServiceChangeIn, entry_id=entry_id, kind=kind, description=description,
                      effective_date=_date(effective_date, "effective_date"))
        change = changes.propose(session, actor, data.entry_id, data.kind, data.description, data.effective_date)
        _print_change(views.change_out(change))


@change_app.command("decide")
def change_decide(
    change_id: int,
    approve: bool = typer.Option(..., "--approve/--reject", help="批准或不予批准"),
    reason: str = REASON,
    user: str = USER,
) -> None:
    """主管部门审批共享服务变更；批准后立即告知受影响授权的需求部门。"""
    from govshare.sharing import changes, views

    with _work(user) as (session, actor):
        _print_change(views.change_out(changes.decide(session, actor, change_id, approve, reason)))


@change_app.command("list")
def change_list(status: str = typer.Option(None, "--status", help="submitted、approved、rejected 或 effective"),
                user: str = USER) -> None:
    """列出可查看的共享服务变更。"""
    from govshare.sharing import changes, views
    from govshare.sharing.vocab import ServiceChangeKind, ServiceChangeStatus

    with _work(user) as (session, actor):
        code = None
        if status:
            member = ServiceChangeStatus.parse(status)
            if member is None:
                from govshare.errors import ValidationFailed

                raise ValidationFailed(f"变更状态取值无效：{status}", field="status")
            code = member.value
        table = _table("编号", "目录", "类型", "生效日期", "状态", "说明", title="共享服务变更")
        for c in [views.change_out(c) for c in changes.list_changes(session, actor, code)]:
            table.add_row(str(c["id"]), _text(c["entry_name"]), ServiceChangeKind(c["kind"]).label,
                          str(c["effective_date"]), c["status_label"], _text(c["description"]))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Adds this domain's commands to `govshare`."""
    app.add_typer(request_app, name="request")
    app.add_typer(grant_app, name="grant")
    app.add_typer(system_app, name="system")
    app.add_typer(change_app, name="service-change")
