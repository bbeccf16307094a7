"""Read an app class's settings without running the app's code.

`python -m falplane._inspect path/file.py ClassName [--project-root DIR]`
prints one JSON object on stdout: which SDK the class is written for
(`fal` or `falplane`), and the settings it declares, each with where it came
from. The deploy check runs this at `pulumi preview` time on the infra
repo's machine, where the app's heavy dependencies (torch, diffusers, ...) are
usually not installed, so the file is parsed (`ast`), never imported.

The settings are read the way fal reads them: class attributes (inherited
from base classes in the same file, a subclass overriding its base), the
keyword arguments of the class statement (`class A(fal.App, keep_alive=300)`),
then the app's table `[tool.fal.apps.<name>]` of the nearest pyproject.toml
with a `[tool.fal]` section, which overrides the class.

A value must be a literal (numbers, strings, lists, dicts, True/False/None),
simple arithmetic on literals (`60 * 5`), or a module-level name assigned
such a value. Anything else (a function call, an import) cannot be read
without running the code and is reported with its line, so the author can
write the value out or set it in the app spec instead.

Exit status: 0 with `{"ok": true, ...}`; 1 with `{"ok": false, "error": ...}`
when the file or class cannot be read; 2 on a usage error.
"""

from __future__ import annotations

import ast
import json
import operator
import os
import re
import sys
import tomllib
from typing import Any

# Settings the platform applies, by fal's attribute name.
SETTINGS = (
    "requirements",
    "machine_type",
    "num_gpus",
    "regions",
    "keep_alive",
    "min_concurrency",
    "max_concurrency",
    "concurrency_buffer",
    "concurrency_buffer_perc",
    "scaling_delay",
    "request_timeout",
    "startup_timeout",
    "max_multiplexing",
    "app_name",
    "app_auth",
)

# fal settings this platform does not apply; reported so the deploy check can say so.
IGNORED = (
    "local_python_modules",
    "requirements_context_dir",
    "host_kwargs",
    "app_files",
    "app_files_ignore",
    "app_files_context_dir",
    "request_start_timeout",
    "metrics_port",
    "kind",
    "image",
    "skip_retry_conditions",
    "retry_config",
    "termination_grace_period_seconds",
    "secrets",
    "data_mounts",
    "resolver",
)

# pyproject.toml keys that differ from the class attribute names.
PYPROJECT_ALIASES = {"auth": "app_auth", "name": "app_name"}
# pyproject.toml keys that are about the deploy command, not the app's settings.
PYPROJECT_DEPLOY_KEYS = ("ref", "team", "deployment_strategy", "python_entry_point", "python_version", "no_scale", "reset_scale")

SDK_MODULES = ("fal", "falplane")

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Div: operator.truediv,
}


class InspectError(Exception):
    """The class or one of its settings cannot be read; the message is for the author."""


class _NotLiteral(Exception):
    pass


def _literal(node: ast.AST, names: dict[str, Any]) -> Any:
    """The value of `node` if it is a literal, arithmetic on literals, or a known module-level name."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, names) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotLiteral()
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, names)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _NotLiteral()
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _literal(node.left, names), _literal(node.right, names)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
        lists = isinstance(node.op, ast.Add) and all(isinstance(v, list) for v in (left, right))
        strings = isinstance(node.op, ast.Add) and all(isinstance(v, str) for v in (left, right))
        if not (numbers or lists or strings):
            raise _NotLiteral()
        try:
            return _BINOPS[type(node.op)](left, right)
        except ArithmeticError as exc:
            raise _NotLiteral() from exc
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    raise _NotLiteral()


class _Module:
    """What the file says at its top level: imports, literal constants, classes."""

    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.constants: dict[str, Any] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        # local name -> "fal" / "falplane" (the SDK module itself)
        self.sdk_modules: dict[str, str] = {}
        # local name -> "fal" / "falplane" (that SDK's App class)
        self.sdk_apps: dict[str, str] = {}
        # local name -> (module name, class name) for `from other_module import Base`
        self.imported: dict[str, tuple[str, str]] = {}
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in SDK_MODULES:
                        self.sdk_modules[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module in SDK_MODULES and node.level == 0:
                for alias in node.names:
                    if alias.name == "App":
                        self.sdk_apps[alias.asname or alias.name] = node.module
            elif isinstance(node, ast.ImportFrom) and node.module and node.level in (0, 1):
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is None:
                    continue
                for target in targets:
                    if isinstance(target, ast.Name):
                        try:
                            self.constants[target.id] = _literal(node.value, self.constants)
                        except _NotLiteral:
                            self.constants.pop(target.id, None)

    def sdk_of_base(self, base: ast.expr) -> str | None:
        """`fal` / `falplane` when `base` names that SDK's App class."""
        if isinstance(base, ast.Attribute) and base.attr == "App" and isinstance(base.value, ast.Name):
            return self.sdk_modules.get(base.value.id)
        if isinstance(base, ast.Name):
            return self.sdk_apps.get(base.id)
        return None


