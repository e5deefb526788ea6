"""A module's tests are found by its path: ``fraudstream/<package>/<module>.py`` is tested in
``tests/unit/<package>/test_<module>.py`` (no server) or
``tests/integration/<package>/test_<module>.py`` (the real stack), or, where a module is
a part that only a larger whole exercises, in the file this table names."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "fraudstream"
# Module -> the test that exercises it, for modules that have no test file of their own.
TESTED_IN = {
    "consumers/clients.py": "tests/unit/consumers/test_loop.py",
    "consumers/commits.py": "tests/unit/consumers/test_loop.py",
    "consumers/decoding.py": "tests/unit/consumers/test_loop.py",
    "consumers/gathering.py": "tests/unit/consumers/test_loop.py",
    "consumers/handlers.py": "tests/unit/consumers/test_sinks.py",
    "consumers/holdings.py": "tests/unit/consumers/test_loop.py",
    "consumers/slicing.py": "tests/unit/consumers/test_loop.py",
    "consumers/totals.py": "tests/integration/runtime/test_metrics.py",
    "consumers/watch.py": "tests/unit/runtime/test_metrics.py",
    "detection/features.py": "tests/unit/detection/test_training.py",
    "detection/report.py": "tests/unit/detection/test_evaluation.py",
    "devstack/health.py": "tests/integration/kafka/test_clients.py",
    "devstack/logins.py": "tests/integration/consumers/test_consumers.py",
    "devstack/services.py": "tests/integration/kafka/test_clients.py",
    "devstack/stack.py": "tests/integration/kafka/test_clients.py",
    "devstack/versions.py": "tests/unit/devstack/test_install.py",
    "emails/addresses.py": "tests/unit/emails/test_messages.py",
    "emails/branding.py": "tests/unit/emails/test_messages.py",
    "kafka/admin.py": "tests/integration/kafka/test_clients.py",
    "kafka/consuming.py": "tests/integration/kafka/test_clients.py",
    "kafka/errors.py": "tests/unit/test_errors.py",
    "kafka/transactions.py": "tests/integration/producer/test_service.py",
    "paysim/format.py": "tests/unit/paysim/test_payments.py",
    "paysim/raw_lines.py": "tests/unit/paysim/test_payments.py",
    "producer/preparing.py": "tests/integration/producer/test_service.py",
    "producer/progress.py": "tests/integration/producer/test_service.py",
    "producer/runs.py": "tests/integration/producer/test_service.py",
    "runtime/stopping.py": "tests/unit/consumers/test_running.py",
    "settings/groups.py": "tests/unit/settings/test_config.py",
    "settings/types.py": "tests/unit/settings/test_config.py",
    "storage/case_reports.py": "tests/unit/storage/test_case_table.py",
    "storage/lake.py": "tests/unit/test_errors.py",
    "principals.py": "tests/unit/test_topology.py",
    "wiring/arguments.py": "tests/unit/wiring/test_cli.py",
    "wiring/commands.py": "tests/unit/wiring/test_cli.py",
    "wiring/detecting.py": "tests/unit/detection/test_evaluation.py",
    "wiring/detector_commands.py": "tests/unit/wiring/test_cli.py",
    "wiring/factory.py": "tests/integration/wiring/test_demo.py",
    "wiring/handlers.py": "tests/unit/wiring/test_cli.py",
    "wiring/producing.py": "tests/integration/producer/test_live.py",
    "wiring/provision.py": "tests/integration/wiring/test_demo.py",
}


def modules() -> list[str]:
    """Every module of the package with code of its own, by its path under fraudstream/."""
    return sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"} and "migrations" not in path.parts
    )


def own_test_files(module: str) -> list[Path]:
    """Where a module's own tests would be, in either tier."""
    relative = Path(module)
    name = f"test_{relative.stem}.py"
    return [REPO_ROOT / "tests" / tier / relative.parent / name for tier in ("unit", "integration")]


def test_every_module_has_tests_found_by_its_path_or_named_here() -> None:
    untested = [
        m for m in modules() if m not in TESTED_IN and not any(map(Path.is_file, own_test_files(m)))
    ]
    assert untested == []


def imports_of(path: Path) -> set[str]:
    """The project's modules and test helpers ``path`` imports by name (``from a import b``
    counts ``a.b`` too, where that is a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return {name for name in names if name.partition(".")[0] in {"fraudstream", "tests"}}


def module_file(dotted: str) -> Path | None:
    path = REPO_ROOT.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reached_from(path: Path) -> set[str]:
    """Every fraudstream module that importing ``path``'s imports loads, as far as the
    import statements tell."""
    seen: set[str] = set()
    todo = list(imports_of(path))
    while todo:
        name = todo.pop()
        found = module_file(name)
        if name in seen or found is None:
            continue
        seen.add(name)
        todo += imports_of(found)
    return seen


def test_every_named_test_exists_and_reaches_the_module() -> None:
    """The table holds no stale row: each file exists, loads the module through what it
    imports, and no module listed here has since got a test file of its own."""
    stale = []
    for module, test in TESTED_IN.items():
        dotted = "fraudstream." + module.removesuffix(".py").replace("/", ".")
        if not (REPO_ROOT / test).is_file():
            stale.append(f"{test} is gone")
        elif dotted not in reached_from(REPO_ROOT / test):
            stale.append(f"{test} never loads {dotted}")
        if any(map(Path.is_file, own_test_files(module))):
            stale.append(f"{module} has a test file of its own now")
    assert stale == []
