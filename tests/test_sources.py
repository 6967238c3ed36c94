"""Connecting sources (issue 4): SQL tables (SQLite, PostgreSQL), CSV/XLSX/Parquet files loaded into the managed
store, upstream HTTP APIs; mapping mismatches reported; the real register's garbled rows reported and its good
rows served; confirming the profile's grades; who may connect and see (R09, R14, R17, R18).

The builders at the top are shared with tests/test_sources_web.py and tests/authz_cases_issue4_sources.py."""

from __future__ import annotations

import csv
import io
import random
import socket
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from stdnum import luhn
from stdnum.cn import ric

from govshare.catalog import service as catalog
from govshare.catalog.models import EntryEvent
from govshare.catalog.schemas import ItemIn
from govshare.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.gateway import connect
from govshare.gateway.connections import ConnectionFailed
from govshare.gateway.models import DataSource
from govshare.gateway.service import Call, Caller, Mode, access
from govshare.sealing import unseal
from govshare.sharing import service as sharing
from tests.conftest import REAL
from tests.factories import SYSTEM, consumer_system, population_entry, published_entry, request_in
from tests.gateway_factories import (
    COLUMN_MAP,
    DISTRICTS,
    population_items,
    provider_database,
    source_table,
    sql_connection,
)
from tests.gateway_factories import people as people_with_wrong_check_digits


def id_number(region: str, born: date, serial: int) -> str:
    """A valid 公民身份号码: stdnum's calc_check_digit reads the number with its check digit (it drops the
    last character), so the 17-digit body gets a placeholder."""
    body = f"{region}{born:%Y%m%d}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")


def people(count: int, seed: int = 7) -> list[dict]:
    """tests.gateway_factories.people with valid ID numbers (its check digits are computed over 16 digits)."""
    rows = people_with_wrong_check_digits(count, seed)
    for row in rows:
        row["GMSFHM"] = row["GMSFHM"][:17] + ric.calc_check_digit(row["GMSFHM"])
    return rows


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
STREETS = ("长江中路", "淮河路", "金寨路", "望江西路", "黄山路", "徽州大道")
MOBILE_PREFIXES = ("138", "139", "150", "186", "189", "133", "177", "199")


def residents(count: int, seed: int = 11) -> list[dict]:
    """Residents as a provider's file would hold them (Chinese column headers): valid ID numbers, names with
    common surnames, mobiles in allocated ranges, bank cards passing Luhn, addresses."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        region = DISTRICTS[n % len(DISTRICTS)]
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(25_000))
        card_body = "622202" + "".join(rng.choice("0123456789") for _ in range(12))
        rows.append({
            "公民身份号码": id_number(region, born, n % 1000),
            "姓名": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
            "出生日期": born.isoformat(),
            "户籍地址": f"安徽省合肥市{rng.choice(STREETS)}{rng.randrange(1, 999)}号{rng.randrange(1, 30)}栋",
            "联系方式": rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
            "银行账号": card_body + luhn.calc_check_digit(card_body),
            "行政区划代码": region,
        })
    return rows


def resident_items() -> list[ItemIn]:
    """Items of 人口基本信息 for `residents`: 联系方式 and 银行账号 have names that do not tell their kind."""
    return [
        ItemIn(name="gmsfhm", chinese_name="公民身份号码", data_type="string", length=18, grade="一般4",
               personal_info="pi"),
        ItemIn(name="xm", chinese_name="姓名", data_type="string", length=50, grade="一般3", personal_info="pi"),
        ItemIn(name="csrq", chinese_name="出生日期", data_type="date", grade="一般3", personal_info="pi"),
        ItemIn(name="hjdz", chinese_name="户籍地址", data_type="string", length=200, grade="一般4",
               personal_info="pi"),
        ItemIn(name="lxfs", chinese_name="联系方式", data_type="string", length=20, grade="一般3",
               personal_info="pi"),
        ItemIn(name="zh", chinese_name="银行账号", data_type="string", length=19, grade="一般2",
               personal_info="none"),
        ItemIn(name="xzqhdm", chinese_name="行政区划代码", data_type="string", length=6, grade="一般1",
               personal_info="none"),
    ]


def resident_entry(session, world, manager: str = "police_manager", **overrides):
    return published_entry(session, world, manager, items=resident_items(), **overrides)


REGISTER_ITEMS = [
    ("qymc", "企业名称"), ("tyshxydm", "统一社会信用代码"), ("zcrq", "注册日期"), ("qylx", "企业类型"),
    ("fddbr", "法人代表"), ("zczj", "注册资金"), ("jyfw", "经营范围"), ("szsf", "所在省份"), ("dq", "地区"),
    ("zcdz", "注册地址"),
]


def register_entry(session, world, manager: str = "police_manager"):
    """企业登记信息 whose items carry the real register's column headers as Chinese names; unconditional."""
    items = [ItemIn(name=name, chinese_name=chinese, data_type="string", grade="一般1", personal_info="none")
             for name, chinese in REGISTER_ITEMS]
    return published_entry(session, world, manager, name="企业登记信息", classification_code="102",
                           abstract="上海市 2002 年企业登记注册信息", share_type="无条件共享", share_condition="",
                           open_attribute="无条件开放", grade="一般1", items=items)


