"""Profiling a connected source (R14, R17): rows, empty values and distinct values per item, and what kind of
value each item holds, so that the provider can confirm grades, the personal-information flag and masking.

The counts are one DuckDB statement over the source (the managed Parquet file of a file source; a bounded
sample read as Arrow from a SQL table, reported as a sample). The kind of an item is decided on a random
sample of its non-empty values (`KIND_SAMPLE`): 公民身份号码 and 统一社会信用代码 by python-stdnum
(`cn.ric`, see `is_id_number`; `cn.uscc`), bank cards by the Luhn check (`stdnum.luhn`), mobile numbers by
the allocated number ranges, names by a common surname, addresses by their place words, dates by their
form. A kind is assigned when at least `THRESHOLD` of the sampled values match it. An item whose name says it is
personal information (法人代表, 姓名, 联系电话, 身份证号, 住址 …: `catalog.grades.personal_kind_of_name`) is of that
kind whatever its values, unless they show another personal kind: a 法人代表 column that is `N/A` in every row
is still a column of names. Placeholders for missing values (`N/A`, `无`, `-`, `null`, blank …:
`masking.is_placeholder`) count as empty, never as values.

Loading a file also needs the check digits of every key value (a row whose key fails is reported and
skipped). That runs over whole Arrow columns (`valid_mask`): the same rules as python-stdnum's validate,
as vectorized arithmetic (a Python call per value would take minutes on a large file); tests prove both
agree on the shared test vectors and on the real register."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from importlib import resources

import duckdb
import pyarrow as pa
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from govshare.catalog import grades
from govshare.catalog.vocab import GRADE_RANK, Grade, LabelledEnum, PersonalInfo
from govshare.fields import is_digits
from govshare.gateway import masking
from govshare.gateway.masking import quote_identifier

SAMPLE_ROWS = 100_000  # rows of a SQL source read for its profile
KIND_SAMPLE = 1_000  # values per item whose kind is checked one by one (±3 % on the share at 80 %)
THRESHOLD = 0.8  # share of sampled values that must match for a kind to be assigned
MIN_DISTINCT_SHARE = 0.3  # names and addresses are (nearly) all different; a short list of places is not


class Kind(LabelledEnum):
    USCC = "uscc", "统一社会信用代码"
    ID_NUMBER = "id_number", "公民身份号码"
    BANK_CARD = "bank_card", "银行卡号"
    MOBILE = "mobile", "手机号码"
    BIRTH_DATE = "birth_date", "出生日期"
    DATE = "date", "日期"
    PERSON_NAME = "person_name", "姓名"
    ADDRESS = "address", "地址"


# The least protection an item of a kind should have: (grade, personal-information flag). A suggestion never
# lowers what the catalog already says. ID numbers and bank cards are sensitive personal information
# (PIPL Art. 28: identifiers and financial accounts); the other personal kinds are personal information.
KIND_FLOORS: dict[str, tuple[Grade, PersonalInfo]] = {
    Kind.ID_NUMBER: (Grade.GENERAL_4, PersonalInfo.SENSITIVE),
    Kind.BANK_CARD: (Grade.GENERAL_4, PersonalInfo.SENSITIVE),
    Kind.MOBILE: (Grade.GENERAL_3, PersonalInfo.PERSONAL),
    Kind.PERSON_NAME: (Grade.GENERAL_3, PersonalInfo.PERSONAL),
    Kind.ADDRESS: (Grade.GENERAL_3, PersonalInfo.PERSONAL),
    Kind.BIRTH_DATE: (Grade.GENERAL_3, PersonalInfo.PERSONAL),
}
PI_RANK = {PersonalInfo.NONE: 0, PersonalInfo.PERSONAL: 1, PersonalInfo.SENSITIVE: 2}

# Mobile numbers (11 digits, optionally +86): the voice, SMS and data-only ranges allocated by MIIT, as in
# the number-range data of github.com/VincentSit/ChinaMobilePhoneNumberRegex (its reserved ranges and
# 13-digit IoT numbers do not match). RE2 syntax: the same pattern runs in Arrow compute.
MOBILE = (r"^(?:\+?86)?1(?:3[0-9]|4[5-9]|5[0-35-9]|6[567]|7[01356-8]|8[0-9]|9[189])[0-9]{8}$"
          r"|^(?:\+?86)?174(?:0[0-9]|1[0-2]|9[0-9])[0-9]{6}$")
MOBILE_RE = re.compile(MOBILE)
DATE_RE = re.compile(r"^(\d{4})(?:[-/.年])(\d{1,2})(?:[-/.月])(\d{1,2})日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
                     r"|^(\d{4})(\d{2})(\d{2})$")
BIRTH_HINTS = ("出生", "生日", "birth", "csrq", "csny")
CJK_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$|^[\u4e00-\u9fff]{1,10}(?:[·•][\u4e00-\u9fff]{1,10}){1,3}$")
PLACE_WORDS = ("省", "自治区", "市", "区", "县", "旗", "镇", "乡", "街道", "村", "路", "街", "大道", "巷", "弄", "号",
               "室", "栋", "幢", "楼", "单元", "组", "小区")
ORGANIZATION_ENDINGS = ("公司", "中心", "厂", "局", "院", "所", "店", "部", "社", "会", "处", "站", "队", "行")


@lru_cache(maxsize=1)
def surnames() -> tuple[tuple[str, ...], frozenset[str]]:
    """(compound surnames, single-character surnames) of data/surnames.txt."""
    text = resources.files("govshare.data").joinpath("surnames.txt").read_text(encoding="utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return tuple(n for n in names if len(n) > 1), frozenset(n for n in names if len(n) == 1)


# ---------------------------------------------------------------- one value


def _compact(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def is_id_number(value: str) -> bool:
    """A 公民身份号码 by python-stdnum's `cn.ric` rules for length, form, check digit and birth date. Its
    birthplace rule (the region code must have existed in the birth year) is left out: numbers were issued
    from 1984 with the codes of that time, so everybody born earlier in a district created later (合肥
    340103 in 1983, say) would fail it."""
    number = ric.compact(value)
    if len(number) != 18 or not is_digits(number[:17]) or number[-1] != ric.calc_check_digit(number):
        return False
    try:
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return True


# Identifiers a requester types or copies from a document: compared as their check-digit code defines them.
NORMALIZED_KINDS = (Kind.USCC, Kind.ID_NUMBER)
IDENTIFIER_NAMES = (("统一社会信用代码", Kind.USCC), ("信用代码", Kind.USCC), ("身份号码", Kind.ID_NUMBER),
                    ("身份证", Kind.ID_NUMBER))
_BLANKS_AND_HYPHENS = re.compile(r"[\s\-]")


def identifier_kind(kind: str | None, *names: str) -> str | None:
    """The identifier kind (credit code or ID number) of an item: the kind its values were found to be, else the
    one its names say (统一社会信用代码, 公民身份号码, 身份证号); None for any other item."""
    if kind in NORMALIZED_KINDS:
        return str(kind)
    if kind is not None:
        return None  # its values are of another kind, whatever it is called
    return next((str(found) for name in names for word, found in IDENTIFIER_NAMES if word in (name or "")), None)


def normalize_identifier(value: object, kind: str | None) -> str:
    """A value of an item of `kind` as its code defines it, so that a key typed by hand finds its row: for credit
    codes and ID numbers, full-width digits and letters made half-width (NFKC), spaces and hyphens removed,
    upper case (`９１３１０１２０７３４５８０６０６ｘ` → `91310120734580606X`); other values only trimmed."""
    text = str(value)
    if kind not in NORMALIZED_KINDS:
        return text.strip()
    return _BLANKS_AND_HYPHENS.sub("", unicodedata.normalize("NFKC", text)).upper()


def is_mobile(value: str) -> bool:
    return bool(MOBILE_RE.match(_compact(value)))


def is_bank_card(value: str) -> bool:
    digits = _compact(value)
    return 16 <= len(digits) <= 19 and is_digits(digits) and luhn.is_valid(digits)


def parse_date(value: str) -> date | None:
    match = DATE_RE.match(value.strip())
    if not match:
        return None
    year, month, day = (int(g) for g in (match.groups()[:3] if match.group(1) else match.groups()[3:]))
    try:
        return date(year, month, day)
    except ValueError:
        return None


def is_person_name(value: str) -> bool:
    text = value.strip()
    if not CJK_NAME.match(text):
        return False
    if "·" in text or "•" in text:
        return True  # names of ethnic minorities are written with a middle dot and have no Han surname
    compound, single = surnames()
    return text[0] in single or any(text.startswith(s) and len(text) > len(s) for s in compound)


def is_address(value: str) -> bool:
    text = value.strip()
    if not 4 <= len(text) <= 100 or text.endswith(ORGANIZATION_ENDINGS):
        return False
    return sum(1 for word in PLACE_WORDS if word in text) >= 2


def _is_date(value: str) -> bool:
    return parse_date(value) is not None


# kind -> (shape: a cheap test most values of the kind pass, full test). The shape is counted first: a kind
# whose shape matches fewer than THRESHOLD of the values is not tried value by value.
_SHAPE_18 = re.compile(r"^[0-9A-Za-z]{18}$")
CHECKS = {
    Kind.USCC: (lambda v: bool(_SHAPE_18.match(_compact(v))), uscc.is_valid),
    Kind.ID_NUMBER: (lambda v: bool(_SHAPE_18.match(_compact(v))), is_id_number),
    Kind.BANK_CARD: (lambda v: is_digits(_compact(v)) and 16 <= len(_compact(v)) <= 19, is_bank_card),
    Kind.MOBILE: (lambda v: 11 <= len(_compact(v)) <= 14, is_mobile),
    Kind.DATE: (lambda v: any(c.isdigit() for c in v[:4]), _is_date),
    Kind.PERSON_NAME: (lambda v: 2 <= len(v.strip()) <= 20, is_person_name),
    Kind.ADDRESS: (lambda v: 4 <= len(v.strip()) <= 100, is_address),
}


def detect_kind(values: list[str], hints: tuple[str, ...] = ()) -> tuple[str | None, float]:
    """The kind most of `values` (non-empty strings) are, and its share; (None, best share) when none
    reaches THRESHOLD. `hints` (the item's names) tell a birth date from another date. Placeholders of missing
    values (`N/A`, `无`, `-` …) are not values."""
    values = [v for v in (str(v).strip() for v in values) if v and not masking.is_placeholder(v)]
    if not values:
        return None, 0.0
    distinct_share = len(set(values)) / len(values)
    best: tuple[str | None, float] = (None, 0.0)
    for kind, (shape, check) in CHECKS.items():
        if sum(1 for v in values if shape(v)) < THRESHOLD * len(values):
            continue
        share = sum(1 for v in values if check(v)) / len(values)
        if kind in (Kind.PERSON_NAME, Kind.ADDRESS) and len(values) >= 50 and distinct_share < MIN_DISTINCT_SHARE:
            continue
        if share > best[1]:
            best = (kind, share)
        if share >= 0.99:
            break  # the kinds exclude one another: nothing else can beat it
    kind, share = best
    if share < THRESHOLD:
        return None, round(share, 3)
    if kind == Kind.DATE and any(h in (hint or "").lower() for hint in hints for h in BIRTH_HINTS):
        kind = Kind.BIRTH_DATE
    return str(kind), round(share, 3)


# ---------------------------------------------------------------- whole columns (vectorized)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
RIC_WEIGHTS = tuple(pow(2, 16 - i, 11) for i in range(17))  # stdnum: int(body, 13) mod 11, as 13 ≡ 2 (mod 11)
CHECKED_KINDS = (Kind.USCC, Kind.ID_NUMBER, Kind.BANK_CARD, Kind.MOBILE)


def _char(position: int, v: str) -> str:
    return f"substr({v}, {position}, 1)"


def _digit(position: int, v: str) -> str:
    return f"(ascii({_char(position, v)}) - 48)"


def check_sql(kind: str, v: str = "v") -> str:
    """A DuckDB boolean expression over the column `v` (the value, upper case, spaces and hyphens removed:
    `normalized_sql`) that is true when it is a valid `kind`: the rules of python-stdnum's validate, as column
    arithmetic."""
    if kind == Kind.USCC:
        code = lambda p: f"(strpos('{USCC_ALPHABET}', {_char(p, v)}) - 1)"  # noqa: E731
        total = " + ".join(f"{code(p + 1)} * {w}" for p, w in enumerate(USCC_WEIGHTS))
        return (f"regexp_full_match({v}, '[0-9]{{8}}[0-9A-HJ-NPQRTUWXY]{{10}}') "
                f"AND {code(18)} = (31 - ({total}) % 31) % 31")
    if kind == Kind.ID_NUMBER:
        total = " + ".join(f"{_digit(p + 1, v)} * {w}" for p, w in enumerate(RIC_WEIGHTS))
        last = f"CASE WHEN {_char(18, v)} = 'X' THEN 10 ELSE {_digit(18, v)} END"
        return (f"regexp_full_match({v}, '[0-9]{{17}}[0-9X]') "
                f"AND try_strptime(substr({v}, 7, 8), '%Y%m%d') IS NOT NULL "
                f"AND {last} = ((1 - 2 * (({total}) % 11)) % 11 + 11) % 11")
    if kind == Kind.BANK_CARD:
        # Luhn over the number padded to 19 digits (leading zeros do not change the sum): from the right,
        # every second digit is doubled, and a doubled digit above 9 counts as the sum of its digits.
        padded = f"lpad({v}, 19, '0')"
        terms = []
        for p in range(1, 20):
            digit = f"(ascii(substr({padded}, {p}, 1)) - 48)"
            terms.append(f"(({digit} * 2) % 10 + ({digit} * 2) // 10)" if (19 - p) % 2 else digit)
        return f"regexp_full_match({v}, '[0-9]{{16,19}}') AND ({' + '.join(terms)}) % 10 = 0"
    if kind == Kind.MOBILE:
        return f"regexp_matches({v}, {masking.quote_literal(MOBILE)})"
    raise ValueError(f"no vectorized check for {kind}")


def normalized_sql(text: str) -> str:
    """The VARCHAR expression `text` as `check_sql` reads it: upper case, spaces and hyphens removed."""
    return f"upper(regexp_replace({text}, '[\\s-]', '', 'g'))"


def arrow_result(relation) -> pa.Table:
    """The Arrow table of a DuckDB relation (the method is named differently across DuckDB versions)."""
    method = getattr(relation, "to_arrow_table", None) or relation.arrow
    return method()


def valid_mask(kind: str, column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """True per value that is a valid `kind` (one of CHECKED_KINDS), False for other values and nulls. The
    same rules as python-stdnum's validate for uscc (length, form, check character), `is_id_number` for ID
    numbers (length, form, check digit, birth date), Luhn for bank cards, the allocated ranges for mobiles."""
    connection = duckdb.connect()
    try:
        connection.register("source_values", pa.table({"raw": column}))
        result = connection.sql(
            f"SELECT coalesce({check_sql(kind)}, false) AS ok FROM "
            f"(SELECT {normalized_sql('CAST(raw AS VARCHAR)')} AS v FROM source_values)")
        return arrow_result(result).column("ok").combine_chunks()
    finally:
        connection.close()


# ---------------------------------------------------------------- suggestions


def suggestion(kind: str | None, grade: str, personal_info: str, *,
               of_organizations: bool = False) -> tuple[str, str, str]:
    """(grade, personal-information flag, masking rule) suggested for an item now graded `grade` and
    flagged `personal_info` that holds values of `kind`: the kind's floor, never below what it has. In records
    of organizations (keyed by a credit code) an address is an organization's, not personal information."""
    floor = None if of_organizations and kind == Kind.ADDRESS else KIND_FLOORS.get(kind or "")
    suggested_grade, suggested_pi = grade, personal_info
    if floor is not None:
        if GRADE_RANK[Grade(floor[0])] > GRADE_RANK[Grade(grade)]:
            suggested_grade = floor[0].value
        if PI_RANK[PersonalInfo(floor[1])] > PI_RANK[PersonalInfo(personal_info)]:
            suggested_pi = floor[1].value
    rule = masking.default_rule(suggested_grade, suggested_pi, kind)
    return suggested_grade, suggested_pi, rule.text


# ---------------------------------------------------------------- a relation


def profile_relation(connection: duckdb.DuckDBPyConnection, relation: str, items: list, columns: dict[str, str], *,
                     total_rows: int | None = None, sampled: bool = False, key_item: str | None = None) -> dict:
    """The profile of `relation` (a DuckDB table expression) for the entry's `items` (DataItem), mapped to
    source columns by `columns` (item name -> column). `total_rows` is the source's row count when the
    relation is only a sample of it; `key_item` tells whose records these are (a credit code: organizations)."""
    mapped = [item for item in items if item.name in columns]
    parts = ["count(*)"]
    for item in mapped:
        column = quote_identifier(columns[item.name])
        text = f"CAST({column} AS VARCHAR)"  # a placeholder (N/A, 无, -, blank …) is missing, as NULL is
        parts += [f"count(*) FILTER (WHERE {column} IS NULL OR {masking.placeholder_sql(text)})",
                  f"count(DISTINCT {column})"]
    counts = connection.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchone()
    rows = int(counts[0])
    profiled = {}
    for position, item in enumerate(mapped):
        column = columns[item.name]
        values = _sample(connection, relation, column)
        kind, share = detect_kind(values, (item.name, item.chinese_name, column))
        named = named_personal_kind(item.chinese_name, item.name, column)
        if named is not None and kind not in KIND_FLOORS:
            kind = named  # named as personal information, and its values show no other personal kind
        profiled[item.name] = {
            "column": column, "nulls": int(counts[1 + 2 * position]), "distinct": int(counts[2 + 2 * position]),
            "kind": kind, "match_ratio": share, "sampled_values": len(values), "named_kind": named,
        }
    organizations = key_item in profiled and profiled[key_item]["kind"] == Kind.USCC
    for item in mapped:
        found = profiled[item.name]
        # an organization's address is not personal information; an item named 住址 or 法定代表人住址 is
        grade, personal_info, rule = suggestion(found["kind"], item.grade, item.personal_info,
                                                of_organizations=organizations and found["named_kind"] is None)
        found.update(suggested_grade=grade, suggested_personal_info=personal_info, suggested_masking=rule)
    return {"rows": total_rows if total_rows is not None else rows, "sampled": sampled, "sample_rows": rows,
            "items": profiled, "profiled_at": datetime.now().astimezone().isoformat(timespec="seconds")}


def named_personal_kind(*names: str) -> str | None:
    """The personal-information kind the first of an item's names (Chinese name, code, source column) that
    reads as personal information says it holds (`catalog.grades.personal_kind_of_name`), or None."""
    return next((kind for name in names if (kind := grades.personal_kind_of_name(name)) is not None), None)


def _sample(connection: duckdb.DuckDBPyConnection, relation: str, column: str) -> list[str]:
    """Up to KIND_SAMPLE values of the column that are not empty or placeholders, drawn at random (with a fixed
    seed: the same data gives the same profile)."""
    text = f"trim(CAST({quote_identifier(column)} AS VARCHAR))"
    values = [v for (v,) in connection.execute(
        f"SELECT {text} FROM {relation} WHERE NOT {masking.placeholder_sql(text)} "
        f"USING SAMPLE reservoir({KIND_SAMPLE} ROWS) REPEATABLE (7)").fetchall()]
    random.Random(7).shuffle(values)  # reservoir order is not part of the result
    return values


def profile_of_names(items: list) -> dict:
    """A profile without data (an upstream API cannot be read in bulk): kinds guessed from item names."""
    profiled = {}
    for item in items:
        kind = masking.kind_from_name(item.chinese_name)
        grade, personal_info, rule = suggestion(kind, item.grade, item.personal_info)
        profiled[item.name] = {"column": None, "nulls": None, "distinct": None, "kind": kind, "match_ratio": None,
                               "sampled_values": 0, "suggested_grade": grade,
                               "suggested_personal_info": personal_info, "suggested_masking": rule}
    return {"rows": None, "sampled": False, "sample_rows": 0, "items": profiled, "from_names": True,
            "profiled_at": datetime.now().astimezone().isoformat(timespec="seconds")}
