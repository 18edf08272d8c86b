"""Domain errors raised by services; `web` turns each into one HTTP status in one place."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal: an HTTP status, a stable machine-readable `code` (a class's own by default,
    or a more precise one given), and a message in Chinese and English."""

    status = 400
    code = "refused"

    def __init__(
        self,
        message: str,
        message_en: str = "",
        *,
        link: str | None = None,
        code: str | None = None,
    ):
        self.message = message
        self.message_en = message_en or message
        self.link = link  # where the person can see what the message is about (a path)
        if code is not None:
            self.code = code
        super().__init__(self.message_en)


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidInput(DomainError):
    """Bad input for one field (or several: `fields` maps keys to (zh, en) messages)."""

    status = 422
    code = "invalid_input"

    def __init__(
        self,
        field: str,
        message: str,
        message_en: str = "",
        fields=None,
        *,
        code: str | None = None,
    ):
        super().__init__(message, message_en, code=code)
        self.field = field
        self.fields = fields or {field: (message, message_en or message)}


class TooManyRequests(DomainError):
    """Refused for now, after too many attempts; `retry_after` is the seconds to wait."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, message_en: str = "", *, retry_after: int):
        super().__init__(message, message_en)
        self.retry_after = retry_after
