"""Face gates: a capture in, a decision out, the record (抓拍人像信息), and the police watch list.

A gate's ``face`` event (MQTT, through the bridge) goes three steps:

1. Before the batch's transaction (a dispatch preparation): the capture is decoded and its largest
   face embedded by the worker's face engine; the image leaves the event's stored data.
2. In the transaction: the community's galleries (its residents' consented enrolments, and the
   police watch list) as this worker loaded them, reloaded whenever the community's gallery version
   has moved (enrolling, deleting and watching bump it in their own transaction, so a deleted face
   never matches again). The best enrolment at or above the pack's threshold names a person, who
   must still live (verified) in that household, and the household must open this door
   (roles.household_opens). The decision is recorded once per event key. A watch-list match raises
   a police-only alarm and keeps the capture for the police's window; otherwise the capture goes to
   the capture sink (when one is configured) and stays on the record only for the configured
   retention, by default not at all (seed 五.(五)).
3. After the commit: ``open`` to the gate, command id ``face-{event key}``; its ack is recorded.

A gate that matches on its own (device-side matching) sends its decision instead of an image; it
is recorded the same way and nothing is opened by the platform.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np

from backend.alarms.kinds import AlarmType
from backend.alarms.raising import Signal, Source, take
from backend.devices.commands import Opening, Openings
from backend.faces.engine import Engine, FaceRefused, Refusal, decode
from backend.faces.gallery import Gallery
from backend.faces.runtime import Faces
from backend.faces.sealed import seal, unseal
from backend.faces.service import BUMP
from backend.faces.tables import GateReason
from backend.keys import Keys
from backend.settings import Settings
from backend.uplink import mappings as uplink
from backend.uplink.mappings import Identity
from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import Direction, EventType, FaceData
from device_bridge.store import Writer
from roles import Target
from roles.matrix import household_opens

VERSION = "SELECT version FROM face_gallery WHERE community = {}"
ENROLMENTS = (
    "SELECT e.id AS id, e.person AS person, e.house AS house, e.embedding_sealed AS embedding_sealed, "
    "p.name AS name, p.id_type AS id_type, p.id_number_encrypted AS id_number_sealed "
    "FROM face_enrolment e JOIN person p ON p.id = e.person WHERE e.community = {} AND e.pack = {}"
)
WATCHED = (
    "SELECT id, name, note, id_type, id_number_sealed, embedding_sealed FROM face_watch "
    "WHERE community = {} AND pack = {}"
)
ENROLMENT = "SELECT person, house FROM face_enrolment WHERE id = {} AND community = {}"
RESIDENT = (
    "SELECT h.community, h.building, h.unit FROM residency r JOIN house h ON h.id = r.house "
    "WHERE r.person = {} AND r.house = {} AND r.status = 'verified' AND (r.end_date IS NULL OR r.end_date >= {})"
)
DOOR = "SELECT id, community, kind, building, unit FROM door WHERE id = {}"
INSERT_PASSAGE = (
    "INSERT INTO face_passage (community, device, door, direction, at, enrolment, person, house, score, "
    "reason, passed, watch, command, opened, capture_sealed, capture_until, key, created_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, {}, {}, {}, {}) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
LINK_ALARM = "UPDATE face_passage SET alarm = {} WHERE id = {}"
OUTBOX = (
    "INSERT INTO capture_outbox (key, community, body_sealed, attempts, due_at) "
    "VALUES ({}, {}, {}, 0, {}) ON CONFLICT (key) DO NOTHING"
)
ANSWERED = "UPDATE face_passage SET opened = {} WHERE command = {}"


@dataclass(frozen=True, slots=True)
class Capture:
    """A ``face`` event's data once prepared: the image and its face's embedding, or why not."""

    face: FaceData
    image: bytes = b""
    embedding: np.ndarray | None = None
    pack: str = ""  # the model pack that made the embedding: only its enrolments compare
    threshold: float = 1.0  # the pack's match threshold
    refused: GateReason | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    reason: GateReason
    passed: bool
    enrolment: int | None = None
    person: int | None = None
    house: int | None = None
    score: float | None = None
    watch: int | None = None
    watch_detail: str = ""  # the entry's name and note, and how close the capture came


@dataclass
class Loaded:
    """A community's galleries for one model pack, as of ``version``."""

    version: int
    residents: Gallery
    watch: Gallery
    households: dict[int, tuple[int, int]] = field(default_factory=dict)  # enrolment → (person, house)
    watched: dict[int, str] = field(default_factory=dict)  # watch entry → name · note
    # Whom each enrolment and watch entry names, for the uplink's 抓拍人像信息 (XYR_*).
    enrolled: dict[int, Identity] = field(default_factory=dict)
    wanted: dict[int, Identity] = field(default_factory=dict)

    def identity(self, decision: Decision) -> Identity | None:
        if decision.watch is not None:
            return self.wanted.get(decision.watch)
        return self.enrolled.get(decision.enrolment) if decision.enrolment is not None else None


