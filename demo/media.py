"""The demo's media, drawn at seed time: no item of the demo points at another host.

Images are PNGs (numpy draws the pixels, the standard library's zlib and struct write the file),
voice notes are WAV files (the standard library's `wave`). They go to MEDIA_ROOT/demo/ and are
served by Quorum itself at /media/demo/ (demo.views.demo_media), so the demo works offline.
Every file is a pure function of its name: the same seed gives the same bytes.

Video is left out on purpose: writing a video a browser plays needs an encoder (ffmpeg, PyAV)
that Quorum does not depend on, and a file that does not play would be a broken demo.
"""

from __future__ import annotations

import hashlib
import io
import struct
import wave
import zlib
from functools import cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.urls import reverse

FOLDER = "demo"

# A colour per policy label, so a lead browsing the demo sees the strata at a glance.
PALETTE: dict[str, tuple[int, int, int]] = {
    "safe": (86, 160, 120),
    "benign": (86, 160, 120),
    "other": (120, 140, 160),
    "spam": (214, 162, 60),
    "scam": (214, 122, 60),
    "legit-promo": (90, 130, 200),
    "hate": (170, 70, 90),
    "hateful-symbol": (170, 70, 90),
    "harmful-combination": (150, 80, 150),
    "violence": (190, 60, 50),
    "violence-depicted": (190, 60, 50),
    "adult": (200, 100, 150),
    "nudity": (200, 100, 150),
    "self-harm": (110, 70, 130),
    "self-harm-depicted": (110, 70, 130),
}


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT) / FOLDER


def media_url(name: str) -> str:
    """The path Quorum serves a demo file at (same origin: no host in it)."""
    return reverse("demo:media", args=[name])


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def png_bytes(pixels: np.ndarray) -> bytes:
    """An RGB uint8 array (height × width × 3) as a PNG file."""
    height, width, _ = pixels.shape
    raw = np.zeros((height, width * 3 + 1), dtype=np.uint8)  # filter byte 0 (none) on every row
    raw[:, 1:] = pixels.reshape(height, width * 3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


@cache
def _shade(width: int, height: int) -> np.ndarray:
    """The light falling across every picture of one size (left dark, top-right bright)."""
    ys, xs = np.ogrid[0:height, 0:width]
    return (0.55 + 0.45 * (xs / max(width - 1, 1)) * (1 - 0.5 * ys / max(height - 1, 1))).astype(np.float32)


def picture(name: str, *, width: int, height: int, label: str, lines: int = 0) -> np.ndarray:
    """An abstract picture for `name`: a gradient in the label's colour with a few discs and
    bars. `lines` draws that many text-like rows (for screenshots)."""
    rng = np.random.default_rng(_seed(name))
    base = np.array(PALETTE.get(label, (120, 120, 120)), dtype=np.float32)
    image = np.clip(base[None, None, :] * _shade(width, height)[..., None] + 40, 0, 255)
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.06, 0.22) * min(width, height)
        colour = rng.uniform(30, 250, size=3).astype(np.float32)
        # Only the disc's bounding box is looked at.
        x0, x1 = max(int(cx - radius), 0), min(int(cx + radius) + 1, width)
        y0, y1 = max(int(cy - radius), 0), min(int(cy + radius) + 1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = np.ogrid[y0:y1, x0:x1]
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        box = image[y0:y1, x0:x1]
        box[inside] = 0.35 * box[inside] + 0.65 * colour
    top = int(height * 0.78)
    image[top:, :] = 0.6 * image[top:, :] + 0.4 * np.array([250, 250, 250])
    for row in range(lines):
        y = int(height * 0.1) + row * int(height * 0.07)
        if y + 8 >= top:
            break
        length = int(width * rng.uniform(0.45, 0.85))
        image[y : y + 8, int(width * 0.08) : int(width * 0.08) + length] = (40, 40, 40)
    return image.astype(np.uint8)


def wav_bytes(name: str, *, seconds: float, rate: int = 8000) -> bytes:
    """A short mono voice-note stand-in: a few tones with an envelope, 16-bit PCM."""
    rng = np.random.default_rng(_seed(name))
    t = np.arange(int(seconds * rate)) / rate
    signal = np.zeros_like(t)
    for _ in range(3):
        signal += np.sin(2 * np.pi * rng.uniform(140, 420) * t) * rng.uniform(0.2, 0.4)
    signal *= np.clip(np.sin(np.pi * t / seconds) * 1.5, 0, 1)
    samples = (np.clip(signal, -1, 1) * 20000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.tobytes())
    return out.getvalue()


def media_write(name: str, data: bytes) -> str:
    """Write a demo file (kept when it holds the same bytes already) and return its URL."""
    path = media_root() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return media_url(name)


def image_file(name: str, *, width: int, height: int, label: str, lines: int = 0) -> str:
    return media_write(name, png_bytes(picture(name, width=width, height=height, label=label, lines=lines)))


def audio_file(name: str, *, seconds: float) -> str:
    return media_write(name, wav_bytes(name, seconds=seconds))
