"""The examples/text-to-ascii app, served by the real harness."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from conftest import RunnerProc

EXAMPLE_DIR = Path(__file__).resolve().parents[3] / "examples" / "text-to-ascii"


def test_text_to_ascii(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner("app.py::TextToAscii", cwd=EXAMPLE_DIR)
    runner.wait_listening()
    assert runner.request("GET", "/health")[:2] == (503, {"status": "starting"})  # ~0.5 s setup
    runner.wait_ready()

    status, body, _ = runner.request("POST", "/", {"prompt": "Hi!"})
    assert status == 200, body
    assert body["height"] == 7 and body["width"] == 3 * 6 - 1
    rows = body["image"].split("\n")
    assert len(rows) == 7 and all(len(r) == body["width"] for r in rows)
    assert rows[3].startswith("#####")  # the H crossbar
    assert isinstance(body["seed"], int)

    status, body, _ = runner.request("POST", "/", {"prompt": "Hi", "style": "block", "seed": 7})
    assert status == 200 and "\u2588" in body["image"] and "#" not in body["image"] and body["seed"] == 7

    for bad in ({}, {"prompt": ""}, {"prompt": "x" * 41}, {"prompt": "a@b"}, {"prompt": "a", "style": "neon"}):
        status, body, _ = runner.request("POST", "/", bad)
        assert status == 422 and body["detail"], bad

    status, body, _ = runner.request("POST", "/stats", {})
    assert status == 200 and body["requests_served"] == 2 and body["runner_pid"] == runner.proc.pid
