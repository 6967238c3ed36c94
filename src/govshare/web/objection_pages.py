"""数据核实 pages (校核纠错, R13): the requester department files an objection on a record of a granted entry (from
the data preview, a verification or the grant), with the evidence text and file; the provider answers on the
objection's page; everyone party to it reads its record. Thin handlers: every rule is in objections.service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from govshare.authz import Actor, require_role
from govshare.deps import SESSION
from govshare.errors import DomainError, NotFound
from govshare.fields import IdPath, IdQuery
from govshare.gateway import corrections
from govshare.objections import service as objections
from govshare.objections import views
from govshare.objections.evidence import ACCEPTED_LABEL, EVIDENCE_HEADERS
from govshare.objections.service import ObjectionStatus
from govshare.sharing import service as sharing
from govshare.sharing import views as sharing_views
from govshare.web.errors import field_errors_of
from govshare.web.gateway_pages import _refused, _text, form_data
from govshare.web.pages import PageRoute, _fail, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

NOTICES = {
    "filed": "核实请求已提交，提供部门须在答复期限内核实答复；核实期间该记录照常提供，标记为“校核中”。",
    "answered": "答复已保存，已通知提出部门。",
    "attached": "依据文件已上传。",
}
BOX_TITLES = {"incoming": "待本部门核实", "outgoing": "本部门提出", "all": "全部"}
ANSWER_LABELS = {s.value: s.label for s in objections.ANSWERS}


def _upload(form: FormData) -> UploadFile | None:
    value = form.get("evidence_file")
    return value if isinstance(value, UploadFile) and value.filename else None


# ---------------------------------------------------------------- list


@router.get("/objections", response_class=HTMLResponse)
def objection_list(request: Request, box: str = "", status: str = "", session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/objections")
    box = box if box in BOX_TITLES else ("all" if actor.department_id is None else "incoming")
    status = status if status in ObjectionStatus.labels() else ""
    found = objections.list_objections(session, actor, status=status or None,
                                       box=None if box == "all" else box, limit=500)
    return render(request, session, actor, "objections_list.html", rows=views.views(session, found), box=box,
                  status=status, boxes=BOX_TITLES, statuses=ObjectionStatus.labels())


# ---------------------------------------------------------------- filing


def _filing_context(session: Session, actor: Actor, grant_id: int) -> dict:
    """The grant the objection is on (the own department's) and its items."""
    require_role(actor, *objections.FILE_ROLES, action="提出数据核实")
    grant = sharing.get_grant(session, actor, grant_id)
    if grant.requester_id != actor.department_id:
        raise NotFound(f"共享授权不存在或无权查看：{grant_id}", field="grant")
    return {"grant": grant, "items": sharing_views.items_of(session, grant.item_ids), "accepted": ACCEPTED_LABEL}


@router.get("/objections/new", response_class=HTMLResponse)
def objection_new(request: Request, grant: IdQuery, key: str = "", item: str = "", session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(str(request.url.path) + "?" + request.url.query)
    try:
        context = _filing_context(session, actor, grant)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    typed = {"key": key.strip()[:200], "items": [item] if item else [], "claimed": {}, "evidence": ""}
    return render(request, session, actor, "objection_new.html", **context, typed=typed, field_errors={})


@router.post("/objections", response_class=HTMLResponse)
def objection_file(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    """The same service calls as POST /api/v1/objections and its evidence upload, in one unit of work: an
    objection whose file is refused is not filed either."""
    grant_text = _text(form, "grant")
    if actor is None:
        return _login_redirect(f"/objections/new?grant={grant_text}")
    items = [v for v in form.getlist("items") if isinstance(v, str)]
    typed = {"key": _text(form, "key"), "items": items, "evidence": _text(form, "evidence"),
             "claimed": {name: _text(form, f"claimed_{name}") for name in items if _text(form, f"claimed_{name}")}}
    grant_id = int(grant_text) if grant_text.isdigit() and len(grant_text) <= 9 else 0
    try:
        _filing_context(session, actor, grant_id)  # the own department's grant, or the page refuses
        objection = objections.file_objection(session, actor, grant_id, typed["key"], items, typed["claimed"],
                                              typed["evidence"])
        if (upload := _upload(form)) is not None:
            objections.attach_evidence(session, actor, objection.id, upload.filename, upload.file)
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return render(request, session, actor, "objection_new.html", status_code=exc.status_code,
                      **_filing_context(session, actor, grant_id), typed=typed, field_errors=field_errors_of(exc),
                      error=exc.message)
    session.commit()
    return RedirectResponse(f"/objections/{objection.id}?notice=filed", status_code=303)


# ---------------------------------------------------------------- one objection


def _detail(request, session, actor, objection_id: int, *, notice=None, error: DomainError | None = None,
            form_name: str = "", typed: dict | None = None):
    try:
        objection = objections.get_objection(session, actor, objection_id)
        out = views.view(session, objection, history=objections.history(session, actor, objection_id))
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    is_open = objection.status == ObjectionStatus.OPEN
    can = {
        "answer": is_open and actor.has(*objections.ANSWER_ROLES) and actor.department_id == objection.provider_id,
        "attach": is_open and not objection.evidence_stored and actor.has(*objections.FILE_ROLES)
        and actor.department_id == objection.requester_id,
    }
    leads = objections.lead_sources(session, objection) if can["answer"] else {}
    can["apply"] = can["answer"] and bool(objection.claimed) and corrections.is_managed(session, objection.entry_id)
    return render(request, session, actor, "objection_detail.html", status_code=error.status_code if error else 200,
                  o=out, can=can, notice=notice, answers=ANSWER_LABELS, leads=leads,
                  form_name=form_name, typed=typed or {}, field_errors=field_errors_of(error),
                  form_error=error.message if error else None, accepted=ACCEPTED_LABEL, actions=views.ACTIONS)


@router.get("/objections/{objection_id}", response_class=HTMLResponse)
def objection_detail(request: Request, objection_id: IdPath, notice: str = "", session: Session = SESSION,
                     actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/objections/{objection_id}")
    return _detail(request, session, actor, objection_id, notice=NOTICES.get(notice))


def _act(request, session, actor, objection_id: int, action, done: str, form_name: str, typed: dict):
    if actor is None:
        return _login_redirect(f"/objections/{objection_id}")
    try:
        action()
    except DomainError as exc:
        _fail(session)
        if _refused(exc) and exc.field != "forward_to":
            return error_page(request, session, actor, exc)
        return _detail(request, session, actor, objection_id, error=exc, form_name=form_name, typed=typed)
    session.commit()
    return RedirectResponse(f"/objections/{objection_id}?notice={done}", status_code=303)


@router.post("/objections/{objection_id}/answer")
def objection_answer(request: Request, objection_id: IdPath, form: FormData = Depends(form_data),
                     session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    typed = {"answer": _text(form, "answer"), "reason": _text(form, "reason"), "forward_to": _text(form, "forward_to"),
             "apply_correction": _text(form, "apply_correction")}
    forward_to = int(typed["forward_to"]) if typed["forward_to"].isdigit() and len(typed["forward_to"]) <= 9 else None
    return _act(request, session, actor, objection_id,
                lambda: objections.answer_objection(session, actor, objection_id, typed["answer"], typed["reason"],
                                                    forward_to, typed["apply_correction"] == "yes"),
                "answered", "answer", typed)


@router.post("/objections/{objection_id}/evidence")
def objection_attach(request: Request, objection_id: IdPath, form: FormData = Depends(form_data),
                     session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    def act():
        upload = _upload(form)
        objections.attach_evidence(session, actor, objection_id, upload.filename if upload else "",
                                   upload.file if upload else None)

    return _act(request, session, actor, objection_id, act, "attached", "attach", {})


@router.get("/objections/{objection_id}/evidence")
def objection_evidence(request: Request, objection_id: IdPath, session: Session = SESSION,
                       actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/objections/{objection_id}")
    try:
        objection, path = objections.evidence_file(session, actor, objection_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return FileResponse(path, media_type=objection.evidence_media_type, filename=objection.evidence_filename,
                        headers=EVIDENCE_HEADERS)
