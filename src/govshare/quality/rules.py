"""Quality rules (R14): a small declarative vocabulary, compiled to DuckDB SQL.

A rule is data, never code per entry: a kind, the data item it checks, and a few parameters
(`{"kind": "format", "item": "gmsfhm", "params": {"format": "id_number"}}`). Each kind belongs to one of the four
dimensions the regulation names:

- completeness (完整性): `required` — the item has a value (NULL and placeholders such as `N/A`, `无`, `-` are
  missing: `masking.is_placeholder`);
- accuracy (准确性): `format` (ID number and unified credit code by python-stdnum's check digits, mobile and
  landline numbers, dates, e-mail addresses, bank cards), `enum` (a code list such as GB/T 2261.1's sex codes),
  `range` (numbers or dates between bounds);
- consistency (一致性): `unique` (the key), `reference` (values found in a reference table such as the
  administrative division codes), `birth_matches_id` (the birth date agrees with the ID number),
  `not_before` (a date is not before another, e.g. registration ≥ establishment);
- timeliness (及时性): `timeliness` — the data was updated within its declared update cycle (an entry-level
  rule, judged from the source's load time, not per row).

Every row rule is a SQL condition that is true when a row *fails*; an empty value fails only `required` (its
absence is completeness's concern, not accuracy's), so each rule counts what it is about. `engine.py` runs all
of an entry's rules in one statement over the source."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from govshare.catalog.vocab import LabelledEnum
from govshare.errors import raise_invalid
from govshare.gateway import masking, profiling
from govshare.gateway.masking import quote_literal


class Dimension(LabelledEnum):
    COMPLETENESS = "completeness", "完整性"
    ACCURACY = "accuracy", "准确性"
    CONSISTENCY = "consistency", "一致性"
    TIMELINESS = "timeliness", "及时性"


class RuleKind(LabelledEnum):
    REQUIRED = "required", "必填"
    FORMAT = "format", "格式"
    ENUM = "enum", "代码取值"
    RANGE = "range", "取值范围"
    UNIQUE = "unique", "唯一"
    REFERENCE = "reference", "参照一致"
    BIRTH_MATCHES_ID = "birth_matches_id", "出生日期与身份证号一致"
    NOT_BEFORE = "not_before", "日期先后"
    TIMELINESS = "timeliness", "按更新周期更新"


DIMENSION_OF = {
    RuleKind.REQUIRED: Dimension.COMPLETENESS,
    RuleKind.FORMAT: Dimension.ACCURACY, RuleKind.ENUM: Dimension.ACCURACY, RuleKind.RANGE: Dimension.ACCURACY,
    RuleKind.UNIQUE: Dimension.CONSISTENCY, RuleKind.REFERENCE: Dimension.CONSISTENCY,
    RuleKind.BIRTH_MATCHES_ID: Dimension.CONSISTENCY, RuleKind.NOT_BEFORE: Dimension.CONSISTENCY,
    RuleKind.TIMELINESS: Dimension.TIMELINESS,
}


class Format(LabelledEnum):
    ID_NUMBER = "id_number", "公民身份号码（校验位）"
    USCC = "uscc", "统一社会信用代码（校验位）"
    MOBILE = "mobile", "手机号码"
    LANDLINE = "landline", "固定电话"
    DATE = "date", "日期"
    EMAIL = "email", "电子邮箱"
    BANK_CARD = "bank_card", "银行卡号（校验位）"


# Code lists a provider may name instead of listing the values.
STANDARD_CODES = {
    "GB/T 2261.1": ("0", "1", "2", "9"),  # 人的性别代码: 未知的性别, 男性, 女性, 未说明的性别
}
LANDLINE = r"(?:\+?86)?0[1-9][0-9]{1,2}[0-9]{7,8}(?:(?:转|ext|#)[0-9]{1,6})?"
EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
SAMPLE_KEYS = 5  # failing keys shown per rule (masked as the gateway masks the key item)


@dataclass(frozen=True)
class RuleSpec:
    """One rule as declared: what it checks and how. `item` is the data item's code (its name in the entry);
    the timeliness rule has none."""

    kind: RuleKind
    item: str | None
    params: dict = field(default_factory=dict, hash=False, compare=True)

    @property
    def dimension(self) -> Dimension:
        return DIMENSION_OF[self.kind]

    @property
    def label(self) -> str:
        detail = describe_params(self.kind, self.params)
        return f"{self.kind.label}" + (f"：{detail}" if detail else "")


def describe_params(kind: RuleKind, params: dict) -> str:
    """The parameters of a rule in the words of the entry page."""
    if kind == RuleKind.FORMAT:
        return Format(params["format"]).label
    if kind == RuleKind.ENUM:
        return params.get("standard") or "、".join(params["values"][:8])
    if kind == RuleKind.RANGE:
        return f"{params.get('min', '不限')} 至 {params.get('max', '不限')}"
    if kind == RuleKind.REFERENCE:
        return f"参照表：{params['reference']}"
    if kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.NOT_BEFORE):
        return f"对照信息项：{params['other']}"
    return ""


# ---------------------------------------------------------------- checking a declaration


def parse_rule(raw: dict, items: set[str], references: set[str] = frozenset(), prefix: str = "rule") -> RuleSpec:
    """A declared rule, checked against the entry's items and the node's reference tables: every invalid field
    is named at once (`InvalidFields`, fields `rule.kind`, `rule.item`, `rule.params.<name>`)."""
    errors: dict[str, str] = {}
    kind = RuleKind.parse(str(raw.get("kind") or ""))
    if kind is None:
        choices = "、".join(k.value for k in RuleKind)
        raise_invalid({f"{prefix}.kind": f"规则类型无效：{raw.get('kind')!r}（可选：{choices}）"})
    item = raw.get("item").strip() or None if isinstance(raw.get("item"), str) else None
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise_invalid({f"{prefix}.params": "参数应为 JSON 对象，如 {\"format\": \"id_number\"}"})
    if kind == RuleKind.TIMELINESS:
        item = None
    elif item not in items:
        errors[f"{prefix}.item"] = f"信息项不存在：{item!r}" if item else "必须指定检查的信息项"
    errors |= _param_errors(kind, params, items, references, f"{prefix}.params")
    raise_invalid(errors)
    return RuleSpec(kind, item, _normalized_params(kind, params))


MAX_ENUM_VALUES, MAX_VALUE_LENGTH = 1000, 100  # a code list is short: a longer one belongs in a reference table
BOUND_LIMIT = 1e15


def _text_param(params: dict, name: str) -> str | None:
    """The parameter as text, or None when it is missing or not text (a list or a number where a name is due)."""
    value = params.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _param_errors(kind: RuleKind, params: dict, items: set[str], references: set[str], prefix: str) -> dict:
    if kind == RuleKind.FORMAT and Format.parse(_text_param(params, "format") or "") is None:
        return {f"{prefix}.format": f"格式无效：{params.get('format')!r}（可选：{'、'.join(f.value for f in Format)}）"}
    if kind == RuleKind.ENUM:
        return _enum_errors(params, prefix)
    if kind == RuleKind.RANGE:
        return _range_errors(params, prefix)
    if kind == RuleKind.REFERENCE and _text_param(params, "reference") not in references:
        known = "、".join(sorted(references)) or "尚未导入任何参照表"
        return {f"{prefix}.reference": f"参照表不存在：{params.get('reference')!r}（{known}）"}
    if kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.NOT_BEFORE) and _text_param(params, "other") not in items:
        return {f"{prefix}.other": f"对照的信息项不存在：{params.get('other')!r}"}
    return {}


def _enum_errors(params: dict, prefix: str) -> dict:
    standard, values = params.get("standard"), params.get("values")
    if standard:
        if _text_param(params, "standard") not in STANDARD_CODES:
            return {f"{prefix}.standard": f"代码标准无效：{standard!r}（可选：{'、'.join(STANDARD_CODES)}）"}
        return {}
    if not isinstance(values, list) or not values:
        return {f"{prefix}.values": "必须列出允许的取值（或指定代码标准，如 GB/T 2261.1）"}
    if len(values) > MAX_ENUM_VALUES:
        return {f"{prefix}.values": f"取值最多 {MAX_ENUM_VALUES} 个（当前 {len(values)} 个）；更长的代码表请导入为"
                                    "参照表"}
    if not all(isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip() for v in values):
        return {f"{prefix}.values": "每个取值都应为非空的文本或整数"}
    if any(len(str(v)) > MAX_VALUE_LENGTH for v in values):
        return {f"{prefix}.values": f"每个取值最多 {MAX_VALUE_LENGTH} 个字符"}
    return {}


def _range_errors(params: dict, prefix: str) -> dict:
    given = {name: params.get(name) for name in ("min", "max") if params.get(name) not in (None, "")}
    if not given:
        return {f"{prefix}.min": "取值范围至少要有下限或上限"}
    bounds, errors = {}, {}
    for name, value in given.items():
        bounds[name] = _bound(value)
        if bounds[name] is None:
            errors[f"{prefix}.{name}"] = f"应为有限的数字（绝对值小于 10 的 15 次方）或日期（YYYY-MM-DD）：{value!r}"
    if errors or len(bounds) < 2:
        return errors
    if type(bounds["min"]) is not type(bounds["max"]):
        return {f"{prefix}.max": "上限和下限应同为数字或同为日期"}
    if bounds["min"] > bounds["max"]:
        return {f"{prefix}.max": f"上限 {given['max']} 小于下限 {given['min']}"}
    return {}


def _bound(value) -> float | date | None:
    """A finite number or a date (YYYY-MM-DD); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, str) and len(value) > 40:
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        number = None
    if number is not None:
        return number if math.isfinite(number) and abs(number) < BOUND_LIMIT else None
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _normalized_params(kind: RuleKind, params: dict) -> dict:
    if kind == RuleKind.FORMAT:
        return {"format": Format.parse(_text_param(params, "format")).value}
    if kind == RuleKind.ENUM:
        if params.get("standard"):
            standard = _text_param(params, "standard")
            return {"standard": standard, "values": list(STANDARD_CODES[standard])}
        return {"values": [str(v).strip() for v in params["values"]]}
    if kind == RuleKind.RANGE:
        return {name: params[name] for name in ("min", "max") if params.get(name) not in (None, "")}
    if kind == RuleKind.REFERENCE:
        return {"reference": _text_param(params, "reference")}
    if kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.NOT_BEFORE):
        return {"other": _text_param(params, "other")}
    return {}


