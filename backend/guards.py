"""What every request and response passes at the web edge: bounded JSON in, security headers out."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.types import ExceptionHandler, Message, Scope

from backend.errors import DomainError, error_body
from backend.settings import Settings

# The PWA runs no inline script or style and talks only to its own origin; the scanner draws
# photos through blob: URLs and canvases.
APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# The OpenAPI reference (Scalar) boots from an inline script and loads its bundle from jsDelivr;
# it shows no personal data, so only its pages get this looser policy.
DOCS_PATH = "/schema"
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' data: https://cdn.jsdelivr.net https://fonts.gstatic.com; img-src 'self' data: https:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # plate URLs carry tokens: never leak them to other sites
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"
CSP = "Content-Security-Policy"


@functools.cache
def response_headers(public_url: str) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The security headers of the app's responses and of the API docs', encoded once per URL."""
    https = urlsplit(public_url).scheme == "https"
    common = COMMON_HEADERS | ({"Strict-Transport-Security": HSTS} if https else {})
    app_headers, docs_headers = (
        [(name.lower().encode(), value.encode()) for name, value in (common | {CSP: policy}).items()]
        for policy in (APP_POLICY, DOCS_POLICY)
    )
    return app_headers, docs_headers


async def security_headers(message: Message, scope: Scope) -> None:
    """A hook on every response the app sends (errors, 404s and assets included); no handler of
    ours sets these headers itself."""
    if message["type"] != "http.response.start":
        return
    settings: Settings = scope["app"].state.settings
    app_headers, docs_headers = response_headers(settings.public_url)
    docs = scope["path"] == DOCS_PATH or scope["path"].startswith(DOCS_PATH + "/")
    message["headers"] = [*message.get("headers", ()), *(docs_headers if docs else app_headers)]


# No request of ours nests deeper than a passkey credential (about 5 levels); far deeper input
# exhausts the decoder's recursion and is only ever an attack.
JSON_MAX_DEPTH = 32
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
# Handlers whose body is not JSON (a photo upload) say so with opt={"raw_body": True}.
RAW_BODY = "raw_body"


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in re.findall(rb"[\[\]{}]", JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


async def bounded_json(request: Request) -> None:
    """Refuse absurdly nested JSON before any decoder sees it (whatever Content-Type it claims)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.route_handler.opt.get(RAW_BODY):
        return
    body = await request.body()
    # Cheap test first: few brackets cannot nest deeply.
    if body.count(b"[") + body.count(b"{") > JSON_MAX_DEPTH and json_depth(body) > JSON_MAX_DEPTH:
        raise DomainError("too_deep", f"JSON may nest at most {JSON_MAX_DEPTH} levels")


def undecodable_form(hint: str, field: str | None = None) -> ExceptionHandler:
    """Litestar reads a form's non-file fields as UTF-8 text and raises on other bytes: a 400, not a 500."""

    def refuse(_: Request, exc: UnicodeDecodeError) -> Response:
        message = f"Form fields must be UTF-8 text; {hint}"
        return Response(error_body(400, "undecodable_form", message, field), status_code=400)

    return refuse
