"""The layers, checked by walking every import of every module (docs/architecture.md says
them in words).

Everything is one package, ``fraudstream``. From the bottom up: the core (every
subpackage that is not a service: settings, paysim, kafka, storage, emails, runtime, and
the modules at the package's top), the local stack (``fraudstream.devstack``, which uses
only the core's declarations), the detectors (``fraudstream.detection``), then the two
services (``fraudstream.producer``, ``fraudstream.consumers``), which do not know each
other (only the producer scores with the detectors), and the run report
(``fraudstream.reporting``), which reads what they left through the core; then the
composition root (``fraudstream.wiring``), the only package that knows them all. A module
may import its own layer and the layers below it, never one above.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "fraudstream"
SERVICES = ("detection", "producer", "consumers", "reporting", "wiring", "devstack")
LAYERS = ("core", *SERVICES)
# What each layer must never import.
FORBIDDEN = {
    "core": {*SERVICES, "bench", "tests"},
    "devstack": {"detection", "producer", "consumers", "reporting", "wiring", "bench", "tests"},
    "detection": {"producer", "consumers", "reporting", "wiring", "devstack", "bench", "tests"},
    "producer": {"consumers", "reporting", "wiring", "devstack", "bench", "tests"},
    "consumers": {"detection", "producer", "reporting", "wiring", "devstack", "bench", "tests"},
    "reporting": {"detection", "producer", "consumers", "wiring", "devstack", "bench", "tests"},
    "wiring": {"bench", "tests"},
}
# ``python -m fraudstream`` has to find the command line somewhere: its __main__ only hands
# over to the root. It is run, never imported, so it pulls nothing into the core.
ENTRY_POINT = PACKAGE / "__main__.py"


def layer(module: str) -> str:
    """``fraudstream.producer.service`` is in ``producer``, ``fraudstream.errors`` in the
    core; a name outside the package is its own top-level name."""
    top, _, rest = module.partition(".")
    if top != "fraudstream":
        return top
    below = rest.partition(".")[0]
    return below if below in SERVICES else "core"


def module_name(path: Path, root: Path) -> str:
    """``root/fraudstream/kafka/admin.py`` is ``fraudstream.kafka.admin``."""
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def modules_of(name: str, package: Path) -> list[Path]:
    """The modules of layer ``name`` under ``package``."""
    return [
        path
        for path in sorted(package.rglob("*.py"))
        if layer(module_name(path, package.parent)) == name
    ]


def imported_names(path: Path) -> list[str]:
    """Every absolute module name ``path`` imports, at any depth of its code."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def upward_imports(name: str, package: Path) -> list[str]:
    """``file: imports name`` for each import of a layer that ``name``'s modules must not use."""
    return [
        f"{path.relative_to(package.parent)}: imports {imported}"
        for path in modules_of(name, package)
        if path != ENTRY_POINT
        for imported in imported_names(path)
        if layer(imported) in FORBIDDEN[name]
    ]


def test_every_layer_has_modules() -> None:
    assert {name for name in LAYERS if modules_of(name, PACKAGE)} == set(LAYERS)


@pytest.mark.parametrize("name", LAYERS)
def test_no_module_imports_a_layer_above_its_own(name: str) -> None:
    assert upward_imports(name, PACKAGE) == []


def test_the_confirmation_service_and_the_stream_consumers_do_not_know_each_other() -> None:
    """The web service consumes nothing; the consumers answer no request. They meet only
    in the confirmation topic."""
    consumers = PACKAGE / "consumers"
    service = consumers / "confirmation"
    crossings = [
        f"{path.relative_to(REPO_ROOT)}: imports {name}"
        for path in sorted(consumers.rglob("*.py"))
        for name in imported_names(path)
        if name.startswith("fraudstream.consumers.")
        and (path.is_relative_to(service) != name.startswith("fraudstream.consumers.confirmation"))
    ]
    assert crossings == []


def test_importing_the_whole_core_loads_no_service() -> None:
    """Transitively too: every core module (the Alembic scripts aside, which run when
    imported) imported in a fresh interpreter."""
    modules = sorted(
        module_name(path, REPO_ROOT)
        for path in modules_of("core", PACKAGE)
        if path != ENTRY_POINT and "migrations" not in path.parts
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
    assert "core" in loaded
    assert loaded & FORBIDDEN["core"] == set()


def test_the_entry_point_only_hands_over_to_the_root() -> None:
    assert imported_names(ENTRY_POINT) == ["fraudstream.wiring.cli"]


def test_the_walk_finds_an_upward_import_added_anywhere(tmp_path: Path) -> None:
    core = tmp_path / "fraudstream"
    (core / "deep").mkdir(parents=True)
    (core / "fine.py").write_text("import json\nfrom fraudstream.storage import lake\n")
    (core / "deep" / "bad.py").write_text(
        "def later():\n    from fraudstream.consumers.loop import BatchConsumer\n"
        "    return BatchConsumer\n"
    )
    (core / "worse.py").write_text("import fraudstream.producer.service as service\n")
    assert upward_imports("core", core) == [
        "fraudstream/deep/bad.py: imports fraudstream.consumers.loop",
        "fraudstream/worse.py: imports fraudstream.producer.service",
    ]


def test_the_walk_finds_a_service_that_imports_another(tmp_path: Path) -> None:
    (tmp_path / "fraudstream" / "consumers").mkdir(parents=True)
    (tmp_path / "fraudstream" / "consumers" / "odd.py").write_text(
        "from fraudstream.producer.service import produce\n"
    )
    assert upward_imports("consumers", tmp_path / "fraudstream") == [
        "fraudstream/consumers/odd.py: imports fraudstream.producer.service"
    ]


def test_no_package_folder_is_a_link() -> None:
    """The file git shows is the file Python imports: no folder reaches code by a second path."""
    links = [str(path) for path in PACKAGE.rglob("*") if path.is_symlink()]
    assert links == []


# The core's adapters: the only core modules that may import a client library.
ADAPTERS = ("fraudstream.kafka", "fraudstream.storage", "fraudstream.emails.smtp")
CLIENT_LIBRARIES = ("confluent_kafka", "google", "smtplib", "sqlalchemy", "alembic", "requests")


def test_only_the_cores_adapters_speak_to_a_server() -> None:
    """Parsing, validation, records, rendering and naming take values and return values."""
    speaking = [
        f"{path.relative_to(REPO_ROOT)}: imports {name}"
        for path in modules_of("core", PACKAGE)
        if not module_name(path, REPO_ROOT).startswith(ADAPTERS)
        for name in imported_names(path)
        if name.partition(".")[0] in CLIENT_LIBRARIES
    ]
    assert speaking == []


# CONTRIBUTING.md says why: a module is read whole before it is changed.
MODULE_BUDGET = 320


def test_every_module_keeps_to_the_line_budget() -> None:
    over = [
        f"{path.relative_to(REPO_ROOT)}: {lines} lines"
        for path in sorted([*PACKAGE.rglob("*.py"), *(REPO_ROOT / "bench").glob("*.py")])
        if (lines := len(path.read_text().splitlines())) > MODULE_BUDGET
    ]
    assert over == []
