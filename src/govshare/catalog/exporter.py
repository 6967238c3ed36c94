"""Export of the catalog in the standard format: sheet 目录 (one row per entry, a Chinese header for
every R03 field) and sheet 信息项 (资源代码 + the item columns); as CSV, NAME.csv and NAME.items.csv.
The import reads both back (catalog.importer). Text cells a spreadsheet would run as a formula are
neutralized (govshare.spreadsheet; the import restores them)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session, selectinload

from govshare.authz import Actor
from govshare.catalog import service
from govshare.catalog.mapping import standard_headers
from govshare.catalog.models import CatalogEntry
from govshare.catalog.vocab import (
    DataFormat,
    EntryStatus,
    Grade,
    ItemType,
    OpenAttribute,
    PersonalInfo,
    ShareMethod,
    ShareType,
    UpdateCycle,
)
from govshare.errors import ValidationFailed
from govshare.orgs.models import LEVEL_LABELS, Level
from govshare.spreadsheet import neutralize_row

ENTRY_SHEET = "目录"
ITEM_SHEET = "信息项"
ITEMS_CSV_SUFFIX = ".items.csv"
ENTRY_FIELDS = [
    "resource_code", "classification_code", "name", "provider", "provider_code", "provider_region",
    "provider_level", "abstract", "data_format", "share_type", "share_condition", "share_method", "legal_basis",
    "open_attribute", "open_condition", "update_cycle", "publish_date", "data_updated_at", "related_codes",
    "source_system", "grade", "theme", "tags", "url", "status", "version",
]
ITEM_FIELDS = ["resource_code", "position", "name", "chinese_name", "data_type", "length", "description", "grade",
               "personal_info"]
_LABELS = {
    "data_format": DataFormat, "share_type": ShareType, "share_method": ShareMethod, "open_attribute": OpenAttribute,
    "update_cycle": UpdateCycle, "grade": Grade,
}
_ITEM_LABELS = {"data_type": ItemType, "grade": Grade, "personal_info": PersonalInfo}
EXPORT_BATCH = 500
UNKNOWN_DATE = "未知"  # an update date nobody gave (an import without one); read back as unknown by the importer


def entry_headers() -> list[str]:
    labels = standard_headers("entry")
    return [labels[f] for f in ENTRY_FIELDS]


def item_headers() -> list[str]:
    labels = standard_headers("item")
    return [labels[f] for f in ITEM_FIELDS]


def _label(enum_cls, value: str) -> str:
    try:
        return enum_cls(value).label
    except ValueError:
        return value


def entry_row(entry: CatalogEntry) -> list:
    """The entry's cells, neutralized (govshare.spreadsheet: every export may be opened in a spreadsheet)."""
    provider = entry.provider
    values = {
        "resource_code": entry.resource_code,
        "classification_code": entry.classification_code,
        "name": entry.name,
        "provider": provider.name,
        "provider_code": provider.uscc or "",
        "provider_region": provider.region_code,
        "provider_level": LEVEL_LABELS.get(Level(provider.level), provider.level) if provider.level else "",
        "abstract": entry.abstract,
        "share_condition": entry.share_condition,
        "legal_basis": entry.legal_basis,
        "open_condition": entry.open_condition,
        "publish_date": entry.publish_date.isoformat() if entry.publish_date else "",
        "data_updated_at": entry.data_updated_at.date().isoformat() if entry.data_updated_at else UNKNOWN_DATE,
        "related_codes": ";".join(entry.related_codes or []),
        "source_system": entry.source_system,
        "theme": entry.theme,
        "tags": entry.tags,
        "url": entry.source_url,
        "status": EntryStatus(entry.status).label,
        "version": entry.version,
    }
    for field, enum_cls in _LABELS.items():
        values[field] = _label(enum_cls, getattr(entry, field))
    return neutralize_row([values[f] for f in ENTRY_FIELDS])


def item_rows(entry: CatalogEntry) -> Iterator[list]:
    """The cells of the entry's items, neutralized; position and length stay numbers."""
    for position, item in enumerate(entry.items, start=1):
        values = {
            "resource_code": entry.resource_code, "position": position, "name": item.name,
            "chinese_name": item.chinese_name, "length": item.length if item.length is not None else "",
            "description": item.description,
        }
        for field, enum_cls in _ITEM_LABELS.items():
            values[field] = _label(enum_cls, getattr(item, field))
        yield neutralize_row([values[f] for f in ITEM_FIELDS])


def entries_to_export(session: Session, actor: Actor, status: str | None = None) -> Iterator[CatalogEntry]:
    """What the actor may read (service.readable_entries), in resource code order, loaded in batches."""
    query = service.readable_entries(actor).options(selectinload(CatalogEntry.items)).order_by(CatalogEntry.id)
    if status:
        query = query.where(CatalogEntry.status == status)
    last_id = 0
    while True:
        batch = list(session.scalars(query.where(CatalogEntry.id > last_id).limit(EXPORT_BATCH)))
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id


def export_xlsx(session: Session, actor: Actor, out: Path | io.BytesIO, *, status: str | None = None) -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    entries_sheet = workbook.create_sheet(ENTRY_SHEET)
    items_sheet = workbook.create_sheet(ITEM_SHEET)
    entries_sheet.append(entry_headers())
    items_sheet.append(item_headers())
    count = 0
    for entry in entries_to_export(session, actor, status):
        entries_sheet.append(entry_row(entry))
        for row in item_rows(entry):
            items_sheet.append(row)
        count += 1
    workbook.save(out)
    return count


def export_csv(session: Session, actor: Actor, entries_out: io.TextIOBase, items_out: io.TextIOBase, *,
               status: str | None = None) -> int:
    entries_writer, items_writer = csv.writer(entries_out), csv.writer(items_out)
    entries_writer.writerow(entry_headers())
    items_writer.writerow(item_headers())
    count = 0
    for entry in entries_to_export(session, actor, status):
        entries_writer.writerow(entry_row(entry))
        items_writer.writerows(item_rows(entry))
        count += 1
    return count


def items_csv_path(path: Path) -> Path:
    """OUT.csv -> OUT.items.csv, the items file the CSV import looks for beside the entries file."""
    return path.with_name(path.name[: -len(path.suffix)] + ITEMS_CSV_SUFFIX)


def parse_status(status: str | None) -> str | None:
    if not status:
        return None
    member = EntryStatus.parse(status)
    if member is None:
        allowed = "/".join(f"{m.value}（{m.label}）" for m in EntryStatus)
        raise ValidationFailed(f"目录状态无效：{status}（可选：{allowed}）", field="status")
    return member.value


def export_file(session: Session, actor: Actor, path: str | Path, *, status: str | None = None) -> list[Path]:
    """Writes OUT.xlsx, or OUT.csv plus OUT.items.csv; returns the files written."""
    path = Path(path)
    suffix = path.suffix.lower()
    status = parse_status(status)
    if suffix == ".xlsx":
        export_xlsx(session, actor, path, status=status)
        return [path]
    if suffix == ".csv":
        items_path = items_csv_path(path)
        # utf-8-sig: Excel opens the files with the right encoding
        with path.open("w", encoding="utf-8-sig", newline="") as entries_out, \
                items_path.open("w", encoding="utf-8-sig", newline="") as items_out:
            export_csv(session, actor, entries_out, items_out, status=status)
        return [path, items_path]
    raise ValidationFailed(f"不支持的导出格式：{path.suffix}（支持 .xlsx、.csv）", field="format")
