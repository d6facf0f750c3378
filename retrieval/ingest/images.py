"""Scanned pages as image files (.png, .jpg, .tif; a multi-page TIFF is several pages), by OCR."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from .document import Extracted, IngestError, join_pages
from .ocr import ocr_page

Progress = Callable[[int, int], None]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
MAX_PIXELS = 60_000_000  # a 600-dpi A2 scan; beyond this is a decompression bomb, not a page


def image_pages(path: Path, name: str | None = None) -> Iterator[Image.Image]:
    """Each frame of the image file, upright (EXIF orientation applied); corrupt → IngestError."""
    label = name or path.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                frames = getattr(image, "n_frames", 1)
                if image.width * image.height > MAX_PIXELS:
                    raise IngestError(f"{label}: image too large ({image.width}×{image.height} pixels)")
                for k in range(frames):
                    image.seek(k)
                    page = ImageOps.exif_transpose(image.copy())
                    page.load()
                    yield page
    except IngestError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise IngestError(f"{label}: not a readable image ({type(exc).__name__}: {exc})") from exc


def extract_image(path: Path, progress: Progress | None = None, name: str | None = None) -> Extracted:
    """OCR every page of an image file; a page with no text is skipped with a warning."""
    label = name or path.name
    pages = list(image_pages(path, label))
    texts: list[tuple[int, str]] = []
    warnings_: list[str] = []
    for number, page in enumerate(pages, start=1):
        text = ocr_page(page)
        if text.strip():
            texts.append((number, text))
        else:
            warnings_.append(f"{label} page {number}: no text found")
        if progress:
            progress(number, len(pages))
    if not texts:
        raise IngestError(f"{label}: OCR found no text")
    text, spans = join_pages(texts)
    return Extracted(text=text, pages=spans, warnings=warnings_)
