"""Serve a `fal.App` class as a runner of this platform.

The runner harness (falplane.runner) hands over here when the entrypoint's
class derives from `fal.App` (decided by parsing the file, falplane._inspect).
The app is served by fal's own app builder, `App._build_app()`, the FastAPI
application `fal run --local` serves: the same routes, pydantic validation
(422 with a detail list), `/health`, setup in the lifespan, fal's request
context. What differs from `fal run --local` is only what the platform needs:

- it listens on the host and port the platform chose (127.0.0.1 by default;
  fal binds 0.0.0.0) and starts no metrics server, so no fixed port is taken;
- the port opens only once setup() finished, so "connection refused" means
  "still starting"; the platform's readiness check is /health, plus
  falplane._ready's signal when the platform asked for one;
- SIGTERM drains as uvicorn does (stop accepting, finish in-flight requests,
  then the lifespan's shutdown: teardown()); the platform's grace period and
  SIGKILL bound it;
- exit codes follow the runner protocol: 4 when the entrypoint cannot be
  loaded, 3 when setup() raised, 0 after a clean shutdown.

Request timeouts, max_multiplexing, retries and draining are enforced by the
platform around the runner, as for any runner. fal apps have no cancel
endpoint: the platform's cancel call gets a 404 and the request runs to its
end (docs/moving-a-fal-app.md).
"""

from __future__ import annotations

import inspect
import os
import sys
import traceback
from typing import Any, NoReturn

from . import _loader


def _signal_ready() -> None:
    try:
        from ._ready import signal_ready  # noqa: PLC0415
    except ImportError:  # a harness without the readiness signal: the platform polls /health
        return
    signal_ready()


def is_fal_entrypoint(entrypoint: str) -> bool:
    """Whether the entrypoint's class derives from fal.App, read from the source without importing it."""
    from ._inspect import sdk_of  # noqa: PLC0415

    file_part, _, class_name = entrypoint.partition("::")
    return bool(class_name) and sdk_of(file_part, class_name) == "fal"


def serve(entrypoint: str, host: str, port: int) -> NoReturn:
    from .runner import EXIT_LOAD_FAILED, EXIT_OK, EXIT_SETUP_FAILED, _exit, _log

    def load_failed(msg: str, with_traceback: bool = False) -> NoReturn:
        detail = f"\n{traceback.format_exc()}" if with_traceback else ""
        _log(f"error: cannot load entrypoint {entrypoint!r}: {msg}{detail}".rstrip())
        _exit(EXIT_LOAD_FAILED)

    try:
        import fal  # noqa: PLC0415
        import uvicorn  # noqa: PLC0415
    except ImportError as exc:
        load_failed(
            f"{exc}; a fal.App class needs the `fal` package in the app's environment "
            "(the deploy adds it to the requirements unless they name it)",
            with_traceback=False,
        )

    file_part, class_name = _loader.parse_entrypoint(entrypoint)
    try:
        module = _loader.import_file(file_part)
    except _loader.LoadError as exc:
        cause = exc.__cause__
        detail = "".join(traceback.format_exception(cause)) if cause else ""
        _log(f"error: cannot load entrypoint {entrypoint!r}: {exc}\n{detail}".rstrip())
        _exit(EXIT_LOAD_FAILED)

    cls: Any = getattr(module, class_name or "", None)
    if not inspect.isclass(cls) or not issubclass(cls, fal.App):
        load_failed(f"{file_part}::{class_name} is not a subclass of fal.App")

    try:
        from fal.ref import set_current_app  # noqa: PLC0415

        app = cls(_allow_init=True)
        set_current_app(app)
        asgi_app = app._build_app()
    except BaseException:  # the class's own checks (routes, websockets) raise here
        load_failed("building the fal app failed", with_traceback=True)

    try:
        from fal.api.api import FalServer as ServerBase  # noqa: PLC0415  (calls App.handle_exit on SIGTERM)
    except ImportError:
        ServerBase = uvicorn.Server  # noqa: N806

    class RunnerServer(ServerBase):  # type: ignore[misc, valid-type]
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                _signal_ready()

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # uvicorn re-raises a captured SIGTERM once it has shut down, so the process would
            # die by the signal; the runner protocol wants exit status 0 after a clean drain.
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    config = uvicorn.Config(
        asgi_app,
        host=host,
        port=port,
        lifespan="on",
        timeout_keep_alive=300,
        access_log=os.environ.get("FAL_RUNNER_ACCESS_LOG") == "1",
        log_level="info",
    )
    server = RunnerServer(config)
    if hasattr(server, "set_handle_exit"):
        server.set_handle_exit(app.handle_exit)
    _log(f"serving fal app {class_name} (fal {getattr(fal, '__version__', '?')}) on {host}:{port} once setup() finished")
    try:
        server.run()
    except SystemExit:
        raise
    except BaseException:
        _log(f"error: the fal app's server failed:\n{traceback.format_exc()}")
        _exit(EXIT_SETUP_FAILED if not server.started else 1)
    if not server.started:
        # uvicorn returns without serving when the lifespan's startup (setup()) failed.
        _log("error: setup() failed; see the traceback above")
        _exit(EXIT_SETUP_FAILED)
    _log("stopped")
    sys.stdout.flush()
    _exit(EXIT_OK)
