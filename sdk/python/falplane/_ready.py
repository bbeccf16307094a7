"""Readiness signal: tells the platform the moment a runner takes traffic.

The platform may pass an inherited pipe to the runner and its file
descriptor number in ``FAL_READY_FD`` (docs/runner-protocol.md, "Readiness").
``signal_ready()`` writes one line, ``ready``, to it and closes it, so the
platform does not have to poll ``GET /health`` to learn that setup finished.

Without ``FAL_READY_FD`` (an older platform, a runner started by hand) it does
nothing, and the platform keeps polling ``/health``. It is safe to call more
than once and from any thread: only the first call writes. A platform that
went away (a closed pipe) is not an error here.
"""

from __future__ import annotations

import os
import stat
import threading

ENV_VAR = "FAL_READY_FD"

_lock = threading.Lock()
_done = False


def _ready_fd() -> int | None:
    """The inherited pipe's descriptor, or None when there is none to use."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        fd = int(raw)
    except ValueError:
        return None
    if fd < 3:
        return None  # never stdin/stdout/stderr
    try:
        # Only a pipe the platform handed over (Node's child pipes are socket pairs):
        # never write to some other file that happens to have this number.
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return None
    except OSError:
        return None
    return fd


def _take_fd() -> int | None:
    """Takes the pipe from the environment: the app's own subprocesses must inherit neither it nor its number."""
    fd = _ready_fd()
    os.environ.pop(ENV_VAR, None)
    if fd is not None:
        try:
            os.set_inheritable(fd, False)
        except OSError:
            pass
    return fd


# Taken at import (runner.py imports this module first thing), before the app starts any subprocess.
_fd = _take_fd()


def signal_ready() -> None:
    """Tell the platform this runner is ready for traffic (once; later calls do nothing)."""
    global _done, _fd
    with _lock:
        if _done:
            return
        _done = True
        fd = _fd if _fd is not None else _take_fd()
        _fd = None
        if fd is None:
            return
        try:
            os.write(fd, b"ready\n")
        except OSError:
            pass  # the platform is gone or stopped listening: it polls /health instead
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
