"""Serves the PWA: the app shell for its routes, its assets, and a generated service worker."""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from pathlib import Path
from string import Template

import msgspec
from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File

from backend.deps import Ctx
from backend.doorplates import service as doorplates
from backend.errors import DomainError
from backend.health import DATABASE_DOWN, database_lost
from backend.net import client_ip

PWA_DIR = Path(__file__).resolve().parent / "pwa"  # links to the top-level pwa/, shipped in the wheel
NOT_FOUND_PAGE = Path(__file__).resolve().parent / "templates" / "plate_not_found.html"
log = logging.getLogger("anju")
SHELL_ROUTES = [
    "/",
    "/signin",
    "/me",
    "/homes",
    "/queue",
    "/key-persons",
    "/passes",
    "/scanner",
    "/services",
    "/notices",
    "/notices/{notice_id:int}",
    "/notices/desk",
    "/service-queue",
    "/patrol",
    "/board",
    "/alarms/{alarm_id:int}",
    "/p/{token:str}",
    "/visitors",
    "/v/{share:str}",
    "/admin",
    "/homes/{house_id:int}/vehicles",
    "/findings",
    "/desk",
    "/watch-list",
    "/organisations",
    "/buildings",
    "/district",
    "/compliance",
    "/compliance/{community_id:int}",
    "/video",
    "/intercom",
    "/wall",
]
HTML = "text/html"  # Litestar adds "; charset=utf-8"
# Pages for the errors of a scanned doorplate URL: (title 中文, title English, text 中文, text English).
PLATE_PAGES = {
    404: (
        "门牌无效",
        "Unknown doorplate",
        "这个二维码门牌不存在或已停用。请联系物业或社区民警。",
        "This doorplate is unknown or has been withdrawn. Please contact property management or the community police.",
    ),
    429: (
        "请稍后再试",
        "Try again later",
        "扫描过于频繁，请一分钟后再试。",
        "Too many unknown doorplates scanned from here; try again in a minute.",
    ),
    503: (
        "暂时无法服务",
        "Temporarily unavailable",
        "系统暂时无法访问，请稍后再扫描。",
        "The service is briefly unavailable; please scan again in a minute.",
    ),
    500: (
        "系统出错",
        "Something went wrong",
        "系统出现问题，已记录。请稍后再试，或联系物业。",
        "Something went wrong on our side; it has been logged. Try again later or contact property management.",
    ),
}


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
    title_zh, title_en, zh, en = PLATE_PAGES[status if status in PLATE_PAGES else 500]
    page = Template(NOT_FOUND_PAGE.read_text()).substitute(
        title_zh=title_zh, title_en=title_en, body_zh=zh, body_en=en
    )
    return Response(page.encode(), status_code=status, media_type=HTML)


def plate_error(request: Request, exc: Exception) -> Response[bytes]:
    """Whoever opens a doorplate URL holds a phone's browser, not an API client: every error is a page."""
    if isinstance(exc, DomainError):
        return _plate_page(exc.status)
    if isinstance(exc, DATABASE_DOWN):
        database_lost(request, exc)
        return _plate_page(503)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _plate_page(500)


@get(SHELL_ROUTES, include_in_schema=False)
async def shell() -> Response[bytes]:
    return Response(_shell(), media_type=HTML, headers={"Cache-Control": "no-cache"})


@get(
    ["/d/{token:str}", "/d/{token:str}/register", "/d/{token:str}/button"],
    include_in_schema=False,
    exception_handlers={
        DomainError: plate_error,
        **dict.fromkeys(DATABASE_DOWN, plate_error),
        500: plate_error,
    },
)
async def plate_page(token: FromPath[str], ctx: Ctx, request: Request) -> Response[bytes]:
    """A scanned doorplate URL: the app shell, or a plain page when the plate is not valid (plate_error)."""
    await doorplates.resolve(ctx, token, client_ip(request))
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
    file = PWA_DIR / path.lstrip("/")
    return File(file, filename=file.name, content_disposition_type="inline")


@get("/manifest.webmanifest", include_in_schema=False)
async def manifest() -> Response[bytes]:
    return Response((PWA_DIR / "manifest.webmanifest").read_bytes(), media_type="application/manifest+json")


def pwa_router() -> Router:
    return Router(path="/", route_handlers=[shell, plate_page, sw, manifest, asset])
