"""The face pipeline: detection, alignment, embedding and the quality checks an enrolment must pass.

Detection runs YuNet through OpenCV's ``FaceDetectorYN`` (its reference decoder; an insightface
folder would mistake YuNet for SCRFD). Alignment is insightface's ``norm_crop`` on the five
landmarks, and the embedding insightface's ``ArcFaceONNX`` on onnxruntime (CPU), with the pack's
input normalisation. Embeddings are L2-normalised float32, so a cosine similarity is a dot product.

One engine serves one thread at a time (OpenCV's detector keeps its input size); the app runs it
in a worker thread so the event loop never waits on a model.
"""

from __future__ import annotations

import warnings
from enum import StrEnum
from pathlib import Path

import cv2
import msgspec
import numpy as np
import onnxruntime

from backend.faces.pack import Pack, load

MAX_PIXELS = 4096 * 4096  # larger uploads are refused before decoding
DETECT_LONG_SIDE = 1280  # detection runs on a copy no longer than this (landmarks scaled back)
SCORE_THRESHOLD = 0.8
NMS_THRESHOLD = 0.3

# What an enrolment photo must be: one face, big, sharp, lit, frontal (figures in the README).
MIN_FACE_PIXELS = 80  # the face box's shorter side in the photo
SECOND_FACE_RATIO = 0.4  # another face at least this fraction of the main one's width: ambiguous
MIN_SHARPNESS = 60.0  # variance of the Laplacian of the aligned 112×112 grey crop
MIN_BRIGHTNESS = 45.0  # mean grey level of the aligned crop, 0–255
MAX_YAW_RATIO = 0.3  # the nose's offset from the eyes' middle, in eye distances

warnings.filterwarnings("ignore", category=FutureWarning, module=r"insightface\.utils\.face_align")


class Refusal(StrEnum):
    """Why a photo cannot be enrolled, as a code the PWA words for the user."""

    NOT_AN_IMAGE = "not_an_image"
    TOO_LARGE = "image_too_large"
    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "face_too_small"
    SIDE_ON = "face_side_on"
    BLURRED = "face_blurred"
    DARK = "face_too_dark"


class FaceRefused(ValueError):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Face(msgspec.Struct, frozen=True):
    box: tuple[float, float, float, float]  # x, y, width, height in the photo's pixels
    landmarks: tuple[tuple[float, float], ...]  # eyes (image left, right), nose, mouth corners
    score: float


class Engine:
    def __init__(self, directory: Path, threads: int = 1) -> None:
        self.pack: Pack = load(directory)
        self._detector = cv2.FaceDetectorYN.create(
            str(directory / self.pack.detector.file), "", (320, 320), SCORE_THRESHOLD, NMS_THRESHOLD, 5000
        )
        self._recogniser = _recogniser(directory / self.pack.recogniser.file, self.pack, threads)

    @property
    def threshold(self) -> float:
        return self.pack.threshold

    def detect(self, image: np.ndarray) -> list[Face]:
        """The faces in a BGR image, largest first."""
        scale = min(1.0, DETECT_LONG_SIDE / max(image.shape[:2]))
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        self._detector.setInputSize((small.shape[1], small.shape[0]))
        _, found = self._detector.detect(small)
        faces = (
            []
            if found is None
            else [_face(row / np.float32(scale) if scale != 1.0 else row) for row in found]
        )
        return sorted(faces, key=lambda face: face.box[2] * face.box[3], reverse=True)

    def aligned(self, image: np.ndarray, face: Face) -> np.ndarray:
        from insightface.utils import face_align

        size = self._recogniser.input_size[0]
        return face_align.norm_crop(
            image, landmark=np.array(face.landmarks, dtype=np.float32), image_size=size
        )

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face's unit-length embedding (float32)."""
        vector = self._recogniser.get_feat(self.aligned(image, face)).ravel().astype(np.float32)
        return vector / np.linalg.norm(vector)

    def enrolment(self, image: np.ndarray) -> tuple[Face, np.ndarray]:
        """The one face an enrolment photo shows, and its embedding; FaceRefused says what is wrong."""
        faces = self.detect(image)
        if not faces:
            raise FaceRefused(Refusal.NO_FACE)
        face = faces[0]
        if any(other.box[2] >= SECOND_FACE_RATIO * face.box[2] for other in faces[1:]):
            raise FaceRefused(Refusal.SEVERAL_FACES)
        if min(face.box[2], face.box[3]) < MIN_FACE_PIXELS:
            raise FaceRefused(Refusal.TOO_SMALL)
        if yaw_ratio(face) > MAX_YAW_RATIO:
            raise FaceRefused(Refusal.SIDE_ON)
        crop = cv2.cvtColor(self.aligned(image, face), cv2.COLOR_BGR2GRAY)
        if crop.mean() < MIN_BRIGHTNESS:
            raise FaceRefused(Refusal.DARK)
        if sharpness(crop) < MIN_SHARPNESS:
            raise FaceRefused(Refusal.BLURRED)
        return face, self.embed(image, face)

    def capture(self, image: np.ndarray) -> np.ndarray:
        """The embedding of a gate capture's largest face: a gate takes what it sees, so only a
        capture without a face is refused (FaceRefused)."""
        faces = self.detect(image)
        if not faces:
            raise FaceRefused(Refusal.NO_FACE)
        return self.embed(image, faces[0])


def decode(data: bytes) -> np.ndarray:
    """A BGR image from JPEG/PNG/WebP bytes, refusing what is not one or is too large to decode."""
    header = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) if data else None
    if header is None:
        raise FaceRefused(Refusal.NOT_AN_IMAGE)
    if header.shape[0] * header.shape[1] * 64 > MAX_PIXELS:
        raise FaceRefused(Refusal.TOO_LARGE)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FaceRefused(Refusal.NOT_AN_IMAGE)
    return image


def yaw_ratio(face: Face) -> float:
    """How far the nose sits from the eyes' middle, in eye distances: 0 frontal, ~0.5 in profile."""
    (left_x, left_y), (right_x, right_y), (nose_x, _) = face.landmarks[:3]
    eyes = float(np.hypot(right_x - left_x, right_y - left_y)) or 1.0
    return abs(nose_x - (left_x + right_x) / 2) / eyes


def sharpness(grey: np.ndarray) -> float:
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _face(row: np.ndarray) -> Face:
    points = row[4:14].reshape(5, 2)
    return Face(
        box=tuple(float(v) for v in row[:4]),
        landmarks=tuple((float(x), float(y)) for x, y in points),
        score=float(row[14]),
    )


def _recogniser(path: Path, pack: Pack, threads: int):
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    model = ArcFaceONNX(model_file=str(path), session=session)
    # ArcFaceONNX guesses the normalisation from node names, wrongly for SFace: the pack says it.
    model.input_mean, model.input_std = pack.input_mean, pack.input_std
    return model
