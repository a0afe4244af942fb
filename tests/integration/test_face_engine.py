"""The face pipeline on real photos: the same person matches through what cameras do to a face,
different people do not, at the pack's threshold; the quality checks refuse what they should; the
gallery forgets a deleted face.

The people: 39 faces from photos that ship in installed packages (tests/photos.py). Each person's
enrolment is the face as photographed; the probes are 12 alterations of it (flip, light, contrast,
gamma, blur, JPEG quality 20, ±12° rotation, half size, noise, grey).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from backend.faces.engine import Engine, FaceRefused, Refusal, decode, yaw_ratio
from backend.faces.gallery import Gallery
from tests import photos


@pytest.fixture(scope="module")
def engine(face_pack) -> Engine:
    return Engine(face_pack)


@pytest.fixture(scope="module")
def people(engine) -> dict[str, np.ndarray]:
    return photos.people(engine)


def central_embedding(engine: Engine, image: np.ndarray) -> np.ndarray:
    """The embedding of the face nearest the image's centre (a crop may show a neighbour too)."""
    faces = engine.detect(image)
    assert faces, "no face found"
    middle = np.array(image.shape[1::-1]) / 2
    face = min(faces, key=lambda f: np.hypot(*(np.array(f.box[:2]) + np.array(f.box[2:]) / 2 - middle)))
    return engine.embed(image, face)


def test_the_same_person_matches_and_different_people_do_not(engine, people):
    assert len(people) >= 39
    gallery = Gallery(128)
    names = sorted(people)
    for key, name in enumerate(names):
        gallery.add(key, central_embedding(engine, people[name]))
    enrolled = np.stack([gallery._vectors[key] for key in range(len(names))])

    same, different, misranked = [], [], []
    for key, name in enumerate(names):
        for alteration, alter in photos.AUGMENTATIONS.items():
            probe = central_embedding(engine, alter(people[name]))
            scores = enrolled @ probe
            same.append(scores[key])
            different.append(np.delete(scores, key).max())
            if gallery.best(probe).key != key:
                misranked.append(f"{name}/{alteration}")
    print(
        f"\n{len(same)} probes of {len(names)} people: same person min {min(same):.3f} "
        f"(p5 {np.percentile(same, 5):.3f}), different people max {max(different):.3f} "
        f"(p95 {np.percentile(different, 95):.3f}); threshold {engine.threshold}"
    )
    assert misranked == []
    assert min(same) > engine.threshold > max(different)


def test_a_deleted_face_no_longer_matches(engine, people):
    gallery = Gallery(128)
    newton, gauss = (
        central_embedding(engine, people["newton-0"]),
        central_embedding(engine, people["gauss-0"]),
    )
    gallery.add(1, newton)
    gallery.add(2, gauss)
    probe = central_embedding(engine, photos.jpeg(people["newton-0"]))
    assert gallery.best(probe).key == 1
    gallery.remove(1)
    best = gallery.best(probe)
    assert 1 not in gallery and best.key == 2 and best.score < engine.threshold
    gallery.remove(2)
    assert gallery.best(probe) is None and not gallery._vectors.any()  # nothing left in memory


def test_the_gallery_stays_consistent_through_adds_replacements_and_removals():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gallery = Gallery(128)
    for key, vector in enumerate(vectors):
        gallery.add(key, vector)
    for key in range(0, 500, 3):
        gallery.remove(key)
    gallery.add(4, vectors[5])  # replaced
    for key in range(500):
        match = gallery.best(vectors[key])
        if key % 3 == 0:
            assert key not in gallery and match.key != key
        elif key == 4:  # its old face went with the replacement
            assert match.key != 4
        elif key == 5:
            assert match.key in (4, 5) and match.score == pytest.approx(1.0)
        else:
            assert match.key == key and match.score == pytest.approx(1.0)
    assert len(gallery) == 500 - len(range(0, 500, 3))


def encoded(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def refusal(engine: Engine, image: np.ndarray) -> Refusal | None:
    try:
        engine.enrolment(decode(encoded(image)))
    except FaceRefused as refused:
        return refused.reason
    return None


def test_a_good_enrolment_photo_passes(engine, people):
    for name in ("newton-0", "gauss-0", "astronaut-0"):
        assert refusal(engine, people[name]) is None, name


def test_the_quality_checks_refuse_what_they_should(engine, people):
    sources = photos.source_photos()
    astronaut = people["astronaut-0"]
    assert refusal(engine, sources["t1"]) is Refusal.SEVERAL_FACES
    assert refusal(engine, np.full((480, 640, 3), 128, np.uint8)) is Refusal.NO_FACE
    assert refusal(engine, photos.half(photos.half(astronaut))) is Refusal.TOO_SMALL
    assert refusal(engine, cv2.GaussianBlur(astronaut, (0, 0), 3)) is Refusal.BLURRED
    assert refusal(engine, cv2.convertScaleAbs(astronaut, alpha=0.25)) is Refusal.DARK
    # In t1.jpg the second person from the left turns away (yaw ≈ 0.5 eye distances).
    side_on = [face for face in engine.detect(sources["t1"]) if yaw_ratio(face) > 0.4]
    assert side_on, "t1.jpg's turned face was not found"
    assert refusal(engine, photos.crop(sources["t1"], side_on[0].box)) is Refusal.SIDE_ON


def test_what_is_not_an_image_is_refused_before_any_model_runs():
    for data in (b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 100):
        with pytest.raises(FaceRefused) as refused:
            decode(data)
        assert refused.value.reason is Refusal.NOT_AN_IMAGE
    huge = cv2.imencode(".png", np.zeros((8200, 8200), np.uint8))[1].tobytes()
    with pytest.raises(FaceRefused) as refused:
        decode(huge)
    assert refused.value.reason is Refusal.TOO_LARGE
