"""Masking rules (R17): each rule exists as a Python function (lookups, pages, previews) and as a DuckDB
expression (exports); the two must give the same output for every value, or a requester would see one
thing through a lookup and another in an export. Also: the defaults by grade and kind, the grant's own
rules, rule parsing, and the per-requester hash key."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from govshare.catalog.models import DataItem
from govshare.errors import ValidationFailed
from govshare.gateway import masking
from govshare.gateway.service import item_rule

SALTS = ("3f2a" * 16, "it's a salt")  # a real salt is hex; the quote proves the literal is escaped
RULES = st.one_of(
    st.sampled_from(["none", "hash", "year", "null"]),
    st.builds(lambda first, last: f"keep:{first}:{last}", st.integers(0, 8), st.integers(0, 8)),
)
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=3),  # shorter than most keep rules
    st.text(),  # any code point but surrogates: combining marks, emoji, NUL
    st.text(alphabet=CJK, max_size=40),
    st.text(alphabet=st.one_of(CJK, st.sampled_from("0123456789X-省市区路号")), max_size=40),
)

_duckdb = duckdb.connect()


def _sql(rule: masking.Rule, value, salt: str):
    expression = masking.sql_expression(rule, masking.quote_identifier("v"), salt)
    return _duckdb.execute(f"SELECT {expression} FROM (SELECT CAST(? AS VARCHAR) AS v)", [value]).fetchone()[0]


@settings(max_examples=500, deadline=None)
@given(text=RULES, value=VALUES, salt=st.sampled_from(SALTS))
@example(text="keep:6:4", value="34010419900101001X", salt=SALTS[0])
@example(text="keep:1:0", value="欧阳", salt=SALTS[0])
@example(text="keep:3:4", value="1380013", salt=SALTS[0])
@example(text="year", value="1990-01-01", salt=SALTS[0])
@example(text="hash", value="", salt=SALTS[1])
def test_r17_python_and_duckdb_masking_agree_on_any_text(text, value, salt):
    rule = masking.parse_rule(text)
    assert masking.python_masker(rule, salt)(value) == _sql(rule, value, salt)


@settings(max_examples=60, deadline=None)
@given(text=RULES, values=st.lists(VALUES, max_size=30))
def test_r17_vectorized_masking_of_a_column_equals_the_row_by_row_masking(text, values):
    """The export's form: one statement over an Arrow column (as a SQL source's batches arrive)."""
    rule, salt = masking.parse_rule(text), SALTS[0]
    column = pa.table({"v": pa.array(values, type=pa.string()), "n": pa.array(range(len(values)))})
    connection = duckdb.connect()
    connection.register("batch", column)
    expression = masking.sql_expression(rule, masking.quote_identifier("v"), salt)
    masked = [row[0] for row in connection.execute(f"SELECT {expression} FROM batch ORDER BY n").fetchall()]
    python = masking.python_masker(rule, salt)
    assert masked == [python(v) for v in values]


def test_r17_keep_hash_year_null_on_examples():
    salt = SALTS[0]

    def mask(rule, value):
        return masking.python_masker(masking.parse_rule(rule), salt)(value)

    assert mask("keep:6:4", "34010419900101001X") == "340104********001X"
    assert mask("keep:1:0", "王小明") == "王**"
    assert mask("keep:3:4", "13800138000") == "138****8000"
    assert mask("keep:3:4", "1380") == "****"  # too short to keep anything: all starred, length kept
    assert mask("keep:0:0", "abc") == "***"
    assert mask("year", "1990-01-01") == "1990"
    assert mask("null", "anything") is None
    assert mask("none", 42) == 42
    assert all(mask(rule, None) is None for rule in ("keep:6:4", "hash", "year", "null", "none"))
    assert mask("hash", "王小明") == mask("hash", "王小明") != mask("hash", "王小红")
    assert len(mask("hash", "")) == 64


def test_r17_hash_key_is_per_requester_and_stable():
    secret = b"node-secret" * 3
    province, city = masking.requester_salt(secret, 3), masking.requester_salt(secret, 5)
    assert province == masking.requester_salt(secret, 3)
    assert province != city
    hashed = masking.python_masker(masking.Rule("hash"), province)("340104199001010011")
    assert hashed != masking.python_masker(masking.Rule("hash"), city)("340104199001010011")
    assert masking.requester_salt(b"another node" * 3, 3) != province


@pytest.mark.parametrize(("text", "rule"), [
    ("none", masking.Rule("none")), ("hash", masking.Rule("hash")), (" year ", masking.Rule("year")),
    ("null", masking.Rule("null")), ("keep:6:4", masking.Rule("keep", 6, 4)),
    ("keep:0:12", masking.Rule("keep", 0, 12)),
])
def test_r17_rules_parse(text, rule):
    assert masking.parse_rule(text) == rule
    assert masking.parse_rule(rule.text) == rule


@pytest.mark.parametrize("text", ["", "keep", "keep:6", "keep:a:4", "keep:-1:2", "keep:1:2:3", "keep:²:1",
                                  "keep:1:99999", "hash:1", "shuffle", "NONE", None])
def test_r17_invalid_rule_is_refused_naming_the_field(text):
    with pytest.raises(ValidationFailed) as refused:
        masking.parse_rule(text, field="masking.xm")
    assert refused.value.field == "masking.xm" and refused.value.status_code == 422
    assert "keep:前位数:后位数" in refused.value.message


@pytest.mark.parametrize(("grade", "personal", "kind", "rule"), [
    ("core", "none", None, "null"),  # 核心 data is withheld, whatever it is
    ("core", "spi", "id_number", "null"),
    ("general_1", "spi", "id_number", "keep:6:4"),  # sensitive personal information: masked by kind
    ("general_1", "spi", "mobile", "keep:3:4"),
    ("general_1", "spi", "bank_card", "keep:6:4"),
    ("general_1", "spi", "birth_date", "year"),
    ("general_1", "spi", None, "hash"),  # of unknown kind: hashed
    ("important", "pi", None, "hash"),  # personal information of 重要 grade: like sensitive
    ("important", "pi", "person_name", "keep:1:0"),
    ("general_3", "pi", "address", "keep:6:0"),  # other personal information: masked when its kind is known
    ("general_3", "pi", None, "none"),
    ("general_4", "none", None, "none"),  # general, not personal: as stored
    ("important", "none", None, "none"),
])
def test_r17_default_rule_by_grade_and_kind(grade, personal, kind, rule):
    assert masking.default_rule(grade, personal, kind).text == rule


def test_r17_grant_rule_wins_over_the_grade_and_the_kind_comes_from_profile_or_name():
    important = DataItem(name="bz", chinese_name="备注", grade="important", personal_info="pi")
    assert item_rule(important, {}, {}).text == "hash"
    assert item_rule(important, {"bz": "keep:1:1"}, {}).text == "keep:1:1"  # the grant's own rule wins
    core = DataItem(name="hx", chinese_name="核心指标", grade="core", personal_info="none")
    assert item_rule(core, {"hx": "none"}, {}).text == "null"  # but never over 核心: verified, never read
    phone = DataItem(name="lxdh", chinese_name="联系电话", grade="general_2", personal_info="spi")
    assert item_rule(phone, {}, {}).text == "keep:3:4"  # kind from the Chinese name
    assert item_rule(phone, {}, {"lxdh": {"kind": "bank_card"}}).text == "keep:6:4"  # profiling knows better
    assert item_rule(phone, {"lxdh": "none"}, {"lxdh": {"kind": "bank_card"}}).text == "none"
    with pytest.raises(ValidationFailed) as refused:
        item_rule(phone, {"lxdh": "keep:x"}, {})
    assert refused.value.field == "masking.lxdh"


# ---------------------------------------------------------------- placeholders of missing values (issue 13)

PLACEHOLDERS = ["N/A", "n/a", "NA", "na", "无", "-", "--", "/", "null", "Null", "", " ", "\t", " N/A ", "\u3000无"]
NOT_PLACEHOLDERS = ["N/A/B", "NAN", "nul", "无锡", "---", "-1", "//", "0", "王小明", "N.A."]


def _served_sql(rule: masking.Rule, value, salt: str):
    expression = masking.served_sql(rule, masking.quote_identifier("v"), salt)
    return _duckdb.execute(f"SELECT {expression} FROM (SELECT CAST(? AS VARCHAR) AS v)", [value]).fetchone()[0]


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_r17_a_placeholder_is_served_as_it_is_not_masked_into_stars(value):
    salt = SALTS[0]
    assert masking.is_placeholder(value)
    for text in ("keep:1:0", "keep:6:4", "keep:0:0", "hash", "year"):
        rule = masking.parse_rule(text)
        assert masking.served_masker(rule, salt)(value) == value == _served_sql(rule, value, salt)
    assert masking.served_masker(masking.Rule("null"), salt)(value) is None  # withheld is withheld
    assert _served_sql(masking.Rule("null"), value, salt) is None


@pytest.mark.parametrize("value", NOT_PLACEHOLDERS)
def test_r17_a_value_that_only_looks_like_a_placeholder_is_masked(value):
    salt, rule = SALTS[0], masking.parse_rule("keep:1:0")
    assert not masking.is_placeholder(value)
    assert masking.served_masker(rule, salt)(value) == masking.python_masker(rule, salt)(value)
    assert _served_sql(rule, value, salt) == masking.python_masker(rule, salt)(value)
    assert masking.served_masker(rule, salt)("N/A") == "N/A" and masking.python_masker(rule, salt)("N/A") == "N**"


@settings(max_examples=400, deadline=None)
@given(text=RULES, value=st.one_of(VALUES, st.sampled_from(PLACEHOLDERS + NOT_PLACEHOLDERS)),
       salt=st.sampled_from(SALTS))
def test_r17_served_masking_agrees_in_python_and_duckdb_on_any_text(text, value, salt):
    rule = masking.parse_rule(text)
    assert masking.served_masker(rule, salt)(value) == _served_sql(rule, value, salt)


def test_r17_kind_from_name_reads_personal_names():
    assert masking.kind_from_name("法人代表") == "person_name" and masking.kind_from_name("联系人") == "person_name"
    assert masking.kind_from_name("法定代表人身份证号") == "id_number"
    assert masking.kind_from_name("注册地址") == "address"  # a plain 地址 still masks as an address when personal


@pytest.mark.parametrize(("rule", "words"), [
    ("keep:6:4", "只显示前6位和后4位，其余以*遮盖"), ("keep:1:0", "只显示前1位，其余以*遮盖"),
    ("keep:0:4", "只显示后4位，其余以*遮盖"), ("keep:0:0", "全部以*遮盖"), ("year", "只显示年份"),
    ("hash", "替换为不可还原的编码"), ("null", "不提供"), ("none", "不脱敏"),
])
def test_a_masking_rule_is_described_in_the_words_a_clerk_reads(rule, words):
    """Pages and the API name a rule by what the requester will see (issue 14), never as 保留前1位、后0位."""
    assert masking.parse_rule(rule).label == words
