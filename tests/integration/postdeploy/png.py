"""A strict PNG reader for tests: every chunk's CRC, IHDR, and the decompressed image size."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    colour_type: int
    pixels: bytes  # filtered scanlines, decompressed


def decode_png(data: bytes) -> Png:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour, _, _, interlace = header
    pixels = zlib.decompress(idat)
    if depth == 8 and interlace == 0:
        expected = height * (1 + width * CHANNELS[colour])
        if len(pixels) != expected:
            raise ValueError(f"{len(pixels)} bytes of scanlines, expected {expected}")
    return Png(width, height, colour, pixels)


def pixel(png: Png, x: int, y: int) -> tuple[int, ...]:
    """The samples of one pixel (8-bit, non-interlaced), undoing the scanline filters."""
    bpp = CHANNELS[png.colour_type]
    stride = png.width * bpp
    prev = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, raw = png.pixels[start], png.pixels[start + 1 : start + 1 + stride]
        line = bytearray(raw)
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        prev = line
    return tuple(prev[x * bpp : (x + 1) * bpp])
