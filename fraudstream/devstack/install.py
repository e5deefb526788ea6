"""Fetch what the local stack runs, once, into the cache.

Kafka and the schema registry come from Maven Central through ``mvn``,
fake-gcs-server is built with ``go install``, and MailDev comes from the npm
registry, as does axe-core, which the browser tests check pages with. Each
step is skipped when its result is already in the cache, and a missing tool
is reported in one line that says what to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fraudstream.devstack import versions


class InstallError(RuntimeError):
    """A tool the stack needs is missing or an install step failed."""


@dataclass(frozen=True)
class Installed:
    """Paths of everything the stack starts."""

    java: str
    kafka_libs: Path
    kafka_log4j_config: Path
    registry_jar: Path
    fake_gcs_server: Path
    maildev: Path
    node: str
    postgres_bin: Path  # Debian's PostgreSQL server programs (initdb, postgres)
    prometheus: str  # Debian's, for its classic web pages and console templates


def ensure_installed(cache: Path) -> Installed:
    """Install whatever is missing from ``cache`` and return where everything is."""
    java = require_java()
    cache.mkdir(parents=True, exist_ok=True)
    return Installed(
        java=java,
        kafka_libs=ensure_kafka(cache),
        kafka_log4j_config=_resource_file(cache, "kafka-log4j2.properties"),
        registry_jar=ensure_registry(cache),
        fake_gcs_server=ensure_fake_gcs_server(cache),
        maildev=ensure_maildev(cache),
        node=require_tool("node", "Node.js 18+ (Debian: apt-get install nodejs npm)"),
        postgres_bin=require_postgres(),
        prometheus=require_tool(
            "prometheus", "Prometheus: run 'make prometheus' (or: apt-get install prometheus)"
        ),
    )


def require_postgres(root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The bin folder of the newest PostgreSQL server Debian's packages installed."""
    found = sorted(
        (
            path
            for path in root.glob("*/bin")
            if (path / "initdb").is_file()
            and (path / "postgres").is_file()
            and path.parent.name.isdigit()
        ),
        key=lambda path: int(path.parent.name),
    )
    if not found:
        raise InstallError(
            "PostgreSQL's server is not installed: run 'make postgresql' "
            "(or: apt-get install postgresql)"
        )
    return found[-1]


# Where an installer puts a tool without putting it on every user's PATH (go.dev's
# tarball goes to /usr/local/go; its profile line reaches login shells only).
USUAL_PLACES = {"go": Path("/usr/local/go/bin/go")}


def require_tool(name: str, what_to_install: str) -> str:
    path = shutil.which(name)
    usual = USUAL_PLACES.get(name)
    if path is None and usual is not None and os.access(usual, os.X_OK):
        return str(usual)
    if path is None:
        raise InstallError(f"'{name}' not found: install {what_to_install}")
    return path


def require_java() -> str:
    java = require_tool("java", f"Java {versions.JAVA_MIN}+ (Debian: openjdk-17-jre-headless)")
    banner = subprocess.run([java, "-version"], check=False, capture_output=True, text=True).stderr
    major = parse_java_major(banner)
    if major < versions.JAVA_MIN:
        raise InstallError(
            f"Java {versions.JAVA_MIN}+ is needed for Kafka and the registry, found Java {major}"
        )
    return java


