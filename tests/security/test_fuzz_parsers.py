"""The parsers a department user's file goes through never fail with anything but a refusal of the file
(ValidationFailed, a 4xx naming it) or a refusal of the row (a rejected row in the report, a bad row in the load
report), and the good rows are kept (R03, R18): the catalog importer (govshare/catalog/importer.py) and the data
file readers of sources (govshare/gateway/connect.py: read_csv, read_xlsx, read_parquet, read_header, the header
check). Anything else (a ParseError, an ArrowInvalid, a UnicodeError, an IndexError …) would be a 500 to the user
and, for a worker, a crash.

Hypothesis draws arbitrary bytes for whole files, arbitrary text for cells and names, and mutations of real files
(a real workbook's XML cut or changed, a real CSV with hostile rows in the middle)."""

from __future__ import annotations

import csv
import functools
import io
import json
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from govshare.catalog import importer
from govshare.catalog.models import CatalogEntry
from govshare.errors import DomainError, ValidationFailed
from govshare.gateway import connect

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CELLS = st.text(max_size=40)  # any code point but surrogates: NUL, quotes, line breaks, U+FFFD, RTL marks …
HOSTILE_BYTES = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda head, tail: head + tail,
              st.sampled_from([b"PK\x03\x04", b"PAR1", b"\xef\xbb\xbf", b"\xff\xfe", b"GMSFHM,XM\n", b'"unclosed,']),
              st.binary(max_size=200)),
)


def _file(content: bytes, suffix: str) -> Path:
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as handle:
        handle.write(content)
    return Path(handle.name)


def _refused_or_read(read, path: Path):
    """The reader's result, or None when it refused the file as the platform refuses files."""
    try:
        return read(path)
    except ValidationFailed as refused:
        assert refused.status_code == 422 and refused.field in ("file", "items"), refused
        return None
    finally:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- the data file readers (sources)


@FAST
@given(content=HOSTILE_BYTES)
@example(content=b"GMSFHM,XM\n\x00\x00\x00\n")
@example(content=b"GMSFHM,,XM\n1,2,3\n")
@example(content="GMSFHM,XM\n1,\ufffd\n".encode())
@example(content=b'GMSFHM,XM\n"a\nb",c\n"unclosed\n')
@example(content="\u202eGMSFHM,XM\n1,2\n".encode("gb18030"))
def test_r18_the_csv_reader_refuses_or_reads_any_bytes(content):
    loaded = _refused_or_read(connect.read_csv, _file(content, ".csv"))
    if loaded is not None:
        assert connect.ROW in loaded.table.column_names
        assert loaded.rows_read == loaded.table.num_rows + loaded.refused


@FAST
@given(content=HOSTILE_BYTES)
@example(content=b"PAR1PAR1")
def test_r18_the_parquet_reader_refuses_or_reads_any_bytes(content):
    _refused_or_read(connect.read_parquet, _file(content, ".parquet"))
    _refused_or_read(lambda p: connect.read_header(p, "parquet"), _file(content, ".parquet"))


@FAST
@given(content=HOSTILE_BYTES)
@example(content=b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
def test_r18_the_xlsx_reader_refuses_or_reads_any_bytes(content):
    _refused_or_read(connect.read_xlsx, _file(content, ".xlsx"))
    _refused_or_read(lambda p: connect.read_header(p, "xlsx"), _file(content, ".xlsx"))


@FAST
@given(header=st.lists(CELLS, max_size=8))
@example(header=["a", "a"])
@example(header=["", "b"])
@example(header=[connect.ROW])
def test_r18_the_header_check_names_the_problem_or_passes(header):
    try:
        names = connect._check_header(header)
    except ValidationFailed as refused:
        assert refused.field == "file"
        return
    assert names == [h.strip() for h in header] and len(set(names)) == len(names) and all(names)


@FAST
@given(columns=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                min_size=1, max_size=10), min_size=1, max_size=4, unique=True),
       cells=st.lists(CELLS, max_size=24))
