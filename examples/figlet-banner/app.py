"""figlet-banner: renders text as a FIGlet banner with the pyfiglet package.

An app that brings its own Python package: requirements.txt beside this file
names pyfiglet, which the platform installs into the app's own environment
(docs/builds.md). The platform's own Python does not have it.

    PORT=8080 PYTHONPATH=../../sdk/python python -m falplane.runner app.py::FigletBanner   # needs pyfiglet installed
"""

from __future__ import annotations

import falplane
import pyfiglet

MAX_TEXT = 40


class FigletBanner(falplane.App):
    def setup(self) -> None:
        # Loading the font once is this app's "model load".
        self.fonts = {name: pyfiglet.Figlet(font=name) for name in ("standard", "slant", "small")}

    @falplane.endpoint("/")
    def render(self, input: dict) -> dict:
        text = str(input.get("text", "")).strip()
        if not 1 <= len(text) <= MAX_TEXT:
            raise falplane.HTTPError(422, f"text must be 1 to {MAX_TEXT} characters, got {len(text)}")
        font = str(input.get("font", "standard"))
        if font not in self.fonts:
            raise falplane.HTTPError(422, f"font must be one of {', '.join(sorted(self.fonts))}, got {font!r}")
        return {"banner": self.fonts[font].renderText(text), "font": font}
