"""The runner harness: serves one falplane.App over HTTP per docs/runner-protocol.md.

    PORT=8080 python -m falplane.runner path/file.py::ClassName

Lifecycle (threads in brackets):
  [main]   validate env -> bind + start HTTP server -> import the app
  [setup]  app.setup()              (/health answers 503 "starting" meanwhile)
  [main]   wait for a signal        (/health answers 200 "ok", endpoints served)
  [main]   SIGTERM/SIGINT -> close listener -> wait for in-flight -> teardown -> exit

Exit codes: 0 clean shutdown, 2 bad invocation/config, 3 setup() raised,
4 entrypoint unusable, 5 teardown() raised.

One file on purpose (about 590 lines): it is the whole harness, standard
library only, and reads top to bottom as the reference implementation of the
runner protocol; splitting it would scatter the lifecycle above. (The one
thing apart, _http_parse.py, is a faster drop-in for a stdlib method.)
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from . import _loader
from ._http_parse import FastRequestParsing
from ._ready import signal_ready
from .app import App, HTTPError, RequestContext, normalize_path

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_SETUP_FAILED = 3
EXIT_LOAD_FAILED = 4
EXIT_TEARDOWN_FAILED = 5

# How long, and for how many requests, a cancel that arrived before its request is remembered.
EARLY_CANCEL_S = 60.0
EARLY_CANCEL_MAX = 1000

# An idle keep-alive connection is closed after this long so abandoned
# connections do not pin a thread forever. Clients (the platform) should use a
# shorter idle timeout of their own so they never race this close.
IDLE_TIMEOUT_S = 300.0

STARTING, READY, DRAINING = "starting", "ready", "draining"


def _log(msg: str) -> None:
    # One write per message so lines from concurrent threads do not interleave.
    try:
        sys.stderr.write(f"falplane: {msg}\n")
    except (RuntimeError, OSError, ValueError):
        # RuntimeError: re-entrant write from a signal handler; OSError/ValueError:
        # stderr is gone. Logging must never take the runner down.
        pass


def _exit(code: int) -> NoReturn:
    """Flush and leave immediately.

    os._exit skips joining non-daemon threads: idle keep-alive connection
    threads (and any threads the app started) must not keep a stopped runner
    alive. Use teardown() rather than atexit for cleanup.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _encode(value: Any) -> bytes:
    # allow_nan=False: NaN/Infinity are not JSON and would break strict clients.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _event(value: Any, name: str | None = None) -> bytes:
    # One server-sent event. Compact JSON never contains a raw newline (they are
    # escaped inside strings), so the data always fits on one `data:` line.
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + _encode(value) + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


_NOTHING = object()


def _reason(status: int) -> str:
    if status == 499:
        return "Client Closed Request"  # nginx convention, used for cancellations
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Runner:
    """Shared state between the HTTP handler threads and the main thread."""

    def __init__(self, access_log: bool) -> None:
        self.access_log = access_log
        self.state = STARTING
        self.app: App | None = None
        self.endpoints: dict[str, _loader.Endpoint] = {}
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)  # notified when in_flight drops
        self.in_flight = 0
        self.by_request_id: dict[str, set[RequestContext]] = {}
        # Cancels that arrived before their request (the platform marks a request running when
        # it hands it out, so a caller's cancel can overtake the request on its way here).
        self.early_cancels: dict[str, float] = {}

    def begin(self, ctx: RequestContext) -> bool:
        """Register an endpoint call; False if the runner is draining."""
        with self.lock:
            if self.state != READY:
                return False
            self.in_flight += 1
            if ctx.request_id:
                self.by_request_id.setdefault(ctx.request_id, set()).add(ctx)
                if self.early_cancels.pop(ctx.request_id, None) is not None:
                    ctx.cancelled.set()
            return True

    def end(self, ctx: RequestContext) -> None:
        with self.lock:
            self.in_flight -= 1
            peers = self.by_request_id.get(ctx.request_id)
            if peers is not None:
                peers.discard(ctx)
                if not peers:
                    del self.by_request_id[ctx.request_id]
            if self.in_flight == 0:
                self.idle.notify_all()

    def cancel(self, request_id: str) -> bool:
        """Cancel the request's calls; a request not here yet is cancelled on arrival (for EARLY_CANCEL_S)."""
        with self.lock:
            peers = list(self.by_request_id.get(request_id, ()))
            if not peers:
                now = time.monotonic()
                for rid, at in list(self.early_cancels.items()):
                    if now - at > EARLY_CANCEL_S:
                        del self.early_cancels[rid]
                if len(self.early_cancels) < EARLY_CANCEL_MAX:
                    self.early_cancels[request_id] = now
        for ctx in peers:
            ctx.cancelled.set()
        return bool(peers)

    def start_draining(self) -> None:
        with self.lock:
            self.state = DRAINING

    def wait_idle(self) -> None:
        with self.lock:
            while self.in_flight:
                # Timed wait so signal handlers keep running on the main thread.
                self.idle.wait(0.5)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # per spec; we leave via os._exit so they never block exit
    block_on_close = False  # do not join idle keep-alive threads on server_close()
    request_queue_size = 128  # listen backlog; the default 5 drops bursts
    runner: Runner

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Responses are a single write, but without NODELAY a small write after
        # an unacknowledged one can still wait ~40 ms for the peer's delayed ACK.
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # client went away; nothing useful to report
        _log(f"error on connection from {client_address}:\n{traceback.format_exc()}")


