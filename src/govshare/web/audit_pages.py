"""Chinese pages of the usage records (使用记录, R12): the records the visitor may see with filters, the calls
per day (an ECharts chart, with its table), totals by resource and by consumer system, the anomalies, and the
integrity check for auditors. Thin: every rule is in audit.service (which records whom, totals, anomalies)
and audit.chain (verification). Read-only pages: nothing here posts."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from govshare.audit import service
from govshare.authz import Actor
from govshare.deps import SESSION
from govshare.errors import DomainError, ValidationFailed
from govshare.fields import MAX_ID, id_from
from govshare.web.pages import PageRoute, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

PAGE_SIZE = 50
FILTER_TITLES = {"since": "开始日期", "until": "结束日期", "grant": "授权编号", "resource": "资源代码",
                 "system": "应用系统", "result": "结果", "mode": "访问方式", "page": "页码"}
KIND_COLOURS = {"off_hours": "var(--amber)", "volume": "var(--blue)", "refusals": "var(--red)"}


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{FILTER_TITLES[field]}的格式应为 年-月-日（如 2026-11-23）", field=field) from None


def _number(value: str, field: str) -> int | None:
    """An id filter: a positive whole number no larger than any id (a longer one answers 422, not a database
    overflow)."""
    if not value:
        return None
    number = id_from(value)
    if number is None:
        raise ValidationFailed(f"{FILTER_TITLES[field]}应为不超过 {MAX_ID} 的正整数", field=field)
    return number


def _typed(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in FILTER_TITLES}


def _filters(session: Session, typed: dict[str, str]) -> service.Filters:
    filters = service.Filters(
        grant_id=_number(typed["grant"], "grant"), resource_code=typed["resource"] or None,
        system_id=_number(typed["system"], "system"), result=typed["result"] or None, mode=typed["mode"] or None,
        since=_day(typed["since"], "since"), until=_day(typed["until"], "until"))
    return filters.with_days(session)  # the page always shows a range of days: the last 30 by default


def _page_url(typed: dict[str, str], page: int) -> str:
    query = {k: v for k, v in typed.items() if v and k != "page"}
    return "/audit?" + urlencode({**query, "page": page})


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    typed = _typed(request)
    error = None
    try:
        filters = _filters(session, typed)
        page = _number(typed["page"], "page") or 1
    except DomainError as exc:
        error, filters, page = exc, service.Filters().with_days(session), 1
    try:
        records = service.list_records(session, actor, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        total = service.count_records(session, actor, filters)
        by_day = service.totals(session, actor, "day", filters)
        by_resource = service.totals(session, actor, "resource", filters)
        by_system = service.totals(session, actor, "system", filters)
        flags = service.anomalies(session, actor, filters.since, filters.until)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    chart = {"days": [t["label"] for t in by_day], "calls": [t["calls"] for t in by_day],
             "refused": [t["refused"] for t in by_day], "rows": [t["rows"] for t in by_day]}
    typed.update(since=filters.since.isoformat(), until=filters.until.isoformat())
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, session, actor, "audit_records.html", status_code=error.status_code if error else 200,
                  error=error.message if error else None, field=error.field if error else None, typed=typed,
                  records=records, total=total, page=page, pages=pages,
                  prev_url=_page_url(typed, page - 1) if page > 1 else None,
                  next_url=_page_url(typed, page + 1) if page < pages else None,
                  by_day=by_day, by_resource=by_resource, by_system=by_system, chart=chart, anomalies=flags,
                  results=service.RESULT_LABELS, modes=service.MODE_LABELS, titles=FILTER_TITLES,
                  colours=KIND_COLOURS, can_verify=service.can_verify(actor),
                  calls=sum(t["calls"] for t in by_day), refused=sum(t["refused"] for t in by_day))


@router.get("/audit/verify", response_class=HTMLResponse)
def verify_page(request: Request, session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    """完整性校验: runs the whole verification now and shows the report (auditors, administrators, authorities)."""
    if actor is None:
        return _login_redirect("/audit/verify")
    try:
        report = service.verify(request.app.state.db, actor)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return render(request, session, actor, "audit_verify.html", report=report, data=report.to_dict())