@dataclass
class Granted:
    grant_id: int
    client_id: str
    secret: str


def grant_all_items(session, world, entry, **terms) -> Granted:
    """省民政厅's grant for every item of `entry` through its 低保审核系统 (approved by 省公安厅's reviewer
    when the entry is conditional)."""
    from govshare.sharing.schemas import ReplyIn

    system, secret = consumer_system(session, world)
    request = sharing.create_request(session, world.actors["civil_requester"], request_in(
        entry, consumer_system_id=system.id, **terms), submit=True)
    grant = sharing.grant_of(session, request.id)
    if grant is None:
        sharing.reply(session, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        grant = sharing.grant_of(session, request.id)
    session.flush()
    return Granted(grant.id, system.client_id, secret)


def token_headers(client, granted: Granted) -> dict:
    response = client.post("/api/v1/gateway/token", json={"client_id": granted.client_id,
                                                          "client_secret": granted.secret})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# ---------------------------------------------------------------- more builders

REGISTER = REAL / "datasets" / "enterprise_registration_shanghai_2002.csv"


def csv_bytes(rows: list[dict], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[dict]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append([date.fromisoformat(v) if k == "出生日期" else v for k, v in row.items()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def parquet_bytes(rows: list[dict]) -> bytes:
    """Typed columns, as a provider's export would have them: dates as dates, region codes as integers."""
    table = pa.table({
        **{k: pa.array([r[k] for r in rows]) for k in rows[0] if k not in ("出生日期", "行政区划代码")},
        "出生日期": pa.array([date.fromisoformat(r["出生日期"]) for r in rows], pa.date32()),
        "行政区划代码": pa.array([int(r["行政区划代码"]) for r in rows], pa.int64()),
    })
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def managed(db, source) -> Path:
    return db.settings.data_dir / source.location


def _event_actions(session, entry_id: int) -> list[str]:
    return [e.action for e in session.scalars(select(EntryEvent).where(EntryEvent.entry_id == entry_id)
                                              .order_by(EntryEvent.id))]


# ---------------------------------------------------------------- mapping


def test_r09_column_mismatch_is_reported_naming_items_and_columns_not_guessed(db, world, tmp_path):
    """RK_JBXX has XZQH where the entry has 行政区划代码 (xzqhdm): refused with both named, nothing stored;
    a column_map naming a missing column is refused too; the right column_map connects."""
    url = source_table(db.settings.data_dir / "police.db", people(12))
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
    with db.session() as s:
        police_db = sql_connection(s, world, url)
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_sql(s, manager, entry_id, police_db, "RK_JBXX", "gmsfhm")
    error = refused.value
    assert error.field == "column_map" and "行政区划代码（xzqhdm）" in error.message and "XZQH" in error.message
    assert error.extra["unmapped_items"] == ["xzqhdm"] and error.extra["unused_columns"] == ["XZQH"]
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_sql(s, manager, entry_id, police_db, "RK_JBXX", "gmsfhm", {"xzqhdm": "XZQHDM"})
    assert refused.value.field == "column_map" and refused.value.extra["unknown_columns"] == ["XZQHDM"]
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_sql(s, manager, entry_id, police_db, "RK_JBXX", "gmsfhm", {"xzqhdm": "XZQH", "sjhm": "SJHM"})
    assert refused.value.extra["unknown_items"] == ["sjhm"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DataSource)) == 0
        source = connect.connect_sql(s, manager, entry_id, police_db, "RK_JBXX", "公民身份号码",
                                     {"行政区划代码": "XZQH"})
        assert source.column_map == {**COLUMN_MAP} and source.key_item == "gmsfhm"


def test_r09_key_item_must_belong_to_the_entry(db, world, tmp_path):
    url = source_table(db.settings.data_dir / "police.db", people(3))
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        police_db = sql_connection(s, world, url)
        connect.connect_sql(s, world.actors["police_manager"], entry_id, police_db, "RK_JBXX", "sfzh", COLUMN_MAP)
    assert refused.value.field == "key_item" and "公民身份号码（gmsfhm）" in refused.value.message


# ---------------------------------------------------------------- SQL tables


def test_r09_sql_source_on_sqlite_is_sealed_profiled_and_previewed(db, world, tmp_path):
    rows = people(30)
    url = source_table(db.settings.data_dir / "police.db", rows)
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry = published_entry(s, world, items=population_items())
        source = connect.connect_sql(s, manager, entry.id, sql_connection(s, world, url), "rk_jbxx", "gmsfhm",
                                     COLUMN_MAP)
        assert source.kind == "sql" and source.table_name == "RK_JBXX" and source.row_count == 30
        path = url.removeprefix("sqlite:///")
        assert path not in source.location  # R18: stored encrypted, opened read-only
        assert unseal(s, source.location) == f"sqlite:///file:{path}?mode=ro&uri=true"
        profile = source.profile
        view = connect.source_view(s, source)
        code = entry.resource_code
    assert profile["rows"] == 30 and profile["sampled"] is False
    items = profile["items"]
    assert items["gmsfhm"]["kind"] == "id_number" and items["gmsfhm"]["distinct"] == 30
    assert items["gmsfhm"]["suggested_personal_info"] == "spi" and items["gmsfhm"]["suggested_grade"] == "general_4"
    assert items["gmsfhm"]["suggested_masking"] == "keep:6:4"
    assert items["csrq"]["kind"] == "birth_date" and items["csrq"]["suggested_masking"] == "year"
    assert items["hjdz"]["kind"] == "address"
    assert items["xzqhdm"]["kind"] is None and items["xzqhdm"]["distinct"] == 3 and items["xzqhdm"]["nulls"] == 0
    assert view["location"] == url and view["status"] == "connected"
    outcome = access(db, Caller(actor=manager), Call(Mode.PREVIEW, code))
    assert outcome.row_count == 20 and {r["gmsfhm"] for r in outcome.rows} <= {r["GMSFHM"] for r in rows}


def test_r09_sql_source_in_a_postgresql_schema(db, world):
    """A provider table in its own schema of another PostgreSQL database on the node's server, named as the
    provider typed it: PostgreSQL folds unquoted names to lower case."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL schemas only (its PostgreSQL instance runs when GOVSHARE_TEST_DATABASE_URL is set)")
    schema = f"provider_{uuid.uuid4().hex[:8]}"
    rows = people(25)
    with provider_database(db) as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
            conn.execute(text(f"CREATE TABLE {schema}.rk_jbxx (gmsfhm text PRIMARY KEY, xm text, csrq date, "
                              "hjdz text, xzqh varchar(6))"))
            conn.execute(text(f"INSERT INTO {schema}.rk_jbxx VALUES (:GMSFHM, :XM, CAST(:CSRQ AS date), :HJDZ, "
                              ":XZQH)"), rows)
        engine.dispose()
        manager = world.actors["police_manager"]
        with db.session() as s:
            entry = published_entry(s, world, items=population_items())
            source = connect.connect_sql(s, manager, entry.id, sql_connection(s, world, url, allowed=[f"{schema}.*"]),
                                         f"{schema}.RK_JBXX", "gmsfhm", {"xzqhdm": "xzqh"})
            assert source.table_name == f"{schema}.rk_jbxx" and source.row_count == 25
            assert source.profile["items"]["csrq"]["kind"] == "birth_date"
            code = entry.resource_code
        outcome = access(db, Caller(actor=manager), Call(Mode.PREVIEW, code))
        first = next(r for r in rows if r["GMSFHM"] == outcome.rows[0]["gmsfhm"])
        assert outcome.rows[0]["csrq"] == first["CSRQ"] and outcome.rows[0]["xzqhdm"] == first["XZQH"]


def test_r18_the_platforms_own_database_cannot_be_registered_as_a_connection(db, world):
    """By identity, not by name: the node's own URL, and on SQLite the same file reached through a link."""
    with db.session() as s, pytest.raises(Forbidden) as refused:
        sql_connection(s, world, db.url)
    assert refused.value.field == "url"
    if db.engine.dialect.name == "sqlite":
        link = db.settings.data_dir / "alias.db"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(make_url(db.url).database)
        with db.session() as s, pytest.raises(Forbidden):
            sql_connection(s, world, f"sqlite:///{link}")


def test_r09_unreachable_database_and_missing_table_are_named(db, world, tmp_path):
    """A missing table of a reachable connection is named; a database that cannot be reached fails at
    registration with the one message shape, and a missing SQLite file is not created."""
    url = source_table(db.settings.data_dir / "police.db", people(3))
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
        police_db = sql_connection(s, world, url)
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_sql(s, manager, entry_id, police_db, "RK_XXXX", "gmsfhm", COLUMN_MAP)
    assert refused.value.field == "table", refused.value.message
    missing = db.settings.data_dir / "none.db"
    for bad_url, error in (("sqlite:///" + str(missing), ConnectionFailed), ("not a url", ValidationFailed)):
        with db.session() as s, pytest.raises(error) as refused:
            sql_connection(s, world, bad_url)
        assert refused.value.field == "url", refused.value.message
    assert not missing.exists()


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("form", ["csv", "csv-gbk", "xlsx", "parquet"])
def test_r09_csv_xlsx_parquet_files_load_as_text_with_positions(db, world, form):
    rows = residents(40)
    data, name = {
        "csv": (csv_bytes(rows), "人口.csv"), "csv-gbk": (csv_bytes(rows, "gbk"), "人口.csv"),
        "xlsx": (xlsx_bytes(rows), "人口.xlsx"), "parquet": (parquet_bytes(rows), "人口.parquet"),
    }[form]
    with db.session() as s:
        entry = resident_entry(s, world)
        source = connect.connect_file(s, world.actors["police_reviewer"], entry.id, data, name, "gmsfhm")
        report, profile, path = source.load_report, source.profile, managed(db, source)
        assert source.row_count == 40 and source.loaded_at is not None
        assert source.location.startswith(f"sources/{entry.id}/") and source.location.endswith(".parquet")
    assert report["format"] == form.split("-")[0] and report["rejected"] == 0 and report["rows_loaded"] == 40
    if form.startswith("csv"):
        assert report["encoding"] == ("gb18030" if form == "csv-gbk" else "utf-8")
    stored = pq.read_table(path)
    assert stored.column_names == [*rows[0], "_row"]
    assert all(t == pa.string() for t in stored.schema.types[:-1]) and stored.schema.field("_row").type == pa.int64()
    assert stored.column("_row").to_pylist() == list(range(1, 41))
    assert stored.to_pylist()[6] == {**rows[6], "_row": 7}  # dates and numbers come back as the text they were
    kinds = {name: item["kind"] for name, item in profile["items"].items()}
    assert kinds == {"gmsfhm": "id_number", "xm": "person_name", "csrq": "birth_date", "hjdz": "address",
                     "lxfs": "mobile", "zh": "bank_card", "xzqhdm": None}


def test_r09_bad_rows_are_reported_one_by_one_and_the_good_rows_kept(db, world):
    rows = residents(10)
    lines = csv_bytes(rows).decode().splitlines()
    wrong_digit = rows[3]["公民身份号码"][:-1] + ("0" if rows[3]["公民身份号码"][-1] != "0" else "1")
    lines[4] = lines[4].replace(rows[3]["公民身份号码"], wrong_digit)  # data row 4: check digit
    lines[6] = lines[6] + ",多余"  # data row 6: one field too many
    lines[7] = lines[7].replace(rows[6]["姓名"], "\ufffd\ufffd")  # data row 7: mis-decoded text
    lines[9] = "," + lines[9].split(",", 1)[1]  # data row 9: no key
    with db.session() as s:
        entry = resident_entry(s, world)
        source = connect.connect_file(s, world.actors["police_manager"], entry.id, "\n".join(lines).encode(),
                                      "人口.csv", "公民身份号码")
        report, path = source.load_report, managed(db, source)
    assert report["rows_read"] == 10 and report["rows_loaded"] == 6 and report["rejected"] == 4
    reasons = {row["row"]: "；".join(row["reasons"]) for row in report["bad_rows"]}
    assert sorted(reasons) == [4, 6, 7, 9]
    assert "不是有效的公民身份号码" in reasons[4] and wrong_digit in reasons[4]
    assert "字段数为 8，应为 7" in reasons[6]
    assert "U+FFFD" in reasons[7] and "姓名" in reasons[7]
    assert "为空" in reasons[9]
    assert pq.read_table(path).column("_row").to_pylist() == [1, 2, 3, 5, 8, 10]


def test_r09_a_file_without_any_good_row_or_of_another_type_is_refused(db, world):
    with db.session() as s:
        entry_id = resident_entry(s, world).id
    manager = world.actors["police_manager"]
    for data, name, field_name in ((b"a,b\n1,2\n", "x.json", "file"),
                                   ("公民身份号码,姓名\n\ufffd,张三\n".encode(), "x.csv", "column_map"),
                                   (b"\xff\xfe\x00\x00garbage", "x.csv", "file")):
        with db.session() as s, pytest.raises(ValidationFailed) as refused:
            connect.connect_file(s, manager, entry_id, data, name, "gmsfhm")
        assert refused.value.field == field_name, refused.value.message
    mapped = {"公民身份号码": "公民身份号码"}
    only_bad = "公民身份号码,姓名,出生日期,户籍地址,联系方式,银行账号,行政区划代码\n,张三,,,,,\n".encode()
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.connect_file(s, manager, entry_id, only_bad, "x.csv", "gmsfhm", mapped)
    assert refused.value.field == "file" and "没有可用的数据行" in refused.value.message
    assert not list((db.settings.data_dir / "sources" / str(entry_id)).glob("*.parquet"))


def test_r09_reconnecting_replaces_the_file_only_once_the_new_one_is_committed(db, world):
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry = resident_entry(s, world)
        first = managed(db, connect.connect_file(s, manager, entry.id, csv_bytes(residents(5)), "a.csv", "gmsfhm"))
        entry_id = entry.id
    assert first.exists()
    written = []
    with pytest.raises(RuntimeError), db.session() as s:
        written.append(managed(db, connect.connect_file(s, manager, entry_id, csv_bytes(residents(7)), "b.csv",
                                                        "gmsfhm")))
        assert written[0].exists() and first.exists()  # both until the commit decides
        raise RuntimeError("the unit of work fails after the load")
    assert first.exists() and not written[0].exists()
    with db.session() as s:
        assert managed(db, connect.get_source(s, manager, entry_id)) == first
        second = managed(db, connect.connect_file(s, manager, entry_id, csv_bytes(residents(7)), "b.csv", "gmsfhm"))
    assert second.exists() and not first.exists()
    with db.session() as s:
        source = connect.get_source(s, manager, entry_id)
        assert source.row_count == 7 and source.confirmed_at is None


# ---------------------------------------------------------------- the real register


def test_r09_real_register_reports_its_38_garbled_rows_and_serves_the_4318_good_ones(client, db, world):
    """The last 38 rows are GBK text decoded as UTF-8 and shifted by one column: each is reported with its
    row number and reasons (three also have a field too many), and the 4,318 good rows are served."""
    with db.session() as s:
        entry = register_entry(s, world)
        source = connect.connect_file(s, world.actors["police_manager"], entry.id, REGISTER, REGISTER.name,
                                      "统一社会信用代码")
        report, path, row_count = source.load_report, managed(db, source), source.row_count
        profiled = source.profile["items"]
        granted = grant_all_items(s, world, entry)
        code = entry.resource_code
    assert report["rows_read"] == 4356 and report["rejected"] == 38 and report["rows_loaded"] == 4318
    assert row_count == 4318 and pq.read_metadata(path).num_rows == 4318
    assert [row["row"] for row in report["bad_rows"]] == list(range(4319, 4357))
    assert all("U+FFFD" in "".join(row["reasons"]) for row in report["bad_rows"] if "字段数" not in row["reasons"][0])
    assert sum("字段数为 11，应为 10" in "".join(row["reasons"]) for row in report["bad_rows"]) == 3
    assert report["key_kind"] == "uscc" and profiled["tyshxydm"]["kind"] == "uscc"
    # an enterprise's registered address is found, but it is not personal information
    assert profiled["zcdz"]["kind"] == "address" and profiled["zcdz"]["suggested_personal_info"] == "none"
    with REGISTER.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    good, garbled = records[1], records[-1]
    headers = token_headers(client, granted)
    found_row = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": good[1]}, headers=headers)
    assert found_row.status_code == 200, found_row.text
    assert found_row.json()["rows"] == [dict(zip([n for n, _ in REGISTER_ITEMS], good, strict=True))]
    # the garbled row's real code is in its third column: it was not loaded, so it is not found
    missing = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": garbled[2]},
                         headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "key"


# ---------------------------------------------------------------- confirming the profile


def test_r17_confirming_the_profile_applies_the_suggested_grades_and_records_why(db, world):
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry = resident_entry(s, world)
        source = connect.connect_file(s, manager, entry.id, csv_bytes(residents(60)), "人口.csv", "gmsfhm")
        suggested = source.profile["items"]
        entry_id = entry.id
    assert (suggested["gmsfhm"]["suggested_grade"], suggested["gmsfhm"]["suggested_personal_info"]) == (
        "general_4", "spi")
    assert (suggested["zh"]["suggested_grade"], suggested["zh"]["suggested_personal_info"]) == ("general_4", "spi")
    assert suggested["zh"]["suggested_masking"] == "keep:6:4"
    assert (suggested["xzqhdm"]["suggested_grade"], suggested["xzqhdm"]["suggested_personal_info"]) == (
        "general_1", "none")
    with db.session() as s:
        confirmed = connect.confirm_profile(s, world.actors["police_reviewer"], entry_id, accept_all=True,
                                            reason="画像识别出身份号码和银行账号")
        assert confirmed.confirmed_at is not None and confirmed.confirmed_by_id == world.ids["user:police_reviewer"]
    with db.session() as s:
        items = {i.name: (i.grade, i.personal_info) for i in catalog.get_entry(s, SYSTEM, entry_id).items}
        assert items["gmsfhm"] == ("general_4", "spi") and items["zh"] == ("general_4", "spi")
        assert items["xm"] == ("general_3", "pi") and items["xzqhdm"] == ("general_1", "none")
        event = s.scalars(select(EntryEvent).where(EntryEvent.entry_id == entry_id,
                                                   EntryEvent.action == "classification_confirmed")).one()
        assert "银行账号（zh）：一般2/非个人信息 → 一般4/敏感个人信息" in event.reason
        assert event.actor_id == world.ids["user:police_reviewer"] and "画像识别" in event.reason


def test_r17_a_confirmation_may_not_lower_a_grade_and_raises_the_entry_with_its_items(db, world):
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry = register_entry(s, world)
        connect.connect_file(s, manager, entry.id, REGISTER, REGISTER.name, "tyshxydm")
        entry_id = entry.id
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.confirm_profile(s, manager, entry_id, {"qymc": {"grade": "一般2"}, "zcdz": {"grade": "一般9"}})
    assert refused.value.field == "grades" and "一般9" in refused.value.message
    with db.session() as s:
        connect.confirm_profile(s, manager, entry_id, {"法人代表": {"grade": "一般3", "personal_info": "个人信息"}})
        stored = catalog.get_entry(s, SYSTEM, entry_id)
        assert stored.grade == "general_3" and {i.name: i.grade for i in stored.items}["fddbr"] == "general_3"
        event = s.scalars(select(EntryEvent).where(EntryEvent.action == "classification_confirmed")).one()
        assert "目录分级：一般1 → 一般3" in event.reason
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        connect.confirm_profile(s, manager, entry_id, {"fddbr": {"grade": "一般1", "personal_info": "none"}})
    assert refused.value.field == "grades" and "法人代表（fddbr）" in refused.value.message
    with db.session() as s:
        assert {i.name: i.personal_info for i in catalog.get_entry(s, SYSTEM, entry_id).items}["fddbr"] == "pi"
        with pytest.raises(ValidationFailed) as refused:
            connect.confirm_profile(s, manager, entry_id)
        assert refused.value.field == "grades"


# ---------------------------------------------------------------- who may


def test_r18_only_the_providers_managers_and_reviewers_connect_and_only_readers_see(db, world, tmp_path):
    url = source_table(db.settings.data_dir / "police.db", people(5))
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
        draft_id = catalog.create_entry(s, world.actors["police_manager"], population_entry(name="草稿")).id
        police_db = sql_connection(s, world, url)
    for who, error in (("civil_manager", Forbidden), ("civil_requester", Forbidden), ("reviewer", Forbidden),
                       ("admin", Forbidden), ("auditor", Forbidden), ("city_civil_manager", Forbidden)):
        with db.session() as s, pytest.raises(error) as refused:
            connect.connect_sql(s, world.actors[who], entry_id, police_db, "RK_JBXX", "gmsfhm", COLUMN_MAP)
        assert refused.value.field in ("role", "department_id"), who
    with db.session() as s, pytest.raises(Conflict) as refused:
        connect.connect_sql(s, world.actors["police_manager"], draft_id, police_db, "RK_JBXX", "gmsfhm", COLUMN_MAP)
    assert refused.value.field == "status"
    with db.session() as s:
        connect.connect_sql(s, world.actors["police_reviewer"], entry_id, police_db, "RK_JBXX", "gmsfhm", COLUMN_MAP)
    for who in ("police_manager", "police_reviewer", "reviewer", "admin", "auditor"):
        with db.session() as s:
            assert connect.get_source(s, world.actors[who], entry_id).entry_id == entry_id, who
            assert [src.entry_id for src in connect.list_sources(s, world.actors[who])] == [entry_id], who
    for who in ("civil_manager", "civil_requester", "other_reviewer", "city_reviewer"):
        with db.session() as s:
            with pytest.raises(NotFound):
                connect.get_source(s, world.actors[who], entry_id)
            assert connect.list_sources(s, world.actors[who]) == [], who
    for action in (lambda s, a: connect.confirm_profile(s, a, entry_id, accept_all=True),
                   lambda s, a: connect.disconnect(s, a, entry_id, "越权断开")):
        for who in ("civil_manager", "auditor", "admin"):
            with db.session() as s, pytest.raises(Forbidden):
                action(s, world.actors[who])
    with db.session() as s:
        assert connect.get_source(s, SYSTEM, entry_id).confirmed_at is None
        assert connect.get_source(s, SYSTEM, entry_id).status == "connected"


# ---------------------------------------------------------------- served through the gateway


def test_r09_r17_gateway_serves_a_file_source_masked_by_the_detected_kind(client, db, world):
    """联系方式 says nothing of its kind; the profile found mobile numbers, so they are masked keep:3:4 on
    every path (lookup, page, export)."""
    rows = residents(45)
    with db.session() as s:
        entry = resident_entry(s, world)
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(rows), "人口.csv", "gmsfhm")
        granted = grant_all_items(s, world, entry)
        code = entry.resource_code
    headers = token_headers(client, granted)
    wanted = rows[17]
    found_row = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": wanted["公民身份号码"]},
                           headers=headers)
    assert found_row.status_code == 200, found_row.text
    body = found_row.json()
    mobile = wanted["联系方式"]
    assert body["rows"][0]["lxfs"] == mobile[:3] + "****" + mobile[-4:]
    assert body["masking"]["lxfs"] == "只显示前3位和后4位，其余以*遮盖"
    assert body["rows"][0]["xzqhdm"] == wanted["行政区划代码"]
    seen, cursor = [], None
    while True:
        params = {"grant": granted.grant_id, "limit": 20, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/api/v1/data/{code}/rows", params=params, headers=headers)
        assert page.status_code == 200, page.text
        seen += page.json()["rows"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 45 and [r["xzqhdm"] for r in seen] == [r["行政区划代码"] for r in rows]
    export = client.post(f"/api/v1/data/{code}/export", headers=headers,
                         json={"grant": granted.grant_id, "headers": "field"})
    assert export.status_code == 200 and export.headers["X-Row-Count"] == "45"
    exported = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [r["lxfs"] for r in exported] == [r["联系方式"][:3] + "****" + r["联系方式"][-4:] for r in rows]


# ---------------------------------------------------------------- upstream HTTP APIs


@contextmanager
def upstream(records: dict[str, dict]):
    """A provider's own API on a free local port: GET /person?sfzh=… answers {"data": [record]} or 404."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def person(request):
        record = records.get(request.query_params.get("sfzh", ""))
        return JSONResponse({"data": [record]}) if record else JSONResponse({"error": "无记录"}, status_code=404)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/person", person)]), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        thread.join(0.01)
    try:
        yield f"http://127.0.0.1:{port}/person"
    finally:
        server.should_exit = True
        thread.join(5)
        listener.close()


HTTP_MAP = {"gmsfhm": "SFZH", "xm": "XM", "csrq": "CSRQ", "hjdz": "HJDZ", "xzqhdm": "XZQH"}


def test_r09_http_source_answers_lookups_and_verification_through_the_upstream_and_refuses_export(client, db,
                                                                                                  world):
    rows = people(6)
    records = {r["GMSFHM"]: {"SFZH": r["GMSFHM"], "XM": r["XM"], "CSRQ": r["CSRQ"], "HJDZ": r["HJDZ"],
                             "XZQH": r["XZQH"]} for r in rows}
    person = rows[2]
    with upstream(records) as url:
        with db.session() as s:
            entry = published_entry(s, world, items=population_items())
            base = url.removesuffix("person")  # a provider's service on the node's network: registered as internal
            api = sql_connection(s, world, base, kind="http", internal=True)
            with pytest.raises(ValidationFailed) as refused:  # the probe's answer has no field XZQHDM
                connect.connect_http(s, world.actors["police_manager"], entry.id, api, "person", "gmsfhm", "sfzh",
                                     {**HTTP_MAP, "xzqhdm": "XZQHDM"}, probe_key=person["GMSFHM"])
            assert refused.value.field == "column_map" and "XZQHDM" in refused.value.message
            source = connect.connect_http(s, world.actors["police_manager"], entry.id, api, "person", "gmsfhm",
                                          "sfzh", HTTP_MAP, probe_key=person["GMSFHM"])
            assert source.kind == "http" and url not in source.location and source.table_name == "sfzh"
            granted = grant_all_items(s, world, entry)
            code = entry.resource_code
        headers = token_headers(client, granted)
        found_row = client.get(f"/api/v1/data/{code}", params={"grant": granted.grant_id, "key": person["GMSFHM"]},
                               headers=headers)
        assert found_row.status_code == 200, found_row.text
        row = found_row.json()["rows"][0]
        assert row["xm"] == person["XM"][0] + "*" * (len(person["XM"]) - 1)  # 姓名: keep the surname
        assert row["xzqhdm"] == person["XZQH"]
        for fields, verdict in (({"xm": person["XM"]}, "match"), ({"xm": "别人"}, "no_match")):
            response = client.post(f"/api/v1/data/{code}/verify", headers=headers,
                                   json={"grant": granted.grant_id, "key": person["GMSFHM"], "fields": fields})
            assert response.status_code == 200 and response.json()["result"] == verdict, response.text
        unknown = client.post(f"/api/v1/data/{code}/verify", headers=headers,
                              json={"grant": granted.grant_id, "key": "110105194912310021", "fields": {"xm": "张三"}})
        assert unknown.json()["result"] == "not_found"
        export = client.post(f"/api/v1/data/{code}/export", headers=headers, json={"grant": granted.grant_id})
        assert export.status_code == 422 and export.json()["error"]["field"] == "mode"
        assert "批量导出" in export.json()["error"]["message"]


def test_r09_http_source_needs_a_column_map_and_an_http_url(db, world):
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
        api = sql_connection(s, world, "http://127.0.0.1:9/", kind="http", internal=True)
    manager = world.actors["police_manager"]
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        sql_connection(s, world, "ftp://example.org/x", kind="http")
    assert refused.value.field == "url"
    for column_map in (None, {"gmsfhm": "SFZH"}):
        with db.session() as s, pytest.raises(ValidationFailed) as refused:
            connect.connect_http(s, manager, entry_id, api, "person", "gmsfhm", "sfzh", column_map)
        assert refused.value.field == "column_map"


# ---------------------------------------------------------------- disconnecting


def test_r11_a_source_with_grants_in_force_cannot_be_disconnected(db, world):
    manager = world.actors["police_manager"]
    with db.session() as s:
        entry = resident_entry(s, world)
        path = managed(db, connect.connect_file(s, manager, entry.id, csv_bytes(residents(5)), "a.csv", "gmsfhm"))
        granted = grant_all_items(s, world, entry)
        entry_id, code = entry.id, entry.resource_code
    with db.session() as s, pytest.raises(Conflict) as refused:
        connect.disconnect(s, manager, entry_id, "数据源迁移")
    assert refused.value.field == "grants" and path.exists()
    with db.session() as s:
        sharing.revoke_grant(s, world.actors["police_reviewer"], granted.grant_id, "测试断开数据源")
    for blank in ("", "  "):  # disconnecting ends a service: it says why (issue 14)
        with db.session() as s, pytest.raises(ValidationFailed) as unexplained:
            connect.disconnect(s, manager, entry_id, blank)
        assert (unexplained.value.field, unexplained.value.message) == ("reason", "断开数据源必须说明理由")
    assert path.exists()
    with db.session() as s:
        assert s.scalars(select(DataSource.status).where(DataSource.entry_id == entry_id)).one() == "connected"
        assert connect.disconnect(s, manager, entry_id, " 数据源迁移至新库 ").status == "disconnected"
    with db.session() as s:
        events = s.scalars(select(EntryEvent).where(EntryEvent.entry_id == entry_id,
                                                    EntryEvent.action == "source_disconnected")).all()
        assert [(e.reason, e.actor_id) for e in events] == [("数据源迁移至新库", world.ids["user:police_manager"])]
    assert not path.exists()
    with pytest.raises(NotFound):
        access(db, Caller(actor=manager), Call(Mode.PREVIEW, code))


# ---------------------------------------------------------------- API and CLI


def test_r09_sources_api_uploads_shows_confirms_and_reports_mismatches(client, db, world):
    with db.session() as s:
        entry_id = resident_entry(s, world).id
    headers = world.headers("police_manager")
    upload = {"file": ("人口.csv", csv_bytes(residents(8), "gbk"), "text/csv")}
    wrong = client.post("/api/v1/sources/file", headers=headers, files=upload,
                        data={"entry_id": str(entry_id), "key_item": "gmsfhm", "column_map": '{"xm": "XINGMING"}'})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "column_map"
    assert wrong.json()["error"]["unknown_columns"] == ["XINGMING"]
    done = client.post("/api/v1/sources/file", headers=headers, files=upload,
                       data={"entry_id": str(entry_id), "key_item": "公民身份号码"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["kind"] == "file" and body["row_count"] == 8 and body["load_report"]["encoding"] == "gb18030"
    assert {i["name"]: i["kind"] for i in body["items"]}["lxfs"] == "mobile"
    shown = client.get(f"/api/v1/sources/{entry_id}", headers=world.headers("auditor"))
    assert shown.status_code == 200 and shown.json()["confirmed_at"] is None
    assert client.get(f"/api/v1/sources/{entry_id}", headers=world.headers("civil_manager")).status_code == 404
    confirmed = client.post(f"/api/v1/sources/{entry_id}/confirm", headers=headers,
                            json={"grades": {"lxfs": {"grade": "一般4"}}})
    assert confirmed.status_code == 200 and confirmed.json()["confirmed_at"]
    assert {i["name"]: i["grade"] for i in confirmed.json()["items"]}["lxfs"] == "general_4"
    listed = client.get("/api/v1/sources", headers=world.headers("civil_manager"))
    assert listed.status_code == 200 and listed.json() == []


@pytest.fixture
def cli(settings, db, monkeypatch):
    from typer.testing import CliRunner

    from govshare import cli as cli_module
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(cli_module.console, "width", 240)
    monkeypatch.setattr(cli_module.err_console, "width", 240)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_module.app, [str(a) for a in args])
    get_settings.cache_clear()


def test_r09_cli_connects_a_file_shows_its_report_and_confirms(cli, db, world, tmp_path):
    with db.session() as s:
        entry_id = register_entry(s, world).id
    refused = cli("source", "connect-file", entry_id, REGISTER, "--key", "统一社会信用代码", "--user", "civil_manager")
    assert refused.exit_code == 2 and "不能接入或管理其他部门的数据" in refused.output
    done = cli("source", "connect-file", entry_id, REGISTER, "--key", "统一社会信用代码", "--user", "police_manager")
    assert done.exit_code == 0, done.output
    assert "读取 4356 行，装载 4318 行，跳过问题行 38 行" in done.output and "统一社会信用代码" in done.output
    shown = cli("source", "show", entry_id, "--rows", "3", "--user", "auditor")
    assert shown.exit_code == 0 and "4319" in shown.output and "U+FFFD" in shown.output
    mismatch = cli("source", "connect-file", entry_id, REGISTER, "--key", "tyshxydm", "--map", "qymc=名称",
                   "--user", "police_manager")
    assert mismatch.exit_code == 2 and "名称" in mismatch.output
    confirmed = cli("source", "confirm", entry_id, "--grade", "fddbr=一般3", "--pi", "fddbr=pi", "--user",
                    "police_reviewer")
    assert confirmed.exit_code == 0, confirmed.output
    listed = cli("source", "list", "--user", "police_manager")
    assert listed.exit_code == 0 and "企业登记信息" in listed.output and "已确认" in listed.output


# ---------------------------------------------------------------- the demo


def test_demo_sources_serve_the_demos_granted_entries(db, settings):
    """gateway_seed connects 人口基本信息 (SQL), 企业登记信息 (CSV with three broken rows) and 婚姻登记信息
    (XLSX) of the demo; the 低保 grant then previews 合肥 residents only, masked by the confirmed grades."""
    from govshare.authz import Actor
    from govshare.demo import gateway_seed
    from govshare.demo import seed as demo
    from govshare.demo.data import DEPARTMENTS
    from govshare.orgs.models import Department, User
    from govshare.sharing.models import Grant

    demo.seed_demo(db, settings)
    with db.session() as s:
        keys = {d.name: d.key for d in DEPARTMENTS}
        departments = {keys[d.name]: d for d in s.scalars(select(Department)) if d.name in keys}
        actors = {u.username: Actor.from_user(u) for u in s.scalars(select(User))}
        population, enterprise, marriage = gateway_seed.seed_sources(s, departments, actors)
    with db.session() as s:
        sources = {src.entry_id: src for src in connect.list_sources(s, SYSTEM)}
        assert sources[population].kind == "sql" and sources[population].row_count == gateway_seed.RESIDENTS
        assert sources[population].confirmed_at is not None
        report = sources[enterprise].load_report
        assert report["rejected"] == 3 and [r["row"] for r in report["bad_rows"]] == [101, 202, 303]
        assert sources[enterprise].row_count == gateway_seed.ENTERPRISES - 3
        assert sources[marriage].row_count == gateway_seed.MARRIAGES and sources[marriage].kind == "file"
        low_income = s.scalars(select(Grant).where(Grant.entry_id == population, Grant.status == "active")).first()
        code, grant_id = low_income.entry.resource_code, low_income.id
    outcome = access(db, Caller(actor=actors["hf_civil_requester"]), Call(Mode.PREVIEW, code, grant_id=grant_id))
    assert outcome.row_count == 20 and all(r["gmsfhm"].startswith("3401") and "*" in r["gmsfhm"]
                                           for r in outcome.rows)
