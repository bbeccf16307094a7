"""The author-facing half of the SDK: App, endpoint, HTTPError, RequestContext.

Nothing in this module does I/O; the runner harness (falplane.runner) imports
these definitions and drives them. Keeping them separate means importing
`falplane` from an app file is cheap and side-effect free.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Attribute the @endpoint decorator stores the (normalised) route on.
ENDPOINT_ATTR = "_falplane_path"

# Paths the harness owns; an app may not register endpoints on them.
RESERVED_PATHS = ("/health",)
RESERVED_PREFIX = "/_fal"


def normalize_path(path: str) -> str:
    """Canonical form used for routing: no query, no trailing slash, "/" for root.

    Matching is exact but trailing-slash insensitive, so "/stats" and "/stats/"
    are the same route, and "" / "/" / "//" are all the root endpoint.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    path = path.rstrip("/")
    return path if path.startswith("/") else "/" + path


def is_reserved(path: str) -> bool:
    path = normalize_path(path)
    return path in RESERVED_PATHS or path == RESERVED_PREFIX or path.startswith(RESERVED_PREFIX + "/")


def endpoint(path: str) -> Callable[[F], F]:
    """Mark an App method as the handler for `POST <path>`.

    The method receives the parsed JSON object (`input: dict`) and optionally a
    second positional parameter, the RequestContext. Its return value must be
    JSON-serialisable.

    A generator method (sync or async) streams instead: the answer is
    `text/event-stream`, one `data: <json>` event per yielded value, sent as
    it is yielded (docs/runner-protocol.md, "Streaming").
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"endpoint path must be a string starting with '/', got {path!r}")
    route = normalize_path(path)
    if is_reserved(route):
        raise ValueError(f"endpoint path {path!r} is reserved by the runner protocol")

    def decorate(fn: F) -> F:
        setattr(fn, ENDPOINT_ATTR, route)
        return fn

    return decorate


class HTTPError(Exception):
    """Raise from an endpoint to answer with a chosen status.

    The response body is `{"detail": detail}`; `detail` may be any
    JSON-serialisable value (a string is the common case).
    """

    def __init__(self, status: int, detail: Any = None) -> None:
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"HTTPError status must be an int in 100..599, got {status!r}")
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {detail}")


@dataclass(eq=False)  # eq=False keeps identity hashing: contexts live in sets
class RequestContext:
    """Per-request metadata handed to endpoints that accept a second parameter."""

    request_id: str
    """Value of the `x-fal-request-id` header ("" when absent)."""
    endpoint: str
    """Value of the `x-fal-endpoint` header, or the matched route when absent."""
    headers: dict[str, str]
    """All request headers, keys lower-cased."""
    cancelled: threading.Event = field(default_factory=threading.Event)
    """Set when the platform calls `POST /_fal/cancel` for this request."""

    def raise_if_cancelled(self) -> None:
        """Convenience for long loops: abort with 499 once the request is cancelled."""
        if self.cancelled.is_set():
            raise HTTPError(499, "request cancelled")


class App:
    """Base class for falplane apps.

    Subclass it, decorate methods with @falplane.endpoint(path), and optionally
    override setup()/teardown(). Class attributes named as in fal (the ones
    below, and num_gpus, min_concurrency, max_multiplexing, startup_timeout,
    request_timeout, regions, app_name, app_auth, ...) are the app's code
    values: the deploy reads them from the source without importing it
    (falplane._inspect), and the app spec (stacks/apps.<stack>.yaml) or the
    FalApp component can override each one. The harness itself ignores them.
    """

    machine_type: ClassVar[str | None] = None
    """The machine type the app wants: one of the platform's catalog,
    XS, S, M, L, GPU-A6000, GPU-A100, GPU-H100, GPU-H200 or GPU-B200
    (spec: `machineType`)."""
    keep_alive: ClassVar[int | None] = None
    """Seconds an idle runner should be kept warm (spec: `scaling.keepAlive`)."""
    max_concurrency: ClassVar[int | None] = None
    """The most runners of the app at once (spec: `scaling.maxConcurrency`).
    Requests one runner holds at once is `max_multiplexing`, not this."""
    requirements: ClassVar[list[str] | None] = None
    """Pip requirements the app needs (spec: `requirements`)."""

    def setup(self) -> None:
        """Runs once, in a background thread, before the runner takes traffic."""

    def teardown(self) -> None:
        """Runs once on graceful shutdown, after in-flight requests finished."""
