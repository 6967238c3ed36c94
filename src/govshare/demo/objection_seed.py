"""Seeds the demo's objections (校核纠错, R13; SCENARIOS §7), after the sharing and the data sources:

- open: 合肥市民政局 finds that 公安 人口基本信息 lists a deceased resident as alive (死亡标识 0): it objects to that
  record with the death certificate number and a scan of the certificate (a PDF); 省公安厅 has 5 working days, and
  meanwhile the record is served with 校核中;
- answered: an earlier objection of 市民政局 to a resident's 户籍地址, which 省公安厅 corrected in its population
  system;
- overdue: 省税务局 objected to an enterprise's establishment date (a year still to come) and 省市场监管局 let the
  deadline pass: the objection is marked late and 省数据局 (the competent authority) is told.

Everything goes through objections.service with the departments' own users."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog.models import CatalogEntry
from govshare.config import settings_of
from govshare.demo import gateway_seed
from govshare.notify.models import Notification
from govshare.objections import service as objections
from govshare.objections.models import Objection, ObjectionEvent
from govshare.orgs.models import Department
from govshare.sharing.models import Grant
from govshare.workdays import service as workdays

STEPS = ("数据核实：死亡人员仍显示为在世（校核中）", "数据核实：户籍地址已更正", "数据核实：企业成立日期逾期未答复")
DEATH_CERTIFICATE = "P340104202611280317"
OVERDUE_DAYS_BACK = 14


def total_steps() -> int:
    return len(STEPS)


def certificate_pdf(number: str) -> bytes:
    """A one-page PDF standing in for the scanned death certificate (its text is the certificate number)."""
    text = f"Death certificate {number}".encode()
    stream = b"BT /F1 14 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number_, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number_} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write(b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets))
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _grant(session: Session, requester: Department, provider: Department, entry_name: str) -> Grant | None:
    return session.scalars(select(Grant).join(CatalogEntry, CatalogEntry.id == Grant.entry_id).where(
        Grant.requester_id == requester.id, Grant.provider_id == provider.id, CatalogEntry.name == entry_name,
        Grant.status == "active")).first()


def seed_objections(session: Session, departments: dict[str, Department], actors: dict[str, Actor],
                    step: Callable[[str], None] | None = None) -> None:
    report = step or (lambda _description: None)
    population = _grant(session, departments["hf_civil"], departments["police"], "人口基本信息")
    alive = [r for r in gateway_seed.residents() if r["SWBS"] == "0" and r["GMSFHM"].startswith("3401")]
    report(STEPS[0])
    if population is not None:
        _deceased_listed_alive(session, actors, population, alive[7]["GMSFHM"])
    report(STEPS[1])
    if population is not None:
        _address_corrected(session, actors, population, alive[3]["GMSFHM"])
    report(STEPS[2])
    enterprise = _grant(session, departments["tax"], departments["market"], "企业登记信息")
    if enterprise is not None:
        _establishment_date_overdue(session, actors, enterprise)
    session.flush()


def _deceased_listed_alive(session: Session, actors: dict[str, Actor], grant: Grant, key: str) -> None:
    requester = actors["hf_civil_requester"]
    items = ["swbs"] if "swbs" in _granted(session, grant) else ["hjdz"]
    objection = objections.file_objection(
        session, requester, grant.id, key, items, {items[0]: "1"} if items == ["swbs"] else {},
        f"低保动态核查中，市卫健委死亡医学证明（编号 {DEATH_CERTIFICATE}）显示该居民已于 2026-11-27 死亡，"
        "人口基本信息仍显示未注销（死亡标识为 0）；附死亡医学证明扫描件。")
    objections.attach_evidence(session, requester, objection.id, f"死亡医学证明{DEATH_CERTIFICATE}.pdf",
                               io.BytesIO(certificate_pdf(DEATH_CERTIFICATE)))


def _address_corrected(session: Session, actors: dict[str, Actor], grant: Grant, key: str) -> None:
    objection = objections.file_objection(
        session, actors["hf_civil_requester"], grant.id, key, ["hjdz"],
        {"hjdz": "安徽省合肥市蜀山区黄山路 318 号 6 栋 1201 室"},
        "入户核查时户主出示的户口簿已迁入新址（2026-10-09 办理迁移），共享数据仍为旧址。")
    objections.answer_objection(session, actors["police_reviewer"], objection.id, "corrected",
                                "经核对户籍迁移记录，已在人口信息管理系统中更正户籍地址，次日同步至共享数据。")


def _establishment_date_overdue(session: Session, actors: dict[str, Actor], grant: Grant) -> None:
    key = gateway_seed.enterprises()[gateway_seed.FUTURE_ESTABLISHMENT]["统一社会信用代码"]
    objection = objections.file_objection(
        session, actors["tax_requester"], grant.id, key, ["clrq"], {},
        "新办纳税人信息确认时发现该企业成立日期为 2103-05-12，晚于当前日期，应为录入错误；"
        "请核实营业执照载明的成立日期。")
    _backdate(session, objection, OVERDUE_DAYS_BACK)
    objections.mark_overdue(session, workdays.local_today(session))


def _granted(session: Session, grant: Grant) -> set[str]:
    return set(objections.granted_names(session, grant))


def _backdate(session: Session, objection: Objection, days: int) -> None:
    """Moves an objection filed today `days` calendar days back, its deadline counted again from then."""
    delta = timedelta(days=days)
    objection.created_at -= delta
    filed = workdays.day_in_zone(settings_of(session).timezone, objection.created_at)
    due = workdays.deadline(session, filed, settings_of(session).objection_working_days)
    objection.due, objection.due_estimated = due.due, due.estimated
    for event in session.scalars(select(ObjectionEvent).where(ObjectionEvent.objection_id == objection.id)):
        event.created_at -= delta
    for note in session.scalars(select(Notification).where(Notification.link == f"/objections/{objection.id}")):
        note.created_at -= delta
    session.flush()
