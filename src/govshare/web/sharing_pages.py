"""Chinese pages of one-stop sharing: requests, replies, disputes, grants, systems, demands, notifications,
and the working-day calendar. Thin handlers: every rule is in the services (sharing.service, .disputes,
orgs.systems, demands.service, notify.service, workdays.service); the pages only read forms and show results."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from govshare.authz import Actor, require_authority_over
from govshare.catalog import service as catalog
from govshare.catalog.vocab import EntryStatus, ShareType
from govshare.demands import service as demands
from govshare.demands.vocab import DemandStatus
from govshare.deps import SESSION
from govshare.errors import (
    DomainError,
    Forbidden,
    InvalidFields,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
    found,
    raise_invalid,
)
from govshare.fields import IdPath, id_from, is_digits
from govshare.gateway.masking import parse_rule
from govshare.gateway.models import DataSource, GrantUsageDay
from govshare.notify import service as notify
from govshare.orgs import service as orgs
from govshare.orgs import systems
from govshare.orgs.models import Role, User
from govshare.sharing import changes, disputes, service, views
from govshare.sharing.models import Grant, ServiceChange
from govshare.sharing.schemas import ReplyIn, RequestIn, RowScope
from govshare.sharing.vocab import (
    Decision,
    DisputeLevel,
    DisputeStatus,
    GrantEndReason,
    GrantStatus,
    RequestStatus,
    ServiceChangeKind,
    ServiceChangeStatus,
)
from govshare.validation import rule_of
from govshare.web.errors import field_errors_of
from govshare.web.pages import (
    PageRoute,
    _fail,
    _login_redirect,
    error_page,
    page_actor,
    render,
    templates,
)
from govshare.workdays import service as workdays

router = APIRouter(include_in_schema=False, route_class=PageRoute)

S = RequestStatus

REQUEST_TITLES = {
    "entry_id": "申请目录", "purpose": "共享目的", "scenario": "使用场景", "duty_basis": "履职依据",
    "item_ids": "所需信息项", "row_scope": "数据范围", "row_scope.item": "范围字段", "scope_prefixes": "范围取值",
    "share_method": "共享方式", "verify_only": "仅核验", "period_start": "使用期限开始", "period_end": "使用期限结束",
    "consumer_system_id": "应用系统", "decision": "答复结果", "reason": "理由", "rate_limit": "调用频率上限",
    "requester": "申请部门",
}
ACTION_LABELS = {
    "created": "创建申请草稿", "renewal_created": "续期申请", "submitted": "提交申请",
    "auto_approved": "无条件共享，直接同意",
    "replied": "提供部门答复", "withdrawn": "撤回申请", "escalated": "提起争议", "dispute_decided": "争议决定",
    "dispute_withdrawn": "撤回争议", "overdue": "逾期未答复", "dispute_overdue": "争议逾期未决",
    "dispute_referred": "报上级节点处理",
    "deletion_confirmed": "确认已删除数据",
    **{f"grant_{r.value}": f"授权终止（{r.label}）" for r in GrantEndReason},
}
STATUS_LABELS = S.labels()
NOTICES = {
    "created": "申请草稿已保存，确认无误后请提交。",
    "submitted": "申请已提交，等待提供部门答复。",
    "granted": "无条件共享目录：申请已直接同意，授权已生效。",
    "withdrawn": "申请已撤回。",
    "renewed": "续期申请已提交，需要提供部门重新答复。",
    "escalated": "争议已提起，等待办理部门处理。",
    "referred": "争议已提起：本节点除争议双方外没有可受理的主管部门，该环节已报上级节点处理。",
    "replied": "答复已保存，已通知需求部门。",
    "decided": "争议决定已保存，已通知双方。",
    "revoked": "授权已撤销，已通知需求部门删除数据。",
    "reinstated": "授权已恢复，需求部门可以继续使用。",
    "purpose_achieved": "授权已终止（共享目的已实现），请删除已获取的数据并确认删除。",
    "deletion_confirmed": "已确认删除数据。",
    "system_revoked": "应用系统已吊销，其凭据和授权立即失效。",
    "posted": "需求已提交。",
    "routed": "需求已转交提供部门。",
    "answered": "答复已保存。",
    "linked": "已关联目录，需求已满足。",
    "accepted": "已确认该目录满足需求，可通过共享申请使用。",
    "demand_withdrawn": "需求已撤回。",
    "read": "已标记为已读。",
    "read_all": "全部通知已标记为已读。",
    "day_set": "日期已保存。",
    "change_approved": "已批准共享服务变更，已告知受影响授权的需求部门。",
    "change_rejected": "已不予批准共享服务变更，已告知提供部门。",
    "change_proposed": "共享服务变更已提交，等待主管部门审批；批准后将告知受影响授权的需求部门。",
}


def _notice(key: str) -> str | None:
    return NOTICES.get(key)




# ---------------------------------------------------------------- form helpers


async def form_data(request: Request) -> FormData:
    """The posted form with repeated names (checkboxes) kept."""
    return await request.form()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _ints(form: FormData, name: str) -> list[int]:
    return [number for v in form.getlist(name) if isinstance(v, str) and (number := id_from(v)) is not None]


def _date(value: str, field: str, title: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{title}的日期格式应为 年-月-日（如 2026-12-31）", field=field) from None


def _int(value: str, field: str, title: str) -> int | None:
    if not value:
        return None
    if not is_digits(value) or len(value) > 9:
        raise ValidationFailed(f"{title}应为不超过 9 位的整数", field=field)
    return int(value)


def _prefixes(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,，、;；]+", text) if p]


def _scope(typed: dict) -> RowScope | None:
    if not typed["scope_item"]:
        if typed["scope_prefixes"]:
            raise ValidationFailed("填写范围取值时须选择范围字段", field="row_scope.item")
        return None
    prefixes = _prefixes(typed["scope_prefixes"])
    if not prefixes:
        raise ValidationFailed("按字段限定范围时须填写至少一个取值（如行政区划代码 340104）", field="scope_prefixes")
    return RowScope(item=typed["scope_item"], prefixes=prefixes)


def _pydantic_failure(problem: dict) -> ValidationFailed:
    """One of pydantic's errors as the form shows it: the field's Chinese title and the rule."""
    loc = [str(p) for p in problem.get("loc", ())]
    field = ".".join(loc[:2]) if loc[:1] == ["row_scope"] else (loc[0] if loc else "form")
    return ValidationFailed(f"{REQUEST_TITLES.get(field, field)}{rule_of(problem)}", field=field)


def _refused(exc: DomainError, *chosen: str) -> bool:
    """Errors shown as a whole page (not next to a field): refusals and things that do not exist. A NotFound
    of a value chosen in the form (`chosen` fields, e.g. a department picked in a select) is shown at the field."""
    if isinstance(exc, NotFound) and exc.field in chosen:
        return False
    return isinstance(exc, Forbidden | NotFound | NotAuthenticated)


def _field_errors(exc: DomainError | None) -> dict[str, str]:
    if exc is None:
        return {}
    return {_form_field(field): message for field, message in field_errors_of(exc).items()}


# ---------------------------------------------------------------- 共享申请: list


BOXES = ("outgoing", "incoming", "all")


def default_box(actor: Actor) -> str:
    """The tab a list opens on: what the role works on — replies and provided grants for the provider's
    roles, everything of the area for those who oversee, the own department's requests otherwise."""
    if actor.has(*service.PROVIDER_ROLES):
        return "incoming"
    if actor.has(Role.AUTHORITY_REVIEWER, Role.PLATFORM_ADMIN, Role.AUDITOR):
        return "all"
    return "outgoing"


