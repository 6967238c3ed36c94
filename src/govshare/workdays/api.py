"""Routes of the working-day calendar (thin: every rule is in workdays.service)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.workdays import service
from govshare.workdays.schemas import DayIn, DayOut, DeadlineOut, ImportIn, ImportOut, ParsedDayOut, YearStatusOut

router = APIRouter(prefix="/api/v1/calendar", tags=["workdays"])


@router.get("/days", response_model=list[DayOut])
def list_days(year: int | None = Query(None, ge=service.MIN_YEAR, le=service.MAX_YEAR),
              actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [service.day_view(session, row) for row in service.list_days(session, year)]


@router.put("/days/{day}", response_model=DayOut)
def set_day(day: date, body: DayIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    row = service.set_day(session, actor, day, body.is_workday, body.name, body.source)
    return service.day_view(session, row)


@router.delete("/days/{day}", status_code=204)
def remove_day(day: date, actor: Actor = Depends(current_actor), session: Session = SESSION):
    service.remove_day(session, actor, day)
    return Response(status_code=204)


@router.post("/import", response_model=ImportOut)
def import_days(body: ImportIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    result = service.import_text(session, actor, body.text, body.format, body.year, body.source)
    return ImportOut(created=result.created, updated=result.updated, unchanged=result.unchanged,
                     source=result.source,
                     days=[ParsedDayOut(day=d.day, is_workday=d.is_workday, name=d.name) for d in result.days])


@router.get("/deadline", response_model=DeadlineOut)
def preview_deadline(start: date, days: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    result = service.preview_deadline(session, start, days)
    return DeadlineOut(start=start, working_days=days, due=result.due, estimated=result.estimated,
                       warning=result.warning)


@router.get("/years/{year}", response_model=YearStatusOut)
def year_status(year: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    status = service.year_status(session, year)
    return YearStatusOut(year=status.year, known_by=status.known_by, label=status.label,
                         admin_days=status.admin_days, package_known=status.package_known,
                         estimated=status.estimated, warning=status.warning)
