"""Simulated IP cameras: GStreamer's RTSP server serving ``rtsp://HOST:PORT/<code>`` per camera.

Each mount is a live test picture (a moving ball, the camera's code, the wall clock and the running
time burnt in), encoded as H.264 the way a camera sends it (x264, zerolatency, a key frame every
second) and packed as RTP. A mount's pipeline runs only while a client reads it, shared by all.

Run with the system Python, which has PyGObject and GstRtspServer (the project's venv has not)::

    /usr/bin/python3 device_bridge/rtsp_cameras.py --port 8554 HM-cam-north HM-cam-south

It prints ``ready rtsp://HOST:PORT`` once serving, and stops on SIGTERM or SIGINT. It imports
nothing of Anju, so that it runs outside the venv.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys

CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
WIDTH, HEIGHT, FPS = 320, 240, 10


def launch_line(code: str) -> str:
    """The mount's pipeline: live test picture with the code, clock and running time, H.264 over RTP."""
    return (
        "( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1 "
        f'! clockoverlay halignment=left valignment=top time-format="%H:%M:%S" '
        f'! timeoverlay halignment=right valignment=bottom text="{code}" '
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS} bitrate=300 "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("codes", nargs="+", help="camera codes: one mount /<code> each")
    args = parser.parse_args(argv)
    bad = [code for code in args.codes if not CODE.match(code)]
    if bad:
        parser.error(f"camera codes must be letters, digits, '.', '_' or '-': {bad}")

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for code in dict.fromkeys(args.codes):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(code))
        factory.set_shared(True)
        mounts.add_factory(f"/{code}", factory)
    if server.attach(None) == 0:
        print(f"cannot serve RTSP on {args.host}:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"ready rtsp://{args.host}:{args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
