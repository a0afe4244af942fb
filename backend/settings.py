"""Settings from ``ANJU_*`` environment variables, parsed into one typed struct."""

from __future__ import annotations

import os
import re
import secrets
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

PREFIX = "ANJU_"


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite:///var/anju.sqlite"
    # Empty means in-process stores (OTP codes, rate limits, challenges).
    # PostgreSQL connections kept per app process; 0 opens one per query.
    database_pool_size: int = 20
    redis_url: str = ""
    redis_prefix: str = "anju:"
    # Empty: the embedded broker (started by `anju bridge`/`anju demo`) on 127.0.0.1:mqtt_embedded_port.
    mqtt_url: str = ""
    mqtt_embedded_port: int = 18830
    mqtt_prefix: str = "anju"
    door_ack_seconds: float = 3.0
    # Devices refuse commands signed longer ago (or further ahead) than this, and remember executed ids as long.
    command_max_age_seconds: float = 30.0
    # The bridge and the door service refuse device messages whose ts is further than this from their clock.
    device_clock_skew_seconds: float = 300.0
    public_url: str = "http://localhost:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    # Hex or any string of >= 32 characters; empty means a key file under var/.
    secret_key: str = ""
    var_dir: str = "var"
    demo: bool = False
    # Only honoured in demo mode, so no deployment can run with a fixed code.
    demo_code: str = "123456"
    sms_sender: str = "log"
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    otp_minutes: int = 5
    otp_max_attempts: int = 5
    scan_misses_per_minute: int = 30
    rp_name: str = "安居"

    def __post_init__(self) -> None:
        if not self.database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise SettingsError(
                f"{PREFIX}DATABASE_URL: expected sqlite:///PATH or postgresql://…, got {self.database_url!r}"
            )
        if self.mqtt_url and urlsplit(self.mqtt_url).scheme not in ("mqtt", "tcp"):
            raise SettingsError(f"{PREFIX}MQTT_URL: expected mqtt://host:port, got {self.mqtt_url!r}")
        for name in ("command_max_age_seconds", "device_clock_skew_seconds"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{PREFIX}{name.upper()}: expected a number of seconds above 0")
        if not 0 < self.port < 65536:
            raise SettingsError(f"{PREFIX}PORT: expected 1-65535, got {self.port}")

    @property
    def broker(self) -> tuple[str, int, bool]:
        """(host, port, external): external brokers speak MQTT 5, so bridge workers share load."""
        if not self.mqtt_url:
            return "127.0.0.1", self.mqtt_embedded_port, False
        parts = urlsplit(self.mqtt_url)
        return parts.hostname or "127.0.0.1", parts.port or 1883, True

    @property
    def rp_id(self) -> str:
        """WebAuthn relying-party id: the host of the public URL."""
        return urlsplit(self.public_url).hostname or "localhost"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    def secret(self) -> bytes:
        """The root secret every derived key comes from."""
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise SettingsError(f"{PREFIX}SECRET_KEY: needs at least 32 characters")
            return self.secret_key.encode()
        return _key_file(Path(self.var_dir) / "secret.key")


def _key_file(path: Path) -> bytes:
    """Development key: created once, readable by the owner only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def from_env(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    fields = {f.name for f in msgspec.structs.fields(Settings)}
    raw = {
        name.removeprefix(PREFIX).lower(): value
        for name, value in env.items()
        if name.startswith(PREFIX) and name.removeprefix(PREFIX).lower() in fields
    }
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        # "Expected `int`, got `str` - at `$.port`" → name the variable instead of the path.
        found = re.match(r"(?P<why>.*) - at `\$\.(?P<field>\w+)`", str(exc))
        if found is None:
            raise SettingsError(str(exc)) from None
        why = found["why"].replace("`", "")
        raise SettingsError(
            f"{PREFIX}{found['field'].upper()}: {why.split(', got')[0]}, got {raw[found['field']]!r}"
        ) from None


@cache
def get_settings() -> Settings:
    return from_env()
