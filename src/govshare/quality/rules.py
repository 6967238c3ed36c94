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

from dataclasses import dataclass, field
from datetime import date

from govshare.catalog.vocab import LabelledEnum
from govshare.errors import raise_invalid
from govshare.gateway import masking, profiling
from govshare.gateway.masking import quote_identifier, quote_literal


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
        return f"{self.kind.label}" + (f"（{detail}）" if detail else "")


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
    item = (raw.get("item") or "").strip() or None
    params = dict(raw.get("params") or {})
    if kind == RuleKind.TIMELINESS:
        item = None
    elif item not in items:
        errors[f"{prefix}.item"] = f"信息项不存在：{item!r}" if item else "必须指定检查的信息项"
    errors |= _param_errors(kind, params, items, references, f"{prefix}.params")
    raise_invalid(errors)
    return RuleSpec(kind, item, _normalized_params(kind, params))


def _param_errors(kind: RuleKind, params: dict, items: set[str], references: set[str], prefix: str) -> dict:
    errors = {}
    if kind == RuleKind.FORMAT and Format.parse(str(params.get("format") or "")) is None:
        errors[f"{prefix}.format"] = f"格式无效：{params.get('format')!r}（可选：{'、'.join(f.value for f in Format)}）"
    if kind == RuleKind.ENUM:
        values, standard = params.get("values"), params.get("standard")
        if standard and standard not in STANDARD_CODES:
            errors[f"{prefix}.standard"] = f"代码标准无效：{standard!r}（可选：{'、'.join(STANDARD_CODES)}）"
        elif not standard and not (isinstance(values, list) and values and all(str(v).strip() for v in values)):
            errors[f"{prefix}.values"] = "必须列出允许的取值（或指定代码标准，如 GB/T 2261.1）"
    if kind == RuleKind.RANGE:
        bounds = {name: params.get(name) for name in ("min", "max") if params.get(name) not in (None, "")}
        if not bounds:
            errors[f"{prefix}.min"] = "取值范围至少要有下限或上限"
        for name, value in bounds.items():
            if _bound(value) is None:
                errors[f"{prefix}.{name}"] = f"应为数字或日期（YYYY-MM-DD）：{value!r}"
    if kind == RuleKind.REFERENCE and params.get("reference") not in references:
        known = "、".join(sorted(references)) or "尚未导入任何参照表"
        errors[f"{prefix}.reference"] = f"参照表不存在：{params.get('reference')!r}（{known}）"
    if kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.NOT_BEFORE) and params.get("other") not in items:
        errors[f"{prefix}.other"] = f"对照的信息项不存在：{params.get('other')!r}"
    return errors


def _bound(value) -> float | date | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        pass
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _normalized_params(kind: RuleKind, params: dict) -> dict:
    if kind == RuleKind.FORMAT:
        return {"format": Format.parse(str(params["format"])).value}
    if kind == RuleKind.ENUM:
        if params.get("standard"):
            return {"standard": params["standard"], "values": list(STANDARD_CODES[params["standard"]])}
        return {"values": [str(v).strip() for v in params["values"]]}
    if kind == RuleKind.RANGE:
        return {name: params[name] for name in ("min", "max") if params.get(name) not in (None, "")}
    if kind == RuleKind.REFERENCE:
        return {"reference": params["reference"]}
    if kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.NOT_BEFORE):
        return {"other": params["other"]}
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


def _format_ok(format_: Format, text: str) -> str:
    if format_ in (Format.ID_NUMBER, Format.USCC, Format.BANK_CARD, Format.MOBILE):
        return profiling.check_sql(format_.value, profiling.normalized_sql(text))
    if format_ == Format.LANDLINE:
        return f"regexp_full_match(regexp_replace({text}, '[\\s()（）-]', '', 'g'), {quote_literal(LANDLINE)})"
    if format_ == Format.EMAIL:
        return f"regexp_full_match({text}, {quote_literal(EMAIL)})"
    return f"{date_sql(text)} IS NOT NULL"


def _literal(value) -> str:
    bound = _bound(value)
    return f"DATE '{bound.isoformat()}'" if isinstance(bound, date) else repr(float(bound))


def _range_failed(params: dict, text: str) -> str:
    is_date = any(isinstance(_bound(params.get(name)), date) for name in ("min", "max"))
    value = date_sql(text) if is_date else f"try_cast(regexp_replace({text}, '[,，]', '', 'g') AS DOUBLE)"
    outside = [f"{value} < {_literal(params['min'])}" if "min" in params else "",
               f"{value} > {_literal(params['max'])}" if "max" in params else ""]
    return f"({value} IS NULL OR {' OR '.join(part for part in outside if part)})"


def failed_sql(rule: RuleSpec, texts: dict[str, str], reference_relation: str | None = None) -> str:
    """The condition true for a row that fails `rule`; `texts` maps each item to its `text_sql` column (NULL when
    missing). An empty value fails only `required`. `unique` and `timeliness` are not row conditions."""
    value = texts[rule.item]
    present = f"{value} IS NOT NULL"
    if rule.kind == RuleKind.REQUIRED:
        return f"{value} IS NULL"
    if rule.kind == RuleKind.FORMAT:
        return f"({present} AND NOT coalesce({_format_ok(Format(rule.params['format']), value)}, false))"
    if rule.kind == RuleKind.ENUM:
        allowed = ", ".join(quote_literal(v) for v in rule.params["values"])
        return f"({present} AND {value} NOT IN ({allowed}))"
    if rule.kind == RuleKind.RANGE:
        return f"({present} AND {_range_failed(rule.params, value)})"
    if rule.kind == RuleKind.REFERENCE:
        return f"({present} AND {value} NOT IN (SELECT code FROM {reference_relation}))"
    other = texts[rule.params["other"]]
    if rule.kind == RuleKind.BIRTH_MATCHES_ID:
        id_number = profiling.normalized_sql(other)
        return (f"({present} AND {other} IS NOT NULL AND coalesce({profiling.check_sql('id_number', id_number)}, false)"
                f" AND coalesce(strftime({date_sql(value)}, '%Y%m%d') <> substr({id_number}, 7, 8), true))")
    if rule.kind == RuleKind.NOT_BEFORE:
        return f"({present} AND {other} IS NOT NULL AND {date_sql(value)} < {date_sql(other)})"
    raise ValueError(f"{rule.kind} is not a row condition")


def checked_sql(rule: RuleSpec, texts: dict[str, str]) -> str:
    """The condition of the rows a rule judges: every row for `required`, rows with a value otherwise (and with
    the other item's value too for the rules that compare two items)."""
    if rule.kind == RuleKind.REQUIRED:
        return "true"
    condition = f"{texts[rule.item]} IS NOT NULL"
    if rule.kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.NOT_BEFORE):
        condition += f" AND {texts[rule.params['other']]} IS NOT NULL"
    return condition


def column_texts(columns: dict[str, str]) -> dict[str, str]:
    """item -> the `text_sql` of its source column."""
    return {item: text_sql(quote_identifier(column)) for item, column in columns.items()}
