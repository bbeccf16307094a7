"""End-to-end tests of the runner harness against tests/fixtures/*.py apps.

Helpers (RunnerProc, start_runner) live in conftest.py."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from conftest import RunnerProc


# ---- lifecycle ---------------------------------------------------------------


def test_health_is_503_during_slow_setup_then_200(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner(env={"SETUP_DELAY": "1.0"})
    runner.wait_listening()
    status, body, _ = runner.request("GET", "/health")
    assert (status, body) == (503, {"status": "starting"})
    # No traffic before setup succeeded.
    status, body, _ = runner.request("POST", "/", {"a": 1})
    assert status == 503
    runner.wait_ready()
    assert runner.request("GET", "/health")[:2] == (200, {"status": "ok"})
    assert runner.request("POST", "/", {"a": 1})[:2] == (200, {"echo": {"a": 1}})


def test_setup_crash_exits_3_with_traceback(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner("crash_app.py::CrashOnSetup")
    assert runner.wait_exit() == 3
    assert "Traceback (most recent call last)" in runner.stderr
    assert "RuntimeError: model weights missing" in runner.stderr


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("missing_file.py::Basic", "entrypoint file not found"),
        ("basic_app.py::Nope", "no class named 'Nope'"),
        ("not_an_app.py::NotAnApp", "not a subclass of falplane.App"),
        ("import_error_app.py::Broken", "falplane_module_that_does_not_exist"),
        ("basic_app.py::not-a-class", "not a valid class name"),
    ],
)
def test_bad_entrypoint_exits_4(start_runner: Callable[..., RunnerProc], entrypoint: str, message: str) -> None:
    runner = start_runner(entrypoint)
    assert runner.wait_exit() == 4
    assert message in runner.stderr


def test_missing_port_exits_2(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner(port=False)
    assert runner.wait_exit() == 2
    assert "PORT" in runner.stderr


def test_invalid_port_exits_2(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner(env={"PORT": "eighty"})
    assert runner.wait_exit() == 2
    assert "PORT must be an integer" in runner.stderr


def test_sigterm_drains_in_flight_request_then_teardown(
    start_runner: Callable[..., RunnerProc], tmp_path: Path
) -> None:
    events = tmp_path / "events.log"
    runner = start_runner(env={"EVENT_LOG": str(events)})
    runner.wait_ready()

    result: dict[str, Any] = {}

    def slow_call() -> None:
        result["status"], result["body"], _ = runner.request("POST", "/slow", {"seconds": 0.8})

    client = threading.Thread(target=slow_call)
    client.start()
    deadline = time.monotonic() + 2
    while "slow-start" not in (events.read_text() if events.exists() else ""):
        assert time.monotonic() < deadline, "slow request never started"
        time.sleep(0.01)

    idle_conn = runner.connect()  # a keep-alive connection opened before SIGTERM
    assert runner.request("GET", "/health", conn=idle_conn)[0] == 200

    runner.proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    runner.proc.send_signal(signal.SIGTERM)  # a second SIGTERM while draining is ignored

    # New work on an existing connection is refused while draining.
    status, body, resp = runner.request("POST", "/", {}, conn=idle_conn)
    assert status == 503 and resp.getheader("Connection") == "close"
    idle_conn.close()

    # The listening socket closes promptly: new connections are refused.
    deadline = time.monotonic() + 1
    while True:
        try:
            socket.create_connection(("127.0.0.1", runner.port), timeout=0.2).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "listener still open after SIGTERM"
        time.sleep(0.02)
    assert runner.proc.poll() is None, "runner exited before the in-flight request finished"

    client.join(3)
    assert (result["status"], result["body"]) == (200, {"slept": 0.8})
    assert runner.wait_exit() == 0, runner.stderr
    assert events.read_text().split() == ["setup", "slow-start", "slow-done", "teardown"]
    assert "again while draining; ignoring" in runner.stderr


def test_sigterm_with_idle_keepalive_connection_exits_promptly(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner()
    runner.wait_ready()
    conn = runner.connect()
    try:
        assert runner.request("POST", "/", {}, conn=conn)[0] == 200  # connection stays open, idle
        runner.proc.send_signal(signal.SIGTERM)
        assert runner.wait_exit(timeout=2) == 0
    finally:
        conn.close()


def test_sigterm_during_setup_exits_0_without_teardown(
    start_runner: Callable[..., RunnerProc], tmp_path: Path
) -> None:
    events = tmp_path / "events.log"
    runner = start_runner(env={"SETUP_DELAY": "5", "EVENT_LOG": str(events)})
    runner.wait_listening()
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.wait_exit(timeout=2) == 0
    assert not events.exists()  # neither setup nor teardown completed


def test_teardown_crash_exits_5(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner("teardown_crash_app.py::CrashOnTeardown")
    runner.wait_ready()
    runner.proc.send_signal(signal.SIGINT)
    assert runner.wait_exit() == 5
    assert "RuntimeError: could not release GPU" in runner.stderr


# ---- requests ----------------------------------------------------------------


def test_endpoint_round_trip(ready: RunnerProc) -> None:
    assert ready.request("POST", "/", {"prompt": "hi", "n": [1, 2]})[:2] == (200, {"echo": {"prompt": "hi", "n": [1, 2]}})
    assert ready.request("POST", "/")[:2] == (200, {"echo": {}})  # empty body is {}
    assert ready.request("POST", "/async/", {"x": 1})[:2] == (200, {"async": True, "x": 1})  # trailing slash
    status, body, resp = ready.request("POST", "/ctx?ignored=1", {})
    assert status == 200 and resp.getheader("Content-Type") == "application/json"


def test_keep_alive_requests_are_fast(ready: RunnerProc) -> None:
    # Guards against the Nagle/delayed-ACK stall (~40 ms per request) that
    # separate header/body writes cause on a reused connection.
    conn = ready.connect()
    try:
        ready.request("POST", "/", {"warm": True}, conn=conn)
        started = time.monotonic()
        for i in range(50):
            status, body, resp = ready.request("POST", "/", {"i": i}, conn=conn)
            assert (status, body) == (200, {"echo": {"i": i}})
            assert resp.getheader("Connection") == "keep-alive"
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert elapsed < 0.75, f"50 keep-alive requests took {elapsed:.2f}s"


def test_error_statuses(ready: RunnerProc) -> None:
    assert ready.request("POST", "/nope", {})[0] == 404
    status, body, resp = ready.request("GET", "/")
    assert status == 405 and resp.getheader("Allow") == "POST"
    assert ready.request("POST", "/health")[0] == 405
    status, body, _ = ready.request("POST", "/", [1, 2, 3])
    assert status == 422 and "JSON object" in body["detail"]
    status, body, _ = ready.request("POST", "/", "{not json")
    assert status == 422 and "not valid JSON" in body["detail"]
    status, body, _ = ready.request("POST", "/fail", {})
    assert (status, body) == (500, {"detail": "ValueError: bad thing happened"})
    assert "Traceback (most recent call last)" in ready.stderr
    assert ready.request("POST", "/http-error", {"status": 400, "detail": "bad prompt"})[:2] == (
        400,
        {"detail": "bad prompt"},
    )
    assert ready.request("POST", "/http-error", {"status": 422, "detail": {"field": "prompt"}})[:2] == (
        422,
        {"detail": {"field": "prompt"}},
    )
    status, body, _ = ready.request("POST", "/not-json", {})
    assert status == 500 and body["detail"].startswith("TypeError:")
    # The runner is still healthy after all that.
    assert ready.request("GET", "/health")[:2] == (200, {"status": "ok"})


def test_chunked_request_body(ready: RunnerProc) -> None:
    conn = ready.connect()
    try:
        body = iter([b'{"chunked":', b" true}"])
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"}, encode_chunked=True)
        resp = conn.getresponse()
        assert (resp.status, json.loads(resp.read())) == (200, {"echo": {"chunked": True}})
        # The connection is still usable afterwards (body fully consumed).
        assert ready.request("POST", "/", {"after": 1}, conn=conn)[:2] == (200, {"echo": {"after": 1}})
    finally:
        conn.close()


def test_request_context(ready: RunnerProc) -> None:
    headers = {"x-fal-request-id": "req-123", "x-fal-endpoint": "/ctx", "X-Custom": "yes"}
    assert ready.request("POST", "/ctx", {}, headers=headers)[:2] == (
        200,
        {"request_id": "req-123", "endpoint": "/ctx", "custom": "yes", "cancelled": False},
    )
    _, body, _ = ready.request("POST", "/ctx", {})
    assert body["request_id"] == "" and body["endpoint"] == "/ctx"


def test_cancel(ready: RunnerProc) -> None:
    assert ready.request("POST", "/_fal/cancel", headers={"x-fal-request-id": "ghost"})[0] == 404
    assert ready.request("POST", "/_fal/cancel")[0] == 400
    assert ready.request("GET", "/_fal/cancel")[0] == 405

    result: dict[str, Any] = {}

    def long_call() -> None:
        result["status"], result["body"], _ = ready.request(
            "POST", "/wait-cancel", {}, headers={"x-fal-request-id": "job-1"}
        )

    client = threading.Thread(target=long_call)
    client.start()
    deadline = time.monotonic() + 2
    while True:
        # 200 once the request is in flight; a 404 before that is remembered and
        # cancels the request on arrival, which then ends without a 200 here.
        status, body, _ = ready.request("POST", "/_fal/cancel", headers={"x-fal-request-id": "job-1"})
        if status == 200:
            assert body == {"cancelled": True}
            break
        assert status == 404 and time.monotonic() < deadline
        if not client.is_alive():
            break
        time.sleep(0.01)
    client.join(3)
    assert (result["status"], result["body"]) == (200, {"cancelled": True})
    # Finished requests are no longer cancellable.
    assert ready.request("POST", "/_fal/cancel", headers={"x-fal-request-id": "job-1"})[0] == 404


def test_a_cancel_that_overtakes_its_request_cancels_it_on_arrival(ready: RunnerProc) -> None:
    # The platform marks a request running when it hands it out; the caller's cancel can get here first.
    assert ready.request("POST", "/_fal/cancel", headers={"x-fal-request-id": "early-1"})[0] == 404
    status, body, _ = ready.request("POST", "/ctx", {}, headers={"x-fal-request-id": "early-1"})
    assert (status, body["cancelled"]) == (200, True)
    # Remembered once: the next request with another id is not affected.
    assert ready.request("POST", "/ctx", {}, headers={"x-fal-request-id": "later-2"})[1]["cancelled"] is False


def test_concurrent_requests(ready: RunnerProc) -> None:
    # Five 0.5 s requests in parallel finish in ~0.5 s, not 2.5 s.
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(ready.request("POST", "/slow", {"seconds": 0.5})[0]))
        for _ in range(5)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(3)
    assert statuses == [200] * 5
    assert time.monotonic() - started < 1.5


def test_app_output_is_unbuffered_and_access_log_is_off(ready: RunnerProc) -> None:
    assert ready.request("POST", "/print", {})[0] == 200
    deadline = time.monotonic() + 1
    while "hello from the app" not in ready.stdout:  # runner still running: not flushed at exit
        assert time.monotonic() < deadline, "app output was buffered"
        time.sleep(0.01)
    # Neither BaseHTTPRequestHandler's default log line nor the JSON access log.
    assert "HTTP/1.1\"" not in ready.stderr
    assert '"event": "request"' not in ready.stderr


def test_access_log_when_enabled(start_runner: Callable[..., RunnerProc]) -> None:
    runner = start_runner(env={"FAL_RUNNER_ACCESS_LOG": "1"})
    runner.wait_ready()
    runner.request("POST", "/ctx", {}, headers={"x-fal-request-id": "abc"})
    deadline = time.monotonic() + 1
    while True:
        lines = [json.loads(line) for line in runner.stderr.splitlines() if line.startswith("{")]
        hits = [entry for entry in lines if entry.get("path") == "/ctx"]
        if hits:
            break
        assert time.monotonic() < deadline, runner.stderr
        time.sleep(0.01)
    assert hits[0]["status"] == 200 and hits[0]["request_id"] == "abc" and hits[0]["method"] == "POST"
