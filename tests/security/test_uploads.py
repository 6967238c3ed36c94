"""Uploads (R18; DESIGN: nobody but the platform admin names something the server will open): the two routes that
take a file from a department user — a provider's data file (POST /api/v1/sources/file and the page
/sources/{id}/file) and a catalog file (POST /api/v1/catalog/import and the page /catalog/import) — with hostile
file names (path traversal, absolute and Windows paths, NUL, very long names, Unicode tricks), content that is not
what its name says, and workbooks built to make the reader work without end. Each is refused (4xx, never a 500) or
stored safely: the data file only inside the managed store (data_dir/sources/<entry>/), the catalog file nowhere
(it is read from a temporary folder that is removed), no file anywhere else, and the name kept as a display name
only (its last path part).

The catalog import's own hostile files (".", "..", "/", 300-character names, deep JSON, 5,000-digit numbers,
empty files, junk as .xlsx, 200,000 columns, over-long cells, an upload over its 64 MB limit) are
tests/test_api_contract_catalog.py (test_r03_a_file_the_import_cannot_read_is_422_and_stores_nothing,
test_r03_an_upload_over_the_size_limit_is_413, test_r03_file_names_follow_one_rule)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from govshare.catalog import importer
from govshare.catalog.models import CatalogEntry
from govshare.errors import TooLarge, ValidationFailed
from govshare.gateway import connect
from govshare.gateway.models import DataSource
from govshare.search.index import registry
from tests.factories import published_entry
from tests.gateway_factories import people, population_items
from tests.web_helpers import token, visible_text

STORED, REFUSED = "stored", "refused"
# name: what may happen to it (a data file / a catalog file)
NAMES = {
    "../../x.csv": (STORED, STORED),
    "../../../../../../etc/cron.d/x.csv": (STORED, STORED),
    "/etc/cron.d/x.csv": (STORED, STORED),
    "C:\\..\\..\\Windows\\x.csv": (STORED, STORED),
    "..\\..\\x.csv": (STORED, STORED),
    "../../etc/passwd": (REFUSED, REFUSED),
    "rk\u202evsc.exe": (REFUSED, REFUSED),  # right-to-left override: shows as "rkexe.csv"
    "rk.csv\u200b": (REFUSED, REFUSED),  # a zero-width space after the suffix
    "rk．csv": (REFUSED, REFUSED),  # a full-width dot
    "rk.csv.": (REFUSED, REFUSED),
    "rk.csv%00.exe": (REFUSED, REFUSED),
    "a\x00.csv": (None, REFUSED),  # either, but never a 500
    "\u202e.csv": (None, None),
    "x" * 5000 + ".csv": (REFUSED, REFUSED),
    "目" * 250 + ".csv": (None, REFUSED),
}


def _data_csv() -> bytes:
    rows = people(4)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


CATALOG_CSV = ("目录名称,提供部门,分类代码,摘要,数据格式,共享类型,共享条件,共享方式,更新周期,信息项\n"
               "导入的人口信息,省公安厅,101,全省户籍人口,数据库,无条件共享,,接口,每日,姓名\n").encode()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def entry_id(app, db, world) -> int:
    registry.detach(db.url)
    with db.session() as s:
        return published_entry(s, world, items=population_items()).id


@pytest.fixture
def server(app):
    """The app as a browser sees it: an unexpected error is a 500 response, not an exception in the test."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _source(db, entry: int) -> DataSource | None:
    with db.session() as s:
        return s.scalars(select(DataSource).where(DataSource.entry_id == entry)).first()


def multipart(url: str, client, headers: dict, name: str, content: bytes, fields: dict[str, str]):
    """A multipart post written by hand, so that the file name reaches the server exactly as given (an HTTP
    client would percent-encode a NUL or a quote in it; a hostile one does not)."""
    boundary = "govshare-security-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
             for key, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
                 + name.encode("utf-8", "surrogateescape") + b'"\r\nContent-Type: text/csv\r\n\r\n' + content
                 + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return client.post(url, content=b"".join(parts),
                       headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})


def _upload_data(client, world, entry: int, name: str, content: bytes, who: str = "police_manager"):
    return multipart("/api/v1/sources/file", client, world.headers(who), name, content,
                     {"entry_id": str(entry), "key_item": "gmsfhm", "column_map": '{"xzqhdm": "XZQH"}'})


def _assert_refused(response, label: str) -> None:
    assert 400 <= response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
    assert set(response.json()) == {"error"}, label


