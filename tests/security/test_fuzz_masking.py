"""Properties of the masking rules (R17, src/govshare/gateway/masking.py) for any input: what a rule shows of a
value is exactly the characters at the positions the rule keeps, in the shape the rule says, and no input makes
a rule raise.

Each rule's positions and shape:
- `none`: the value as stored (identity);
- `keep:F:L`: the same number of characters (code points) as the value; the first F and the last L are the
  value's own, every other one is `*`; a value of at most F+L characters is all `*` (nothing kept);
- `hash`: 64 lowercase hex digits, SHA-256 of the requester's salt and the value (no position of the value);
- `year`: the first four characters (the year of an ISO date), nothing after them;
- `null`: nothing (None).
None stays None under every rule. The inputs are any text but lone surrogates (which no UTF-8 source can hold):
NUL, control characters, combining marks, full-width forms, CJK, emoji, and non-text values (numbers).

That the Python masker (lookups, pages) and the DuckDB expression (exports) agree on any text is
tests/test_gateway_masking.py::test_r17_python_and_duckdb_masking_agree_on_any_text; the properties here hold for
both because they are proved equal there."""

from __future__ import annotations

import hashlib
import re
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from govshare.errors import ValidationFailed
from govshare.gateway import masking

SALTS = ("3f2a" * 16, "it's a salt")
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
FULL_WIDTH = st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E)  # ０-９, Ａ-Ｚ, ｘ …
COMBINING = st.characters(min_codepoint=0x0300, max_codepoint=0x036F)
SPECIAL = st.sampled_from(["\x00", "\x1f", "\u200b", "\u202e", "\ufeff", "\ufffd", "*", "'", '"', "\\", "\n",
                           "Ｘ", "\U0010ffff"])
CLUSTERS = st.sampled_from(["👨\u200d👩\u200d👧", "e\u0301", "\U0001f1e8\U0001f1f3"])  # several code points each
TEXTS = st.one_of(
    st.text(),  # every code point but surrogates (hypothesis leaves category Cs out)
    st.lists(st.one_of(CJK, FULL_WIDTH, COMBINING, SPECIAL, CLUSTERS), max_size=30).map("".join),
    st.text(alphabet=st.one_of(st.sampled_from("0123456789X-"), FULL_WIDTH, SPECIAL), max_size=20),
    st.text(max_size=3),
)
VALUES = st.one_of(st.none(), TEXTS, st.integers(), st.floats(allow_nan=True))
KEEP = st.tuples(st.integers(0, 12), st.integers(0, 12))
RULE_TEXTS = st.one_of(st.sampled_from(["none", "hash", "year", "null"]),
                       KEEP.map(lambda fl: f"keep:{fl[0]}:{fl[1]}"))


def _kept(rule: masking.Rule, length: int) -> set[int]:
    """The positions of a value of `length` characters that the keep rule shows."""
    if length <= rule.first + rule.last:
        return set()
    return set(range(rule.first)) | set(range(length - rule.last, length))


@settings(max_examples=400, deadline=None)
@given(first_last=KEEP, value=VALUES, salt=st.sampled_from(SALTS))
@example(first_last=(6, 4), value="34010419900101001X", salt=SALTS[0])
@example(first_last=(1, 0), value="欧阳娜娜", salt=SALTS[0])
@example(first_last=(3, 4), value="１３８００１３８０００", salt=SALTS[0])  # full-width digits
@example(first_last=(1, 0), value="e\u0301\u0301", salt=SALTS[0])  # combining marks count as characters
@example(first_last=(0, 0), value="\x00\x00", salt=SALTS[0])
def test_r17_keep_shows_exactly_the_kept_positions_and_stars_the_rest(first_last, value, salt):
    rule = masking.Rule("keep", *first_last)
    masked = masking.python_masker(rule, salt)(value)
    if value is None:
        assert masked is None
        return
    original = str(value)
    assert isinstance(masked, str) and len(masked) == len(original)  # the shape: one character for one
    kept = _kept(rule, len(original))
    for position, (shown, stored) in enumerate(zip(masked, original, strict=True)):
        if position in kept:
            assert shown == stored, (position, masked, original)
        else:
            assert shown == "*", f"position {position} of {original!r} leaks {shown!r} in {masked!r}"
    # what the output shows is a subset of the kept characters (nothing of the middle, whatever it holds)
    assert {c for c in masked if c != "*"} <= {original[p] for p in kept}


