"""Libraries' messages in Chinese, in one place: python-stdnum's exceptions by class, pydantic's errors by their
`type` (the vocabulary of govshare.validation) and by the exception a validator raised. A call site names the
field and what the value is; the wording of the rule broken lives here, so `The number's checksum or check digit
is invalid.` or `Input should be a valid string` never reaches a user (R18: the error names field and rule).

- `invalid_value(exc, field, label, value)`: the 422 of a value a library refused
  (`统一社会信用代码无效：91110000600037341N（校验位不正确）`, field `uscc`).
- `pydantic_rule(error)` / `pydantic_message(error)`: one pydantic error as a rule (`最多 500 个字符`) or as
  `字段 reason 最多 500 个字符`; an import report says `信息项第3行“中文名称”` + the rule."""

from __future__ import annotations

from pydantic import ValidationError
from stdnum import exceptions as stdnum

from govshare.errors import ValidationFailed
from govshare.validation import field_of, has_chinese, rule_of

# By exception class; a subclass not listed takes its nearest listed base (InvalidLength is an InvalidFormat).
LIBRARY_RULES: dict[type[BaseException], str] = {
    stdnum.InvalidLength: "长度不正确",
    stdnum.InvalidChecksum: "校验位不正确",
    stdnum.InvalidFormat: "格式不正确（含不允许的字符或缺少组成部分）",
    stdnum.InvalidComponent: "其中的组成部分（如地区码、出生日期）无效",
    stdnum.ValidationError: "不是有效的号码",
}
FALLBACK_RULE = "不符合要求"


def library_rule(exc: BaseException) -> str | None:
    """The Chinese rule a library's exception states (by its class, the most specific listed first), or None
    for an exception no mapping knows."""
    return next((LIBRARY_RULES[cls] for cls in type(exc).__mro__ if cls in LIBRARY_RULES), None)


def rule_of_exception(exc: BaseException) -> str:
    """A library's exception as a Chinese rule: by class; our own Chinese message as it is; else the fallback."""
    known = library_rule(exc)
    if known is not None:
        return known
    text = str(exc)
    return text if has_chinese(text) else FALLBACK_RULE


def invalid_value(exc: BaseException, field: str, label: str, value: object) -> ValidationFailed:
    """The 422 of a value a library refused: `{label}无效：{value}（{rule}）`, naming `field`."""
    shown = str(value if value is not None else "")[:60]
    return ValidationFailed(f"{label}无效：{shown}（{rule_of_exception(exc)}）", field=field)


def pydantic_rule(error: dict) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a Chinese rule: the exception a validator
    raised by its class (python-stdnum's, or ours in Chinese), else the rule of the error's `type`."""
    if error.get("type") in ("value_error", "assertion_error"):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, BaseException) and library_rule(cause) is not None:
            return library_rule(cause)
    return rule_of(error)


def pydantic_message(error: dict) -> tuple[str, str]:
    """(field, `字段 {field} {rule}`) of one pydantic error."""
    field = "body" if error.get("type") == "json_invalid" else field_of(tuple(error.get("loc", ())))
    return field, f"字段 {field} {pydantic_rule(error)}"


def pydantic_failure(exc: ValidationError, default_field: str = "body") -> ValidationFailed:
    """The first error of a pydantic model built from user input, as the 422 naming field and rule."""
    errors = exc.errors()
    if not errors:
        return ValidationFailed("输入不符合要求", field=default_field)
    field, message = pydantic_message(errors[0])
    return ValidationFailed(message, field=field)
