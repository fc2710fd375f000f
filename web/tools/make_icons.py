#!/usr/bin/env python3
"""Writes the app's icons (PNG) for the web app manifest at build time, so no binary is committed:
a hand-drawn "7" in white ink on the page's dark pad, with the accent colour's underline.

    make_icons.py OUT_DIR   ->  icon-192.png, icon-512.png, icon-maskable-512.png

Drawn from signed distances (a rounded square, thick round-capped strokes), anti-aliased over one
pixel; the maskable icon fills its square and keeps the digit inside the central 80% safe zone."""
import math
import struct
import sys
import zlib

BACKGROUND = (27, 30, 37)
PAD = (0, 0, 0)
INK = (255, 255, 255)
ACCENT = (86, 140, 255)

# The digit as strokes in unit coordinates (0..1), like a pen would draw it.
SEVEN = [[(0.30, 0.26), (0.70, 0.26), (0.55, 0.50), (0.45, 0.71)]]
UNDERLINE = [[(0.32, 0.85), (0.68, 0.85)]]


def segment_distance(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def strokes_distance(px, py, strokes):
    return min(segment_distance(px, py, *a, *b) for s in strokes for a, b in zip(s, s[1:]))


def rounded_square_distance(px, py, half, radius):
    qx, qy = abs(px - 0.5) - half + radius, abs(py - 0.5) - half + radius
    return math.hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0) - radius


def coverage(distance, pixel):  # 1 inside, 0 outside, a pixel-wide ramp between
    return max(0.0, min(1.0, 0.5 - distance / pixel))


def blend(under, over, alpha):
    return tuple(u + (o - u) * alpha for u, o in zip(under, over))


def render(size, maskable):
    pixel = 1.0 / size
    scale = 0.8 if maskable else 1.0  # the maskable safe zone: a circle of 80% of the size
    rows = []
    for y in range(size):
        row = bytearray([0])  # PNG filter: none
        for x in range(size):
            u, v = (x + 0.5) * pixel, (y + 0.5) * pixel
            # the digit's own coordinates (shrunk about the centre for the maskable icon)
            du, dv = 0.5 + (u - 0.5) / scale, 0.5 + (v - 0.5) / scale
            if maskable:
                color, alpha = BACKGROUND, 1.0
            else:
                alpha = coverage(rounded_square_distance(u, v, 0.47, 0.12), pixel)
                color = BACKGROUND
            pad_alpha = coverage(rounded_square_distance(du, dv, 0.40, 0.08), pixel / scale)
            color = blend(color, PAD, pad_alpha)
            color = blend(color, INK, coverage(strokes_distance(du, dv, SEVEN) - 0.055, pixel / scale))
            color = blend(color, ACCENT, coverage(strokes_distance(du, dv, UNDERLINE) - 0.03, pixel / scale))
            row += bytes(int(round(c)) for c in color) + bytes([int(round(255 * alpha))])
        rows.append(bytes(row))
    return b"".join(rows)


def png(size, rgba):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rgba, 9)) + chunk(b"IEND", b"")


def main():
    out = sys.argv[1]
    for name, size, maskable in [("icon-192.png", 192, False), ("icon-512.png", 512, False),
                                 ("icon-maskable-512.png", 512, True)]:
        with open(f"{out}/{name}", "wb") as f:
            f.write(png(size, render(size, maskable)))


if __name__ == "__main__":
    main()
