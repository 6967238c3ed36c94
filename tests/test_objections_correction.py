"""A correction applied to the platform's managed data (校核纠错, R13): when 省公安厅 answers 已更正 to an objection
on a record of a file source, the claimed values are written into the managed file, every other row as it was;
refused (naming the field, nothing changed, the objection still open) for data the platform does not hold, for an
answer other than 已更正, without claimed values, or for a key the file does not have."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from govshare.errors import InvalidFields, ValidationFailed
from govshare.gateway import connect
from govshare.gateway.models import DataSource
from govshare.objections import service as objections
from tests.gateway_factories import COLUMN_MAP, served_population, token_headers
from tests.test_sources import csv_bytes


def _file_source(db, world, tmp_path):
    with db.session() as s:
        served = served_population(s, world, tmp_path, count=12)
        connect.connect_file(s, world.actors["police_manager"], served.entry_id, csv_bytes(served.rows),
                             "people.csv", key_item="gmsfhm", column_map=COLUMN_MAP)
    return served


def _lookup(client, served, key: str) -> dict:
    headers = token_headers(client, served.client_id, served.secret)
    response = client.get(f"/api/v1/data/{served.resource_code}", params={"grant": served.grant_id, "key": key},
                          headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _object(db, world, served, key: str, claimed: dict):
    with db.session() as s:
        return objections.file_objection(s, world.actors["civil_requester"], served.grant_id, key, ["csrq"],
                                         claimed, "入户核查：户口簿显示的出生日期").id


def _managed_file(db, served):
    with db.session() as s:
        source = s.scalars(select(DataSource).where(DataSource.entry_id == served.entry_id)).one()
        return db.settings.data_dir / source.location


def test_r13_a_corrected_answer_writes_the_claimed_value_into_the_managed_file(client, db, world, tmp_path):
    served = _file_source(db, world, tmp_path)
    key, other = served.rows[2]["GMSFHM"], served.rows[5]["GMSFHM"]
    before_other = _lookup(client, served, other)["rows"]
    objection_id = _object(db, world, served, key, {"csrq": "1901-03-01"})
    flagged = _lookup(client, served, key)
    assert flagged["under_verification"] is True and flagged["rows"][0]["csrq"] != "1901"
    old_file = _managed_file(db, served)
    with db.session() as s:
        answered = objections.answer_objection(s, world.actors["police_reviewer"], objection_id, "corrected",
                                               "经核对出生医学证明存根已更正", apply_correction=True)
        assert answered.status == "corrected" and "已在平台托管数据中更正 1 行" in answered.answer
    corrected = _lookup(client, served, key)
    # the birth date is served as its year (the grade's masking): the corrected year
    assert corrected["rows"][0]["csrq"] == "1901" and corrected["under_verification"] is False
    assert _lookup(client, served, other)["rows"] == before_other  # every other row as it was
    assert not old_file.exists() and _managed_file(db, served).exists()  # the old file goes once committed


@pytest.mark.parametrize("case", ["sql_source", "confirmed", "no_claim", "unknown_key"])
def test_r13_a_correction_the_platform_cannot_apply_is_refused_naming_the_field_and_changes_nothing(
        client, db, world, tmp_path, case):
    if case == "sql_source":
        with db.session() as s:
            served = served_population(s, world, tmp_path, count=12)
    else:
        served = _file_source(db, world, tmp_path)
    key = served.rows[2]["GMSFHM"] if case != "unknown_key" else "110101199001011237"
    objection_id = _object(db, world, served, key, {} if case == "no_claim" else {"csrq": "1961-03-01"})
    answer = "confirmed" if case == "confirmed" else "corrected"
    before = _managed_file(db, served) if case != "sql_source" else None
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        objections.answer_objection(s, world.actors["police_reviewer"], objection_id, answer, "已核实",
                                    apply_correction=True)
    field = refused.value.errors if isinstance(refused.value, InvalidFields) else {refused.value.field: ""}
    assert "apply_correction" in field
    with db.session() as s:
        assert objections.get_objection(s, world.actors["police_reviewer"], objection_id).status == "open"
    if before is not None:
        assert _managed_file(db, served) == before and before.exists()
        assert sorted(p.name for p in before.parent.glob("*.parquet")) == [before.name]  # no new file left


def test_r13_a_correction_never_rewrites_the_key_nor_a_key_held_twice(client, db, world, tmp_path):
    served = _file_source(db, world, tmp_path)
    key = served.rows[2]["GMSFHM"]
    with db.session() as s:
        objection = objections.file_objection(s, world.actors["civil_requester"], served.grant_id, key, ["gmsfhm"],
                                              {"gmsfhm": served.rows[3]["GMSFHM"]}, "身份证号录入错误").id
    with db.session() as s, pytest.raises(ValidationFailed) as refused:
        objections.answer_objection(s, world.actors["police_reviewer"], objection, "corrected", "已更正",
                                    apply_correction=True)
    assert refused.value.field == "apply_correction" and "主键" in refused.value.message
    twice = [*served.rows, dict(served.rows[4], XM="重复记录")]
    with db.session() as s:
        connect.connect_file(s, world.actors["police_manager"], served.entry_id, csv_bytes(twice), "people.csv",
                             key_item="gmsfhm", column_map=COLUMN_MAP)
    objection = _object(db, world, served, served.rows[4]["GMSFHM"], {"csrq": "1901-03-01"})
    with db.session() as s, pytest.raises(ValidationFailed) as ambiguous:
        objections.answer_objection(s, world.actors["police_reviewer"], objection, "corrected", "已更正",
                                    apply_correction=True)
    assert ambiguous.value.field == "apply_correction" and "2 条" in ambiguous.value.message


def test_r13_an_export_of_a_managed_file_names_the_objections_among_its_rows(client, db, world, tmp_path):
    served = _file_source(db, world, tmp_path)
    inside = next(r for r in served.rows if r["XZQH"] == served.rows[0]["XZQH"])
    outside = next(r for r in served.rows if r["XZQH"] != inside["XZQH"])
    first = _object(db, world, served, inside["GMSFHM"], {"csrq": "1901-03-01"})
    second = _object(db, world, served, outside["GMSFHM"], {"csrq": "1901-03-01"})
    headers = token_headers(client, served.client_id, served.secret)
    url = f"/api/v1/data/{served.resource_code}/export"
    everything = client.post(url, json={"grant": served.grant_id}, headers=headers)
    assert everything.status_code == 200, everything.text
    assert everything.headers["X-Under-Verification"] == f"{first},{second}"
    filtered = client.post(url, json={"grant": served.grant_id, "filters": {"xzqhdm": inside["XZQH"]}},
                           headers=headers)
    assert filtered.headers["X-Under-Verification"] == str(first)