def test_r18_hostile_names_of_data_files_are_refused_or_stored_inside_the_managed_store(server, db, world, settings,
                                                                                       entry_id, tmp_path):
    content = _data_csv()
    store = settings.data_dir / "sources" / str(entry_id)
    for name, (expected, _catalog) in NAMES.items():
        before = _files(tmp_path)
        response = _upload_data(server, world, entry_id, name, content)
        label = repr(name[:60])
        if expected == REFUSED or (expected is None and response.status_code != 200):
            _assert_refused(response, label)
            assert _files(tmp_path) == before, f"{label}: a refused upload left files"
            continue
        assert response.status_code == 200, f"{label}: {response.status_code} {response.text[:300]}"
        source = _source(db, entry_id)
        stored = settings.data_dir / source.location
        assert stored.is_file() and stored.parent == store and stored.suffix == ".parquet", (label, source.location)
        assert stored.resolve().is_relative_to(store.resolve()), label
        added = _files(tmp_path) - before
        assert added <= {str(stored.relative_to(tmp_path))}, f"{label}: files outside the store: {added}"
        shown = response.json()["load_report"]["filename"]  # a display name only: the stored path is ours
        assert "/" not in shown, f"{label}: shown as {shown!r}"
    assert not any((settings.data_dir / "sources" / "uploads").glob("*")), "staged uploads were left behind"
    assert not (tmp_path / "x.csv").exists() and not (settings.data_dir / "x.csv").exists()


def test_r03_hostile_names_of_catalog_files_are_refused_or_read_from_a_private_folder(server, db, world, tmp_path):
    for name, (_data, expected) in NAMES.items():
        before_files = _files(tmp_path)
        with db.session() as s:
            before = s.scalar(select(func.count()).select_from(CatalogEntry))
        response = multipart("/api/v1/catalog/import", server, world.headers("police_manager"), name, CATALOG_CSV,
                             {})
        label = repr(name[:60])
        if expected == REFUSED or (expected is None and response.status_code != 200):
            _assert_refused(response, label)
            with db.session() as s:
                assert s.scalar(select(func.count()).select_from(CatalogEntry)) == before, label
        else:
            assert response.status_code == 200, f"{label}: {response.status_code} {response.text[:300]}"
            assert "/" not in response.json()["file"] and "\\" not in response.json()["file"], (
                label, response.json()["file"])
        assert _files(tmp_path) == before_files, f"{label}: the import left files"


def test_r18_a_data_file_whose_content_is_not_what_its_name_says_is_refused(server, db, world, entry_id, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = io.BytesIO()
    pq.write_table(pa.table({"GMSFHM": ["340104199001010011"]}), parquet)
    html_page = b"<html><script>alert(1)</script></html>"
    cases = {
        "CSV named .xlsx": ("rk.xlsx", _data_csv()),
        "CSV named .parquet": ("rk.parquet", _data_csv()),
        "Parquet named .csv": ("rk.csv", parquet.getvalue()),
        "HTML named .xlsx": ("rk.xlsx", html_page),
        "an executable named .csv": ("rk.csv", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)) * 8),
        "an empty file": ("rk.csv", b""),
        "a zip that is no workbook": ("rk.xlsx", _zip({"hello.txt": b"not a workbook"})),
    }
    before = _files(tmp_path)
    for label, (name, content) in cases.items():
        response = _upload_data(server, world, entry_id, name, content)
        _assert_refused(response, label)
    assert _source(db, entry_id) is None
    assert _files(tmp_path) == before


