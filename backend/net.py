"""Who is on the other end: the client address behind trusted proxies, and per-address limits."""

from __future__ import annotations

import functools
from ipaddress import IPv4Network, IPv6Network, ip_address

from litestar import Request

from backend.context import Context
from backend.errors import TooMany

Networks = tuple[IPv4Network | IPv6Network, ...]


@functools.lru_cache(maxsize=4096)  # every request asks about its peer; parsing it cost more
def _trusted(address: str, proxies: Networks) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str, forwarded_for: list[str], proxies: Networks) -> str:
    """The right-most address not of a trusted proxy.

    Only a trusted peer's X-Forwarded-For counts; each trusted proxy appends the address it saw,
    so walking right to left over trusted hops stops at the first hop no proxy of ours vouches
    for. Anything left of it was written by the client and is ignored.
    """
    if not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def client_ip(request: Request) -> str:
    ctx: Context = request.app.state["ctx"]
    peer = request.client.host if request.client else ""
    return client_address(peer, request.headers.getall("x-forwarded-for", []), ctx.settings.trusted_networks)


async def spend(ctx: Context, key: str, ip: str, *, budget: int, seconds: int, what: str) -> None:
    """Count one ``key`` for this address; beyond ``budget`` in a window the caller waits (429)."""
    if await ctx.store.hit(f"limit:{key}:{ip}", seconds) > budget:
        raise TooMany("rate_limited", f"Too many {what} from this address; try again later")
