"""MQTT connection tuning shared by the app, the bridge and the simulator."""

from __future__ import annotations

import socket

import aiomqtt


def low_latency(client: aiomqtt.Client) -> None:
    """Send small packets at once: paho leaves Nagle on, which costs a command and its ack ~40 ms each way."""
    sock = client._client.socket()  # paho's socket; aiomqtt does not expose it
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
