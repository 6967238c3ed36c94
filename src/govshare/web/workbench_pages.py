"""工作台: the home page after login shows the work waiting for the user's role (workbench.service); each
panel opens as a list of its own with a text filter, a 分类 filter, a mark filter (已逾期 / 即将到期), pages,
and an XLSX export of what the filters keep. Read-only: the actions stay on the pages the rows link to."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import SESSION
from govshare.errors import NotFound
from govshare.fields import is_digits
from govshare.web.pages import PageRoute, _login_redirect, error_page, page_actor, render
from govshare.workbench import service
from govshare.workbench.panels import MARK_LABELS, MAX_ROWS, Context, show, xlsx_of

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _page_number(text: str) -> int:
    return int(text) if is_digits(text) and len(text) < 7 else 1


def _filters(request: Request) -> dict[str, str]:
    query = request.query_params
    return {name: query.get(name, "").strip()[:200] for name in ("q", "facet", "mark")}


def _list_url(key: str, filters: dict[str, str], page: int = 1, suffix: str = "") -> str:
    pairs = {name: value for name, value in filters.items() if value}
    if page > 1:
        pairs["page"] = str(page)
    return f"/workbench/{key}{suffix}" + ("?" + urlencode(pairs) if pairs else "")


@router.get("/", response_class=HTMLResponse)
def workbench(request: Request, session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/")
    context = Context(session, actor)
    shown = [show(panel, context, page_size=MAX_ROWS) for panel in service.panels_for(actor)]
    charts = {s.panel.key: s.panel.chart(s.rows) for s in shown if s.panel.chart is not None and s.rows}
    chain = service.chain_status(context) if service.shows_chain(actor) else None
    return render(request, session, actor, "workbench.html", shown=shown, charts=charts, chain=chain,
                  MARK_LABELS=MARK_LABELS)


def _panel(actor: Actor, key: str):
    panel = service.panel_for(actor, key)
    if panel is None:
        raise NotFound(f"工作台没有这个列表：{key}", field="panel")
    return panel


@router.get("/workbench/{key}", response_class=HTMLResponse)
def workbench_list(request: Request, key: str, page: str = "1", session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(str(request.url.path))
    try:
        panel = _panel(actor, key)
    except NotFound as exc:
        return error_page(request, session, actor, exc)
    filters = _filters(request)
    shown = show(panel, Context(session, actor), page=_page_number(page), **filters)
    return render(request, session, actor, "workbench_list.html", s=shown, filters=filters, MARK_LABELS=MARK_LABELS,
                  prev_url=_list_url(key, filters, shown.page - 1) if shown.page > 1 else None,
                  next_url=_list_url(key, filters, shown.page + 1) if shown.page < shown.pages else None,
                  export_url=_list_url(key, filters, suffix="/export.xlsx"))


@router.get("/workbench/{key}/export.xlsx")
def workbench_export(request: Request, key: str, session: Session = SESSION,
                     actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(str(request.url.path))
    try:
        panel = _panel(actor, key)
    except NotFound as exc:
        return error_page(request, session, actor, exc)
    shown = show(panel, Context(session, actor), page_size=MAX_ROWS, **_filters(request))
    name = quote(f"{panel.title}.xlsx")
    return Response(xlsx_of(panel, shown.rows),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=\"workbench-{key}.xlsx\"; "
                                                    f"filename*=UTF-8''{name}"})