# ---------------------------------------------------------------- SQL


def text_sql(column: str) -> str:
    """The trimmed text of a source column (quoted identifier), NULL when it is missing or a placeholder."""
    text = f"CAST({column} AS VARCHAR)"
    return f"CASE WHEN {text} IS NULL OR {masking.placeholder_sql(text)} THEN NULL ELSE trim({text}) END"


def date_sql(text: str) -> str:
    """A DATE from the text forms a register writes (2002-01-10, 2002/1/10, 20020110, 2002-01-10 00:00:00)."""
    return (f"coalesce(try_cast({text} AS DATE), try_cast(try_cast({text} AS TIMESTAMP) AS DATE), "
            f"try_cast(try_strptime({text}, '%Y/%m/%d') AS DATE), try_cast(try_strptime({text}, '%Y%m%d') AS DATE))")


NORMALIZED_FORMATS = (Format.ID_NUMBER, Format.USCC, Format.BANK_CARD, Format.MOBILE)


def format_ok_sql(format_: Format, text: str, normalized: str | None, as_date: str | None) -> str:
    """Whether the text is a valid `format_`: the check-digit formats read the normalized value, dates the
    parsed date (computed once per item by the engine's plan)."""
    if format_ in NORMALIZED_FORMATS:
        return profiling.check_sql(format_.value, normalized)
    if format_ == Format.LANDLINE:
        return f"regexp_full_match(regexp_replace({text}, '[\\s()（）-]', '', 'g'), {quote_literal(LANDLINE)})"
    if format_ == Format.EMAIL:
        return f"regexp_full_match({text}, {quote_literal(EMAIL)})"
    return f"{as_date} IS NOT NULL"


