"""A private Mosquitto for tests on machines without one, and for benchmarks (tests and bench/)."""

from __future__ import annotations

import contextlib
import getpass
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# The configuration the README recommends for production: no cap on queued messages
# (Mosquitto's default of 1000 per client drops QoS 1 messages for a consumer that falls
# behind) and TCP_NODELAY, so small commands and acks are not held back.
BROKER_CONF = """listener {port} 127.0.0.1
max_queued_messages 0
max_inflight_messages 0
set_tcp_nodelay true
"""
OPEN = "allow_anonymous true\n"
# What `anju mqtt-auth` prints for mosquitto.conf: only the accounts of its files, on their own topics,
# with the dynamic-security plugin or with the password_file and acl_file.
SECURED = {
    "dynsec": "plugin {plugin}\nplugin_opt_config_file {folder}/dynamic-security.json\n",
    "files": "password_file {folder}/password_file\nacl_file {folder}/acl_file\n",
}
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class MosquittoProcess:
    """A Mosquitto of our own that can be stopped and started again on its port (a broker restart)."""

    def __init__(self, conf: Path, port: int) -> None:
        self.conf, self.port = conf, port
        self.url = f"mqtt://127.0.0.1:{port}"
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not listening("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """A clean shutdown: a persistent broker saves its sessions and queued messages first."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@contextlib.contextmanager
def mosquitto_process(
    port: int | None = None,
    auth: Path | None = None,
    enforcer: str = "dynsec",
    tls: tuple[Path, Path] | None = None,
    persistent: bool = False,
):
    """A running :class:`MosquittoProcess` on a free loopback port, stopped at the end.

    Open to anyone, or with the files `anju mqtt-auth` wrote to folder ``auth``, as ``enforcer``
    ("dynsec" or "files") says; over TLS with ``tls`` (certificate and key files); ``persistent``
    keeps sessions and their queued messages across a restart, as the README recommends.
    """
    port = port or free_port()
    # Started as root, Mosquitto would switch to its own user, who cannot read the test's files.
    access = f"user {getpass.getuser()}\n"
    if tls:
        access += "certfile {}\nkeyfile {}\n".format(*tls)
    if auth:
        secured = SECURED[enforcer].format(folder=auth, plugin=DYNSEC_PLUGIN)
        access += f"allow_anonymous false\n{secured}"
    else:
        access += OPEN
    with tempfile.TemporaryDirectory() as folder:
        persistence = (
            f"persistence true\npersistence_location {folder}/\n" if persistent else "persistence false\n"
        )
        conf = Path(folder) / "mosquitto.conf"
        conf.write_text(BROKER_CONF.format(port=port) + persistence + access)
        broker = MosquittoProcess(conf, port)
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()


@contextlib.contextmanager
def mosquitto(
    port: int | None = None,
    auth: Path | None = None,
    enforcer: str = "dynsec",
    tls: tuple[Path, Path] | None = None,
):
    """A Mosquitto of our own on a free loopback port (see :func:`mosquitto_process`); yields its mqtt:// URL."""
    with mosquitto_process(port, auth, enforcer, tls) as broker:
        yield broker.url
