"""The layers, checked by walking every import of every module.

From the bottom up: the core (``fraudstream``), the detectors (``detection``),
then the two services (``producer``, ``consumers``), which do not know each
other (only the producer scores with the detectors), and the run report
(``reporting``), which reads what they left through the core; then the
composition root (``wiring``), which is the only package that knows them all.
A module may import its own layer and the layers below it, never one above.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# What each package must never import.
FORBIDDEN = {
    "fraudstream": {
        "detection",
        "producer",
        "consumers",
        "reporting",
        "wiring",
        "devstack",
        "bench",
        "tests",
    },
    "detection": {"producer", "consumers", "reporting", "wiring", "devstack", "bench", "tests"},
    "producer": {"consumers", "reporting", "wiring", "devstack", "bench", "tests"},
    "consumers": {"detection", "producer", "reporting", "wiring", "devstack", "bench", "tests"},
    "reporting": {"detection", "producer", "consumers", "wiring", "devstack", "bench", "tests"},
    "devstack": {"fraudstream", "producer", "consumers", "wiring", "bench", "tests"},
}
# ``python -m fraudstream`` has to find the command line somewhere: its __main__ only hands
# over to the root. It is run, never imported, so it pulls nothing into the core.
ENTRY_POINT = REPO_ROOT / "fraudstream" / "__main__.py"


def imported_names(path: Path) -> list[str]:
    """Every absolute module name ``path`` imports, at any depth of its code."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def upward_imports(package_dir: Path, forbidden: set[str]) -> list[str]:
    """``file: imports name`` for each import of a forbidden package under ``package_dir``."""
    return [
        f"{path.relative_to(package_dir.parent)}: imports {name}"
        for path in sorted(package_dir.rglob("*.py"))
        if path != ENTRY_POINT
        for name in imported_names(path)
        if name.split(".")[0] in forbidden
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_above_its_own(package: str) -> None:
    assert upward_imports(REPO_ROOT / package, FORBIDDEN[package]) == []


def test_importing_the_whole_core_loads_no_service() -> None:
    """Transitively too: every core module imported in a fresh interpreter."""
    modules = sorted(
        f"fraudstream.{path.stem}" for path in (REPO_ROOT / "fraudstream").glob("*.py")
        if path != ENTRY_POINT and path.stem != "__init__"
    )  # fmt: skip
    probe = (
        f"import importlib, json, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(finished.stdout))
    assert "fraudstream" in loaded
    assert loaded & FORBIDDEN["fraudstream"] == set()


def test_the_entry_point_only_hands_over_to_the_root() -> None:
    assert imported_names(ENTRY_POINT) == ["wiring.cli"]


def test_the_walk_finds_an_upward_import_added_anywhere(tmp_path: Path) -> None:
    core = tmp_path / "fraudstream"
    (core / "deep").mkdir(parents=True)
    (core / "fine.py").write_text("import json\nfrom fraudstream import lake\n")
    (core / "deep" / "bad.py").write_text(
        "def later():\n    from consumers.loop import BatchConsumer\n    return BatchConsumer\n"
    )
    (core / "worse.py").write_text("import producer.service as service\n")
    assert upward_imports(core, FORBIDDEN["fraudstream"]) == [
        "fraudstream/deep/bad.py: imports consumers.loop",
        "fraudstream/worse.py: imports producer.service",
    ]