def _sibling_module(module: _Module, name: str) -> _Module | None:
    """The module `name` when it is a file next to `module`'s (`from common import Base`), parsed."""
    path = os.path.join(os.path.dirname(os.path.abspath(module.path)), *name.split(".")) + ".py"
    try:
        with open(path, "rb") as f:
            return _Module(path, ast.parse(f.read(), filename=path))
    except (OSError, SyntaxError, ValueError):
        return None


def _class_chain(
    module: _Module, name: str, seen: tuple[str, ...] = (), depth: int = 0
) -> tuple[str | None, list[tuple[_Module, ast.ClassDef]]]:
    """The SDK the class derives from and its classes (with their modules) in the app's files, base first."""
    node = module.classes[name]
    chain: list[tuple[_Module, ast.ClassDef]] = []
    sdk: str | None = None
    key = f"{module.path}::{name}"
    for base in node.bases:
        found = module.sdk_of_base(base)
        if found:
            sdk = sdk or found
            continue
        base_module, base_name = module, None
        if isinstance(base, ast.Name) and base.id in module.classes:
            base_name = base.id
        elif isinstance(base, ast.Name) and base.id in module.imported and depth < 8:
            mod_name, cls_name = module.imported[base.id]
            sibling = _sibling_module(module, mod_name)
            if sibling and cls_name in sibling.classes:
                base_module, base_name = sibling, cls_name
        if base_name and f"{base_module.path}::{base_name}" not in seen + (key,):
            base_sdk, base_chain = _class_chain(base_module, base_name, seen + (key,), depth + 1)
            sdk = sdk or base_sdk
            chain.extend(c for c in base_chain if c not in chain)
    chain.append((module, node))
    return sdk, chain