class Galleries:
    """The galleries this worker matches against, per community and pack, reloaded on a new version."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys
        self._loaded: dict[tuple[int, str], Loaded] = {}

    async def of(self, writer: Writer, community: int, pack: str) -> Loaded:
        rows = await writer.fetch(VERSION, community)
        version = rows[0]["version"] if rows else 0
        loaded = self._loaded.get((community, pack))
        if loaded is None or loaded.version != version:
            loaded = self._loaded[(community, pack)] = await self._load(writer, community, pack, version)
        return loaded

    async def _load(self, writer: Writer, community: int, pack: str, version: int) -> Loaded:
        enrolled = await writer.fetch(ENROLMENTS, community, pack)
        watched = await writer.fetch(WATCHED, community, pack)
        loaded = Loaded(version, self._gallery(enrolled), self._gallery(watched))
        loaded.households = {row["id"]: (row["person"], row["house"]) for row in enrolled}
        loaded.watched = {row["id"]: " · ".join(filter(None, (row["name"], row["note"]))) for row in watched}
        loaded.enrolled = {row["id"]: _identity(row) for row in enrolled}
        loaded.wanted = {row["id"]: _identity(row) for row in watched}
        return loaded

    def loaded(self, community: int, pack: str) -> Loaded | None:
        """The galleries as last loaded (no read): None when this worker has not loaded them."""
        return self._loaded.get((community, pack))

    def _gallery(self, rows: list[dict]) -> Gallery:
        vectors = [
            (row["id"], np.frombuffer(unseal(self._keys, row["embedding_sealed"]), np.float32))
            for row in rows
        ]
        gallery = Gallery(len(vectors[0][1]) if vectors else 1)
        for key, vector in vectors:
            gallery.add(key, vector)
        return gallery


def _identity(row: dict) -> Identity:
    return Identity(row["name"], row["id_type"] or "", row["id_number_sealed"] or "")


# --- 1. before the transaction -------------------------------------------------------


def preparation(faces: Faces):
    """Embed a batch's captures in one turn of the engine's thread."""

    async def embed_captures(messages: Sequence[Message]) -> list[Message]:
        captures = await faces.run(lambda engine: [_capture(engine, m.data) for m in messages])
        return [
            msgspec.structs.replace(message, data=capture, raw=_without_image(message.raw))
            for message, capture in zip(messages, captures, strict=True)
        ]

    return embed_captures


def _capture(engine: Engine, face: FaceData) -> Capture:
    if not face.image:
        return Capture(face)  # a gate matching on its own may send no capture
    try:
        image = base64.b64decode(face.image, validate=True)
        return Capture(face, image, engine.capture(decode(image)), engine.pack.name, engine.threshold)
    except binascii.Error:
        return Capture(face, refused=GateReason.UNREADABLE)
    except FaceRefused as refused:
        reason = GateReason.NO_FACE if refused.reason is Refusal.NO_FACE else GateReason.UNREADABLE
        return Capture(face, image, refused=reason)


def _without_image(raw: dict) -> dict:
    """The event as stored (device_event): what the gate said, without the capture itself."""
    image = raw.get("image")
    return {**raw, "image": f"{len(image)} characters, not kept"} if image else raw


# --- 2. in the transaction -------------------------------------------------------------


class Gates:
    """The face handler of one bridge worker: its galleries, settings and door openings."""

    def __init__(self, settings: Settings, keys: Keys, openings: Openings | None) -> None:
        self.settings, self.keys, self.openings = settings, keys, openings
        self.galleries = Galleries(keys)

    async def judge(self, writer: Writer, messages: Sequence[Message]) -> None:
        opening: list[Opening] = []
        captured: list[uplink.FaceCapture] = []
        for message in messages:
            if (command := await self._judge(writer, message, captured)) is not None:
                opening.append(Opening(message.device, command, message.data.face.door))
        await uplink.face_capture(writer, self.keys, captured, viid=bool(self.settings.viid_url))
        if self.openings is not None:
            self.openings.after_commit(writer, opening, ANSWERED)

    async def _judge(
        self, writer: Writer, message: Message, captured: list[uplink.FaceCapture]
    ) -> str | None:
        """Record the decision once (and what the uplink owes of it, in ``captured``); the open
        command's id when the gate should open now."""
        capture: Capture = message.data
        device = message.device
        door_id = device.doors.get(capture.face.door)
        decision = await self._decide(writer, message, door_id)
        opens = decision.passed and decision.reason is not GateReason.ON_GATE and self.openings is not None
        command = f"face-{message.key}" if opens else ""
        kept, until = self._kept(capture, decision)
        now = _now()
        inserted = await writer.fetch(
            INSERT_PASSAGE,
            device.community,
            device.id,
            door_id,
            capture.face.direction,
            writer.at(message.at),
            decision.enrolment,
            decision.person,
            decision.house,
            decision.score,
            decision.reason,
            decision.passed,
            decision.watch,
            command,
            kept,
            writer.at(until) if until else None,
            f"ev:{message.key}",
            writer.at(now),
        )
        if not inserted:
            return None  # a redelivery: decided, recorded and opened the first time
        if decision.watch is not None:
            await self._alert_police(writer, message, decision, inserted[0]["id"])
        sunk = bool(self.settings.capture_sink_url and capture.image)
        if sunk:
            await self._forward(writer, message, decision)
        loaded = self.galleries.loaded(device.community, capture.pack)
        captured.append(
            uplink.FaceCapture(
                passage=inserted[0]["id"],
                device=device,
                direction=capture.face.direction,
                at=message.at,
                stored_at=now,
                score=decision.score,
                image=capture.image,
                sink_key=f"ev:{message.key}" if sunk else "",
                identity=loaded.identity(decision) if loaded else None,
            )
        )
        return command or None

    async def _decide(self, writer: Writer, message: Message, door_id: int | None) -> Decision:
        capture: Capture = message.data
        community = message.device.community
        on_gate = (
            await _on_gate(writer, community, capture.face) if capture.face.granted is not None else None
        )
        if capture.embedding is None:
            return on_gate or Decision(capture.refused or GateReason.UNREADABLE, passed=False)
        loaded = await self.galleries.of(writer, community, capture.pack)
        watched = _watched(loaded, capture.embedding, capture.threshold)
        if on_gate is not None:  # the gate decided; its capture still meets the watch list
            return dataclasses.replace(on_gate, **watched)
        best = loaded.residents.best(capture.embedding)
        if best is None or best.score < capture.threshold:
            return Decision(GateReason.UNKNOWN, False, score=best and best.score, **watched)
        person, house = loaded.households[best.key]
        allowed = await _household_opens(writer, person, house, door_id)
        reason = GateReason.MATCHED if allowed else GateReason.NOT_ALLOWED
        return Decision(reason, allowed, best.key, person, house, best.score, **watched)

    def _kept(self, capture: Capture, decision: Decision) -> tuple[str, dt.datetime | None]:
        """The sealed capture and until when it is kept: the police's window for a sighting, else
        the configured retention (none by default)."""
        hours = (
            self.settings.watch_capture_hours
            if decision.watch is not None
            else self.settings.capture_retention_hours
        )
        if not capture.image or hours <= 0:
            return "", None
        return seal(self.keys, capture.image), _now() + dt.timedelta(hours=hours)

    async def _alert_police(self, writer: Writer, message: Message, decision: Decision, passage: int) -> None:
        direction = "出" if message.data.face.direction is Direction.OUT else "进"
        signal = Signal(
            key=f"face:{message.key}",
            device=Source.of(message.device),
            type=AlarmType.WATCHED_PERSON,
            at=message.at,
            detail=f"{decision.watch_detail} · {direction}",
        )
        # Each sighting is an alarm of its own: a fold window of zero never folds two together.
        alarm = await take(writer, signal, fold_seconds=0)
        if alarm is not None:
            await writer.many(LINK_ALARM, [(alarm.id, passage)])

    async def _forward(self, writer: Writer, message: Message, decision: Decision) -> None:
        document = capture_document(message, decision)
        sealed = self.keys.seal(msgspec.json.encode(document).decode())
        await writer.many(
            OUTBOX, [(f"ev:{message.key}", message.device.community, sealed, writer.at(_now()))]
        )