def test_r18_a_parquet_file_of_any_text_is_read_as_text(columns, cells):
    names = [f"C{i}_{name}" for i, name in enumerate(columns)]
    table = pa.table({name: pa.array(cells, pa.string()) for name in names})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    loaded = _refused_or_read(connect.read_parquet, _file(buffer.getvalue(), ".parquet"))
    if loaded is not None:  # the names as the header check keeps them (stripped), the cells as written
        assert loaded.table.column(0).to_pylist() == cells


GOOD_ROWS = [{"GMSFHM": f"34010419900101{n:03d}X", "XM": f"王某{n}", "XZQH": "340104"} for n in range(6)]


@FAST
@given(hostile=st.lists(st.lists(CELLS, min_size=0, max_size=5), max_size=6), where=st.integers(0, 6))
@example(hostile=[["\x00", "\x00", "\x00"]], where=3)
@example(hostile=[["a", "b"]], where=0)
@example(hostile=[["", "", ""]], where=6)
def test_r18_good_rows_of_a_csv_are_kept_whatever_rows_are_among_them(hostile, where):
    """Hostile rows (any text in any number of cells, properly quoted) among good ones: the reader reads the file,
    every good row is in the table as written, and the hostile rows are in it or refused row by row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["GMSFHM", "XM", "XZQH"])
    rows = [[r["GMSFHM"], r["XM"], r["XZQH"]] for r in GOOD_ROWS]
    for row in rows[:where]:
        writer.writerow(row)
    for row in hostile:
        writer.writerow(row)
    for row in rows[where:]:
        writer.writerow(row)
    loaded = _refused_or_read(connect.read_csv, _file(out.getvalue().encode("utf-8"), ".csv"))
    if loaded is None:  # only a file whose hostile text cannot be UTF-8 or GB18030 at all is refused whole
        assert any("\x00" in cell or any(0xD800 <= ord(ch) <= 0xDFFF for ch in cell) for r in hostile for cell in r)
        return
    read = list(zip(loaded.table.column("GMSFHM").to_pylist(), loaded.table.column("XM").to_pylist(), strict=True))
    for row in GOOD_ROWS:
        assert (row["GMSFHM"], row["XM"]) in read, row


@functools.cache
def _real_workbook() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in [["GMSFHM", "XM"], ["340104199001010011", "王某"], ["340104199001010022", "李某"]]:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _workbook_with_sheet(rewrite) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(_real_workbook()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for member in source.infolist():
            data = source.read(member.filename)
            archive.writestr(member, rewrite(data) if member.filename == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


ENTITY_BOMB = (b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa">'
               + b"".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode()
                          for p, c in zip("abcdefgh", "bcdefghi", strict=True))
               + b"]>")
BROKEN_SHEETS = {
    "cut in half": lambda data: data[: len(data) // 2],
    "a stray byte in a tag": lambda data: data.replace(b"<sheetData>", b"<sheetData\x01>"),
    "an entity bomb (stopped by expat)": lambda data: ENTITY_BOMB + data.split(b"?>", 1)[-1].replace(
        b"<t>GMSFHM</t>", b"<t>&i;</t>"),
}


@pytest.mark.parametrize("broken", list(BROKEN_SHEETS))
def test_r18_a_workbook_with_broken_sheet_xml_is_refused_as_a_file(broken):
    content = _workbook_with_sheet(BROKEN_SHEETS[broken])
    _refused_or_read(connect.read_xlsx, _file(content, ".xlsx"))
    _refused_or_read(lambda p: connect.read_header(p, "xlsx"), _file(content, ".xlsx"))


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(0, 3000), junk=st.binary(max_size=4))
@example(cut=300, junk=b"")
def test_r03_the_catalog_importer_refuses_a_workbook_with_broken_sheet_xml_as_a_file(cut, junk):
    """The importer's side of the case above: any cut or stray bytes in the worksheet's XML are a 422 naming the
    file (importer.read_xlsx wraps whatever openpyxl raises)."""
    content = _workbook_with_sheet(lambda data: data[:cut] + junk + data[cut + len(junk):])
    _refused_or_read(importer.read_source, _file(content, ".xlsx"))


@pytest.mark.parametrize("broken", list(BROKEN_SHEETS))
def test_r03_the_catalog_importer_refuses_the_broken_workbooks_as_files(broken):
    with pytest.raises(ValidationFailed) as refused:
        importer.read_source(_file(_workbook_with_sheet(BROKEN_SHEETS[broken]), ".xlsx"))
    assert refused.value.field == "file"


# ---------------------------------------------------------------- the catalog importer


@FAST
@given(text=st.text(max_size=400))
@example(text='目录名称\n"unclosed')
@example(text="目录名称\n" + "x" * 200_000)
@example(text="\x00,\x00\n")
def test_r03_the_catalog_csv_reader_refuses_or_reads_any_text(text):
    try:
        table = importer.read_csv_text(text)
    except ValidationFailed as refused:
        assert refused.field == "file"
        return
    assert all(isinstance(number, int) for number, _row in table.rows)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=30)


@FAST
@given(content=st.one_of(HOSTILE_BYTES, JSON_VALUES.map(lambda v: json.dumps(v).encode())))
@example(content=b"[" * 5000 + b"]" * 5000)
@example(content=b'{"a": [], "b": []}')
@example(content=b'[1, "x", null, [[]]]')
def test_r03_the_catalog_json_reader_refuses_or_reads_any_bytes(content):
    try:
        table = importer.read_json_bytes(content)
    except ValidationFailed as refused:
        assert refused.field == "file"
        return
    assert all(isinstance(row, dict) for _number, row in table.rows)


@FAST
@given(content=HOSTILE_BYTES, suffix=st.sampled_from([".csv", ".json", ".xlsx", ".xlsm"]))
def test_r03_the_catalog_file_reader_refuses_or_reads_any_bytes(content, suffix):
    _refused_or_read(importer.read_source, _file(content, suffix))


IMPORT_HEADER = ["目录名称", "提供部门", "分类代码", "摘要", "数据格式", "共享类型", "共享条件", "共享方式", "更新周期",
                 "信息项"]


def _good_row(n: int) -> list[str]:
    return [f"良好目录{n}", "省公安厅", "101", "全省户籍人口", "数据库", "无条件共享", "", "接口", "每日", "姓名"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(hostile=st.lists(st.lists(st.one_of(CELLS, st.sampled_from(["省公安厅", "省民政厅", "101", "数据库", "每日"])),
                                 min_size=len(IMPORT_HEADER), max_size=len(IMPORT_HEADER)), min_size=1, max_size=4),
       where=st.integers(0, 3))
@example(hostile=[["\x00目录", *_good_row(9)[1:]]], where=1)
@example(hostile=[["恶意目录", "省民政厅", *_good_row(9)[2:]]], where=0)
def test_r03_an_import_keeps_its_good_rows_and_rejects_hostile_ones_row_by_row(db, world, hostile, where):
    """A catalog manager's CSV: three good rows and hostile rows (any text in any column) among them. The import
    answers a report (it never fails as a whole), every good row is created, and every rejected row is one of the
    hostile rows, named by its row number. Rolled back after each example."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_HEADER)
    good = [_good_row(n) for n in range(3)]
    lines = [*good[:where], *hostile, *good[where:]]
    for line in lines:
        writer.writerow(line)
    hostile_numbers = {n + 2 for n, line in enumerate(lines) if line in hostile}  # file line numbers (header is 1)
    path = _file(out.getvalue().encode("utf-8"), ".csv")
    try:
        with db.session() as s:
            try:
                report = importer.import_file(s, world.actors["police_manager"], path, name="目录.csv")
                names = set(s.scalars(select(CatalogEntry.name)))
            except DomainError as refused:
                raise AssertionError(f"the whole import failed: {refused.code} {refused.message}") from refused
            finally:
                s.rollback()
    finally:
        path.unlink(missing_ok=True)
    assert {row[0] for row in good} <= names
    assert {problem["row"] for problem in report.rejected} <= hostile_numbers, report.rejected
    assert report.created >= len(good)
