"""Turn an entrypoint string (`path/file.py::ClassName`) into an App and its routes."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterator

from .app import ENDPOINT_ATTR, App, RequestContext, is_reserved


class LoadError(Exception):
    """The entrypoint is unusable; the message is meant for the app author."""


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str
    fn: Callable[..., Any]  # bound method
    wants_ctx: bool
    is_async: bool

    def call(self, payload: dict[str, Any], ctx: RequestContext) -> Any:
        result = self.fn(payload, ctx) if self.wants_ctx else self.fn(payload)
        if self.is_async:
            # Each request runs on its own thread, so a private event loop per
            # call is safe and keeps async endpoints as simple as sync ones.
            result = asyncio.run(result)
        return result


def as_stream(result: Any) -> Iterator[Any] | None:
    """The items of a streaming endpoint's result, or None for a plain result.

    An endpoint streams when it is a generator function, sync or async:
    calling it returns a generator without running any of its code, and the
    harness pulls items one by one as it writes them out.
    """
    if inspect.isgenerator(result):
        return result
    if inspect.isasyncgen(result):
        return _drive_async(result)
    return None


def _drive_async(agen: Any) -> Iterator[Any]:
    # Each request runs on its own thread, so a private event loop per stream
    # is safe, as for async endpoints. Closing this generator (the caller went
    # away) closes the async one at its await point, running its finally blocks.
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                item = loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            loop.run_until_complete(agen.aclose())
        finally:
            loop.close()


def parse_entrypoint(spec: str) -> tuple[str, str | None]:
    """Split `file.py::Class`; the class part is optional (then it is inferred)."""
    file_part, sep, class_part = spec.partition("::")
    if not file_part:
        raise LoadError(f"invalid entrypoint {spec!r}: expected 'path/file.py::ClassName'")
    if sep and not class_part.isidentifier():
        raise LoadError(f"invalid entrypoint {spec!r}: {class_part!r} is not a valid class name")
    return file_part, (class_part if sep else None)


def import_file(file_path: str) -> ModuleType:
    path = os.path.abspath(file_path)
    if not os.path.isfile(path):
        raise LoadError(f"entrypoint file not found: {file_path} (cwd: {os.getcwd()})")
    # Let the app import sibling modules, as `python file.py` would.
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = os.path.splitext(os.path.basename(path))[0]
    if not name.isidentifier() or name in sys.modules:
        name = "_falplane_app_" + "".join(c if c.isalnum() else "_" for c in name)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {file_path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    # Registering before exec lets dataclasses/pickle/typing resolve the module.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from app code too
        del sys.modules[name]
        raise LoadError(f"importing {file_path} failed") from exc
    return module


def find_class(module: ModuleType, file_path: str, class_name: str | None) -> type[App]:
    if class_name is None:
        candidates = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, App) and obj is not App
            and obj.__module__ == module.__name__
        ]
        if len(candidates) != 1:
            found = ", ".join(c.__name__ for c in candidates) or "none"
            raise LoadError(
                f"{file_path}: specify the class as '{file_path}::ClassName' "
                f"(falplane.App subclasses found: {found})"
            )
        return candidates[0]
    cls = getattr(module, class_name, None)
    if cls is None:
        raise LoadError(f"{file_path}: no class named {class_name!r}")
    if not inspect.isclass(cls) or not issubclass(cls, App):
        raise LoadError(f"{file_path}::{class_name} is not a subclass of falplane.App")
    return cls


def collect_endpoints(app: App) -> dict[str, Endpoint]:
    cls = type(app)
    routes: dict[str, Endpoint] = {}
    for attr in dir(cls):
        fn = inspect.getattr_static(cls, attr, None)
        if isinstance(fn, (staticmethod, classmethod)):
            fn = fn.__func__
        path = getattr(fn, ENDPOINT_ATTR, None)
        if path is None:
            continue
        if is_reserved(path):
            raise LoadError(f"{cls.__name__}.{attr}: path {path!r} is reserved by the runner")
        if path in routes:
            raise LoadError(
                f"{cls.__name__}: path {path!r} is served by both "
                f"{routes[path].name} and {attr}"
            )
        bound = getattr(app, attr)
        params = [
            p
            for p in inspect.signature(bound).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if not params:
            raise LoadError(f"{cls.__name__}.{attr} must accept the request input: def {attr}(self, input)")
        wants_ctx = len(params) >= 2 or params[0].kind is inspect.Parameter.VAR_POSITIONAL
        routes[path] = Endpoint(path, attr, bound, wants_ctx, inspect.iscoroutinefunction(bound))
    if not routes:
        raise LoadError(f"{cls.__name__} has no endpoints; decorate a method with @falplane.endpoint('/')")
    return routes


def load(spec: str) -> tuple[App, dict[str, Endpoint]]:
    """Import the entrypoint, instantiate the App and collect its routes.

    Raises LoadError (with the original exception chained, if any).
    """
    file_path, class_name = parse_entrypoint(spec)
    module = import_file(file_path)
    cls = find_class(module, file_path, class_name)
    try:
        app = cls()
    except BaseException as exc:
        raise LoadError(f"constructing {cls.__name__}() failed (put heavy work in setup())") from exc
    return app, collect_endpoints(app)
