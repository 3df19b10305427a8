"""The one image check every reader uses, and RGB loading.

A file is rejected when it is missing, empty, truncated, corrupt, of an absurd size, or of a
format the source may not hold. The format is told from the file's first bytes (Pillow's own
signature tests) before Pillow opens anything, so an EPS or PostScript file named ``x.jpg`` is
never handed to a decoder (Pillow would run Ghostscript on it).

Images in other modes (CMYK, L, RGBA, P, 16-bit, ...) are not rejected: they are converted to
8-bit RGB when loaded (16-bit scaled, not clipped), and the check reports that a conversion is
needed. Loading applies the EXIF orientation and takes an animated image's first frame.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageFile, ImageOps

from pipeline.progress import track
from pipeline.reasons import Reason

# A truncated file must fail, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

MIN_SIDE = 16
MAX_SIDE = 20_000
MAX_PIXELS = 100_000_000

# warnings.catch_warnings() swaps process-wide state and is not thread-safe; check_images runs
# in threads, so the header parse (where Pillow warns about decompression bombs) is serialised.
# Decoding (img.load) stays outside the lock and runs in parallel.
_OPEN_LOCK = threading.Lock()

MISSING = Reason.IMAGE_MISSING
EMPTY = Reason.IMAGE_EMPTY
TRUNCATED = Reason.IMAGE_TRUNCATED
CORRUPT = Reason.IMAGE_CORRUPT
TOO_SMALL = Reason.IMAGE_TOO_SMALL
TOO_LARGE = Reason.IMAGE_TOO_LARGE
FORMAT_NOT_ALLOWED = Reason.IMAGE_FORMAT_NOT_ALLOWED
IMAGE_REASONS = (MISSING, EMPTY, TRUNCATED, CORRUPT, TOO_SMALL, TOO_LARGE, FORMAT_NOT_ALLOWED)

#: What a source's images may be (Pillow format names); a reader may narrow it.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP")
_SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class ImageCheck:
    path: str
    ok: bool
    reason: str = ""
    detail: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""

    @property
    def needs_conversion(self) -> bool:
        return self.ok and self.mode != "RGB"


class ImageRejected(Exception):
    def __init__(self, check: ImageCheck):
        self.check = check
        super().__init__(f"{check.path}: {check.reason}: {check.detail}")


def _size_problem(width: int, height: int) -> tuple[str, str] | None:
    if min(width, height) < MIN_SIDE:
        return TOO_SMALL, f"{width}x{height} is under {MIN_SIDE} px on a side"
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        return TOO_LARGE, f"{width}x{height} exceeds {MAX_SIDE} px a side or {MAX_PIXELS} pixels"
    return None


def sniff_format(prefix: bytes) -> str | None:
    """The Pillow format whose signature ``prefix`` (a file's first bytes) carries, if any."""
    Image.init()
    for name, (_factory, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(prefix):
                return name
        except Exception:                  # a plugin's test choking on odd bytes is a no
            continue
    return None


def _format_problem(path: Path, formats: tuple[str, ...]) -> tuple[str | None, tuple[str, str] | None]:
    """The file's format, or why it may not be opened."""
    with open(path, "rb") as fh:
        prefix = fh.read(_SIGNATURE_BYTES)
    found = sniff_format(prefix)
    if found is None:
        return None, (CORRUPT, "not an image format Pillow knows (no matching signature)")
    if found not in formats:
        return found, (FORMAT_NOT_ALLOWED, f"{found} files are not read here (allowed: {', '.join(formats)})")
    return found, None


def path_problem(path: str) -> ImageCheck | None:
    """Why no file can have ``path`` as its name: a NUL, or characters the file system cannot
    encode (a lone surrogate). Any call on such a path raises, so this comes first."""
    if "\x00" in path:
        return ImageCheck(path, False, Reason.NUL_BYTE, "the path holds a NUL character")
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        return ImageCheck(path, False, Reason.INVALID_ENCODING, "the path holds characters no file name has")
    return None


def _open_checked(path: Path, formats: tuple[str, ...] = IMAGE_FORMATS) -> tuple[ImageCheck, Image.Image | None]:
    p = str(path)
    unnamable = path_problem(p)
    if unnamable:
        return unnamable, None
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a pipe, device or socket"
            return ImageCheck(p, False, Reason.NOT_A_REGULAR_FILE, f"{kind}, not an image file"), None
        size = info.st_size
        if size == 0:
            return ImageCheck(p, False, EMPTY, "file has 0 bytes"), None
        found, problem = _format_problem(path, formats)
    except FileNotFoundError:
        return ImageCheck(p, False, MISSING, "no such file"), None
    except OSError as exc:
        return ImageCheck(p, False, MISSING, str(exc)), None
    if problem:
        return ImageCheck(p, False, *problem), None
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path, formats=[found])
        width, height = img.size
        problem = _size_problem(width, height)
        if problem:
            img.close()
            return ImageCheck(p, False, *problem, width=width, height=height, mode=img.mode), None
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return ImageCheck(p, False, TOO_LARGE, str(exc)), None
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg.lower() or "premature end" in msg.lower():
            return ImageCheck(p, False, TRUNCATED, msg), None
        return ImageCheck(p, False, CORRUPT, msg), None
    except (ValueError, SyntaxError, Image.UnidentifiedImageError) as exc:
        return ImageCheck(p, False, CORRUPT, str(exc)), None
    return ImageCheck(p, True, width=width, height=height, mode=img.mode), img


def check_image(path: str | os.PathLike, formats: tuple[str, ...] = IMAGE_FORMATS) -> ImageCheck:
    """Decode the whole file once and say whether it is usable."""
    check, img = _open_checked(Path(path), formats)
    if img is not None:
        img.close()
    return check


def check_images(paths: Iterable[str | os.PathLike], workers: int | None = None,
                 formats: tuple[str, ...] = IMAGE_FORMATS) -> list[ImageCheck]:
    """Check many files; decoding releases the GIL, so threads give real parallelism."""
    paths = list(paths)
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    if len(paths) < 32 or workers <= 1:
        return [check_image(p, formats) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = pool.map(lambda p: check_image(p, formats), paths)
        return list(track(checks, "checking images", len(paths), "image"))


def _to_8bit(img: Image.Image) -> Image.Image:
    """A 16- or 32-bit grey image scaled onto 0..255 (Pillow's own convert would clip it)."""
    values = np.asarray(img).astype(np.float64)
    top = 65535.0 if img.mode.startswith("I;16") or values.max(initial=0) <= 65535 else values.max()
    if img.mode == "F":
        top = max(1.0, values.max(initial=0))
    return Image.fromarray(np.clip(np.rint(values * 255.0 / top), 0, 255).astype(np.uint8), "L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited on white, 16-bit grey scaled."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        img = _to_8bit(img)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike, formats: tuple[str, ...] = IMAGE_FORMATS) -> np.ndarray:
    """Load an image as an HxWx3 uint8 RGB array, upright (EXIF orientation applied), the first
    frame of an animated one; or raise :class:`ImageRejected`."""
    check, img = _open_checked(Path(path), formats)
    if img is None:
        raise ImageRejected(check)
    return _upright_rgb(img)


def decode_rgb(data: bytes) -> np.ndarray:
    """An image's bytes (e.g. embedded in a dataset row) as :func:`load_rgb` reads a file:
    upright RGB uint8; ValueError or OSError when they are not a usable image."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, SyntaxError) as exc:
        raise ValueError(str(exc)) from None
    return _upright_rgb(img)


def _upright_rgb(img: Image.Image) -> np.ndarray:
    """The first frame, EXIF orientation applied, as RGB uint8; closes ``img``."""
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        upright = ImageOps.exif_transpose(img) or img
        return np.asarray(to_rgb(upright), dtype=np.uint8)
    finally:
        img.close()