def _watched(loaded: Loaded, embedding: np.ndarray, threshold: float) -> dict:
    best = loaded.watch.best(embedding)
    if best is None or best.score < threshold:
        return {}
    return {"watch": best.key, "watch_detail": f"{loaded.watched[best.key]} · 相似度 {best.score:.2f}"}


async def _on_gate(writer: Writer, community: int, face: FaceData) -> Decision:
    """A gate matching on its own: its decision as it reported it, with the household it named."""
    rows = await writer.fetch(ENROLMENT, face.match, community) if face.match is not None else []
    person, house = (rows[0]["person"], rows[0]["house"]) if rows else (None, None)
    return Decision(
        GateReason.ON_GATE, bool(face.granted), face.match if rows else None, person, house, face.score
    )


async def _household_opens(writer: Writer, person: int, house: int, door_id: int | None) -> bool:
    if door_id is None:
        return False  # a gate with no door registered opens for nobody
    home = await writer.fetch(RESIDENT, person, house, _today(writer))
    door = await writer.fetch(DOOR, door_id)
    if not home or not door:
        return False
    target = Target(
        community_id=door[0]["community"],
        door_kind=door[0]["kind"],
        building_id=door[0]["building"],
        unit_id=door[0]["unit"],
    )
    return household_opens(home[0]["community"], home[0]["building"], home[0]["unit"], target)


