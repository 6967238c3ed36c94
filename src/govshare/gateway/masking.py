"""Masking rules (R17): what a requester sees of an item, by the item's grade and the grant.

A rule is a short string: `none` (as stored), `keep:F:L` (keep the first F and last L characters, star
the rest), `hash` (SHA-256 of a per-requester secret and the value: the same value always gives the same
token for one requester, but tokens of two requesters cannot be linked), `year` (a date to its year) and
`null` (withheld). Each rule exists twice, as a Python function for one row (key lookups, pages) and as a
DuckDB SQL expression for exports (vectorized); tests prove the two agree.

What the gateway serves is `served_masker` / `served_sql`: the rule, except that a placeholder for a missing
value (`N/A`, `n/a`, `NA`, `无`, `-`, `--`, `/`, `null`, empty or blank: `is_placeholder`) passes `keep`, `hash`
and `year` as it is. It holds nothing to hide, and starring it (`N/A` → `N**`) or hashing it would dress up a
missing value as a masked real one; `null` still withholds it. The rules themselves (`python_masker`,
`sql_expression`) keep their exact shapes for every input (tests/security/test_fuzz_masking.py)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from govshare.catalog import grades
from govshare.catalog.vocab import Grade, PersonalInfo
from govshare.errors import ValidationFailed

# in the words a clerk reads on the pages (what the requester will see), not in the rule's terms
RULE_LABELS = {
    "none": "不脱敏", "keep": "只显示首尾字符，其余以*遮盖", "hash": "替换为不可还原的编码", "year": "只显示年份",
    "null": "不提供",
}

# The kind of value an item holds (detected when a source is profiled, see gateway.profiling): the
# default masking of sensitive personal information depends on it.
KIND_DEFAULTS = {
    "id_number": "keep:6:4",
    "mobile": "keep:3:4",
    "bank_card": "keep:6:4",
    "person_name": "keep:1:0",
    "address": "keep:6:0",
    "birth_date": "year",
}


# Until a source is profiled, an item's Chinese name tells its kind.
KIND_BY_NAME = (
    ("身份号码", "id_number"), ("身份证", "id_number"), ("手机", "mobile"), ("联系电话", "mobile"),
    ("银行卡", "bank_card"), ("银行账号", "bank_card"), ("出生日期", "birth_date"), ("姓名", "person_name"),
    ("法定代表人", "person_name"), ("法人代表", "person_name"), ("住址", "address"), ("地址", "address"),
)


def kind_from_name(chinese_name: str) -> str | None:
    """The kind an item's Chinese name tells: a personal-information name first (catalog.grades), then the
    words above (a plain 地址 is an address, whoever's it is)."""
    return grades.personal_kind_of_name(chinese_name) or next(
        (kind for word, kind in KIND_BY_NAME if word in (chinese_name or "")), None)


# Placeholders for a missing value, as real files write them. The same pattern twice: Python's re and RE2
# (DuckDB), with explicit character classes (no case folding, whose Unicode rules differ between the two).
PLACEHOLDER_WORDS = r"(?:[Nn]/?[Aa]|[Nn][Uu][Ll][Ll]|无|--?|/)?"
PLACEHOLDER = re.compile(rf"[ \t\n\r\f\v\u00a0\u3000]*{PLACEHOLDER_WORDS}[ \t\n\r\f\v\u00a0\u3000]*")
PLACEHOLDER_RE2 = rf"[ \t\n\r\f\v\x{{00a0}}\x{{3000}}]*{PLACEHOLDER_WORDS}[ \t\n\r\f\v\x{{00a0}}\x{{3000}}]*"


def is_placeholder(text: str) -> bool:
    """Whether `text` only says that a value is missing: `N/A`, `n/a`, `NA`, `无`, `-`, `--`, `/`, `null`
    (any case), empty or blank."""
    return PLACEHOLDER.fullmatch(text) is not None


def placeholder_sql(text: str) -> str:
    """The DuckDB condition `is_placeholder` over the VARCHAR expression `text` (NULL for NULL)."""
    return f"regexp_full_match({text}, {quote_literal(PLACEHOLDER_RE2)})"


@dataclass(frozen=True)
class Rule:
    name: str
    first: int = 0
    last: int = 0

    @property
    def text(self) -> str:
        return f"keep:{self.first}:{self.last}" if self.name == "keep" else self.name

    @property
    def label(self) -> str:
        if self.name == "keep":
            return keep_label(self.first, self.last)
        return RULE_LABELS[self.name]


def keep_label(first: int, last: int) -> str:
    shown = [f"前{first}位" if first else "", f"后{last}位" if last else ""]
    kept = "和".join(part for part in shown if part)
    return f"只显示{kept}，其余以*遮盖" if kept else "全部以*遮盖"


KEEP = re.compile(r"keep:(\d{1,4}):(\d{1,4})", re.ASCII)


def parse_rule(text: str, field: str = "masking") -> Rule:
    """`keep:6:4`, `hash`, … or a ValidationFailed naming the field and the allowed forms."""
    text = (text or "").strip() if isinstance(text, str) or text is None else ""
    if keep := KEEP.fullmatch(text):
        return Rule("keep", int(keep[1]), int(keep[2]))
    if text in RULE_LABELS and text != "keep":
        return Rule(text)
    raise ValidationFailed(f"脱敏规则无效：{text!r}（可选：none、keep:前位数:后位数、hash、year、null）", field=field)


def default_rule(grade: str, personal_info: str, kind: str | None) -> Rule:
    """核心 data is withheld; sensitive personal information is masked by kind (or hashed when its kind
    is unknown); other personal information of 重要 grade likewise; everything else is served as stored."""
    if grade == Grade.CORE:
        return Rule("null")
    if personal_info == PersonalInfo.SENSITIVE or (personal_info == PersonalInfo.PERSONAL and grade == Grade.IMPORTANT):
        return parse_rule(KIND_DEFAULTS.get(kind or "", "hash"))
    if personal_info == PersonalInfo.PERSONAL and kind in KIND_DEFAULTS:
        return parse_rule(KIND_DEFAULTS[kind])
    return Rule("none")


@lru_cache(maxsize=1024)
def requester_salt(node_secret: bytes, requester_id: int) -> str:
    """The per-requester secret of `hash`: derived from the node key, never stored."""
    return hmac.new(node_secret, f"mask:{requester_id}".encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- one row (Python)


@lru_cache(maxsize=4096)
def python_masker(rule: Rule, salt: str) -> Callable[[object], object]:
    if rule.name == "none":
        return lambda value: value
    if rule.name == "null":
        return lambda value: None
    if rule.name == "hash":
        return lambda value: None if value is None else hashlib.sha256((salt + str(value)).encode()).hexdigest()
    if rule.name == "year":
        return lambda value: None if value is None else str(value)[:4]
    first, last = rule.first, rule.last

    def keep(value):
        if value is None:
            return None
        text = str(value)
        if len(text) <= first + last:
            return "*" * len(text)
        return text[:first] + "*" * (len(text) - first - last) + (text[len(text) - last:] if last else "")

    return keep


@lru_cache(maxsize=4096)
def served_masker(rule: Rule, salt: str) -> Callable[[object], object]:
    """What the gateway serves of one value under `rule`: `python_masker`, except that a placeholder of a missing
    value passes `keep`, `hash` and `year` as it is (`N/A`, not `N**`); `null` still withholds it."""
    masker = python_masker(rule, salt)
    if rule.name in ("none", "null"):
        return masker

    def serve(value):
        if value is not None and is_placeholder(text := str(value)):
            return text
        return masker(value)

    return serve


# ---------------------------------------------------------------- vectorized (DuckDB SQL)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_expression(rule: Rule, column: str, salt: str) -> str:
    """The DuckDB expression that masks `column` (already a quoted identifier) as `python_masker` does."""
    text = f"CAST({column} AS VARCHAR)"
    if rule.name == "none":
        return column
    if rule.name == "null":
        return "CAST(NULL AS VARCHAR)"
    if rule.name == "hash":
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE sha256({quote_literal(salt)} || {text}) END"
    if rule.name == "year":
        return f"left({text}, 4)"
    first, last = rule.first, rule.last
    tail = f"right({text}, {last})" if last else "''"
    return (f"CASE WHEN length({text}) <= {first + last} THEN repeat('*', length({text})) "
            f"ELSE left({text}, {first}) || repeat('*', length({text}) - {first + last}) || {tail} END")


def served_sql(rule: Rule, column: str, salt: str) -> str:
    """The DuckDB expression of `served_masker`: `sql_expression`, with placeholders passed as they are."""
    expression = sql_expression(rule, column, salt)
    if rule.name in ("none", "null"):
        return expression
    text = f"CAST({column} AS VARCHAR)"  # NULL is no placeholder: it goes on to the rule, which keeps it NULL
    return f"CASE WHEN {placeholder_sql(text)} THEN {text} ELSE {expression} END"
