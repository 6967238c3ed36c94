"""Detecting sensitive items (R17): ID numbers and unified social credit codes by python-stdnum check digits,
mobile numbers by the allocated ranges (shared vectors), bank cards by Luhn, names, addresses and dates; the
suggested grades and masking; and the vectorized checks of the loader, which must agree with python-stdnum."""

from __future__ import annotations

import json
import random
import re
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pytest
from stdnum import luhn
from stdnum.cn import ric, uscc

from govshare.catalog import grades
from govshare.gateway import profiling
from govshare.gateway.profiling import detect_kind, is_id_number, suggestion, valid_mask
from tests.conftest import REAL

VECTORS = REAL / "vectors"
REGIONS = ("110105", "310112", "340102", "340103", "340104", "440305", "510107")


def uscc_vectors() -> list[str]:
    """The valid numbers of python-stdnum's own USCC tests (the block after `numbers = '''`)."""
    text = (VECTORS / "stdnum_test_cn_uscc.doctest").read_text(encoding="utf-8")
    block = text.split(">>> numbers = '''", 1)[1].split("... '''", 1)[0]
    return [line[4:].strip() for line in block.splitlines() if line.startswith("... ") and line[4:].strip()]


def mobile_vectors() -> tuple[list[str], list[str]]:
    """(numbers in allocated voice/SMS/data ranges, reserved or IoT numbers) of the shared vectors."""
    data = json.loads((VECTORS / "cn_mobile_numbers.json").read_text(encoding="utf-8"))
    valid = [str(n) for group in ("carrier", "mvno", "data_plan_only") for numbers in data[group].values()
             for n in numbers]
    invalid = [str(n) for numbers in (*data["reserved"].values(), *data["iot"].values()) for n in numbers]
    return valid, invalid