def capture_document(message: Message, decision: Decision) -> dict:
    """What the capture sink receives: the 抓拍人像信息 record with the capture itself."""
    capture: Capture = message.data
    device = message.device
    return {
        "key": f"ev:{message.key}",
        "community": device.community_code,
        "device": device.code,
        "device_name": device.name,
        "direction": capture.face.direction,
        "at": message.at.isoformat(),
        "latitude": device.latitude,
        "longitude": device.longitude,
        "passed": decision.passed,
        "reason": decision.reason,
        "score": decision.score,
        "watched": decision.watch is not None,
        "image": base64.b64encode(capture.image).decode(),
    }


def _today(writer: Writer) -> dt.date | str:
    return dt.date.today() if writer.postgres else dt.date.today().isoformat()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def register(handlers: Handlers, faces: Faces, gates: Gates) -> None:
    handlers.prepare(preparation(faces), types={EventType.FACE})
    handlers.on(gates.judge, types={EventType.FACE})


FORGET_DEPARTED = (
    "DELETE FROM face_enrolment WHERE NOT EXISTS (SELECT 1 FROM residency r WHERE r.person = face_enrolment.person "
    "AND r.house = face_enrolment.house AND r.status = 'verified' AND (r.end_date IS NULL OR r.end_date >= {})) "
    "RETURNING community"
)


async def forget_departed(transaction) -> int:
    """Delete the enrolments of people who no longer live in the household they were enrolled for
    (moved out, or their residency was rejected): a face exists only to open that household's doors."""
    async with transaction() as writer:
        gone = await writer.fetch(FORGET_DEPARTED, _today(writer))
        await writer.many(BUMP, [(community,) for community in sorted({row["community"] for row in gone})])
    return len(gone)
