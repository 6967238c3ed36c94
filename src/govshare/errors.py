"""Domain errors. Services raise these; the API renders them as
{"error": {"code", "message", "field"}} and the CLI prints them and exits non-zero."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, field: str | None = None, code: str | None = None,
                 extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}  # machine-readable facts, e.g. the current state of an illegal transition
        if code:
            self.code = code

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field, **self.extra}}


class ValidationFailed(DomainError):
    status_code = 422
    code = "validation_failed"


class InvalidFields(ValidationFailed):
    """Every invalid field of one submission at once (field -> message), so that a clerk corrects them in one
    go; the message names the first and counts the rest, `extra["fields"]` lists them all (API and pages)."""

    def __init__(self, errors: dict[str, str]) -> None:
        first_field, first = next(iter(errors.items()))
        more = f"（另有 {len(errors) - 1} 处需要修改，见各栏提示）" if len(errors) > 1 else ""
        super().__init__(first + more, field=first_field, extra={"fields": errors})
        self.errors = errors


def raise_invalid(errors: dict[str, str]) -> None:
    """Raises InvalidFields when any field of the submission was judged invalid."""
    if errors:
        raise InvalidFields(errors)


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class TooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedType(DomainError):
    """A file whose content is not of a kind the receiving field accepts (checked by its bytes, not its name)."""

    status_code = 415
    code = "unsupported_media_type"


REASON_MAX_LENGTH = 2000


def required_reason(reason: str | None, message: str, field: str = "reason") -> str:
    """The reason a person gives for ending, refusing or returning something, stripped: refused when blank or
    longer than the record keeps (`field` named in both errors), so that no action that ends something is
    recorded without a readable why."""
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(message, field=field)
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationFailed(f"理由最多 {REASON_MAX_LENGTH} 个字符（当前 {len(text)} 个）", field=field)
    return text


def found(value: T | None, message: str, field: str) -> T:
    """`value`, or NotFound naming the field when there is none (the one shape of every lookup by id)."""
    if value is None:
        raise NotFound(message, field=field)
    return value