class _Handler(FastRequestParsing, BaseHTTPRequestHandler):
    # FastRequestParsing: the stdlib's request parsing without email.parser (~35 µs a request).
    protocol_version = "HTTP/1.1"  # keep-alive by default
    server_version = "falplane"
    timeout = IDLE_TIMEOUT_S
    server: _Server

    # ---- response plumbing -------------------------------------------------

    def _send(self, status: int, body: Any, extra_headers: dict[str, str] | None = None) -> None:
        """Write status line + headers + JSON body with ONE write.

        Separate header/body writes on a keep-alive connection interact with
        Nagle + delayed ACK and cost ~40 ms per request.
        """
        self._send_raw(status, _encode(body), extra_headers)

    def _send_raw(self, status: int, payload: bytes, extra_headers: dict[str, str] | None = None) -> None:
        head = [
            f"HTTP/1.1 {status} {_reason(status)}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
        ]
        for key, value in (extra_headers or {}).items():
            head.append(f"{key}: {value}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if getattr(self, "command", None) != "HEAD":  # HEAD: headers only
            data += payload
        self.wfile.write(data)
        self._status = status
        self._bytes_out = len(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Used by BaseHTTPRequestHandler for malformed requests (400, 414, 431,
        # 501, ...). Answer in JSON with the same single-write path, then close:
        # after a protocol error the stream position is unknown.
        self.close_connection = True
        try:
            self._send(code, {"detail": message or _reason(code)})
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        # Silence the default per-request stderr line; see _access_log().
        pass

    def _access_log(self, method: str, path: str, started: float, request_id: str) -> None:
        if not self.server.runner.access_log:
            return
        entry = {
            "ts": round(time.time(), 3),
            "event": "request",
            "method": method,
            "path": path,
            "status": getattr(self, "_status", 0),
            "duration_ms": round((time.monotonic() - started) * 1000, 2),
            "request_id": request_id,
            "bytes_out": getattr(self, "_bytes_out", 0),
        }
        sys.stderr.write(json.dumps(entry) + "\n")

    # ---- request plumbing --------------------------------------------------

    def _read_body(self) -> bytes | None:
        """Read the whole body (Content-Length or chunked). None = malformed.

        Always consumed, even for requests we reject, so the next request on a
        keep-alive connection starts at the right byte.
        """
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after each chunk
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            return None
        if length < 0:
            return None
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        self._status, self._bytes_out = 0, 0
        path = normalize_path(urlsplit(self.path).path)
        request_id = self.headers.get("x-fal-request-id", "")
        try:
            self._route(method, path, request_id)
        finally:
            self._access_log(method, path, started, request_id)

    def _method_not_allowed(self, allowed: str) -> None:
        self._send(405, {"detail": f"method not allowed; use {allowed}"}, {"Allow": allowed})

    def _route(self, method: str, path: str, request_id: str) -> None:
        runner = self.server.runner
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(400, {"detail": "malformed request body framing"})
            return

        if path == "/health":
            if method != "GET":
                return self._method_not_allowed("GET")
            state = runner.state
            if state == READY:
                return self._send(200, {"status": "ok"})
            return self._send(503, {"status": "starting" if state == STARTING else "draining"})

        if runner.state == STARTING:
            return self._send(503, {"detail": "runner is starting; setup() has not finished"})

        if path == "/_fal/cancel":
            if method != "POST":
                return self._method_not_allowed("POST")
            if not request_id:
                return self._send(400, {"detail": "missing x-fal-request-id header"})
            if runner.cancel(request_id):
                return self._send(200, {"cancelled": True})
            return self._send(404, {"detail": f"no request {request_id!r} in flight"})

        endpoint = runner.endpoints.get(path)
        if endpoint is None:
            return self._send(404, {"detail": f"no endpoint at {path}"})
        if method != "POST":
            return self._method_not_allowed("POST")

        try:
            payload = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            return self._send(422, {"detail": f"request body is not valid JSON: {exc}"})
        if not isinstance(payload, dict):
            return self._send(422, {"detail": f"request body must be a JSON object, got {type(payload).__name__}"})

        headers = {k.lower(): v for k, v in self.headers.items()}
        ctx = RequestContext(
            request_id=request_id,
            endpoint=headers.get("x-fal-endpoint") or path,
            headers=headers,
        )
        if not runner.begin(ctx):
            # SIGTERM arrived: in-flight work finishes, new work is refused.
            self.close_connection = True
            return self._send(503, {"detail": "runner is shutting down"})
        try:
            self._call(endpoint, payload, ctx)
        finally:
            runner.end(ctx)

    def _call(self, endpoint: _loader.Endpoint, payload: dict[str, Any], ctx: RequestContext) -> None:
        items = None
        try:
            result = endpoint.call(payload, ctx)
            items = _loader.as_stream(result)
            if items is None:
                # Encode inside the try so a non-JSON-serialisable result is a 500.
                encoded = _encode(result)
            else:
                # A generator: pull its first item before answering, so an error
                # before it (bad input, an HTTPError) is an ordinary error response.
                first = next(items, _NOTHING)
                encoded = b"" if first is _NOTHING else _event(first)
        except HTTPError as exc:
            if items is not None:
                items.close()
            return self._send_http_error(exc)
        except BaseException as exc:  # incl. SystemExit from app code: still answer
            if items is not None:
                items.close()
            self._log_raised(endpoint, ctx)
            return self._send(500, {"detail": f"{type(exc).__name__}: {exc}"})
        if items is None:
            return self._send_raw(200, encoded)
        try:
            self._stream(endpoint, ctx, items, encoded)
        finally:
            items.close()  # GeneratorExit at the app's yield when it stopped early

    def _send_http_error(self, exc: HTTPError) -> None:
        detail = _reason(exc.status) if exc.detail is None else exc.detail
        try:
            return self._send(exc.status, {"detail": detail})
        except (TypeError, ValueError):
            return self._send(exc.status, {"detail": str(exc.detail)})

    def _log_raised(self, endpoint: _loader.Endpoint, ctx: RequestContext) -> None:
        _log(
            f"endpoint {endpoint.path} ({endpoint.name}) raised"
            f" (request_id={ctx.request_id or '-'}):\n{traceback.format_exc()}"
        )

    def _stream(self, endpoint: _loader.Endpoint, ctx: RequestContext, items: Any, first: bytes) -> None:
        """Answer with server-sent events: one `data: <json>` event per item,
        written as the generator yields it (one write each, no buffering).

        Chunked, so the connection stays reusable after a clean end (HTTP/1.0
        callers get a close-delimited body). An exception mid-stream becomes a
        final `event: error` carrying `{"detail", "status"}`, then the stream
        ends; the status line (200) went out with the first event.
        """
        chunked = self.request_version != "HTTP/1.0"
        if not chunked:
            self.close_connection = True
        frame = _chunk if chunked else (lambda data: data)
        head = [
            "HTTP/1.1 200 OK",
            "Content-Type: text/event-stream",
            "Cache-Control: no-cache",
            "Transfer-Encoding: chunked" if chunked else "",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
        ]
        self._status = 200
        try:
            self._write(("\r\n".join(h for h in head if h) + "\r\n\r\n").encode("latin-1") + (frame(first) if first else b""))
            while True:
                try:
                    data = _event(next(items))  # the app's code runs here
                except StopIteration:
                    break
                except BaseException as exc:  # incl. HTTPError, SystemExit: still end the stream properly
                    self._write(frame(self._error_event(endpoint, ctx, exc)))
                    break
                if self._caller_gone():
                    raise ConnectionResetError("the caller closed the connection")
                self._write(frame(data))
            if chunked:
                self._write(b"0\r\n\r\n")
        except OSError:
            # The caller went away: nobody reads the rest. Tell the app (ctx.cancelled)
            # and stop its generator; this connection is done.
            ctx.cancelled.set()
            self.close_connection = True

    def _error_event(self, endpoint: _loader.Endpoint, ctx: RequestContext, exc: BaseException) -> bytes:
        if not isinstance(exc, HTTPError):
            self._log_raised(endpoint, ctx)
            return _event({"detail": f"{type(exc).__name__}: {exc}", "status": 500}, "error")
        detail = _reason(exc.status) if exc.detail is None else exc.detail
        try:
            return _event({"detail": detail, "status": exc.status}, "error")
        except (TypeError, ValueError):
            return _event({"detail": str(exc.detail), "status": exc.status}, "error")

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self._bytes_out += len(data)

    def _caller_gone(self) -> bool:
        """Whether the caller closed its end while the generator ran.

        Checked before each event so an abandoned stream stops at the app's
        next yield rather than one or two writes later (a write into a closed
        connection only fails once the peer's reset came back).
        """
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


# ---- process lifecycle -----------------------------------------------------


def _usage_error(msg: str) -> NoReturn:
    _log(f"error: {msg}")
    _exit(EXIT_USAGE)


def _read_port() -> int:
    raw = os.environ.get("PORT")
    if raw is None or raw.strip() == "":
        _usage_error("environment variable PORT is required (the TCP port to listen on)")
    try:
        port = int(raw)
    except ValueError:
        _usage_error(f"PORT must be an integer in 1..65535, got {raw!r}")
    if not 1 <= port <= 65535:
        _usage_error(f"PORT must be an integer in 1..65535, got {raw!r}")
    return port


def _line_buffer_stdio() -> None:
    # Equivalent of `python -u` for text output: app prints reach the platform's
    # log collector immediately instead of sitting in a 8 KiB pipe buffer.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def main(argv: list[str] | None = None) -> NoReturn:
    _line_buffer_stdio()
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        _usage_error("usage: python -m falplane.runner <path/file.py::ClassName>")
    entrypoint = args[0]
    port = _read_port()
    host = os.environ.get("FAL_RUNNER_HOST", "127.0.0.1")
    # A fal.App class is served by fal's own app builder (falplane._fal_serve).
    from . import _fal_serve

    if _fal_serve.is_fal_entrypoint(entrypoint):
        _fal_serve.serve(entrypoint, host, port)
    runner = Runner(access_log=os.environ.get("FAL_RUNNER_ACCESS_LOG") == "1")

    # Signals only flag the main thread; all real work happens there.
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            _log(f"received {signal.Signals(signum).name} again while draining; ignoring")
            return
        _log(f"received {signal.Signals(signum).name}; shutting down")
        if runner.state == STARTING:
            # Nothing was served and setup() may hang: leave now, no teardown.
            _exit(EXIT_OK)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # 1. Listen immediately so the platform sees "starting" rather than
    #    "connection refused" while the app imports and sets up.
    if ":" in host:
        _Server.address_family = socket.AF_INET6
    try:
        server = _Server((host, port), _Handler)
    except OSError as exc:
        _usage_error(f"cannot listen on {host}:{port}: {exc}")
    server.runner = runner
    serve_thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="falplane-http", daemon=True
    )
    serve_thread.start()
    _log(f"listening on {host}:{port}; loading {entrypoint}")

    # 2. Import the entrypoint on the main thread (some libraries insist).
    try:
        app, endpoints = _loader.load(entrypoint)
    except _loader.LoadError as exc:
        cause = exc.__cause__
        detail = "".join(traceback.format_exception(cause)) if cause else ""
        _log(f"error: cannot load entrypoint {entrypoint!r}: {exc}\n{detail}".rstrip())
        _exit(EXIT_LOAD_FAILED)
    runner.app, runner.endpoints = app, endpoints

    # 3. setup() in the background; the main thread stays free for signals.
    setup_done = threading.Event()
    setup_error: list[BaseException] = []

    def run_setup() -> None:
        try:
            app.setup()
        except BaseException as exc:
            setup_error.append(exc)
            _log(f"setup() failed:\n{traceback.format_exc()}")
        finally:
            setup_done.set()

    started = time.monotonic()
    threading.Thread(target=run_setup, name="falplane-setup").start()
    while not setup_done.wait(0.1):
        pass  # a signal here exits via on_signal
    if setup_error:
        _exit(EXIT_SETUP_FAILED)
    with runner.lock:
        runner.state = READY
    signal_ready()  # the platform learns it now instead of at its next /health poll
    routes = ", ".join(f"POST {p}" for p in sorted(endpoints))
    _log(f"setup complete in {time.monotonic() - started:.2f}s; ready ({routes})")

    # 4. Serve until told to stop.
    while not stop.wait(0.5):
        pass

    # 5. Drain: refuse new work, close the listener, let in-flight calls finish.
    runner.start_draining()
    server.shutdown()  # stops the accept loop...
    server.server_close()  # ...and closes the listening socket
    runner.wait_idle()
    _log("in-flight requests finished; running teardown()")
    try:
        app.teardown()
    except BaseException:
        _log(f"teardown() failed:\n{traceback.format_exc()}")
        _exit(EXIT_TEARDOWN_FAILED)
    _log("stopped")
    _exit(EXIT_OK)


if __name__ == "__main__":
    main()
