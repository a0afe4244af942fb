"""Serves the PWA: the app shell for its routes, its assets, a generated service worker, and the
security headers every response carries."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from string import Template

import msgspec
from litestar import Request, Response, Router, get
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from backend.deps import Ctx
from backend.doorplates import service as doorplates
from backend.errors import NotFound, TooMany
from backend.net import client_ip
from backend.settings import Settings

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
NOT_FOUND_PAGE = Path(__file__).resolve().parent / "templates" / "plate_not_found.html"
SHELL_ROUTES = ["/", "/signin", "/me", "/queue", "/scanner"]
HTML = "text/html; charset=utf-8"
PLATE_PAGES = {
    404: (
        "门牌无效",
        "这个二维码门牌不存在或已停用。请联系物业或社区民警。",
        "This doorplate is unknown or has been withdrawn. Please contact property management or the community police.",
    ),
    429: (
        "请稍后再试",
        "扫描过于频繁，请一分钟后再试。",
        "Too many unknown doorplates scanned from here; try again in a minute.",
    ),
}


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


def security_headers(settings: Settings) -> BeforeMessageSendHookHandler:
    """A hook on every response the app sends (errors, 404s and assets included)."""
    common = COMMON_HEADERS | (
        {"Strict-Transport-Security": HSTS} if settings.origin.startswith("https:") else {}
    )

    async def add(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in common.items():
            headers[name] = value
        docs = scope["path"] == DOCS_PATH or scope["path"].startswith(DOCS_PATH + "/")
        headers["Content-Security-Policy"] = DOCS_POLICY if docs else APP_POLICY

    return add


@cache
def _asset_paths() -> tuple[str, ...]:
    files = sorted(p for p in PWA_DIR.rglob("*") if p.is_file() and p.name != "sw.js")
    return tuple("/app/" + p.relative_to(PWA_DIR).as_posix() for p in files)


@cache
def _shell() -> bytes:
    return (PWA_DIR / "index.html").read_bytes()


@cache
def service_worker() -> bytes:
    """sw.js with its precache list and a version that changes whenever any asset does."""
    digest = hashlib.sha256()
    for path in _asset_paths():
        digest.update(path.encode() + (PWA_DIR / path.removeprefix("/app/")).read_bytes())
    precache = ["/", *(p for p in _asset_paths() if not p.endswith("index.html"))]
    source = (PWA_DIR / "sw.js").read_text()
    return (
        source.replace("__VERSION__", digest.hexdigest()[:12])
        .replace("__PRECACHE__", msgspec.json.encode(precache).decode())
        .encode()
    )


def _plate_page(status: int) -> Response[bytes]:
    title, zh, en = PLATE_PAGES[status]
    page = Template(NOT_FOUND_PAGE.read_text()).substitute(title_zh=title, body_zh=zh, body_en=en)
    return Response(page.encode(), status_code=status, media_type=HTML)


@get(SHELL_ROUTES, include_in_schema=False)
async def shell() -> Response[bytes]:
    return Response(_shell(), media_type=HTML, headers={"Cache-Control": "no-cache"})


@get(["/d/{token:str}", "/d/{token:str}/register"], include_in_schema=False)
async def plate_page(token: FromPath[str], ctx: Ctx, request: Request) -> Response[bytes]:
    """A scanned doorplate URL: the app shell, or a plain page when the plate is not valid."""
    try:
        await doorplates.resolve(ctx, token, client_ip(request))
    except NotFound:
        return _plate_page(404)
    except TooMany:
        return _plate_page(429)
    return await shell.fn()


@get("/sw.js", include_in_schema=False)
async def sw() -> Response[bytes]:
    return Response(
        service_worker(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@get("/app/{path:path}", include_in_schema=False)
async def asset(path: FromPath[str]) -> File:
    """Only the files the PWA ships: anything else (NUL, dot-dot, odd bytes) is a plain 404."""
    if "/app" + path not in _asset_paths():
        raise NotFoundException()
    return File(PWA_DIR / path.lstrip("/"), content_disposition_type="inline")


@get("/manifest.webmanifest", include_in_schema=False)
async def manifest() -> Response[bytes]:
    return Response((PWA_DIR / "manifest.webmanifest").read_bytes(), media_type="application/manifest+json")


def pwa_router() -> Router:
    return Router(path="/", route_handlers=[shell, plate_page, sw, manifest, asset])
