#!/usr/bin/env python3
"""Draws the LiftLab icon and renders its PNGs.

The icon: a pairwise distance matrix of one batch of five embeddings from two
classes (three and two images), in the viridis colour map: a dark diagonal
(distance 0), dark blocks for the pairs of one class and bright cells for the
pairs of two classes, the block structure a metric learning loss such as the
lifted structured loss shapes. An arrow on its right rises along the colour
scale.

Every shape lies on a grid of 8 units in the 128-unit view box, so the
16 px icon has one pixel per 8 units and its cells are sharp.

    python3 packaging/icons/draw_icon.py            # writes the SVG, renders the PNGs (rsvg-convert)
    python3 packaging/icons/draw_icon.py --svg-only
"""
import os
import subprocess
import sys
import zlib
import struct

APP_ID = "io.github.liftlab.LiftLab"
SIZES = [16, 22, 24, 32, 48, 64, 128, 256]
HERE = os.path.dirname(os.path.abspath(__file__))
HICOLOR = os.path.join(HERE, "hicolor")

# viridis at 0, 0.25, 0.5, 0.75, 1
VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]

# Distances between the five embeddings: classes {0, 1, 2} and {3, 4}.
CLASSES = [0, 0, 0, 1, 1]
WITHIN = {(0, 1): 1, (0, 2): 1, (1, 2): 2, (3, 4): 1}
BETWEEN = {(0, 3): 4, (0, 4): 3, (1, 3): 4, (1, 4): 4, (2, 3): 3, (2, 4): 4}


def level(i, j):
    if i == j:
        return 0
    key = (min(i, j), max(i, j))
    return WITHIN.get(key) if CLASSES[i] == CLASSES[j] else BETWEEN[key]


def svg():
    cell = 16
    x0, y0 = 16, 24  # the matrix: 5 x 5 cells of 16 units
    out = []
    out.append('<?xml version="1.0" encoding="UTF-8"?>')
    out.append('<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">')
    out.append('  <title>LiftLab</title>')
    out.append('  <defs>')
    out.append('    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">')
    out.append('      <stop offset="0" stop-color="#fbfaf7"/>')
    out.append('      <stop offset="1" stop-color="#e6e3dc"/>')
    out.append('    </linearGradient>')
    out.append('    <linearGradient id="arrow" x1="0" y1="1" x2="0" y2="0">')
    out.append(f'      <stop offset="0" stop-color="{VIRIDIS[1]}"/>')
    out.append(f'      <stop offset="1" stop-color="{VIRIDIS[2]}"/>')
    out.append('    </linearGradient>')
    out.append('  </defs>')
    # The tile: 1 px of margin at 16 px.
    out.append('  <rect x="8" y="8" width="112" height="112" rx="22" fill="url(#bg)"/>')
    out.append('  <rect x="8.75" y="8.75" width="110.5" height="110.5" rx="21.25" fill="none" '
               'stroke="#000000" stroke-opacity="0.16" stroke-width="1.5"/>')
    # The matrix.
    out.append('  <g shape-rendering="crispEdges">')
    for i in range(5):
        for j in range(5):
            out.append(f'    <rect x="{x0 + j * cell}" y="{y0 + i * cell}" width="{cell}" height="{cell}" '
                       f'fill="{VIRIDIS[level(i, j)]}"/>')
    out.append('  </g>')
    # Thin lines between the cells: below a pixel at small sizes, they only
    # soften the edges there; at 48 px and up they separate the cells.
    out.append('  <g fill="none" stroke="#fbfaf7" stroke-width="1.5" stroke-opacity="0.9">')
    for k in range(1, 5):
        out.append(f'    <path d="M{x0 + k * cell} {y0}V{y0 + 5 * cell}M{x0} {y0 + k * cell}H{x0 + 5 * cell}"/>')
    out.append('  </g>')
    # The lifting arrow on the right: a shaft from the bottom row to the top
    # row, a head above it.
    out.append('  <path d="M104 104V50H98L108 26L118 50H112V104Z" fill="url(#arrow)"/>')
    out.append('</svg>')
    return "\n".join(out) + "\n"


def recompress(path):
    """Re-encodes a PNG's image data at zlib level 9 (rsvg-convert writes level 6-ish)."""
    with open(path, "rb") as f:
        data = f.read()
    sig, pos, chunks = data[:8], 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")
    packed = zlib.compress(zlib.decompress(idat), 9)
    out = [sig]
    wrote = False
    for kind, body in chunks:
        if kind == b"IDAT":
            if wrote:
                continue
            body, wrote = packed, True
        elif kind not in (b"IHDR", b"PLTE", b"tRNS", b"IEND"):
            continue  # drop text and time chunks
        out.append(struct.pack(">I", len(body)) + kind + body
                   + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    new = b"".join(out)
    if len(new) < len(data):
        with open(path, "wb") as f:
            f.write(new)


def main():
    scalable = os.path.join(HICOLOR, "scalable", "apps", APP_ID + ".svg")
    os.makedirs(os.path.dirname(scalable), exist_ok=True)
    with open(scalable, "w") as f:
        f.write(svg())
    if "--svg-only" in sys.argv:
        return
    for n in SIZES:
        png = os.path.join(HICOLOR, f"{n}x{n}", "apps", APP_ID + ".png")
        os.makedirs(os.path.dirname(png), exist_ok=True)
        subprocess.run(["rsvg-convert", "-w", str(n), "-h", str(n), "-o", png, scalable], check=True)
        recompress(png)


if __name__ == "__main__":
    main()
