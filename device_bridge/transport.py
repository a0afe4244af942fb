"""MQTT connections shared by the app, the bridge, the simulator, the edge, benchmarks and tests.

Every client is built from a :class:`Broker` through :func:`client_options`, so address,
credentials and TLS are handled in one place.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import msgspec

PLAIN_PORT, TLS_PORT = 1883, 8883
SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True}  # scheme → TLS


class Broker(msgspec.Struct, frozen=True, kw_only=True):
    """Where an MQTT client connects, and as whom."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str = ""  # CA bundle that verifies the broker's certificate; empty: the system's CAs

    def as_user(self, username: str, password: str) -> Broker:
        return msgspec.structs.replace(self, username=username, password=password)


def parse_url(url: str, ca_file: str = "") -> Broker:
    """``mqtt[s]://[user:password@]host[:port]`` → :class:`Broker`; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"expected mqtt://[user:password@]host:port or mqtts://…, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("no host")
    port = parts.port  # raises ValueError for a port out of range
    if parts.password is not None and not parts.username:
        raise ValueError("a password needs a user name")
    tls = SCHEMES[parts.scheme]
    if ca_file and not tls:
        raise ValueError("a CA file only applies to mqtts:// URLs")
    return Broker(
        host=parts.hostname,
        port=port or (TLS_PORT if tls else PLAIN_PORT),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        ca_file=ca_file,
    )


def client_options(broker: Broker) -> dict[str, Any]:
    """aiomqtt.Client keyword arguments for ``broker``: address, credentials, a verifying TLS context."""
    options: dict[str, Any] = {
        "hostname": broker.host,
        "port": broker.port,
        "username": broker.username,
        "password": broker.password,
    }
    if broker.tls:
        options["tls_context"] = ssl.create_default_context(cafile=broker.ca_file or None)
    return options


def low_latency(client: aiomqtt.Client) -> None:
    """Send small packets at once: paho leaves Nagle on, which costs a command and its ack ~40 ms each way."""
    sock = client._client.socket()  # paho's socket; aiomqtt does not expose it
    if isinstance(sock, socket.socket):  # a TLS socket is one too
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
