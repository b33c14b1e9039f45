"""Small files the simulator hosts, so attachment URLs in webhook payloads resolve locally.

They are generated, not shipped: each is the smallest file that its type's magic bytes and
content type describe truthfully, which is what the product checks when it stores them.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class HostedFile:
    name: str
    content_type: str
    content: bytes


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + bytes(rgb) * width  # filter byte 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def _mp3() -> bytes:
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: 417-byte frames of silence, about a quarter second.
    frame = b"\xff\xfb\x90\x64" + bytes(417 - 4)
    return frame * 10


def _mp4() -> bytes:
    # An ISO base media file with its type box only: typed truthfully, not playable.
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    return ftyp + struct.pack(">I", 8) + b"free"


def _pdf() -> bytes:
    text = b"BT /F1 18 Tf 40 60 Td (Simulated customer document) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 120] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


_MARK = ("localStorage.setItem('customer-script', '{0}');"
         "try {{ window.opener.customerScript = '{0}'; }} catch (e) {{}}")
_HOSTILE_HTML = (f"<!doctype html><title>Invoice</title><p>Invoice</p>"
                 f"<script>{_MARK.format('html')}</script>"
                 f"<img src=\"x\" onerror=\"{_MARK.format('html-onerror')}\">").encode()
_HOSTILE_SVG = (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" '
                f'onload="{_MARK.format("svg-onload")}"><script>{_MARK.format("svg")}</script>'
                f'<rect width="10" height="10"/></svg>').encode()


@functools.cache
def hosted_files() -> dict[str, HostedFile]:
    files = [
        HostedFile("image.png", "image/png", _png(8, 8, (24, 119, 242))),
        HostedFile("avatar.png", "image/png", _png(32, 32, (66, 183, 42))),
        HostedFile("audio.mp3", "audio/mpeg", _mp3()),
        HostedFile("video.mp4", "video/mp4", _mp4()),
        HostedFile("document.pdf", "application/pdf", _pdf()),
        HostedFile("notes.txt", "text/plain; charset=utf-8",
                   "Simulated customer notes: äöü ✓\n".encode()),
        # Hostile files a customer may send: opened as documents, their script would leave
        # a mark (localStorage ``customer-script``, ``window.opener.customerScript``).
        HostedFile("page.html", "text/html; charset=utf-8", _HOSTILE_HTML),
        HostedFile("drawing.svg", "image/svg+xml", _HOSTILE_SVG),
    ]
    return {f.name: f for f in files}


# What a customer's attachment of each type points at unless the test names a file.
DEFAULT_FOR_TYPE = {
    "image": "image.png",
    "audio": "audio.mp3",
    "video": "video.mp4",
    "file": "document.pdf",
}
