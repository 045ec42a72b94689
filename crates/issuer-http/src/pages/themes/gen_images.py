#!/usr/bin/env python3
"""Regenerates the theme images (logo.png, favicon.png) for the light and dark themes.

Run from anywhere: `python3 gen_images.py`. Output is deterministic: the same script
always writes the same bytes, so a diff in the PNGs means the script changed.

The mark is a ring (an "o" for oxidex) with a dot in its centre, drawn with a little
anti-aliasing by supersampling, on a transparent background. Only the standard library
is used (zlib + struct): each PNG is an 8-bit RGBA image with one IDAT chunk.
"""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# Colours per theme: (ring, dot) as RGB. The light theme uses a dark blue that reads on
# a white page; the dark theme a light blue that reads on a near-black page.
THEMES = {
    "light": ((0x1F, 0x4E, 0x8C), (0xD9, 0x5D, 0x1E)),
    "dark": ((0x8A, 0xB4, 0xF8), (0xF5, 0xA6, 0x23)),
}

SIZES = {"logo.png": 96, "favicon.png": 32}
SUPERSAMPLE = 4


def chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def coverage(size: int, x: int, y: int, inside) -> float:
    """Fraction of the pixel (x, y) whose subsamples satisfy `inside(u, v)` in unit coords."""
    hits = 0
    for sy in range(SUPERSAMPLE):
        for sx in range(SUPERSAMPLE):
            u = (x + (sx + 0.5) / SUPERSAMPLE) / size - 0.5
            v = (y + (sy + 0.5) / SUPERSAMPLE) / size - 0.5
            if inside(u, v):
                hits += 1
    return hits / (SUPERSAMPLE * SUPERSAMPLE)


def render(size: int, ring, dot) -> bytes:
    def in_ring(u, v):
        r2 = u * u + v * v
        return 0.30 ** 2 <= r2 <= 0.46 ** 2

    def in_dot(u, v):
        return u * u + v * v <= 0.14 ** 2

    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type 0 (None) for every scanline
        for x in range(size):
            a_ring = coverage(size, x, y, in_ring)
            a_dot = coverage(size, x, y, in_dot)
            if a_dot > 0:
                colour, alpha = dot, a_dot
            else:
                colour, alpha = ring, a_ring
            row += bytes(colour) + bytes([round(alpha * 255)])
        rows.append(bytes(row))
    raw = b"".join(rows)
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    for theme, (ring, dot) in THEMES.items():
        out_dir = os.path.join(HERE, theme)
        os.makedirs(out_dir, exist_ok=True)
        for name, size in SIZES.items():
            path = os.path.join(out_dir, name)
            with open(path, "wb") as f:
                f.write(render(size, ring, dot))
            print(path)


if __name__ == "__main__":
    main()
