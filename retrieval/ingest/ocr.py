"""Optical character recognition with rapidocr 3.x and the models inside its wheel.

rapidocr 3.10 (Apache-2.0) made no character errors on generated 180-dpi newspaper pages, a
rotated, blurred, JPEG-damaged one included (issue 10), where rapidocr-onnxruntime 1.4.4 dropped
whole lines (8-16 % CER). Only the bundled models are named, by path: any other model name makes
rapidocr download one at run time. onnxruntime sends telemetry unless told not to before it loads.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .document import IngestError
from .layout import Box, page_text

# The files rapidocr 3.x ships in rapidocr/models (PP-OCRv6 small detection and recognition,
# the v2.0 mobile orientation classifier: named too, so nothing is ever looked up by name).
BUNDLED = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
}
UPSIDE_DOWN_CONFIDENCE = 0.8  # upright generated pages read at 0.95 or more, mean per character
MIN_SKEW_DEGREES = 0.2  # below this, straightening boxes changes nothing measurable

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # rapidocr, and so onnxruntime, is imported only in engine()

_engine: Any = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()  # one page at a time: each run already uses every core


def bundled_model_paths() -> dict[str, str]:
    import rapidocr

    folder = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {key: str(folder / name) for key, name in BUNDLED.items()}
    missing = [p for p in paths.values() if not Path(p).is_file()]
    if missing:
        raise IngestError(f"rapidocr's bundled OCR model is missing ({missing[0]}); reinstall rapidocr")
    return paths


def engine() -> Any:
    """The shared rapidocr engine, created on first use (loading takes a fraction of a second)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # must be set before onnxruntime loads
                from rapidocr import RapidOCR

                params: dict[str, Any] = {
                    **bundled_model_paths(),
                    # rapidocr dilates the detection map by default; on a generated 180-dpi page that
                    # merged two lines into one box read as garbage (CER 2.7 %), without it 0 errors
                    "Det.use_dilation": False,
                    # the 180° line classifier flipped a clean, upright line, which was then lost
                    # (found by detection, missing from the output); scans come upright, and
                    # without it that line reads exactly and a page takes 15 % less time
                    "Global.use_cls": False,
                    "Global.log_level": "warning",
                }
                _engine = RapidOCR(params=params)
    return _engine


def recognize(image: Image.Image) -> list[Box]:
    """Text lines of one page image as upright boxes (a slightly rotated scan is straightened).

    Lines are not classified one by one for a 180° turn (see `engine`); instead a page read with
    low confidence is read again upside down, and the better reading is kept.
    """
    boxes, confidence = _read(image)
    if boxes and confidence < UPSIDE_DOWN_CONFIDENCE:
        turned, turned_confidence = _read(image.rotate(180))
        if turned_confidence > confidence:
            return turned
    return boxes


def _read(image: Image.Image) -> tuple[list[Box], float]:
    array = np.asarray(image.convert("RGB"))
    with _run_lock:
        result = engine()(array)
    if result.boxes is None or result.txts is None or not len(result.txts):
        return [], 0.0
    quads = [np.asarray(q, dtype=np.float64) for q in result.boxes]
    lengths = [len(t) for t in result.txts]
    confidence = (
        float(np.average(np.asarray(result.scores, dtype=np.float64), weights=lengths)) if sum(lengths) else 0.0
    )
    return straighten(quads, list(result.txts), (image.width / 2, image.height / 2)), confidence


def straighten(quads: Sequence[np.ndarray], texts: Sequence[str], centre: tuple[float, float]) -> list[Box]:
    """Rotate line quadrilaterals by the page's skew so lines become axis-aligned boxes again.

    A 2° skew makes a 600-pixel line's bounding box 21 pixels taller than the line, more than the
    gap between lines, so unstraightened boxes of neighbouring lines would merge.
    """
    angles = []
    weights = []
    for quad in quads:
        dx, dy = quad[1] - quad[0]
        if dx > 0 and abs(dy) < dx:  # a horizontal line read left to right
            angles.append(math.atan2(dy, dx))
            weights.append(math.hypot(dx, dy))
    skew = _weighted_median(angles, weights) if angles else 0.0
    if abs(math.degrees(skew)) < MIN_SKEW_DEGREES:
        skew = 0.0
    cos, sin = math.cos(-skew), math.sin(-skew)
    cx, cy = centre
    boxes = []
    for quad, text in zip(quads, texts, strict=True):
        xs = cos * (quad[:, 0] - cx) - sin * (quad[:, 1] - cy) + cx
        ys = sin * (quad[:, 0] - cx) + cos * (quad[:, 1] - cy) + cy
        boxes.append(Box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), str(text)))
    return boxes


def _weighted_median(values: list[float], weights: list[float]) -> float:
    order = sorted(range(len(values)), key=lambda k: values[k])
    half = sum(weights) / 2
    acc = 0.0
    for k in order:
        acc += weights[k]
        if acc >= half:
            return values[k]
    return values[order[-1]]


def ocr_page(image: Image.Image) -> str:
    """One page image to text: OCR, then columns and paragraphs recovered from the boxes."""
    return page_text(recognize(image))
