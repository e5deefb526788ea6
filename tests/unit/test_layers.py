"""The layers, checked by walking every import of every module.

Everything installs under one name, ``fraudstream``. From the bottom up: the
core (``fraudstream.*`` itself), the detectors (``fraudstream.detection``), then
the two services (``fraudstream.producer``, ``fraudstream.consumers``), which do
not know each other (only the producer scores with the detectors), and the run
report (``fraudstream.reporting``), which reads what they left through the core;
then the composition root (``fraudstream.wiring``), which is the only package
that knows them all. A module may import its own layer and the layers below it,
never one above. Each layer's code sits in a top-level folder of the repository,
linked into ``fraudstream/``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINKED = ("detection", "producer", "consumers", "reporting", "wiring", "devstack")
# What each layer must never import.
FORBIDDEN = {
    "fraudstream": {*LINKED, "bench", "tests"},
    "detection": {"producer", "consumers", "reporting", "wiring", "devstack", "bench", "tests"},
    "producer": {"consumers", "reporting", "wiring", "devstack", "bench", "tests"},
    "consumers": {"detection", "producer", "reporting", "wiring", "devstack", "bench", "tests"},
    "reporting": {"detection", "producer", "consumers", "wiring", "devstack", "bench", "tests"},
    "devstack": {"fraudstream", "producer", "consumers", "wiring", "bench", "tests"},
}
# ``python -m fraudstream`` has to find the command line somewhere: its __main__ only hands
# over to the root. It is run, never imported, so it pulls nothing into the core.
ENTRY_POINT = REPO_ROOT / "fraudstream" / "__main__.py"


def layer(module: str) -> str:
    """``fraudstream.producer.service`` is in ``producer``, ``fraudstream.lake`` in the core."""
    top, _, rest = module.partition(".")
    if top != "fraudstream":
        return top
    below = rest.partition(".")[0]
    return below if below in LINKED else "fraudstream"


def own_modules(package_dir: Path) -> list[Path]:
    """The modules in ``package_dir``'s own folders (the core's links are not walked)."""
    return sorted(
        Path(folder) / name
        for folder, _, names in os.walk(package_dir)
        for name in names
        if name.endswith(".py")
    )


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
        for path in own_modules(package_dir)
        if path != ENTRY_POINT
        for name in imported_names(path)
        if layer(name) in forbidden
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_above_its_own(package: str) -> None:
    assert upward_imports(REPO_ROOT / package, FORBIDDEN[package]) == []


def test_the_confirmation_service_and_the_stream_consumers_do_not_know_each_other() -> None:
    """The web service consumes nothing; the consumers answer no request. They meet only
    in the confirmation topic."""
    consumers = REPO_ROOT / "consumers"
    service = consumers / "confirmation"
    crossings = [
        f"{path.relative_to(REPO_ROOT)}: imports {name}"
        for path in own_modules(consumers)
        for name in imported_names(path)
        if name.startswith("fraudstream.consumers.")
        and (path.is_relative_to(service) != name.startswith("fraudstream.consumers.confirmation"))
    ]
    assert crossings == []


def test_importing_the_whole_core_loads_no_service() -> None:
    """Transitively too: every core module (the Alembic scripts aside, which run when
    imported) imported in a fresh interpreter."""
    core = REPO_ROOT / "fraudstream"
    modules = sorted(
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in own_modules(core)
        if path != ENTRY_POINT and "migrations" not in path.relative_to(core).parts
    )
    assert "fraudstream.kafka.consuming" in modules
    probe = (
        f"import importlib, json, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    loaded = {layer(module) for module in json.loads(finished.stdout)}
    assert "fraudstream" in loaded
    assert loaded & FORBIDDEN["fraudstream"] == set()


def test_the_entry_point_only_hands_over_to_the_root() -> None:
    assert imported_names(ENTRY_POINT) == ["fraudstream.wiring.cli"]


def test_the_walk_finds_an_upward_import_added_anywhere(tmp_path: Path) -> None:
    core = tmp_path / "fraudstream"
    (core / "deep").mkdir(parents=True)
    (core / "fine.py").write_text("import json\nfrom fraudstream import lake\n")
    (core / "deep" / "bad.py").write_text(
        "def later():\n    from fraudstream.consumers.loop import BatchConsumer\n"
        "    return BatchConsumer\n"
    )
    (core / "worse.py").write_text("import fraudstream.producer.service as service\n")
    assert upward_imports(core, FORBIDDEN["fraudstream"]) == [
        "fraudstream/deep/bad.py: imports fraudstream.consumers.loop",
        "fraudstream/worse.py: imports fraudstream.producer.service",
    ]


def test_the_walk_finds_a_module_reached_by_its_bare_folder_name(tmp_path: Path) -> None:
    (tmp_path / "wiring").mkdir()
    (tmp_path / "wiring" / "old.py").write_text("from consumers.loop import BatchConsumer\n")
    assert upward_imports(tmp_path / "wiring", {"consumers"}) == [
        "wiring/old.py: imports consumers.loop"
    ]


@pytest.mark.parametrize("folder", ["fraudstream", *LINKED, "bench", "tests"])
def test_every_module_imports_the_packages_by_their_installed_name(folder: str) -> None:
    """``from producer import ...`` works in a checkout only, and loads a second copy there."""
    bare = [
        f"{path.relative_to(REPO_ROOT)}: imports {name}"
        for path in own_modules(REPO_ROOT / folder)
        for name in imported_names(path)
        if name.partition(".")[0] in LINKED
    ]
    assert bare == []


def test_every_linked_folder_is_linked_into_the_package() -> None:
    for folder in LINKED:
        assert (REPO_ROOT / "fraudstream" / folder).resolve() == REPO_ROOT / folder