def test_r18_a_workbook_with_members_outside_its_folder_writes_nothing_there(server, db, world, entry_id, tmp_path,
                                                                            settings):
    """A zip member named ../../ (zip slip): the workbook is read, never extracted."""
    workbook = _workbook([["GMSFHM", "XM", "CSRQ", "HJDZ", "XZQH"],
                          ["340104199001010011", "王某", "1990-01-01", "合肥市", "340104"]],
                         extra={"../../../../evil.txt": b"x", "/tmp/evil-govshare.txt": b"x"})
    response = _upload_data(server, world, entry_id, "rk.xlsx", workbook)
    assert response.status_code in (200, 422), response.text[:300]
    assert not list(tmp_path.rglob("evil*")) and not Path("/tmp/evil-govshare.txt").exists()
    assert not (settings.data_dir.parent / "evil.txt").exists()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _workbook(rows: list[list], extra: dict[str, bytes] | None = None, sheet=None) -> bytes:
    """An XLSX of `rows`; `extra` members added to the zip; `sheet` rewrites the worksheet's XML."""
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in source.infolist():
            data = source.read(member.filename)
            if sheet is not None and member.filename == "xl/worksheets/sheet1.xml":
                data = sheet(data)
            archive.writestr(member, data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def _far_cell(cell: str):
    """The worksheet gets one more cell, far away (its row and column as the format allows), and a dimension
    that says so: a file of a few kilobytes."""
    row = cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def rewrite(data: bytes) -> bytes:
        far = f'<row r="{row}"><c r="{cell}" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
        data = data.replace(b"</sheetData>", far.encode())
        start = data.index(b"<dimension ")
        end = data.index(b"/>", start) + 2
        return data[:start] + f'<dimension ref="A1:{cell}"/>'.encode() + data[end:]

    return rewrite


def test_r18_a_workbook_whose_sheet_xml_is_broken_is_422_not_500(server, db, world, entry_id):
    rows = [["GMSFHM", "XM", "CSRQ", "HJDZ", "XZQH"], ["340104199001010011", "王某", "1990-01-01", "合肥市", "340104"]]
    broken = _workbook(rows, sheet=lambda data: data[: len(data) // 2])  # the sheet's XML cut in half
    response = _upload_data(server, world, entry_id, "rk.xlsx", broken)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"]["field"] == "file"


def _reads_within(seconds: float, code: str, path: Path) -> bool:
    """Whether `code` (a reader called on `path`) finishes within `seconds` in a child interpreter. The clock
    starts once the readers are imported (an interpreter's start on a busy machine is not the reader's time);
    the child is killed STARTUP_SECONDS after that limit."""
    program = (READERS_IMPORTED + textwrap.dedent(code).format(path=str(path))
               + "\nprint('read', time.perf_counter() - started)\n")
    try:
        child = subprocess.run([sys.executable, "-c", program], timeout=seconds + STARTUP_SECONDS, check=False,
                               capture_output=True)
    except subprocess.TimeoutExpired:
        return False
    assert child.returncode == 0 and b"read" in child.stdout, child.stderr.decode(errors="replace")[-2000:]
    return float(child.stdout.split()[-1]) < seconds


READ_LIMIT_SECONDS = 6  # a workbook of a few kilobytes; a reader that is not fooled reads it in well under one
STARTUP_SECONDS = 60
READERS_IMPORTED = ("import time\nimport openpyxl\nimport govshare.catalog.importer\nimport govshare.gateway.connect\n"
                    "started = time.perf_counter()\n")


def test_r03_a_tiny_catalog_workbook_with_one_far_cell_is_read_quickly(tmp_path):
    path = tmp_path / "catalog.xlsx"
    path.write_bytes(_workbook([["目录名称", "提供部门"], ["人口信息", "省公安厅"]], sheet=_far_cell("A1048576")))
    assert path.stat().st_size < 10_000
    assert _reads_within(READ_LIMIT_SECONDS, IMPORTER_READS, path)


def test_r18_a_tiny_data_workbook_with_one_far_cell_is_read_quickly(tmp_path):
    path = tmp_path / "rk.xlsx"
    path.write_bytes(_workbook([["GMSFHM", "XM"], ["340104199001010011", "王某"]], sheet=_far_cell("XFD1048576")))
    assert path.stat().st_size < 10_000
    assert _reads_within(READ_LIMIT_SECONDS, SOURCE_READS, path)


# a reader may read the file or refuse it (ValidationFailed, a 422): either is an answer; anything else fails
IMPORTER_READS = """
    from pathlib import Path
    from govshare.catalog import importer
    from govshare.errors import ValidationFailed
    try:
        importer.read_source(Path('{path}'))
    except ValidationFailed:
        pass
"""
SOURCE_READS = """
    from pathlib import Path
    from govshare.gateway import connect
    from govshare.errors import ValidationFailed
    try:
        connect.read_xlsx(Path('{path}'))
    except ValidationFailed:
        pass
"""


def test_the_far_cell_workbooks_are_read_quickly_when_near(tmp_path):
    """The control of the two above: the same workbooks with the cell near (row 20, column C) are read by the same
    child interpreters at once, so it is the distance that costs, not the reader or the harness."""
    catalog_file, data_file = tmp_path / "near-catalog.xlsx", tmp_path / "near-data.xlsx"
    catalog_file.write_bytes(_workbook([["目录名称", "提供部门"], ["人口信息", "省公安厅"]], sheet=_far_cell("C20")))
    data_file.write_bytes(_workbook([["GMSFHM", "XM"], ["340104199001010011", "王某"]], sheet=_far_cell("C20")))
    assert _reads_within(READ_LIMIT_SECONDS, IMPORTER_READS, catalog_file)
    assert _reads_within(READ_LIMIT_SECONDS, SOURCE_READS, data_file)


def test_r18_a_data_file_over_the_upload_limit_is_413(server, db, world, entry_id, monkeypatch):
    limit = getattr(connect, "MAX_UPLOAD_BYTES", None)
    assert limit is not None, "gateway.connect has no upload limit"
    monkeypatch.setattr(connect, "MAX_UPLOAD_BYTES", 1000)
    response = _upload_data(server, world, entry_id, "rk.csv", _data_csv() + b"x" * 2000)
    assert response.status_code == 413, response.text[:300]
    assert _source(db, entry_id) is None


def test_r18_the_upload_limit_is_a_setting_and_the_page_answers_413_too(db, world, entry_id, as_user, settings,
                                                                        tmp_path):
    assert connect.upload_limit(settings) == connect.MAX_UPLOAD_BYTES == 1024 ** 3  # GOVSHARE_MAX_SOURCE_UPLOAD_MB
    settings.max_source_upload_mb = 1
    assert connect.upload_limit(settings) == 1024 * 1024
    client = as_user("police_manager")
    before = _files(tmp_path)
    response = client.post(f"/sources/{entry_id}/file", data={"csrf_token": token(client), "key_item": "gmsfhm"},
                           files={"file": ("rk.csv", _data_csv() + b"x" * (1024 * 1024), "text/csv")})
    assert response.status_code == 413 and "不能超过 1 MB" in visible_text(response), response.text[-500:]
    assert _source(db, entry_id) is None and _files(tmp_path) == before
    fits = client.post(f"/sources/{entry_id}/file", data={"csrf_token": token(client), "key_item": "gmsfhm",
                                                          "column_map": "xzqhdm=XZQH"},
                       files={"file": ("rk.csv", _data_csv(), "text/csv")}, follow_redirects=False)
    assert fits.status_code == 303, visible_text(fits)[:500]


def test_r18_an_upload_over_the_limit_is_read_no_further_than_the_limit(tmp_path):
    class Endless:
        """A client that would send for ever."""

        sent = 0

        def read(self, size: int = -1) -> bytes:
            size = 1 << 20 if size is None or size < 0 else size
            self.sent += size
            return b"x" * size

    stream, folder = Endless(), tmp_path / "uploads"
    with pytest.raises(TooLarge) as refused, connect._staged(stream, folder, ".csv", 5000):
        pass
    assert refused.value.status_code == 413 and refused.value.field == "file" and "5000 字节" in refused.value.message
    assert stream.sent <= 5001 and not list(folder.iterdir())
    with pytest.raises(TooLarge), connect._staged(b"x" * 5001, folder, ".csv", 5000):
        pass
    assert not list(folder.iterdir())


def test_r18_workbook_rows_keep_their_sheet_numbers_and_impossible_rows_refuse_the_file(tmp_path):
    """Read by the cells they hold, rows keep their numbers: a data row's `_row` is its position below the
    header (as for a CSV), a catalog row's number its sheet row; a cell right of the header is that row's
    error. Rows beyond the format's range or out of order are refused as a file, never dropped in silence."""
    path = tmp_path / "rk.xlsx"
    path.write_bytes(_workbook([["GMSFHM", "XM"], ["340104199001010011", "王某"]], sheet=_far_cell("B1048576")))
    assert connect.read_xlsx(path).table.to_pylist() == [
        {"GMSFHM": "340104199001010011", "XM": "王某", connect.ROW: 1},
        {"GMSFHM": None, "XM": "x", connect.ROW: 1048575}]
    assert [number for number, _row in importer.read_source(path).entries.rows] == [2, 1048576]
    path.write_bytes(_workbook([["GMSFHM", "XM"], ["340104199001010011", "王某"]], sheet=_far_cell("XFD1048576")))
    loaded = connect.read_xlsx(path)
    assert loaded.table.column(connect.ROW).to_pylist() == [1] and list(loaded.rejected) == [1048575]
    for cell in ("A1048577", "XFE5", "A1"):  # past the last row, past the last column, row 1 again after row 2
        path.write_bytes(_workbook([["GMSFHM", "XM"], ["340104199001010011", "王某"]], sheet=_far_cell(cell)))
        for read in (connect.read_xlsx, importer.read_source):  # (read_header stops at the header)
            with pytest.raises(ValidationFailed) as refused:
                read(path)
            assert refused.value.field == "file" and refused.value.status_code == 422, cell


def test_r18_a_sparse_workbook_unfolding_to_too_many_cells_is_refused(tmp_path, monkeypatch):
    """A wide header over rows of one cell each is small on disk but a large table: bounded (MAX_XLSX_CELLS)."""
    path = tmp_path / "rk.xlsx"
    path.write_bytes(_workbook([["GMSFHM", "XM", "CSRQ", "HJDZ", "XZQH"], *[[f"34010419900101{n:04d}"]
                                                                          for n in range(4)]]))
    assert connect.read_xlsx(path).table.num_rows == 4
    monkeypatch.setattr(connect, "MAX_XLSX_CELLS", 15)
    with pytest.raises(ValidationFailed) as refused:
        connect.read_xlsx(path)
    assert refused.value.field == "file" and "15 个单元格" in refused.value.message
