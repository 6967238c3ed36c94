"""Builders for objections (校核纠错, R13) in the registry tests (authorization cases, IDOR, CSRF, pages, CLI): a
grant of 省民政厅 to object on, an objection filed on it, and real evidence files (PNG, PDF) as a clerk scans them."""

from __future__ import annotations

import io
import struct
import zlib

from sqlalchemy.orm import Session

from govshare.demo.objection_seed import certificate_pdf
from govshare.objections import service as objections
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from tests.factories import World, submitted_request

KEY = "340104198001010013"  # the record objected to (a 公民身份号码 shape)
EVIDENCE = "死亡医学证明（编号 P340104202400123）载明该居民已于 2024 年 3 月死亡"


def png_bytes() -> bytes:
    """A real 1×1 grey PNG: signature, IHDR, IDAT, IEND, each chunk with its CRC."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


PNG = png_bytes()
PDF = certificate_pdf("P340104202400123")  # the demo's stand-in for a scanned death certificate


def granted(session: Session, world: World, entry=None, system=None) -> int:
    """省民政厅's active grant for 省公安厅's 人口基本信息 (all items): the grant id."""
    request = submitted_request(session, world, entry=entry, **({"system": system} if system else {}))
    sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
    session.flush()
    return sharing.grant_of(session, request.id).id


def filed(session: Session, world: World, grant_id: int, *, key: str = KEY, items: tuple[str, ...] = ("csrq",),
          evidence_file: bytes | None = None, who: str = "civil_requester") -> int:
    """An open objection of 省民政厅 on a record of the grant (with a PNG evidence file if given): its id."""
    actor = world.actors[who]
    objection = objections.file_objection(session, actor, grant_id, key, list(items),
                                          {items[0]: "1949-12-30"}, EVIDENCE)
    if evidence_file is not None:
        objections.attach_evidence(session, actor, objection.id, "死亡医学证明.png", io.BytesIO(evidence_file))
    session.flush()
    return objection.id


def lead_source(session: Session, entry_id: int, items: tuple[str, ...], department_id: int) -> None:
    """一数一源 (R06): the entry's `items` clustered with the lead source named, as the competent authority names it
    (the department an objection to those items may be forwarded to)."""
    from sqlalchemy import select

    from govshare.catalog.models import DataItem, SourceCluster, SourceClusterMember

    found = session.scalars(select(DataItem).where(DataItem.entry_id == entry_id, DataItem.name.in_(items))).all()
    cluster = SourceCluster(key=f"test|{entry_id}|{'|'.join(items)}|{department_id}", label="、".join(items),
                            data_type="string", lead_department_id=department_id, lead_reason="法定采集部门")
    cluster.members = [SourceClusterMember(data_item_id=item.id, department_id=item.entry.provider_id)
                       for item in found]
    session.add(cluster)
    session.flush()

