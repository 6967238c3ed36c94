"""Catalog routes (thin: every rule is in catalog.service)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog import service
from govshare.catalog.schemas import EntryIn, EntryOut, EventOut, ReasonIn, RevisionIn, RevisionOut
from govshare.deps import SESSION, current_actor

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])


@router.get("/entries", response_model=list[EntryOut])
def list_entries(
    status: str | None = None,
    provider_id: int | None = None,
    stale: bool | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    entries = service.list_entries(session, actor, status=status, provider_id=provider_id, stale=stale,
                                   limit=limit, offset=offset)
    return [service.to_out(e) for e in entries]


@router.post("/entries", response_model=EntryOut, status_code=201)
def create_entry(body: EntryIn, provider_id: int | None = None, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return service.to_out(service.create_entry(session, actor, body, provider_id=provider_id))


@router.get("/entries/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.to_out(service.get_entry(session, actor, entry_id))


@router.put("/entries/{entry_id}", response_model=EntryOut)
def update_entry(entry_id: int, body: EntryIn, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return service.to_out(service.update_entry(session, actor, entry_id, body))


@router.post("/entries/{entry_id}/submit", response_model=EntryOut)
def submit_entry(entry_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.to_out(service.submit_entry(session, actor, entry_id))


@router.post("/entries/{entry_id}/publish", response_model=EntryOut)
def publish_entry(entry_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.to_out(service.publish_entry(session, actor, entry_id))


@router.post("/entries/{entry_id}/return", response_model=EntryOut)
def return_entry(entry_id: int, body: ReasonIn, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return service.to_out(service.return_entry(session, actor, entry_id, body.reason))


@router.post("/entries/{entry_id}/data-updated", response_model=EntryOut)
def mark_data_updated(entry_id: int, actor: Actor = Depends(current_actor),
                      session: Session = SESSION):
    return service.to_out(service.mark_data_updated(session, actor, entry_id))


@router.get("/entries/{entry_id}/history", response_model=list[EventOut])
def entry_history(entry_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [
        EventOut(id=e.id, action=e.action, version=e.version, reason=e.reason,
                 actor=e.actor.username if e.actor else "system", created_at=e.created_at)
        for e in service.history(session, actor, entry_id)
    ]


@router.get("/entries/{entry_id}/versions/{version}")
def entry_version(entry_id: int, version: int, actor: Actor = Depends(current_actor),
                  session: Session = SESSION) -> dict:
    return service.published_version(session, actor, entry_id, version)


@router.get("/entries/{entry_id}/revisions", response_model=list[RevisionOut])
def list_revisions(entry_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.list_revisions(session, actor, entry_id)


@router.post("/entries/{entry_id}/revisions", response_model=RevisionOut, status_code=201)
def propose_revision(entry_id: int, body: RevisionIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return service.propose_revision(session, actor, entry_id, body.entry, body.reason,
                                    due_to_law_change=body.due_to_law_change)


@router.post("/revisions/{revision_id}/approve", response_model=EntryOut)
def approve_revision(revision_id: int, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return service.to_out(service.approve_revision(session, actor, revision_id))


@router.post("/revisions/{revision_id}/return", response_model=RevisionOut)
def return_revision(revision_id: int, body: ReasonIn, actor: Actor = Depends(current_actor),
                    session: Session = SESSION):
    return service.return_revision(session, actor, revision_id, body.reason)


@router.post("/import")
def import_catalog(
    file: UploadFile = File(..., description="目录文件：.xlsx、.csv 或 .json"),
    items: UploadFile | None = File(None, description="CSV 导入时的信息项文件（NAME.items.csv）"),
    mapping: str | None = Form(None, description='列映射 JSON：{"目标字段": "源列名"}'),
    publish: bool = Form(False, description="按已发布目录导入（仅节点运维）"),
    region_code: str | None = Form(None, description="新建提供部门的行政区划代码，默认为本部门的"),
    level: str | None = Form(None),
    default_provider: str | None = Form(None),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
) -> dict:
    """Imports a catalog file; the report lists every rejected row with its column and rule."""
    from govshare.catalog import importer

    report = importer.import_upload(
        session, actor, file.filename, file.file, items_name=items.filename if items else None,
        items_stream=items.file if items else None, mapping_json=mapping, publish=publish,
        region_code=region_code, level=level, default_provider=default_provider)
    return report.to_dict()


@router.get("/export")
def export_catalog(
    format: str = Query("xlsx", pattern="^(xlsx|csv)$"),
    status: str | None = None,
    part: str = Query("entries", pattern="^(entries|items)$", description="CSV: entries 目录 或 items 信息项"),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
) -> Response:
    """The catalog the caller may read, in the standard format (the import reads it back)."""
    import io

    from govshare.catalog import exporter

    status = exporter.parse_status(status)
    if format == "xlsx":
        buffer = io.BytesIO()
        exporter.export_xlsx(session, actor, buffer, status=status)
        return Response(buffer.getvalue(), headers={"Content-Disposition": 'attachment; filename="catalog.xlsx"'},
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    entries_out, items_out = io.StringIO(), io.StringIO()
    exporter.export_csv(session, actor, entries_out, items_out, status=status)
    filename = "catalog.csv" if part == "entries" else "catalog.items.csv"
    text = (entries_out if part == "entries" else items_out).getvalue()
    return Response(("\ufeff" + text).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