@router.get("/sharing/requests", response_class=HTMLResponse)
def request_list(request: Request, box: str = "", status: str = "", notice: str = "",
                 session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/sharing/requests")
    box = box if box in BOXES else default_box(actor)
    status = status if status in STATUS_LABELS else ""
    today = workdays.local_today(session)
    found = service.list_requests(session, actor, box=None if box == "all" else box, status=status or None,
                                  limit=200)
    rows = [views.request_out(session, r, today) for r in found]
    return render(request, session, actor, "sharing_requests.html", rows=rows, box=box, status=status,
                  statuses=STATUS_LABELS, notice=_notice(notice), can_request=actor.has(Role.REQUESTER))


# ---------------------------------------------------------------- 新建申请


def _request_typed(form: FormData | None = None) -> dict:
    if form is None:
        return {"purpose": "", "scenario": "", "duty_basis": "", "item_ids": [],  # minimum necessary: none ticked
                "scope_item": "", "scope_prefixes": "", "period_start": "", "period_end": "",
                "consumer_system_id": "", "verify_only": False}
    return {
        "purpose": _text(form, "purpose"), "scenario": _text(form, "scenario"), "duty_basis": _text(form, "duty_basis"),
        "item_ids": _ints(form, "item_ids"), "scope_item": _text(form, "scope_item"),
        "scope_prefixes": _text(form, "scope_prefixes"), "period_start": _text(form, "period_start"),
        "period_end": _text(form, "period_end"), "consumer_system_id": _text(form, "consumer_system_id"),
        "verify_only": bool(form.get("verify_only")),
    }


def _collect(errors: dict[str, str], parse, *args):
    """parse(*args), or None with its ValidationFailed kept in `errors` under its field."""
    try:
        return parse(*args)
    except ValidationFailed as exc:
        errors.setdefault(_form_field(exc.field), exc.message)
        return None


def _built(errors: dict[str, str], build):
    """build() (a pydantic model), or None with every one of its errors kept in `errors` under its field."""
    try:
        return build()
    except ValidationError as exc:
        for problem in exc.errors():
            failure = _pydantic_failure(problem)
            errors.setdefault(_form_field(failure.field), failure.message)
        return None


def _form_field(field: str | None) -> str:
    return "scope_prefixes" if field in ("row_scope", "row_scope.prefixes") else field or "form"


def _request_in(entry_id: int, typed: dict) -> RequestIn:
    """The form as the API's body; every field the form itself can judge is judged before one error is shown."""
    errors: dict[str, str] = {}
    period_start = _collect(errors, _date, typed["period_start"], "period_start", "使用期限开始")
    period_end = _collect(errors, _date, typed["period_end"], "period_end", "使用期限结束")
    if period_end is None and "period_end" not in errors:
        errors["period_end"] = "请填写使用期限的结束日期"
    system_id = _collect(errors, _int, typed["consumer_system_id"], "consumer_system_id", "应用系统")
    scope = _collect(errors, _scope, typed)
    body = _built(errors, lambda: RequestIn(
        entry_id=entry_id, purpose=typed["purpose"], scenario=typed["scenario"], duty_basis=typed["duty_basis"],
        item_ids=typed["item_ids"], row_scope=scope, verify_only=typed["verify_only"], period_start=period_start,
        period_end=period_end or date.max, consumer_system_id=system_id))
    if errors:
        raise InvalidFields(errors)
    return body


def _requestable_entry(session: Session, actor: Actor, entry_id: int):
    entry = catalog.get_entry(session, actor, entry_id)
    if entry.status != EntryStatus.PUBLISHED:
        raise NotFound(f"只能申请已发布的目录：{entry_id}", field="entry_id")
    return entry


def _new_request_page(request, session, actor, entry, typed, error: DomainError | None = None):
    active_systems = [s for s in systems.list_systems(session, actor) if not s.revoked_at]
    return render(request, session, actor, "sharing_request_new.html",
                  status_code=error.status_code if error else 200, entry=entry, form=typed,
                  field_errors=_field_errors(error), error=error.message if error else None, systems=active_systems,
                  not_shared=entry.share_type == ShareType.NONE, TITLES=REQUEST_TITLES)


@router.get("/sharing/requests/new", response_class=HTMLResponse)
def request_new_form(request: Request, entry_id: str = "", session: Session = SESSION,
                     actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/sharing/requests/new?entry_id={entry_id}")
    try:
        if not actor.has(Role.REQUESTER):
            raise Forbidden("共享申请由需求部门的数据需求人员提出")
        requested = id_from(entry_id)
        if requested is None:
            raise NotFound("请从目录详情页点击“申请共享”选择要申请的目录", field="entry_id")
        entry = _requestable_entry(session, actor, requested)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return _new_request_page(request, session, actor, entry, _request_typed())


@router.post("/sharing/requests/new", response_class=HTMLResponse)
def request_new_submit(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                       actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/sharing/requests (sharing.service.create_request)."""
    entry_id = _text(form, "entry_id")
    if actor is None:
        return _login_redirect(f"/sharing/requests/new?entry_id={entry_id}")
    try:
        if id_from(entry_id) is None:
            raise NotFound("申请的目录不存在", field="entry_id")
        entry = _requestable_entry(session, actor, int(entry_id))
    except DomainError as exc:
        _fail(session)
        return error_page(request, session, actor, exc)
    typed = _request_typed(form)
    if _text(form, "action") == "refresh":  # a system was registered in another window: the form as typed
        return _new_request_page(request, session, actor, entry, typed)
    submit = _text(form, "action") != "draft"
    try:
        created = service.create_request(session, actor, _request_in(entry.id, typed), submit=submit)
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        entry = _requestable_entry(session, actor, int(entry_id))
        return _new_request_page(request, session, actor, entry, typed, exc)
    session.commit()
    done = "created" if not submit else "granted" if created.status in (S.APPROVED, S.PARTLY_APPROVED) else "submitted"
    return RedirectResponse(f"/sharing/requests/{created.id}?notice={done}", status_code=303)


# ---------------------------------------------------------------- 申请详情


def _reply_typed(form: FormData | None = None, r: dict | None = None) -> dict:
    if form is None:
        return {"decision": "", "item_ids": [i["id"] for i in r["items"]], "scope_item": "", "scope_prefixes": "",
                "period_end": r["period_end"].isoformat(), "rate_limit": "", "reason": ""}
    return {"decision": _text(form, "decision"), "item_ids": _ints(form, "item_ids"),
            "scope_item": _text(form, "scope_item"), "scope_prefixes": _text(form, "scope_prefixes"),
            "period_end": _text(form, "period_end"), "rate_limit": _text(form, "rate_limit"),
            "reason": _text(form, "reason")}


def _reply_in(typed: dict) -> ReplyIn:
    errors: dict[str, str] = {}
    decision = Decision.parse(typed["decision"])
    if decision is None:
        errors["decision"] = "请选择答复结果：同意、部分同意或不予同意"
    rate = _collect(errors, _int, typed["rate_limit"], "rate_limit", "调用频率上限")
    scope = _collect(errors, _scope, typed)
    period_end = _collect(errors, _date, typed["period_end"], "period_end", "使用期限结束")
    body = _built(errors, lambda: ReplyIn(decision=decision or Decision.APPROVE, reason=typed["reason"],
                                          item_ids=typed["item_ids"] or None, row_scope=scope, period_end=period_end,
                                          rate_limit=rate))
    if errors:
        raise InvalidFields(errors)
    return body


def _detail_page(request, session, actor, request_id: int, *, notice=None, error: DomainError | None = None,
                 form_name: str = "", typed: dict | None = None):
    """The request with its terms, history and dispute steps, and the forms the actor may use. `form_name`
    names the form an error belongs to (its field errors and typed values are shown there)."""
    try:
        found = service.get_request(session, actor, request_id)
        events = [views.event_out(e) for e in service.history(session, actor, request_id)]
        today = workdays.local_today(session)
        steps = [views.step_out(s, today) for s in disputes.steps(session, actor, request_id)]
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    r = views.request_out(session, found, today)
    grant = service.grant_of(session, found.id)
    own = actor.has(Role.REQUESTER) and actor.department_id == found.requester_id
    status = S(found.status)
    open_step = next((s for s in steps if s["status"] == DisputeStatus.OPEN), None)
    decider = None
    if open_step is not None and actor.department_id == open_step["handler_id"]:
        negotiation = open_step["level"] == DisputeLevel.NEGOTIATION
        role = Role.DEPT_REVIEWER if negotiation else Role.AUTHORITY_REVIEWER
        party = actor.department_id in disputes.parties(found)  # never settles its own dispute
        decider = open_step if actor.has(role) and (negotiation or not party) else None
    can = {
        "submit": own and status == S.DRAFT,
        "withdraw": own and status in (S.DRAFT, S.SUBMITTED, S.ESCALATED),
        "renew": own and status in (S.EXPIRED, S.APPROVED, S.PARTLY_APPROVED),
        "escalate": own and (status in disputes.ESCALATABLE or r["overdue"]
                             or (status == S.ESCALATED and open_step is not None and open_step["overdue"])),
        "reply": actor.has(Role.DEPT_REVIEWER) and actor.department_id == found.provider_id and status == S.SUBMITTED,
    }
    field_errors = _field_errors(error)
    forms = {name: {} for name in ("reply", "decide", "withdraw", "renew", "escalate")}
    if form_name:
        forms[form_name] = typed or {}
    reply_form = forms["reply"] or _reply_typed(r=r)
    decide_form = forms["decide"] or _reply_typed(r=r)
    return render(request, session, actor, "sharing_request_detail.html",
                  status_code=error.status_code if error else 200, r=r, events=events, steps=steps,
                  grant=views.grant_out(session, grant) if grant else None, entry=found.entry, can=can, decider=decider,
                  item_titles={item.name: item.chinese_name for item in found.entry.items},
                  grant_box="incoming" if grant and grant.provider_id == actor.department_id else
                  "outgoing" if grant and grant.requester_id == actor.department_id else "all",
                  form_name=form_name, field_errors=field_errors, forms=forms, reply_form=reply_form,
                  decide_form=decide_form, error=error.message if error and not form_name else None, notice=notice,
                  form_error=error.message if error and form_name else None, ACTIONS=ACTION_LABELS,
                  STATUSES=STATUS_LABELS, DECISIONS=Decision.labels(), TITLES=REQUEST_TITLES,
                  DISPUTE_STATUSES=DisputeStatus.labels())


@router.get("/sharing/requests/{request_id}", response_class=HTMLResponse)
def request_detail(request: Request, request_id: IdPath, notice: str = "", session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/sharing/requests/{request_id}")
    return _detail_page(request, session, actor, request_id, notice=_notice(notice))


def _request_action(request, session, actor, request_id: int, action, done, *, form_name: str = "",
                    typed: dict | None = None, target: str | None = None):
    """Runs a service call for a request's form: commit and redirect with a notice (`done`, or `done(result)`),
    or roll back and show the page again with the error next to the form (a refusal or an unknown request is
    an error page)."""
    if actor is None:
        return _login_redirect(f"/sharing/requests/{request_id}")
    try:
        result = action()
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _detail_page(request, session, actor, request_id, error=exc, form_name=form_name, typed=typed)
    notice = done(result) if callable(done) else done
    session.commit()
    where = target(result) if callable(target) else request_id
    return RedirectResponse(f"/sharing/requests/{where}?notice={notice}", status_code=303)


@router.post("/sharing/requests/{request_id}/submit")
def request_submit(request: Request, request_id: IdPath, session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/sharing/requests/{request_id}")
    try:
        submitted = service.submit_request(session, actor, request_id)
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _detail_page(request, session, actor, request_id, error=exc)
    done = "granted" if submitted.status in (S.APPROVED, S.PARTLY_APPROVED) else "submitted"
    session.commit()
    return RedirectResponse(f"/sharing/requests/{request_id}?notice={done}", status_code=303)


@router.post("/sharing/requests/{request_id}/withdraw")
def request_withdraw(request: Request, request_id: IdPath, form: FormData = Depends(form_data),
                     session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    reason = _text(form, "reason")
    return _request_action(request, session, actor, request_id,
                           lambda: service.withdraw_request(session, actor, request_id, reason), "withdrawn",
                           form_name="withdraw", typed={"reason": reason})


@router.post("/sharing/requests/{request_id}/renew")
def request_renew(request: Request, request_id: IdPath, form: FormData = Depends(form_data),
                  session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    typed = {"period_start": _text(form, "period_start"), "period_end": _text(form, "period_end")}

    def act():
        end = _date(typed["period_end"], "period_end", "使用期限结束")
        if end is None:
            raise ValidationFailed("请填写续期后的使用期限结束日期", field="period_end")
        return service.renew_request(session, actor, request_id, end,
                                     _date(typed["period_start"], "period_start", "使用期限开始"))

    return _request_action(request, session, actor, request_id, act, "renewed", form_name="renew", typed=typed,
                           target=lambda renewal: renewal.id)


@router.post("/sharing/requests/{request_id}/escalate")
def request_escalate(request: Request, request_id: IdPath, form: FormData = Depends(form_data),
                     session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    reason = _text(form, "reason")
    return _request_action(request, session, actor, request_id,
                           lambda: disputes.escalate(session, actor, request_id, reason),
                           lambda step: "referred" if step.status == DisputeStatus.REFERRED else "escalated",
                           form_name="escalate", typed={"reason": reason})


@router.post("/sharing/requests/{request_id}/reply")
def request_reply(request: Request, request_id: IdPath, form: FormData = Depends(form_data),
                  session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/sharing/requests/{id}/reply (sharing.service.reply)."""
    typed = _reply_typed(form)
    return _request_action(request, session, actor, request_id,
                           lambda: service.reply(session, actor, request_id, _reply_in(typed)), "replied",
                           form_name="reply", typed=typed)


@router.post("/sharing/disputes/{step_id}/decide")
def dispute_decide(request: Request, step_id: IdPath, form: FormData = Depends(form_data),
                   session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/sharing/disputes/{id}/decide (sharing.disputes.decide)."""
    if actor is None:
        return _login_redirect("/sharing/disputes")
    try:
        step = disputes.get_step(session, actor, step_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    typed = _reply_typed(form)
    return _request_action(request, session, actor, step.request_id,
                           lambda: disputes.decide(session, actor, step_id, _reply_in(typed)), "decided",
                           form_name="decide", typed=typed)


# ---------------------------------------------------------------- 争议处理


@router.get("/sharing/disputes", response_class=HTMLResponse)
def dispute_list(request: Request, session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/sharing/disputes")
    today = workdays.local_today(session)
    rows = []
    for step in disputes.list_open_steps(session, actor):
        try:
            found = service.get_request(session, actor, step.request_id)
        except NotFound:  # a step of the department that the visitor's role neither reads nor decides
            continue
        rows.append({"step": views.step_out(step, today), "request": views.request_out(session, found, today)})
    return render(request, session, actor, "sharing_disputes.html", rows=rows)


# ---------------------------------------------------------------- 我的授权


def _grants_page(request, session, actor, *, box: str = "outgoing", notice=None, error: DomainError | None = None,
                 error_grant: int | None = None, typed: dict | None = None):
    found = service.list_grants(session, actor, box=None if box == "all" else box, limit=300)
    rows = _grant_rows(session, found)
    return render(request, session, actor, "sharing_grants.html", status_code=error.status_code if error else 200,
                  rows=rows, previews=_previews(session, actor, found), box=box, notice=notice,
                  error=error.message if error else None, error_grant=error_grant,
                  typed=typed or {}, department_id=actor.department_id,
                  is_requester=actor.has(Role.REQUESTER), is_provider_reviewer=actor.has(Role.DEPT_REVIEWER),
                  is_authority=actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority,
                  END_REASONS=GrantEndReason.labels(), ACTIVE=GrantStatus.ACTIVE.value, ENDED=GrantStatus.ENDED.value)


USAGE_DAYS = 30  # the grants page shows the calls of the last days


def _grant_rows(session: Session, grants: list) -> list[dict]:
    """The grants as the page shows them: both departments by name (a provider sees who holds its data), the
    row scope and masking in words, and the calls of the last USAGE_DAYS days (gateway counters, one query)."""
    ids = [g.id for g in grants]
    since = workdays.local_today(session) - timedelta(days=USAGE_DAYS - 1)
    calls = dict(session.execute(select(GrantUsageDay.grant_id, func.sum(GrantUsageDay.calls))
                                 .where(GrantUsageDay.grant_id.in_(ids), GrantUsageDay.day >= since)
                                 .group_by(GrantUsageDay.grant_id)).all()) if ids else {}
    rows = []
    for grant in grants:
        row = views.grant_out(session, grant)
        titles = {item["name"]: item["chinese_name"] for item in row["items"]}
        row.update(requester_name=grant.request.requester.name, provider_name=grant.request.provider.name,
                   scope_words=_scope_words(grant.row_scope, titles), calls=int(calls.get(grant.id) or 0),
                   masking_words=[f"{titles.get(name, name)}：{parse_rule(rule).label}"
                                  for name, rule in sorted((grant.masking or {}).items())])
        rows.append(row)
    return rows


def _scope_words(scope: dict | None, titles: dict[str, str]) -> str:
    """A row scope in words, the item by its Chinese name (the grants page and the request page)."""
    if not scope or not scope.get("item"):
        return "全部数据行"
    return f"按{titles.get(scope['item'], scope['item'])}限定：{'、'.join(scope.get('prefixes', []))}"


templates.env.globals["scope_words"] = _scope_words


def _previews(session: Session, actor: Actor, grants: list) -> dict[int, dict]:
    """For each grant of the visitor's department that it may use in the UI (a requester or reviewer of the
    requesting department, a usable grant): `preview` is "" when its data can be previewed (数据预览: not
    verify-only, some item not 核心, a connected data source), else why not; `verify` says whether the 核验
    form applies (a verify-only grant, or one with 核心 items, over a connected source). Grants of other
    departments get no entry."""
    if not actor.has(Role.REQUESTER, Role.DEPT_REVIEWER):
        return {}
    today = workdays.local_today(session)
    own = [g for g in grants if g.requester_id == actor.department_id]
    connected = set(session.scalars(select(DataSource.entry_id).where(
        DataSource.entry_id.in_([g.entry_id for g in own]), DataSource.status == "connected")))
    core = _core_items([i for g in own for i in g.item_ids], session)
    found = {}
    for grant in own:
        if service.grant_refusal(grant, None, today) is not None:
            continue
        has_source = grant.entry_id in connected
        if not has_source:
            preview = "提供部门尚未接入数据源，暂不能预览或核验"
        elif grant.verify_only:
            preview = "该授权仅限核验，不提供预览"
        elif set(grant.item_ids) <= core:
            preview = "核心数据仅限核验，不提供预览（R17）"
        else:
            preview = ""
        found[grant.id] = {"preview": preview,
                           "verify": has_source and (grant.verify_only or bool(core & set(grant.item_ids)))}
    return found


def _core_items(item_ids: list[int], session: Session) -> set[int]:
    """The ids among `item_ids` of items the gateway serves for verification only (核心, R17)."""
    return {item["id"] for item in views.items_of(session, sorted(set(item_ids))) if item["verify_only"]}


@router.get("/sharing/grants", response_class=HTMLResponse)
def grant_list(request: Request, box: str = "", notice: str = "", session: Session = SESSION,
               actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/sharing/grants")
    box = box if box in BOXES else default_box(actor)
    return _grants_page(request, session, actor, box=box, notice=_notice(notice))


def _grant_action(request, session, actor, grant_id: int, action, done: str, box: str, note: str):
    if actor is None:
        return _login_redirect("/sharing/grants")
    try:
        action()
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _grants_page(request, session, actor, box=box, error=exc, error_grant=grant_id,
                            typed={"note": note})
    session.commit()
    return RedirectResponse(f"/sharing/grants?box={box}&notice={done}#grant-{grant_id}", status_code=303)


@router.post("/sharing/grants/{grant_id}/revoke")
def grant_revoke(request: Request, grant_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                 actor: Actor | None = Depends(page_actor)):
    note = _text(form, "reason")
    return _grant_action(request, session, actor, grant_id,
                         lambda: service.revoke_grant(session, actor, grant_id, note), "revoked", "incoming", note)


@router.post("/sharing/grants/{grant_id}/reinstate")
def grant_reinstate(request: Request, grant_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                    actor: Actor | None = Depends(page_actor)):
    note = _text(form, "reason")
    return _grant_action(request, session, actor, grant_id,
                         lambda: service.reinstate_grant(session, actor, grant_id, note), "reinstated", "incoming",
                         note)


@router.post("/sharing/grants/{grant_id}/purpose-achieved")
def grant_purpose_achieved(request: Request, grant_id: IdPath, form: FormData = Depends(form_data),
                           session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    note = _text(form, "reason")
    return _grant_action(request, session, actor, grant_id,
                         lambda: service.declare_purpose_achieved(session, actor, grant_id, note), "purpose_achieved",
                         "outgoing", note)


@router.post("/sharing/grants/{grant_id}/confirm-deletion")
def grant_confirm_deletion(request: Request, grant_id: IdPath, form: FormData = Depends(form_data),
                           session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    note = _text(form, "reason")
    return _grant_action(request, session, actor, grant_id,
                         lambda: service.confirm_deletion(session, actor, grant_id, note), "deletion_confirmed",
                         "outgoing", note)


# ---------------------------------------------------------------- 应用系统


def _systems_page(request, session, actor, *, notice=None, error: DomainError | None = None, typed=None,
                  secret: dict | None = None, status_code: int = 200):
    return render(request, session, actor, "systems.html", status_code=error.status_code if error else status_code,
                  rows=systems.list_systems(session, actor), notice=notice, error=error.message if error else None,
                  field_errors=_field_errors(error), form=typed or {"name": "", "description": ""}, secret=secret,
                  can_manage=actor.has(*systems.MANAGE_ROLES))


@router.get("/sharing/systems", response_class=HTMLResponse)
def system_list(request: Request, notice: str = "", session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/sharing/systems")
    return _systems_page(request, session, actor, notice=_notice(notice))


def _shown_once(system, secret: str) -> dict:
    return {"name": system.name, "client_id": system.client_id, "client_secret": secret}


@router.post("/sharing/systems", response_class=HTMLResponse)
def system_register(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                    actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/sharing/systems. The secret is in this response only: the page is
    rendered, not redirected to, so that it never appears in a URL or in a page that can be opened again."""
    if actor is None:
        return _login_redirect("/sharing/systems")
    typed = {"name": _text(form, "name"), "description": _text(form, "description")}
    try:
        system, secret = systems.register_system(session, actor, typed["name"], typed["description"])
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _systems_page(request, session, actor, error=exc, typed=typed)
    session.commit()
    return _systems_page(request, session, actor, secret=_shown_once(system, secret), status_code=201,
                         notice=f"应用系统“{system.name}”已登记。")


@router.post("/sharing/systems/{system_id}/rotate", response_class=HTMLResponse)
def system_rotate(request: Request, system_id: IdPath, session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/sharing/systems")
    try:
        system, secret = systems.rotate_secret(session, actor, system_id)
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _systems_page(request, session, actor, error=exc)
    session.commit()
    return _systems_page(request, session, actor, secret=_shown_once(system, secret),
                         notice=f"应用系统“{system.name}”的密钥已更换，原密钥立即失效。")


@router.post("/sharing/systems/{system_id}/revoke")
def system_revoke(request: Request, system_id: IdPath, session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/sharing/systems")
    try:
        systems.revoke_system(session, actor, system_id)
    except DomainError as exc:
        _fail(session)
        return error_page(request, session, actor, exc)
    session.commit()
    return RedirectResponse("/sharing/systems?notice=system_revoked", status_code=303)


# ---------------------------------------------------------------- 需求清单


def _departments(session: Session, actor: Actor) -> list:
    return [d for d in orgs.list_departments(session) if d.id != actor.department_id]


def _demands_page(request, session, actor, *, box: str = "all", status: str = "", notice=None,
                  error: DomainError | None = None, typed: dict | None = None):
    try:
        rows = demands.views(session, actor, demands.list_demands(session, actor, status=status or None,
                                                                  box=None if box == "all" else box, limit=200))
    except DomainError as exc:
        error, rows = error or exc, []
    return render(request, session, actor, "demands_list.html", status_code=error.status_code if error else 200,
                  rows=rows, box=box, status=status, statuses=DemandStatus.labels(), notice=notice,
                  error=error.message if error else None, field_errors=_field_errors(error),
                  form=typed or {"title": "", "description": "", "provider_id": ""},
                  can_post=actor.has(*demands.REQUESTER_ROLES), departments=_departments(session, actor))


@router.get("/demands", response_class=HTMLResponse)
def demand_list(request: Request, box: str = "all", status: str = "", notice: str = "", session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/demands")
    box = box if box in ("mine", "incoming", "all") else "all"
    return _demands_page(request, session, actor, box=box, status=status.strip(), notice=_notice(notice))


@router.post("/demands", response_class=HTMLResponse)
def demand_post(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/demands (demands.service.post_demand)."""
    if actor is None:
        return _login_redirect("/demands")
    typed = {"title": _text(form, "title"), "description": _text(form, "description"),
             "provider_id": _text(form, "provider_id")}
    try:
        provider = _int(typed["provider_id"], "provider_id", "提供部门")
        demand = demands.post_demand(session, actor, typed["title"], typed["description"], provider)
    except DomainError as exc:
        _fail(session)
        if _refused(exc, "provider_id"):
            return error_page(request, session, actor, exc)
        return _demands_page(request, session, actor, error=exc, typed=typed)
    session.commit()
    return RedirectResponse(f"/demands/{demand.id}?notice=posted", status_code=303)


def _demand_page(request, session, actor, demand_id: int, *, notice=None, error: DomainError | None = None,
                 form_name: str = "", typed: dict | None = None):
    try:
        demand = demands.get_demand(session, actor, demand_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    d = demands.view(session, actor, demand)
    status = demand.status
    is_requester = actor.has(*demands.REQUESTER_ROLES) and actor.department_id == demand.requester_id
    is_provider = demand.provider_id is not None and actor.department_id == demand.provider_id
    own_entries = []
    if is_provider and actor.has(*demands.LINK_ROLES) and status in (DemandStatus.ROUTED, DemandStatus.ACCEPTED):
        own_entries = catalog.list_entries(session, actor, provider_id=actor.department_id,
                                           status=EntryStatus.PUBLISHED.value, limit=500)
    can = {
        "route": is_requester and status in (DemandStatus.OPEN, DemandStatus.DECLINED),
        "accept": is_requester and status in (DemandStatus.OPEN, DemandStatus.ROUTED),
        "withdraw": is_requester and status in (DemandStatus.OPEN, DemandStatus.ROUTED),
        "answer": is_provider and actor.has(*demands.ANSWER_ROLES) and status == DemandStatus.ROUTED,
        "link": bool(own_entries),
    }
    forms = {name: {} for name in ("route", "answer", "link", "withdraw")}
    if form_name:
        forms[form_name] = typed or {}
    return render(request, session, actor, "demands_detail.html", status_code=error.status_code if error else 200,
                  d=d, can=can, forms=forms, form_name=form_name, field_errors=_field_errors(error),
                  form_error=error.message if error and form_name else None,
                  error=error.message if error and not form_name else None, notice=notice,
                  departments=_departments(session, actor), own_entries=own_entries)


@router.get("/demands/{demand_id}", response_class=HTMLResponse)
def demand_detail(request: Request, demand_id: IdPath, notice: str = "", session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/demands/{demand_id}")
    return _demand_page(request, session, actor, demand_id, notice=_notice(notice))


def _demand_action(request, session, actor, demand_id: int, action, done: str, form_name: str = "",
                   typed: dict | None = None):
    if actor is None:
        return _login_redirect(f"/demands/{demand_id}")
    try:
        action()
    except DomainError as exc:
        _fail(session)
        if _refused(exc, "provider_id", "entry_id"):
            return error_page(request, session, actor, exc)
        return _demand_page(request, session, actor, demand_id, error=exc, form_name=form_name, typed=typed)
    session.commit()
    return RedirectResponse(f"/demands/{demand_id}?notice={done}", status_code=303)


@router.post("/demands/{demand_id}/route")
def demand_route(request: Request, demand_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                 actor: Actor | None = Depends(page_actor)):
    typed = {"provider_id": _text(form, "provider_id")}
    return _demand_action(
        request, session, actor, demand_id,
        lambda: demands.route_demand(session, actor, demand_id, _int(typed["provider_id"], "provider_id", "提供部门")),
        "routed", "route", typed)


@router.post("/demands/{demand_id}/answer")
def demand_answer(request: Request, demand_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    typed = {"accept": _text(form, "accept"), "planned_date": _text(form, "planned_date"),
             "reason": _text(form, "reason")}

    def act():
        if typed["accept"] not in ("yes", "no"):
            raise ValidationFailed("请选择能否提供", field="accept")
        return demands.answer_demand(session, actor, demand_id, typed["accept"] == "yes",
                                     _date(typed["planned_date"], "planned_date", "计划完成编目日期"), typed["reason"])

    return _demand_action(request, session, actor, demand_id, act, "answered", "answer", typed)


@router.post("/demands/{demand_id}/link")
def demand_link(request: Request, demand_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    typed = {"entry_id": _text(form, "entry_id")}

    def act():
        entry_id = _int(typed["entry_id"], "entry_id", "目录")
        if entry_id is None:
            raise ValidationFailed("请选择满足需求的已发布目录", field="entry_id")
        return demands.link_entry(session, actor, demand_id, entry_id)

    return _demand_action(request, session, actor, demand_id, act, "linked", "link", typed)


@router.post("/demands/{demand_id}/accept")
def demand_accept(request: Request, demand_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    entry_id = _text(form, "entry_id")

    def act():
        if id_from(entry_id) is None:
            raise ValidationFailed("请选择满足需求的目录", field="entry_id")
        return demands.accept_suggestion(session, actor, demand_id, int(entry_id))

    return _demand_action(request, session, actor, demand_id, act, "accepted")


@router.post("/demands/{demand_id}/withdraw")
def demand_withdraw(request: Request, demand_id: IdPath, form: FormData = Depends(form_data),
                    session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    typed = {"reason": _text(form, "reason")}
    return _demand_action(request, session, actor, demand_id,
                          lambda: demands.withdraw_demand(session, actor, demand_id, typed["reason"]),
                          "demand_withdrawn", "withdraw", typed)


# ---------------------------------------------------------------- 共享服务变更 (R11)


def _readable_change(session: Session, actor: Actor, change_id: int) -> ServiceChange:
    return found(session.scalars(changes.readable_changes(actor).where(ServiceChange.id == change_id)).first(),
                 f"共享服务变更不存在或无权查看：{change_id}", "change_id")


def _may_decide(actor: Actor, change: ServiceChange) -> bool:
    """Whether the visitor is to decide the change: it is submitted, and the visitor is a competent authority
    over the provider, not the provider itself (changes.decide enforces the same rule)."""
    if change.status != ServiceChangeStatus.SUBMITTED or actor.department_id == change.provider_id:
        return False
    try:
        require_authority_over(actor, change.entry.provider.region_code, action="审批共享服务变更")
    except Forbidden:
        return False
    return True


def _username(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.username if user is not None else "—"


@router.get("/sharing/changes", response_class=HTMLResponse)
def change_list(request: Request, status: str = "", session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    """The service changes the visitor may read (sharing.changes.readable_changes), newest first."""
    if actor is None:
        return _login_redirect("/sharing/changes")
    status = status if status in ServiceChangeStatus.labels() else ""
    rows = [{**views.change_out(change), "kind_label": ServiceChangeKind(change.kind).label,
             "provider": change.entry.provider.name}
            for change in changes.list_changes(session, actor, status=status or None)]
    return render(request, session, actor, "sharing_changes.html", rows=rows, status=status,
                  statuses=ServiceChangeStatus.labels())


def _proposable_entry(session: Session, actor: Actor, entry_id: int | None):
    """The published entry of the visitor's own department whose service is to change (the provider's roles)."""
    if entry_id is None:
        raise NotFound("请从本部门已发布目录的页面申请变更共享服务", field="entry_id")
    entry = catalog.get_entry(session, actor, entry_id)
    if entry.provider_id != actor.department_id or not actor.has(*service.PROVIDER_ROLES):
        raise Forbidden("只有提供部门的目录管理员或审核员可以申请变更本部门目录的共享服务", field="entry_id")
    return entry


def _change_form(request: Request, session: Session, actor: Actor, entry, *, typed: dict, error=None,
                 status_code: int = 200) -> HTMLResponse:
    earliest = changes.earliest_effective_date(session, workdays.local_today(session))
    affected = changes.affected_grants(session, entry.id)
    return render(request, session, actor, "sharing_change_new.html", status_code=status_code, entry=entry,
                  typed={"kind": "stop", "effective_date": earliest.isoformat(), **typed}, earliest=earliest,
                  affected=len(affected), kinds=ServiceChangeKind.labels(),
                  field_errors=field_errors_of(error))


@router.get("/sharing/changes/new", response_class=HTMLResponse)
def change_new(request: Request, entry_id: str = "", session: Session = SESSION,
               actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/sharing/changes/new?entry_id={entry_id}")
    try:
        entry = _proposable_entry(session, actor, id_from(entry_id))
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return _change_form(request, session, actor, entry, typed={})


@router.post("/sharing/changes/new")
def change_propose(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/sharing/service-changes (sharing.changes.propose)."""
    if actor is None:
        return _login_redirect("/sharing/changes")
    typed = {name: _text(form, name) for name in ("kind", "description", "effective_date")}
    try:
        entry = _proposable_entry(session, actor, id_from(_text(form, "entry_id")))
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    unread: dict[str, str] = {}  # what the page could not read; the service reports what is missing or wrong
    kind = ServiceChangeKind.parse(typed["kind"])
    if typed["kind"] and kind is None:
        unread["kind"] = f"变更类型无效：{typed['kind']}（可选：{ServiceChangeKind.choices()}）"
    effective = _collect(unread, _day, typed["effective_date"], "effective_date", "生效日期") \
        if typed["effective_date"] else None
    try:
        try:
            change = changes.propose(session, actor, entry.id, kind, typed["description"], effective)
        except InvalidFields as invalid:
            raise InvalidFields(invalid.errors | unread) from None
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _change_form(request, session, actor, entry, typed=typed, error=exc, status_code=exc.status_code)
    session.commit()
    return RedirectResponse(f"/sharing/changes/{change.id}?notice=change_proposed", status_code=303)


def _day(text: str, field: str, title: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{title}的格式应为 年-月-日（如 2027-01-15）", field=field) from None


@router.get("/sharing/changes/{change_id}", response_class=HTMLResponse)
def change_detail(request: Request, change_id: IdPath, notice: str = "", session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    """The page a service change's notifications link to (R11): what changes, when, and its approval."""
    if actor is None:
        return _login_redirect(f"/sharing/changes/{change_id}")
    return _change_page(request, session, actor, change_id, notice=_notice(notice))


def _change_page(request: Request, session: Session, actor: Actor, change_id: int, *, notice: str | None = None,
                 error: str | None = None, typed: dict | None = None, status_code: int = 200) -> HTMLResponse:
    try:
        change = _readable_change(session, actor, change_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    entry = change.entry
    c = {**views.change_out(change), "kind_label": ServiceChangeKind(change.kind).label,
         "resource_code": entry.resource_code, "provider": entry.provider.name,
         "requested_by": _username(session, change.requested_by_id),
         "decided_by": _username(session, change.decided_by_id)}
    affected = [views.grant_out(session, grant) | {"requester_name": grant.request.requester.name}
                for grant in session.scalars(service.readable_grants(actor).where(
                    Grant.entry_id == change.entry_id,
                    Grant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED])).order_by(Grant.id))]
    return render(request, session, actor, "sharing_change.html", status_code=status_code, c=c, affected=affected,
                  can_decide=_may_decide(actor, change), notice=notice, error=error, typed=typed or {})


@router.post("/sharing/changes/{change_id}/decide")
def change_decide(request: Request, change_id: IdPath, form: FormData = Depends(form_data),
                  session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/sharing/service-changes/{id}/decide (sharing.changes.decide)."""
    if actor is None:
        return _login_redirect(f"/sharing/changes/{change_id}")
    approve, reason = _text(form, "decision") == "approve", _text(form, "reason")
    try:
        changes.decide(session, actor, change_id, approve, reason)
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _change_page(request, session, actor, change_id, error=exc.message, status_code=exc.status_code,
                            typed={"decision": _text(form, "decision"), "reason": reason})
    session.commit()
    done = "change_approved" if approve else "change_rejected"
    return RedirectResponse(f"/sharing/changes/{change_id}?notice={done}", status_code=303)


# ---------------------------------------------------------------- 消息通知


@router.get("/notifications", response_class=HTMLResponse)
def notification_list(request: Request, unread: str = "", notice: str = "", session: Session = SESSION,
                      actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/notifications")
    rows = notify.list_notifications(session, actor, unread_only=bool(unread), limit=200)
    return render(request, session, actor, "notifications.html", rows=rows, unread_only=bool(unread),
                  unread=notify.unread_count(session, actor), notice=_notice(notice))


@router.post("/notifications/{notification_id}/read")
def notification_read(request: Request, notification_id: IdPath, session: Session = SESSION,
                      actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/notifications")
    try:
        notify.mark_read(session, actor, notification_id)
    except DomainError as exc:
        _fail(session)
        return error_page(request, session, actor, exc)
    session.commit()
    return RedirectResponse("/notifications?notice=read", status_code=303)


@router.post("/notifications/read-all")
def notification_read_all(request: Request, session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/notifications")
    notify.mark_all_read(session, actor)
    session.commit()
    return RedirectResponse("/notifications?notice=read_all", status_code=303)


# ---------------------------------------------------------------- 节假日日历 (platform admin)

CALENDAR_REFUSED = "节假日日历仅供平台管理员维护"


def _calendar_page(request, session, actor, *, year: int | None = None, notice=None, error: DomainError | None = None,
                   form_name: str = "", typed: dict | None = None):
    today = workdays.local_today(session)
    year = year or today.year
    try:
        status = workdays.year_status(session, year)
    except DomainError as exc:
        error, year = error or exc, today.year
        status = workdays.year_status(session, year)
    years = [workdays.year_status(session, y) for y in sorted({today.year, today.year + 1, year,
                                                              *(y for y, _n in workdays.admin_years(session))})]
    days = [workdays.day_view(session, row) for row in workdays.list_days(session, year)]
    forms = {"import": {"text": "", "year": "", "source": "", "format": "notice"},
             "day": {"day": "", "is_workday": "", "name": ""}}
    if form_name:
        forms[form_name] = typed or {}
    return render(request, session, actor, "calendar.html", status_code=error.status_code if error else 200,
                  year=year, status=status, years=years, days=days, forms=forms, form_name=form_name,
                  field_errors=_field_errors(error), error=error.message if error else None, notice=notice)


def _calendar_admin(request, session, actor, path: str):
    if actor is None:
        return _login_redirect(path)
    if not actor.has(Role.PLATFORM_ADMIN):
        return error_page(request, session, actor, Forbidden(CALENDAR_REFUSED))
    return None


@router.get("/admin/calendar", response_class=HTMLResponse)
def calendar_page(request: Request, year: str = "", notice: str = "", session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    refused = _calendar_admin(request, session, actor, "/admin/calendar")
    if refused:
        return refused
    return _calendar_page(request, session, actor, year=int(year) if year.isdigit() else None,
                          notice=_notice(notice))


@router.post("/admin/calendar/import", response_class=HTMLResponse)
def calendar_import(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                    actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/calendar/import (workdays.service.import_text)."""
    refused = _calendar_admin(request, session, actor, "/admin/calendar")
    if refused:
        return refused
    typed = {"text": _text(form, "text"), "year": _text(form, "year"), "source": _text(form, "source"),
             "format": _text(form, "format") or "notice"}
    try:
        if not typed["text"]:
            raise ValidationFailed("请粘贴国务院办公厅节假日安排通知的全文（或 CSV）", field="text")
        year = _int(typed["year"], "year", "年份")
        result = workdays.import_text(session, actor, typed["text"], typed["format"], year, typed["source"])
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _calendar_page(request, session, actor, error=exc, form_name="import", typed=typed)
    session.commit()
    shown = result.days[0].day.year if result.days else None
    notice = (f"已导入“{result.source}”：新增 {result.created} 天，修改 {result.updated} 天，"
              f"未变 {result.unchanged} 天。")
    return _calendar_page(request, session, actor, year=shown, notice=notice)


@router.post("/admin/calendar/days")
def calendar_set_day(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                     actor: Actor | None = Depends(page_actor)):
    refused = _calendar_admin(request, session, actor, "/admin/calendar")
    if refused:
        return refused
    typed = {"day": _text(form, "day"), "is_workday": _text(form, "is_workday"), "name": _text(form, "name")}
    try:
        unread: dict[str, str] = {}
        day = _collect(unread, _date, typed["day"], "day", "日期")
        if day is None and "day" not in unread:
            unread["day"] = "请填写日期"
        if typed["is_workday"] not in ("0", "1"):
            unread["is_workday"] = "请选择放假或上班"
        raise_invalid(unread)
        workdays.set_day(session, actor, day, typed["is_workday"] == "1", typed["name"], "管理员手工设置")
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _calendar_page(request, session, actor, error=exc, form_name="day", typed=typed)
    session.commit()
    return RedirectResponse(f"/admin/calendar?year={day.year}&notice=day_set", status_code=303)