def parse_java_major(banner: str) -> int:
    """The major version in ``java -version`` output ("1.8.0" -> 8, "17.0.15" -> 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    if match is None:
        raise InstallError(f"cannot read the Java version from: {banner.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def parse_go_version(banner: str) -> tuple[int, int]:
    """(major, minor) from ``go version`` output such as 'go version go1.22.5 linux/amd64'."""
    match = re.search(r"go(\d+)\.(\d+)", banner)
    if match is None:
        raise InstallError(f"cannot read the Go version from: {banner.strip()[:200]}")
    return int(match.group(1)), int(match.group(2))


def ensure_kafka(cache: Path) -> Path:
    libs = cache / f"kafka-{versions.KAFKA}" / "libs"
    if (libs / f"kafka_{versions.SCALA}-{versions.KAFKA}.jar").exists():
        return libs
    mvn = require_tool("mvn", "Apache Maven 3.6+ (Debian: apt-get install maven)")
    pom = _resource_file(cache, "kafka-pom.xml")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    _run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={versions.KAFKA}",
            f"-Dscala.version={versions.SCALA}",
            f"-Dlog4j.version={versions.LOG4J}",
            f"-Dslf4j.version={versions.SLF4J}",
        ],
        "download Kafka from Maven Central",
    )
    _drop_older_slf4j(staging)
    staging.rename(libs)
    return libs


def _drop_older_slf4j(libs: Path) -> None:
    # Kafka's own dependency tree pulls slf4j-api 1.7, which cannot load the
    # SLF4J 2 binding; the pom pins 2.x, and any stray 1.x jar must go.
    for jar in libs.glob("slf4j-api-1.*.jar"):
        jar.unlink()


def ensure_registry(cache: Path) -> Path:
    version = versions.APICURIO_REGISTRY
    home = cache / f"apicurio-registry-{version}"
    jar = home / f"apicurio-registry-app-{version}-runner.jar"
    if jar.exists():
        return jar
    mvn = require_tool("mvn", "Apache Maven 3.6+ (Debian: apt-get install maven)")
    downloads = cache / "downloads"
    _run(
        [
            mvn,
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{version}:tar.gz:all",
            f"-DoutputDirectory={downloads}",
        ],
        "download Apicurio Registry from Maven Central",
    )
    archive = downloads / f"apicurio-registry-app-{version}-all.tar.gz"
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    extract_safely(archive, staging)
    staging.rename(home)
    archive.unlink()
    if not jar.exists():
        raise InstallError(f"the registry archive has no {jar.name}")
    return jar


def extract_safely(archive: Path, into: Path) -> None:
    """Unpack ``archive`` into ``into``, refusing any member that would land outside it.

    Python's "data" filter does this from 3.11.4 on; Debian 12's python3 is 3.11.2, so
    there the members are checked here first: files, folders and links within ``into``.
    """
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
            return
        members = tar.getmembers()
        for member in members:
            if not _stays_within(into, member):
                raise InstallError(f"{archive.name}: refusing {member.name!r}, outside {into}")
        tar.extractall(into, members=members)


def _stays_within(into: Path, member: tarfile.TarInfo) -> bool:
    root = into.resolve()
    target = (root / member.name).resolve()
    if member.issym():
        linked = (target.parent / member.linkname).resolve()
        return target.is_relative_to(root) and linked.is_relative_to(root)
    return (member.isfile() or member.isdir()) and target.is_relative_to(root)


def ensure_fake_gcs_server(cache: Path) -> Path:
    binary = cache / "bin" / f"fake-gcs-server-{versions.FAKE_GCS_SERVER}"
    if binary.exists():
        return binary
    go = require_tool("go", "Go 1.22+ (https://go.dev/doc/install)")
    banner = subprocess.run([go, "version"], check=False, capture_output=True, text=True).stdout
    if parse_go_version(banner) < versions.GO_MIN:
        raise InstallError(f"Go {versions.GO_MIN[0]}.{versions.GO_MIN[1]}+ is needed: {banner}")
    gobin = cache / "gobin"
    _run(
        [go, "install", f"github.com/fsouza/fake-gcs-server@{versions.FAKE_GCS_SERVER}"],
        "build fake-gcs-server from the Go module proxy",
        env={"GOBIN": str(gobin)},
    )
    binary.parent.mkdir(parents=True, exist_ok=True)
    (gobin / "fake-gcs-server").rename(binary)
    return binary


def ensure_maildev(cache: Path) -> Path:
    package = _npm_package(cache, "maildev", versions.MAILDEV, "MailDev")
    return package / "bin" / "maildev"


def ensure_axe_core(cache: Path) -> Path:
    """axe-core, the accessibility checker the browser tests run in each page: its script."""
    return _npm_package(cache, "axe-core", versions.AXE_CORE, "axe-core") / "axe.min.js"


def _npm_package(cache: Path, name: str, version: str, what: str) -> Path:
    """``name@version`` from the npm registry, installed in the cache once: its folder."""
    prefix = cache / f"{name}-{version}"
    package = prefix / "node_modules" / name
    if (package / "package.json").exists():
        return package
    npm = require_tool("npm", "Node.js 18+ with npm (Debian: apt-get install nodejs npm)")
    _run(
        [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"{name}@{version}",
        ],
        f"install {what} from the npm registry",
    )
    return package


def _resource_file(cache: Path, name: str) -> Path:
    """Copy a packaged resource into the cache so external tools can read it by path."""
    target = cache / "resources" / name
    content = resources.files("fraudstream.devstack").joinpath("resources", name).read_bytes()
    if not target.exists() or target.read_bytes() != content:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return target


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        argv, check=False, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-2000:]
        raise InstallError(f"could not {what}:\n{output}")
