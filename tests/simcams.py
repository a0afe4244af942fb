"""The simulated RTSP cameras (device_bridge/rtsp_cameras.py) as tests start and stop them."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
HAS_RTSP_SERVER = (
    "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
)


def require_engine() -> None:
    """Skip (with the reason) where ffmpeg or GStreamer's RTSP server is not installed."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg is not installed (Debian package ffmpeg)")
    found = Path(SYSTEM_PYTHON).exists() and (
        subprocess.run([SYSTEM_PYTHON, "-c", HAS_RTSP_SERVER], capture_output=True).returncode == 0
    )
    if not found:
        pytest.skip("GStreamer's RTSP server is not installed (gir1.2-gst-rtsp-server-1.0, python3-gi)")


@contextlib.contextmanager
def rtsp_cameras(port: int, codes: list[str]) -> Iterator[subprocess.Popen]:
    """The cameras serving rtsp://127.0.0.1:port/<code> until the block ends (or the test stops them)."""
    process = subprocess.Popen(
        [SYSTEM_PYTHON, str(ROOT / "device_bridge" / "rtsp_cameras.py"), "--port", str(port), *codes],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("ready"), f"simulated cameras did not start: {line!r}"
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


def codec_of(data: bytes) -> str:
    """What ffprobe finds in an HLS segment: the codec of its video stream."""
    with tempfile.NamedTemporaryFile(suffix=".ts") as file:
        file.write(data)
        file.flush()
        found = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
                file.name,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    return next((line.strip() for line in found.stdout.splitlines() if line.strip()), "")
