"""Librarians' receipt photos: checked to really be an image (decoded by Pillow, never trusted by
their name or declared type) under the size limit, then kept as a light copy: turned upright (the
camera's orientation tag applied), at most `MAX_SIDE` pixels on its longer side, encoded again
without any metadata (no GPS position, no camera or owner details), JPEG, PNG or WebP as sent (a GIF
becomes a PNG of its first frame), and stored under the upload directory. A phone's 4 MB photo
becomes about a tenth of that, which officers and sponsors open over slow connections."""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.i18n import _, format_number

# Image formats a receipt photo may be in, and the extension it is stored with.
PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
PHOTO_MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
MAX_SIDE = 1600  # pixels: enough to read a delivery note on the photo
KEPT_AS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG"}


@dataclass(frozen=True)
class Photo:
    content: bytes
    extension: str


def check_photo(content: bytes, max_bytes: int) -> Photo:
    """The upload if it really is an image (decoded by Pillow, not trusted by its name or type)
    of at most ``max_bytes``; otherwise a validation error on the ``photo`` field."""
    if len(content) > max_bytes:
        raise ValidationFailed({"photo": _("The photo is too large: at most %(size)s MB.",
                                           size=format_number(round(max_bytes / 1024 / 1024, 1)))})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                kind = image.format
                image.verify()
    except Exception:  # noqa: BLE001 - whatever Pillow cannot read is not a photo we keep
        kind = None
    if kind not in PHOTO_FORMATS:
        raise ValidationFailed({"photo": _("This file is not a photo: choose a JPEG, PNG, WebP or GIF image.")})
    return light_copy(content, kind)


def light_copy(content: bytes, kind: str) -> Photo:
    """The checked image upright, scaled down to `MAX_SIDE`, encoded again with no metadata."""
    with Image.open(io.BytesIO(content)) as original:
        image = ImageOps.exif_transpose(original)
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        kept_as = KEPT_AS[kind]
        if kept_as == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        out = io.BytesIO()
        # No `exif=` or `icc_profile=` given: Pillow writes none.
        options = {"quality": 82, "optimize": True, "progressive": True} if kept_as == "JPEG" else (
            {"quality": 82} if kept_as == "WEBP" else {"optimize": True})
        image.save(out, kept_as, **options)
    return Photo(out.getvalue(), PHOTO_FORMATS[kept_as])


def store_photo(upload_dir: Path, photo: Photo) -> str:
    """Write the photo under the upload directory; returns its path relative to it."""
    relative = f"receipts/{utcnow():%Y-%m}/{secrets.token_hex(16)}.{photo.extension}"
    path = upload_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo.content)
    return relative


def photo_file(upload_dir: Path, relative: str) -> tuple[Path, str]:
    path = (upload_dir / relative).resolve()
    if not path.is_relative_to(upload_dir.resolve()) or not path.is_file():
        raise NotFound(_("No such photo."))
    return path, PHOTO_MEDIA_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")
