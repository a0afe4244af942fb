"""Errors the domain raises on purpose; the app turns them into clear 4xx responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    headers: dict[str, str] | None = None  # e.g. an authentication challenge

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Invalid(DomainError):
    status = 422


class Unauthorized(DomainError):
    status = 401


class TooMany(DomainError):
    status = 429


def error_body(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON every refusal of ours answers with."""
    extra = {"code": code} | ({"field": field} if field else {})
    return {"status_code": status, "detail": message, "extra": extra}
