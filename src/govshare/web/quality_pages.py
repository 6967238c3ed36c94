"""数据质量 pages (R14): an entry's scores, their trend, the last run's failures (keys masked as the gateway
masks them) and its rules, for whoever reads the entry; the provider's own people also confirm the proposed
rules, add and remove rules and run them. Thin handlers: every rule is in quality.service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from govshare.authz import Actor
from govshare.catalog import service as catalog
from govshare.deps import SESSION
from govshare.errors import DomainError
from govshare.fields import IdPath
from govshare.quality import service as quality
from govshare.quality.rules import STANDARD_CODES, Dimension, Format, RuleKind
from govshare.web.errors import field_errors_of
from govshare.web.pages import PageRoute, _fail, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

NOTICES = {
    "ran": "质量检查已完成。",
    "run_failed": "质量检查未完成，原因见下方。",
    "confirmed": "已确认所选规则，下次检查起参与评分。",
    "added": "质量规则已设置。",
    "removed": "质量规则已删除。",
    "proposed": "已按信息项和数据画像生成规则建议，请核对后确认。",
}
TREND_RUNS = 20


async def form_data(request: Request) -> FormData:
    return await request.form()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _trend(runs) -> dict:
    """The scores of the last runs, oldest first, for the chart."""
    done = [r for r in reversed(runs) if r.status == "done"][-TREND_RUNS:]
    series = {d.value: [getattr(r, d.value) for r in done] for d in Dimension}
    return {"labels": [f"{r.started_at:%m-%d %H:%M}" for r in done], "overall": [r.overall for r in done],
            "series": series, "names": {d.value: d.label for d in Dimension}}


def _page(request, session, actor, entry_id: int, *, notice=None, error: DomainError | None = None,
          typed: dict | None = None):
    try:
        entry = catalog.get_entry(session, actor, entry_id)
        rules = quality.list_rules(session, actor, entry_id)
        runs = quality.list_runs(session, actor, entry_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    last = next((r for r in runs if r.status == "done"), None)
    return render(request, session, actor, "quality.html", status_code=error.status_code if error else 200,
                  entry=entry, rules=[(r, quality.spec_of(r)) for r in rules], runs=runs,
                  last=last, results=quality.samples_shown(session, last) if last else [],
                  failed_run=runs[0] if runs and
                  runs[0].status == "failed" else None, trend=_trend(runs), may_manage=quality.may_manage(actor, entry),
                  dimensions=list(Dimension), kinds=list(RuleKind), formats=list(Format),
                  standards=list(STANDARD_CODES), references=quality.list_references(session),
                  field_errors=field_errors_of(error), form_error=error.message if error else None,
                  typed=typed or {}, notice=NOTICES.get(notice or ""))


@router.get("/catalog/{entry_id}/quality", response_class=HTMLResponse)
def quality_page(request: Request, entry_id: IdPath, notice: str = "", session: Session = SESSION,
                 actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/catalog/{entry_id}/quality")
    return _page(request, session, actor, entry_id, notice=notice)


def _act(request, session, actor, entry_id: int, action, done: str, typed: dict | None = None):
    """Runs `action` and shows the page again with the notice `done` (or the notice key the action returns)."""
    if actor is None:
        return _login_redirect(f"/catalog/{entry_id}/quality")
    try:
        result = action()
    except DomainError as exc:
        _fail(session)
        if exc.status_code in (403, 404):
            return error_page(request, session, actor, exc)
        return _page(request, session, actor, entry_id, error=exc, typed=typed)
    session.commit()
    notice = result if isinstance(result, str) else done
    return RedirectResponse(f"/catalog/{entry_id}/quality?notice={notice}", status_code=303)


@router.post("/catalog/{entry_id}/quality/run")
def quality_run(request: Request, entry_id: IdPath, session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    def run() -> str:  # a run whose read failed is on the record; the page shows why
        return "ran" if quality.run_quality(session, actor, entry_id).status == "done" else "run_failed"

    return _act(request, session, actor, entry_id, run, "ran")


@router.post("/catalog/{entry_id}/quality/propose")
def quality_propose(request: Request, entry_id: IdPath, session: Session = SESSION,
                    actor: Actor | None = Depends(page_actor)):
    return _act(request, session, actor, entry_id, lambda: quality.propose_rules(session, actor, entry_id),
                "proposed")


@router.post("/catalog/{entry_id}/quality/confirm")
def quality_confirm(request: Request, entry_id: IdPath, form: FormData = Depends(form_data),
                    session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    chosen = [int(v) for v in form.getlist("rule_id") if isinstance(v, str) and v.isdigit() and len(v) < 10]
    return _act(request, session, actor, entry_id, lambda: quality.confirm_rules(session, actor, entry_id, chosen),
                "confirmed")


def _params(typed: dict) -> dict:
    """The rule form's parameters by kind (the service checks them and names each invalid one)."""
    kind = typed["kind"]
    if kind == RuleKind.FORMAT:
        return {"format": typed["format"]}
    if kind == RuleKind.ENUM:
        if typed["standard"]:
            return {"standard": typed["standard"]}
        return {"values": [v.strip() for v in typed["values"].replace("，", ",").split(",") if v.strip()]}
    if kind == RuleKind.RANGE:
        return {name: typed[name] for name in ("min", "max") if typed[name]}
    if kind == RuleKind.REFERENCE:
        return {"reference": typed["reference"]}
    if kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.NOT_BEFORE):
        return {"other": typed["other"]}
    return {}


@router.post("/catalog/{entry_id}/quality/rules")
def quality_add(request: Request, entry_id: IdPath, form: FormData = Depends(form_data),
                session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    names = ("kind", "item", "format", "standard", "values", "min", "max", "reference", "other")
    typed = {name: _text(form, name) for name in names}
    return _act(request, session, actor, entry_id,
                lambda: quality.declare_rule(session, actor, entry_id, {"kind": typed["kind"], "item": typed["item"],
                                                                       "params": _params(typed)}),
                "added", typed)


@router.post("/catalog/{entry_id}/quality/rules/{rule_id}/remove")
def quality_remove(request: Request, entry_id: IdPath, rule_id: IdPath, session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    return _act(request, session, actor, entry_id, lambda: quality.remove_rule(session, actor, entry_id, rule_id),
                "removed")
