"""falplane._inspect: an app class's settings read from its source, never imported.

The deploy check relies on these values at `pulumi preview` time, on a
machine that usually lacks the app's dependencies, so the tests use files
that would fail to import (`import torch`) and check that nothing runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from falplane._inspect import InspectError, fal_app_name, inspect_class

SDK_DIR = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_fal_class_attributes_keywords_and_bases_are_read_without_importing(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        "app.py",
        """
        import fal
        import torch  # not installed: the file must not be imported
        raise SystemExit("imported!")

        MINUTE = 60
        BASE = ["pydantic>=2"]

        class Base(fal.App, machine_type=["GPU-H100", "GPU-A100"]):
            keep_alive = 5 * MINUTE
            num_gpus = 1

        class Generate(Base, name="gen"):
            requirements = BASE + ["torch==2.4.0"]
            max_multiplexing: int = 4
            keep_alive = 900
            local_python_modules = ["helpers"]
        """,
    )
    out = inspect_class(str(app), "Generate")
    assert out["sdk"] == "fal"
    values = {k: v["value"] for k, v in out["settings"].items()}
    assert values == {
        "machine_type": ["GPU-H100", "GPU-A100"],
        "keep_alive": 900,  # the subclass overrides its base
        "num_gpus": 1,
        "app_name": "gen",
        "requirements": ["pydantic>=2", "torch==2.4.0"],
        "max_multiplexing": 4,
    }
    assert out["settings"]["num_gpus"]["class"] == "Base"
    assert out["settings"]["keep_alive"]["line"] == 16
    assert out["ignored"] == ["local_python_modules"]


def test_a_base_class_in_a_sibling_module_is_followed(tmp_path: Path) -> None:
    write(tmp_path, "common.py", "from fal import App\nclass Shared(App):\n    max_concurrency = 7\n")
    app = write(tmp_path, "app.py", "from common import Shared\nclass Mine(Shared):\n    min_concurrency = 1\n")
    out = inspect_class(str(app), "Mine")
    assert out["sdk"] == "fal"
    assert {k: v["value"] for k, v in out["settings"].items()} == {"max_concurrency": 7, "min_concurrency": 1}


def test_pyproject_tool_fal_apps_overrides_the_class(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(
        tmp_path,
        "pyproject.toml",
        """
        [tool.fal.apps.echo]
        ref = "src/app.py::Echo"
        auth = "public"
        keep_alive = 30
        """,
    )
    (tmp_path / "src").mkdir()
    app = write(tmp_path, "src/app.py", "import fal\nclass Echo(fal.App):\n    keep_alive = 300\n    max_concurrency = 2\n")
    out = inspect_class(str(app), "Echo", str(tmp_path))
    assert out["settings"]["keep_alive"]["value"] == 30
    assert out["settings"]["keep_alive"]["where"] == "pyproject.toml [tool.fal.apps.echo]"
    assert out["settings"]["app_auth"]["value"] == "public"
    assert out["settings"]["max_concurrency"]["from"] == "class"


def test_falplane_classes_are_read_the_same_way(tmp_path: Path) -> None:
    app = write(tmp_path, "app.py", "import falplane\nclass Tiny(falplane.App):\n    keep_alive = 12\n    app_auth = 'shared'\n")
    out = inspect_class(str(app), "Tiny")
    assert out["sdk"] == "falplane"
    assert out["settings"]["keep_alive"]["value"] == 12
    assert out["settings"]["app_auth"]["value"] == "shared"


def test_a_value_that_needs_running_code_is_refused_with_its_line(tmp_path: Path) -> None:
    app = write(tmp_path, "app.py", "import os, fal\nclass A(fal.App):\n    keep_alive = int(os.environ['K'])\n")
    with pytest.raises(InspectError, match=r"app.py line 3: A.keep_alive = int\(os.environ\['K'\]\) cannot be read without running the code"):
        inspect_class(str(app), "A")


def test_a_class_that_is_not_an_app_or_missing_is_refused(tmp_path: Path) -> None:
    app = write(tmp_path, "app.py", "import fal\nclass Input:\n    pass\n")
    with pytest.raises(InspectError, match="class Input is not a subclass of fal.App or falplane.App"):
        inspect_class(str(app), "Input")
    with pytest.raises(InspectError, match=r"no top-level class named 'Nope' \(classes found: Input\)"):
        inspect_class(str(app), "Nope")


def test_fal_app_names_follow_fal() -> None:
    assert fal_app_name("TextToImage") == "text-to-image"
    assert fal_app_name("mock_model") == "mock-model"


def test_the_command_line_prints_json_and_exits_1_on_errors(tmp_path: Path) -> None:
    app = write(tmp_path, "app.py", "import fal\nclass A(fal.App):\n    max_concurrency = 3\n")
    env = {"PYTHONPATH": str(SDK_DIR)}
    ok = subprocess.run([sys.executable, "-m", "falplane._inspect", str(app), "A"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["settings"]["max_concurrency"]["value"] == 3
    bad = subprocess.run([sys.executable, "-m", "falplane._inspect", str(app), "B"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    assert "no top-level class named 'B'" in json.loads(bad.stdout)["error"]
