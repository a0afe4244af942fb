"""A simulated unit-door panel's calls: WebRTC peer to peer with the resident's phone (aiortc).

Anju relays only the signalling, over the device contract: the panel's ``call`` event carries its
offer, the ``answer`` command the phone's answer. Both descriptions carry their ICE candidates
(the panel's gathered before it rings, the phone's before it answers), so nothing trickles. The
panel sends a test video (a moving bar and a frame counter, as a camera would show the visitor)
and a tone for the visitor's voice, and plays (here: counts) the phone's audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("anju.bridge.panel")
WIDTH, HEIGHT, FPS = 320, 240, 15
GIVE_UP_SECONDS = 180.0  # a panel hangs up by itself on a call nobody answered (or nobody ended) by then


def _pattern_track():
    """A VideoStreamTrack of a moving bar over a gradient, with a frame counter as moving digits."""
    import av
    import numpy as np
    from aiortc import VideoStreamTrack

    class TestPattern(VideoStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.frames = 0
            ramp = np.linspace(40, 200, WIDTH, dtype=np.uint8)
            self._background = np.repeat(ramp[None, :], HEIGHT, axis=0)

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            self.frames += 1
            luma = self._background.copy()
            x = (self.frames * 4) % WIDTH
            luma[:, x : x + 16] = 255  # the moving bar
            for bit in range(16):  # the counter in binary blocks along the bottom
                if self.frames >> bit & 1:
                    luma[HEIGHT - 20 : HEIGHT - 4, 4 + bit * 19 : 4 + bit * 19 + 15] = 0
            chroma = np.full((HEIGHT // 2, WIDTH // 2), 128, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([luma, chroma.reshape(-1, WIDTH), chroma.reshape(-1, WIDTH)]),
                format="yuv420p",
            )
            frame.pts, frame.time_base = pts, time_base
            return frame

    return TestPattern()


def _tone_track():
    """An AudioStreamTrack of a quiet 440 Hz tone: the visitor's voice, as far as a test can tell."""
    import numpy as np
    from aiortc.mediastreams import AudioStreamTrack

    class Tone(AudioStreamTrack):
        async def recv(self):
            frame = await super().recv()  # silence, paced and stamped
            start = frame.pts or 0
            t = (np.arange(frame.samples) + start) / frame.sample_rate
            frame.planes[0].update((np.sin(2 * np.pi * 440 * t) * 3000).astype(np.int16).tobytes())
            return frame

    return Tone()


class PanelCall:
    """One call's peer connection, from the offer to the hang-up."""

    def __init__(self, call: str, house: str, connection: Any, video: Any) -> None:
        self.call, self.house = call, house
        self.connection, self.video = connection, video
        self.heard = 0  # audio frames received from the phone
        self.answered = asyncio.Event()
        self.ended = False
        self._listening: set[asyncio.Task] = set()

    @property
    def state(self) -> str:
        return self.connection.connectionState

    def listen(self, track: Any) -> None:
        async def consume() -> None:
            with contextlib.suppress(Exception):  # the track ends with the call (MediaStreamError)
                while True:
                    await track.recv()
                    if track.kind == "audio":
                        self.heard += 1

        task = asyncio.create_task(consume())
        self._listening.add(task)
        task.add_done_callback(self._listening.discard)

    async def close(self) -> None:
        self.ended = True
        await self.connection.close()
        for task in list(self._listening):
            task.cancel()


class Panel:
    """The calls of one panel, by the panel's call id.

    ``gave_up`` is awaited with a call's id when the panel ends a call on its own: nobody answered
    within ``give_up`` seconds (the platform, which misses it sooner, was unreachable), so that the
    device reports the hang-up as a visitor's.
    """

    def __init__(
        self,
        ice_servers: list[dict[str, Any]] | None = None,
        give_up: float = GIVE_UP_SECONDS,
        gave_up: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.ice_servers = ice_servers or []
        self.calls: dict[str, PanelCall] = {}
        self._give_up, self._gave_up = give_up, gave_up
        self._timers: set[asyncio.Task] = set()

    def _configuration(self):
        from aiortc import RTCConfiguration, RTCIceServer

        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in self.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)

    async def ring(self, house: str) -> tuple[str, str]:
        """A visitor keys in ``house``: a new call and its offer (candidates gathered)."""
        from aiortc import RTCPeerConnection

        connection = RTCPeerConnection(self._configuration())
        video = _pattern_track()
        call = PanelCall(uuid.uuid4().hex[:16], house, connection, video)
        connection.addTransceiver(video, direction="sendonly")
        connection.addTransceiver(_tone_track(), direction="sendrecv")  # the visitor's microphone
        connection.on("track", call.listen)

        @connection.on("connectionstatechange")
        async def changed() -> None:
            log.info("call %s to %s: %s", call.call, house, connection.connectionState)
            if connection.connectionState == "failed":
                await call.close()

        offer = await connection.createOffer()
        await connection.setLocalDescription(offer)  # aiortc gathers every candidate here
        self.calls[call.call] = call
        timer = asyncio.create_task(self._unanswered(call))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return call.call, connection.localDescription.sdp

    async def _unanswered(self, call: PanelCall) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._give_up):
                await call.answered.wait()
                return
        if self.calls.get(call.call) is call and self._gave_up is not None:
            await self._gave_up(call.call)

    async def answer(self, call_id: str, sdp: str) -> bool:
        """The phone's answer: media flows once ICE connects. False for a call over or unknown."""
        from aiortc import RTCSessionDescription

        call = self.calls.get(call_id)
        if call is None or call.ended or call.answered.is_set():
            return False
        try:
            await call.connection.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # noqa: BLE001 - a malformed answer ends this call, not the device
            log.warning("call %s: answer refused: %s", call_id, exc)
            await self.hang_up(call_id)
            return False
        call.answered.set()
        return True

    async def hang_up(self, call_id: str) -> bool:
        call = self.calls.pop(call_id, None)
        if call is None:
            return False
        await call.close()
        return True

    async def close(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        for call_id in list(self.calls):
            await self.hang_up(call_id)
