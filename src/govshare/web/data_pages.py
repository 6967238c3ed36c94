"""数据预览 and 核验: a person sees the first rows of shared data in the UI, or verifies a record, through the
same gateway function as every consumer system (gateway.service.access, modes preview and verify): the
requester department with its grant, masked as the grant says; the provider its own connected data (preview).
Each preview and each verification is a usage record."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog.models import CatalogEntry, DataItem
from govshare.deps import SESSION
from govshare.errors import DomainError, NotFound, ValidationFailed
from govshare.fields import IdQuery
from govshare.gateway.models import DataSource
from govshare.gateway.service import Call, Caller, Mode, access
from govshare.objections import service as objections
from govshare.sharing import service as sharing
from govshare.sharing import views
from govshare.web.pages import PageRoute, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _resource_code(session: Session, actor: Actor, grant: int | None, entry: int | None) -> str:
    """The resource the preview is of: the grant's entry (visible to the caller), or an entry by id."""
    if grant is not None:
        return sharing.get_grant(session, actor, grant).entry.resource_code
    found = session.get(CatalogEntry, entry) if entry is not None else None
    if found is None:
        raise NotFound("请指定要预览的共享授权或目录", field="grant")
    return found.resource_code


@router.get("/data/preview", response_class=HTMLResponse)
def preview(request: Request, grant: IdQuery | None = None, entry: IdQuery | None = None, session: Session = SESSION,
            actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(str(request.url.path) + ("?" + request.url.query if request.url.query else ""))
    try:
        code = _resource_code(session, actor, grant, entry)
        outcome = access(request.app.state.db, Caller(actor=actor), Call(Mode.PREVIEW, code, grant_id=grant))
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return render(request, session, actor, "data_preview.html", code=code, grant=grant, outcome=outcome,
                  titles=_item_titles(session, code), key_item=_key_item(session, code),
                  can_object=grant is not None and actor.has(*objections.FILE_ROLES))


def _key_item(session: Session, code: str) -> str | None:
    """The item a record is found by: shown unmasked in a preview row, it fills the objection form's key."""
    return session.scalar(select(DataSource.key_item).join(CatalogEntry, CatalogEntry.id == DataSource.entry_id)
                          .where(CatalogEntry.resource_code == code))


def _item_titles(session: Session, code: str) -> dict[str, str]:
    """Item name → its Chinese name, for the table's headers (the gateway answers with item names)."""
    query = (select(DataItem.name, DataItem.chinese_name).join(CatalogEntry, CatalogEntry.id == DataItem.entry_id)
             .where(CatalogEntry.resource_code == code))
    return dict(session.execute(query).all())



# ---------------------------------------------------------------- 核验 (verification, R09 / R17)

VERDICTS = {"match": "一致", "no_match": "不一致", "not_found": "无记录"}


def _verify_form(session: Session, actor: Actor, grant_id: int) -> dict:
    """The grant's items as the form's fields, the source's key item first (a verification finds the record by
    it); only the requester department's grants are shown here, as the gateway only serves those."""
    grant = sharing.get_grant(session, actor, grant_id)
    if grant.requester_id != actor.department_id:
        raise NotFound(f"共享授权不存在或无权查看：{grant_id}", field="grant")
    key = session.scalar(select(DataSource.key_item).where(DataSource.entry_id == grant.entry_id))
    items = sorted(views.items_of(session, grant.item_ids), key=lambda item: item["name"] != key)
    return {"grant": grant, "items": items, "key": key}


@router.get("/data/verify", response_class=HTMLResponse)
def verify_form(request: Request, grant: IdQuery, session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/data/verify?grant={grant}")
    try:
        form = _verify_form(session, actor, grant)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return render(request, session, actor, "data_verify.html", **form, typed={}, verdict=None, record=None,
                  can_object=actor.has(*objections.FILE_ROLES))


@router.post("/data/verify", response_class=HTMLResponse)
async def verify_submit(request: Request, grant: int = Form(...), session: Session = SESSION,
                        actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/data/verify?grant={grant}")
    posted, typed = await request.form(), {}
    try:
        form = _verify_form(session, actor, grant)
        typed = {item["name"]: str(posted.get(f"field_{item['name']}", "")).strip() for item in form["items"]}
        fields = tuple((name, value) for name, value in typed.items() if value)
        if not fields:
            raise ValidationFailed("请至少填写一个要核验的信息项（通常是身份证号等主键）", field="fields")
        session.commit()  # a post holds SQLite's write lock: release it, the gateway writes the usage record itself
        outcome = access(request.app.state.db, Caller(actor=actor),
                         Call(Mode.VERIFY, form["grant"].entry.resource_code, grant_id=grant, fields=fields))
    except DomainError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            return error_page(request, session, actor, exc)
        form = _verify_form(session, actor, grant)
        return render(request, session, actor, "data_verify.html", status_code=exc.status_code, **form,
                      typed=typed, verdict=None, record=None, error=exc.message)
    return render(request, session, actor, "data_verify.html", **form, typed=typed,
                  verdict=VERDICTS[outcome.verdict], record=outcome.record_seq,
                  under_verification=outcome.under_verification, can_object=actor.has(*objections.FILE_ROLES))