@settings(max_examples=300, deadline=None)
@given(value=VALUES, salt=st.sampled_from(SALTS))
@example(value="1990-01-01", salt=SALTS[0])
@example(value="张三丰某人", salt=SALTS[0])
@example(value="１９９０－０１－０１", salt=SALTS[0])
def test_r17_year_shows_the_first_four_characters_and_nothing_after(value, salt):
    masked = masking.python_masker(masking.Rule("year"), salt)(value)
    if value is None:
        assert masked is None
        return
    original = str(value)
    assert masked == original[:4]
    assert len(masked) == min(4, len(original))


@settings(max_examples=300, deadline=None)
@given(value=VALUES, salt=st.sampled_from(SALTS), other_salt=st.text(min_size=1, max_size=8))
@example(value="", salt=SALTS[0], other_salt="x")
@example(value="\x00", salt=SALTS[1], other_salt="y")
def test_r17_hash_is_64_hex_of_salt_and_value_and_keeps_no_position(value, salt, other_salt):
    masked = masking.python_masker(masking.Rule("hash"), salt)(value)
    if value is None:
        assert masked is None
        return
    assert re.fullmatch(r"[0-9a-f]{64}", masked), masked
    assert masked == hashlib.sha256((salt + str(value)).encode()).hexdigest()
    if other_salt != salt:  # another requester's salt: another token for the same value
        assert masking.python_masker(masking.Rule("hash"), other_salt)(value) != masked
    if str(value) and not set(str(value)) <= set(string.hexdigits):
        assert str(value) not in masked


@settings(max_examples=200, deadline=None)
@given(value=VALUES, salt=st.sampled_from(SALTS))
def test_r17_null_withholds_and_none_serves_as_stored(value, salt):
    assert masking.python_masker(masking.Rule("null"), salt)(value) is None
    assert masking.python_masker(masking.Rule("none"), salt)(value) is value


@settings(max_examples=300, deadline=None)
@given(rule_text=RULE_TEXTS, value=VALUES, salt=st.one_of(st.sampled_from(SALTS), st.text(max_size=10)))
def test_r17_no_rule_raises_on_any_input(rule_text, value, salt):
    rule = masking.parse_rule(rule_text)
    masked = masking.python_masker(rule, salt)(value)
    assert masked is None or isinstance(masked, (str, int, float))
    # the SQL expression of the export is built for any salt, its literal quoted
    expression = masking.sql_expression(rule, masking.quote_identifier("v"), salt)
    assert expression.count("'") % 2 == 0


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(), st.text(alphabet="keep:0123456789²٣ hashyearnul", max_size=16)))
@example(text="keep:1:99999")
@example(text="keep:٣:1")  # a non-ASCII digit is no digit here
@example(text="keep:1:2\n")
def test_r17_parsing_any_text_gives_a_rule_or_a_422_naming_the_field(text):
    try:
        rule = masking.parse_rule(text, field="masking.xm")
    except ValidationFailed as refused:
        assert refused.field == "masking.xm" and refused.status_code == 422
        return
    assert rule.name in masking.RULE_LABELS
    assert masking.parse_rule(rule.text) == rule  # what is stored reads back as the same rule
    if rule.name == "keep":
        assert re.fullmatch(r"keep:\d{1,4}:\d{1,4}", rule.text)


@pytest.mark.parametrize("given_value", [5, 1.5, b"keep:1:1", ["hash"], {"rule": "hash"}, object()])
def test_r17_a_rule_that_is_not_text_is_refused(given_value):
    with pytest.raises(ValidationFailed):
        masking.parse_rule(given_value, field="masking.xm")


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=20), grade=st.sampled_from(["core", "important", "general_4", "general_1", "", "x"]),
       personal=st.sampled_from(["none", "pi", "spi", "", "x"]))
def test_r17_default_rules_never_raise_and_core_is_always_withheld(name, grade, personal):
    kind = masking.kind_from_name(name)
    assert kind is None or kind in masking.KIND_DEFAULTS
    rule = masking.default_rule(grade, personal, kind)
    assert rule.name in masking.RULE_LABELS
    if grade == "core":
        assert rule.name == "null"
    if personal == "spi" and grade != "core":
        assert rule.name != "none"  # sensitive personal information is never served as stored by default
