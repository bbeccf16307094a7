"""Streaming endpoints (generator methods) answer with server-sent events,
each event written as the app yields it. Fixture: tests/fixtures/stream_app.py."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from conftest import RunnerProc

ENTRY = "stream_app.py::Streamer"


@pytest.fixture
def streamer(start_runner: Callable[..., RunnerProc], tmp_path: Path) -> RunnerProc:
    runner = start_runner(ENTRY, env={"EVENT_LOG": str(tmp_path / "events.log")})
    runner.wait_ready()
    runner.event_log = tmp_path / "events.log"  # type: ignore[attr-defined]
    return runner


def read_events(resp: http.client.HTTPResponse, on_event: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Reads SSE events line by line as they arrive: [{"event": name|None, "data": parsed JSON}]."""
    events: list[dict[str, Any]] = []
    name, data = None, None
    while True:
        line = resp.readline()
        if not line:
            return events
        line = line.rstrip(b"\n")
        if line.startswith(b"event: "):
            name = line[len(b"event: "):].decode()
        elif line.startswith(b"data: "):
            data = json.loads(line[len(b"data: "):])
        elif line == b"":
            events.append({"event": name, "data": data})
            if on_event:
                on_event(events[-1])
            name, data = None, None


def post(conn: http.client.HTTPConnection, path: str, body: Any) -> http.client.HTTPResponse:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    return conn.getresponse()


def test_generator_streams_each_item_as_it_is_yielded(streamer: RunnerProc) -> None:
    conn = streamer.connect()
    try:
        started = time.monotonic()
        resp = post(conn, "/stream", {"n": 4, "delay": 0.3})
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "text/event-stream"
        assert resp.getheader("Cache-Control") == "no-cache"
        assert resp.getheader("Transfer-Encoding") == "chunked"
        arrivals: list[float] = []
        events = read_events(resp, lambda _e: arrivals.append(time.monotonic() - started))
        assert [e["data"] for e in events] == [{"i": i, "partial": i < 3} for i in range(4)]
        assert all(e["event"] is None for e in events)
        # Not buffered: the first event came while the generator still had ~0.9 s to go.
        assert arrivals[0] < 0.25, arrivals
        assert arrivals[-1] >= 0.85, arrivals
        # A clean end leaves the keep-alive connection usable.
        assert streamer.request("POST", "/plain", {}, conn=conn)[:2] == (200, {"plain": True})
    finally:
        conn.close()
    assert streamer.event_log.read_text() == "closed\n"  # type: ignore[attr-defined]


def test_async_generator_streams(streamer: RunnerProc) -> None:
    conn = streamer.connect()
    try:
        resp = post(conn, "/async-stream", {"n": 3})
        assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
        assert [e["data"] for e in read_events(resp)] == [{"i": 0}, {"i": 1}, {"i": 2}]
    finally:
        conn.close()


def test_empty_generator_is_an_empty_stream(streamer: RunnerProc) -> None:
    conn = streamer.connect()
    try:
        resp = post(conn, "/empty", {})
        assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
        assert read_events(resp) == []
    finally:
        conn.close()


def test_exception_mid_stream_ends_it_with_an_error_event(streamer: RunnerProc) -> None:
    conn = streamer.connect()
    try:
        resp = post(conn, "/fail-midway", {})
        assert resp.status == 200
        assert read_events(resp) == [
            {"event": None, "data": {"i": 0}},
            {"event": "error", "data": {"detail": "ValueError: broke after one", "status": 500}},
        ]
        # The chunked body was terminated properly: the connection serves the next call.
        assert streamer.request("POST", "/plain", {}, conn=conn)[:2] == (200, {"plain": True})
        resp = post(conn, "/not-json-midway", {})
        events = read_events(resp)
        assert events[-1]["event"] == "error" and events[-1]["data"]["detail"].startswith("TypeError:")
    finally:
        conn.close()
    assert "ValueError: broke after one" in streamer.stderr


def test_error_before_the_first_item_is_an_ordinary_error_response(streamer: RunnerProc) -> None:
    assert streamer.request("POST", "/fail-first", {})[:2] == (422, {"detail": "bad prompt"})


def test_caller_going_away_stops_the_generator(streamer: RunnerProc) -> None:
    conn = streamer.connect()
    resp = post(conn, "/stream", {"n": 100, "delay": 0.05})
    assert resp.readline().startswith(b"data: ")
    conn.close()
    resp.close()
    # Stopped at one of its next yields (closed, with ctx.cancelled set), not after 5 s.
    deadline = time.monotonic() + 2
    log: Path = streamer.event_log  # type: ignore[attr-defined]
    while not (log.exists() and log.read_text()):
        assert time.monotonic() < deadline, "the generator kept running after the caller left"
        time.sleep(0.02)
    assert log.read_text() == "cancelled\n"
    assert streamer.request("GET", "/health")[:2] == (200, {"status": "ok"})


def test_http_1_0_caller_gets_a_close_delimited_stream(streamer: RunnerProc) -> None:
    raw = streamer.send_raw(b'POST /stream HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{"n": 2}')
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body == b'data: {"i":0,"partial":true}\n\ndata: {"i":1,"partial":false}\n\n'