@dataclass
class Plan:
    """The columns the engine computes once per row, named for the rules' conditions: each item's trimmed text
    (`t`), its raw text where failing values are shown (`r`), its normalized value (`n`), its date (`d`) and each
    (item, format) validity (`c`)."""

    texts: dict[str, str] = field(default_factory=dict)
    raws: dict[str, str] = field(default_factory=dict)
    normalized: dict[str, str] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    checks: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: list[RuleSpec], items: list[str], key_item: str) -> Plan:
        plan = cls(texts={item: f"t{n}" for n, item in enumerate(items)})
        for rule in rules:
            plan._need(rule)
        for item in [key_item, *(r.item for r in rules if r.kind == RuleKind.UNIQUE)]:
            plan.raws[item] = f"r{items.index(item)}"
        return plan

    def _need(self, rule: RuleSpec) -> None:
        if rule.kind == RuleKind.FORMAT:
            self._check(rule.item, Format(rule.params["format"]))
        elif rule.kind == RuleKind.RANGE and any(isinstance(_bound(v), date) for v in rule.params.values()):
            self._date(rule.item)
        elif rule.kind == RuleKind.BIRTH_MATCHES_ID:
            self._date(rule.item)
            self._check(rule.params["other"], Format.ID_NUMBER)
        elif rule.kind == RuleKind.NOT_BEFORE:
            self._date(rule.item)
            self._date(rule.params["other"])

    def _date(self, item: str) -> None:
        self.dates.setdefault(item, "d" + self.texts[item][1:])

    def _check(self, item: str, format_: Format) -> None:
        if format_ in NORMALIZED_FORMATS:
            self.normalized.setdefault(item, "n" + self.texts[item][1:])
        if format_ == Format.DATE:
            self._date(item)
        self.checks.setdefault((item, format_.value), f"c{len(self.checks)}")

    def check_sql(self, item: str, format_: str) -> str:
        text = self.texts[item]
        return format_ok_sql(Format(format_), text, self.normalized.get(item), self.dates.get(item))


