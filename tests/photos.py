"""Real face photos that ship in packages, one crop per person, for the face tests and bench/face.py.

- insightface's ``data/images/t1.jpg`` (6 people) and ``Tom_Hanks_54745.png``;
- the ``scrfd`` 0.3.0 sdist's ``images/`` (the Solvay 1927 group, 29 people; Newton; Gauss), fetched
  once from the package index into ``.venv/cache`` (the wheel has no images);
- scikit-image's ``astronaut``.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".venv" / "cache"
SCRFD = "scrfd==0.3.0"
MARGIN = 0.8  # the crop around a face, in face widths on each side


def scrfd_images() -> Path:
    images = CACHE / "scrfd-0.3.0" / "images"
    if images.is_dir():
        return images
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            SCRFD,
            "-d",
            str(CACHE),
        ],
        check=True,
    )
    with tarfile.open(CACHE / "scrfd-0.3.0.tar.gz") as archive:
        archive.extractall(CACHE, filter="data")
    return images


def source_photos() -> dict[str, np.ndarray]:
    import insightface
    import skimage.data

    insightface_images = Path(insightface.__file__).parent / "data" / "images"
    scrfd = scrfd_images()
    files = {
        "t1": insightface_images / "t1.jpg",
        "hanks": insightface_images / "Tom_Hanks_54745.png",
        "solvay": scrfd / "solvay_conference_1927.jpg",
        "newton": scrfd / "newton.png",
        "gauss": scrfd / "gauss.png",
    }
    photos = {name: cv2.imread(str(path)) for name, path in files.items()}
    photos["astronaut"] = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return photos


@functools.cache
def people(engine) -> dict[str, np.ndarray]:
    """One image per person: each detected face of each photo, cropped with a margin."""
    crops = {}
    for name, photo in source_photos().items():
        for index, face in enumerate(engine.detect(photo)):
            crops[f"{name}-{index}"] = crop(photo, face.box)
    return crops


def crop(photo: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x, y, width, height = box
    pad = MARGIN * max(width, height)
    top, left = int(max(0, y - pad)), int(max(0, x - pad))
    bottom, right = int(min(photo.shape[0], y + height + pad)), int(min(photo.shape[1], x + width + pad))
    return np.ascontiguousarray(photo[top:bottom, left:right])


def framed(face: np.ndarray, width: int, height: int, fill: int = 110) -> np.ndarray:
    """``face`` scaled to 80 % of the frame's height or width and centred on a plain frame, as a
    gate camera or a phone's front camera sees a person before it."""
    frame = np.full((height, width, 3), fill, np.uint8)
    scale = min(0.8 * height / face.shape[0], 0.8 * width / face.shape[1])
    face = cv2.resize(face, None, fx=scale, fy=scale)
    top, left = (height - face.shape[0]) // 2, (width - face.shape[1]) // 2
    frame[top : top + face.shape[0], left : left + face.shape[1]] = face
    return frame


# --- what a gate camera or a phone does to a face ------------------------------------


def flip(image):
    return cv2.flip(image, 1)


def brighter(image):
    return cv2.convertScaleAbs(image, alpha=1.0, beta=50)


def darker(image):
    return cv2.convertScaleAbs(image, alpha=0.6, beta=0)


def contrast(image):
    return cv2.convertScaleAbs(image, alpha=1.4, beta=-50)


def gamma(image):
    table = (np.linspace(0, 1, 256) ** 1.6 * 255).astype(np.uint8)
    return cv2.LUT(image, table)


def blurred(image):
    return cv2.GaussianBlur(image, (0, 0), 1.2)


def jpeg(image):
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 20])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def rotated(image, degrees=12):
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def half(image):
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def noisy(image):
    noise = np.random.default_rng(7).normal(0, 10, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def grey(image):
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


AUGMENTATIONS = {
    "flip": flip,
    "brighter": brighter,
    "darker": darker,
    "contrast": contrast,
    "gamma": gamma,
    "blur": blurred,
    "jpeg20": jpeg,
    "rotate+12": rotated,
    "rotate-12": lambda image: rotated(image, -12),
    "half": half,
    "noise": noisy,
    "grey": grey,
}
