"""Problem details (RFC 9457): how the JSON API answers every error. A `DomainError` carries a
status, a stable code and a bilingual message; this module turns it into the body."""

from __future__ import annotations

from services.errors import DomainError, InvalidInput

PROBLEM = "application/problem+json"
HTTP_CODES = {
    400: "bad_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "server_error",
}
# The problem types' titles: short, the same for every instance of a code.
PROBLEM_TITLES = {
    "refused": ("无法办理", "Refused"),
    "bad_request": ("请求无法读取", "Bad request"),
    "not_signed_in": ("请先登录", "Not signed in"),
    "forbidden": ("无权操作", "Forbidden"),
    "not_found": ("不存在", "Not found"),
    "method_not_allowed": ("不支持的请求方式", "Method not allowed"),
    "not_acceptable": ("无法按要求的格式答复", "Not acceptable"),
    "conflict": ("与当前状态冲突", "Conflict"),
    "duplicate_application": ("重复申请", "Duplicate application"),
    "idempotency_key_reused": ("幂等键已用于其他请求", "Idempotency key reused"),
    "idempotency_key_in_use": ("幂等键的请求正在处理", "Idempotency key in use"),
    "idempotency_key_applied": ("幂等键的请求已办理", "Idempotency key applied"),
    "payload_too_large": ("提交的内容过大", "Payload too large"),
    "unsupported_media_type": ("不支持的内容类型", "Unsupported media type"),
    "invalid_input": ("输入有误", "Invalid input"),
    "too_many_requests": ("请求过于频繁", "Too many requests"),
    "server_error": ("系统错误", "Server error"),
    "process_failed": ("办理流程出错", "Process failed"),
    "registry_unavailable": ("共享数据暂不可用", "Registry unavailable"),
    "database_unavailable": ("系统繁忙，请稍后再试", "Temporarily unavailable"),
    "busy": ("办理人数较多，请稍后再试", "Busy: try again shortly"),
}


def problem_title(code: str, status: int) -> tuple[str, str]:
    return PROBLEM_TITLES.get(code, ("无法完成请求", f"HTTP {status}"))


def problem_body(exc: DomainError) -> dict:
    """RFC 9457 problem details: `type` (a URN naming the stable `code`), a bilingual `title`,
    `status`, `detail` in Chinese and `detail_en`, and extension members: `fields` (a message
    per field or fact, in both languages), `link` (what the error is about)."""
    title, title_en = problem_title(exc.code, exc.status)
    body = {
        "type": f"urn:onething:problem:{exc.code}",
        "title": title,
        "title_en": title_en,
        "status": exc.status,
        "code": exc.code,
        "detail": exc.message,
        "detail_en": exc.message_en,
    }
    if isinstance(exc, InvalidInput):
        body["fields"] = {key: {"zh": zh, "en": en} for key, (zh, en) in exc.fields.items()}
    if exc.link:
        body["link"] = exc.link
    return body
