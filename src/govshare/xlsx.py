"""Reading uploaded XLSX worksheets by the cells they hold (the catalog import and source files).

openpyxl's read-only worksheet pads what it yields: `iter_rows` gives every row from 1 to the last one
(a row of Nones for each row the file does not have) and every row as wide as the sheet's `<dimension>`
says, or as its last cell. A workbook of a few kilobytes with one cell at XFD1048576 thus unfolds to
1.7e10 cells, and a row number far beyond Excel's (the XML says any) to more. `sheet_rows` reads the
same XML with openpyxl's own worksheet parser (the one `iter_rows` uses, so values, shared strings and
dates come out the same) but yields only the rows the file has, each as the cells it has: the work is
proportional to the file, and a row's number is its row in the sheet.

Anything that keeps a sheet from being read (not a zip, not a workbook, broken XML, an entity bomb that
expat stops, a cell outside the format's range) is the file's error: ValidationFailed naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from govshare.errors import DomainError, ValidationFailed

MAX_ROW = 1_048_576  # the format's limits (Excel, WPS, LibreOffice)
MAX_COLUMN = 16_384  # XFD
BROKEN = "无法读取 XLSX 文件：文件已损坏或不是有效的工作簿"

Cells = list[tuple[int, object]]  # (1-based column, value) of the cells with a value, in the file's order


def open_workbook(path: Path, field: str = "file", message: str = BROKEN):
    """The workbook in openpyxl's read-only mode (close it after use)."""
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # not a zip, not a workbook, a part missing: openpyxl raises many kinds
        raise ValidationFailed(message, field=field) from exc


def sheet_rows(workbook, sheet: str | None = None, field: str = "file",
               message: str = BROKEN) -> Iterator[tuple[int, Cells]]:
    """(the row's number in the sheet, its cells) for each row the worksheet `sheet` (default: the first)
    holds, in order; a row without any value may be among them. Rows the file leaves out are not yielded
    and no row is padded. A broken sheet is a ValidationFailed naming `field` (`message`, with what is
    wrong when that can be said), raised when it is reached."""
    from openpyxl.worksheet._reader import WorkSheetParser

    try:
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        with worksheet._get_source() as source:
            # as openpyxl's ReadOnlyWorksheet._cells_by_row sets it up, without its padding
            parser = WorkSheetParser(source, worksheet._shared_strings, data_only=workbook.data_only,
                                     epoch=workbook.epoch, date_formats=workbook._date_formats,
                                     timedelta_formats=workbook._timedelta_formats)
            previous = 0
            for number, parsed in parser.parse():
                if number > MAX_ROW:
                    raise _out_of_range(field, message)
                if number <= previous:  # openpyxl would drop such a row silently; no spreadsheet writes one
                    raise ValidationFailed(f"{message}；第 {number} 行重复或顺序错乱", field=field)
                previous = number
                cells = [(cell["column"], cell["value"]) for cell in parsed if cell["value"] is not None]
                if any(column > MAX_COLUMN for column, _value in cells):
                    raise _out_of_range(field, message)
                yield number, cells
    except DomainError:
        raise
    except Exception as exc:  # broken XML (ParseError), a bad shared-string index or date, a chart sheet …
        raise ValidationFailed(message, field=field) from exc


def _out_of_range(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{message}；单元格超出工作表范围（最多 {MAX_ROW} 行、{MAX_COLUMN} 列）", field=field)


def dense(cells: Cells, width: int = MAX_COLUMN) -> list:
    """The cells as a row of values from column 1 to the last cell (at most `width`), None where empty."""
    kept = [(column, value) for column, value in cells if column <= width]
    row: list = [None] * max((column for column, _value in kept), default=0)
    for column, value in kept:
        row[column - 1] = value
    return row
