"""text-to-ascii: renders a prompt as a big ASCII-art banner.

A stand-in for a real model app: setup() "loads weights" (builds a 5x7 bitmap
font and pays a ~0.5 s start-up cost), and the root endpoint turns a prompt
into an "image". Pure standard library.

    PORT=8080 python -m falplane.runner app.py::TextToAscii
    curl -s localhost:8080/ -d '{"prompt": "hello"}' | python -c 'import json,sys; print(json.load(sys.stdin)["image"])'
"""

from __future__ import annotations

import os
import threading
import time
import zlib

import falplane

GLYPH_W, GLYPH_H = 5, 7
MAX_PROMPT = 40
INK = {"hash": "#", "block": "\u2588"}  # style -> character for a lit pixel

# 5x7 glyphs, one string per row, "#" = lit. Kept as source text so the font is
# easy to read and edit; setup() compiles it into bitmaps.
_FONT_SOURCE: dict[str, tuple[str, ...]] = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    " ": (".....",) * 7,
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ",": (".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."),
    "!": ("..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    "'": ("..#..", "..#..", ".#...", ".....", ".....", ".....", "....."),
}


class TextToAscii(falplane.App):
    # Code values, read as fal reads them; a field the app spec sets overrides its value here.
    machine_type = "S"
    keep_alive = 300

    def setup(self) -> None:
        started = time.monotonic()
        # "Load the model": compile each glyph into a bitmap (rows of bools).
        self.font: dict[str, tuple[tuple[bool, ...], ...]] = {}
        for char, rows in _FONT_SOURCE.items():
            assert len(rows) == GLYPH_H and all(len(r) == GLYPH_W for r in rows), char
            self.font[char] = tuple(tuple(px == "#" for px in row) for row in rows)
        self.requests_served = 0
        self.lock = threading.Lock()  # endpoints run concurrently on threads
        # Simulate the rest of a model load so the platform's "starting" phase
        # is observable (health answers 503 meanwhile).
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
        print(f"text-to-ascii: font loaded ({len(self.font)} glyphs)")

    def teardown(self) -> None:
        print(f"text-to-ascii: shutting down after {self.requests_served} requests")

    @falplane.endpoint("/")
    def generate(self, input: dict) -> dict:
        prompt = input.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise falplane.HTTPError(422, "'prompt' is required and must be a non-empty string")
        if len(prompt) > MAX_PROMPT:
            raise falplane.HTTPError(422, f"'prompt' must be at most {MAX_PROMPT} characters, got {len(prompt)}")
        text = prompt.upper()
        unsupported = sorted({c for c in text if c not in self.font})
        if unsupported:
            raise falplane.HTTPError(
                422, f"'prompt' contains unsupported characters: {''.join(unsupported)!r} (use A-Z, 0-9, space, .,!?-:')"
            )
        style = input.get("style", "hash")
        if style not in INK:
            raise falplane.HTTPError(422, f"'style' must be one of {sorted(INK)}, got {style!r}")
        seed = input.get("seed")
        if seed is None:
            # Rendering is deterministic; the seed mirrors fal image APIs and is
            # derived from the prompt so identical requests report identical seeds.
            seed = zlib.crc32(prompt.encode())
        elif not isinstance(seed, int) or isinstance(seed, bool):
            raise falplane.HTTPError(422, f"'seed' must be an integer, got {seed!r}")

        ink = INK[style]
        lines = []
        for y in range(GLYPH_H):
            # One blank column between glyphs.
            row = " ".join("".join(ink if lit else " " for lit in self.font[c][y]) for c in text)
            lines.append(row)
        with self.lock:
            self.requests_served += 1
        return {"image": "\n".join(lines), "width": len(lines[0]), "height": GLYPH_H, "seed": seed}

    @falplane.endpoint("/stats")
    def stats(self, input: dict, ctx: falplane.RequestContext) -> dict:
        with self.lock:
            served = self.requests_served
        return {"requests_served": served, "runner_pid": os.getpid()}