def _read_class(chain: list[tuple[_Module, ast.ClassDef]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    settings: dict[str, dict[str, Any]] = {}
    ignored: list[str] = []

    def take(module: _Module, name: str, value_node: ast.AST, line: int, cls: str, how: str) -> None:
        rel = module.path
        if name in IGNORED:
            if name not in ignored:
                ignored.append(name)
            return
        if name not in SETTINGS:
            return
        try:
            value = _literal(value_node, module.constants)
        except _NotLiteral:
            raise InspectError(
                f"{rel} line {line}: {cls}.{name} = {ast.unparse(value_node)} cannot be read without running the code; "
                f"write the value as a literal (a number, string or list), or set it in the app spec"
            ) from None
        settings[name] = {"value": value, "from": "class", "line": line, "class": cls, "how": how, "file": module.path}

    for module, cls in chain:
        for keyword in cls.keywords:
            if keyword.arg is None:
                continue
            name = "app_name" if keyword.arg == "name" else keyword.arg
            take(module, name, keyword.value, keyword.value.lineno, cls.name, "class keyword")
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        take(module, target.id, stmt.value, stmt.lineno, cls.name, "class attribute")
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                take(module, stmt.target.id, stmt.value, stmt.lineno, cls.name, "class attribute")
    return settings, ignored


def fal_app_name(class_name: str) -> str:
    """The app name fal derives from a class name (`MyGoodApp` -> `my-good-app`)."""
    parts = re.findall(r"[A-Z][a-z]*", class_name)
    if parts:
        return "-".join(p.lower() for p in parts)
    if "_" in class_name:
        return "-".join(p.lower() for p in class_name.split("_") if p)
    return class_name.lower()


def _find_pyproject(start_dir: str, stop_dir: str | None) -> str | None:
    """The nearest pyproject.toml with a [tool.fal] table, as fal finds its project root."""
    directory = os.path.abspath(start_dir)
    stop = os.path.abspath(stop_dir) if stop_dir else None
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as f:
                    data = tomllib.load(f)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise InspectError(f"{candidate}: cannot parse: {exc}") from None
            if "fal" in data.get("tool", {}):
                return candidate
        if os.path.isdir(os.path.join(directory, ".git")) or directory == stop:
            return None
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _pyproject_entry(pyproject: str, file_path: str, class_name: str, app_name: str) -> tuple[str, dict[str, Any]] | None:
    """This app's `[tool.fal.apps.<key>]`: the one whose ref names this file and class, else the one keyed by its name."""
    with open(pyproject, "rb") as f:
        apps = tomllib.load(f).get("tool", {}).get("fal", {}).get("apps", {})
    if not isinstance(apps, dict):
        raise InspectError(f"{pyproject}: [tool.fal.apps] must be a table")
    base = os.path.dirname(pyproject)
    target = os.path.realpath(file_path)
    for key, entry in apps.items():
        if not isinstance(entry, dict):
            continue
        ref = entry.get("ref")
        if isinstance(ref, str):
            ref_file, _, ref_class = ref.partition("::")
            if os.path.realpath(os.path.join(base, ref_file)) == target and ref_class in ("", class_name):
                return key, entry
    entry = apps.get(app_name)
    return (app_name, entry) if isinstance(entry, dict) else None


def sdk_of(file_path: str, class_name: str) -> str | None:
    """`fal` or `falplane` for the class's SDK; None when the file or class cannot be read or is no app."""
    try:
        with open(file_path, "rb") as f:
            module = _Module(file_path, ast.parse(f.read(), filename=file_path))
    except (OSError, SyntaxError, ValueError):
        return None
    if class_name not in module.classes:
        return None
    return _class_chain(module, class_name)[0]


def inspect_class(file_path: str, class_name: str, project_root: str | None = None) -> dict[str, Any]:
    try:
        with open(file_path, "rb") as f:
            source = f.read()
    except OSError as exc:
        raise InspectError(f"cannot read {file_path}: {exc.strerror}") from None
    try:
        tree = ast.parse(source, filename=file_path)
    except SyntaxError as exc:
        raise InspectError(f"{file_path} line {exc.lineno}: syntax error: {exc.msg}") from None
    module = _Module(file_path, tree)
    if class_name not in module.classes:
        found = ", ".join(sorted(module.classes)) or "none"
        raise InspectError(f"{file_path}: no top-level class named {class_name!r} (classes found: {found})")
    sdk, chain = _class_chain(module, class_name)
    if sdk is None:
        bases = ", ".join(ast.unparse(b) for b in module.classes[class_name].bases) or "none"
        raise InspectError(
            f"{file_path}: class {class_name} is not a subclass of fal.App or falplane.App "
            f"(its bases: {bases}; the base must be imported as `import fal` / `from fal import App` "
            f"or `import falplane` / `from falplane import App`)"
        )
    settings, ignored = _read_class(chain)

    default_name = fal_app_name(class_name)
    app_name = settings.get("app_name", {}).get("value") or default_name
    pyproject_info = None
    if sdk == "fal":
        pyproject = _find_pyproject(os.path.dirname(os.path.abspath(file_path)), project_root)
        entry = _pyproject_entry(pyproject, file_path, class_name, app_name) if pyproject else None
        if pyproject and entry:
            key, table = entry
            where = f"{os.path.relpath(pyproject, project_root or os.getcwd())} [tool.fal.apps.{key}]"
            pyproject_info = {"file": pyproject, "table": key}
            for raw_key, value in table.items():
                name = PYPROJECT_ALIASES.get(raw_key, raw_key)
                if name in SETTINGS:
                    settings[name] = {"value": value, "from": "pyproject", "where": where}
                elif name in IGNORED and name not in ignored:
                    ignored.append(name)
    return {
        "ok": True,
        "sdk": sdk,
        "class": class_name,
        "line": module.classes[class_name].lineno,
        "default_app_name": default_name,
        "settings": settings,
        "ignored": ignored,
        "pyproject": pyproject_info,
    }


def main(argv: list[str]) -> int:
    args = list(argv)
    project_root = None
    if "--project-root" in args:
        i = args.index("--project-root")
        if i + 1 >= len(args):
            print(json.dumps({"ok": False, "error": "--project-root needs a directory"}))
            return 2
        project_root = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        print(json.dumps({"ok": False, "error": "usage: python -m falplane._inspect FILE CLASS [--project-root DIR]"}))
        return 2
    try:
        result = inspect_class(args[0], args[1], project_root)
    except InspectError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 1
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
