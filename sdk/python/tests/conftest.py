"""Shared helpers: run `python -m falplane.runner` as a real subprocess (own
process group, always killed at teardown) and talk HTTP to it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

SDK_DIR = Path(__file__).resolve().parents[1]
# Tests that import the SDK in-process (test_inspect.py) find it from any working directory.
if str(SDK_DIR) not in sys.path:
    sys.path.insert(0, str(SDK_DIR))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunnerProc:
    """One harness subprocess with helpers to talk to it."""

    def __init__(
        self,
        entrypoint: str,
        tmp: Path,
        env: dict[str, str] | None = None,
        port: bool = True,
        cwd: Path = FIXTURES,
    ) -> None:
        self.port = free_port()
        self.stdout_path = tmp / f"stdout-{self.port}.log"
        self.stderr_path = tmp / f"stderr-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FAL_RUNNER_")}
        full_env.pop("PORT", None)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SDK_DIR), os.environ.get("PYTHONPATH")]))
        if port:
            full_env["PORT"] = str(self.port)
        full_env.update(env or {})
        # Files, not pipes: a chatty runner can never block on a full pipe.
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "falplane.runner", entrypoint],
                cwd=cwd,
                env=full_env,
                stdout=out,
                stderr=err,
                start_new_session=True,  # own process group, so kill() gets everything
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def connect(self, timeout: float = 5.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
        timeout: float = 5.0,
    ) -> tuple[int, Any, http.client.HTTPResponse]:
        own = conn is None
        conn = conn or self.connect(timeout)
        try:
            data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None), resp
        finally:
            if own:
                conn.close()

    def send_raw(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Sends bytes as they are on a fresh connection; everything the runner writes until it closes it."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    def wait_listening(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"runner exited early:\n{self.stderr}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.01)
        raise AssertionError(f"runner never listened:\n{self.stderr}")

    def wait_ready(self, timeout: float = 3.0) -> None:
        self.wait_listening(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, _ = self.request("GET", "/health")
            if status == 200:
                return
            time.sleep(0.02)
        raise AssertionError(f"runner never became ready:\n{self.stderr}")

    def wait_exit(self, timeout: float = 3.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Callable[..., RunnerProc]]:
    started: list[RunnerProc] = []

    def start(entrypoint: str = "basic_app.py::Basic", **kwargs: Any) -> RunnerProc:
        runner = RunnerProc(entrypoint, tmp_path, **kwargs)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.kill()


@pytest.fixture
def ready(start_runner: Callable[..., RunnerProc]) -> RunnerProc:
    """The basic fixture app, started and past setup()."""
    runner = start_runner()
    runner.wait_ready()
    return runner
