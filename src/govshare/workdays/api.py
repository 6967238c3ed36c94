"""Routes of the working-day calendar (thin: every rule is in workdays.service)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.workdays import service
from govshare.workdays.schemas import DayIn, DayOut, DeadlineOut, ImportIn, ImportOut, ParsedDayOut, YearStatusOut

router = APIRouter(prefix="/api/v1/calendar", tags=["workdays"])

YEARS = f"{service.MIN_YEAR}–{service.MAX_YEAR}"
Day = Annotated[date, Path(description=f"日期 YYYY-MM-DD（{YEARS} 年）")]


@router.get("/days", response_model=list[DayOut], summary="节假日表",
            description="管理员维护的放假和调休上班日，按日期排序。")
def list_days(year: int | None = Query(None, ge=service.MIN_YEAR, le=service.MAX_YEAR, description=f"年份（{YEARS}）"),
              actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [service.day_view(session, row) for row in service.list_days(session, year)]


@router.put("/days/{day}", response_model=DayOut, summary="设定节假日或调休上班日",
            description="平台管理员设定某日放假或上班；工作日按此计算答复等期限（R07 工作日按国家法定节假日）。")
def set_day(day: Day, body: DayIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    row = service.set_day(session, actor, day, body.is_workday, body.name, body.source)
    return service.day_view(session, row)


@router.delete("/days/{day}", status_code=204, summary="删除节假日设定",
               description="平台管理员删除某日的设定，该日回到 chinese-calendar 或周一至周五的算法（R07 工作日）。")
def remove_day(day: Day, actor: Actor = Depends(current_actor), session: Session = SESSION):
    service.remove_day(session, actor, day)
    return Response(status_code=204)


@router.post("/import", response_model=ImportOut, summary="导入节假日安排",
             description="平台管理员导入国务院办公厅节假日安排通知的全文，或“日期,放假/上班,名称”的 CSV（R07 工作日）；"
                         "通知中未提到的日期保留。")
def import_days(body: ImportIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    result = service.import_text(session, actor, body.text, body.format, body.year, body.source)
    return ImportOut(created=result.created, updated=result.updated, unchanged=result.unchanged,
                     source=result.source,
                     days=[ParsedDayOut(day=d.day, is_workday=d.is_workday, name=d.name) for d in result.days])


@router.get("/deadline", response_model=DeadlineOut, summary="计算工作日期限",
            description="从某日起数若干个工作日的到期日；没有日历知道的年份按周一至周五估算并提示（R07）。")
def preview_deadline(
    start: date = Query(description=f"起算日 YYYY-MM-DD（{YEARS} 年）"),
    days: int = Query(ge=0, le=service.MAX_PREVIEW_DAYS, description=f"工作日数（0–{service.MAX_PREVIEW_DAYS}）"),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    result = service.preview_deadline(session, start, days)
    return DeadlineOut(start=start, working_days=days, due=result.due, estimated=result.estimated,
                       warning=result.warning)


@router.get("/years/{year}", response_model=YearStatusOut, summary="某年的日历来源",
            description="该年的节假日由谁给出：管理员节假日表、chinese-calendar，或未知（按周一至周五估算）。")
def year_status(year: Annotated[int, Path(ge=service.MIN_YEAR, le=service.MAX_YEAR, description=f"年份（{YEARS}）")],
                actor: Actor = Depends(current_actor), session: Session = SESSION):
    status = service.year_status(session, year)
    return YearStatusOut(year=status.year, known_by=status.known_by, label=status.label,
                         admin_days=status.admin_days, package_known=status.package_known,
                         estimated=status.estimated, warning=status.warning)
