"""Outages for tests: a TCP relay to cut a server off, and a database that refuses us for a while.

The shared servers of the machine stay untouched: a relay stands between our code and the server,
and a database outage concerns only the test's own database.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx

from tests.brokers import free_port


class Relay:
    """A TCP relay to a server that can be cut and restored: a real outage, the shared server untouched."""

    def __init__(self, host: str, port: int) -> None:
        self.target, self.port = (host, port), free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        self._server.close()
        for writer in self._links:
            writer.transport.abort()
        self._links.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@contextlib.asynccontextmanager
async def relayed(url: str, default_port: int):
    parts = httpx.URL(url)
    relay = Relay(parts.host, parts.port or default_port)
    await relay.restore()
    try:
        yield relay, str(parts.copy_with(host="127.0.0.1", port=relay.port))
    finally:
        await relay.cut()


@contextlib.asynccontextmanager
async def database_outage(server_url: str, name: str, every: float = 0.05):
    """Database ``name`` loses every connection, new ones too, for the duration of the block.

    Its backends are terminated as fast as they are opened (pg_terminate_backend): what a
    restarting or failing-over server does to its clients, while the shared server stays up.
    """
    admin = await asyncpg.connect(server_url)

    async def terminate() -> None:
        while True:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await asyncio.sleep(every)

    terminating = asyncio.create_task(terminate())
    try:
        yield
    finally:
        terminating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await terminating
        await admin.close()
