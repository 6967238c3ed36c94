"""Pydantic's validation errors in Chinese: which field, which rule (`字段 limit 应不小于 1`). One vocabulary for
the API's 422s, the pages' form errors and the CLI's messages; a library's English never reaches a user."""

from __future__ import annotations

from pydantic import ValidationError

from govshare.errors import ValidationFailed

RULES = {
    "missing": "必须填写",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字", "finite_number": "应为有限的数字",
    "decimal_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "string_type": "应为文本", "string_unicode": "应为有效的文本",
    "string_too_short": "至少 {min_length} 个字符", "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合规则 {pattern}",
    "greater_than_equal": "应不小于 {ge}", "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}", "less_than": "应小于 {lt}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "enum": "应为以下之一：{expected}", "literal_error": "应为以下之一：{expected}",
    "date_parsing": "应为日期（YYYY-MM-DD）", "date_type": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）", "date_from_datetime_inexact": "应为日期（不含时刻）",
    "datetime_parsing": "应为 ISO 8601 时间", "datetime_type": "应为 ISO 8601 时间",
    "datetime_from_date_parsing": "应为 ISO 8601 时间",
    "time_parsing": "应为时刻（HH:MM）", "time_type": "应为时刻（HH:MM）",
    "json_invalid": "不是有效的 JSON", "json_type": "应为 JSON",
    "dict_type": "应为 JSON 对象", "model_type": "应为 JSON 对象", "model_attributes_type": "应为 JSON 对象",
    "list_type": "应为列表", "tuple_type": "应为列表", "set_type": "应为不重复的列表",
    "too_short": "至少 {min_length} 项", "too_long": "最多 {max_length} 项",
    "extra_forbidden": "不是可接受的字段",
    "url_parsing": "应为网址", "url_type": "应为网址", "url_scheme": "网址协议应为 {expected_schemes}",
    "uuid_parsing": "应为 UUID", "uuid_type": "应为 UUID",
    "bytes_type": "应为文件或字节", "bytes_too_long": "最多 {max_length} 字节",
    "none_required": "应为空", "is_instance_of": "类型不符",
}


def field_of(location: tuple) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "cookie", "form")]
    return ".".join(parts) or "body"


def rule_of(error: dict) -> str:
    kind = error.get("type", "")
    if kind in ("value_error", "assertion_error"):
        # our own validators raise Chinese messages (pydantic prefixes them); a library's English is not shown
        message = str(error.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if "UploadFile" in message:
            return "应为上传的文件"
        return message if has_chinese(message) else "不符合要求"
    template = RULES.get(kind)
    if template is None:
        return "不符合要求"
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return template.split("{")[0].rstrip("：: ") or "不符合要求"


def validation_message(error: dict) -> tuple[str, str]:
    """(field, Chinese message) of pydantic's first error: which field, which rule."""
    location = tuple(error.get("loc", ()))
    field = "body" if error.get("type") == "json_invalid" else field_of(location)
    return field, f"字段 {field} {rule_of(error)}"


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def validation_failed(exc: ValidationError) -> ValidationFailed:
    """The first error of a pydantic model built from user input, as the domain's 422 naming field and rule."""
    errors = exc.errors()
    field, message = validation_message(errors[0]) if errors else ("body", "输入不符合要求")
    return ValidationFailed(message, field=field)