def id_numbers(count: int, seed: int = 3) -> list[str]:
    """Valid 公民身份号码 (check digit from stdnum: calc_check_digit reads the number with a placeholder)."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(29_000))
        body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{n % 1000:03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    return out


def wrong_digit(number: str) -> str:
    return number[:-1] + next(c for c in "0123456789X" if c != number[-1])


def bank_cards(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    cards = []
    for n in range(count):
        body = rng.choice(("622202", "621700", "436742")) + "".join(rng.choice("0123456789")
                                                                     for _ in range(9 + n % 4))
        cards.append(body + luhn.calc_check_digit(body))
    return cards


# ---------------------------------------------------------------- kinds


def test_r17_id_numbers_with_valid_check_digits_are_detected_and_wrong_ones_are_not():
    valid = id_numbers(200)
    assert all(is_id_number(n) for n in valid)
    assert detect_kind(valid) == ("id_number", 1.0)
    assert detect_kind([wrong_digit(n) for n in valid])[0] is None
    # the threshold: 85 % valid is a column of ID numbers with errors, 70 % is not an ID number column
    assert detect_kind(valid[:170] + [wrong_digit(n) for n in valid[170:]])[0] == "id_number"
    assert detect_kind(valid[:140] + [wrong_digit(n) for n in valid[140:]])[0] is None
    assert not is_id_number("34010219991332001X")  # no 32nd of the 13th month


def test_r17_an_id_number_born_before_its_district_existed_is_still_an_id_number():
    """stdnum's ric.is_valid also wants the district to have existed in the birth year; numbers were issued
    from 1984 with the codes of that time, so the detector leaves that rule out."""
    body = "34010319500101001"  # 合肥 庐阳 (340103) exists from 1983
    number = body + ric.calc_check_digit(body + "0")
    assert not ric.is_valid(number) and is_id_number(number)


def test_r17_unified_social_credit_codes_of_the_stdnum_vectors_are_detected():
    codes = uscc_vectors()
    assert len(codes) > 60 and all(uscc.is_valid(c) for c in codes)
    assert detect_kind(codes) == ("uscc", 1.0)
    broken = [c[:-1] + next(x for x in "0123456789ABCDEFGHJKLMNPQRTUWXY" if x != c[-1]) for c in codes]
    assert detect_kind(broken)[0] is None


def test_r17_mobile_numbers_in_allocated_ranges_are_detected_and_reserved_ones_are_not():
    valid, invalid = mobile_vectors()
    assert all(profiling.is_mobile(n) for n in valid)
    assert not any(profiling.is_mobile(n) for n in invalid)
    assert detect_kind(valid) == ("mobile", 1.0)
    assert detect_kind(["+86 " + n[:3] + "-" + n[3:7] + "-" + n[7:] for n in valid])[0] == "mobile"
    assert detect_kind(invalid)[0] is None


def test_r17_bank_cards_are_detected_by_luhn():
    cards = bank_cards(100)
    assert detect_kind(cards) == ("bank_card", 1.0)
    assert detect_kind([wrong_digit(c).replace("X", "1") for c in cards])[0] is None


def test_r17_names_addresses_and_dates():
    names = ["王伟", "李秀英", "欧阳娜娜", "张三", "买买提·艾力", "诸葛亮", "刘洋", "陈静", "杨帆", "黄磊"]
    assert detect_kind(names) == ("person_name", 1.0)
    assert detect_kind(["财务科", "办公室", "信息中心", "法规处", "档案馆"])[0] is None
    # a short list of places repeated (districts) is not a column of names, though 闵/黄/徐 are surnames
    districts = ["闵行", "黄浦", "徐汇", "杨浦"] * 20
    assert detect_kind(districts)[0] is None
    addresses = ["安徽省合肥市蜀山区长江西路 189 号", "上海市闵行区张虹路129号英杰商务楼5W", "沽源路110弄15号201室",
                 "合肥市庐阳区阜南路 5 号", "北京市海淀区中关村大街27号"]
    assert detect_kind(addresses) == ("address", 1.0)
    assert detect_kind(["上海兰阳商务咨询有限公司", "合肥市公安局", "安徽省数据资源管理局"])[0] is None
    dates = ["1980-01-02", "1979/12/31", "2001年3月4日", "19991231", "1950-07-01 00:00:00"]
    assert detect_kind(dates) == ("date", 1.0)
    assert detect_kind(dates, ("csrq", "出生日期")) == ("birth_date", 1.0)
    assert detect_kind(["2023-02-30", "abc", "1980-13-01"])[0] is None
    assert detect_kind([]) == (None, 0.0) and detect_kind(["", "  "]) == (None, 0.0)


# ---------------------------------------------------------------- suggestions


@pytest.mark.parametrize(("kind", "grade", "personal_info", "expected"), [
    ("id_number", "general_3", "pi", ("general_4", "spi", "keep:6:4")),
    ("bank_card", "general_1", "none", ("general_4", "spi", "keep:6:4")),
    ("mobile", "general_1", "none", ("general_3", "pi", "keep:3:4")),
    ("person_name", "general_2", "none", ("general_3", "pi", "keep:1:0")),
    ("birth_date", "general_3", "pi", ("general_3", "pi", "year")),
    ("address", "important", "spi", ("important", "spi", "keep:6:0")),  # never lower than it is
    ("uscc", "general_1", "none", ("general_1", "none", "none")),
    (None, "general_2", "none", ("general_2", "none", "none")),
    ("id_number", "core", "spi", ("core", "spi", "null")),
])
def test_r17_suggested_grade_personal_info_and_masking(kind, grade, personal_info, expected):
    assert suggestion(kind, grade, personal_info) == expected


def test_r17_in_records_of_organizations_an_address_is_not_personal_information():
    assert suggestion("address", "general_1", "none", of_organizations=True) == ("general_1", "none", "none")
    assert suggestion("person_name", "general_1", "none", of_organizations=True)[:2] == ("general_3", "pi")


def test_r14_profile_counts_nulls_and_distinct_values_per_item():
    class Item:
        def __init__(self, name, chinese_name):
            self.name, self.chinese_name, self.grade, self.personal_info = name, chinese_name, "general_2", "none"

    numbers = id_numbers(50)
    table = pa.table({"SFZH": [*numbers, None, "", numbers[0]], "XB": [*(["1", "2"] * 26), None]})
    connection = duckdb.connect()
    connection.register("t", table)
    profile = profiling.profile_relation(connection, "t", [Item("sfzh", "身份证号"), Item("xb", "性别")],
                                         {"sfzh": "SFZH", "xb": "XB"}, total_rows=1000, sampled=True)
    assert profile["rows"] == 1000 and profile["sampled"] is True and profile["sample_rows"] == 53
    sfzh = profile["items"]["sfzh"]
    assert (sfzh["nulls"], sfzh["distinct"], sfzh["kind"], sfzh["column"]) == (2, 51, "id_number", "SFZH")
    assert (sfzh["suggested_grade"], sfzh["suggested_personal_info"], sfzh["suggested_masking"]) == (
        "general_4", "spi", "keep:6:4")
    assert profile["items"]["xb"]["distinct"] == 2 and profile["items"]["xb"]["kind"] is None


# ---------------------------------------------------------------- the loader's vectorized checks


def test_r17_vectorized_uscc_check_agrees_with_stdnum():
    rng = random.Random(9)
    codes = uscc_vectors()
    values = [*codes, *[c[:i] + rng.choice("0123456789ABCXYZIOS") + c[i + 1:] for c in codes
                        for i in (rng.randrange(18),)],
              "91 110000 600037341L", "91110000600037341l", "A1110000600037341L", "9111000060003IOZSV", "", None,
              "12345"]
    assert valid_mask("uscc", pa.array(values)).to_pylist() == [bool(v) and uscc.is_valid(v) for v in values]


def test_r17_vectorized_id_number_check_agrees_with_stdnum_check_digit_and_birth_date():
    rng = random.Random(4)
    numbers = id_numbers(1500)
    values = [n if rng.random() < 0.6 else wrong_digit(n) for n in numbers]
    values += [n[:10] + "13" + n[12:] for n in numbers[:30]]  # month 13
    values += [n[:-1] + "x" for n in numbers[:10]] + [" " + numbers[0], "3401021980", None]
    expected = [v is not None and is_id_number(v) for v in values]
    assert valid_mask("id_number", pa.array(values)).to_pylist() == expected
    assert 0 < sum(expected) < len(values)


def test_r17_vectorized_luhn_and_mobile_checks_agree_with_stdnum_and_the_vectors():
    rng = random.Random(2)
    digits = ["".join(rng.choice("0123456789") for _ in range(rng.randint(14, 20))) for _ in range(2000)]
    values = bank_cards(200) + digits
    assert valid_mask("bank_card", pa.array(values)).to_pylist() == [
        16 <= len(v) <= 19 and luhn.is_valid(v) for v in values]
    valid, invalid = mobile_vectors()
    assert valid_mask("mobile", pa.array(valid + invalid)).to_pylist() == [True] * len(valid) + [False] * len(invalid)


def test_r17_vectorized_uscc_check_agrees_with_stdnum_on_the_real_register():
    import csv

    with (REAL / "datasets" / "enterprise_registration_shanghai_2002.csv").open(encoding="utf-8", newline="") as f:
        codes = [row[1] for row in list(csv.reader(f))[1:]]
    mask = valid_mask("uscc", pa.array(codes)).to_pylist()
    assert mask == [uscc.is_valid(c) for c in codes] and sum(mask) == 4318


def test_r17_surname_list_is_data_and_has_compound_surnames():
    compound, single = profiling.surnames()
    assert "欧阳" in compound and "王" in single and len(single) > 300
    assert all(re.fullmatch(r"[\u4e00-\u9fff]", s) for s in single)


# ---------------------------------------------------------------- names and placeholders (issue 13)


@pytest.mark.parametrize(("name", "kind"), [
    ("法定代表人", "person_name"), ("法人代表", "person_name"), ("企业法定代表人", "person_name"),
    ("姓名", "person_name"), ("联系人", "person_name"), ("联系电话", "mobile"), ("手机号", "mobile"),
    ("法定代表人电话", "mobile"), ("身份证号", "id_number"), ("法定代表人身份证号码", "id_number"),
    ("公民身份号码", "id_number"), ("住址", "address"), ("家庭住址", "address"), ("户籍地址", "address"),
    ("出生日期", "birth_date"), ("银行卡号", "bank_card"), ("fddbr", "person_name"), ("SFZH", "id_number"),
    # an organization's items, and items that name no person
    ("注册地址", None), ("企业名称", None), ("单位联系电话", None), ("企业住址", None), ("统一社会信用代码", None),
    ("企业类型", None), ("注册资金", None), ("行政区划代码", None), ("", None),
])
def test_r17_personal_kind_of_name(name, kind):
    assert grades.personal_kind_of_name(name) == kind


def test_r17_import_warning_for_an_item_named_personal_but_declared_not_personal():
    warning = grades.undeclared_personal_warning("法人代表", "none")
    assert warning == "信息项“法人代表”名称像个人信息，但申报为非个人信息"
    assert grades.undeclared_personal_warning("法人代表", "非个人信息") is not None  # the label, as a file writes it
    assert grades.undeclared_personal_warning("负责人姓名", "pi") is None  # declared personal: nothing to warn of
    assert grades.undeclared_personal_warning("企业名称", "none") is None
    assert grades.undeclared_personal_warning("代表", "none", name="fddbr") == (
        "信息项“代表”名称像个人信息，但申报为非个人信息")


class _Item:
    def __init__(self, name, chinese_name, grade="general_1", personal_info="none"):
        self.name, self.chinese_name, self.grade, self.personal_info = name, chinese_name, grade, personal_info


def _profile(columns: dict[str, list], items: list[_Item], key_item: str | None = None) -> dict:
    connection = duckdb.connect()
    connection.register("t", pa.table(columns))
    mapping = {item.name: column for item, column in zip(items, columns, strict=True)}
    return profiling.profile_relation(connection, "t", items, mapping, key_item=key_item)["items"]


def test_r17_a_column_named_like_personal_information_is_personal_whatever_its_values():
    codes = uscc_vectors()[:60]
    columns = {"统一社会信用代码": codes, "法人代表": ["N/A"] * 60, "联系电话": ["-"] * 30 + [None] * 30,
               "企业类型": ["N/A"] * 60}
    items = [_Item("tyshxydm", "统一社会信用代码"), _Item("fddbr", "法人代表"), _Item("lxdh", "联系电话"),
             _Item("qylx", "企业类型")]
    profiled = _profile(columns, items, key_item="tyshxydm")  # records of organizations: still personal
    legal = profiled["fddbr"]
    assert (legal["kind"], legal["suggested_grade"], legal["suggested_personal_info"], legal["suggested_masking"]) == (
        "person_name", "general_3", "pi", "keep:1:0")
    phone = profiled["lxdh"]
    assert (phone["kind"], phone["suggested_personal_info"], phone["suggested_masking"]) == ("mobile", "pi", "keep:3:4")
    assert profiled["qylx"]["kind"] is None and profiled["qylx"]["suggested_personal_info"] == "none"
    # values of another personal kind win over the name: a 联系人 column holding mobile numbers is mobiles
    mobiles, _ = mobile_vectors()
    named = _profile({"联系人": mobiles[:60]}, [_Item("lxr", "联系人")])["lxr"]
    assert named["kind"] == "mobile" and named["named_kind"] == "person_name"


PLACEHOLDERS = ["N/A", "n/a", "NA", "na", "无", "-", "--", "/", "null", "NULL", "", "   ", " N/A ", "\u3000"]


def test_r14_placeholders_count_as_missing_and_are_not_values():
    numbers = id_numbers(40)
    table = {"SFZH": [*numbers, *PLACEHOLDERS, None], "BZ": ["备注"] * 40 + ["N/A/B", "NAN", "无锡", "-1", "0"]
                                                                       + ["x"] * (len(PLACEHOLDERS) - 4)}
    profiled = _profile(table, [_Item("sfzh", "身份证号"), _Item("bz", "备注")])
    assert profiled["sfzh"]["nulls"] == len(PLACEHOLDERS) + 1  # every placeholder, and NULL
    assert profiled["sfzh"]["kind"] == "id_number" and profiled["sfzh"]["match_ratio"] == 1.0
    assert profiled["sfzh"]["sampled_values"] == 40
    assert profiled["bz"]["nulls"] == 0  # N/A/B, NAN, 无锡, -1 and 0 are values
    # the placeholders do not dilute a kind: 40 ID numbers among 40 N/A are a column of ID numbers
    assert detect_kind(numbers + ["N/A"] * 40) == ("id_number", 1.0)
    assert detect_kind(PLACEHOLDERS) == (None, 0.0)


def test_r09_identifiers_are_normalized_per_kind():
    code = "91310120734580606X"
    for typed in ("91310120734580606x", "９１３１０１２０７３４５８０６０６Ｘ", " 9131 0120 7345 8060 6X ",
                  "91310120-734580606x", "９１３１０１２０７３４５８０６０６ｘ\u3000"):
        assert profiling.normalize_identifier(typed, "uscc") == code
        assert profiling.normalize_identifier(typed, "id_number") == code
    # other values are only trimmed: a name or an address keeps its full-width forms and case
    assert profiling.normalize_identifier(" 上海（分公司）Ａ ", None) == "上海（分公司）Ａ"
    assert profiling.normalize_identifier(" abc ", "person_name") == "abc"
    assert profiling.identifier_kind(None, "统一社会信用代码") == "uscc"
    assert profiling.identifier_kind(None, "公民身份号码") == "id_number"
    assert profiling.identifier_kind("uscc", "备注") == "uscc"
    assert profiling.identifier_kind("address", "身份证号") is None  # its values say otherwise
    assert profiling.identifier_kind(None, "企业名称") is None
