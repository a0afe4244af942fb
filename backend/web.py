"""Serves the PWA: the app shell for its routes, its assets, and a generated service worker."""

from __future__ import annotations

import hashlib
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
from backend.errors import NotFound, TooMany
from backend.net import client_ip

PWA_DIR = Path(__file__).resolve().parent / "pwa"  # links to the top-level pwa/, shipped in the wheel
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
    file = PWA_DIR / path.lstrip("/")
    return File(file, filename=file.name, content_disposition_type="inline")


@get("/manifest.webmanifest", include_in_schema=False)
async def manifest() -> Response[bytes]:
    return Response((PWA_DIR / "manifest.webmanifest").read_bytes(), media_type="application/manifest+json")


def pwa_router() -> Router:
    return Router(path="/", route_handlers=[shell, plate_page, sw, manifest, asset])