def _literal(value) -> str:
    bound = _bound(value)
    return f"DATE '{bound.isoformat()}'" if isinstance(bound, date) else repr(float(bound))


def _range_failed(params: dict, text: str, as_date: str | None) -> str:
    value = as_date if as_date else f"try_cast(regexp_replace({text}, '[,，]', '', 'g') AS DOUBLE)"
    outside = [f"{value} < {_literal(params['min'])}" if "min" in params else "",
               f"{value} > {_literal(params['max'])}" if "max" in params else ""]
    return f"({value} IS NULL OR {' OR '.join(part for part in outside if part)})"


def checked_sql(rule: RuleSpec, plan: Plan) -> str:
    """The rows a rule judges: every row for `required`; rows with a value otherwise; for the rules that compare
    two items, rows where both can be compared (a valid ID number and a date; two dates)."""
    if rule.kind == RuleKind.REQUIRED:
        return "true"
    if rule.kind == RuleKind.BIRTH_MATCHES_ID:
        valid_id = plan.checks[(rule.params["other"], Format.ID_NUMBER.value)]
        return f"(coalesce({valid_id}, false) AND {plan.dates[rule.item]} IS NOT NULL)"
    if rule.kind == RuleKind.NOT_BEFORE:
        return f"({plan.dates[rule.item]} IS NOT NULL AND {plan.dates[rule.params['other']]} IS NOT NULL)"
    return f"{plan.texts[rule.item]} IS NOT NULL"


def failed_sql(rule: RuleSpec, plan: Plan, reference_relation: str | None = None) -> str:
    """The condition true for a row that fails `rule` (always within `checked_sql`). `unique` and `timeliness`
    are not row conditions."""
    value, checked = plan.texts[rule.item], checked_sql(rule, plan)
    if rule.kind == RuleKind.REQUIRED:
        return f"{value} IS NULL"
    if rule.kind == RuleKind.FORMAT:
        return f"({checked} AND NOT coalesce({plan.checks[(rule.item, rule.params['format'])]}, false))"
    if rule.kind == RuleKind.ENUM:
        allowed = ", ".join(quote_literal(v) for v in rule.params["values"])
        return f"({checked} AND {value} NOT IN ({allowed}))"
    if rule.kind == RuleKind.RANGE:
        return f"({checked} AND {_range_failed(rule.params, value, plan.dates.get(rule.item))})"
    if rule.kind == RuleKind.REFERENCE:
        return f"({checked} AND {value} NOT IN (SELECT code FROM {reference_relation}))"
    if rule.kind == RuleKind.BIRTH_MATCHES_ID:
        id_number = plan.normalized[rule.params["other"]]
        return f"({checked} AND strftime({plan.dates[rule.item]}, '%Y%m%d') <> substr({id_number}, 7, 8))"
    if rule.kind == RuleKind.NOT_BEFORE:
        return f"({checked} AND {plan.dates[rule.item]} < {plan.dates[rule.params['other']]})"
    raise ValueError(f"{rule.kind} is not a row condition")
